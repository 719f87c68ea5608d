"""Bulk loads into SQLite through a scratch database (``store.sqlite_load``): the rows
arrive exactly as ``executemany`` would have stored them, inside the caller's
transaction, and the scratch databases go when the connection returns to the pool."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from shopcrm.context import AppContext
from shopcrm.ingest.service import import_file
from shopcrm.store import bulk, sqlite_load
from shopcrm.store.db import make_engine

FIXTURES = Path(__file__).parent.parent / "fixtures"
COLUMNS = ("id", "label", "note", "flag", "seen_at")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with made.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, label VARCHAR(200), note TEXT, "
            "flag BOOLEAN, seen_at DATETIME)")
    yield made
    made.dispose()


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.exec_driver_sql(
            "SELECT id, label, typeof(label), note, typeof(note), flag, typeof(flag), "
            "seen_at FROM t ORDER BY id")]


def _load_both_ways(engine: Engine, con: duckdb.DuckDBPyConnection, query: str,
                    scratch: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    with engine.begin() as connection:
        assert sqlite_load.can_load(connection)
        bulk.load_query(connection, "t", COLUMNS, con, query, scratch)
    fast = _rows(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM t")
    with monkeypatch.context() as patched:
        patched.setattr(sqlite_load, "can_load", lambda _connection: False)
        with engine.begin() as connection:
            bulk.load_query(connection, "t", COLUMNS, con, query, scratch)
    slow = _rows(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM t")
    return fast, slow


def test_awkward_values_arrive_as_executemany_stores_them(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect()
    con.execute(r"""
        CREATE TABLE src AS SELECT * FROM (VALUES
            (1, 'a,b', '', true, TIMESTAMP '2024-05-01 10:00:00'),
            (2, 'say "hi"', NULL, false, TIMESTAMP '2024-05-01 10:00:00.25'),
            (3, e'two\nlines\r\nand a return', '\N', NULL, NULL),
            (4, '浙江省 杭州市 西湖区', 'NULL', true, TIMESTAMP '1999-12-31 23:59:59.999999'),
            (5, NULL, '   ', false, NULL),
            (6, '', e'tab\tand ''quote''', true, NULL)
        ) v(id, label, note, flag, seen_at)""")
    fast, slow = _load_both_ways(engine, con, "SELECT * FROM src ORDER BY id", tmp_path,
                                 monkeypatch)
    assert fast[0][:7] == (1, "a,b", "text", "", "text", 1, "integer")
    assert fast[1][3:5] == (None, "null")
    assert fast[2][3] == "\\N" and fast[3][3] == "NULL"  # look-alikes stay text
    assert fast[4][1:3] == (None, "null")
    assert fast[5][1:3] == ("", "text")
    assert [r[:7] for r in fast] == [r[:7] for r in slow]
    # Timestamps: the fast path writes SQLAlchemy's own text form.
    assert fast[1][7] == "2024-05-01 10:00:00.250000"
    assert [datetime.fromisoformat(r[7]) if r[7] else None for r in fast] == \
        [datetime.fromisoformat(r[7]) if r[7] else None for r in slow]


TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
               max_size=40)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(st.none(), TEXT), st.one_of(st.none(), TEXT)),
                min_size=1, max_size=30))
def test_any_text_round_trips(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              values: list[tuple[str | None, str | None]]) -> None:
    con = duckdb.connect()
    con.register("src_arrow", pa.table({
        "id": pa.array(range(1, len(values) + 1), pa.int64()),
        "label": pa.array([v[0] for v in values], pa.string()),
        "note": pa.array([v[1] for v in values], pa.string())}))
    query = ("SELECT id, label, note, CAST(NULL AS BOOLEAN), CAST(NULL AS TIMESTAMP) "
             "FROM src_arrow ORDER BY id")
    fast, slow = _load_both_ways(engine, con, query, tmp_path, monkeypatch)
    assert fast == slow
    assert [(r[1], r[3]) for r in fast] == values


def test_a_failed_transaction_keeps_nothing_and_scratch_goes_at_check_in(
        engine: Engine, tmp_path: Path) -> None:
    con = duckdb.connect()
    query = "SELECT i, 'x', NULL, true, NULL FROM range(1, 1001) r(i)"
    with pytest.raises(RuntimeError), engine.begin() as connection:
        bulk.load_query(connection, "t", COLUMNS, con, query, tmp_path)
        assert len(sqlite_load.attached_scratch(connection)) == 1
        raise RuntimeError("the import fails after loading")
    assert _rows(engine) == []
    with engine.connect() as connection:  # the pool hands back the same connection
        assert sqlite_load.attached_scratch(connection) == []


def test_past_the_attach_limit_loads_fall_back_to_executemany(
        engine: Engine, tmp_path: Path) -> None:
    con = duckdb.connect()
    loads = sqlite_load.MAX_SCRATCH + 3
    with engine.begin() as connection:
        for n in range(loads):
            bulk.load_query(connection, "t", COLUMNS, con,
                            f"SELECT {n * 10} + i, 'x', NULL, false, NULL FROM range(1, 11) r(i)",
                            tmp_path)
        assert len(sqlite_load.attached_scratch(connection)) == sqlite_load.MAX_SCRATCH
    assert len(_rows(engine)) == loads * 10


def _store(context: AppContext) -> dict[str, list[tuple[Any, ...]]]:
    tables = {"customers": "id", "source_identities": "id",
              "identity_keys": "identity_id, kind, value"}
    with context.engine.connect() as connection:
        return {t: [tuple(r) for r in connection.execute(text(f"SELECT * FROM {t} ORDER BY {o}"))]
                for t, o in tables.items()}


def test_imports_store_the_same_either_way(make_context: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A first import and an overlapping second one, through the scratch path and
    through ``executemany``: the same customers, identities and keys."""
    stores = []
    for fast in (True, False):
        with monkeypatch.context() as patched:
            if not fast:
                patched.setattr(sqlite_load, "can_load", lambda _connection: False)
            context = make_context(home=tmp_path / f"home-{fast}")
            import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
            import_file(context, "taobao-orders", FIXTURES / "taobao_orders_utf8bom.csv")
            stores.append(_store(context))
    assert stores[0]["source_identities"]
    assert stores[0] == stores[1]


def test_children_loaded_before_their_parents_under_deferred_keys(
        engine: Engine, tmp_path: Path) -> None:
    """The identities are loaded before the customers they point at, foreign keys
    deferred to the commit — also when the load is the transaction's first statement
    (a bare ATTACH would commit on its own and switch the deferral off)."""
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, "
            "parent_id INTEGER NOT NULL REFERENCES parent (id))")
    con = duckdb.connect()
    with engine.begin() as connection:
        assert not connection.connection.driver_connection.in_transaction  # type: ignore[union-attr]
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        bulk.load_query(connection, "child", ("id", "parent_id"), con,
                        "SELECT i, i FROM range(1, 101) r(i)", tmp_path)
        connection.exec_driver_sql("INSERT INTO parent (id) SELECT parent_id FROM child")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM child").scalar() == 100
    with pytest.raises(Exception, match="FOREIGN KEY"), engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        bulk.load_query(connection, "child", ("id", "parent_id"), con,
                        "SELECT i, i FROM range(101, 111) r(i)", tmp_path)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM child").scalar() == 100
