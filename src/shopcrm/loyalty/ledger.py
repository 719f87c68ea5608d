"""The points ledger: earn, bonus, redeem, expire, reverse, adjust, import, move.

Every movement (1) locks the customer's account row — ``SELECT … FOR UPDATE`` on
PostgreSQL, a write to the row first on SQLite (which takes the database's write lock)
— so two redemptions racing for the same points are serialised and exactly one wins;
(2) checks its idempotency key under that lock, so a replay returns the first answer
and changes nothing; (3) writes one entry (plus its lot or allocations) and moves the
cached balance by the entry's points. Callers own the transaction: nothing here
commits, so an error raised half-way leaves nothing behind once the caller rolls back.

Invariants (property-tested): ``balance == sum(entries)``; the lots' remaining points
add up to ``max(balance, 0)``; the balance is never below zero except through a
reversal under the ``debt`` policy.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.loyalty import (
    CustomerNotFound,
    IdempotencyConflict,
    InsufficientPoints,
    LoyaltyError,
    OrderNotFound,
    RuleNotFound,
    postings,
)
from shopcrm.loyalty.models import (
    Allocation,
    BonusRule,
    LedgerEntry,
    LoyaltyAccount,
    LoyaltySettings,
    PointLot,
)
from shopcrm.loyalty.rules import (
    MAX_POINTS,
    MAX_REASON,
    BonusKind,
    EntryKind,
    LotView,
    ProgramConfig,
    ReversalPolicy,
    consume_fifo,
    expires_at,
    fifo_order,
    is_expired,
    net_paid,
    points_cost,
    reversal_target,
    spendable,
)
from shopcrm.store.models import Customer

ORDER_RULE = "order"
SETTINGS_ID = 1


@dataclass(frozen=True)
class Movement:
    """What a ledger call did: the entry (None when there was nothing to do), whether it
    was a replay of an earlier call with the same key, and the balance afterwards."""

    entry: LedgerEntry | postings.EntryRow | None
    replayed: bool
    balance: int
    note: str = ""
    customer_id: int | None = None
    """Whose balance it is (set when there is no entry to say it)."""


# --- settings and rules ---------------------------------------------------------------

def get_config(session: Session) -> ProgramConfig:
    """The programme settings (defaults until a shop saves its own)."""
    row = session.get(LoyaltySettings, SETTINGS_ID)
    return ProgramConfig.model_validate(row.config) if row else ProgramConfig()


def save_config(session: Session, *, config: ProgramConfig, actor: audit.Actor,
                now: datetime) -> ProgramConfig:
    """Replace the programme settings (validated by the model), audited."""
    data = config.model_dump(mode="json")
    row = session.get(LoyaltySettings, SETTINGS_ID)
    if row is None:
        session.add(LoyaltySettings(id=SETTINGS_ID, config=data, updated_at=now,
                                    updated_by=actor.label[:100]))
    else:
        row.config, row.updated_at, row.updated_by = data, now, actor.label[:100]
    audit.record(session, actor, "loyalty.settings", at=now, target_type="loyalty",
                 target_id="settings", details={"tiers": [t.code for t in config.tiers]})
    session.flush()
    return config


def upsert_rule(session: Session, *, code: str, kind: BonusKind, name: str, points: int,
                cost_per_point: Decimal, budget: Decimal | None, active: bool,
                actor: audit.Actor, now: datetime) -> BonusRule:
    """Create or change a bonus rule; the points already issued stay counted against
    its budget (lowering the budget below them stops further issuing).

    A rule without a budget keeps no counter (see :mod:`~shopcrm.loyalty.postings`), so
    giving it one counts its issued points from the ledger, under the rule's exclusive
    lock: no credit can be between the count and the budget."""
    if points < 0 or points > MAX_POINTS:
        raise LoyaltyError("points must be between 0 and 10^12")
    if cost_per_point < 0 or (budget is not None and budget < 0):
        raise LoyaltyError("cost per point and budget must not be negative")
    postings.rule_budget_lock(session, code)
    rule = session.scalars(select(BonusRule).where(BonusRule.code == code).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()
    recount = (postings.issued_from_ledger(session, code)
               if budget is not None and (rule is None or rule.budget is None) else None)
    if rule is None:
        rule = BonusRule(code=code, issued_points=0, created_at=now)
        session.add(rule)
    if recount is not None:
        rule.issued_points = recount
    rule.kind, rule.name, rule.points = BonusKind(kind).value, name, points
    rule.cost_per_point, rule.budget, rule.active, rule.updated_at = (
        cost_per_point, budget, active, now)
    audit.record(session, actor, "loyalty.rule", at=now, target_type="loyalty_rule",
                 target_id=code, details={"kind": rule.kind, "points": points,
                                          "cost_per_point": str(cost_per_point),
                                          "budget": None if budget is None else str(budget),
                                          "active": active})
    session.flush()
    return rule


def ensure_order_rule(session: Session, *, now: datetime) -> BonusRule:
    """The rule orders earn under (cost 0.01 per point, no budget, until configured)."""
    rule = session.get(BonusRule, ORDER_RULE)
    if rule is None:
        rule = BonusRule(code=ORDER_RULE, kind=BonusKind.ORDER.value, name="订单积分",
                         points=0, cost_per_point=Decimal("0.01"), budget=None,
                         issued_points=0, active=True, created_at=now, updated_at=now)
        session.add(rule)
        session.flush()
    return rule


def order_rule_for_update(session: Session, *, now: datetime) -> BonusRule:
    """The order rule, locked (its issued points count against its budget)."""
    try:
        return _rule_for_update(session, ORDER_RULE)
    except RuleNotFound:
        ensure_order_rule(session, now=now)
        return _rule_for_update(session, ORDER_RULE)


def _rule_for_update(session: Session, code: str) -> BonusRule:
    rule = session.scalars(select(BonusRule).where(BonusRule.code == code).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()
    if rule is None:
        raise RuleNotFound(f"no bonus rule {code!r}")
    return rule


# --- accounts and locking ---------------------------------------------------------------

def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def lock_account(session: Session, *, customer_id: int, now: datetime) -> LoyaltyAccount:
    """The customer's account, locked for the rest of the transaction (created on first
    use). Unknown customers are refused with :class:`CustomerNotFound`."""
    table = cast(Table, LoyaltyAccount.__table__)
    if _dialect(session) == "sqlite":
        # The first write of a pysqlite transaction takes SQLite's database write lock
        # (waiting up to the busy timeout), so everything after it reads current rows.
        session.execute(update(table).where(table.c.customer_id == customer_id)
                        .values(lock_version=table.c.lock_version + 1))
    query = (select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id)
             .with_for_update().execution_options(populate_existing=True))
    account = session.scalars(query).one_or_none()
    if account is None:
        if session.get(Customer, customer_id) is None:
            raise CustomerNotFound(customer_id)
        values = {"customer_id": customer_id, "balance": 0, "lock_version": 0,
                  "created_at": now, "updated_at": now}
        if _dialect(session) == "postgresql":
            session.execute(postgresql.insert(table).values(**values)
                            .on_conflict_do_nothing(index_elements=["customer_id"]))
        else:
            session.execute(sqlite.insert(table).values(**values)
                            .on_conflict_do_nothing(index_elements=["customer_id"]))
        account = session.scalars(query).one()
    return account


def _existing(session: Session, key: str) -> LedgerEntry | None:
    return session.scalars(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
                           ).one_or_none()


def _replay(session: Session, key: str, *, customer_id: int | None, kind: EntryKind,
            points: int | None, account: LoyaltyAccount | None) -> Movement | None:
    """The earlier answer for a key used before, or :class:`IdempotencyConflict` when the
    key was used for a different request."""
    entry = _existing(session, key)
    if entry is None:
        return None
    same = entry.kind == kind.value and (customer_id is None or entry.customer_id == customer_id)
    if not same or (points is not None and entry.points != points):
        raise IdempotencyConflict(
            f"the idempotency key {key!r} was already used for another request "
            f"({entry.kind} of {entry.points} points for customer {entry.customer_id})")
    balance = account.balance if account is not None else _cached_balance(session,
                                                                          entry.customer_id)
    return Movement(entry, True, balance)


def _cached_balance(session: Session, customer_id: int) -> int:
    return int(session.scalar(select(LoyaltyAccount.balance).where(
        LoyaltyAccount.customer_id == customer_id)) or 0)


def _check_points(points: int, *, allow_zero: bool = False) -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise LoyaltyError("points must be a whole number")
    if points < 0 or (points == 0 and not allow_zero):
        raise LoyaltyError("points must be a positive whole number")
    if points > MAX_POINTS:
        raise LoyaltyError("points must be at most 10^12")
    return points


def _check_reason(reason: str | None, *, required: bool) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise LoyaltyError("a reason is mandatory")
    if len(text) > MAX_REASON:
        raise LoyaltyError(f"the reason is longer than {MAX_REASON} characters")
    return text


def _lots(session: Session, customer_id: int) -> list[PointLot]:
    return list(session.scalars(select(PointLot).where(
        PointLot.customer_id == customer_id, PointLot.remaining > 0)))


def _view(lot: PointLot) -> LotView:
    return LotView(lot.id, lot.remaining, lot.expires_at, lot.earned_at)


def _entry(session: Session, account: LoyaltyAccount, *, kind: EntryKind, points: int,
           key: str, reason: str, source: str, now: datetime, actor: audit.Actor,
           rule: str | None = None, order_ref: str | None = None,
           value: Decimal = Decimal("0"),
           basis: tuple[Decimal, Decimal] | None = None) -> LedgerEntry:
    entry = LedgerEntry(customer_id=account.customer_id, kind=kind.value, points=points,
                        idempotency_key=key, reason=reason[:MAX_REASON], source=source[:64],
                        rule=rule, order_ref=order_ref, value=value, at=now,
                        actor=actor.label[:100], actor_id=actor.user_id,
                        order_paid=basis[0] if basis else None,
                        order_refunded=basis[1] if basis else None)
    session.add(entry)
    session.flush()
    account.balance += points
    account.updated_at = now
    return entry


def _credit(session: Session, account: LoyaltyAccount, *, kind: EntryKind, points: int,
            key: str, reason: str, source: str, now: datetime, actor: audit.Actor,
            config: ProgramConfig, rule: str | None = None, order_ref: str | None = None,
            cost_per_point: Decimal = Decimal("0"),
            expiry: datetime | str | None = "policy",
            basis: tuple[Decimal, Decimal] | None = None) -> LedgerEntry:
    """A credit opens a lot; a debt left by a reversal is paid off from it first."""
    debt = max(0, -account.balance)
    entry = _entry(session, account, kind=kind, points=points, key=key, reason=reason,
                   source=source, now=now, actor=actor, rule=rule, order_ref=order_ref,
                   value=points_cost(points, cost_per_point), basis=basis)
    lot_expiry = expires_at(config.expiry, now) if expiry == "policy" else expiry
    assert not isinstance(lot_expiry, str)
    settle = min(points, debt)
    lot = PointLot(customer_id=account.customer_id, entry_id=entry.id, points=points,
                   remaining=points - settle, earned_at=now, expires_at=lot_expiry, rule=rule,
                   cost_per_point=cost_per_point, order_ref=order_ref)
    session.add(lot)
    session.flush()
    if settle:
        session.add(Allocation(entry_id=entry.id, lot_id=lot.id, points=-settle))
    return entry


def _debit(session: Session, account: LoyaltyAccount, *, kind: EntryKind,
           plan: list[tuple[PointLot, int]], extra: int, key: str, reason: str, source: str,
           now: datetime, actor: audit.Actor, order_ref: str | None = None) -> LedgerEntry:
    """A debit takes ``plan`` points from lots and ``extra`` beyond them (a debt)."""
    total = sum(take for _, take in plan) + extra
    value = sum((points_cost(take, lot.cost_per_point) for lot, take in plan), Decimal("0"))
    entry = _entry(session, account, kind=kind, points=-total, key=key, reason=reason,
                   source=source, now=now, actor=actor, order_ref=order_ref, value=-value)
    for lot, take in plan:
        lot.remaining -= take
        session.add(Allocation(entry_id=entry.id, lot_id=lot.id, points=-take))
    return entry


# --- expiry -----------------------------------------------------------------------------

def _expire_lots(session: Session, account: LoyaltyAccount, lots: Iterable[PointLot], *,
                 now: datetime, actor: audit.Actor) -> int:
    expired = 0
    for lot in lots:
        if lot.remaining > 0 and is_expired(lot.expires_at, now):
            points = lot.remaining
            _debit(session, account, kind=EntryKind.EXPIRE, plan=[(lot, points)], extra=0,
                   key=f"expire:lot:{lot.id}", reason=f"expired {lot.expires_at:%Y-%m-%d}",
                   source="expiry", now=now, actor=actor)
            expired += points
    return expired


def expire_customer(session: Session, *, customer_id: int, now: datetime,
                    actor: audit.Actor = audit.SYSTEM) -> int:
    """Expire the customer's lots whose date has passed; returns the points expired."""
    account = lock_account(session, customer_id=customer_id, now=now)
    return _expire_lots(session, account, _lots(session, customer_id), now=now, actor=actor)


def customers_with_due_lots(session: Session, *, now: datetime, limit: int = 1000) -> list[int]:
    return list(session.scalars(
        select(PointLot.customer_id).where(PointLot.remaining > 0,
                                           PointLot.expires_at.is_not(None),
                                           PointLot.expires_at <= now)
        .group_by(PointLot.customer_id).order_by(PointLot.customer_id).limit(limit)))


def expire_due(session: Session, *, now: datetime, limit: int = 500,
               actor: audit.Actor = audit.SYSTEM) -> tuple[int, int]:
    """One chunk of the expiry job: (customers touched, points expired). The caller
    commits and calls again until no customer is touched."""
    customers = customers_with_due_lots(session, now=now, limit=limit)
    points = sum(expire_customer(session, customer_id=c, now=now, actor=actor)
                 for c in customers)
    return len(customers), points


@dataclass(frozen=True)
class ExpiringSoon:
    customer_id: int
    points: int
    first_expiry: datetime


def expiring_soon(session: Session, *, now: datetime, days: int) -> list[ExpiringSoon]:
    """Customers with points expiring within ``days`` — the trigger a journey uses to
    tell them before the points are gone."""
    horizon = now + timedelta(days=days)
    rows = session.execute(
        select(PointLot.customer_id, func.sum(PointLot.remaining), func.min(PointLot.expires_at))
        .where(PointLot.remaining > 0, PointLot.expires_at > now,
               PointLot.expires_at <= horizon)
        .group_by(PointLot.customer_id).order_by(PointLot.customer_id))
    return [ExpiringSoon(int(c), int(p), e) for c, p, e in rows if e is not None]


# --- movements --------------------------------------------------------------------------

def _movement(posted: postings.Posted) -> Movement:
    return Movement(posted.entry, posted.replayed, posted.balance)


def earn_order(session: Session, *, customer_id: int, order_ref: str, points: int,
               paid: Decimal, now: datetime, refunded: Decimal = Decimal("0"),
               config: ProgramConfig | None = None, actor: audit.Actor = audit.SYSTEM,
               reason: str = "") -> Movement:
    """Credit a completed order's points (computed by
    :func:`~shopcrm.loyalty.rules.order_points` on ``paid - refunded``) once; the key is
    the order's, so earning again for the same order is a replay. ``paid`` and
    ``refunded`` are kept as the basis later refunds are measured against.

    One posting through :mod:`~shopcrm.loyalty.postings` (the set-based path)."""
    return _movement(postings.post_one(
        session, postings.Earn(customer_id, order_ref, points, paid, refunded, reason),
        now=now, actor=actor, config=config))


def grant_bonus(session: Session, *, customer_id: int, rule_code: str, key: str,
                now: datetime, points: int | None = None, reason: str = "",
                actor: audit.Actor = audit.SYSTEM) -> Movement:
    """Points of a bonus rule (first purchase, birthday, review, check-in, campaign).

    The rule's fixed points unless ``points`` is given (a campaign grant); refused with
    :class:`BudgetExhausted` when the rule's budget cannot pay for them.
    """
    return _movement(postings.post_one(
        session, postings.Grant(customer_id, rule_code, key, points, reason),
        now=now, actor=actor))


def redeem(session: Session, *, customer_id: int, points: int, key: str, now: datetime,
           reason: str = "", source: str = "api",
           actor: audit.Actor = audit.SYSTEM) -> Movement:
    """Spend points, oldest-expiring lot first; never more than the spendable balance."""
    return _movement(postings.post_one(
        session, postings.Redeem(customer_id, points, key, reason, source),
        now=now, actor=actor))


def _plan(lots: list[PointLot], points: int, now: datetime) -> list[tuple[PointLot, int]]:
    by_id = {lot.id: lot for lot in lots}
    return [(by_id[lot_id], take)
            for lot_id, take in consume_fifo([_view(lot) for lot in lots], points, now)]


def reverse_order(session: Session, *, order_ref: str, refunded_total: Decimal,
                  key: str, now: datetime, cancelled: bool = False,
                  config: ProgramConfig | None = None,
                  actor: audit.Actor = audit.SYSTEM) -> Movement:
    """Take back an order's points in proportion to what was refunded since it earned
    (a cancellation or a full refund: all of them).

    ``refunded_total`` is the order's cumulative refund now, so a second partial refund
    reverses only the difference and a repeated one nothing. Points come from the
    order's own lot first, then the oldest-expiring lots; what was already spent becomes
    a debt (``debt`` policy) or is written off (``cap``).
    """
    if refunded_total < 0:
        raise LoyaltyError("the refunded amount must not be negative")
    earned_rows = session.execute(
        select(LedgerEntry.customer_id, LedgerEntry.points, LedgerEntry.order_paid,
               LedgerEntry.order_refunded).where(
            LedgerEntry.order_ref == order_ref, LedgerEntry.kind == EntryKind.EARN.value)).all()
    if not earned_rows:
        raise OrderNotFound(f"no points were earned for order {order_ref!r}")
    customer_id, earned, paid, refunded_before = earned_rows[0]
    customer_id, earned = int(customer_id), int(earned)
    base = net_paid(paid, refunded_before)
    since = base if cancelled else max(Decimal("0"), refunded_total - (refunded_before or 0))
    account = lock_account(session, customer_id=customer_id, now=now)
    replay = _replay(session, key, customer_id=None, kind=EntryKind.REVERSE, points=None,
                     account=account)
    if replay:
        return replay
    config = config or get_config(session)
    already = -int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
        LedgerEntry.order_ref == order_ref, LedgerEntry.kind == EntryKind.REVERSE.value)) or 0)
    written_off = _written_off(session, order_ref)
    due = reversal_target(earned, paid=base, refunded=since) - already - written_off
    if due <= 0:
        return Movement(None, False, account.balance, "nothing more to reverse", customer_id)
    lots = _lots(session, customer_id)
    _expire_lots(session, account, lots, now=now, actor=actor)
    own = [lot for lot in lots if lot.order_ref == order_ref and lot.remaining > 0]
    others = [lot for lot in lots if lot.order_ref != order_ref and lot.remaining > 0]
    plan: list[tuple[PointLot, int]] = []
    left = due
    for lot in own + _fifo(others):
        if left == 0:
            break
        take = min(left, lot.remaining)
        plan.append((lot, take))
        left -= take
    extra = left if config.reversal is ReversalPolicy.DEBT else 0
    lost = left - extra
    reason = f"refund of order {order_ref}"
    if lost:
        reason += f"; {lost} points already spent, written off"
    # Even a reversal that takes nothing (all spent, ``cap``) is written, as a zero-point
    # entry holding the write-off, so its key is used and a re-run never takes the
    # points from later earnings.
    entry = _debit(session, account, kind=EntryKind.REVERSE, plan=plan, extra=extra, key=key,
                   reason=reason, source="refund", now=now, actor=actor, order_ref=order_ref)
    entry.written_off = lost or None
    return Movement(entry, False, account.balance, reason)


def _written_off(session: Session, order_ref: str) -> int:
    """Points ``cap`` reversals of the order could not take back."""
    return int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.written_off), 0))
                              .where(LedgerEntry.order_ref == order_ref,
                                     LedgerEntry.kind == EntryKind.REVERSE.value)) or 0)


def _fifo(lots: list[PointLot]) -> list[PointLot]:
    by_id = {lot.id: lot for lot in lots}
    return [by_id[v.id] for v in fifo_order(_view(lot) for lot in lots)]


def adjust(session: Session, *, customer_id: int, points: int, reason: str, key: str,
           now: datetime, actor: audit.Actor, granted: Collection[Permission]) -> Movement:
    """A manual correction (positive or negative), permission-checked and audited.

    A deduction never takes the balance below zero; a credit opens a lot that expires
    by the programme's policy.
    """
    if Permission.MANAGE_LOYALTY not in granted:
        raise PermissionError("adjusting points needs the permission manage_loyalty")
    text = _check_reason(reason, required=True)
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise LoyaltyError("an adjustment is a non-zero whole number of points")
    _check_points(abs(points))
    account = lock_account(session, customer_id=customer_id, now=now)
    replay = _replay(session, key, customer_id=customer_id, kind=EntryKind.ADJUST,
                     points=points, account=account)
    if replay:
        return replay
    lots = _lots(session, customer_id)
    if points > 0:
        entry = _credit(session, account, kind=EntryKind.ADJUST, points=points, key=key,
                        reason=text, source="manual", now=now, actor=actor,
                        config=get_config(session))
    else:
        _expire_lots(session, account, lots, now=now, actor=actor)
        available = spendable((_view(lot) for lot in lots), now)
        if -points > available:
            raise InsufficientPoints(
                f"customer {customer_id} has {available} spendable points; "
                f"cannot deduct {-points}")
        entry = _debit(session, account, kind=EntryKind.ADJUST, plan=_plan(lots, -points, now),
                       extra=0, key=key, reason=text, source="manual", now=now, actor=actor)
    audit.record(session, actor, "loyalty.adjust", at=now, target_type="customer",
                 target_id=str(customer_id),
                 details={"points": points, "reason": text, "key": key,
                          "balance": account.balance})
    return Movement(entry, False, account.balance)


def import_opening_balance(session: Session, *, customer_id: int, points: int,
                           reference: str, now: datetime, expires: datetime | str | None = "policy",
                           actor: audit.Actor = audit.SYSTEM) -> Movement:
    """An opening balance carried over from another system (once per reference)."""
    _check_points(points)
    key = f"import:{reference}:{customer_id}"
    account = lock_account(session, customer_id=customer_id, now=now)
    replay = _replay(session, key, customer_id=customer_id, kind=EntryKind.IMPORT,
                     points=points, account=account)
    if replay:
        return replay
    entry = _credit(session, account, kind=EntryKind.IMPORT, points=points, key=key,
                    reason=f"opening balance ({reference})", source="import", now=now,
                    actor=actor, config=get_config(session), expiry=expires)
    return Movement(entry, False, account.balance)


# --- reading ----------------------------------------------------------------------------

def ledger_sum(session: Session, *, customer_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
        LedgerEntry.customer_id == customer_id)) or 0)


def balance(session: Session, *, customer_id: int) -> int:
    """The balance (the ledger sum, cached on the account row)."""
    if session.get(Customer, customer_id) is None:
        raise CustomerNotFound(customer_id)
    return _cached_balance(session, customer_id)


def history(session: Session, *, customer_id: int, limit: int = 100) -> list[LedgerEntry]:
    return list(session.scalars(select(LedgerEntry).where(
        LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.at.desc(), LedgerEntry.id.desc()).limit(limit)))


def open_lots(session: Session, *, customer_id: int) -> list[PointLot]:
    """Lots still holding points, oldest-expiring first."""
    return _fifo(_lots(session, customer_id))
