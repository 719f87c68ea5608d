"""Loading many rows into a (temporary) table at driver speed.

SQLAlchemy's per-row parameter processing costs more than the database itself for a
few hundred thousand rows, so bulk loads go through the raw driver: ``executemany``
on SQLite, ``COPY … FROM STDIN`` on PostgreSQL. Values must already be in the form the
column stores (timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text, JSON as text).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection


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
