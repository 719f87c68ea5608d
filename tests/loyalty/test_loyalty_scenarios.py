"""Time-travel scenarios with a fake clock: expiry, tier upgrade and downgrade with
grace, birthday bonuses, benefits, reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tests.loyalty.conftest import MakeCustomer, configure, write_orders

from shopcrm.accounts import audit
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.loyalty import ledger as L
from shopcrm.loyalty import reports
from shopcrm.loyalty.benefits import benefits_for
from shopcrm.loyalty.rules import BonusKind, ExpiryPolicy, TierDef
from shopcrm.loyalty.tiers import (
    customer_metrics,
    evaluate_tiers,
    grant_birthday_bonuses,
    tier_history,
)

LADDER = [TierDef(code="member", name="普通会员"),
          TierDef(code="senior", name="高级会员", min_spend=Decimal("1000")),
          TierDef(code="vip", name="VIP", min_spend=Decimal("5000"))]


def _at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 2, 0, tzinfo=UTC)


def _evaluate(context: AppContext, when: datetime) -> dict[int, str | None]:
    context.clock.set(when)  # type: ignore[attr-defined]
    with context.sessions.begin() as session:
        metrics = customer_metrics(session, warehouse=context.warehouse, now=when)
        evaluate_tiers(session, metrics=metrics, now=when)
    with context.sessions() as session:
        from sqlalchemy import select

        from shopcrm.loyalty.models import LoyaltyAccount
        return {a.customer_id: a.tier for a in session.scalars(select(LoyaltyAccount))}


def test_upgrade_now_downgrade_after_period_and_grace(
        context: AppContext, make_customer: MakeCustomer, clock: FakeClock) -> None:
    configure(context, tiers=LADDER, grace_days=30)
    c, d = make_customer(41), make_customer(42)
    write_orders(context, [
        {"order_id": "c1", "customer_id": c, "paid_amount": "1200",
         "completed_at": _at(2026, 11, 10)},
        {"order_id": "d1", "customer_id": d, "paid_amount": "1500",
         "completed_at": _at(2026, 2, 1)},
    ])
    assert _evaluate(context, _at(2026, 11, 20)) == {c: "senior", d: "senior"}
    write_orders(context, [{"order_id": "c2", "customer_id": c, "paid_amount": "4000",
                            "completed_at": _at(2026, 11, 25)}])
    assert _evaluate(context, _at(2026, 11, 26))[c] == "vip"        # upgrade at once
    # d's spend left the 12-month window on 2027-02-01, but d buys again in the grace
    # period after the period end of 2027-01-01 and so keeps the tier at review
    assert _evaluate(context, _at(2027, 1, 15)) == {c: "vip", d: "senior"}
    write_orders(context, [{"order_id": "d2", "customer_id": d, "paid_amount": "1000",
                            "completed_at": _at(2027, 1, 20)}])
    assert _evaluate(context, _at(2027, 2, 5)) == {c: "vip", d: "senior"}
    # c no longer qualifies from 2027-11-26, yet keeps VIP until the next period end
    # plus grace (2028-01-31)
    assert _evaluate(context, _at(2027, 12, 1))[c] == "vip"
    assert _evaluate(context, _at(2028, 1, 30))[c] == "vip"
    assert _evaluate(context, _at(2028, 1, 31)) == {c: "member", d: "member"}
    with context.sessions() as session:
        assert [(h.from_tier, h.to_tier, h.reason) for h in
                tier_history(session, customer_id=c)] == [
            (None, "senior", "join"), ("senior", "vip", "upgrade"),
            ("vip", "member", "downgrade")]
        now = benefits_for(session, customer_id=c)
    assert (now.tier, now.benefits.free_shipping) == ("member", False)


def test_value_rank_share_tier(context: AppContext, make_customer: MakeCustomer,
                               clock: FakeClock) -> None:
    configure(context)  # default ladder: VIP for the top 25% by spend
    customers = [make_customer(50 + i) for i in range(8)]
    write_orders(context, [{"order_id": f"v{i}", "customer_id": c, "paid_amount": 100 + i,
                            "completed_at": clock.now() - timedelta(days=1)}
                           for i, c in enumerate(customers)])
    tiers = _evaluate(context, clock.now())
    # top 10% of 8 is nobody (1/8 > 0.10); the best two are the top 25%
    assert [tiers[c] for c in customers] == ["member"] * 6 + ["vip"] * 2
    with context.sessions() as session:
        answer = benefits_for(session, customer_id=customers[-1])
    assert answer.benefits.free_shipping and answer.benefits.points_multiplier == Decimal("1.5")


def test_birthday_bonus_once_a_year(context: AppContext, make_customer: MakeCustomer,
                                    clock: FakeClock) -> None:
    configure(context)
    born_dec = make_customer(61, birthday=date(1990, 12, 5))
    born_jan = make_customer(62, birthday=date(1991, 1, 9))
    with context.sessions.begin() as session:
        L.upsert_rule(session, code="birthday", kind=BonusKind.BIRTHDAY, name="生日积分",
                      points=50, cost_per_point=Decimal("0.01"), budget=None, active=True,
                      actor=audit.SYSTEM, now=clock.now())
        for customer in (born_dec, born_jan):
            L.lock_account(session, customer_id=customer, now=clock.now())

    def run(when: datetime) -> int:
        clock.set(when)
        with context.sessions.begin() as session:
            return grant_birthday_bonuses(session, now=when)

    assert run(_at(2026, 11, 20)) == 0
    assert run(_at(2026, 12, 1)) == 1
    assert run(_at(2026, 12, 20)) == 0            # once per year
    assert run(_at(2027, 1, 3)) == 1              # the January child
    assert run(_at(2027, 12, 2)) == 1             # next year again
    with context.sessions() as session:
        assert L.balance(session, customer_id=born_dec) == 100
        assert L.balance(session, customer_id=born_jan) == 50


def test_expiry_end_of_next_year_and_reports(context: AppContext,
                                             make_customer: MakeCustomer,
                                             clock: FakeClock) -> None:
    configure(context, expiry=ExpiryPolicy(kind="end_of_next_year"))
    customer = make_customer(71)
    with context.sessions.begin() as session:
        L.earn_order(session, customer_id=customer, order_ref="s:1", points=500,
                     paid=Decimal("500"), now=clock.now())          # 2026-11: until 2028
    clock.set(_at(2027, 3, 1))
    with context.sessions.begin() as session:
        L.redeem(session, customer_id=customer, points=200, key="spend", now=clock.now())
    clock.set(_at(2027, 12, 31))
    with context.sessions.begin() as session:
        assert L.expire_due(session, now=clock.now()) == (0, 0)
    clock.set(_at(2028, 1, 1))
    with context.sessions.begin() as session:
        assert L.expire_due(session, now=clock.now()) == (1, 300)
    with context.sessions() as session:
        months = {m.month: m for m in reports.by_month(session)}
        rules = {r.code: r for r in reports.by_rule(session)}
        owed = reports.liability(session, now=clock.now())
    assert (months["2026-11"].issued, months["2026-11"].liability) == (500, Decimal("5.00"))
    assert (months["2027-03"].redeemed, months["2027-03"].liability) == (200, Decimal("3.00"))
    assert (months["2028-01"].expired, months["2028-01"].liability) == (300, Decimal("0.00"))
    assert rules["order"].issued_points == 500 and rules["order"].spent == Decimal("5.00")
    assert (owed.points, owed.value) == (0, Decimal("0.00"))
