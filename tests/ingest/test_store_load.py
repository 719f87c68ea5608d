"""The store side of an import: a first load with the indexes set aside, later loads
through the update path, the same store either way (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from shopcrm.context import AppContext
from shopcrm.ingest.identity_upsert import StoredIdentities
from shopcrm.ingest.service import import_file
from shopcrm.store.bulk import indexes_set_aside

FIXTURES = Path(__file__).parent.parent / "fixtures"
TABLES = ("customers", "source_identities", "identity_keys")


def _schema(context: AppContext) -> set[tuple[Any, ...]]:
    """Every index and foreign key of the identity tables, as the database describes them."""
    with context.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            indexes = {(r[0], r[1], r[2]) for r in connection.exec_driver_sql(
                "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'")
                if r[0] in TABLES}
            keys = {(t, *r[2:5]) for t in TABLES for r in connection.exec_driver_sql(
                f"PRAGMA foreign_key_list({t})")}
            return indexes | keys
        indexes = {tuple(r) for r in connection.execute(text(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = ANY(:t)"), {"t": list(TABLES)})}
        keys = {tuple(r) for r in connection.execute(text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid::regclass::text = ANY(:t)"), {"t": list(TABLES)})}
        return indexes | keys


def _counts(context: AppContext) -> dict[str, int]:
    with context.engine.connect() as connection:
        return {t: int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0)
                for t in TABLES}


def test_first_load_rebuilds_every_index_and_foreign_key(context: AppContext) -> None:
    before = _schema(context)
    assert any("ix_identity_keys_value" in str(item) for item in before)
    report = import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    assert report.identities_new > 0
    assert _schema(context) == before
    counts = _counts(context)
    assert counts["customers"] == counts["source_identities"] == report.identities_new
    assert counts["identity_keys"] > 0


def test_later_load_finds_what_the_store_has(context: AppContext) -> None:
    """The UTF-8 export holds the same orders as the GBK one: imported second, it goes
    through the look-up and update path and finds every buyer already there."""
    first = import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    counts = _counts(context)
    second = import_file(context, "taobao-orders", FIXTURES / "taobao_orders_utf8bom.csv")
    assert (second.identities_new, second.identities_updated) == (0, 0)
    assert second.touched_identities == []
    assert _counts(context) == counts
    with context.engine.connect() as connection:
        founders = connection.execute(text(
            "SELECT count(*) FROM source_identities WHERE customer_id = id")).scalar()
    assert founders == first.identities_new


def test_set_aside_indexes_come_back_when_the_load_fails(context: AppContext) -> None:
    before = _schema(context)
    with (pytest.raises(RuntimeError), context.engine.begin() as connection,
          indexes_set_aside(connection, TABLES, when=True)):
        raise RuntimeError("the load failed")
    assert _schema(context) == before


def test_first_load_is_a_batch_at_least_as_big_as_the_store() -> None:
    assert StoredIdentities(existing=0, new=10, stored_total=0).first_load
    assert StoredIdentities(existing=0, new=10, stored_total=10).first_load
    assert not StoredIdentities(existing=3, new=10, stored_total=11).first_load
    assert not StoredIdentities(existing=10, new=0, stored_total=0).first_load


@pytest.mark.parametrize("failing", ["upsert_keys", "_write_facts"])
def test_a_first_load_that_fails_leaves_nothing(context: AppContext,
                                                monkeypatch: pytest.MonkeyPatch,
                                                failing: str) -> None:
    """A failure in the store's key load or in the facts thread, with the indexes set
    aside and the other side running: no identity, no fact file, every index back."""
    from shopcrm.ingest import pipeline

    before = _schema(context)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"{failing} broke")

    monkeypatch.setattr(pipeline, failing, broken)
    with pytest.raises(RuntimeError, match="broke"):
        import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    assert _schema(context) == before
    assert _counts(context) == dict.fromkeys(TABLES, 0)
    assert not list((context.settings.home / "warehouse").rglob("*.parquet"))
