"""Loading many rows into a (temporary) table at driver speed.

SQLAlchemy's per-row parameter processing costs more than the database itself for a
few hundred thousand rows, so bulk loads go through the raw driver: ``executemany``
on SQLite, ``COPY … FROM STDIN`` on PostgreSQL. Values must already be in the form the
column stores (timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text, JSON as text).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection

from shopcrm.store import sqlite_load


def bulk_insert(connection: Connection, table: str, columns: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` on this connection."""
    raw = connection.connection.driver_connection
    names = ", ".join(columns)
    dialect = connection.dialect.name
    if dialect == "sqlite":
        marks = ", ".join("?" for _ in columns)
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        finally:
            cursor.close()
        return
    if dialect == "postgresql":
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("SET LOCAL TimeZone = 'UTC'")
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    marks = ", ".join(f":{c}" for c in columns)
    from sqlalchemy import text

    connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"),
                       [dict(zip(columns, row, strict=True)) for row in rows])


BULK_CACHE_KIB = 128 * 1024
"""SQLite page cache for a bulk upsert: with the default 2 MB, inserting ~300,000 rows
into tables with three or four indexes re-reads index pages from the OS for every row
(1M-row import: 22 s of store work; 13 s with 128 MB)."""


@contextmanager
def bulk_cache(connection: Connection) -> Iterator[None]:
    """A large SQLite page cache on this connection while the block runs, then the old
    size again (pooled connections must not keep 128 MB each). No-op elsewhere."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


LOAD_CHUNK_ROWS = 50_000


def load_query(connection: Connection, table: str, columns: Sequence[str],
               con: duckdb.DuckDBPyConnection, query: str, scratch: Path) -> None:
    """Insert the rows of a DuckDB ``query`` (its columns in ``columns`` order, values
    already in the form the store keeps) into ``table``.

    PostgreSQL: DuckDB writes the rows as CSV (C speed) and the file streams through
    ``COPY … FROM STDIN`` — no Python object per value. SQLite: through a scratch
    database filled from such a CSV by C code (``sqlite_load``); where that cannot be
    used, the rows cross as tuples into ``executemany`` in chunks (bounded memory).
    """
    if connection.dialect.name == "postgresql":
        path = scratch / f"load-{table}.csv"
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT csv, HEADER false)")
        raw = connection.connection.driver_connection
        names = ", ".join(columns)
        try:
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute("SET LOCAL TimeZone = 'UTC'")
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy, \
                        open(path, "rb") as handle:
                    while block := handle.read(4 << 20):
                        copy.write(block)
        finally:
            path.unlink(missing_ok=True)
        return
    if sqlite_load.can_load(connection):
        sqlite_load.load(connection, table, columns, con, query, scratch)
        return
    cursor = con.execute(query)
    # Chunks flattened by C iterators: no Python frame per row on the way to the driver.
    chunks = iter(partial(cursor.fetchmany, LOAD_CHUNK_ROWS), [])
    bulk_insert(connection, table, columns, chain.from_iterable(chunks))


@dataclass(frozen=True)
class _SetAside:
    table: str
    kind: str  # "index" or "constraint"
    name: str
    definition: str


@contextmanager
def indexes_set_aside(connection: Connection, tables: Sequence[str], *,
                      when: bool) -> Iterator[None]:
    """Drop the secondary indexes (and, on PostgreSQL, the foreign keys) of ``tables``
    while the block loads them, then build them again — once, by sorting.

    For a load that at least doubles a table (a shop's first import) this is how both
    databases want bulk data: every row inserted into five random-order indexes cost
    more than the row itself (1M-row import, SQLite: ~12 s of ~20 s store work). Unique
    constraints stay, so duplicates still fail. All inside the caller's transaction: a
    failure rolls the drops back too. On PostgreSQL the drops lock the tables until the
    commit — acceptable for a first load, which is why it is only done ``when`` asked.
    """
    if not when:
        yield
        return
    dialect = connection.dialect.name
    if dialect == "sqlite":
        raw = connection.connection.driver_connection
        if not raw.in_transaction:  # type: ignore[union-attr]
            # Python's sqlite3 opens a transaction only before DML: without this the
            # drops would commit at once and a failed load would leave no indexes.
            connection.exec_driver_sql("BEGIN")
    aside = (_sqlite_secondary(connection, tables) if dialect == "sqlite"
             else _postgres_secondary(connection, tables) if dialect == "postgresql" else [])
    for item in aside:
        if item.kind == "index":
            connection.exec_driver_sql(f'DROP INDEX "{item.name}"')
        else:
            connection.exec_driver_sql(
                f'ALTER TABLE "{item.table}" DROP CONSTRAINT "{item.name}"')
    yield
    if dialect == "postgresql" and aside:
        # Sorting a few hundred thousand keys per index: in memory, not in temp files.
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    for item in aside:
        if item.kind == "index":
            connection.exec_driver_sql(item.definition)
        else:
            connection.exec_driver_sql(
                f'ALTER TABLE "{item.table}" ADD CONSTRAINT "{item.name}" {item.definition}')


def _sqlite_secondary(connection: Connection, tables: Sequence[str]) -> list[_SetAside]:
    rows = connection.exec_driver_sql(
        "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' "
        "AND sql IS NOT NULL").fetchall()  # autoindexes (PK / UNIQUE) have no SQL
    found = []
    for table, name, sql in rows:
        if table not in tables:
            continue
        # An index leading with a foreign-key column stays: SQLite finds a new parent
        # row's children through it (deferred checks), a full scan per row without it.
        children = {r[3] for r in connection.exec_driver_sql(
            f'PRAGMA foreign_key_list("{table}")').fetchall()}
        first = connection.exec_driver_sql(f'PRAGMA index_info("{name}")').fetchall()
        if first and first[0][2] in children:
            continue
        found.append(_SetAside(table, "index", name, sql))
    return found


def _postgres_secondary(connection: Connection, tables: Sequence[str]) -> list[_SetAside]:
    found: list[_SetAside] = []
    for table in tables:
        indexes = connection.exec_driver_sql(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = current_schema() AND i.tablename = %(t)s "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = (quote_ident(i.schemaname) || '.' || "
            "quote_ident(i.indexname))::regclass)", {"t": table}).fetchall()
        found += [_SetAside(table, "index", n, d) for n, d in indexes]
        keys = connection.exec_driver_sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = (quote_ident(current_schema()) || '.' || "
            "quote_ident(%(t)s))::regclass", {"t": table}).fetchall()
        found += [_SetAside(table, "constraint", n, d) for n, d in keys]
    return found
