"""Benchmark steps, each run in its own process by :mod:`benchmarks.run`.

Each step imports what it needs first and times only the work, so library start-up
does not count; peak RSS is the whole process's.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def _read_as_text(csv_path: str) -> tuple[Any, float, float]:
    """DuckDB (2 threads) with the file read into table ``t``, all columns text; and
    the wall and CPU clocks from just before the read."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET enable_progress_bar = false")
    started, cpu = time.perf_counter(), time.process_time()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv_path}', all_varchar = true, "
                "header = true)")
    return con, started, cpu


def duckdb_read(args: list[str]) -> dict[str, object]:
    """Baseline: DuckDB's own read_csv of the file into a table (all text columns)."""
    con, started, cpu = _read_as_text(args[0])
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    return {"rows": rows, "work_seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu}


PERSONAL_COLUMNS = ("买家支付宝账号", "收货人姓名", "收货地址", "联系电话", "联系手机", "买家留言",
                    "订单备注", "物流单号")
"""Columns that stay out of the facts (personal data lives in the operational store)."""


def duckdb_read_write_facts(args: list[str]) -> dict[str, object]:
    """The floor of the design, not a competitor: DuckDB reads the file as text and
    writes its non-personal columns as day-partitioned Parquet, as the import's facts
    are kept, with no cleaning, validation, deduplication or operational store."""
    target = Path(args[1])
    shutil.rmtree(target, ignore_errors=True)
    con, started, cpu = _read_as_text(args[0])
    columns = [r[0] for r in con.execute("DESCRIBE t").fetchall()]
    kept = ", ".join(f'"{c}"' for c in columns if c.strip() not in PERSONAL_COLUMNS)
    created = next(c for c in columns if c.strip() == "订单创建时间")
    con.execute(
        f"COPY (SELECT {kept}, CAST(coalesce(try_strptime(\"{created}\", '%Y-%m-%d %H:%M:%S'), "
        f"try_strptime(\"{created}\", '%Y/%m/%d %H:%M')) AS DATE) AS day FROM t) "
        f"TO '{target}' (FORMAT parquet, PARTITION_BY (day))")
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    shutil.rmtree(target, ignore_errors=True)
    return {"rows": rows, "work_seconds": seconds, "cpu_seconds": cpu_seconds}


def _fresh_postgres(server_url: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"shopcrm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return url, drop


def shopcrm_import(args: list[str]) -> dict[str, object]:
    """shopcrm's full import: clean, validate, identities to the store, facts to Parquet.

    Identity resolution (which ``shopcrm import`` runs next) is timed apart: issue 2's
    target is the import; resolution has its own benchmark and target (issue 4). The
    import's peak RSS is read before resolution starts.
    """
    import resource

    from shopcrm.context import build_context
    from shopcrm.identity.service import resolve_after_import
    from shopcrm.ingest.service import import_file
    from shopcrm.settings import Settings

    path, home = Path(args[0]), Path(args[1])
    server = args[2] if len(args) > 2 and args[2] else None
    shutil.rmtree(home, ignore_errors=True)
    url, drop = _fresh_postgres(server) if server else (None, None)
    try:
        context = build_context(Settings(home=home, database_url=url))
        started, cpu = time.perf_counter(), time.process_time()
        report = import_file(context, "taobao-orders", path, resolve_identities=False)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started, cpu = time.perf_counter(), time.process_time()
        resolve_after_import(context, report)
        resolve_seconds = time.perf_counter() - started
        resolve_cpu = time.process_time() - cpu
        context.close()
    finally:
        if drop:
            drop()
    return {"rows_read": report.rows_read, "imported": report.imported,
            "rejected": report.rejected, "identities": report.identities_new,
            "work_seconds": seconds, "cpu_seconds": cpu_seconds, "import_rss_mb": import_rss,
            "resolve_seconds": resolve_seconds, "resolve_cpu_seconds": resolve_cpu}


AS_OF = "2026-11-20T02:00:00+00:00"
"""The features benchmark's reference time: the day after the generated shop's last order."""


def _bench_tables(folder: str) -> tuple[Any, Any]:
    """An Ibis DuckDB connection (2 threads, like the app) over the generated Parquet."""
    import ibis

    from shopcrm.segments.features import Facts

    con = ibis.duckdb.connect(threads=2)
    con.raw_sql("SET TimeZone = 'UTC'")
    con.raw_sql("SET enable_progress_bar = false")
    tables = {n: con.read_parquet(f"{folder}/{n}.parquet", table_name=n)
              for n in ("orders", "order_items", "events", "products")}
    return con, Facts(tables["orders"], tables["order_items"], tables["events"],
                      tables["products"])


def _checksum(table: Any) -> dict[str, object]:
    import pyarrow.compute as pc

    r, f, m = (pc.sum(table[c]).as_py() for c in ("r_score", "f_score", "m_score"))
    return {"rows": table.num_rows, "buyers": pc.count(table["r_score"]).as_py(),
            "score_sums": f"{r}/{f}/{m}"}


def features_job(args: list[str]) -> dict[str, object]:
    """The full features job (features, RFM, classes, tiers, lifecycle) to Arrow."""
    from datetime import datetime

    from shopcrm.segments.job import features_table
    from shopcrm.segments.settings import SegmentSettings

    _, facts = _bench_tables(args[0])
    started = time.perf_counter()
    expr = features_table(facts, SegmentSettings(), as_of=datetime.fromisoformat(AS_OF),
                          timezone="Asia/Shanghai")
    table = expr.to_pyarrow()
    return {**_checksum(table), "columns": table.num_columns,
            "work_seconds": time.perf_counter() - started}


def rfm_ibis(args: list[str]) -> dict[str, object]:
    """The job's RFM part alone (buyer aggregates + quintile scores), to Arrow."""
    from datetime import datetime

    from shopcrm.segments.job import rfm_table
    from shopcrm.segments.settings import SegmentSettings

    _, facts = _bench_tables(args[0])
    started = time.perf_counter()
    table = rfm_table(facts.orders, SegmentSettings(), as_of=datetime.fromisoformat(AS_OF),
                      timezone="Asia/Shanghai").to_pyarrow()
    return {**_checksum(table), "work_seconds": time.perf_counter() - started}


RFM_SQL = """
WITH bought AS (
    SELECT customer_id, day, paid_amount - refund_amount AS net
    FROM read_parquet('{folder}/orders.parquet')
    WHERE customer_id IS NOT NULL AND status IN ('paid', 'shipped', 'completed')
      AND created_at < TIMESTAMPTZ '{as_of}'
), agg AS (
    SELECT customer_id, DATE '{day}' - max(day) AS recency, count(*) AS frequency,
           sum(net) AS monetary
    FROM bought GROUP BY customer_id
)
SELECT customer_id, recency, frequency, monetary,
    1 + floor(5 * (rank() OVER (ORDER BY recency DESC) - 1) / count(*) OVER ())::INTEGER
        AS r_score,
    1 + floor(5 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER ())::INTEGER
        AS f_score,
    1 + floor(5 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER ())::INTEGER
        AS m_score
FROM agg
"""


def rfm_sql(args: list[str]) -> dict[str, object]:
    """Baseline: the same RFM as one hand-written DuckDB query, to Arrow."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    table = con.execute(RFM_SQL.format(folder=args[0], as_of=AS_OF,
                                       day="2026-11-20")).to_arrow_table()
    return {**_checksum(table), "work_seconds": time.perf_counter() - started}


def rfm_pandas(args: list[str]) -> dict[str, object]:
    """Baseline: the same RFM with pandas (read the Parquet, groupby, rank)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    started = time.perf_counter()
    orders = pd.read_parquet(f"{args[0]}/orders.parquet",
                             columns=["customer_id", "status", "created_at", "day",
                                      "paid_amount", "refund_amount"])
    bought = orders[orders.customer_id.notna()
                    & orders.status.isin(["paid", "shipped", "completed"])
                    & (orders.created_at < pd.Timestamp(AS_OF))]
    bought = bought.assign(net=bought.paid_amount - bought.refund_amount,
                           day=pd.to_datetime(bought.day))
    agg = bought.groupby("customer_id").agg(last=("day", "max"), frequency=("day", "size"),
                                             monetary=("net", "sum"))
    agg["recency"] = (pd.Timestamp("2026-11-20") - agg["last"]).dt.days
    agg["monetary"] = agg["monetary"].astype("float64")
    n = len(agg)
    for column, score, ascending in (("recency", "r_score", False),
                                     ("frequency", "f_score", True),
                                     ("monetary", "m_score", True)):
        position = agg[column].rank(method="min", ascending=ascending) - 1
        agg[score] = (1 + np.floor(5 * position / n)).astype("int32")
    table = pa.Table.from_pandas(agg.reset_index())
    return {**_checksum(table), "work_seconds": time.perf_counter() - started}


def features_pandas(args: list[str]) -> dict[str, object]:
    """Baseline: the main part of the features job in pandas (same definitions): buyer
    aggregates with 3 windows, order lines with the catalogue (favourite category and
    brand, new-arrival share, price level), event counts by type × window, RFM quintiles,
    tiers, lifecycle stage."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    folder = args[0]
    started = time.perf_counter()
    as_of, today = pd.Timestamp(AS_OF), pd.Timestamp("2026-11-20")
    orders = pd.read_parquet(f"{folder}/orders.parquet", columns=[
        "source", "order_id", "customer_id", "status", "created_at", "day", "paid_amount",
        "refund_amount", "promo_type"])
    bought = orders[orders.customer_id.notna()
                    & orders.status.isin(["paid", "shipped", "completed"])
                    & (orders.created_at < as_of)].copy()
    bought["net"] = (bought.paid_amount - bought.refund_amount).astype("float64")
    bought["day"] = pd.to_datetime(bought["day"])
    bought["age"] = (today - bought["day"]).dt.days
    bought["promo"] = bought.promo_type.fillna("").str.strip().ne("").astype("int32")
    for w in (7, 30, 90):
        bought[f"in{w}"] = (bought.age < w).astype("int64")
        bought[f"spend{w}"] = bought.net.where(bought.age < w, 0.0)
    agg = bought.groupby("customer_id").agg(
        first=("day", "min"), last=("day", "max"), frequency=("day", "size"),
        monetary=("net", "sum"), promo=("promo", "sum"),
        **{f"orders_{w}d": (f"in{w}", "sum") for w in (7, 30, 90)},
        **{f"spend_{w}d": (f"spend{w}", "sum") for w in (7, 30, 90)})
    agg["recency_days"] = (today - agg["last"]).dt.days
    agg["aov"] = (agg.monetary / agg.frequency).round(2)
    agg["promo_share"] = agg.promo / agg.frequency
    span = (agg["last"] - agg["first"]).dt.days
    agg["mean_interpurchase_days"] = (span / (agg.frequency - 1)).where(agg.frequency > 1)
    items = pd.read_parquet(f"{folder}/order_items.parquet",
                            columns=["source", "order_id", "sku", "quantity", "unit_price"])
    products = pd.read_parquet(f"{folder}/products.parquet")
    lines = items.merge(bought[["source", "order_id", "customer_id", "day"]],
                        on=["source", "order_id"]).merge(products, on="sku", how="left")
    since = (lines["day"] - pd.to_datetime(lines.launched_on)).dt.days
    lines["new_arrival"] = ((since >= 0) & (since < 30)).astype("int64")
    lines["unit_price"] = lines.unit_price.astype("float64")
    lines["ratio"] = lines.unit_price / lines.list_price.astype("float64")
    per = lines.groupby("customer_id").agg(
        items_bought=("quantity", "sum"), new_arrival_share=("new_arrival", "mean"),
        avg_unit_price=("unit_price", "mean"), price_index=("ratio", "mean"))
    for column in ("category", "brand"):
        totals = lines.groupby(["customer_id", column], as_index=False)["quantity"].sum()
        totals = totals.sort_values(["customer_id", "quantity", column],
                                    ascending=[True, False, True])
        per[f"favourite_{column}"] = totals.drop_duplicates("customer_id").set_index(
            "customer_id")[column]
    events = pd.read_parquet(f"{folder}/events.parquet",
                             columns=["customer_id", "event_type", "occurred_at", "day"])
    events = events[events.occurred_at < as_of]
    age = (today - pd.to_datetime(events["day"])).dt.days
    counts = {}
    for kind in ("view", "search", "add_to_cart", "favourite"):
        for w in (7, 30, 90):
            counts[f"{kind}_{w}d"] = ((events.event_type == kind) & (age < w)).astype("int64")
    behaviour = pd.DataFrame(counts).groupby(events.customer_id).sum()
    seen = pd.Index(orders.customer_id.dropna().unique()).union(events.customer_id.unique())
    table = pd.DataFrame(index=seen).join(agg).join(per).join(behaviour)
    table["frequency"] = table.frequency.fillna(0)
    buyers = table.frequency > 0
    n = int(buyers.sum())
    for column, score, ascending in (("recency_days", "r_score", False),
                                     ("frequency", "f_score", True),
                                     ("monetary", "m_score", True)):
        position = table.loc[buyers, column].rank(method="min", ascending=ascending) - 1
        table.loc[buyers, score] = 1 + np.floor(5 * position / n)
    order = table[buyers].reset_index(names="cid").sort_values(["monetary", "cid"],
                                                               ascending=[False, True])
    position = pd.Series(np.arange(n), index=order.cid)
    table.loc[buyers, "tier"] = pd.cut(position.reindex(table.index[buyers]) / n,
                                       [-1, 0.1 - 1e-12, 0.25 - 1e-12, 0.5 - 1e-12, 2],
                                       labels=["platinum", "gold", "silver", "bronze"])
    first_age = (today - table["first"]).dt.days
    table["stage"] = np.select(
        [~buyers, first_age < 30, table.recency_days < 90, table.recency_days < 180,
         table.recency_days < 365], ["prospect", "new", "active", "sleeping", "pre_churn"],
        "churned")
    out = pa.Table.from_pandas(table[["r_score", "f_score", "m_score", "stage"]]
                               .astype({"r_score": "Int32", "f_score": "Int32",
                                        "m_score": "Int32"}))
    return {**_checksum(out), "work_seconds": time.perf_counter() - started}


def features_data(args: list[str]) -> dict[str, object]:
    """Generate (or reuse) the features benchmark's shop."""
    from benchmarks.features_data import write

    write(Path(args[0]), int(args[1]))
    return {"folder": args[0]}


def main(argv: list[str]) -> dict[str, object]:
    step = {"duckdb_read": duckdb_read, "duckdb_read_write_facts": duckdb_read_write_facts,
            "shopcrm_import": shopcrm_import,
            "features_job": features_job, "rfm_ibis": rfm_ibis, "rfm_sql": rfm_sql,
            "rfm_pandas": rfm_pandas, "features_data": features_data,
            "features_pandas": features_pandas}[argv[0]]
    return step(argv[1:])


if __name__ == "__main__":
    print(main(sys.argv[1:]))
