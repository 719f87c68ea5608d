"""Bulk rows from DuckDB into SQLite without a Python object per value.

Python's ``sqlite3`` binds every value of every row from Python (~10 µs a row of 16
columns), and the stdlib module cannot load extensions. sqlean.py is SQLite with its
extensions compiled in, among them ``vsv``, a CSV reader in C. So a load goes:

1. DuckDB writes the rows as CSV (every value quoted, so ``""`` is an empty string and
   an unquoted empty field is NULL);
2. a sqlean connection reads the CSV through ``vsv`` into a scratch database file of
   its own (no journal, no sync: it is thrown away);
3. the store's connection attaches that file and copies the rows with one
   ``INSERT … SELECT`` — inside the caller's transaction, so a failure loses nothing.

SQLite refuses ``DETACH`` inside a transaction, so the scratch databases stay attached
until the connection goes back to the pool, where ``detach_scratch`` (installed by
``store.db.make_engine``) lets them go. A transaction can hold at most
``MAX_SCRATCH`` of them; ``can_load`` says when a caller must fall back to
``executemany``. Without sqlean installed ``can_load`` is always false.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection

from shopcrm.store.stored_form import TIMESTAMP_TEXT

try:
    import sqlean
    import sqlean.extensions
except ImportError:  # pragma: no cover - sqlean-py is a dependency; a stripped install
    sqlean = None
else:
    sqlean.extensions.enable("vsv")

SCRATCH_PREFIX = "shopcrm_load_"
MAX_SCRATCH = 8
"""SQLite attaches at most 10 databases to a connection (SQLITE_MAX_ATTACHED)."""

_sequence = itertools.count(1)


def attached_scratch(connection: Connection) -> list[str]:
    """Names of this connection's attached scratch databases."""
    rows = connection.exec_driver_sql("PRAGMA database_list").fetchall()
    return [r[1] for r in rows if str(r[1]).startswith(SCRATCH_PREFIX)]


def can_load(connection: Connection) -> bool:
    """Whether ``load`` can take another load on this connection now."""
    return (sqlean is not None and connection.dialect.name == "sqlite"
            and len(attached_scratch(connection)) < MAX_SCRATCH)


def load(connection: Connection, table: str, columns: Sequence[str],
         con: duckdb.DuckDBPyConnection, query: str, scratch: Path) -> None:
    """Insert the rows of DuckDB ``query`` (its columns in ``columns`` order) into
    SQLite ``table``. Booleans arrive as 0/1 and timestamps as SQLAlchemy's text form,
    as ``executemany`` would have stored them."""
    raw = connection.connection.driver_connection
    if not raw.in_transaction:  # type: ignore[union-attr]
        # ``executemany`` would open the transaction with its first INSERT. ATTACH run
        # outside one commits on its own, and every commit switches a caller's
        # ``PRAGMA defer_foreign_keys`` off again before the rows arrive.
        connection.exec_driver_sql("BEGIN")
    alias = f"{SCRATCH_PREFIX}{os.getpid()}_{next(_sequence)}"
    csv_path = scratch / f"{alias}.csv"
    db_path = scratch / f"{alias}.sqlite"
    db_path.unlink(missing_ok=True)
    try:
        con.execute(f"COPY ({_as_stored(con, query)}) TO '{_literal(csv_path)}' "
                    "(FORMAT csv, HEADER false, FORCE_QUOTE *)")
        with closing(sqlean.connect(str(db_path), isolation_level=None)) as rows_db:
            rows_db.execute("PRAGMA journal_mode = OFF")
            rows_db.execute("PRAGMA synchronous = OFF")
            rows_db.execute(
                f"CREATE VIRTUAL TABLE temp.csv USING vsv(filename='{_literal(csv_path)}', "
                f"header=no, columns={len(columns)}, nulls=on)")
            rows_db.execute("CREATE TABLE rows AS SELECT * FROM temp.csv")
    finally:
        csv_path.unlink(missing_ok=True)
    connection.exec_driver_sql(f"ATTACH DATABASE ? AS {alias}", (str(db_path),))
    names = ", ".join(columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) SELECT * FROM {alias}.rows")


def detach_scratch(dbapi_connection: Any, _record: Any) -> None:
    """Pool check-in: detach (and so close) the scratch databases a load attached. The
    connection has been rolled back or committed by then, so DETACH is allowed; the
    files themselves go with the import's scratch folder."""
    cursor = dbapi_connection.cursor()
    try:
        names = [r[1] for r in cursor.execute("PRAGMA database_list").fetchall()
                 if str(r[1]).startswith(SCRATCH_PREFIX)]
        for name in names:
            cursor.execute(f"DETACH DATABASE {name}")
    finally:
        cursor.close()


def _as_stored(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """``query`` with booleans as 0/1 and timestamps as text: CSV would otherwise write
    ``true`` and ISO timestamps, which SQLite keeps as those strings."""
    kinds = [r[1] for r in con.execute(f"DESCRIBE {query}").fetchall()]
    if not any(k == "BOOLEAN" or k.startswith("TIMESTAMP") for k in kinds):
        return query
    names = [f"c{i}" for i in range(len(kinds))]  # the query's own names may repeat
    picks = [f"CAST({n} AS INTEGER)" if k == "BOOLEAN"
             else f"strftime({n}, '{TIMESTAMP_TEXT}')" if k.startswith("TIMESTAMP")
             else n for n, k in zip(names, kinds, strict=True)]
    return f"SELECT {', '.join(picks)} FROM ({query}) AS q({', '.join(names)})"


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
