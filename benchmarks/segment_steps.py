"""Steps of the segments benchmark, each run in its own process by ``benchmarks.run``.

The shop is the features benchmark's generated one (``benchmarks/features_data.py``:
N orders over N/10 customers, N/2 events). ``snapshot`` computes its features snapshot
once (what ``shopcrm compute`` leaves for segments to read). ``estimate_shopcrm`` and
``estimate_sql`` then answer the size of one five-condition segment with behaviour
windows, repeatedly, over facts held in an in-process DuckDB as the application's
warehouse holds them (loading is not timed: the server keeps them warm):

1. lifecycle stage is new or active (features snapshot);
2. net spend at least 500 (features snapshot);
3. viewed at least twice in the last 30 days (events);
4. spent at least 200 net in the last 90 days (purchases);
5. no 聚划算 purchase in the last 365 days (purchases, a text filter, negated).

``estimate_shopcrm`` goes through the rule tree and the compiler exactly as the API's
estimate does (snapshot columns read per estimate, Ibis → DuckDB); ``estimate_sql`` is the
same segment as one hand-written DuckDB query over the same tables — the baseline.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.steps import AS_OF

RUNS = 15
TODAY = "2026-11-20"
RULE: dict[str, Any] = {"kind": "and", "children": [
    {"kind": "feature", "field": "stage", "op": "in", "value": ["new", "active"]},
    {"kind": "feature", "field": "monetary", "op": "gte", "value": 500},
    {"kind": "behaviour", "of": "events", "event_type": "view", "window": {"days": 30},
     "op": "gte", "value": 2},
    {"kind": "behaviour", "of": "purchases", "aggregate": "sum", "field": "net",
     "window": {"days": 90}, "op": "gte", "value": 200},
    {"kind": "not", "child": {"kind": "behaviour", "of": "purchases", "window": {"days": 365},
                              "where": [{"field": "promo_type", "op": "contains",
                                         "value": "聚划算"}]}},
]}

SQL = """
WITH snap AS (
    SELECT customer_id, stage, monetary FROM read_parquet('{snapshot}')
), viewed AS (
    SELECT customer_id FROM events
    WHERE customer_id IS NOT NULL AND occurred_at < TIMESTAMPTZ '{as_of}'
      AND event_type = 'view' AND day >= DATE '{today}' - 29
    GROUP BY customer_id HAVING count(*) >= 2
), spent AS (
    SELECT customer_id FROM orders
    WHERE customer_id IS NOT NULL AND created_at < TIMESTAMPTZ '{as_of}'
      AND status IN ('paid', 'shipped', 'completed') AND day >= DATE '{today}' - 89
    GROUP BY customer_id
    HAVING sum(coalesce(paid_amount, 0) - coalesce(refund_amount, 0)) >= 200
), flash AS (
    SELECT DISTINCT customer_id FROM orders
    WHERE customer_id IS NOT NULL AND created_at < TIMESTAMPTZ '{as_of}'
      AND status IN ('paid', 'shipped', 'completed') AND day >= DATE '{today}' - 364
      AND contains(promo_type, '聚划算')
)
SELECT count(*) FROM snap
WHERE stage IN ('new', 'active') AND monetary >= 500
  AND customer_id IN (SELECT customer_id FROM viewed)
  AND customer_id IN (SELECT customer_id FROM spent)
  AND customer_id NOT IN (SELECT customer_id FROM flash)
"""

STAGED_SQL = """
WITH cand AS MATERIALIZED (
    SELECT customer_id FROM read_parquet('{snapshot}')
    WHERE stage IN ('new', 'active') AND monetary >= 500
), viewed AS MATERIALIZED (
    SELECT customer_id FROM events
    WHERE customer_id IN (SELECT customer_id FROM cand)
      AND occurred_at < TIMESTAMPTZ '{as_of}' AND event_type = 'view'
      AND day >= DATE '{today}' - 29
    GROUP BY customer_id HAVING count(*) >= 2
), spent AS MATERIALIZED (
    SELECT customer_id FROM orders
    WHERE customer_id IN (SELECT customer_id FROM viewed)
      AND created_at < TIMESTAMPTZ '{as_of}' AND status IN ('paid', 'shipped', 'completed')
      AND day >= DATE '{today}' - 89
    GROUP BY customer_id
    HAVING sum(coalesce(paid_amount, 0) - coalesce(refund_amount, 0)) >= 200
), flash AS MATERIALIZED (
    SELECT DISTINCT customer_id FROM orders
    WHERE customer_id IN (SELECT customer_id FROM spent)
      AND created_at < TIMESTAMPTZ '{as_of}' AND status IN ('paid', 'shipped', 'completed')
      AND day >= DATE '{today}' - 364 AND contains(promo_type, '聚划算')
)
SELECT count(*) FROM spent WHERE customer_id NOT IN (SELECT customer_id FROM flash)
"""
"""The same segment tuned by hand: each condition over the customers the previous ones
left (materialised CTEs) — what the compiler's staging does, written directly."""


def _warehouse(folder: str) -> Any:
    """The facts loaded into an in-process DuckDB, like ``Warehouse`` keeps them."""
    import ibis

    con = ibis.duckdb.connect(threads=2)
    con.raw_sql("SET TimeZone = 'UTC'")
    con.raw_sql("SET enable_progress_bar = false")
    for name in ("orders", "order_items", "events", "products"):
        con.raw_sql(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{folder}/{name}.parquet')")
    return con


def snapshot(args: list[str]) -> dict[str, object]:
    """The features snapshot of the generated shop (computed once, then reused)."""
    import pyarrow.parquet as pq

    from benchmarks.steps import _bench_tables
    from shopcrm.segments.job import features_table
    from shopcrm.segments.settings import SegmentSettings

    target = Path(args[0]) / "features_snapshot.parquet"
    if not target.exists():
        _, facts = _bench_tables(args[0])
        table = features_table(facts, SegmentSettings(), as_of=datetime.fromisoformat(AS_OF),
                               timezone="Asia/Shanghai").to_pyarrow()
        tmp = target.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.rename(target)
    return {"rows": pq.ParquetFile(target).metadata.num_rows}


def _timings(run: Any) -> dict[str, object]:
    seconds = []
    value = None
    for _ in range(RUNS):
        started = time.perf_counter()
        value = run()
        seconds.append(time.perf_counter() - started)
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"size": value, "p50_ms": round(statistics.median(seconds) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "first_ms": round(seconds[0] * 1000, 1),
            "runs": RUNS, "work_seconds": sum(seconds)}


def estimate_shopcrm(args: list[str]) -> dict[str, object]:
    """The rule tree → compiler → Ibis → DuckDB, as the API's live estimate runs it."""
    import ibis
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shopcrm.segments.audience import read_snapshot, staging_pays
    from shopcrm.segments.compiler import Sources, compile_members
    from shopcrm.segments.features import Facts
    from shopcrm.segments.rules import Catalogue, validate

    con = _warehouse(args[0])
    facts = Facts(*(con.table(n) for n in ("orders", "order_items", "events", "products")))
    path = Path(args[0]) / "features_snapshot.parquet"
    customers = pq.ParquetFile(path).metadata.num_rows  # the app reads it from the run

    class NoStore:
        def attribute(self, *a: Any, **k: Any) -> pa.Table:
            raise AssertionError("no store conditions in this segment")

        loyalty = tag = attribute

    def estimate() -> int:
        from shopcrm.segments.audience import _arrow_type

        schema = pq.read_schema(path)  # the catalogue, as the service builds it per call
        fields = {f.name: _arrow_type(f.type) for f in schema}
        rule = validate(RULE, Catalogue(features={k: v for k, v in fields.items() if v}))
        sources = Sources(
            facts=facts, sets=NoStore(), as_of=datetime.fromisoformat(AS_OF),
            timezone="Asia/Shanghai",
            features=lambda cols: ibis.memtable(read_snapshot(path, cols)),
            materialize=con.to_pyarrow if staging_pays(customers) else None)
        return int(con.to_pyarrow(compile_members(rule, sources).count()).as_py())

    return {**_timings(estimate), "staged": staging_pays(customers)}


def estimate_sql(args: list[str]) -> dict[str, object]:
    """Baseline: the same segment as one hand-written DuckDB query, same tables."""
    con = _warehouse(args[0])
    query = SQL.format(snapshot=Path(args[0]) / "features_snapshot.parquet", as_of=AS_OF,
                       today=TODAY)
    return _timings(lambda: int(con.raw_sql(query).fetchone()[0]))


def estimate_sql_staged(args: list[str]) -> dict[str, object]:
    """Second baseline: the hand-tuned staged query."""
    con = _warehouse(args[0])
    query = STAGED_SQL.format(snapshot=Path(args[0]) / "features_snapshot.parquet",
                              as_of=AS_OF, today=TODAY)
    return _timings(lambda: int(con.raw_sql(query).fetchone()[0]))


def main(argv: list[str]) -> dict[str, object]:
    step = {"snapshot": snapshot, "estimate_shopcrm": estimate_shopcrm,
            "estimate_sql": estimate_sql, "estimate_sql_staged": estimate_sql_staged}[argv[0]]
    return step(argv[1:])


if __name__ == "__main__":
    print(main(sys.argv[1:]))
