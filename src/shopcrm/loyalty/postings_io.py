"""The statements of :mod:`~shopcrm.loyalty.postings`, on the raw driver.

Why not SQLAlchemy here: a movement is a handful of tiny statements, and on the
benchmark machine SQLAlchemy's per-statement work (cache key, parameter processing,
result adaptation) cost more CPU than the database did; with many clients in one
process that CPU, not the database, capped throughput. So the posting path speaks to
the driver directly, in the caller's transaction (the same connection the session
uses), and does the type conversions itself — the same ones the models' types do.

Round trips. On PostgreSQL every step is one *pipeline* (psycopg sends the statements
back to back and reads the answers once): everything the postings need to read —
create missing accounts, lock the accounts, take the rules' shared locks, look the keys
up, read rules, settings and lots, allocate IDs — is one round trip; all the writes are
a second (``COPY`` instead, for large batches). Statements run in the order sent, each
with a fresh snapshot (READ COMMITTED), so what is read after the lock is current.
SQLite runs in-process, so there are no round trips to save; it takes its database
write lock with the first statement (an insert), as the ORM path does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

ENTRY_COLUMNS = ("id", "customer_id", "kind", "points", "idempotency_key", "reason", "source",
                 "rule", "order_ref", "order_paid", "order_refunded", "written_off", "value",
                 "at", "actor", "actor_id")
LOT_COLUMNS = ("id", "customer_id", "entry_id", "points", "remaining", "earned_at",
               "expires_at", "rule", "cost_per_point", "order_ref")
COPY_TYPES = (
    ("int8", "int8", "text", "int8", "text", "text", "text", "text", "text", "numeric",
     "numeric", "int8", "numeric", "timestamptz", "text", "int8"),
    ("int8", "int8", "int8", "int8", "int8", "timestamptz", "timestamptz", "text", "numeric",
     "text"),
    ("int8", "int8", "int8"),
)
"""Column types of entries, lots and allocations for binary ``COPY``."""
RULE_COLUMNS = ("code", "kind", "name", "points", "cost_per_point", "budget", "issued_points",
                "active")
LOT_READ = ("id", "customer_id", "remaining", "expires_at", "earned_at", "cost_per_point",
            "order_ref")
_IN = 900  # SQLite: bound parameters per IN list
COPY_ROWS = 64
"""From this many rows on, PostgreSQL inserts go through ``COPY``."""


@dataclass
class Reads:
    """What a batch reads under its locks."""

    accounts: dict[int, tuple[int, str | None]]
    """customer → (balance, tier), locked."""
    entries: list[tuple[Any, ...]]
    """Stored entries whose keys the postings use (``ENTRY_COLUMNS`` order)."""
    rules: list[tuple[Any, ...]]
    """``RULE_COLUMNS`` order; budgeted rules locked."""
    config: dict[str, Any] | None
    lots: list[tuple[Any, ...]]
    """Lots with points of the customers who spend (``LOT_READ`` order), by ID."""
    entry_ids: list[int]
    lot_ids: list[int]


@dataclass
class Writes:
    entries: list[tuple[Any, ...]]
    lots: list[tuple[Any, ...]]
    allocations: list[tuple[int, int, int]]
    lot_remaining: list[tuple[int, int]]
    """(lot, remaining) for stored lots."""
    balances: list[tuple[int, int]]
    """(customer, balance)."""
    counters: list[tuple[str, int]]
    """(rule, points issued) for budgeted rules."""
    now: datetime


def advisory_key(rule_code: str) -> int:
    """A stable signed 64-bit advisory-lock key for a rule (PostgreSQL)."""
    digest = hashlib.blake2b(f"shopcrm.loyalty.rule:{rule_code}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def utc_text(moment: datetime | None) -> str | None:
    """A time as SQLAlchemy stores it on SQLite (UTC, no offset)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if moment else None


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


class Io:
    """One batch's statements on the session's connection (see the module doc)."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.connection = connection
        self.raw: Any = connection.connection.driver_connection
        self.pg = connection.dialect.name == "postgresql"

    # --- reading ------------------------------------------------------------------------

    def read(self, *, customers: list[int], keys: list[str], codes: list[str],
             spenders: list[int], entries: int, lots: int, now: datetime) -> Reads:
        if self.pg:
            return self._read_pg(customers, keys, codes, spenders, entries, lots, now)
        return self._read_sqlite(customers, keys, codes, spenders, entries, lots, now)

    def _read_pg(self, customers: list[int], keys: list[str], codes: list[str],
                 spenders: list[int], entries: int, lots: int, now: datetime) -> Reads:
        raw = self.raw
        cursors: dict[str, Any] = {}

        def send(name: str, sql: str, params: Sequence[Any]) -> None:
            cursors[name] = raw.cursor()
            cursors[name].execute(sql, params)

        with raw.pipeline():
            # Missing accounts of known customers first, then every lock in ID order.
            send("create", "INSERT INTO loyalty_accounts (customer_id, balance, lock_version, "
                 "created_at, updated_at) SELECT id, 0, 0, %s, %s FROM customers "
                 "WHERE id = ANY(%b::bigint[]) ORDER BY id "
                 "ON CONFLICT (customer_id) DO NOTHING", (now, now, customers))
            send("lock", "SELECT customer_id, balance, tier FROM loyalty_accounts "
                 "WHERE customer_id = ANY(%b::bigint[]) ORDER BY customer_id FOR UPDATE",
                 (customers,))
            if codes:
                send("advisory", "SELECT pg_advisory_xact_lock_shared(k) "
                     "FROM unnest(%b::bigint[]) AS k", ([advisory_key(c) for c in codes],))
                columns = ", ".join(RULE_COLUMNS)
                send("budgeted", f"SELECT {columns} FROM loyalty_rules WHERE code = "
                     "ANY(%b::text[]) AND budget IS NOT NULL ORDER BY code FOR UPDATE",
                     (codes,))
                send("free", f"SELECT {columns} FROM loyalty_rules WHERE code = "
                     "ANY(%b::text[]) AND budget IS NULL", (codes,))
                send("config", "SELECT config FROM loyalty_settings WHERE id = 1", ())
            if keys:
                send("entries", f"SELECT {', '.join(ENTRY_COLUMNS)} FROM loyalty_entries "
                     "WHERE idempotency_key = ANY(%b::text[])", (keys,))
            if spenders:
                send("lots", f"SELECT {', '.join(LOT_READ)} FROM loyalty_lots WHERE "
                     "customer_id = ANY(%b::bigint[]) AND remaining > 0 ORDER BY id",
                     (spenders,))
                # A redemption may expire any lot past its date: one entry each, at most.
                send("entry_ids", "SELECT nextval(pg_get_serial_sequence('loyalty_entries', "
                     "'id')) FROM generate_series(1, %s + (SELECT count(*) FROM loyalty_lots "
                     "WHERE customer_id = ANY(%b::bigint[]) AND remaining > 0 "
                     "AND expires_at <= %s))", (entries, spenders, now))
            else:
                send("entry_ids", "SELECT nextval(pg_get_serial_sequence('loyalty_entries', "
                     "'id')) FROM generate_series(1, %s)", (entries,))
            if lots:
                send("lot_ids", "SELECT nextval(pg_get_serial_sequence('loyalty_lots', 'id')) "
                     "FROM generate_series(1, %s)", (lots,))

        def rows(name: str) -> list[tuple[Any, ...]]:
            return list(cursors[name].fetchall()) if name in cursors else []

        config_rows = rows("config")
        return Reads(
            accounts={int(c): (int(b), t) for c, b, t in rows("lock")},
            entries=[self._entry(r) for r in rows("entries")],
            rules=rows("budgeted") + rows("free"),
            config=config_rows[0][0] if config_rows else None,
            lots=[self._lot(r) for r in rows("lots")],
            entry_ids=[int(r[0]) for r in rows("entry_ids")],
            lot_ids=[int(r[0]) for r in rows("lot_ids")])

    def _read_sqlite(self, customers: list[int], keys: list[str], codes: list[str],
                     spenders: list[int], entries: int, lots: int, now: datetime) -> Reads:
        raw = self.raw

        def chunked(sql: str, values: Sequence[Any], head: Sequence[Any] = ()
                    ) -> list[tuple[Any, ...]]:
            found: list[tuple[Any, ...]] = []
            for start in range(0, len(values), _IN):
                part = list(values[start:start + _IN])
                marks = ", ".join("?" for _ in part)
                found += raw.execute(sql.format(marks), [*head, *part]).fetchall()
            return found

        stamp = utc_text(now)
        # The insert is the transaction's first write: it takes the database write lock,
        # so everything read after it is current until the commit.
        chunked("INSERT INTO loyalty_accounts (customer_id, balance, lock_version, created_at, "
                "updated_at) SELECT id, 0, 0, ?, ? FROM customers WHERE id IN ({}) "
                "ORDER BY id ON CONFLICT (customer_id) DO NOTHING", customers, (stamp, stamp))
        accounts = {int(c): (int(b), t) for c, b, t in chunked(
            "UPDATE loyalty_accounts SET lock_version = lock_version + 1 "
            "WHERE customer_id IN ({}) RETURNING customer_id, balance, tier", customers)}
        rules: list[tuple[Any, ...]] = []
        config = None
        if codes:
            rules = [(*r[:4], _decimal(r[4]), _decimal(r[5]), int(r[6]), bool(r[7]))
                     for r in chunked(f"SELECT {', '.join(RULE_COLUMNS)} FROM loyalty_rules "
                                      "WHERE code IN ({})", codes)]
            found = raw.execute("SELECT config FROM loyalty_settings WHERE id = 1").fetchone()
            config = json.loads(found[0]) if found and isinstance(found[0], str) else (
                found[0] if found else None)
        stored = [self._entry(r) for r in chunked(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM loyalty_entries "
            "WHERE idempotency_key IN ({})", keys)] if keys else []
        lot_rows = [self._lot(r) for r in chunked(
            f"SELECT {', '.join(LOT_READ)} FROM loyalty_lots WHERE remaining > 0 "
            "AND customer_id IN ({}) ORDER BY id", spenders)] if spenders else []
        expired = sum(1 for r in lot_rows if r[3] is not None and r[3] <= now)
        top_entry = int(raw.execute("SELECT coalesce(max(id), 0) FROM loyalty_entries")
                        .fetchone()[0])
        top_lot = int(raw.execute("SELECT coalesce(max(id), 0) FROM loyalty_lots")
                      .fetchone()[0]) if lots else 0
        return Reads(accounts=accounts, entries=stored, rules=rules, config=config,
                     lots=lot_rows,
                     entry_ids=list(range(top_entry + 1, top_entry + 1 + entries + expired)),
                     lot_ids=list(range(top_lot + 1, top_lot + 1 + lots)))

    def _entry(self, row: Sequence[Any]) -> tuple[Any, ...]:
        (id_, customer, kind, points, key, reason, source, rule, order_ref, paid, refunded,
         written_off, value, at, actor, actor_id) = row
        return (int(id_), int(customer), kind, int(points), key, reason, source, rule,
                order_ref, _decimal(paid), _decimal(refunded),
                None if written_off is None else int(written_off), _decimal(value), _utc(at),
                actor, actor_id)

    def _lot(self, row: Sequence[Any]) -> tuple[Any, ...]:
        id_, customer, remaining, expires, earned, cost, order_ref = row
        return (int(id_), int(customer), int(remaining), _utc(expires), _utc(earned),
                _decimal(cost), order_ref)

    # --- writing ------------------------------------------------------------------------

    def write(self, writes: Writes) -> None:
        if self.pg:
            self._write_pg(writes)
        else:
            self._write_sqlite(writes)

    def _updates(self, writes: Writes) -> list[tuple[str, list[Sequence[Any]]]]:
        now = utc_text(writes.now)
        return [
            ("UPDATE loyalty_lots SET remaining = ? WHERE id = ?",
             [(r, lot) for lot, r in writes.lot_remaining]),
            ("UPDATE loyalty_accounts SET balance = ?, updated_at = ? WHERE customer_id = ?",
             [(b, now, c) for c, b in writes.balances]),
            ("UPDATE loyalty_rules SET issued_points = issued_points + ? WHERE code = ?",
             [(n, code) for code, n in writes.counters]),
        ]

    def _write_pg(self, writes: Writes) -> None:
        raw = self.raw
        inserts = [("loyalty_entries", ENTRY_COLUMNS, writes.entries),
                   ("loyalty_lots", LOT_COLUMNS, writes.lots),
                   ("loyalty_allocations", ("entry_id", "lot_id", "points"),
                    writes.allocations)]
        large = len(writes.entries) + len(writes.lots) >= COPY_ROWS
        if large:
            with raw.cursor() as cursor:
                for (table, columns, rows), types in zip(inserts, COPY_TYPES, strict=True):
                    if rows:
                        with cursor.copy(f"COPY {table} ({', '.join(columns)}) "
                                         "FROM STDIN (FORMAT BINARY)") as copy:
                            copy.set_types(types)  # binary, typed: the cheapest per row
                            for row in rows:
                                copy.write_row(row)
        with raw.pipeline(), raw.cursor() as cursor:
            if not large:
                for table, columns, rows in inserts:
                    if rows:
                        marks = ", ".join("%s" for _ in columns)
                        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                           f"VALUES ({marks})", rows)
            # One statement per table however many rows: arrays, not a statement per row.
            if writes.lot_remaining:
                ids, left = zip(*writes.lot_remaining, strict=True)
                cursor.execute("UPDATE loyalty_lots AS l SET remaining = v.r FROM "
                               "unnest(%b::bigint[], %b::bigint[]) AS v(id, r) "
                               "WHERE l.id = v.id", (list(ids), list(left)))
            if writes.balances:
                customers, balances = zip(*writes.balances, strict=True)
                cursor.execute("UPDATE loyalty_accounts AS a SET balance = v.b, "
                               "updated_at = %s FROM unnest(%b::bigint[], %b::bigint[]) "
                               "AS v(c, b) WHERE a.customer_id = v.c",
                               (writes.now, list(customers), list(balances)))
            for code, issued in writes.counters:
                cursor.execute("UPDATE loyalty_rules SET issued_points = issued_points + %s "
                               "WHERE code = %s", (issued, code))

    def _write_sqlite(self, writes: Writes) -> None:
        raw = self.raw

        stamps: dict[datetime | None, str | None] = {None: None}  # few distinct times

        def stamp(value: datetime | None) -> str | None:
            if value not in stamps:
                stamps[value] = utc_text(value)
            return stamps[value]

        def number(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        # SQLite takes numbers as text and times as SQLAlchemy's UTC text; only these
        # columns need converting (see COPY_TYPES for the column types).
        entries = [(*r[:9], number(r[9]), number(r[10]), r[11], str(r[12]), stamp(r[13]),
                    r[14], r[15]) for r in writes.entries]
        lots = [(*r[:5], stamp(r[5]), stamp(r[6]), r[7], str(r[8]), r[9])
                for r in writes.lots]
        for table, columns, rows in (
                ("loyalty_entries", ENTRY_COLUMNS, entries),
                ("loyalty_lots", LOT_COLUMNS, lots),
                ("loyalty_allocations", ("entry_id", "lot_id", "points"), writes.allocations)):
            if rows:
                marks = ", ".join("?" for _ in columns)
                raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                rows)
        for sql, params in self._updates(writes):
            if params:
                raw.executemany(sql, params)
