"""Loyalty benchmark steps, each run in its own process by :mod:`benchmarks.run`.

- ``ledger_baseline`` / ``ledger_entries``: single movements, each in its own
  transaction (as the API makes them): a bare one-row INSERT per transaction into a
  scratch table, then shopcrm's earn / redeem (account lock, idempotency check, lot,
  allocation, balance).
- ``earn_baseline`` / ``batch_earn``: N completed orders written as Parquet facts the way
  an import writes them; DuckDB computing every order's points (the floor), then
  shopcrm's earning job writing one entry and one lot per order.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.steps import _fresh_postgres

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _context(home: Path, url: str | None) -> Any:
    from shopcrm.context import build_context
    from shopcrm.settings import Settings

    shutil.rmtree(home, ignore_errors=True)
    return build_context(Settings(home=home, database_url=url))


def _customers(context: Any, count: int) -> None:
    from sqlalchemy import insert

    from shopcrm.store.models import Customer

    rows = [{"id": i, "status": "active", "created_at": NOW, "updated_at": NOW}
            for i in range(1, count + 1)]
    with context.sessions.begin() as session:
        for start in range(0, len(rows), 50_000):
            session.execute(insert(Customer), rows[start:start + 50_000])


def _with_store(args: list[str], work: Any) -> dict[str, object]:
    home = Path(args[0])
    server = args[1] if len(args) > 1 and args[1] else None
    url, drop = _fresh_postgres(server) if server else (None, None)
    try:
        context = _context(home, url)
        try:
            return dict(work(context, args[2:]))
        finally:
            context.close()
    finally:
        if drop:
            drop()
        shutil.rmtree(home, ignore_errors=True)


def ledger_baseline(args: list[str]) -> dict[str, object]:
    """One-row INSERT per transaction into a scratch table: the store's own floor."""
    from sqlalchemy import text

    def work(context: Any, rest: list[str]) -> dict[str, object]:
        count = int(rest[0])
        with context.engine.begin() as connection:
            connection.execute(text("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, "
                                    "k VARCHAR(200) UNIQUE, points BIGINT)"))
        started = time.perf_counter()
        for i in range(count):
            with context.engine.begin() as connection:
                connection.execute(text("INSERT INTO bench_rows (id, k, points) "
                                        "VALUES (:i, :k, 1)"), {"i": i, "k": f"k{i}"})
        seconds = time.perf_counter() - started
        with context.engine.begin() as connection:
            connection.execute(text("DROP TABLE bench_rows"))
        return {"entries": count, "work_seconds": seconds}

    return _with_store(args, work)


def ledger_entries(args: list[str]) -> dict[str, object]:
    """Earn (2 of 3) and redeem (1 of 3) movements, one transaction each."""
    from shopcrm.loyalty import ledger

    def work(context: Any, rest: list[str]) -> dict[str, object]:
        count = int(rest[0])
        customers = 1000
        _customers(context, customers)
        started = time.perf_counter()
        written = 0
        for i in range(count):
            with context.sessions.begin() as session:
                if i % 3 == 2:  # the customer of the previous earn spends half of it
                    customer = 1 + (i - 1) % customers
                    ledger.redeem(session, customer_id=customer, points=5, key=f"r{i}",
                                  now=NOW)
                else:
                    customer = 1 + i % customers
                    ledger.earn_order(session, customer_id=customer, order_ref=f"b:{i}",
                                      points=10, paid=Decimal("10"), now=NOW)
            written += 1
        seconds = time.perf_counter() - started
        return {"entries": written, "work_seconds": seconds}

    return _with_store(args, work)


def _write_orders(context: Any, count: int, customers: int) -> None:
    """``count`` completed orders over three years as one published fact batch."""
    import duckdb

    from shopcrm.warehouse.tables import ORDERS

    span = 3 * 365 * 86400
    completed = (f"TIMESTAMPTZ '2023-11-01 00:00:00+00' + "
                 f"to_seconds(CAST((i * 7919) % {span} AS BIGINT))")
    values = {
        "source": "'bench'", "order_id": "CAST(i AS VARCHAR)",
        "customer_id": f"1 + i % {customers}", "status": "'completed'",
        "raw_status": "'交易成功'", "completed_at": completed,
        "day": f"CAST({completed} AS DATE)", "currency": "'CNY'",
        "paid_amount": "CAST(19.9 + (i % 500) AS DECIMAL(18,2))",
        "refund_amount": "CAST(0 AS DECIMAL(18,2))", "batch_id": "1",
        "row_hash": "md5(CAST(i AS VARCHAR))",
    }
    columns = ", ".join(f"{values.get(name, 'NULL')} AS {name}" for name, _ in ORDERS.columns)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute("SET threads = 2")
    con.execute(f"CREATE TEMP TABLE o AS SELECT {columns} FROM range({count}) t(i)")
    context.facts.ensure()
    with context.facts.writer_lock():
        writer = context.facts.begin(1)
        writer.write(con, ORDERS, "SELECT * FROM o")
        writer.prepare()
        writer.publish()
    con.close()


def earn_baseline(args: list[str]) -> dict[str, object]:
    """DuckDB reads the orders and computes every order's points: the floor."""
    def work(context: Any, rest: list[str]) -> dict[str, object]:
        count = int(rest[0])
        _write_orders(context, count, max(1, count // 5))
        started = time.perf_counter()
        context.warehouse.con  # noqa: B018 — load the facts, as the server's warm-up does
        orders = context.warehouse.table("orders")
        total = context.warehouse.execute(
            (orders.paid_amount - orders.refund_amount.fill_null(0)).floor().sum())
        return {"orders": count, "points": int(total.as_py()),
                "work_seconds": time.perf_counter() - started}

    return _with_store(args, work)


def batch_earn(args: list[str]) -> dict[str, object]:
    """shopcrm's earning job over every completed order."""
    from shopcrm.loyalty.earning import earn_completed_orders

    def work(context: Any, rest: list[str]) -> dict[str, object]:
        count = int(rest[0])
        customers = max(1, count // 5)
        _customers(context, customers)
        _write_orders(context, count, customers)
        started = time.perf_counter()
        report = earn_completed_orders(context.sessions, warehouse=context.warehouse,
                                       now=NOW)
        seconds = time.perf_counter() - started
        return {"orders": count, "earned": report.earned, "points": report.points,
                "work_seconds": seconds}

    return _with_store(args, work)


def main(argv: list[str]) -> dict[str, object]:
    step = {"ledger_baseline": ledger_baseline, "ledger_entries": ledger_entries,
            "earn_baseline": earn_baseline, "batch_earn": batch_earn}[argv[0]]
    return step(argv[1:])


if __name__ == "__main__":
    print(main(sys.argv[1:]))
