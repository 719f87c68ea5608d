"""What a campaign did: the funnel, conversions and revenue against the holdout, lift
with 95% intervals, cost, incremental revenue and ROI — per campaign and per variant.

Attribution: a customer *converted* when they made a purchase within the attribution
window (default 7 days) from their step's scheduled time — the same start for treated
and held-out customers, so the two groups are compared over the same days. Orders come
from the warehouse through Ibis (current versions, mapped to today's customers: a
customer merged since the launch is followed to the survivor). Revenue is net of
refunds.

Comparisons are *intent to treat*: every customer assigned to a variant counts in it,
whether or not the message could be sent (no consent, suppressed, failed) — that is
what keeps the treated group as random as the holdout. The funnel (sent → delivered →
opened → clicked → converted) counts messages and the conversions of those who got one.
Statistics are :mod:`shopcrm.campaigns.lift`'s (Newcombe interval for rates, Welch for
revenue per customer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.campaigns import CampaignError
from shopcrm.campaigns.lift import (
    NOT_SIGNIFICANT,
    Arm,
    FunnelStep,
    Interval,
    LiftReport,
    Sample,
    funnel,
    lift_report,
)
from shopcrm.campaigns.models import Campaign, CouponCode, CouponPool, Delivery
from shopcrm.campaigns.rules import HOLDOUT
from shopcrm.campaigns.service import counts, get_campaign
from shopcrm.campaigns.states import ACCEPTED, Counts, DeliveryStatus
from shopcrm.segments.features import PURCHASE_STATUSES
from shopcrm.store.models import Customer

if TYPE_CHECKING:
    from shopcrm.context import AppContext

TREATED = "treated"
RECEIPT_CHANNELS = frozenset({"sms"})
"""Channels whose providers report delivery; elsewhere accepted counts as delivered."""


@dataclass
class ArmResult:
    """One arm: a variant, all treated customers together, or the holdout."""

    name: str
    customers: int = 0
    converted: int = 0
    revenue: Decimal = Decimal("0")
    revenue_squares: float = 0.0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted_after_message: int = 0
    coupon_redemptions: int = 0
    cost: Decimal = Decimal("0")
    lift: LiftReport | None = None

    @property
    def conversion_rate(self) -> float:
        return self.converted / self.customers if self.customers else 0.0

    @property
    def revenue_per_customer(self) -> float:
        return float(self.revenue) / self.customers if self.customers else 0.0

    def arm(self) -> Arm | None:
        """The lift module's arm, when there are enough customers to compare."""
        if self.customers < 2:
            return None
        return Arm(self.name, self.customers, self.converted,
                   Sample.from_sums(self.customers, self.revenue, self.revenue_squares))

    def funnel(self) -> list[FunnelStep]:
        return funnel([("sent", self.sent), ("delivered", self.delivered),
                       ("opened", self.opened), ("clicked", self.clicked),
                       ("converted", self.converted_after_message)])


@dataclass(frozen=True)
class Cost:
    messages: Decimal
    offers: Decimal

    @property
    def total(self) -> Decimal:
        return self.messages + self.offers


@dataclass
class CampaignReport:
    campaign_id: int
    name: str
    status: str
    channel: str
    attribution_days: int
    window_ends: datetime | None
    window_open: bool
    counts: Counts
    arms: list[ArmResult]
    """All treated customers first, then each variant, then the holdout."""
    cost: Cost
    funnel: list[FunnelStep] = field(default_factory=list)

    def arm(self, name: str) -> ArmResult | None:
        return next((a for a in self.arms if a.name == name), None)

    @property
    def overall(self) -> LiftReport | None:
        treated = self.arm(TREATED)
        return treated.lift if treated else None


def _current_ids(session: Session, campaign_id: int) -> dict[int, int]:
    """Audience customer → today's customer, for those merged since (chains followed)."""
    merged = dict(session.execute(select(Customer.id, Customer.merged_into).where(
        Customer.status == "merged", Customer.merged_into.is_not(None),
        Customer.id.in_(select(Delivery.customer_id).where(
            Delivery.campaign_id == campaign_id)))).all())
    if not merged:
        return {}
    every = dict(session.execute(select(Customer.id, Customer.merged_into).where(
        Customer.status == "merged", Customer.merged_into.is_not(None))).all())
    result = {}
    for start in merged:
        target = start
        for _ in range(8):
            following = every.get(target)
            if following is None:
                break
            target = int(following)
        result[int(start)] = target
    return result


def _outcomes(context: AppContext, people: pa.Table, *, window: timedelta
              ) -> dict[int, tuple[int, Decimal, float]]:
    """Per customer with a purchase in their window: (orders, net revenue, revenue²),
    computed in the warehouse."""
    if people.num_rows == 0:
        return {}
    warehouse = context.warehouse
    orders = warehouse.table("orders")
    bought = orders.filter(orders.status.isin(PURCHASE_STATUSES), orders.customer_id.notnull())
    who = ibis.memtable(people)
    joined = bought.join(who, "customer_id")
    joined = joined.filter(joined.created_at >= joined.start,
                           joined.created_at < joined.start + ibis.interval(
                               seconds=int(window.total_seconds())))
    net = (joined.paid_amount.fill_null(0) - joined.refund_amount.fill_null(0))
    per_customer = joined.mutate(net=net).group_by("customer_id").aggregate(
        orders=lambda t: t.count(), revenue=lambda t: t.net.sum())
    result = {}
    for row in warehouse.execute(per_customer).to_pylist():
        revenue = Decimal(str(row["revenue"] or 0))
        result[int(row["customer_id"])] = (int(row["orders"]), revenue, float(revenue) ** 2)
    return result


def _redeemed_codes(context: AppContext, codes: list[str], *, start: datetime,
                    end: datetime) -> dict[str, int]:
    if not codes:
        return {}
    orders = context.warehouse.table("orders")
    wanted = ibis.memtable(pa.table({"code": pa.array(codes, pa.string())}))
    used = orders.filter(orders.status.isin(PURCHASE_STATUSES), orders.promo_type.notnull(),
                         orders.created_at >= start, orders.created_at < end)
    used = used.mutate(code=used.promo_type.strip().upper()).join(wanted, "code")
    counted = used.group_by("code").aggregate(n=lambda t: t.count())
    return {r["code"]: int(r["n"]) for r in context.warehouse.execute(counted).to_pylist()}


def _points_cost(session: Session, campaign_id: int) -> dict[int, Decimal]:
    """Money value of the points each customer was granted by the campaign."""
    from shopcrm.loyalty.models import LedgerEntry

    found: dict[int, Decimal] = {}
    for customer, value in session.execute(
            select(LedgerEntry.customer_id, func.sum(LedgerEntry.value)).where(
                LedgerEntry.idempotency_key.like(f"campaign:{campaign_id}:%"))
            .group_by(LedgerEntry.customer_id)):
        found[int(customer)] = Decimal(str(value or 0))
    return found


def campaign_report(context: AppContext, *, campaign_id: int,
                    now: datetime | None = None, confidence: float = 0.95) -> CampaignReport:
    now = now or context.clock.now()
    with context.sessions() as session:
        campaign = get_campaign(session, campaign_id)
        if campaign.status == "draft":
            raise CampaignError("a draft has not been sent: nothing to report yet")
        current = counts(session, campaign_id=campaign_id, now=now)
        rows = session.execute(select(
            Delivery.customer_id, Delivery.arm, Delivery.planned_at, Delivery.status,
            Delivery.opened_at, Delivery.clicked_at, Delivery.coupon_code, Delivery.segments)
            .where(Delivery.campaign_id == campaign_id)).all()
        mapping = _current_ids(session, campaign_id)
        points = _points_cost(session, campaign_id)
        pool = None
        offer = campaign.offer or {}
        if offer.get("kind") == "coupon" and offer.get("pool_id"):
            pool = session.get(CouponPool, int(offer["pool_id"]))
        if pool is None:
            codes_of_campaign: list[str] = []
        else:
            codes_of_campaign = list(session.scalars(select(CouponCode.code).where(
                CouponCode.campaign_id == campaign_id)))
        return _build(context, campaign, current, rows, mapping, points, pool,
                      codes_of_campaign, now=now, confidence=confidence)


def _build(context: AppContext, campaign: Campaign, current: Counts, rows: Iterable[Any],
           mapping: dict[int, int], points: dict[int, Decimal], pool: CouponPool | None,
           codes: list[str], *, now: datetime, confidence: float) -> CampaignReport:
    window = timedelta(days=campaign.attribution_days)
    price = campaign.cost_per_message
    gift_cost = Decimal(str((campaign.offer or {}).get("gift_cost") or "0")) \
        if (campaign.offer or {}).get("kind") == "gift" else Decimal("0")
    accepted = {s.value for s in ACCEPTED}
    receipts = campaign.channel in RECEIPT_CHANNELS
    deliveries = list(rows)
    seen: set[int] = set()
    people_ids: list[int] = []
    people_start: list[datetime] = []
    for row in deliveries:
        person = mapping.get(row.customer_id, row.customer_id)
        if person in seen:
            continue
        seen.add(person)
        people_ids.append(person)
        people_start.append(row.planned_at)
    table = pa.table({"customer_id": pa.array(people_ids, pa.int64()),
                      "start": pa.array(people_start, pa.timestamp("us", tz="UTC"))})
    outcomes = _outcomes(context, table, window=window)
    starts = [r.planned_at for r in deliveries]
    window_ends = max(starts) + window if starts else None
    redeemed = _redeemed_codes(context, codes, start=min(starts), end=window_ends) \
        if codes and starts and window_ends else {}
    arms: dict[str, ArmResult] = {TREATED: ArmResult(TREATED), HOLDOUT: ArmResult(HOLDOUT)}
    counted: set[int] = set()
    for row in deliveries:
        person = mapping.get(row.customer_id, row.customer_id)
        targets = [arms[HOLDOUT]] if row.arm == HOLDOUT else [
            arms[TREATED], arms.setdefault(row.arm, ArmResult(row.arm))]
        outcome = outcomes.get(person) if person not in counted else None
        counted.add(person)
        sent = row.status in accepted
        for arm in targets:
            arm.customers += 1
            if outcome is not None:
                arm.converted += 1
                arm.revenue += outcome[1]
                arm.revenue_squares += outcome[2]
            if not sent:
                continue
            arm.sent += 1
            arm.delivered += 1 if (row.status == DeliveryStatus.DELIVERED or not receipts) \
                else 0
            arm.opened += row.opened_at is not None or row.clicked_at is not None
            arm.clicked += row.clicked_at is not None
            arm.converted_after_message += outcome is not None
            arm.cost += price * (row.segments or 1) + gift_cost
            arm.cost += points.get(row.customer_id, Decimal("0"))
            if row.coupon_code and pool is not None and redeemed.get(row.coupon_code):
                uses = redeemed[row.coupon_code]
                arm.coupon_redemptions += uses
                arm.cost += pool.cost_per_redemption * uses
    holdout = arms[HOLDOUT]
    control = holdout.arm()
    for arm in arms.values():
        if arm is holdout:
            continue
        treated = arm.arm()
        if treated is not None and control is not None:
            arm.lift = lift_report(treated, control, cost=arm.cost if arm.cost > 0 else None,
                                   confidence=confidence)
    messages = sum((price * (r.segments or 1) for r in deliveries if r.status in accepted),
                   Decimal("0"))
    offers = arms[TREATED].cost - messages
    variants = sorted(a for a in arms if a not in (TREATED, HOLDOUT))
    ordered = [arms[TREATED], *(arms[v] for v in variants), holdout]
    return CampaignReport(
        campaign_id=campaign.id, name=campaign.name, status=campaign.status,
        channel=campaign.channel, attribution_days=campaign.attribution_days,
        window_ends=window_ends, window_open=bool(window_ends and now < window_ends),
        counts=current, arms=ordered, cost=Cost(messages, offers),
        funnel=arms[TREATED].funnel())


def _interval(value: Interval | None) -> list[float] | None:
    return None if value is None else [value.low, value.high]


def _lift_json(lift: LiftReport | None) -> dict[str, Any] | None:
    if lift is None:
        return None
    c, r = lift.conversion, lift.revenue_per_customer
    return {
        "conversion": {"treated_rate": c.treated_rate, "control_rate": c.control_rate,
                       "absolute": c.absolute, "ci": _interval(c.ci),
                       "relative": c.relative, "relative_ci": _interval(c.relative_ci),
                       "p_value": c.p_value, "verdict": c.verdict},
        "revenue_per_customer": {"treated_mean": r.treated_mean, "control_mean": r.control_mean,
                                 "absolute": r.absolute, "ci": _interval(r.ci),
                                 "relative": r.relative, "relative_ci": _interval(r.relative_ci),
                                 "p_value": r.p_value, "verdict": r.verdict},
        "incremental_revenue": lift.incremental_revenue,
        "incremental_revenue_ci": _interval(lift.incremental_revenue_ci),
        "cost": None if lift.cost is None else str(lift.cost),
        "roi": lift.roi, "roi_ci": _interval(lift.roi_ci),
        "verdict": lift.verdict,
        "significant": lift.conversion.significant or lift.revenue_per_customer.significant,
        "confidence": c.confidence,
    }


def report_json(report: CampaignReport) -> dict[str, Any]:
    """The report as JSON-able data (API, CLI ``--json``, the page's charts)."""
    return {
        "campaign_id": report.campaign_id, "name": report.name, "status": report.status,
        "channel": report.channel, "attribution_days": report.attribution_days,
        "window_ends": report.window_ends.isoformat() if report.window_ends else None,
        "window_open": report.window_open,
        "counts": report.counts.as_dict(),
        "cost": {"messages": str(report.cost.messages), "offers": str(report.cost.offers),
                 "total": str(report.cost.total)},
        "funnel": [{"step": s.name, "count": s.count, "of_previous": s.of_previous,
                    "of_first": s.of_first} for s in report.funnel],
        "arms": [{"name": a.name, "customers": a.customers, "converted": a.converted,
                  "conversion_rate": a.conversion_rate, "revenue": str(a.revenue),
                  "revenue_per_customer": a.revenue_per_customer, "sent": a.sent,
                  "delivered": a.delivered, "opened": a.opened, "clicked": a.clicked,
                  "converted_after_message": a.converted_after_message,
                  "coupon_redemptions": a.coupon_redemptions, "cost": str(a.cost),
                  "lift": _lift_json(a.lift)} for a in report.arms],
        "verdict": report.overall.verdict if report.overall else NOT_SIGNIFICANT,
    }
