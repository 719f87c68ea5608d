"""The tier ladder in use: metrics, scheduled evaluation, history, birthday bonuses.

Metrics come from the warehouse (rolling 12-month spend and order count of completed
orders, value-rank share by spend) and from the ledger (points earned in 12 months).
The decision per customer is the pure :func:`~shopcrm.loyalty.rules.review_tier`:
upgrade now, downgrade only at a period end after the grace period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import ibis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.loyalty import BudgetExhausted, LoyaltyError
from shopcrm.loyalty.ledger import get_config, grant_bonus, lock_account
from shopcrm.loyalty.models import BonusRule, LedgerEntry, LoyaltyAccount, TierChange
from shopcrm.loyalty.rules import (
    BonusKind,
    EntryKind,
    ProgramConfig,
    TierDef,
    TierMetrics,
    birthday_due,
    qualifying_tier,
    rank_shares,
    review_tier,
)
from shopcrm.store.models import Customer
from shopcrm.warehouse.engine import Warehouse

WINDOW = timedelta(days=365)


def spend_by_customer(warehouse: Warehouse, *, now: datetime,
                      customer_id: int | None = None) -> dict[int, tuple[Decimal, int]]:
    """Rolling 12-month net spend and count of completed orders per customer."""
    orders = warehouse.table("orders")
    window = orders.filter(
        orders.status == "completed", orders.customer_id.notnull(),
        orders.completed_at > ibis.literal(now - WINDOW),
        orders.completed_at <= ibis.literal(now))
    if customer_id is not None:
        window = window.filter(window.customer_id == customer_id)
    grouped = window.group_by("customer_id").aggregate(
        spend=(window.paid_amount.fill_null(0) - window.refund_amount.fill_null(0)).sum(),
        orders=window.count())
    table = warehouse.execute(grouped)
    return {int(c): (Decimal(str(s or 0)), int(n)) for c, s, n in zip(
        table.column("customer_id").to_pylist(), table.column("spend").to_pylist(),
        table.column("orders").to_pylist(), strict=True)}


def points_by_customer(session: Session, *, now: datetime,
                       customer_id: int | None = None) -> dict[int, int]:
    """Points earned (orders and bonuses) in the last 12 months per customer."""
    query = (select(LedgerEntry.customer_id, func.sum(LedgerEntry.points))
             .where(LedgerEntry.kind.in_([EntryKind.EARN.value, EntryKind.BONUS.value]),
                    LedgerEntry.at > now - WINDOW, LedgerEntry.at <= now)
             .group_by(LedgerEntry.customer_id))
    if customer_id is not None:
        query = query.where(LedgerEntry.customer_id == customer_id)
    rows = session.execute(query)
    return {int(c): int(p) for c, p in rows}


def customer_metrics(session: Session, *, warehouse: Warehouse,
                     now: datetime) -> dict[int, TierMetrics]:
    """Every active customer's tier metrics as of ``now``."""
    spend = spend_by_customer(warehouse, now=now)
    points = points_by_customer(session, now=now)
    shares = rank_shares({c: s for c, (s, _) in spend.items()})
    return {c: TierMetrics(spend=spend.get(c, (Decimal("0"), 0))[0],
                           orders=spend.get(c, (Decimal("0"), 0))[1],
                           points=points.get(c, 0), rank_share=shares.get(c))
            for c in set(spend) | set(points)}


_COUNTERS = {"join": "joined", "upgrade": "upgraded", "downgrade": "downgraded"}


def metrics_of(session: Session, *, warehouse: Warehouse, customer_id: int,
               now: datetime) -> TierMetrics:
    """One customer's metrics (for the member card). The value-rank share needs every
    customer, so it is left out here; the scheduled evaluation computes it."""
    spend, orders = spend_by_customer(warehouse, now=now, customer_id=customer_id).get(
        customer_id, (Decimal("0"), 0))
    points = points_by_customer(session, now=now, customer_id=customer_id).get(customer_id, 0)
    return TierMetrics(spend=spend, orders=orders, points=points)


@dataclass
class TierRun:
    evaluated: int = 0
    joined: int = 0
    upgraded: int = 0
    downgraded: int = 0
    changes: list[tuple[int, str | None, str]] = field(default_factory=list)


def _change(session: Session, account: LoyaltyAccount, *, tier: str, reason: str,
            now: datetime, actor: audit.Actor) -> None:
    session.add(TierChange(customer_id=account.customer_id, from_tier=account.tier,
                           to_tier=tier, reason=reason, at=now, actor=actor.label[:100]))
    account.tier, account.tier_since, account.updated_at = tier, now, now


def evaluate_tiers(session: Session, *, metrics: dict[int, TierMetrics], now: datetime,
                   customer_ids: Iterable[int] | None = None,
                   actor: audit.Actor = audit.SYSTEM) -> TierRun:
    """Review every member (and every customer with metrics): the scheduled job.

    Customers without metrics now (no orders in 12 months) are reviewed with zeros, so
    they move down at the next period end after the grace period.
    """
    config = get_config(session)
    if customer_ids is None:
        members = set(session.scalars(select(LoyaltyAccount.customer_id)))
        known = set(session.scalars(select(Customer.id).where(
            Customer.id.in_(list(metrics)))) if metrics else [])
        customer_ids = sorted(members | known)
    run = TierRun()
    for customer_id in customer_ids:
        account = lock_account(session, customer_id=customer_id, now=now)
        qualified = qualifying_tier(config, metrics.get(customer_id, TierMetrics()))
        decision = review_tier(config, current=account.tier, since=account.tier_since,
                               reviewed_period=account.reviewed_period, qualified=qualified,
                               now=now)
        run.evaluated += 1
        account.reviewed_period = decision.reviewed_period
        if decision.changed:
            run.changes.append((customer_id, account.tier, decision.tier))
            counter = _COUNTERS[decision.reason]
            setattr(run, counter, getattr(run, counter) + 1)
            _change(session, account, tier=decision.tier, reason=decision.reason, now=now,
                    actor=actor)
    return run


def set_tier(session: Session, *, customer_id: int, tier: str, reason: str, now: datetime,
             actor: audit.Actor) -> LoyaltyAccount:
    """A manual tier change (audited); the next review treats it like any other tier."""
    config = get_config(session)
    if tier not in {t.code for t in config.tiers}:
        raise LoyaltyError(f"no tier {tier!r}")
    if not reason.strip():
        raise LoyaltyError("a reason is mandatory")
    account = lock_account(session, customer_id=customer_id, now=now)
    if account.tier != tier:
        _change(session, account, tier=tier, reason="manual", now=now, actor=actor)
        audit.record(session, actor, "loyalty.tier", at=now, target_type="customer",
                     target_id=str(customer_id), details={"tier": tier, "reason": reason})
    return account


def tier_history(session: Session, *, customer_id: int) -> list[TierChange]:
    return list(session.scalars(select(TierChange).where(TierChange.customer_id == customer_id)
                                .order_by(TierChange.at, TierChange.id)))


@dataclass(frozen=True)
class Progress:
    """How far a customer is from the next tier (one line per threshold)."""

    current: TierDef
    next: TierDef | None
    needs: dict[str, str]
    """threshold → what is missing, e.g. {"spend": "1200.00", "orders": "2"}."""


def progress(config: ProgramConfig, *, tier: str | None, metrics: TierMetrics) -> Progress:
    current = config.tier(tier)
    index = config.rank(tier)
    upper = config.tiers[index + 1] if index + 1 < len(config.tiers) else None
    needs: dict[str, str] = {}
    if upper is not None:
        if upper.min_spend is not None and metrics.spend < upper.min_spend:
            needs["spend"] = str((upper.min_spend - metrics.spend).quantize(Decimal("0.01")))
        if upper.min_points is not None and metrics.points < upper.min_points:
            needs["points"] = str(upper.min_points - metrics.points)
        if upper.min_orders is not None and metrics.orders < upper.min_orders:
            needs["orders"] = str(upper.min_orders - metrics.orders)
        if upper.top_share is not None and (metrics.rank_share is None
                                            or metrics.rank_share > upper.top_share):
            needs["rank"] = f"top {upper.top_share * 100:.0f}%"
    return Progress(current, upper, needs)


def grant_birthday_bonuses(session: Session, *, now: datetime, rule_code: str = "birthday",
                           actor: audit.Actor = audit.SYSTEM) -> int:
    """Birthday-month points for every member whose birthday month it is, once a year.

    Points: the tier's ``birthday_points`` when set, else the rule's; the rule's budget
    applies (members beyond it get nothing this year and are counted by the caller).
    """
    rule = session.get(BonusRule, rule_code)
    if rule is None or not rule.active or rule.kind != BonusKind.BIRTHDAY.value:
        return 0
    config = get_config(session)
    rows = session.execute(select(Customer.id, Customer.birthday, LoyaltyAccount.tier).join(
        LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id).where(
        Customer.birthday.is_not(None)).order_by(Customer.id)).all()
    granted = 0
    for customer_id, birthday, tier in rows:
        if not birthday_due(birthday, now):
            continue
        points = config.tier(tier).benefits.birthday_points or rule.points
        if points <= 0:
            continue
        key = f"birthday:{now.year}:{customer_id}"
        try:
            movement = grant_bonus(session, customer_id=customer_id, rule_code=rule_code,
                                   key=key, now=now, points=points, actor=actor,
                                   reason=f"birthday {now.year}")
        except BudgetExhausted:
            break
        granted += 0 if movement.replayed else 1
    return granted
