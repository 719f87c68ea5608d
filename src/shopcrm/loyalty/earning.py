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
from typing import Any

import ibis
import ibis.expr.types as ir
from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from shopcrm.accounts import audit
from shopcrm.loyalty import LoyaltyError, OrderNotFound
from shopcrm.loyalty.ledger import (
    _rule_for_update,
    earn_order,
    ensure_order_rule,
    get_config,
    grant_bonus,
    reverse_order,
)
from shopcrm.loyalty.models import BonusRule, LedgerEntry, LoyaltyAccount, PointLot
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
                   now: datetime) -> dict[int, LoyaltyAccount]:
    """Create missing accounts of known customers and lock all of them, in ID order
    (the same order every job uses, so two jobs never deadlock)."""
    table: Table = LoyaltyAccount.__table__  # type: ignore[assignment]
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
    accounts: dict[int, LoyaltyAccount] = {}
    for start in range(0, len(known), _IN):
        for account in session.scalars(
                select(LoyaltyAccount).where(LoyaltyAccount.customer_id.in_(
                    known[start:start + _IN])).order_by(LoyaltyAccount.customer_id)
                .with_for_update().execution_options(populate_existing=True)):
            accounts[account.customer_id] = account
    return accounts


def earn_chunk(session: Session, *, orders: Sequence[OrderRow], now: datetime,
               config: ProgramConfig | None = None,
               actor: audit.Actor = audit.SYSTEM) -> EarnReport:
    """Credit one chunk of completed orders (the service the batch job calls per chunk).

    Set-based: one look-up for keys already used, one lock for the chunk's accounts,
    multi-row inserts for entries and lots. A member with a debt goes through the
    single-order path, which pays the debt off first.
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
    rule = _rule_for_update(session, ensure_order_rule(session, now=now).code)
    first_rule = session.scalars(select(BonusRule).where(
        BonusRule.kind == BonusKind.FIRST_PURCHASE.value, BonusRule.active.is_(True))
        .order_by(BonusRule.code).limit(1)).one_or_none()
    lot_expiry = expires_at(config.expiry, now)
    entries: list[dict[str, Any]] = []
    lots: dict[str, dict[str, Any]] = {}
    slow: list[tuple[OrderRow, int]] = []
    issued = 0
    for order in todo:
        account = accounts.get(order.customer_id)
        if account is None:
            report.unknown_customer += 1
            continue
        multiplier = config.tier(account.tier).benefits.points_multiplier
        points = order_points(net_paid(order.paid, order.refunded),
                              points_per_yuan=config.points_per_yuan, multiplier=multiplier)
        if points <= 0:
            report.zero_points += 1
            continue
        if not budget_allows(issued_points=rule.issued_points + issued, points=points,
                             cost_per_point=rule.cost_per_point, budget=rule.budget):
            report.over_budget += 1
            continue
        if account.balance < 0:
            slow.append((order, points))
            continue
        issued += points
        key = f"earn:{order.ref}"
        entries.append({
            "customer_id": order.customer_id, "kind": EntryKind.EARN.value, "points": points,
            "idempotency_key": key, "reason": f"order {order.ref}", "source": "order",
            "rule": rule.code, "order_ref": order.ref, "order_paid": order.paid,
            "order_refunded": order.refunded,
            "value": points_cost(points, rule.cost_per_point), "at": now,
            "actor": actor.label[:100], "actor_id": actor.user_id})
        lots[key] = {"customer_id": order.customer_id, "points": points,
                     "remaining": points, "earned_at": now, "expires_at": lot_expiry,
                     "rule": rule.code, "cost_per_point": rule.cost_per_point,
                     "order_ref": order.ref}
        account.balance += points
        account.updated_at = now
        report.earned += 1
        report.points += points
    rule.issued_points += issued
    first_timers = _first_timers(session, entries) if first_rule is not None else []
    for start in range(0, len(entries), 1000):
        ids = session.execute(insert(LedgerEntry).returning(
            LedgerEntry.id, LedgerEntry.idempotency_key, sort_by_parameter_order=True),
            entries[start:start + 1000]).all()
        session.execute(insert(PointLot), [{**lots[key], "entry_id": entry_id}
                                           for entry_id, key in ids])
    session.flush()
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


def _first_timers(session: Session, entries: list[dict[str, Any]]) -> list[int]:
    """Customers of these new entries who never earned for an order before."""
    customers = sorted({int(e["customer_id"]) for e in entries})
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
