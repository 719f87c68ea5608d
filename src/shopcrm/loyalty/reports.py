"""Loyalty reports: points issued / redeemed / expired / reversed by month and by rule,
outstanding liability in money, budget consumption per bonus rule.

Every entry carries the money value of its points at their lot's cost per point, so the
liability at the end of a month is the running sum of values up to it; the current
liability is read from the lots themselves (remaining × cost, unexpired).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, select
from sqlalchemy.orm import Session

from shopcrm.loyalty.models import BonusRule, LedgerEntry, LoyaltyAccount, PointLot
from shopcrm.loyalty.rules import CREDIT_KINDS, EntryKind

ZERO = Decimal("0")


def _month(session: Session, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return cast(func.strftime("%Y-%m", column), String)


@dataclass
class MonthRow:
    month: str
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    reversed: int = 0
    adjusted: int = 0
    issued_value: Decimal = ZERO
    redeemed_value: Decimal = ZERO
    expired_value: Decimal = ZERO
    liability: Decimal = ZERO
    """Outstanding points' value at the end of the month (running sum)."""
    outstanding: int = 0


def by_month(session: Session) -> list[MonthRow]:
    """One row per month with movements, oldest first."""
    month = _month(session, LedgerEntry.at)
    positive = case((LedgerEntry.points > 0, 1), else_=0)
    rows = session.execute(
        select(month, LedgerEntry.kind, positive, func.sum(LedgerEntry.points),
               func.sum(LedgerEntry.value))
        .group_by(month, LedgerEntry.kind, positive).order_by(month))
    months: dict[str, MonthRow] = {}
    for name, kind, _, points, value in rows:
        row = months.setdefault(str(name), MonthRow(str(name)))
        points, value = int(points or 0), Decimal(value or 0)
        if kind in CREDIT_KINDS:
            row.issued += points
            row.issued_value += value
        elif kind == EntryKind.REDEEM:
            row.redeemed -= points
            row.redeemed_value -= value
        elif kind == EntryKind.EXPIRE:
            row.expired -= points
            row.expired_value -= value
        elif kind == EntryKind.REVERSE:
            row.reversed -= points
        elif kind == EntryKind.ADJUST:
            row.adjusted += points
        row.liability += value
        row.outstanding += points
    running_value, running_points = ZERO, 0
    for row in months.values():
        running_value += row.liability
        running_points += row.outstanding
        row.liability, row.outstanding = running_value.quantize(Decimal("0.01")), running_points
    return list(months.values())


@dataclass
class RuleRow:
    code: str
    kind: str
    name: str
    points: int
    cost_per_point: Decimal
    budget: Decimal | None
    issued_points: int
    spent: Decimal
    """issued points × cost per point."""
    budget_used: Decimal | None
    """share of the budget spent, 0..1 (None without a budget)."""
    by_month: dict[str, int] = field(default_factory=dict)


def by_rule(session: Session) -> list[RuleRow]:
    """Every rule with its issuing per month and its budget consumption."""
    month = _month(session, LedgerEntry.at)
    issued: dict[str, dict[str, int]] = defaultdict(dict)
    for code, name, points in session.execute(
            select(LedgerEntry.rule, month, func.sum(LedgerEntry.points))
            .where(LedgerEntry.rule.is_not(None),
                   LedgerEntry.kind.in_([k.value for k in CREDIT_KINDS]))
            .group_by(LedgerEntry.rule, month).order_by(month)):
        issued[str(code)][str(name)] = int(points or 0)
    rows = []
    for rule in session.scalars(select(BonusRule).order_by(BonusRule.code)):
        # A budgeted rule's counter is exact (it moves under the rule's lock); a rule
        # without a budget keeps none, so its issued points are the ledger's.
        points = (rule.issued_points if rule.budget is not None
                  else sum(issued.get(rule.code, {}).values()))
        spent = (Decimal(points) * rule.cost_per_point).quantize(Decimal("0.01"))
        used = (spent / rule.budget).quantize(Decimal("0.0001")) if rule.budget else None
        rows.append(RuleRow(rule.code, rule.kind, rule.name, rule.points, rule.cost_per_point,
                            rule.budget, points, spent, used, issued.get(rule.code, {})))
    return rows


@dataclass(frozen=True)
class Liability:
    points: int
    value: Decimal
    members: int
    debt_points: int


def liability(session: Session, *, now: datetime) -> Liability:
    """Points customers can still spend now and what they cost the shop."""
    points, value = session.execute(
        select(func.coalesce(func.sum(PointLot.remaining), 0),
               func.coalesce(func.sum(PointLot.remaining * PointLot.cost_per_point), 0))
        .where(PointLot.remaining > 0,
               (PointLot.expires_at.is_(None)) | (PointLot.expires_at > now))).one()
    members = session.scalar(select(func.count()).select_from(LoyaltyAccount)) or 0
    debt = session.scalar(select(func.coalesce(func.sum(-LoyaltyAccount.balance), 0))
                          .where(LoyaltyAccount.balance < 0)) or 0
    return Liability(int(points), Decimal(value).quantize(Decimal("0.01")), int(members),
                     int(debt))


def tier_distribution(session: Session) -> dict[str, int]:
    return {str(tier or ""): int(n) for tier, n in session.execute(
        select(LoyaltyAccount.tier, func.count()).group_by(LoyaltyAccount.tier))}
