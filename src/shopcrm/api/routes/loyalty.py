"""Loyalty API: the member card, "what does customer X get now?", points movements,
programme settings, bonus rules and reports.

Thin: each route calls one service of :mod:`shopcrm.loyalty` in a transaction and maps
its errors to problem+json — unknown customer / order / rule 404, not enough points,
a reused idempotency key or a spent budget 409, other refusals 422. Keys sent by callers
are kept apart from the keys shopcrm writes itself (``api:`` prefix), so a caller can
never pre-empt an order's earning.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.loyalty import (
    BudgetExhausted,
    CustomerNotFound,
    IdempotencyConflict,
    InsufficientPoints,
    LoyaltyError,
    OrderNotFound,
    RuleNotFound,
    ledger,
    postings,
    reports,
)
from shopcrm.loyalty.benefits import benefits_for, member_card
from shopcrm.loyalty.models import LedgerEntry, PointLot
from shopcrm.loyalty.postings import EntryRow
from shopcrm.loyalty.rules import (
    KEY_PATTERN,
    MAX_POINTS,
    MAX_REASON,
    Benefits,
    BonusKind,
    ProgramConfig,
)

router = APIRouter(prefix="/api/v1/loyalty", tags=["loyalty"])

MAX_MOVEMENTS = 1000
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the unified customer ID")]
Points = Annotated[int, Field(gt=0, le=MAX_POINTS, strict=True,
                              description="a positive whole number of points")]
Key = Annotated[str, Field(pattern=KEY_PATTERN, description="your idempotency key: the "
                           "same key again returns the first answer and changes nothing")]


def _problem(exc: Exception) -> HTTPException:
    if isinstance(exc, CustomerNotFound | OrderNotFound | RuleNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, InsufficientPoints | IdempotencyConflict | BudgetExhausted):
        return HTTPException(409, str(exc))
    if isinstance(exc, IntegrityError):
        return HTTPException(409, "the idempotency key was used by a concurrent request")
    if isinstance(exc, PermissionError):
        return HTTPException(403, str(exc))
    return HTTPException(422, str(exc))


ERRORS = (LoyaltyError, IntegrityError, PermissionError)


class EntryPublic(BaseModel):
    id: int
    kind: str
    points: int
    reason: str
    source: str
    rule: str | None
    order_ref: str | None
    at: datetime
    actor: str


class LotPublic(BaseModel):
    id: int
    points: int
    remaining: int
    earned_at: datetime
    expires_at: datetime | None
    rule: str | None
    order_ref: str | None


class MovementPublic(BaseModel):
    customer_id: int
    balance: int
    replayed: bool = Field(description="true when the key was used before: nothing changed")
    entry: EntryPublic | None
    note: str = ""


class BenefitsPublic(BaseModel):
    customer_id: int
    tier: str
    tier_name: str
    balance: int
    benefits: Benefits


class TierChangePublic(BaseModel):
    from_tier: str | None
    to_tier: str
    reason: str
    at: datetime


class MemberCardPublic(BaseModel):
    customer_id: int
    balance: int
    tier: str
    tier_name: str
    tier_since: datetime | None
    next_tier: str | None
    needs: dict[str, str] = Field(description="what is missing for the next tier")
    spend_12m: Decimal
    orders_12m: int
    points_12m: int
    benefits: Benefits
    lots: list[LotPublic]
    entries: list[EntryPublic]
    tier_history: list[TierChangePublic]


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: Points
    idempotency_key: Key
    reason: str = Field(default="", max_length=MAX_REASON)


class AdjustRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: Annotated[int, Field(ge=-MAX_POINTS, le=MAX_POINTS, strict=True,
                                 description="non-zero; negative deducts")]
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="mandatory")
    idempotency_key: Key


class BonusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    idempotency_key: Key
    points: Points | None = Field(default=None, description="default: the rule's points")
    reason: str = Field(default="", max_length=MAX_REASON)


class RedeemItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["redeem"]
    customer_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    points: Points
    idempotency_key: Key
    reason: str = Field(default="", max_length=MAX_REASON)


class BonusItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["bonus"]
    customer_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    rule: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    idempotency_key: Key
    points: Points | None = Field(default=None, description="default: the rule's points")
    reason: str = Field(default="", max_length=MAX_REASON)


class MovementsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    movements: list[Annotated[RedeemItem | BonusItem, Field(discriminator="type")]] = Field(
        min_length=1, max_length=MAX_MOVEMENTS,
        description="applied in order, in one transaction")


class MovementError(BaseModel):
    status: int = Field(description="what the single route would answer: 404, 409, 422")
    detail: str


class MovementResult(BaseModel):
    customer_id: int
    balance: int | None = Field(description="after this movement (none when refused)")
    replayed: bool
    entry: EntryPublic | None
    error: MovementError | None = Field(description="set when refused; nothing changed")


class ReverseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_ref: str = Field(min_length=3, max_length=200, description="<source>:<order id>")
    refunded_total: Decimal = Field(ge=0, le=Decimal("1e12"), max_digits=16,
                                    decimal_places=2,
                                    description="the order's cumulative refund now")
    cancelled: bool = False
    idempotency_key: Key


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: BonusKind
    name: str = Field(min_length=1, max_length=100)
    points: int = Field(default=0, ge=0, le=MAX_POINTS, strict=True)
    cost_per_point: Decimal = Field(ge=0, le=Decimal("1000"), max_digits=12,
                                    decimal_places=4)
    budget: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"), max_digits=16,
                                   decimal_places=2)
    active: bool = True


class RulePublic(BaseModel):
    code: str
    kind: str
    name: str
    points: int
    cost_per_point: Decimal
    budget: Decimal | None
    issued_points: int
    spent: Decimal
    budget_used: Decimal | None


class MonthPublic(BaseModel):
    month: str
    issued: int
    redeemed: int
    expired: int
    reversed: int
    adjusted: int
    issued_value: Decimal
    redeemed_value: Decimal
    expired_value: Decimal
    liability: Decimal
    outstanding: int


class ReportPublic(BaseModel):
    liability_points: int
    liability_value: Decimal
    members: int
    debt_points: int
    tiers: dict[str, int]
    months: list[MonthPublic]
    rules: list[RulePublic]


class ExpiringPublic(BaseModel):
    customer_id: int
    points: int
    first_expiry: datetime


def _entry(row: LedgerEntry | EntryRow | None) -> EntryPublic | None:
    return EntryPublic.model_validate(row, from_attributes=True) if row else None


def _lot(row: PointLot) -> LotPublic:
    return LotPublic.model_validate(row, from_attributes=True)


def _movement(customer_id: int, movement: ledger.Movement) -> MovementPublic:
    return MovementPublic(customer_id=customer_id, balance=movement.balance,
                          replayed=movement.replayed, entry=_entry(movement.entry),
                          note=movement.note)


@router.get("/customers/{customer_id}", response_model=MemberCardPublic)
def card(customer_id: CustomerId, context: ContextDep, session: SessionDep,
         _: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)]) -> MemberCardPublic:
    """The member card: tier, progress to the next tier, balance, lots, history."""
    try:
        found = member_card(session, warehouse=context.warehouse, customer_id=customer_id,
                            now=context.clock.now())
    except ERRORS as exc:
        raise _problem(exc) from exc
    return MemberCardPublic(
        customer_id=customer_id, balance=found.balance, tier=found.tier.code,
        tier_name=found.tier.name, tier_since=found.tier_since,
        next_tier=found.progress.next.code if found.progress.next else None,
        needs=found.progress.needs, spend_12m=found.metrics.spend,
        orders_12m=found.metrics.orders, points_12m=found.metrics.points,
        benefits=found.tier.benefits, lots=[_lot(lot) for lot in found.lots],
        entries=[e for e in map(_entry, found.entries) if e],
        tier_history=[TierChangePublic.model_validate(h, from_attributes=True)
                      for h in found.history])


@router.get("/customers/{customer_id}/benefits", response_model=BenefitsPublic)
def benefits(customer_id: CustomerId, session: SessionDep,
             _: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)]) -> BenefitsPublic:
    """What the customer gets now — for a checkout or a service desk (milliseconds)."""
    try:
        found = benefits_for(session, customer_id=customer_id)
    except ERRORS as exc:
        raise _problem(exc) from exc
    return BenefitsPublic(customer_id=found.customer_id, tier=found.tier,
                          tier_name=found.tier_name, balance=found.balance,
                          benefits=found.benefits)


@router.post("/customers/{customer_id}/redeem", response_model=MovementPublic)
def redeem(customer_id: CustomerId, body: RedeemRequest, request: Request,
           context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_LOYALTY)],
           ) -> MovementPublic:
    """Spend points (oldest-expiring first); never more than the spendable balance."""
    try:
        with context.sessions.begin() as session:
            movement = ledger.redeem(session, customer_id=customer_id, points=body.points,
                                     key=f"api:{body.idempotency_key}", reason=body.reason,
                                     source="api", now=context.clock.now(),
                                     actor=client_actor(request, principal))
    except ERRORS as exc:
        raise _problem(exc) from exc
    return _movement(customer_id, movement)


@router.post("/movements", response_model=list[MovementResult])
def movements(body: MovementsRequest, request: Request, context: ContextDep,
              principal: Annotated[Principal, require(Permission.MANAGE_LOYALTY)],
              ) -> list[MovementResult]:
    """Many redemptions and bonus grants in one transaction (e.g. a till syncing its
    day): each is applied as its single route would, in order; a refused one changes
    nothing and carries its error, the others go on. 200 with one result per movement."""
    items: list[postings.Posting] = [
        postings.Redeem(m.customer_id, m.points, f"api:{m.idempotency_key}", m.reason, "api")
        if isinstance(m, RedeemItem) else
        postings.Grant(m.customer_id, m.rule, f"api:{m.idempotency_key}", m.points, m.reason)
        for m in body.movements]
    try:
        with context.sessions.begin() as session:
            outcomes = postings.post(session, items, now=context.clock.now(),
                                     actor=client_actor(request, principal))
    except ERRORS as exc:  # a key taken by a concurrent request: nothing was written
        raise _problem(exc) from exc
    results = []
    for outcome in outcomes:
        error = None
        if outcome.error is not None:
            problem = _problem(outcome.error)
            error = MovementError(status=problem.status_code, detail=str(problem.detail))
        results.append(MovementResult(customer_id=outcome.customer_id,
                                      balance=None if error else outcome.balance,
                                      replayed=outcome.replayed, entry=_entry(outcome.entry),
                                      error=error))
    return results


@router.post("/customers/{customer_id}/adjust", response_model=MovementPublic)
def adjust(customer_id: CustomerId, body: AdjustRequest, request: Request,
           context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_LOYALTY)],
           ) -> MovementPublic:
    """A manual correction with a mandatory reason, audited."""
    try:
        with context.sessions.begin() as session:
            movement = ledger.adjust(session, customer_id=customer_id, points=body.points,
                                     reason=body.reason, key=f"api:{body.idempotency_key}",
                                     now=context.clock.now(),
                                     actor=client_actor(request, principal),
                                     granted=principal.permissions)
    except ERRORS as exc:
        raise _problem(exc) from exc
    return _movement(customer_id, movement)


@router.post("/customers/{customer_id}/bonus", response_model=MovementPublic)
def bonus(customer_id: CustomerId, body: BonusRequest, request: Request, context: ContextDep,
          principal: Annotated[Principal, require(Permission.MANAGE_LOYALTY)],
          ) -> MovementPublic:
    """Grant a bonus rule's points (review, check-in, campaign …) within its budget."""
    try:
        with context.sessions.begin() as session:
            movement = ledger.grant_bonus(session, customer_id=customer_id, rule_code=body.rule,
                                          key=f"api:{body.idempotency_key}",
                                          points=body.points, reason=body.reason,
                                          now=context.clock.now(),
                                          actor=client_actor(request, principal))
    except ERRORS as exc:
        raise _problem(exc) from exc
    return _movement(customer_id, movement)


@router.post("/orders/reverse", response_model=MovementPublic)
def reverse(body: ReverseRequest, request: Request, context: ContextDep,
            principal: Annotated[Principal, require(Permission.MANAGE_LOYALTY)],
            ) -> MovementPublic:
    """A refund or cancellation: the order's points come back in proportion."""
    try:
        with context.sessions.begin() as session:
            movement = ledger.reverse_order(session, order_ref=body.order_ref,
                                            refunded_total=body.refunded_total,
                                            cancelled=body.cancelled,
                                            key=f"api:{body.idempotency_key}",
                                            now=context.clock.now(),
                                            actor=client_actor(request, principal))
            customer_id = (movement.entry.customer_id if movement.entry
                           else movement.customer_id or 0)
    except ERRORS as exc:
        raise _problem(exc) from exc
    return _movement(customer_id, movement)


@router.get("/settings", response_model=ProgramConfig)
def settings(session: SessionDep,
             _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> ProgramConfig:
    return ledger.get_config(session)


@router.put("/settings", response_model=ProgramConfig)
def save_settings(body: ProgramConfig, request: Request, context: ContextDep,
                  principal: Annotated[Principal, require(Permission.MANAGE_LOYALTY)],
                  ) -> ProgramConfig:
    """Replace the programme (points rate, expiry, reversal policy, tier ladder)."""
    with context.sessions.begin() as session:
        return ledger.save_config(session, config=body, actor=client_actor(request, principal),
                                  now=context.clock.now())


@router.get("/rules", response_model=list[RulePublic])
def rules(session: SessionDep,
          _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> list[RulePublic]:
    return [_rule_public(r) for r in reports.by_rule(session)]


def _rule_public(row: reports.RuleRow) -> RulePublic:
    return RulePublic(code=row.code, kind=row.kind, name=row.name, points=row.points,
                      cost_per_point=row.cost_per_point, budget=row.budget,
                      issued_points=row.issued_points, spent=row.spent,
                      budget_used=row.budget_used)


@router.put("/rules/{code}", response_model=RulePublic)
def save_rule(code: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,31}$")], body: RuleUpdate,
              request: Request, context: ContextDep,
              principal: Annotated[Principal, require(Permission.MANAGE_LOYALTY)],
              ) -> RulePublic:
    """Create or change a bonus rule: points, cost per point, budget."""
    try:
        with context.sessions.begin() as session:
            ledger.upsert_rule(session, code=code, kind=body.kind, name=body.name,
                               points=body.points, cost_per_point=body.cost_per_point,
                               budget=body.budget, active=body.active,
                               actor=client_actor(request, principal), now=context.clock.now())
            row = next(r for r in reports.by_rule(session) if r.code == code)
    except ERRORS as exc:
        raise _problem(exc) from exc
    return _rule_public(row)


@router.get("/reports", response_model=ReportPublic)
def report(context: ContextDep, session: SessionDep,
           _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> ReportPublic:
    """Issued / redeemed / expired by month, liability, budgets, tier distribution."""
    owed = reports.liability(session, now=context.clock.now())
    return ReportPublic(
        liability_points=owed.points, liability_value=owed.value, members=owed.members,
        debt_points=owed.debt_points, tiers=reports.tier_distribution(session),
        months=[MonthPublic.model_validate(m, from_attributes=True)
                for m in reports.by_month(session)],
        rules=[_rule_public(r) for r in reports.by_rule(session)])


@router.get("/expiring", response_model=list[ExpiringPublic])
def expiring(context: ContextDep, session: SessionDep,
             _: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
             days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[ExpiringPublic]:
    """Customers whose points expire within ``days`` (the journeys' notice trigger)."""
    return [ExpiringPublic(customer_id=s.customer_id, points=s.points,
                           first_expiry=s.first_expiry)
            for s in ledger.expiring_soon(session, now=context.clock.now(), days=days)]
