"""Batch jobs over the warehouse's orders: earn for completed orders, reverse refunds.

Orders live in the warehouse (Parquet facts); the ledger lives in the operational store.
The jobs read orders month by month through Ibis (bounded memory however many orders
there are) and write the ledger in chunks, one transaction per chunk, so a crash loses
at most one chunk's work and a re-run finishes it: every order's earning has the key
``earn:<source>:<order id>``, so nothing is ever credited twice.

Points are credited when the order is *completed*, on the net paid amount (paid minus
refunds so far) × the points rate × the member's tier multiplier at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import ibis
import ibis.expr.types as ir
from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from shopcrm.accounts import audit
from shopcrm.loyalty import LoyaltyError, OrderNotFound
from shopcrm.loyalty.ledger import (
    earn_order,
    get_config,
    grant_bonus,
    reverse_order,
)
from shopcrm.loyalty.models import BonusRule, LedgerEntry, LoyaltyAccount
from shopcrm.loyalty.postings import ORDER_RULE, RuleState, read_rules, write_counters
from shopcrm.loyalty.rules import (
    BonusKind,
    EntryKind,
    ProgramConfig,
    budget_allows,
    expires_at,
    net_paid,
    order_points,
    points_cost,
)
from shopcrm.store.bulk import bulk_insert
from shopcrm.store.models import Customer
from shopcrm.warehouse.engine import Warehouse

CHUNK = 5000
_IN = 900  # bound parameters per IN (SQLite allows 32766; PostgreSQL 65535)


@dataclass(frozen=True)
class OrderRow:
    source: str
    order_id: str
    customer_id: int
    paid: Decimal
    refunded: Decimal

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.order_id}"


@dataclass
class EarnReport:
    orders: int = 0
    earned: int = 0
    points: int = 0
    already: int = 0
    zero_points: int = 0
    unknown_customer: int = 0
    over_budget: int = 0
    first_purchase: int = 0

    def add(self, other: EarnReport) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _month_windows(first: datetime, last: datetime) -> Iterator[tuple[datetime, datetime]]:
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    while start <= last:
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        yield start, end
        start = end


def completed_orders(warehouse: Warehouse, *, now: datetime, statuses: Sequence[str] =
                     ("completed",)) -> ir.Table:
    orders = warehouse.table("orders")
    return orders.filter(orders.status.isin(list(statuses)), orders.customer_id.notnull(),
                         orders.completed_at.notnull(),
                         orders.completed_at <= ibis.literal(now))


def _rows(table: Any) -> list[OrderRow]:
    columns = [table.column(n).to_pylist() for n in
               ("source", "order_id", "customer_id", "paid_amount", "refund_amount")]
    return [OrderRow(s, o, int(c), p if p is not None else Decimal("0"),
                     r if r is not None else Decimal("0"))
            for s, o, c, p, r in zip(*columns, strict=True)]


def order_months(warehouse: Warehouse, *, now: datetime) -> Iterator[list[OrderRow]]:
    """Completed orders up to ``now``, one calendar month of completion at a time."""
    orders = completed_orders(warehouse, now=now)
    bounds = warehouse.execute(orders.aggregate(first=orders.completed_at.min(),
                                                last=orders.completed_at.max()))
    first, last = bounds.column("first")[0].as_py(), bounds.column("last")[0].as_py()
    if first is None:
        return
    for start, end in _month_windows(first, last):
        window = orders.filter(orders.completed_at >= ibis.literal(start),
                               orders.completed_at < ibis.literal(end))
        yield _rows(warehouse.execute(window.select(
            "source", "order_id", "customer_id", "paid_amount", "refund_amount")
            .order_by(["customer_id", "source", "order_id"])))


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), _IN):
        found.update(session.scalars(select(LedgerEntry.idempotency_key).where(
            LedgerEntry.idempotency_key.in_(keys[start:start + _IN]))))
    return found


def _lock_accounts(session: Session, customer_ids: list[int],
                   now: datetime) -> dict[int, tuple[int, str | None]]:
    """Create missing accounts of known customers and lock all of them, in ID order
    (the same order every job uses, so two jobs never deadlock): (balance, tier) each.

    On SQLite the first insert takes the database write lock for the transaction."""
    table = cast(Table, LoyaltyAccount.__table__)
    known: list[int] = []
    for start in range(0, len(customer_ids), _IN):
        known.extend(int(c) for c in session.scalars(select(Customer.id).where(
            Customer.id.in_(customer_ids[start:start + _IN]))))
    known.sort()
    if not known:
        return {}
    values = [{"customer_id": c, "balance": 0, "lock_version": 0, "created_at": now,
               "updated_at": now} for c in known]
    dialect = session.get_bind().dialect.name
    for start in range(0, len(values), _IN):
        part = values[start:start + _IN]
        if dialect == "postgresql":
            session.execute(postgresql.insert(table).on_conflict_do_nothing(
                index_elements=["customer_id"]), part)
        else:
            session.execute(sqlite.insert(table).on_conflict_do_nothing(
                index_elements=["customer_id"]), part)
    accounts: dict[int, tuple[int, str | None]] = {}
    for start in range(0, len(known), _IN):
        for customer_id, balance, tier in session.execute(
                select(table.c.customer_id, table.c.balance, table.c.tier)
                .where(table.c.customer_id.in_(known[start:start + _IN]))
                .order_by(table.c.customer_id).with_for_update()):
            accounts[int(customer_id)] = (int(balance), tier)
    return accounts


def _entry_ids(session: Session, count: int) -> list[int]:
    """IDs for ``count`` new entries, so lots can name their entry without a round trip
    per row. PostgreSQL: from the table's sequence; SQLite: after the current maximum
    (safe: the transaction holds SQLite's write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        return [int(i) for i in session.scalars(
            text("SELECT nextval(pg_get_serial_sequence('loyalty_entries', 'id')) "
                 "FROM generate_series(1, :n)"), {"n": count})]
    top = int(session.scalar(select(func.coalesce(func.max(LedgerEntry.id), 0))) or 0)
    return list(range(top + 1, top + 1 + count))


def _stamp(moment: datetime | None) -> str | None:
    """A time as the bulk loader wants it: UTC text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if moment else None


ENTRY_COLUMNS = ("id", "customer_id", "kind", "points", "idempotency_key", "reason", "source",
                 "rule", "order_ref", "order_paid", "order_refunded", "value", "at", "actor",
                 "actor_id")
LOT_COLUMNS = ("customer_id", "entry_id", "points", "remaining", "earned_at", "expires_at",
               "rule", "cost_per_point", "order_ref")


def earn_chunk(session: Session, *, orders: Sequence[OrderRow], now: datetime,
               config: ProgramConfig | None = None,
               actor: audit.Actor = audit.SYSTEM) -> EarnReport:
    """Credit one chunk of completed orders (the service the batch job calls per chunk).

    Set-based: one lock for the chunk's accounts, one look-up for keys already used,
    then entries and lots through the driver's bulk path (``executemany`` on SQLite,
    ``COPY`` on PostgreSQL) and one batched balance update. A member with a debt goes
    through the single-order path, which pays the debt off first.
    """
    report = EarnReport(orders=len(orders))
    config = config or get_config(session)
    if not orders:
        return report
    # Lock first, then look for keys already used: a concurrent run cannot slip between.
    accounts = _lock_accounts(session, sorted({o.customer_id for o in orders}), now)
    keys = [f"earn:{o.ref}" for o in orders]
    done = _existing_keys(session, keys)
    todo = [o for o, k in zip(orders, keys, strict=True) if k not in done]
    report.already = len(orders) - len(todo)
    rules, _ = read_rules(session, [ORDER_RULE], session.get_bind().dialect.name, now,
                          want_config=False)
    rule = rules[ORDER_RULE]
    first_rule = session.scalars(select(BonusRule).where(
        BonusRule.kind == BonusKind.FIRST_PURCHASE.value, BonusRule.active.is_(True))
        .order_by(BonusRule.code).limit(1)).one_or_none()
    multipliers = {t.code: t.benefits.points_multiplier for t in config.tiers}
    base = config.tiers[0].benefits.points_multiplier
    credits: list[tuple[OrderRow, int]] = []
    slow: list[tuple[OrderRow, int]] = []
    issued = 0
    for order in todo:
        found = accounts.get(order.customer_id)
        if found is None:
            report.unknown_customer += 1
            continue
        balance, tier = found
        points = order_points(net_paid(order.paid, order.refunded),
                              points_per_yuan=config.points_per_yuan,
                              multiplier=multipliers.get(tier or "", base))
        if points <= 0:
            report.zero_points += 1
            continue
        if not budget_allows(issued_points=rule.issued_points + issued, points=points,
                             cost_per_point=rule.cost_per_point, budget=rule.budget):
            report.over_budget += 1
            continue
        if balance < 0:
            slow.append((order, points))
            continue
        issued += points
        credits.append((order, points))
    first_timers = (_first_timers(session, [o.customer_id for o, _ in credits])
                    if first_rule is not None else [])
    if credits:
        _write_credits(session, credits, rule=rule, now=now, config=config, actor=actor)
        rule.issued += issued
        write_counters(session, rules)
        report.earned += len(credits)
        report.points += issued
    for order, points in slow:
        earn_order(session, customer_id=order.customer_id, order_ref=order.ref,
                   points=points, paid=order.paid, refunded=order.refunded, now=now,
                   config=config, actor=actor)
        report.earned += 1
        report.points += points
    if first_rule is not None:
        for customer_id in first_timers:
            try:
                grant_bonus(session, customer_id=customer_id, rule_code=first_rule.code,
                            key=f"first_purchase:{customer_id}", now=now, actor=actor)
                report.first_purchase += 1
            except LoyaltyError:
                break  # the budget is spent: no more first-purchase bonuses
    return report


def _write_credits(session: Session, credits: list[tuple[OrderRow, int]], *,
                   rule: RuleState, now: datetime, config: ProgramConfig,
                   actor: audit.Actor) -> None:
    ids = _entry_ids(session, len(credits))
    at, expiry = _stamp(now), _stamp(expires_at(config.expiry, now))
    cost = str(rule.cost_per_point)
    entries, lots = [], []
    deltas: dict[int, int] = {}
    for entry_id, (order, points) in zip(ids, credits, strict=True):
        entries.append((entry_id, order.customer_id, EntryKind.EARN.value, points,
                        f"earn:{order.ref}", f"order {order.ref}", "order", rule.code,
                        order.ref, str(order.paid), str(order.refunded),
                        str(points_cost(points, rule.cost_per_point)), at,
                        actor.label[:100], actor.user_id))
        lots.append((order.customer_id, entry_id, points, points, at, expiry, rule.code, cost,
                     order.ref))
        deltas[order.customer_id] = deltas.get(order.customer_id, 0) + points
    connection = session.connection()
    bulk_insert(connection, "loyalty_entries", ENTRY_COLUMNS, entries)
    bulk_insert(connection, "loyalty_lots", LOT_COLUMNS, lots)
    table = cast(Table, LoyaltyAccount.__table__)
    session.execute(update(table).where(table.c.customer_id == bindparam("c"))
                    .values(balance=table.c.balance + bindparam("d"), updated_at=now)
                    .execution_options(synchronize_session=False),
                    [{"c": c, "d": d} for c, d in sorted(deltas.items())])


def _first_timers(session: Session, customer_ids: list[int]) -> list[int]:
    """Customers among these who never earned for an order before."""
    customers = sorted(set(customer_ids))
    seen: set[int] = set()
    for start in range(0, len(customers), _IN):
        seen.update(int(c) for c in session.scalars(
            select(LedgerEntry.customer_id).where(
                LedgerEntry.customer_id.in_(customers[start:start + _IN]),
                LedgerEntry.kind == EntryKind.EARN.value).distinct()))
    return [c for c in customers if c not in seen]


def earn_completed_orders(sessions: sessionmaker[Session], *, warehouse: Warehouse,
                          now: datetime, chunk: int = CHUNK,
                          progress: Callable[[EarnReport], None] | None = None
                          ) -> EarnReport:
    """The earning job: every completed order up to ``now`` earns once (re-runs add
    only orders completed since)."""
    total = EarnReport()
    for month in order_months(warehouse, now=now):
        for start in range(0, len(month), chunk):
            with sessions.begin() as session:
                total.add(earn_chunk(session, orders=month[start:start + chunk], now=now))
            if progress:
                progress(total)
    return total


@dataclass
class ReverseReport:
    orders: int = 0
    reversed: int = 0
    points: int = 0
    not_earned: int = 0


def reverse_refunds(sessions: sessionmaker[Session], *, warehouse: Warehouse, now: datetime,
                    chunk: int = 500) -> ReverseReport:
    """The reversal job: orders that earned and were refunded or cancelled since give
    back their points in proportion (keys per refunded total, so re-runs change nothing)."""
    orders = warehouse.table("orders")
    refunded = orders.filter(orders.customer_id.notnull(),
                             (orders.refund_amount.fill_null(0) > 0)
                             | orders.status.isin(["cancelled", "refunded"]))
    table = warehouse.execute(refunded.select(
        "source", "order_id", "customer_id", "paid_amount", "refund_amount", "status"))
    statuses = table.column("status").to_pylist()
    rows = list(zip(_rows(table), statuses, strict=True))
    report = ReverseReport(orders=len(rows))
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        with sessions.begin() as session:
            earned = _existing_keys(session, [f"earn:{o.ref}" for o, _ in part])
            for order, status in part:
                if f"earn:{order.ref}" not in earned:
                    report.not_earned += 1
                    continue
                cancelled = status in ("cancelled", "refunded")
                total = order.paid if cancelled else order.refunded
                try:
                    movement = reverse_order(
                        session, order_ref=order.ref, refunded_total=total,
                        cancelled=cancelled, key=f"reverse:{order.ref}:{total}:{status}",
                        now=now)
                except OrderNotFound:
                    report.not_earned += 1
                    continue
                if movement.entry is not None and not movement.replayed:
                    report.reversed += 1
                    report.points -= movement.entry.points
    return report
