"""The campaign report: conversions and revenue from the warehouse within the
attribution window (treated and holdout alike, merged customers followed), funnel with
opens and clicks, lift with intervals from the lift module, cost, ROI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.campaigns.conftest import (
    add_people,
    dispatcher,
    launch,
    sink_channels,
    sms_plan,
    write_facts,
)

from shopcrm.campaigns import CampaignError
from shopcrm.campaigns.config import CampaignSettings
from shopcrm.campaigns.lift import Arm, Sample, lift_report
from shopcrm.campaigns.models import Delivery
from shopcrm.campaigns.report import campaign_report, report_json
from shopcrm.campaigns.respect import record_click, record_open
from shopcrm.context import AppContext
from shopcrm.store.models import Customer, SourceIdentity


def test_report_counts_orders_in_the_window_for_both_arms(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    people = add_people(context, range(1, 601))
    start = context.clock.now()
    audience = [c for c in people if c != 599]  # 600 is merged into 599 after the launch
    campaign_id = launch(context, sms_plan(audience, experiment={"holdout_share": 0.3},
                                           cost_per_message=Decimal("0.05")))
    with sink_channels(sink_path) as channels:
        dispatcher(context, settings_for(context), channels).run()
    with context.sessions() as session:
        arms = dict(session.execute(select(Delivery.customer_id, Delivery.arm).where(
            Delivery.campaign_id == campaign_id)).all())
        ids = dict(session.execute(select(Delivery.customer_id, Delivery.id).where(
            Delivery.campaign_id == campaign_id)).all())
    # a known effect: treated customers buy when id % 10 < 3, held-out ones when < 1
    orders = []
    for customer, arm in arms.items():
        if customer % 10 < (1 if arm == "holdout" else 3):
            orders.append({"source": "taobao", "order_id": f"in{customer}",
                           "customer_id": customer, "status": "completed",
                           "created_at": start + timedelta(days=2),
                           "paid_amount": Decimal("120"), "refund_amount": Decimal("20")})
    for customer in (4, 5, 6):  # outside the window, refunded, and before the campaign
        orders.append({"source": "taobao", "order_id": f"late{customer}",
                       "customer_id": customer, "status": "completed",
                       "created_at": start + timedelta(days=7, seconds=1),
                       "paid_amount": Decimal("999")})
    orders.append({"source": "taobao", "order_id": "refunded", "customer_id": 7,
                   "status": "refunded", "created_at": start + timedelta(days=1),
                   "paid_amount": Decimal("999"), "refund_amount": Decimal("999")})
    orders.append({"source": "taobao", "order_id": "before", "customer_id": 8,
                   "status": "completed", "created_at": start - timedelta(hours=1),
                   "paid_amount": Decimal("999")})
    write_facts(context, "orders", orders)
    # opens and clicks for a few treated customers
    treated = sorted(c for c, a in arms.items() if a != "holdout")
    with context.sessions.begin() as session:
        for customer in treated[:40]:
            record_open(session, delivery_id=ids[customer], now=start)
        for customer in treated[:10] + treated[100:105]:
            record_click(session, delivery_id=ids[customer], now=start)
        # a customer merged since the launch: the warehouse maps their orders to the
        # survivor (through their identity), the report follows them there
        merged = session.get(Customer, 600)
        assert merged is not None
        merged.status, merged.merged_into = "merged", 599
        session.add(SourceIdentity(id=600, source="taobao", external_id="buyer-600",
                                   customer_id=599, updated_at=start))
    report = campaign_report(context, campaign_id=campaign_id,
                             now=start + timedelta(days=3))
    assert report.window_open
    expected: dict[str, list[int]] = {"treated": [], "holdout": []}
    for customer, arm in arms.items():
        group = "holdout" if arm == "holdout" else "treated"
        expected[group].append(1 if customer % 10 < (1 if group == "holdout" else 3) else 0)
    treated_arm, holdout_arm = report.arm("treated"), report.arm("holdout")
    assert treated_arm is not None and holdout_arm is not None
    assert treated_arm.customers == len(expected["treated"])
    assert treated_arm.converted == sum(expected["treated"])
    assert holdout_arm.converted == sum(expected["holdout"])
    assert treated_arm.revenue == Decimal(100 * sum(expected["treated"]))
    variants = [a for a in report.arms if a.name in ("A", "B")]
    assert sum(a.customers for a in variants) == treated_arm.customers
    assert sum(a.converted for a in variants) == treated_arm.converted
    # the numbers are exactly the lift module's on the same outcomes
    def arm_of(name: str, outcomes: list[int]) -> Arm:
        return Arm(name, len(outcomes), sum(outcomes),
                   Sample.from_values(100 * o for o in outcomes))

    cost = Decimal("0.05") * treated_arm.sent
    reference = lift_report(arm_of("t", expected["treated"]), arm_of("h", expected["holdout"]),
                            cost=cost)
    lift = report.overall
    assert lift is not None
    assert lift.conversion.absolute == pytest.approx(reference.conversion.absolute)
    assert lift.conversion.ci.low == pytest.approx(reference.conversion.ci.low)
    assert lift.revenue_per_customer.ci.high == pytest.approx(
        reference.revenue_per_customer.ci.high)
    assert lift.roi == pytest.approx(reference.roi)
    assert lift.conversion.significant and lift.verdict.startswith("conversion: significant")
    assert report.cost.messages == cost and report.cost.offers == 0
    funnel = {step.name: step.count for step in report.funnel}
    assert funnel["sent"] == treated_arm.customers
    assert funnel["delivered"] == 0  # SMS counts as delivered only once a receipt says so
    assert funnel["opened"] == 45 and funnel["clicked"] == 15
    data = report_json(report)
    assert data["arms"][0]["lift"]["conversion"]["verdict"] == "significant"
    assert data["counts"]["audience"] == 599


def test_a_draft_has_no_report(context: AppContext) -> None:
    from shopcrm.accounts import audit
    from shopcrm.campaigns import service

    add_people(context, range(1, 5))
    with context.sessions.begin() as session:
        draft = service.create_campaign(session, spec=sms_plan([1, 2, 3, 4]),
                                        actor=audit.SYSTEM, now=context.clock.now())
    with pytest.raises(CampaignError, match="draft"):
        campaign_report(context, campaign_id=draft.id)


def test_no_effect_is_reported_as_not_significant(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    people = add_people(context, range(1, 201))
    start = context.clock.now()
    campaign_id = launch(context, sms_plan(people, experiment={"holdout_share": 0.5}))
    with sink_channels(sink_path) as channels:
        dispatcher(context, settings_for(context), channels).run()
    with context.sessions() as session:
        arms = dict(session.execute(select(Delivery.customer_id, Delivery.arm).where(
            Delivery.campaign_id == campaign_id)).all())
    # every fifth customer of each group buys: the same rate with and without the message
    buyers = [c for group in ("holdout", "A|B") for n, c in enumerate(sorted(
        c for c, a in arms.items() if (a == "holdout") == (group == "holdout"))) if n % 5 == 0]
    write_facts(context, "orders", [
        {"source": "taobao", "order_id": f"o{c}", "customer_id": c, "status": "paid",
         "created_at": start + timedelta(days=1), "paid_amount": Decimal("50")}
        for c in buyers])
    report = campaign_report(context, campaign_id=campaign_id, now=start + timedelta(days=30))
    assert not report.window_open
    lift = report.overall
    assert lift is not None and not lift.conversion.significant
    assert lift.verdict == "conversion: not significant; revenue per customer: not significant"
