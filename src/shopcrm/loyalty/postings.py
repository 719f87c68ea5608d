"""Posting earn / bonus / redeem movements set-based: one movement or thousands, the
same code and the same guarantees.

:func:`post` applies a sequence of postings in the caller's transaction exactly as if
each were made by :func:`~shopcrm.loyalty.ledger.earn_order`,
:func:`~shopcrm.loyalty.ledger.grant_bonus` or :func:`~shopcrm.loyalty.ledger.redeem`
one after the other, each in a savepoint: a refused posting (not enough points, unknown
customer, spent budget, reused key …) changes nothing and is reported in its place, the
others go on. The single-movement functions of the ledger are this with one posting.

Why it is fast. The old single path spent its time in round trips, the ORM's unit of
work and SQLAlchemy's per-statement CPU (eleven statements and three flushes for one
earn). Here the statements are per *step*, not per row, on the raw driver
(:mod:`~shopcrm.loyalty.postings_io`): on PostgreSQL one pipelined round trip reads
everything under the locks (accounts locked in ID order, keys, rules and settings, the
spenders' lots, IDs for the new rows) and one more writes everything (``COPY`` for large
batches). All rule decisions are made in Python against the locked state, with the pure
rules of :mod:`~shopcrm.loyalty.rules`.

Guarantees (property-tested against the one-at-a-time path, on SQLite and PostgreSQL):
the accounts of every customer touched are locked, in customer-ID order (so two batches
never deadlock on each other), before any key is checked or any balance read, so
``balance == sum(entries)`` and the floor hold under any concurrency; a key already used
is a replay (or an :class:`~shopcrm.loyalty.IdempotencyConflict`), also within one batch.

Budgets without a hot row. A rule *with* a budget is locked (``FOR UPDATE``) and its
``issued_points`` counter moves with every credit — the budget needs that order. A rule
*without* one is not touched at all (its issued points are the ledger's sum, which the
reports read), so concurrent earners do not queue on the ``order`` rule's row. On
PostgreSQL they hold a *shared* advisory lock per rule instead; giving a rule a budget
takes it exclusively (:func:`rule_budget_lock`) and recounts ``issued_points`` from the
ledger, so no credit slips between the count and the budget. On SQLite the database
write lock already serialises all of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.loyalty import (
    BudgetExhausted,
    CustomerNotFound,
    IdempotencyConflict,
    InsufficientPoints,
    LoyaltyError,
    RuleNotFound,
)
from shopcrm.loyalty.models import (
    BonusRule,
    LedgerEntry,
    LoyaltySettings,
)
from shopcrm.loyalty.postings_io import Io, Reads, Writes, advisory_key
from shopcrm.loyalty.rules import (
    MAX_POINTS,
    MAX_REASON,
    BonusKind,
    EntryKind,
    ExpiryPolicy,
    LotView,
    ProgramConfig,
    budget_allows,
    consume_fifo,
    expires_at,
    is_expired,
    net_paid,
    order_points,
    points_cost,
    spendable,
)

ORDER_RULE = "order"
SETTINGS_ID = 1

ENTRIES = cast(Table, LedgerEntry.__table__)
RULES = cast(Table, BonusRule.__table__)
SETTINGS = cast(Table, LoyaltySettings.__table__)


# --- what callers post ------------------------------------------------------------------

@dataclass(frozen=True)
class Earn:
    """A completed order's points (key ``earn:<order_ref>``); ``paid``/``refunded`` are
    the basis later refunds are measured against. ``points=None``: the programme's points
    for the order — net paid × points per yuan × the member's tier multiplier, with the
    tier read under the account lock (what the earning job posts); none to earn is an
    outcome without an entry, not an error."""

    customer_id: int
    order_ref: str
    points: int | None
    paid: Decimal
    refunded: Decimal = Decimal("0")
    reason: str = ""

    @property
    def key(self) -> str:
        return f"earn:{self.order_ref}"


@dataclass(frozen=True)
class Grant:
    """A bonus rule's points (its fixed points unless ``points`` is given)."""

    customer_id: int
    rule_code: str
    key: str
    points: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Redeem:
    """Spend points, oldest-expiring lot first."""

    customer_id: int
    points: int
    key: str
    reason: str = ""
    source: str = "api"


Posting = Earn | Grant | Redeem


@dataclass(frozen=True, slots=True)
class EntryRow:
    """A ledger entry as written (the columns of
    :class:`~shopcrm.loyalty.models.LedgerEntry`), without an ORM instance's cost."""

    id: int
    customer_id: int
    kind: str
    points: int
    idempotency_key: str
    reason: str
    source: str
    rule: str | None
    order_ref: str | None
    order_paid: Decimal | None
    order_refunded: Decimal | None
    written_off: int | None
    value: Decimal
    at: datetime
    actor: str
    actor_id: int | None


@dataclass(frozen=True)
class Posted:
    """The outcome of one posting: the entry written (or the earlier one, for a replay)
    and the balance right after it, or the error that refused it."""

    customer_id: int
    entry: EntryRow | None = None
    replayed: bool = False
    balance: int = 0
    error: LoyaltyError | None = None


# --- small helpers ----------------------------------------------------------------------

def _check_points(points: object, *, allow_zero: bool = False) -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise LoyaltyError("points must be a whole number")
    if points < 0 or (points == 0 and not allow_zero):
        raise LoyaltyError("points must be a positive whole number")
    if points > MAX_POINTS:
        raise LoyaltyError("points must be at most 10^12")
    return points


def _check_reason(reason: str | None, *, required: bool) -> str:
    text_ = (reason or "").strip()
    if required and not text_:
        raise LoyaltyError("a reason is mandatory")
    if len(text_) > MAX_REASON:
        raise LoyaltyError(f"the reason is longer than {MAX_REASON} characters")
    return text_


def rule_budget_lock(session: Session, rule_code: str) -> None:
    """Exclusive lock on a rule's budget: waits for every transaction crediting under it
    and keeps new ones out until this one ends. PostgreSQL: the rule's advisory lock
    (crediting transactions hold it shared). SQLite: a write first, which takes the
    database write lock (pysqlite runs reads before a transaction's first write outside
    it, so a count read earlier could miss a credit committed meanwhile)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(advisory_key(rule_code))))
    else:
        session.execute(update(RULES).where(RULES.c.code == rule_code)
                        .values(code=RULES.c.code))


def issued_from_ledger(session: Session, rule_code: str) -> int:
    """Points ever credited under a rule, from the ledger (what a budget counts)."""
    return int(session.scalar(select(func.coalesce(func.sum(ENTRIES.c.points), 0)).where(
        ENTRIES.c.rule == rule_code,
        ENTRIES.c.kind.in_([EntryKind.EARN.value, EntryKind.BONUS.value,
                            EntryKind.IMPORT.value]))) or 0)


_CONFIG_CACHE: tuple[dict[str, Any] | None, ProgramConfig] = (None, ProgramConfig())


def _config_from(raw: dict[str, Any] | None) -> ProgramConfig:
    """The validated programme, re-validated only when the stored JSON changed."""
    global _CONFIG_CACHE
    cached_raw, cached = _CONFIG_CACHE
    if raw is None:
        return ProgramConfig() if cached_raw is not None else cached
    if raw == cached_raw:
        return cached
    config = ProgramConfig.model_validate(raw)
    _CONFIG_CACHE = (raw, config)
    return config


# --- the in-memory state of one batch ---------------------------------------------------

@dataclass(slots=True)
class _Lot:
    id: int | None
    """The stored ID, or None for a lot this batch creates (``entry`` says whose)."""
    remaining: int
    expires_at: datetime | None
    earned_at: datetime
    cost_per_point: Decimal
    order_ref: str | None
    handle: int
    entry: int | None = None
    """For a new lot: the index of the entry that opened it; its other columns follow."""
    points: int = 0
    rule: str | None = None
    dirty: bool = False

    def view(self) -> LotView:
        # New lots sort after stored ones with the same dates, in the order they were
        # opened (as their IDs will).
        return LotView(self.id if self.id is not None else 2**62 - self.handle,
                       self.remaining, self.expires_at, self.earned_at)


@dataclass
class _Account:
    customer_id: int
    balance: int
    tier: str | None = None
    lots: list[_Lot] | None = None
    changed: bool = False


@dataclass
class RuleState:
    """A rule as a transaction credits under it: ``issued`` is what this transaction
    added so far (on top of ``issued_points``, the stored counter)."""

    code: str
    kind: str
    name: str
    points: int
    cost_per_point: Decimal
    budget: Decimal | None
    issued_points: int
    active: bool
    issued: int = 0


@dataclass
class _Batch:
    now: datetime
    actor: audit.Actor
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[_Lot] = field(default_factory=list)
    allocations: list[tuple[int, _Lot, int]] = field(default_factory=list)
    """(entry index, lot, points)."""
    multipliers: dict[str | None, Decimal] = field(default_factory=dict)
    """Points multiplier per tier code (the batch's programme)."""
    expiry: tuple[ExpiryPolicy, datetime | None] | None = None
    """The expiry of lots opened now (one policy and one moment per batch)."""

    def entry(self, account: _Account, *, kind: EntryKind, points: int, key: str,
              reason: str, source: str, rule: str | None = None,
              order_ref: str | None = None, value: Decimal = Decimal("0"),
              basis: tuple[Decimal, Decimal] | None = None) -> int:
        # ENTRY_COLUMNS order without the ID (allocated when written).
        self.entries.append((
            account.customer_id, kind.value, points, key, reason[:MAX_REASON], source[:64],
            rule, order_ref, basis[0] if basis else None, basis[1] if basis else None, None,
            value, self.now, self.actor.label[:100], self.actor.user_id))
        account.balance += points
        account.changed = True
        return len(self.entries) - 1


@dataclass
class _Undo:
    """Enough to roll one refused posting back (the savepoint of the one-at-a-time path)."""

    entries: int
    lots: int
    allocations: int
    balance: int
    changed: bool
    remaining: list[tuple[_Lot, int, bool]]
    issued: list[tuple[RuleState, int]]


def _mark(batch: _Batch, account: _Account, rules: dict[str, RuleState]) -> _Undo:
    return _Undo(len(batch.entries), len(batch.lots), len(batch.allocations),
                 account.balance, account.changed,
                 [(lot, lot.remaining, lot.dirty) for lot in account.lots or []],
                 [(rule, rule.issued) for rule in rules.values()])


def _undo(batch: _Batch, account: _Account, mark: _Undo) -> None:
    del batch.entries[mark.entries:]
    new_lots = batch.lots[mark.lots:]
    del batch.lots[mark.lots:]
    del batch.allocations[mark.allocations:]
    account.balance, account.changed = mark.balance, mark.changed
    for lot, remaining, dirty in mark.remaining:
        lot.remaining, lot.dirty = remaining, dirty
    if account.lots is not None and new_lots:
        gone = {id(lot) for lot in new_lots}
        account.lots = [lot for lot in account.lots if id(lot) not in gone]
    for rule, issued in mark.issued:
        rule.issued = issued


# --- rules (SQLAlchemy: once per batch job chunk) -----------------------------------------

def read_rules(session: Session, codes: list[str], dialect: str, now: datetime,
                want_config: bool) -> tuple[dict[str, RuleState], ProgramConfig | None]:
    """The rules these postings credit under (the order rule created on first use) and
    the programme settings, locked as the module docstring explains."""
    rules: dict[str, RuleState] = {}
    raw: dict[str, Any] | None = None
    if codes:
        if dialect == "postgresql":
            session.execute(select(*[func.pg_advisory_xact_lock_shared(advisory_key(code))
                                     for code in codes]))
        settings = select(SETTINGS.c.config).where(SETTINGS.c.id == SETTINGS_ID)
        query = select(RULES.c.code, RULES.c.kind, RULES.c.name, RULES.c.points,
                       RULES.c.cost_per_point, RULES.c.budget, RULES.c.issued_points,
                       RULES.c.active, settings.scalar_subquery()).where(
            RULES.c.code.in_(codes))
        rows = session.execute(query).all()
        if ORDER_RULE in codes and not any(row[0] == ORDER_RULE for row in rows):
            _create_order_rule(session, now, dialect)
            rows = session.execute(query).all()
        budgeted = []
        for code, kind, name, points, cost, budget, issued, active, config in rows:
            raw = config
            rules[code] = RuleState(code, kind, name, int(points), cost, budget, int(issued),
                                bool(active))
            if budget is not None:
                budgeted.append(code)
        if budgeted:  # the budget needs the counter exact: lock the rows, read it again
            for code, issued in session.execute(
                    select(RULES.c.code, RULES.c.issued_points)
                    .where(RULES.c.code.in_(budgeted)).order_by(RULES.c.code)
                    .with_for_update()):
                rules[code].issued_points = int(issued)
        if rules:
            return rules, _config_from(raw) if want_config else None
    if not want_config:
        return rules, None
    raw = session.scalar(select(SETTINGS.c.config).where(SETTINGS.c.id == SETTINGS_ID))
    return rules, _config_from(raw)


def _create_order_rule(session: Session, now: datetime, dialect: str) -> None:
    """The rule orders earn under (cost 0.01 per point, no budget, until configured)."""
    values = {"code": ORDER_RULE, "kind": BonusKind.ORDER.value, "name": "订单积分",
              "points": 0, "cost_per_point": Decimal("0.01"), "budget": None,
              "issued_points": 0, "active": True, "created_at": now, "updated_at": now}
    statement: Any = (postgresql.insert(RULES) if dialect == "postgresql"
                      else sqlite.insert(RULES))
    session.execute(statement.values(**values).on_conflict_do_nothing(
        index_elements=["code"]))


# --- applying one posting against the state ---------------------------------------------

def _replay(found: EntryRow | int | None, batch: _Batch, *, customer_id: int,
            kind: EntryKind, points: int | None, key: str) -> EntryRow | int | None:
    """The earlier entry for ``key`` (stored, or an index into this batch), or None;
    :class:`IdempotencyConflict` when the key was used for a different request."""
    if found is None:
        return None
    if isinstance(found, int):
        e_customer, e_kind, e_points = batch.entries[found][:3]
    else:
        e_kind, e_customer, e_points = found.kind, found.customer_id, found.points
    if e_kind != kind.value or e_customer != customer_id or (
            points is not None and e_points != points):
        raise IdempotencyConflict(
            f"the idempotency key {key!r} was already used for another request "
            f"({e_kind} of {e_points} points for customer {e_customer})")
    return found


def _credit(batch: _Batch, account: _Account, *, kind: EntryKind, points: int, key: str,
            reason: str, source: str, config: ProgramConfig, rule: RuleState,
            order_ref: str | None = None,
            basis: tuple[Decimal, Decimal] | None = None) -> int:
    """A credit opens a lot; a debt left by a reversal is paid off from it first."""
    debt = max(0, -account.balance)
    index = batch.entry(account, kind=kind, points=points, key=key, reason=reason,
                        source=source, rule=rule.code, order_ref=order_ref,
                        value=points_cost(points, rule.cost_per_point), basis=basis)
    settle = min(points, debt)
    if batch.expiry is None or batch.expiry[0] is not config.expiry:
        batch.expiry = (config.expiry, expires_at(config.expiry, batch.now))
    lot = _Lot(None, points - settle, batch.expiry[1], batch.now,
               rule.cost_per_point, order_ref, -(len(batch.lots) + 1), entry=index,
               points=points, rule=rule.code)
    batch.lots.append(lot)
    if account.lots is not None:
        account.lots.append(lot)
    if settle:
        batch.allocations.append((index, lot, -settle))
    return index


def _debit(batch: _Batch, account: _Account, *, kind: EntryKind,
           plan: list[tuple[_Lot, int]], key: str, reason: str, source: str) -> int:
    total = sum(take for _, take in plan)
    value = sum((points_cost(take, lot.cost_per_point) for lot, take in plan), Decimal("0"))
    index = batch.entry(account, kind=kind, points=-total, key=key, reason=reason,
                        source=source, value=-value)
    for lot, take in plan:
        lot.remaining -= take
        lot.dirty = True
        batch.allocations.append((index, lot, -take))
    return index


def _redeem(batch: _Batch, account: _Account, posting: Redeem) -> int:
    lots = account.lots
    assert lots is not None
    for lot in sorted(lots, key=lambda lot: lot.id or 0):
        if lot.remaining > 0 and lot.id is not None and is_expired(lot.expires_at, batch.now):
            _debit(batch, account, kind=EntryKind.EXPIRE, plan=[(lot, lot.remaining)],
                   key=f"expire:lot:{lot.id}",
                   reason=f"expired {lot.expires_at:%Y-%m-%d}", source="expiry")
    views = [lot.view() for lot in lots]
    available = spendable(views, batch.now)
    if posting.points > available:
        raise InsufficientPoints(f"customer {account.customer_id} has {available} "
                                 f"spendable points, not {posting.points}")
    by_id = {view.id: lot for view, lot in zip(views, lots, strict=True)}
    plan = [(by_id[lot_id], take)
            for lot_id, take in consume_fifo(views, posting.points, batch.now)]
    return _debit(batch, account, kind=EntryKind.REDEEM, plan=plan, key=posting.key,
                  reason=_check_reason(posting.reason, required=False) or "redeemed",
                  source=posting.source)


def _budget(rule: RuleState, points: int, message: str) -> None:
    if not budget_allows(issued_points=rule.issued_points + rule.issued, points=points,
                         cost_per_point=rule.cost_per_point, budget=rule.budget):
        raise BudgetExhausted(message)
    rule.issued += points


def _apply(batch: _Batch, account: _Account, posting: Posting, found: EntryRow | int | None,
           rules: dict[str, RuleState], config: ProgramConfig | None
           ) -> tuple[EntryRow | int | None, bool]:
    """Apply one posting; (entry index or stored entry, replayed) — no entry when an
    order earns nothing."""
    if isinstance(posting, Earn):
        earlier = _replay(found, batch, customer_id=posting.customer_id, kind=EntryKind.EARN,
                          points=None, key=posting.key)
        if earlier is not None:
            return earlier, True
        assert config is not None
        points = posting.points
        if points is None:
            multiplier = batch.multipliers.get(account.tier)
            if multiplier is None:
                multiplier = config.tier(account.tier).benefits.points_multiplier
                batch.multipliers[account.tier] = multiplier
            points = order_points(net_paid(posting.paid, posting.refunded),
                                  points_per_yuan=config.points_per_yuan,
                                  multiplier=multiplier)
            if points <= 0:
                return None, False
        rule = rules[ORDER_RULE]
        _budget(rule, points, f"the budget of rule {rule.code!r} is spent")
        return _credit(batch, account, kind=EntryKind.EARN, points=points,
                       key=posting.key, reason=posting.reason or f"order {posting.order_ref}",
                       source="order", config=config, rule=rule, order_ref=posting.order_ref,
                       basis=(posting.paid, posting.refunded)), False
    if isinstance(posting, Grant):
        earlier = _replay(found, batch, customer_id=posting.customer_id,
                          kind=EntryKind.BONUS, points=None, key=posting.key)
        if earlier is not None:
            return earlier, True
        assert config is not None
        found_rule = rules.get(posting.rule_code)
        if found_rule is None:
            raise RuleNotFound(f"no bonus rule {posting.rule_code!r}")
        if not found_rule.active:
            raise LoyaltyError(f"the bonus rule {posting.rule_code!r} is not active")
        amount = _check_points(found_rule.points if posting.points is None else posting.points)
        _budget(found_rule, amount,
                f"the budget of rule {posting.rule_code!r} cannot pay {amount} points")
        return _credit(batch, account, kind=EntryKind.BONUS, points=amount, key=posting.key,
                       reason=_check_reason(posting.reason, required=False) or found_rule.name,
                       source=f"rule:{found_rule.kind}", config=config, rule=found_rule), False
    earlier = _replay(found, batch, customer_id=posting.customer_id, kind=EntryKind.REDEEM,
                      points=-posting.points, key=posting.key)
    if earlier is not None:
        return earlier, True
    return _redeem(batch, account, posting), False


def _validate(posting: Posting) -> None:
    """What the one-at-a-time path refuses before it locks anything."""
    if isinstance(posting, Earn):
        if posting.points is not None:
            _check_points(posting.points)
        if posting.paid < 0 or posting.refunded < 0:
            raise LoyaltyError("paid and refunded amounts must not be negative")
    elif isinstance(posting, Redeem):
        _check_points(posting.points)


# --- writing ----------------------------------------------------------------------------

def write_counters(session: Session, rules: dict[str, RuleState]) -> None:
    """Move the budget counters of budgeted rules by what this transaction issued."""
    for rule in rules.values():
        if rule.issued and rule.budget is not None:
            session.execute(update(RULES).where(RULES.c.code == rule.code).values(
                issued_points=RULES.c.issued_points + rule.issued))
        rule.issued_points += rule.issued
        rule.issued = 0


# --- the service ------------------------------------------------------------------------

def post(session: Session, postings: Sequence[Posting], *, now: datetime,
         actor: audit.Actor = audit.SYSTEM, config: ProgramConfig | None = None,
         actors: Sequence[audit.Actor] | None = None) -> list[Posted]:
    """Apply ``postings`` in order in the caller's transaction (nothing here commits);
    one :class:`Posted` per posting, in the same order. ``actors`` (one per posting)
    overrides ``actor`` when postings come from different callers."""
    if actors is not None and len(actors) != len(postings):
        raise ValueError("one actor per posting")
    if not postings:
        return []
    if session.new or session.dirty or session.deleted:
        session.flush()
    outcomes: list[Posted | None] = [None] * len(postings)
    valid: list[int] = []
    for i, posting in enumerate(postings):
        try:
            _validate(posting)
            valid.append(i)
        except LoyaltyError as exc:
            outcomes[i] = Posted(posting.customer_id, error=exc)
    if not valid:
        return [cast(Posted, o) for o in outcomes]
    todo = [postings[i] for i in valid]
    codes = sorted({ORDER_RULE if isinstance(p, Earn) else p.rule_code
                    for p in todo if isinstance(p, Earn | Grant)})
    io = Io(session)
    reads = io.read(customers=sorted({p.customer_id for p in todo}),
                    keys=sorted({p.key for p in todo}), codes=codes,
                    spenders=sorted({p.customer_id for p in todo if isinstance(p, Redeem)}),
                    entries=len(todo), lots=sum(not isinstance(p, Redeem) for p in todo),
                    now=now)
    rules = {r[0]: RuleState(r[0], r[1], r[2], int(r[3]), r[4], r[5], int(r[6]), bool(r[7]))
             for r in reads.rules}
    if ORDER_RULE in codes and ORDER_RULE not in rules:  # the very first earning
        _create_order_rule(session, now, io.connection.dialect.name)
        rules.update(read_rules(session, [ORDER_RULE], io.connection.dialect.name, now,
                                want_config=False)[0])
    if codes and config is None:
        config = _config_from(reads.config)
    accounts = {c: _Account(c, b, t) for c, (b, t) in reads.accounts.items()}
    for customer_id in {p.customer_id for p in todo if isinstance(p, Redeem)}:
        if customer_id in accounts:
            accounts[customer_id].lots = []
    for handle, (lot_id, customer_id, remaining, expires, earned, cost, order_ref) in enumerate(
            reads.lots, start=1):
        lots = accounts[customer_id].lots
        assert lots is not None
        lots.append(_Lot(lot_id, remaining, expires, earned, cost, order_ref, handle))
    stored = {row[4]: EntryRow(*row) for row in reads.entries}
    batch = _Batch(now, actor)
    seen: dict[str, int] = {}
    results: list[tuple[int, EntryRow | int | None, bool, int]] = []
    for i in valid:
        posting = postings[i]
        account = accounts.get(posting.customer_id)
        if account is None:
            outcomes[i] = Posted(posting.customer_id,
                                 error=CustomerNotFound(posting.customer_id))
            continue
        found: EntryRow | int | None = seen.get(posting.key, stored.get(posting.key))
        # An earning refuses before it changes anything; the others may refuse after
        # (a redemption expires lots first), so they are rolled back like a savepoint.
        mark = None if isinstance(posting, Earn) else _mark(batch, account, rules)
        batch.actor = actors[i] if actors is not None else actor
        try:
            entry, replayed = _apply(batch, account, posting, found, rules, config)
        except LoyaltyError as exc:
            if mark is not None:
                _undo(batch, account, mark)
            outcomes[i] = Posted(posting.customer_id, error=exc)
            continue
        if isinstance(entry, int) and not replayed:
            seen[posting.key] = entry
        results.append((i, entry, replayed, account.balance))
    entry_ids = _write(io, batch, accounts, rules, reads)
    if session.identity_map:
        # ORM objects loaded earlier in this session (an account, lots) are stale now.
        session.expire_all()
    made: dict[int, EntryRow] = {}
    for i, entry, replayed, balance in results:
        row: EntryRow | None
        if isinstance(entry, int):
            if entry not in made:
                made[entry] = EntryRow(entry_ids[entry], *batch.entries[entry])
            row = made[entry]
        else:
            row = entry
        outcomes[i] = Posted(postings[i].customer_id, row, replayed, balance)
    return [cast(Posted, o) for o in outcomes]


def _write(io: Io, batch: _Batch, accounts: dict[int, _Account],
           rules: dict[str, RuleState], reads: Reads) -> list[int]:
    """Everything the batch wrote, in one go; returns the batch's entry IDs."""
    entry_ids = reads.entry_ids[:len(batch.entries)]
    if len(entry_ids) < len(batch.entries) or len(reads.lot_ids) < len(batch.lots):
        raise AssertionError("fewer IDs allocated than rows written")  # a bug, not input
    lots = []
    for lot, lot_id in zip(batch.lots, reads.lot_ids, strict=False):
        lot.id = lot_id
        assert lot.entry is not None
        lots.append((lot_id, batch.entries[lot.entry][0], entry_ids[lot.entry],
                     lot.points, lot.remaining, lot.earned_at, lot.expires_at, lot.rule,
                     lot.cost_per_point, lot.order_ref))
    io.write(Writes(
        entries=[(entry_id, *e) for entry_id, e in
                 zip(entry_ids, batch.entries, strict=True)],
        lots=lots,
        allocations=[(entry_ids[index], cast(int, lot.id), points)
                     for index, lot, points in batch.allocations],
        lot_remaining=sorted((cast(int, lot.id), lot.remaining)
                             for account in accounts.values() for lot in account.lots or []
                             if lot.dirty and lot.handle > 0),
        balances=sorted((a.customer_id, a.balance) for a in accounts.values() if a.changed),
        counters=[(r.code, r.issued) for r in rules.values()
                  if r.issued and r.budget is not None],
        now=batch.now))
    for rule in rules.values():
        rule.issued_points += rule.issued
        rule.issued = 0
    return entry_ids


def post_one(session: Session, posting: Posting, *, now: datetime,
             actor: audit.Actor = audit.SYSTEM, config: ProgramConfig | None = None
             ) -> Posted:
    """One posting; raises its error (the caller rolls back) instead of returning it."""
    outcome = post(session, [posting], now=now, actor=actor, config=config)[0]
    if outcome.error is not None:
        raise outcome.error
    return outcome


__all__ = [
    "Earn",
    "EntryRow",
    "Grant",
    "Posted",
    "Posting",
    "Redeem",
    "RuleState",
    "advisory_key",
    "issued_from_ledger",
    "post",
    "post_one",
    "read_rules",
    "rule_budget_lock",
    "write_counters",
]
