"""The application context: every long-lived resource, built once from settings.

CLI commands, the API and tests all start from :func:`build_context`; nothing in
the package connects to a database or opens a file at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import shopcrm.store.schema  # noqa: F401  (every capability's models and hooks registered)
from shopcrm.clock import Clock, SystemClock
from shopcrm.identity.customer_map import customer_map
from shopcrm.settings import Settings
from shopcrm.store import migrate
from shopcrm.store.db import make_engine, make_session_factory
from shopcrm.store.models import ImportBatch
from shopcrm.warehouse.engine import Warehouse
from shopcrm.warehouse.facts import FactStore


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    facts: FactStore
    warehouse: Warehouse
    clock: Clock = field(default_factory=SystemClock)

    def close(self) -> None:
        self.warehouse.close()
        self.engine.dispose()


def build_context(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate_db: bool = True
) -> AppContext:
    """Create the data folder, connect the stores, migrate the schema, recover batches."""
    settings = settings or Settings()
    for folder in (settings.home, settings.facts_dir, settings.rejects_dir, settings.staging_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if settings.warehouse != "duckdb":
        raise ValueError(
            f"SHOPCRM_WAREHOUSE={settings.warehouse!r} is not supported yet; use 'duckdb'"
        )
    engine = make_engine(settings.resolved_database_url)
    if migrate_db:
        migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    facts = FactStore(settings.facts_dir)
    context = AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        facts=facts,
        warehouse=Warehouse(facts, customer_map=customer_map(sessions)),
        clock=clock or SystemClock(),
    )
    if migrate_db:
        recover_pending_batches(context)
    return context


def recover_pending_batches(context: AppContext) -> list[int]:
    """Publish facts of batches the operational store committed before a crash."""
    if not context.facts.pending():
        return []
    with context.sessions() as session:
        committed = set(
            session.scalars(select(ImportBatch.id).where(ImportBatch.status == "committed"))
        )
    with context.facts.writer_lock():
        return context.facts.recover(committed)
