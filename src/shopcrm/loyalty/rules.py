"""Pure loyalty rules: no I/O, time is always passed in as ``now``.

Points are whole numbers; money is ``Decimal``. Every function here is a function of its
inputs, so the ledger service, the batch earner and the property tests' reference model
agree by construction on what an order earns, when a lot expires, which lots a spend
consumes and how far a refund reverses.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_POINTS = 10**12
"""No single movement is larger (guards against overflow and typos)."""
MAX_REASON = 500
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._@/+=-]{0,199}$"
"""Idempotency keys: printable, no spaces, at most 200 characters."""


class EntryKind(StrEnum):
    EARN = "earn"          # an order's points
    BONUS = "bonus"        # a bonus rule's points (first purchase, birthday, review …)
    IMPORT = "import"      # opening balance from another system
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"    # refund or cancellation of an order that earned
    ADJUST = "adjust"      # manual, with a reason, audited
    SETTLE = "settle"      # zero points: realigns lots with the balance after a merge


CREDIT_KINDS = frozenset({EntryKind.EARN, EntryKind.BONUS, EntryKind.IMPORT})


class BonusKind(StrEnum):
    ORDER = "order"
    FIRST_PURCHASE = "first_purchase"
    BIRTHDAY = "birthday"
    REVIEW = "review"
    CHECKIN = "checkin"
    CAMPAIGN = "campaign"


class ReversalPolicy(StrEnum):
    DEBT = "debt"
    """Reverse in full; points already spent become a debt (negative balance) that later
    earnings pay off first."""
    CAP = "cap"
    """Reverse only what the balance still holds; the rest is written off (reported)."""


class ExpiryPolicy(BaseModel):
    """When points earned at a moment expire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["never", "end_of_next_year", "months_after"] = "end_of_next_year"
    months: int = Field(default=12, ge=1, le=120)


class Benefits(BaseModel):
    """What a tier gives (an API answers these to a checkout or a service desk)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    free_shipping: bool = False
    express_shipping: bool = False
    return_window_days: int = Field(default=7, ge=0, le=365)
    service_level: Literal["standard", "priority", "dedicated"] = "standard"
    discount_percent: Decimal = Field(default=Decimal("0"), ge=0, le=50, decimal_places=2)
    points_multiplier: Decimal = Field(default=Decimal("1"), ge=0, le=10, decimal_places=2)
    birthday_gift: str | None = Field(default=None, max_length=200)
    birthday_points: int = Field(default=0, ge=0, le=1_000_000)


class TierDef(BaseModel):
    """One rung of the ladder. A customer qualifies when they meet any (``match='any'``)
    or all (``'all'``) of the thresholds that are set; the lowest tier has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1, max_length=64)
    min_spend: Decimal | None = Field(default=None, ge=0, description="rolling 12-month spend")
    min_points: int | None = Field(default=None, ge=0, description="points earned, 12 months")
    min_orders: int | None = Field(default=None, ge=0, description="orders, 12 months")
    top_share: Decimal | None = Field(default=None, gt=0, le=1,
                                      description="value-rank share, e.g. 0.10 = top 10%")
    match: Literal["any", "all"] = "any"
    benefits: Benefits = Field(default_factory=Benefits)

    @property
    def thresholds(self) -> int:
        return sum(v is not None for v in (self.min_spend, self.min_points, self.min_orders,
                                           self.top_share))


def _default_ladder() -> list[TierDef]:
    return [
        TierDef(code="member", name="普通会员"),
        TierDef(code="senior", name="高级会员", min_spend=Decimal("1000"), min_orders=5,
                benefits=Benefits(return_window_days=15, points_multiplier=Decimal("1.2"),
                                  birthday_points=100)),
        TierDef(code="vip", name="VIP", min_spend=Decimal("5000"), top_share=Decimal("0.25"),
                benefits=Benefits(free_shipping=True, return_window_days=30,
                                  service_level="priority", discount_percent=Decimal("5"),
                                  points_multiplier=Decimal("1.5"), birthday_points=300,
                                  birthday_gift="生日礼盒")),
        TierDef(code="svip", name="至尊VIP", min_spend=Decimal("20000"),
                top_share=Decimal("0.10"),
                benefits=Benefits(free_shipping=True, express_shipping=True,
                                  return_window_days=60, service_level="dedicated",
                                  discount_percent=Decimal("10"),
                                  points_multiplier=Decimal("2"), birthday_points=800,
                                  birthday_gift="生日礼盒 + 专属礼品")),
    ]


class ProgramConfig(BaseModel):
    """The shop's loyalty programme: stored as JSON, validated on every change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points_per_yuan: Decimal = Field(default=Decimal("1"), ge=0, le=1000)
    expiry: ExpiryPolicy = Field(default_factory=ExpiryPolicy)
    reversal: ReversalPolicy = ReversalPolicy.DEBT
    notify_days_before: int = Field(default=30, ge=0, le=366)
    tiers: list[TierDef] = Field(default_factory=_default_ladder, min_length=1, max_length=20)
    period_start_month: int = Field(default=1, ge=1, le=12,
                                    description="tier periods start on day 1 of this month")
    grace_days: int = Field(default=30, ge=0, le=366)

    @model_validator(mode="after")
    def _ladder(self) -> ProgramConfig:
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        if self.tiers[0].thresholds:
            raise ValueError("the lowest tier takes everyone: it has no thresholds")
        return self

    def tier(self, code: str | None) -> TierDef:
        for t in self.tiers:
            if t.code == code:
                return t
        return self.tiers[0]

    def rank(self, code: str | None) -> int:
        for i, t in enumerate(self.tiers):
            if t.code == code:
                return i
        return 0


# --- expiry ---------------------------------------------------------------------------

def add_months(moment: datetime, months: int) -> datetime:
    """Same day-of-month ``months`` later (clamped to the month's last day)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expires_at(policy: ExpiryPolicy, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` stop being spendable (exclusive), in UTC.

    ``end_of_next_year``: points of 2026 live until the end of 2027 (2028-01-01 00:00).
    """
    earned_at = earned_at.astimezone(UTC)
    if policy.kind == "never":
        return None
    if policy.kind == "end_of_next_year":
        return datetime(earned_at.year + 2, 1, 1, tzinfo=UTC)
    return add_months(earned_at, policy.months)


def is_expired(expiry: datetime | None, now: datetime) -> bool:
    return expiry is not None and expiry <= now


@dataclass(frozen=True)
class LotView:
    """A lot as the rules see it."""

    id: int
    remaining: int
    expires_at: datetime | None
    earned_at: datetime


def fifo_order(lots: Iterable[LotView]) -> list[LotView]:
    """Oldest-expiring first; lots that never expire last; ties by earning time and ID."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(lots, key=lambda lot: (lot.expires_at or far, lot.earned_at, lot.id))


def spendable(lots: Iterable[LotView], now: datetime) -> int:
    return sum(lot.remaining for lot in lots
               if lot.remaining > 0 and not is_expired(lot.expires_at, now))


def consume_fifo(lots: Sequence[LotView], amount: int, now: datetime) -> list[tuple[int, int]]:
    """Which lots pay for ``amount`` points: ``[(lot_id, points)]``, oldest-expiring first.

    Expired lots are never spent (even if the expiry job has not run yet). Raises
    ``ValueError`` when the spendable points do not cover ``amount``.
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    taken: list[tuple[int, int]] = []
    left = amount
    for lot in fifo_order(lot for lot in lots
                          if lot.remaining > 0 and not is_expired(lot.expires_at, now)):
        if left == 0:
            break
        take = min(left, lot.remaining)
        taken.append((lot.id, take))
        left -= take
    if left:
        raise ValueError(f"only {amount - left} of {amount} points are spendable")
    return taken


def due_for_notice(lots: Iterable[LotView], *, now: datetime, days: int) -> list[LotView]:
    """Lots with points that expire within ``days`` from ``now`` (not yet expired)."""
    horizon = now + timedelta(days=days)
    return [lot for lot in lots if lot.remaining > 0 and lot.expires_at is not None
            and now < lot.expires_at <= horizon]


# --- earning and reversal ----------------------------------------------------------------

def net_paid(paid: Decimal | None, refunded: Decimal | None) -> Decimal:
    """What the customer finally paid: paid minus refunds, never below zero."""
    return max(Decimal("0"), (paid or Decimal("0")) - (refunded or Decimal("0")))


def order_points(net: Decimal, *, points_per_yuan: Decimal, multiplier: Decimal) -> int:
    """Points for an order: net paid × rate × tier multiplier, rounded down."""
    if net <= 0:
        return 0
    return int((net * points_per_yuan * multiplier).to_integral_value(rounding=ROUND_FLOOR))


def reversal_target(earned: int, *, paid: Decimal, refunded: Decimal) -> int:
    """How many of an order's ``earned`` points a refund of ``refunded`` takes back in total
    (proportional, half up; a full refund or cancellation takes everything)."""
    if earned <= 0 or refunded <= 0:
        return 0
    if paid <= 0 or refunded >= paid:
        return earned
    share = Decimal(earned) * refunded / paid
    return min(earned, int(share.to_integral_value(rounding=ROUND_HALF_UP)))


def points_cost(points: int, cost_per_point: Decimal) -> Decimal:
    return (Decimal(points) * cost_per_point).quantize(Decimal("0.0001"))


def budget_allows(*, issued_points: int, points: int, cost_per_point: Decimal,
                  budget: Decimal | None) -> bool:
    """Whether a rule's budget (money) still pays for ``points`` more points."""
    if budget is None:
        return True
    return points_cost(issued_points + points, cost_per_point) <= budget


# --- tiers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TierMetrics:
    """A customer's rolling 12-month figures and value-rank share (0.07 = top 7%)."""

    spend: Decimal = Decimal("0")
    points: int = 0
    orders: int = 0
    rank_share: Decimal | None = None


def qualifies(tier: TierDef, metrics: TierMetrics) -> bool:
    checks: list[bool] = []
    if tier.min_spend is not None:
        checks.append(metrics.spend >= tier.min_spend)
    if tier.min_points is not None:
        checks.append(metrics.points >= tier.min_points)
    if tier.min_orders is not None:
        checks.append(metrics.orders >= tier.min_orders)
    if tier.top_share is not None:
        checks.append(metrics.rank_share is not None and metrics.rank_share <= tier.top_share)
    if not checks:
        return True
    return all(checks) if tier.match == "all" else any(checks)


def qualifying_tier(config: ProgramConfig, metrics: TierMetrics) -> str:
    """The highest tier whose thresholds the metrics meet."""
    best = config.tiers[0].code
    for tier in config.tiers:
        if qualifies(tier, metrics):
            best = tier.code
    return best


def period_start(config: ProgramConfig, moment: datetime) -> datetime:
    """The start of the tier period holding ``moment`` (UTC, day 1 of the start month)."""
    moment = moment.astimezone(UTC)
    year = moment.year if moment.month >= config.period_start_month else moment.year - 1
    return datetime(year, config.period_start_month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TierDecision:
    tier: str
    changed: bool
    reason: str
    reviewed_period: datetime | None
    """The period end whose downgrade review this evaluation performed (or still holds)."""


def review_tier(config: ProgramConfig, *, current: str | None, since: datetime | None,
                reviewed_period: datetime | None, qualified: str,
                now: datetime) -> TierDecision:
    """Upgrade at once; downgrade only at a period end, after the grace period.

    A period ending at ``P`` is reviewed once, at ``P + grace``: a customer who held the
    tier before ``P`` and by then qualifies only for a lower tier moves down to it.
    During the grace period they can still re-qualify. A customer upgraded after ``P``
    keeps the tier at least until the next period end.
    """
    if current is None:
        return TierDecision(qualified, True, "join", reviewed_period)
    if config.rank(qualified) > config.rank(current):
        return TierDecision(qualified, True, "upgrade", reviewed_period)
    boundary = period_start(config, now - timedelta(days=config.grace_days))
    due = (since is not None and since < boundary
           and (reviewed_period is None or reviewed_period < boundary))
    if not due:
        return TierDecision(current, False, "keep", reviewed_period)
    if config.rank(qualified) < config.rank(current):
        return TierDecision(qualified, True, "downgrade", boundary)
    return TierDecision(current, False, "kept at review", boundary)


def rank_shares(values: dict[int, Decimal]) -> dict[int, Decimal]:
    """Value-rank share per customer: the best customer of 10 gets 0.1, the worst 1.0.

    Customers with nothing spent get no share (they are in no top group). Ties share the
    better rank. This stands in for the segments engine's value tiers until it exists.
    """
    ranked = sorted(((v, c) for c, v in values.items() if v > 0), key=lambda x: -x[0])
    total = len(ranked)
    shares: dict[int, Decimal] = {}
    position = 0
    previous: Decimal | None = None
    for index, (value, customer) in enumerate(ranked, start=1):
        if value != previous:
            position = index
            previous = value
        shares[customer] = Decimal(position) / Decimal(total)
    return shares


def birthday_due(birthday: date | None, now: datetime) -> bool:
    """Birthday bonuses are granted in the birthday month."""
    return birthday is not None and birthday.month == now.astimezone(UTC).month
