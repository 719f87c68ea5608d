"""Writing the facts: the counts of a first import taken without materialising the rows,
and events imported while the store's thread reads ``good``."""

from __future__ import annotations

from pathlib import Path

import duckdb

from shopcrm.context import AppContext
from shopcrm.ingest.facts_out import classify
from shopcrm.ingest.service import import_file
from shopcrm.warehouse.tables import ORDERS

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_first_import_counts_without_a_staging_table() -> None:
    con = duckdb.connect(":memory:")
    staged = ("SELECT * FROM (VALUES ('tb', 'a', 'h1'), ('tb', 'b', 'h2'), ('tb', NULL, 'h3'))"
              " t(source, order_id, row_hash)")
    result = classify(con, ORDERS, staged, "stage_orders_cls", [])
    assert result.counts(con, "count(DISTINCT (source, order_id))") == {"new": 3}
    assert result.counts(con, "count(*) FILTER (WHERE false)") == {}
    assert con.execute(f"SELECT count(*) FROM ({result.rows_sql})").fetchall() == [(3,)]
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "stage_orders_cls" not in tables


def test_events_written_beside_the_store_match_a_second_import(
        sqlite_context: AppContext) -> None:
    """Events deduplicate into a table of their own (the store's thread reads ``good``
    meanwhile); a re-import finds every event already there."""
    first = import_file(sqlite_context, "events", FIXTURES / "events.jsonl")
    assert first.imported > 0
    again = import_file(sqlite_context, "events", FIXTURES / "events.jsonl")
    assert again.imported == 0
    assert again.duplicates == first.imported + first.duplicates
