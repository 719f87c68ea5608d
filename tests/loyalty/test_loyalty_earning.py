"""Earning from the warehouse's completed orders, and reversing refunds, as batch jobs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from tests.loyalty.conftest import MakeCustomer, invariants, write_orders

from shopcrm.accounts import audit
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.loyalty import ledger as L
from shopcrm.loyalty.earning import earn_completed_orders, reverse_refunds
from shopcrm.loyalty.models import LedgerEntry, LoyaltyAccount
from shopcrm.loyalty.rules import BonusKind


def test_earn_then_reverse(context: AppContext, make_customer: MakeCustomer,
                           clock: FakeClock) -> None:
    a, b = make_customer(31), make_customer(32)
    with context.sessions.begin() as session:  # b is VIP: ×1.5
        session.add(LoyaltyAccount(customer_id=b, balance=0, tier="vip", lock_version=0,
                                   created_at=clock.now(), updated_at=clock.now()))
        L.upsert_rule(session, code="first", kind=BonusKind.FIRST_PURCHASE, name="first",
                      points=20, cost_per_point=Decimal("0.01"), budget=None, active=True,
                      actor=audit.SYSTEM, now=clock.now())
    done = clock.now() - timedelta(days=3)
    write_orders(context, [
        {"order_id": "1", "customer_id": a, "paid_amount": "199.90", "completed_at": done},
        {"order_id": "2", "customer_id": a, "paid_amount": "100", "refund_amount": "40",
         "completed_at": done},                                       # earns on 60
        {"order_id": "3", "customer_id": b, "paid_amount": "100", "completed_at": done},
        {"order_id": "4", "customer_id": b, "status": "paid", "paid_amount": "500"},
        {"order_id": "5", "customer_id": 999, "paid_amount": "10", "completed_at": done},
        {"order_id": "6", "customer_id": a, "paid_amount": "10",
         "completed_at": clock.now() + timedelta(days=1)},            # not yet
    ])
    report = earn_completed_orders(context.sessions, warehouse=context.warehouse,
                                   now=clock.now(), chunk=2)
    assert (report.earned, report.points, report.unknown_customer, report.first_purchase) == (
        3, 199 + 60 + 150, 1, 2)
    again = earn_completed_orders(context.sessions, warehouse=context.warehouse,
                                  now=clock.now())
    assert (again.earned, again.already, again.unknown_customer) == (0, 3, 1)
    with context.sessions() as session:
        assert invariants(session, a)[0] == 199 + 60 + 20
        assert invariants(session, b)[0] == 150 + 20
    # order 2 refunded a further 30 of its 60 net: half of its 60 points come back;
    # order 3 cancelled: all 150
    write_orders(context, [
        {"order_id": "2", "customer_id": a, "status": "completed", "paid_amount": "100",
         "refund_amount": "70", "completed_at": done},
        {"order_id": "3", "customer_id": b, "status": "refunded", "paid_amount": "100",
         "refund_amount": "100", "completed_at": done},
    ])
    reversed_ = reverse_refunds(context.sessions, warehouse=context.warehouse, now=clock.now())
    assert (reversed_.reversed, reversed_.points) == (2, 30 + 150)
    rerun = reverse_refunds(context.sessions, warehouse=context.warehouse, now=clock.now())
    assert (rerun.reversed, rerun.already) == (0, 2)
    with context.sessions() as session:
        assert invariants(session, a)[0] == 199 + 30 + 20
        assert invariants(session, b)[0] == 20
        assert session.scalar(select(LedgerEntry.points).where(
            LedgerEntry.idempotency_key == "earn:shop:3")) == 150
