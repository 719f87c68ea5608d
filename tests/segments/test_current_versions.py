"""The Spark reader's version rule, checked on DuckDB: newest batch per key, all its rows."""

from __future__ import annotations

from datetime import date

from factrows import arrow_facts, line, on_duckdb

from shopcrm.warehouse.spark import current_versions
from shopcrm.warehouse.tables import ORDER_ITEMS


def test_newest_batch_wins_with_all_its_lines() -> None:
    day = date(2026, 1, 1)
    old = [dict(line(1, "A", day, "s1", 1, "10"), batch_id=1),
           dict(line(1, "A", day, "s2", 1, "20", line_no=2), batch_id=1),
           dict(line(2, "B", day, "s1", 1, "10"), batch_id=1)]
    new = [dict(line(1, "A", day, "s3", 1, "30"), batch_id=2),
           dict(line(2, "B", day, "s9", 3, "10", source="jd"), batch_id=3)]
    facts = on_duckdb(arrow_facts({"order_items": old + new}))
    rows = current_versions(facts.order_items, ORDER_ITEMS).order_by(
        ["source", "order_id", "line_no"]).to_pyarrow().to_pylist()
    assert [(r["source"], r["order_id"], r["sku"], r["batch_id"]) for r in rows] == [
        ("jd", "B", "s9", 3), ("taobao", "A", "s3", 2), ("taobao", "B", "s1", 1)]
