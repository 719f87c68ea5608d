"""The ledger on SQLite and PostgreSQL: every movement, bad input, replays, merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.loyalty.conftest import SIX_MONTHS, MakeCustomer, configure, invariants

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.loyalty import (
    BudgetExhausted,
    CustomerNotFound,
    IdempotencyConflict,
    InsufficientPoints,
    LoyaltyError,
    OrderNotFound,
)
from shopcrm.loyalty import ledger as L
from shopcrm.loyalty.merge import move_customer, undo_move
from shopcrm.loyalty.models import LedgerEntry, LoyaltyAccount
from shopcrm.loyalty.rules import BonusKind, ReversalPolicy
from shopcrm.store.models import AuditEntry

ADMIN = audit.Actor(1, "admin")
ALL = frozenset(Permission)


def _earn(context: AppContext, customer: int, order: str, points: int) -> L.Movement:
    with context.sessions.begin() as session:
        return L.earn_order(session, customer_id=customer, order_ref=order, points=points,
                            paid=Decimal(points), now=context.clock.now())


def _redeem(context: AppContext, customer: int, points: int, key: str) -> L.Movement:
    with context.sessions.begin() as session:
        return L.redeem(session, customer_id=customer, points=points, key=key,
                        now=context.clock.now())


def _check(context: AppContext, customer: int) -> int:
    with context.sessions() as session:
        return invariants(session, customer)[0]


def test_earn_redeem_replay(context: AppContext, make_customer: MakeCustomer) -> None:
    customer = make_customer(1)
    assert _earn(context, customer, "taobao:o1", 300).balance == 300
    assert _earn(context, customer, "taobao:o1", 300).replayed  # same order: a replay
    movement = _redeem(context, customer, 120, "r-1")
    assert (movement.balance, movement.replayed) == (180, False)
    again = _redeem(context, customer, 120, "r-1")
    assert (again.balance, again.replayed, again.entry.id) == (  # type: ignore[union-attr]
        180, True, movement.entry.id)  # type: ignore[union-attr]
    with pytest.raises(IdempotencyConflict):
        _redeem(context, customer, 50, "r-1")
    assert _check(context, customer) == 180


def test_bad_input_changes_nothing(context: AppContext, make_customer: MakeCustomer) -> None:
    customer = make_customer(2)
    _earn(context, customer, "shop:o2", 100)
    with pytest.raises(InsufficientPoints, match="100 spendable points, not 101"):
        _redeem(context, customer, 101, "r-big")
    for bad in (0, -5):
        with pytest.raises(LoyaltyError, match="positive whole number"):
            _redeem(context, customer, bad, f"r-{bad}")
    with pytest.raises(LoyaltyError, match="whole number"):
        _redeem(context, customer, 1.5, "r-frac")  # type: ignore[arg-type]
    with pytest.raises(CustomerNotFound):
        _redeem(context, 999_999, 1, "r-unknown")
    with pytest.raises(OrderNotFound), context.sessions.begin() as session:
        L.reverse_order(session, order_ref="shop:nope", refunded_total=Decimal("10"),
                        key="rev-nope", now=context.clock.now())
    with context.sessions() as session:
        assert session.scalar(select(LedgerEntry.id).where(
            LedgerEntry.idempotency_key.in_(["r-big", "r-0", "r--5", "r-frac", "rev-nope"]))) \
            is None
        assert session.get(LoyaltyAccount, 999_999) is None
    assert _check(context, customer) == 100


def test_fifo_and_expiry(context: AppContext, make_customer: MakeCustomer,
                         clock: FakeClock) -> None:
    configure(context, expiry=SIX_MONTHS)
    customer = make_customer(3)
    _earn(context, customer, "s:a", 100)           # expires 2027-05-20
    clock.advance(timedelta(days=60))
    _earn(context, customer, "s:b", 50)            # expires 2027-07-19
    _redeem(context, customer, 120, "spend")       # all of a, 20 of b
    with context.sessions() as session:
        lots = {lot.order_ref: lot.remaining for lot in
                L.open_lots(session, customer_id=customer)}
    assert lots == {"s:b": 30}
    clock.set(datetime(2027, 7, 19, 2, 0, tzinfo=UTC))  # b expires (exclusive end)
    with pytest.raises(InsufficientPoints):  # expired points are never spendable
        _redeem(context, customer, 1, "late")
    with context.sessions.begin() as session:
        assert L.expire_due(session, now=clock.now()) == (1, 30)
    with context.sessions.begin() as session:
        assert L.expire_due(session, now=clock.now()) == (0, 0)
    assert _check(context, customer) == 0


def test_expiring_soon_notice(context: AppContext, make_customer: MakeCustomer,
                              clock: FakeClock) -> None:
    configure(context, expiry=SIX_MONTHS)
    customer = make_customer(4)
    _earn(context, customer, "s:n", 40)
    with context.sessions() as session:
        assert L.expiring_soon(session, now=clock.now(), days=30) == []
        soon = L.expiring_soon(session, now=clock.now() + timedelta(days=160), days=30)
    assert [(s.customer_id, s.points) for s in soon] == [(customer, 40)]


@pytest.mark.parametrize("policy", [ReversalPolicy.DEBT, ReversalPolicy.CAP])
def test_reversal_after_spending(context: AppContext, make_customer: MakeCustomer,
                                 policy: ReversalPolicy) -> None:
    configure(context, reversal=policy)
    customer = make_customer(5)
    _earn(context, customer, "s:r", 100)
    _redeem(context, customer, 80, "spend")
    with context.sessions.begin() as session:  # half refunded: 50 points back, 20 held
        half = L.reverse_order(session, order_ref="s:r", refunded_total=Decimal("50"), key="rev-1",
                               now=context.clock.now())
    expected = -30 if policy is ReversalPolicy.DEBT else 0
    assert half.balance == expected
    with context.sessions.begin() as session:  # the same refund again: nothing more
        same = L.reverse_order(session, order_ref="s:r", refunded_total=Decimal("50"), key="rev-1b",
                               now=context.clock.now())
    assert same.entry is None and same.balance == expected
    _earn(context, customer, "s:r2", 50)  # a debt is paid off first
    assert _check(context, customer) == expected + 50
    with context.sessions.begin() as session:  # full refund: the other half too
        full = L.reverse_order(session, order_ref="s:r", refunded_total=Decimal("100"), key="rev-2",
                               now=context.clock.now())
    assert full.balance == (-30 + 50 - 50 if policy is ReversalPolicy.DEBT else 0)
    _check(context, customer)


def test_adjust_permission_reason_audit(context: AppContext,
                                        make_customer: MakeCustomer) -> None:
    customer = make_customer(6)
    with pytest.raises(PermissionError), context.sessions.begin() as session:
        L.adjust(session, customer_id=customer, points=10, reason="goodwill", key="a1",
                 now=context.clock.now(), actor=ADMIN,
                 granted=frozenset({Permission.VIEW_CUSTOMERS}))
    with pytest.raises(LoyaltyError, match="reason"), context.sessions.begin() as session:
        L.adjust(session, customer_id=customer, points=10, reason="  ", key="a1",
                 now=context.clock.now(), actor=ADMIN, granted=ALL)
    with context.sessions.begin() as session:
        L.adjust(session, customer_id=customer, points=10, reason="goodwill", key="a1",
                 now=context.clock.now(), actor=ADMIN, granted=ALL)
    with pytest.raises(InsufficientPoints), context.sessions.begin() as session:
        L.adjust(session, customer_id=customer, points=-11, reason="typo", key="a2",
                 now=context.clock.now(), actor=ADMIN, granted=ALL)
    with context.sessions.begin() as session:
        L.adjust(session, customer_id=customer, points=-4, reason="typo", key="a3",
                 now=context.clock.now(), actor=ADMIN, granted=ALL)
    with context.sessions() as session:
        logged = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "loyalty.adjust")).all()
    assert [(e.actor, e.details["points"], e.details["reason"]) for e in logged] == [
        ("admin", 10, "goodwill"), ("admin", -4, "typo")]
    assert _check(context, customer) == 6


def test_bonus_budget_stops_issuing(context: AppContext, make_customer: MakeCustomer) -> None:
    customers = [make_customer(i) for i in (11, 12, 13)]
    with context.sessions.begin() as session:
        L.upsert_rule(session, code="review", kind=BonusKind.REVIEW, name="review bonus",
                      points=50, cost_per_point=Decimal("0.10"), budget=Decimal("10.00"),
                      active=True, actor=ADMIN, now=context.clock.now())
    for customer in customers[:2]:  # 2 × 50 × 0.10 = 10.00: the whole budget
        with context.sessions.begin() as session:
            L.grant_bonus(session, customer_id=customer, rule_code="review",
                          key=f"review:{customer}", now=context.clock.now())
    with pytest.raises(BudgetExhausted), context.sessions.begin() as session:
        L.grant_bonus(session, customer_id=customers[2], rule_code="review",
                      key=f"review:{customers[2]}", now=context.clock.now())
    with context.sessions.begin() as session:  # a replay is not a new issue
        assert L.grant_bonus(session, customer_id=customers[0], rule_code="review",
                             key=f"review:{customers[0]}", now=context.clock.now()).replayed
    assert [_check(context, c) for c in customers] == [50, 50, 0]


def test_move_and_undo(context: AppContext, make_customer: MakeCustomer) -> None:
    a, b = make_customer(21), make_customer(22)
    _earn(context, a, "s:a", 100)
    _earn(context, b, "s:b", 10)
    _redeem(context, b, 10, "b-spend")
    with context.sessions.begin() as session:  # b owes 10 after the refund
        L.reverse_order(session, order_ref="s:b", refunded_total=Decimal("0"), cancelled=True,
                        key="b-rev", now=context.clock.now())
    with context.sessions.begin() as session:
        move = move_customer(session, from_customer_id=a, to_customer_id=b,
                             now=context.clock.now(), actor=ADMIN)
    assert (_check(context, a), _check(context, b)) == (0, 90)
    _redeem(context, b, 85, "b-after-merge")  # spends a's former points
    with context.sessions.begin() as session:
        undo_move(session, move_id=move.id, now=context.clock.now(), actor=ADMIN)
    # a gets its 100 back; b owes what it spent of them
    assert (_check(context, a), _check(context, b)) == (100, -95)
    with pytest.raises(LoyaltyError, match="undone"), context.sessions.begin() as session:
        undo_move(session, move_id=move.id, now=context.clock.now(), actor=ADMIN)


def test_cap_write_off_is_remembered(context: AppContext, make_customer: MakeCustomer) -> None:
    """Under ``cap`` a reversal that finds everything spent still uses its key and records
    the write-off, so running the refund job again never takes later earnings."""
    configure(context, reversal=ReversalPolicy.CAP)
    customer = make_customer(8)
    _earn(context, customer, "s:w", 100)
    _redeem(context, customer, 100, "all")
    for key in ("rv-a", "rv-b"):  # the job runs twice (a different key the second time)
        with context.sessions.begin() as session:
            L.reverse_order(session, order_ref="s:w", refunded_total=Decimal("0"),
                            cancelled=True, key=key, now=context.clock.now())
        if key == "rv-a":
            _earn(context, customer, "s:later", 40)
    assert _check(context, customer) == 40
    with context.sessions() as session:
        written = session.scalars(select(LedgerEntry.written_off).where(
            LedgerEntry.kind == "reverse")).all()
    assert written == [100]
