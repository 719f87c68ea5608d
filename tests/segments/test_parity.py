"""One definition, two engines: the features job gives identical rows on DuckDB and Spark.

Input is the demo shop imported through the real importers (and a hand-made set that
hits every RFM class); the DuckDB side runs on the application's warehouse, the Spark
side on the same current facts read as Parquet by a local Spark session. Values are
compared, not types: money as Decimal, floats to 1e-9 relative, timestamps in UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from factrows import arrow_facts, on_duckdb, on_spark
from test_scoring import EIGHT, buyer

from shopcrm.context import AppContext
from shopcrm.demo import generate_demo_shop
from shopcrm.ingest.service import import_file
from shopcrm.segments.features import Facts
from shopcrm.segments.job import features_table, warehouse_facts
from shopcrm.segments.settings import RfmSettings, SegmentSettings

pytestmark = pytest.mark.slow


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return bool(_normal(a) == _normal(b))


def _rows(facts: Facts, settings: SegmentSettings, as_of: datetime) -> list[dict[str, Any]]:
    table = features_table(facts, settings, as_of=as_of, timezone="Asia/Shanghai")
    return list(table.to_pyarrow().to_pylist())


def assert_same_rows(duck: list[dict[str, Any]], spark: list[dict[str, Any]]) -> None:
    assert len(duck) == len(spark) > 0
    assert list(duck[0]) == list(spark[0])
    for d, s in zip(duck, spark, strict=True):
        diffs = {k: (d[k], s[k]) for k in d if not _same(d[k], s[k])}
        assert not diffs, f"customer {d['customer_id']}: {diffs}"


SETTINGS = [SegmentSettings(),
            SegmentSettings(rfm=RfmSettings(method="thresholds", cn_basis="score")),
            SegmentSettings(rfm=RfmSettings(ties="customer_id"), windows=(1, 14, 365))]


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "thresholds", "by-id"])
def test_hand_made_facts_same_on_both_engines(spark_session: tuple[Any, Path],
                                              settings: SegmentSettings) -> None:
    rows = {"orders": [o for cid, (age, f, m) in EIGHT.items()
                       for o in buyer(cid, last_age=age, freq=f, net=m)]}
    tables = arrow_facts(rows)
    as_of = datetime(2026, 11, 20, 2, tzinfo=UTC)
    assert_same_rows(_rows(on_duckdb(tables), settings, as_of),
                     _rows(on_spark(spark_session, tables), settings, as_of))


@pytest.fixture(scope="module")
def demo_shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo shop imported through the real importers; its current facts as Arrow."""
    from shopcrm.context import build_context
    from shopcrm.settings import Settings

    folder = tmp_path_factory.mktemp("demo")
    context: AppContext = build_context(Settings(home=folder / "home"))
    try:
        manifest = generate_demo_shop(folder / "files", customers=250, seed=11)
        for f in manifest.files:
            import_file(context, f.format, f.path)
        wh = context.warehouse
        tables = {n: wh.execute(wh.table(n)) for n in ("orders", "order_items", "events",
                                                       "products")}
        latest = wh.execute(wh.table("orders").created_at.max()).as_py()
        duck_rows = {
            i: _rows(warehouse_facts(wh), s, latest - timedelta(days=20))
            for i, s in enumerate(SETTINGS)}
    finally:
        context.close()
        assert wh.customer_map is not None
        remapped = wh.customer_map.remapped()
    return {"tables": tables, "as_of": latest - timedelta(days=20), "duck": duck_rows,
            "facts_dir": context.settings.facts_dir, "customer_map": remapped}


@pytest.mark.parametrize("which", range(len(SETTINGS)), ids=["default", "thresholds", "by-id"])
def test_demo_shop_same_on_both_engines(spark_session: tuple[Any, Path],
                                        demo_shop: dict[str, Any], which: int) -> None:
    spark_rows = _rows(on_spark(spark_session, demo_shop["tables"]), SETTINGS[which],
                       demo_shop["as_of"])
    duck_rows = demo_shop["duck"][which]
    assert_same_rows(duck_rows, spark_rows)
    # the demo shop exercises the interesting paths, so the parity is not vacuous
    assert {r["stage"] for r in duck_rows} >= {"active", "sleeping", "churned", "prospect"}
    assert len({r["rfm_cn"] for r in duck_rows if r["rfm_cn"]}) >= 6
    assert any(r["favourite_category"] for r in duck_rows)
    window = SETTINGS[which].windows[-1]
    assert any(r[f"view_{window}d"] for r in duck_rows)


def test_spark_reads_the_published_fact_files(spark_session: tuple[Any, Path],
                                               demo_shop: dict[str, Any]) -> None:
    """The production path: Spark reads the warehouse's Parquet files itself and picks
    current versions by the same rule as the DuckDB reader."""
    from shopcrm.warehouse.facts import FactStore
    from shopcrm.warehouse.spark import spark_tables

    tables = spark_tables(spark_session[0], FactStore(demo_shop["facts_dir"]),
                          demo_shop["customer_map"])
    facts = Facts(tables["orders"], tables["order_items"], tables["events"],
                  tables["products"])
    for name, table in tables.items():
        assert table.count().to_pyarrow().as_py() == demo_shop["tables"][name].num_rows, name
    assert_same_rows(demo_shop["duck"][0], _rows(facts, SETTINGS[0], demo_shop["as_of"]))
