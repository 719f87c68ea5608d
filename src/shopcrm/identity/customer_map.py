"""The warehouse's view of who is who: identity → current customer, from the store.

``identity_merges`` is append-only, so its newest ID is a version number that moves
whenever any mapping changes (merge, split, un-merge) — one cheap query per check.
"""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopcrm.identity.models import IdentityMerge
from shopcrm.store.models import SourceIdentity
from shopcrm.warehouse.engine import CustomerMap


def customer_map(sessions: sessionmaker[Session]) -> CustomerMap:
    def version() -> int:
        with sessions() as session:
            return int(session.scalar(select(func.coalesce(func.max(IdentityMerge.id), 0))) or 0)

    def remapped() -> pa.Table:
        with sessions() as session:
            rows = session.execute(
                select(SourceIdentity.id, SourceIdentity.customer_id).where(
                    SourceIdentity.customer_id.is_not(None),
                    SourceIdentity.customer_id != SourceIdentity.id)).all()
        return pa.table({"identity_id": pa.array([r[0] for r in rows], pa.int64()),
                         "customer_id": pa.array([r[1] for r in rows], pa.int64())})

    return CustomerMap(version=version, remapped=remapped)
