"""What follows a customer ID when customers merge or are pulled apart.

Facts (orders, events) need nothing: they carry the identity ID and the warehouse
maps it to the current customer. Operational records keyed by customer follow here:
consents (the stricter consent wins, never widened), points (``loyalty.merge``),
tickets (``tickets.merge``), and whatever later capabilities register (tags) through
:func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from shopcrm.accounts.audit import Actor
from shopcrm.privacy.consents import records_by_customer
from shopcrm.privacy.rules import Status, current_consents, merge_consents
from shopcrm.store.models import Consent


@dataclass(frozen=True)
class CustomerMove:
    """``merged_id``'s records go to ``survivor_id`` (merge) or come back (un-merge)."""

    survivor_id: int
    merged_id: int
    merge_id: int
    undo: bool
    since: datetime | None
    """For an un-merge: when the merge happened."""


Follower = Callable[[Session, list[CustomerMove], datetime, Actor], None]
"""Called once per batch of moves (a resolution run can make thousands at once)."""
_FOLLOWERS: list[Follower] = []


def register(follower: Follower) -> Follower:
    """Add a capability's follower (called in the same transaction as the merge)."""
    if follower not in _FOLLOWERS:
        _FOLLOWERS.append(follower)
    return follower


def apply(session: Session, moves: list[CustomerMove], now: datetime, actor: Actor) -> None:
    """Everything that follows these moves, in the caller's transaction."""
    if not moves:
        return
    from shopcrm.loyalty.merge import follow_identity_moves
    from shopcrm.tickets.merge import follow_ticket_moves

    follow_consents(session, moves, now, actor)
    follow_identity_moves(session, moves, now, actor)
    follow_ticket_moves(session, moves, now, actor)
    for follower in list(_FOLLOWERS):
        follower(session, moves, now, actor)


def follow_consents(session: Session, moves: list[CustomerMove], now: datetime,
                    actor: Actor) -> None:
    """Merge: the survivor takes the stricter consent of both. Un-merge: the restored
    customer keeps its own history and takes every withdrawal the merged customer
    received meanwhile (a withdrawal spoken to the merged customer was theirs too)."""
    involved = {m.survivor_id for m in moves} | {m.merged_id for m in moves}
    histories = records_by_customer(session, customer_ids=involved)
    if not any(histories.values()):
        return
    for move in moves:
        survivor = histories.get(move.survivor_id, [])
        merged = histories.get(move.merged_id, [])
        if not (survivor or merged):
            continue
        if not move.undo:
            target, source = move.survivor_id, f"merge:{move.merged_id}"
            mine = current_consents(survivor)
            changes = [r for r in merge_consents(survivor, merged)
                       if r.key not in mine or mine[r.key].status is not r.status]
        else:
            target, source = move.merged_id, f"unmerge:{move.survivor_id}"
            mine = current_consents(merged)
            since = move.since
            changes = [r for r in survivor
                       if r.status is Status.WITHDRAWN and since is not None
                       and _aware(r.at) >= _aware(since)
                       and (r.key not in mine or mine[r.key].status is not Status.WITHDRAWN)]
        for change in changes:
            session.add(Consent(customer_id=target, channel=change.channel.value,
                                purpose=change.purpose.value, status=change.status.value,
                                source=source, at=now, actor_id=actor.user_id,
                                actor=actor.label[:100]))
    session.flush()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
