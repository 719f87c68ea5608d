"""Moving a merged customer's loyalty to the survivor, and moving it back on un-merge.

Identity resolution merges customers; loyalty rows stay keyed by ``customer_id``, so a
merge re-keys the merged customer's entries, lots and tier history to the survivor and
records exactly which rows moved (:class:`~shopcrm.loyalty.models.LoyaltyMove`) so an
un-merge moves those rows back. Balances are ledger sums, so they follow the entries.
When a debt on one side meets lots on the other (or, after an un-merge, the survivor
had spent the other's points), a zero-point ``settle`` entry realigns the lots with the
balance: no point is created or lost, and the ledger shows why the lots changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.loyalty import LoyaltyError
from shopcrm.loyalty.ledger import _fifo, _lots, get_config, ledger_sum, lock_account
from shopcrm.loyalty.models import (
    Allocation,
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyMove,
    PointLot,
    TierChange,
)
from shopcrm.loyalty.rules import EntryKind, expires_at

if TYPE_CHECKING:
    from shopcrm.identity.followers import CustomerMove


def _ids(session: Session, model: type[LedgerEntry] | type[PointLot] | type[TierChange],
         customer_id: int) -> list[int]:
    return [int(i) for i in session.scalars(select(model.id).where(
        model.customer_id == customer_id).order_by(model.id))]


def _rekey(session: Session, model: type[LedgerEntry] | type[PointLot] | type[TierChange],
           ids: list[int], customer_id: int) -> None:
    for start in range(0, len(ids), 500):
        session.execute(update(model).where(model.id.in_(ids[start:start + 500]))
                        .values(customer_id=customer_id)
                        .execution_options(synchronize_session=False))


def _realign(session: Session, account: LoyaltyAccount, *, key: str, now: datetime,
             actor: audit.Actor) -> int:
    """Make the lots hold exactly ``max(balance, 0)`` points with a zero-point entry;
    returns the points taken from (negative) or restored to (positive) lots."""
    session.flush()
    session.expire_all()  # bulk re-keying bypassed the objects already loaded
    account.balance = ledger_sum(session, customer_id=account.customer_id)
    lots = _lots(session, account.customer_id)
    held = sum(lot.remaining for lot in lots)
    gap = max(account.balance, 0) - held
    if gap == 0:
        return 0
    entry = LedgerEntry(customer_id=account.customer_id, kind=EntryKind.SETTLE.value, points=0,
                        idempotency_key=key, source="merge", at=now, actor=actor.label[:100],
                        actor_id=actor.user_id,
                        reason=(f"{-gap} points offset a debt" if gap < 0
                                else f"{gap} points spent by the other customer restored"))
    session.add(entry)
    session.flush()
    if gap > 0:
        lot = PointLot(customer_id=account.customer_id, entry_id=entry.id, points=gap,
                       remaining=gap, earned_at=now,
                       expires_at=expires_at(get_config(session).expiry, now), rule=None,
                       order_ref=None)
        session.add(lot)
    else:
        left = -gap
        for lot in _fifo(lots):
            if left == 0:
                break
            take = min(left, lot.remaining)
            lot.remaining -= take
            left -= take
            session.add(Allocation(entry_id=entry.id, lot_id=lot.id, points=-take))
    session.flush()
    return gap


def move_customer(session: Session, *, from_customer_id: int, to_customer_id: int,
                  now: datetime, actor: audit.Actor) -> LoyaltyMove:
    """Re-key ``from``'s loyalty rows to ``to`` (the merge survivor); the survivor keeps
    the higher of the two tiers. Audited; undone by :func:`undo_move`."""
    if from_customer_id == to_customer_id:
        raise LoyaltyError("a customer cannot be moved onto itself")
    first, second = sorted((from_customer_id, to_customer_id))
    accounts = {c: lock_account(session, customer_id=c, now=now) for c in (first, second)}
    source, target = accounts[from_customer_id], accounts[to_customer_id]
    config = get_config(session)
    details: dict[str, Any] = {
        "entries": _ids(session, LedgerEntry, from_customer_id),
        "lots": _ids(session, PointLot, from_customer_id),
        "tier_history": _ids(session, TierChange, from_customer_id),
        "from_tier": [source.tier, _iso(source.tier_since), _iso(source.reviewed_period)],
        "to_tier": [target.tier, _iso(target.tier_since), _iso(target.reviewed_period)],
    }
    move = LoyaltyMove(from_customer_id=from_customer_id, to_customer_id=to_customer_id,
                       at=now, actor=actor.label[:100], details=details)
    session.add(move)
    session.flush()
    _rekey(session, LedgerEntry, details["entries"], to_customer_id)
    _rekey(session, PointLot, details["lots"], to_customer_id)
    _rekey(session, TierChange, details["tier_history"], to_customer_id)
    if source.tier is not None and config.rank(source.tier) > config.rank(target.tier):
        session.add(TierChange(customer_id=to_customer_id, from_tier=target.tier,
                               to_tier=source.tier, reason="merge", at=now,
                               actor=actor.label[:100]))
        target.tier, target.tier_since = source.tier, source.tier_since
    source.tier = source.tier_since = source.reviewed_period = None
    source.balance = 0
    source.updated_at = target.updated_at = now
    _realign(session, target, key=f"move:{move.id}:settle", now=now, actor=actor)
    audit.record(session, actor, "loyalty.move", at=now, target_type="customer",
                 target_id=str(to_customer_id),
                 details={"from": from_customer_id, "move": move.id,
                          "entries": len(details["entries"]), "lots": len(details["lots"])})
    return move


def undo_move(session: Session, *, move_id: int, now: datetime,
              actor: audit.Actor) -> LoyaltyMove:
    """Move the rows of a merge back (an un-merge); points the survivor spent from the
    other customer's lots become the survivor's debt, so no point appears or vanishes."""
    move = session.get(LoyaltyMove, move_id)
    if move is None:
        raise LoyaltyError(f"no loyalty move {move_id}")
    if move.undone_at is not None:
        raise LoyaltyError(f"loyalty move {move_id} was undone on {move.undone_at:%Y-%m-%d}")
    back, survivor = move.from_customer_id, move.to_customer_id
    first, second = sorted((back, survivor))
    accounts = {c: lock_account(session, customer_id=c, now=now) for c in (first, second)}
    details = move.details
    _rekey(session, LedgerEntry, list(details["entries"]), back)
    _rekey(session, PointLot, list(details["lots"]), back)
    _rekey(session, TierChange, list(details["tier_history"]), back)
    for customer, saved in ((back, details["from_tier"]), (survivor, details["to_tier"])):
        account = accounts[customer]
        account.tier, account.tier_since, account.reviewed_period = (
            saved[0], _parse(saved[1]), _parse(saved[2]))
        account.updated_at = now
    move.undone_at = now
    session.flush()
    for customer in (back, survivor):
        _realign(session, accounts[customer], key=f"unmove:{move.id}:{customer}", now=now,
                 actor=actor)
    audit.record(session, actor, "loyalty.unmove", at=now, target_type="customer",
                 target_id=str(back), details={"survivor": survivor, "move": move.id})
    return move


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def follow_identity_moves(session: Session, moves: list[CustomerMove], now: datetime,
                          actor: audit.Actor) -> None:
    """Identity resolution's follower: a merge moves the merged customer's points to the
    survivor, an un-merge (or split) moves exactly those rows back. Customers without any
    loyalty rows cost one query for the whole batch, not one per merge."""
    involved = sorted({m.merged_id for m in moves} | {m.survivor_id for m in moves})
    with_accounts: set[int] = set()
    for start in range(0, len(involved), 500):
        with_accounts.update(session.scalars(select(LoyaltyAccount.customer_id).where(
            LoyaltyAccount.customer_id.in_(involved[start:start + 500]))))
    for move in moves:
        if not move.undo:
            if move.merged_id in with_accounts:
                move_customer(session, from_customer_id=move.merged_id,
                              to_customer_id=move.survivor_id, now=now, actor=actor)
                with_accounts.add(move.survivor_id)
            continue
        done = session.scalar(
            select(LoyaltyMove).where(LoyaltyMove.from_customer_id == move.merged_id,
                                      LoyaltyMove.to_customer_id == move.survivor_id,
                                      LoyaltyMove.undone_at.is_(None))
            .order_by(LoyaltyMove.id.desc()).limit(1))
        if done is not None:
            undo_move(session, move_id=done.id, now=now, actor=actor)
