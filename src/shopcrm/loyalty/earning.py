"""Batch jobs over the warehouse's orders: earn for completed orders, reverse refunds.

Orders live in the warehouse (Parquet facts); the ledger lives in the operational store.
The jobs read orders month by month through Ibis (bounded memory however many orders
there are) and write the ledger in chunks, one transaction per chunk, so a crash loses
at most one chunk's work and a re-run finishes it: every order's earning has the key
``earn:<source>:<order id>``, so nothing is ever credited twice.

Points are credited when the order is *completed*, on the net paid amount (paid minus
refunds so far) × the points rate × the member's tier multiplier at that moment.

A chunk is one batch of :mod:`~shopcrm.loyalty.postings` (the path single movements
take too): for 10,000 orders that is two round trips to read and lock, three ``COPY``
streams and two array updates on PostgreSQL, instead of statements per order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
from sqlalchemy import BigInteger, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from shopcrm.accounts import audit
from shopcrm.loyalty import BudgetExhausted, CustomerNotFound, IdempotencyConflict, OrderNotFound
from shopcrm.loyalty.ledger import get_config, reverse_order
from shopcrm.loyalty.models import BonusRule, LedgerEntry
from shopcrm.loyalty.postings import Earn, Grant, post
from shopcrm.loyalty.rules import BonusKind, EntryKind, ProgramConfig
from shopcrm.warehouse.engine import Warehouse

CHUNK = 10_000
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


def _earns(table: Any) -> list[Earn]:
    """Postings straight from the Arrow columns (the reference is built by DuckDB);
    points are left to the ledger, which knows the member's tier under the lock."""
    zero = Decimal("0")
    return [Earn(int(c), r, None, p if p is not None and p > 0 else zero,
                 f if f is not None and f > 0 else zero)
            for r, c, p, f in zip(*(table.column(n).to_pylist() for n in
                                   ("ref", "customer_id", "paid_amount", "refund_amount")),
                                  strict=True)]


def order_months(warehouse: Warehouse, *, now: datetime) -> Iterator[list[Earn]]:
    """Completed orders up to ``now`` as earn postings, one calendar month of completion
    at a time (memory stays bounded however many orders there are)."""
    orders = completed_orders(warehouse, now=now)
    bounds = warehouse.execute(orders.aggregate(first=orders.completed_at.min(),
                                                last=orders.completed_at.max()))
    first, last = bounds.column("first")[0].as_py(), bounds.column("last")[0].as_py()
    if first is None:
        return
    for start, end in _month_windows(first, last):
        window = orders.filter(orders.completed_at >= ibis.literal(start),
                               orders.completed_at < ibis.literal(end))
        yield _earns(warehouse.execute(window.select(
            ref=window.source.concat(":", window.order_id), customer_id=window.customer_id,
            paid_amount=window.paid_amount, refund_amount=window.refund_amount)
            .order_by(["customer_id", "ref"])))


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), _IN):
        found.update(session.scalars(select(LedgerEntry.idempotency_key).where(
            LedgerEntry.idempotency_key.in_(keys[start:start + _IN]))))
    return found


def _among(column: Any, values: list[int], dialect: str) -> Any:
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(BigInteger())))
    return column.in_(values)


def _earned_before(session: Session, customer_ids: list[int]) -> set[int]:
    """Customers among these who earned for an order before."""
    dialect = session.get_bind().dialect.name
    step = len(customer_ids) if dialect == "postgresql" else _IN
    seen: set[int] = set()
    for start in range(0, len(customer_ids), max(step, 1)):
        seen.update(int(c) for c in session.scalars(
            select(LedgerEntry.customer_id).where(
                _among(LedgerEntry.customer_id, customer_ids[start:start + step], dialect),
                LedgerEntry.kind == EntryKind.EARN.value).distinct()))
    return seen


def earn_chunk(session: Session, *, orders: Sequence[Earn], now: datetime,
               config: ProgramConfig | None = None,
               actor: audit.Actor = audit.SYSTEM) -> EarnReport:
    """Credit one chunk of completed orders (the service the batch job calls per chunk).

    The orders go through :func:`~shopcrm.loyalty.postings.post` as one batch: accounts
    locked in ID order, keys already used skipped, points at the member's tier, the
    order rule's budget, debts paid off first, entries and lots by ``COPY`` — the same
    path and guarantees as a single movement. First-purchase bonuses follow for members
    whose first order this chunk credited.
    """
    report = EarnReport(orders=len(orders))
    if not orders:
        return report
    config = config or get_config(session)
    first_rule = session.scalars(select(BonusRule.code).where(
        BonusRule.kind == BonusKind.FIRST_PURCHASE.value, BonusRule.active.is_(True))
        .order_by(BonusRule.code).limit(1)).one_or_none()
    customers = sorted({o.customer_id for o in orders})
    before = _earned_before(session, customers) if first_rule is not None else set()
    credited: set[int] = set()
    for outcome in post(session, orders, now=now, config=config, actor=actor):
        if isinstance(outcome.error, CustomerNotFound):
            report.unknown_customer += 1
        elif isinstance(outcome.error, BudgetExhausted):
            report.over_budget += 1
        elif isinstance(outcome.error, IdempotencyConflict):
            report.already += 1  # the order earned before, for the customer of that time
        elif outcome.error is not None:
            raise outcome.error
        elif outcome.replayed:
            report.already += 1
        elif outcome.entry is None:
            report.zero_points += 1
        else:
            report.earned += 1
            report.points += outcome.entry.points
            credited.add(outcome.customer_id)
    if first_rule is not None:
        grants = [Grant(c, first_rule, f"first_purchase:{c}")
                  for c in sorted(credited - before)]
        report.first_purchase = sum(o.error is None and not o.replayed for o in post(
            session, grants, now=now, config=config, actor=actor))
    return report


def earn_completed_orders(sessions: sessionmaker[Session], *, warehouse: Warehouse,
                          now: datetime, chunk: int = CHUNK,
                          progress: Callable[[EarnReport], None] | None = None
                          ) -> EarnReport:
    """The earning job: every completed order up to ``now`` earns once (re-runs add
    only orders completed since)."""
    total = EarnReport()
    with sessions() as session:
        config = get_config(session)
    for month in order_months(warehouse, now=now):
        for start in range(0, len(month), chunk):
            with sessions.begin() as session:
                total.add(earn_chunk(session, orders=month[start:start + chunk], now=now,
                                     config=config))
            if progress:
                progress(total)
    return total


@dataclass
class ReverseReport:
    orders: int = 0
    reversed: int = 0
    points: int = 0
    not_earned: int = 0
    already: int = 0
    """Refunds reversed by an earlier run (their key exists): skipped without a call."""


def _reverse_key(order: OrderRow, status: str) -> str:
    """One reversal per refunded total and status: a further refund is a new key."""
    total = order.paid if status in ("cancelled", "refunded") else order.refunded
    return f"reverse:{order.ref}:{total}:{status}"


def reverse_refunds(sessions: sessionmaker[Session], *, warehouse: Warehouse, now: datetime,
                    chunk: int = 500) -> ReverseReport:
    """The reversal job: orders that earned and were refunded or cancelled since give
    back their points in proportion (keys per refunded total, so re-runs change nothing).

    The job sees every refunded order of the shop's history on each run; the reversal
    keys of a chunk are looked up at once, so refunds an earlier run reversed cost one
    key look-up, not a ledger call each."""
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
        keys = [_reverse_key(order, status) for order, status in part]
        with sessions.begin() as session:
            earned = _existing_keys(session, [f"earn:{o.ref}" for o, _ in part])
            done = _existing_keys(session, keys)
            for (order, status), key in zip(part, keys, strict=True):
                if f"earn:{order.ref}" not in earned:
                    report.not_earned += 1
                    continue
                if key in done:
                    report.already += 1
                    continue
                cancelled = status in ("cancelled", "refunded")
                total = order.paid if cancelled else order.refunded
                try:
                    movement = reverse_order(
                        session, order_ref=order.ref, refunded_total=total,
                        cancelled=cancelled, key=key, now=now)
                except OrderNotFound:
                    report.not_earned += 1
                    continue
                if movement.entry is not None and not movement.replayed:
                    report.reversed += 1
                    report.points -= movement.entry.points
    return report
