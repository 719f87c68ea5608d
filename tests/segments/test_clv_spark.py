"""The orders → CLV summary expression gives the same numbers on Spark as on DuckDB.

Spark local mode (see ../shared/DEPENDENCIES.md for the loopback settings); the session
takes seconds to start, so this is marked slow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pytest

from shopcrm.segments.clv import summarise_orders

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (SparkSession.builder.master("local[2]").appName("shopcrm-clv-test")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    yield session
    session.stop()


def _orders() -> pa.Table:
    """Same-day orders, orders after the end, one-off and repeat buyers, a refund-sized
    negative amount folded into a day."""
    rows = [
        (1, date(2026, 1, 1), 100.0), (1, date(2026, 1, 1), 20.0), (1, date(2026, 1, 15), 50.0),
        (1, date(2026, 3, 1), 70.0), (1, date(2026, 6, 1), 999.0),
        (2, date(2026, 2, 10), 35.5),
        (3, date(2026, 1, 5), 10.0), (3, date(2026, 1, 6), 12.0), (3, date(2026, 1, 6), -2.0),
        (4, date(2026, 5, 1), 80.0),
    ]
    return pa.table({"customer_id": [r[0] for r in rows],
                     "day": pa.array([r[1] for r in rows], pa.date32()),
                     "amount": [r[2] for r in rows]})


def test_summary_is_the_same_on_spark_and_duckdb(spark: object) -> None:
    expr = summarise_orders(ibis.memtable(_orders()), end=date(2026, 3, 31), unit_days=7)
    on_duckdb = ibis.duckdb.connect().to_pyarrow(expr)
    on_spark = ibis.pyspark.connect(spark).to_pyarrow(expr)
    assert on_duckdb["customer_id"].to_pylist() == [1, 2, 3]
    assert on_spark["customer_id"].to_pylist() == [1, 2, 3]
    for column in ("frequency", "recency", "T", "monetary_value"):
        assert np.allclose(on_spark[column].to_numpy(), on_duckdb[column].to_numpy()), column
    # by hand: customer 1 bought on Jan 1 (120), Jan 15 (50), Mar 1 (70); June is after
    # the end. Customer 3's second day nets to 10.
    assert on_duckdb["frequency"].to_pylist() == [2.0, 0.0, 1.0]
    assert on_duckdb["recency"].to_pylist() == pytest.approx([59 / 7, 0.0, 1 / 7])
    assert on_duckdb["T"].to_pylist() == pytest.approx([89 / 7, 49 / 7, 85 / 7])
    assert on_duckdb["monetary_value"].to_pylist() == pytest.approx([60.0, 0.0, 10.0])


def test_summary_reads_parquet_facts(tmp_path: Path) -> None:
    """Through a Parquet file, as the warehouse stores facts; T and recency in days."""
    import pyarrow.parquet as pq

    pq.write_table(_orders(), tmp_path / "orders.parquet")
    con = ibis.duckdb.connect()
    orders = con.read_parquet(tmp_path / "orders.parquet")
    table = con.to_pyarrow(summarise_orders(orders, end=date(2026, 3, 31)))
    assert table["T"].to_pylist() == [89.0, 49.0, 85.0]


def test_refunds_beyond_repeat_spend_give_zero_not_negative() -> None:
    orders = pa.table({"customer_id": [7, 7, 7], "amount": [50.0, 30.0, -80.0],
                       "day": pa.array([date(2026, 1, 1), date(2026, 1, 9), date(2026, 1, 20)],
                                       pa.date32())})
    summary = ibis.duckdb.connect().to_pyarrow(
        summarise_orders(ibis.memtable(orders), end=date(2026, 2, 1)))
    assert summary["frequency"].to_pylist() == [2.0]
    assert summary["monetary_value"].to_pylist() == [0.0]
