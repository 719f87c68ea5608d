"""Benchmark steps, each run in its own process by :mod:`benchmarks.run`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def duckdb_read(args: list[str]) -> dict[str, object]:
    """Baseline: DuckDB's own read_csv of the file into a table (all text columns)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '1GB'")
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{args[0]}', all_varchar = true, "
                "header = true)")
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    return {"rows": rows}


def shopcrm_import(args: list[str]) -> dict[str, object]:
    """shopcrm's full import: clean, validate, identities to the store, facts to Parquet."""
    from shopcrm.context import build_context
    from shopcrm.ingest.service import import_file
    from shopcrm.settings import Settings

    home = Path(args[1])
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home, database_url=args[2] if len(args) > 2 and args[2] else None)
    context = build_context(settings)
    report = import_file(context, args[3] if len(args) > 3 else "taobao-orders", Path(args[0]))
    context.close()
    return {"rows_read": report.rows_read, "imported": report.imported,
            "rejected": report.rejected, "identities": report.identities_new}


def main(argv: list[str]) -> dict[str, object]:
    step = {"duckdb_read": duckdb_read, "shopcrm_import": shopcrm_import}[argv[0]]
    return step(argv[1:])


if __name__ == "__main__":
    print(main(sys.argv[1:]))
