"""The cleaning macros on hand-picked values from real exports."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import duckdb
import pytest

from shopcrm.ingest.sqlclean import install_macros


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    install_macros(connection, "Asia/Shanghai")
    yield connection
    connection.close()


def one(con: duckdb.DuckDBPyConnection, sql: str, value: str | None) -> object:
    return con.execute(f"SELECT {sql}", {"v": value}).fetchall()[0][0]


@pytest.mark.parametrize(("raw", "expected"), [
    ('="3012345678901234501"', "3012345678901234501"),
    (' ="45" ', "45"),
    ("'13812345678", "13812345678"),
    ("\t'13812345678", "13812345678"),
    ("`186", "186"),
    ("  plain  ", "plain"),
    ("\u3000全角空格\u3000", "全角空格"),
    ("\ufeffbom", "bom"),
    ('="', '="'),
    ("=SUM(A1)", "=SUM(A1)"),
    ("'", None),
    ("   ", None),
    ("", None),
    (None, None),
    ('="a"b"', 'a"b'),
])
def test_undecorate(con: duckdb.DuckDBPyConnection, raw: str | None, expected: str | None) -> None:
    assert one(con, "sc_undecorate($v)", raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("12.50", Decimal("12.50")), ("12.50元", Decimal("12.50")), ("¥1,288.00", Decimal("1288.00")),
    ("￥ 8", Decimal("8.00")), ("1，000", Decimal("1000.00")), ("abc", None), ("-3", Decimal("-3")),
])
def test_money(con: duckdb.DuckDBPyConnection, raw: str, expected: Decimal | None) -> None:
    assert one(con, "sc_money(sc_undecorate($v))", raw) == expected


@pytest.mark.parametrize(("raw", "utc"), [
    ("2016-05-23 22:02:11", "2016-05-23 14:02:11+00"),
    ("2016/5/23 22:02", "2016-05-23 14:02:00+00"),
    ("2025-06-18 20:15:03 +0800", "2025-06-18 12:15:03+00"),
    ("2025-06-18T20:15:03+08:00", "2025-06-18 12:15:03+00"),
    ("2025-06-18T12:15:03Z", "2025-06-18 12:15:03+00"),
    ("2025年3月1日", "2025-02-28 16:00:00+00"),
    ("2025-13-45 99:00:00", None),
    ("yesterday", None),
])
def test_timestamps_in_shop_time(con: duckdb.DuckDBPyConnection, raw: str,
                                 utc: str | None) -> None:
    assert one(con, "CAST(sc_ts(sc_undecorate($v)) AS VARCHAR)", raw) == utc


def test_ids_and_flags(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "sc_id(sc_undecorate($v))", "10001.0") == "10001"
    assert one(con, "sc_id(sc_undecorate($v))", "v1.0") == "v1.0"
    assert one(con, "sc_bool(sc_undecorate($v))", "Yes") is True
    assert one(con, "sc_bool(sc_undecorate($v))", "否") is False
    assert one(con, "sc_bool(sc_undecorate($v))", "maybe") is None
    assert one(con, "sc_int(sc_undecorate($v))", "3件") == 3
