"""Benchmark steps, each run in its own process by :mod:`benchmarks.run`.

Each step imports what it needs first and times only the work, so library start-up
does not count; peak RSS is the whole process's.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def duckdb_read(args: list[str]) -> dict[str, object]:
    """Baseline: DuckDB's own read_csv of the file into a table (all text columns)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{args[0]}', all_varchar = true, "
                "header = true)")
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    return {"rows": rows, "work_seconds": time.perf_counter() - started}


def _fresh_postgres(server_url: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"shopcrm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return url, drop


def shopcrm_import(args: list[str]) -> dict[str, object]:
    """shopcrm's full import: clean, validate, identities to the store, facts to Parquet."""
    from shopcrm.context import build_context
    from shopcrm.ingest.service import import_file
    from shopcrm.settings import Settings

    path, home = Path(args[0]), Path(args[1])
    server = args[2] if len(args) > 2 and args[2] else None
    shutil.rmtree(home, ignore_errors=True)
    url, drop = _fresh_postgres(server) if server else (None, None)
    try:
        context = build_context(Settings(home=home, database_url=url))
        started = time.perf_counter()
        report = import_file(context, "taobao-orders", path)
        seconds = time.perf_counter() - started
        context.close()
    finally:
        if drop:
            drop()
    return {"rows_read": report.rows_read, "imported": report.imported,
            "rejected": report.rejected, "identities": report.identities_new,
            "work_seconds": seconds}


def main(argv: list[str]) -> dict[str, object]:
    step = {"duckdb_read": duckdb_read, "shopcrm_import": shopcrm_import}[argv[0]]
    return step(argv[1:])


if __name__ == "__main__":
    print(main(sys.argv[1:]))
