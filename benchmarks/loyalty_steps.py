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
    """``count`` customers, streamed through the driver's bulk path (no list of rows)."""
    from shopcrm.store.bulk import bulk_insert

    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    with context.engine.begin() as connection:
        for start in range(1, count + 1, 100_000):
            bulk_insert(connection, "customers", ("id", "status", "created_at", "updated_at"),
                        ((i, "active", stamp, stamp)
                         for i in range(start, min(count, start + 99_999) + 1)))


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


# --- single movements: the workload ------------------------------------------------------

CUSTOMERS = 10_000
BULK_BATCH = 1_000


def _workload(count: int, clients: int) -> list[list[Any]]:
    """``count`` movements dealt round-robin to ``clients``: per client, two earns of 10
    points then a redeem of 5 from the customer of its previous earn (so a redeem is
    never refused: every client's net on every customer stays >= 0). Customers are
    spread over 10,000, so two clients seldom touch the same account at once."""
    from shopcrm.loyalty.postings import Earn, Redeem

    work: list[list[Any]] = [[] for _ in range(clients)]
    for i in range(count):
        client = i % clients
        k = len(work[client])
        if k % 3 == 2:
            work[client].append(Redeem(work[client][-1].customer_id, 5, f"r{client}:{k}"))
        else:
            customer = 1 + (client * 7919 + k * 104_729) % CUSTOMERS
            work[client].append(Earn(customer, f"b{client}:{k}", 10, Decimal("10")))
    return work


def _interleaved(work: list[list[Any]]) -> list[Any]:
    """The clients' movements in the order the round-robin dealt them."""
    longest = max(len(w) for w in work)
    return [w[k] for k in range(longest) for w in work if k < len(w)]


def _counts(context: Any) -> dict[str, int]:
    from sqlalchemy import text

    with context.engine.connect() as connection:
        return {t: int(connection.execute(text(f"SELECT count(*) FROM loyalty_{t}")).scalar()
                       or 0) for t in ("entries", "lots", "allocations")}


def _check_ledger(context: Any) -> None:
    """Every balance equals its ledger sum and no balance is negative (after the run)."""
    from sqlalchemy import text

    with context.engine.connect() as connection:
        bad = connection.execute(text(
            "SELECT count(*) FROM loyalty_accounts a LEFT JOIN (SELECT customer_id, "
            "sum(points) AS s FROM loyalty_entries GROUP BY customer_id) e "
            "ON e.customer_id = a.customer_id "
            "WHERE a.balance <> coalesce(e.s, 0) OR a.balance < 0")).scalar()
    if bad:
        raise AssertionError(f"{bad} accounts disagree with their ledger")


def _threads(clients: int, work: Any) -> float:
    """Run ``work(client)`` on ``clients`` threads started together; wall seconds."""
    import threading

    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def run(client: int) -> None:
        try:
            barrier.wait()
            work(client)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds


def _run_clients(url: str, mode: str, work: list[list[Any]], writers: int) -> dict[str, Any]:
    """Run these clients on threads of this process: ``direct`` (each its own
    connection, one transaction per movement) or ``grouped`` (they hand movements to a
    PostingWriter of this process)."""
    from shopcrm.clock import FakeClock
    from shopcrm.loyalty import ledger
    from shopcrm.loyalty.postings import Earn
    from shopcrm.loyalty.writer import PostingWriter
    from shopcrm.store.db import make_engine, make_session_factory

    clients = len(work)
    engine = make_engine(url, pool_size=clients if mode == "direct" else writers,
                         max_overflow=0)
    sessions = make_session_factory(engine)
    refused = rounds = 0
    try:
        if mode == "direct":
            def direct(client: int) -> None:
                for p in work[client]:
                    with sessions.begin() as session:
                        if isinstance(p, Earn):
                            ledger.earn_order(session, customer_id=p.customer_id,
                                              order_ref=p.order_ref, points=p.points,
                                              paid=p.paid, now=NOW)
                        else:
                            ledger.redeem(session, customer_id=p.customer_id,
                                          points=p.points, key=p.key, now=NOW)

            seconds = _threads(clients, direct)
        else:
            writer = PostingWriter(sessions, clock=FakeClock(NOW), writers=writers)
            outcomes: list[Any] = []

            def grouped(client: int) -> None:
                outcomes.extend(writer.post(p) for p in work[client])

            try:
                seconds = _threads(clients, grouped)
            finally:
                writer.close()
            refused = sum(o.error is not None for o in outcomes)
            rounds = writer.rounds
    finally:
        engine.dispose()
    return {"seconds": seconds, "refused": refused, "rounds": rounds}


def _client_process(url: str, mode: str, work: list[list[Any]], writers: int,
                    barrier: Any, results: Any) -> None:
    """One process of clients (spawned): waits for the others, then runs."""
    barrier.wait()
    started = time.perf_counter()
    found = _run_clients(url, mode, work, writers)
    found["started"] = started
    results.put(found)


def _movement_run(context: Any, mode: str, count: int, clients: int, procs: int,
                  writers: int) -> dict[str, object]:
    """``direct`` / ``grouped``: ``clients`` threads spread over ``procs`` processes;
    ``bulk``: one caller, ``BULK_BATCH`` movements per transaction."""
    import multiprocessing

    from shopcrm.loyalty.postings import post

    _customers(context, CUSTOMERS)
    work = _workload(count, clients)
    url = context.engine.url.render_as_string(hide_password=False)
    refused = rounds = 0
    if mode == "bulk":
        flat = _interleaved(work)
        started = time.perf_counter()
        for start in range(0, len(flat), BULK_BATCH):
            with context.sessions.begin() as session:
                done = post(session, flat[start:start + BULK_BATCH], now=NOW)
            refused += sum(o.error is not None for o in done)
            rounds += 1
        seconds = time.perf_counter() - started
    elif procs == 1:
        found = _run_clients(url, mode, work, writers)
        seconds, refused, rounds = found["seconds"], found["refused"], found["rounds"]
    else:
        spawn = multiprocessing.get_context("spawn")
        barrier = spawn.Barrier(procs + 1)
        results = spawn.Queue()
        workers = [spawn.Process(target=_client_process, args=(
            url, mode, work[p::procs], writers, barrier, results)) for p in range(procs)]
        for worker in workers:
            worker.start()
        barrier.wait()  # every process has imported and is ready
        started = time.perf_counter()
        found_all = [results.get() for _ in workers]
        seconds = time.perf_counter() - started
        for worker in workers:
            worker.join()
        refused = sum(f["refused"] for f in found_all)
        rounds = sum(f["rounds"] for f in found_all)
    _check_ledger(context)
    return {"movements": count, "refused": refused, "rounds": rounds, **_counts(context),
            "work_seconds": seconds}


def ledger_movements(args: list[str]) -> dict[str, object]:
    """args: home, postgres server URL ('' for SQLite), mode, movements, clients,
    processes (default 1), writer threads per process (default 1)."""
    return _with_store(args, lambda context, rest: _movement_run(
        context, rest[0], int(rest[1]), int(rest[2]),
        int(rest[3]) if len(rest) > 3 else 1, int(rest[4]) if len(rest) > 4 else 1))


# --- single movements: baselines -----------------------------------------------------------

_BENCH_TABLE = {
    "postgresql": [
        "CREATE TABLE bench_entries (LIKE loyalty_entries INCLUDING ALL)",
    ],
    "sqlite": [
        "CREATE TABLE bench_entries (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "customer_id BIGINT NOT NULL, kind VARCHAR(16) NOT NULL, points BIGINT NOT NULL, "
        "idempotency_key VARCHAR(200) NOT NULL UNIQUE, reason VARCHAR(500) NOT NULL, "
        "source VARCHAR(64) NOT NULL, rule VARCHAR(32), order_ref VARCHAR(200), "
        "order_paid NUMERIC(18, 2), order_refunded NUMERIC(18, 2), written_off BIGINT, "
        "value NUMERIC(18, 4) NOT NULL, at DATETIME NOT NULL, actor VARCHAR(100) NOT NULL, "
        "actor_id BIGINT)",
        "CREATE INDEX ix_bench_customer_at ON bench_entries (customer_id, at)",
        "CREATE INDEX ix_bench_order_ref ON bench_entries (order_ref)",
        "CREATE INDEX ix_bench_at ON bench_entries (at)",
    ],
}
_ROW_COLUMNS = ("customer_id", "kind", "points", "idempotency_key", "reason", "source", "rule",
                "order_ref", "order_paid", "order_refunded", "value", "at", "actor")


def _row(p: Any) -> tuple[object, ...]:
    """The ledger entry shopcrm writes for a movement, as the driver takes it."""
    from shopcrm.loyalty.postings import Earn

    at = "2026-11-20 00:00:00.000000+00"
    if isinstance(p, Earn):
        return (p.customer_id, "earn", p.points, p.key, f"order {p.order_ref}", "order",
                "order", p.order_ref, "10", "0", "0.1000", at, "system")
    return (p.customer_id, "redeem", -p.points, p.key, "redeemed", "api", None, None, None,
            None, "-0.0500", at, "system")


def _raw_connect(url: str | None, home: Path) -> Any:
    if url:
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        return psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                               dbname=parsed.database, password=parsed.password)
    import sqlite3

    connection = sqlite3.connect(home / "shopcrm.sqlite", timeout=30, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def entries_baseline(args: list[str]) -> dict[str, object]:
    """The same entry rows written by the raw driver into a copy of the ledger table
    (same columns and indexes): ``single`` — each client its own connection, one
    INSERT and COMMIT per row; ``bulk`` — ``executemany`` (SQLite) / ``COPY``
    (PostgreSQL), ``BULK_BATCH`` rows per transaction. args: home, server, mode,
    movements, clients."""
    from sqlalchemy import text

    def work(context: Any, rest: list[str]) -> dict[str, object]:
        mode, count, clients = rest[0], int(rest[1]), int(rest[2])
        url = context.settings.database_url
        home = Path(context.settings.home)
        with context.engine.begin() as connection:
            for statement in _BENCH_TABLE[context.engine.dialect.name]:
                connection.execute(text(statement))
        rows = [[_row(p) for p in w] for w in _workload(count, clients)]
        names = ", ".join(_ROW_COLUMNS)
        mark = "%s" if url else "?"
        insert = (f"INSERT INTO bench_entries ({names}) VALUES "
                  f"({', '.join(mark for _ in _ROW_COLUMNS)})")
        if mode == "single":
            connections = [_raw_connect(url, home) for _ in range(clients)]

            def single(client: int) -> None:
                connection = connections[client]
                for row in rows[client]:
                    connection.execute(insert, row)
                    connection.commit()

            try:
                seconds = _threads(clients, single)
            finally:
                for connection in connections:
                    connection.close()
        else:
            flat = _interleaved(rows)
            connection = _raw_connect(url, home)
            started = time.perf_counter()
            for start in range(0, len(flat), BULK_BATCH):
                part = flat[start:start + BULK_BATCH]
                if url:
                    with connection.cursor() as cursor, cursor.copy(
                            f"COPY bench_entries ({names}) FROM STDIN") as copy:
                        for row in part:
                            copy.write_row(row)
                else:
                    connection.executemany(insert, part)
                connection.commit()
            seconds = time.perf_counter() - started
            connection.close()
        return {"movements": count, "entries": count, "work_seconds": seconds}

    return _with_store(args, work)


def _write_orders(facts: Any, count: int, customers: int) -> None:
    """``count`` completed orders over three years as one published fact batch (day
    partitions, the way an import writes them)."""
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
    con.execute("SET preserve_insertion_order = false")
    facts.ensure()
    with facts.writer_lock():
        writer = facts.begin(1)
        writer.write(con, ORDERS, f"SELECT {columns} FROM range({count}) t(i)")
        writer.prepare()
        writer.publish()
    con.close()


def earn_data(args: list[str]) -> dict[str, object]:
    """Generate (or reuse) the facts of ``orders`` completed orders in ``folder`` — in a
    process of its own, so the measured steps' peak RSS does not include generating."""
    from shopcrm.warehouse.facts import FactStore

    folder, count = Path(args[0]), int(args[1])
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        _write_orders(FactStore(folder / "warehouse"), count, max(1, count // 5))
        done.touch()
    return {"folder": str(folder)}


def _with_facts(args: list[str], work: Any) -> dict[str, object]:
    """A fresh home (and store) whose warehouse is the generated facts folder."""
    facts, home = Path(args[0]) / "warehouse", Path(args[1])
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "warehouse").symlink_to(facts.resolve(), target_is_directory=True)
    server = args[2] if len(args) > 2 and args[2] else None
    url, drop = _fresh_postgres(server) if server else (None, None)
    try:
        from shopcrm.context import build_context
        from shopcrm.settings import Settings

        context = build_context(Settings(home=home, database_url=url))
        try:
            return dict(work(context, args[3:]))
        finally:
            context.close()
    finally:
        if drop:
            drop()
        shutil.rmtree(home, ignore_errors=True)


def earn_baseline(args: list[str]) -> dict[str, object]:
    """DuckDB loads the orders and computes every order's points: the floor. args:
    facts folder, home, '' (no server), orders."""
    def work(context: Any, rest: list[str]) -> dict[str, object]:
        started = time.perf_counter()
        context.warehouse.con  # noqa: B018 — load the facts, as the server's warm-up does
        orders = context.warehouse.table("orders")
        total = context.warehouse.execute(
            (orders.paid_amount - orders.refund_amount.fill_null(0)).floor().sum())
        return {"orders": int(rest[0]), "points": int(total.as_py()),
                "work_seconds": time.perf_counter() - started}

    return _with_facts(args, work)


def batch_earn(args: list[str]) -> dict[str, object]:
    """shopcrm's earning job over every completed order (the warehouse loads the facts
    inside the timing, as in the baseline). args: facts folder, home, server, orders."""
    from shopcrm.loyalty.earning import earn_completed_orders

    def work(context: Any, rest: list[str]) -> dict[str, object]:
        count = int(rest[0])
        _customers(context, max(1, count // 5))
        started = time.perf_counter()
        report = earn_completed_orders(context.sessions, warehouse=context.warehouse,
                                       now=NOW)
        seconds = time.perf_counter() - started
        rows = _counts(context)
        return {"orders": count, "earned": report.earned, "points": report.points,
                "entries": rows["entries"], "lots": rows["lots"], "work_seconds": seconds}

    return _with_facts(args, work)


def main(argv: list[str]) -> dict[str, object]:
    step = {"ledger_movements": ledger_movements, "entries_baseline": entries_baseline,
            "earn_data": earn_data, "earn_baseline": earn_baseline,
            "batch_earn": batch_earn}[argv[0]]
    return step(argv[1:])


if __name__ == "__main__":
    print(main(sys.argv[1:]))
