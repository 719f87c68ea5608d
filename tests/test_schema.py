"""The migrations build exactly the schema the models describe, on both databases,
and every migration can be undone and redone."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from shopcrm.context import AppContext
from shopcrm.store import migrate
from shopcrm.store.schema import Base


def test_migrations_match_every_model(context: AppContext) -> None:
    with context.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_identity_migration_down_and_up(context: AppContext) -> None:
    migrate.downgrade(context.engine, "0003")
    tables = set(inspect(context.engine).get_table_names())
    assert "identity_keys" not in tables and "match_reviews" not in tables
    migrate.upgrade(context.engine)
    tables = set(inspect(context.engine).get_table_names())
    assert {"identity_keys", "identity_links", "identity_merges", "match_reviews",
            "shared_identifiers", "match_models", "resolution_runs"} <= tables
