"""Property tests: whatever the rows contain, an import either refuses the file with a
clear ImportFileError or accounts for every row as imported or rejected — and a second
import of the same file changes nothing."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from functools import cache
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopcrm.context import AppContext
from shopcrm.ingest.errors import ImportFileError
from shopcrm.ingest.service import import_file
from shopcrm.ingest.sqlclean import install_macros

HEADER = ["订单编号", "买家会员名", "买家实际支付金额", "订单状态", "订单创建时间", "收货人姓名",
          "收货地址", "联系手机", "退款金额"]
ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30)
AMOUNTS = st.one_of(ANY_TEXT, st.decimals(min_value=-1000, max_value=10**13, places=2).map(str),
                    st.sampled_from(["12.50元", "¥8", "1,288.00", "", " 3 ", "NaN", "1e400"]))
DATES = st.one_of(ANY_TEXT, st.sampled_from([
    "2024-05-23 22:02:11", "2016/5/23 22:02", "2025-13-01 00:00:00", "2025-06-18T20:15:03+08:00",
    "0000-00-00 00:00:00", "2025年3月1日", ""]))
STATUSES = st.one_of(ANY_TEXT, st.sampled_from(["交易成功", "交易关闭", "等待买家付款", "神秘"]))
PHONES = st.one_of(ANY_TEXT, st.sampled_from(
    ["'13812345678", "138****1234", "+86 138 1234 5678", "17012345678-1234", "13812345678.0"]))
ROWS = st.lists(
    st.tuples(
        st.one_of(st.integers(1, 40).map(lambda n: f'="30{n:04d}"'), ANY_TEXT),
        st.one_of(st.sampled_from(["tb_a", "tb_b", "买家c"]), ANY_TEXT),
        AMOUNTS, STATUSES, DATES, ANY_TEXT,
        st.one_of(ANY_TEXT, st.just("浙江省 杭州市 西湖区 文三路 1号(310012)")),
        PHONES, AMOUNTS,
    ),
    min_size=1, max_size=25,
)
counter = itertools.count()


def write(folder: Path, rows: list[tuple[str, ...]], encoding: str) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = folder / f"random-{next(counter)}.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=ROWS, encoding=st.sampled_from(["gb18030", "utf-8", "utf-8-sig"]))
def test_any_rows_are_imported_or_reported(make_context: Callable[..., AppContext],
                                           tmp_path: Path, rows: list[tuple[str, ...]],
                                           encoding: str) -> None:
    home = tmp_path / f"home-{next(counter)}"
    context = make_context(home=home)
    path = write(tmp_path, rows, encoding)
    try:
        report = import_file(context, "taobao-orders", path)
    except ImportFileError as refused:
        assert str(refused)
        return
    assert report.ok
    assert report.imported + report.rejected == report.rows_read
    assert len(report.sample_rejects) == min(report.rejected, 20)
    assert all(line >= 2 and reason for line, reason in report.sample_rejects)
    stored = context.warehouse.table("orders").count().to_pyarrow().as_py()
    assert stored == report.imported

    again = import_file(context, "taobao-orders", path)
    assert (again.imported, again.updated, again.duplicates) == (0, 0, report.imported)
    assert context.warehouse.table("orders").count().to_pyarrow().as_py() == stored


@cache
def _macros() -> duckdb.DuckDBPyConnection:
    """One connection with the cleaning macros for every example: defining them costs
    ~0.5 s, and they are pure, so an example cannot leave anything behind for the next."""
    con = duckdb.connect()
    install_macros(con, "Asia/Shanghai")
    return con


@settings(max_examples=300, deadline=None)
@given(value=ANY_TEXT)
def test_cleaning_macros_never_fail_and_undecorate_is_idempotent(value: str) -> None:
    con = _macros().cursor()
    # Through a CTE: the macros nested in one expression take DuckDB ~0.5 s to bind.
    once, twice, _money, _number, _moment = con.execute(
        "WITH u AS (SELECT sc_undecorate($v) AS once) SELECT once, sc_undecorate(once), "
        "sc_money(once), sc_int(once), sc_ts(once)::VARCHAR FROM u", {"v": value}).fetchall()[0]
    assert once == twice
    assert once is None or once == once.strip(" \t\r\n\u3000\ufeff")


DECORATED = st.builds(
    lambda pre, core, post: pre + core + post,
    st.sampled_from(["", " ", "\t", "\u3000", "\ufeff", "=\"", " =\"", "'", "`", "''", "\n"]),
    ANY_TEXT,
    st.sampled_from(["", " ", "\t", "\r\n", "\u3000", "\ufeff", "\"", "\" ", "\"\u3000"]))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(ANY_TEXT, DECORATED), min_size=1, max_size=20))
def test_undecorate_fast_path_matches_strip_then_unwrap(values: list[str]) -> None:
    """``sc_undecorate`` skips ``trim`` for values without space-like ends: it must equal
    the plain composition of the two steps on any text."""
    rows = _macros().cursor().execute(
        "SELECT sc_undecorate(v), sc_unwrap(sc_strip(v)) FROM unnest($vs::VARCHAR[]) t(v)",
        {"vs": values}).fetchall()
    assert [fast for fast, _ in rows] == [plain for _, plain in rows]
