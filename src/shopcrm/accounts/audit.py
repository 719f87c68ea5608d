"""The audit log: append-only entries of who did what, when, from where.

Entries are only ever inserted; there is no update or delete path in the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.store.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit log records it."""

    user_id: int | None
    label: str
    ip: str | None = None
    user_agent: str | None = None


SYSTEM = Actor(None, "system")


def record(session: Session, actor: Actor, action: str, *, at: datetime,
           outcome: str = "ok", target_type: str | None = None, target_id: str | None = None,
           details: dict[str, Any] | None = None) -> AuditEntry:
    entry = AuditEntry(
        at=at, actor_id=actor.user_id, actor=actor.label[:100], action=action, outcome=outcome,
        target_type=target_type, target_id=target_id, details=details,
        ip=actor.ip, user_agent=(actor.user_agent or "")[:300] or None,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_entries(session: Session, flt: AuditFilter, *, page: int = 1,
                 size: int = 50) -> tuple[list[AuditEntry], int]:
    query = select(AuditEntry)
    if flt.action:
        query = query.where(AuditEntry.action == flt.action)
    if flt.actor:
        query = query.where(AuditEntry.actor == flt.actor)
    if flt.outcome:
        query = query.where(AuditEntry.outcome == flt.outcome)
    if flt.since:
        query = query.where(AuditEntry.at >= flt.since)
    if flt.until:
        query = query.where(AuditEntry.at < flt.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.id.desc())
                           .offset((page - 1) * size).limit(size)).all()
    return list(rows), int(total)
