"""Fixtures for the segments tests: facts on DuckDB, one local Spark session per run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from factrows import Rows, arrow_facts, on_duckdb

from shopcrm.segments.features import Facts


@pytest.fixture
def duck() -> Callable[[Rows], Facts]:
    return lambda rows: on_duckdb(arrow_facts(rows))


@pytest.fixture(scope="session")
def spark_session() -> Iterator[tuple[Any, Path]]:
    """One local Spark session for the whole run, bound to loopback only."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    folder = tempfile.mkdtemp(prefix="shopcrm-spark-")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("shopcrm-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.warehouse.dir", str(Path(folder) / "warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session, Path(folder)
    session.stop()
