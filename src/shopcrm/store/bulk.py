"""Loading many rows into a (temporary) table at driver speed.

SQLAlchemy's per-row parameter processing costs more than the database itself for a
few hundred thousand rows, so bulk loads go through the raw driver: ``executemany``
on SQLite, ``COPY … FROM STDIN`` on PostgreSQL. Values must already be in the form the
column stores (timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text, JSON as text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
