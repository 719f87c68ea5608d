"""Contact points and inbox messages follow their customer through merges and back.

A merge re-keys the merged customer's contact points and inbox messages to the survivor
and records each move (``contact_moves``); an un-merge of the pair moves exactly those
back — a token registered on the survivor after the merge stays with it, and a row
that moved on since (a later merge) is left where it is. Registered with
:mod:`shopcrm.identity.followers` when ``store.schema`` is imported.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts.audit import Actor
from shopcrm.contacts.models import ContactMove, ContactPoint, InboxMessage
from shopcrm.identity import followers
from shopcrm.identity.followers import CustomerMove

KINDS = ("contact", "inbox")


def _rows_of(session: Session, kind: str, customer_id: int
             ) -> list[ContactPoint] | list[InboxMessage]:
    if kind == "contact":
        return list(session.scalars(select(ContactPoint).where(
            ContactPoint.customer_id == customer_id)))
    return list(session.scalars(select(InboxMessage).where(
        InboxMessage.customer_id == customer_id)))


def _row(session: Session, kind: str, row_id: int) -> ContactPoint | InboxMessage | None:
    if kind == "contact":
        return session.get(ContactPoint, row_id)
    return session.get(InboxMessage, row_id)


def follow_contact_moves(session: Session, moves: list[CustomerMove], now: datetime,
                         actor: Actor) -> None:
    for move in moves:
        if move.undo:
            _move_back(session, move, now)
        else:
            _move(session, move)
    session.flush()


def _move(session: Session, move: CustomerMove) -> None:
    for kind in KINDS:
        for row in _rows_of(session, kind, move.merged_id):
            session.add(ContactMove(merge_id=move.merge_id, kind=kind, row_id=row.id,
                                    from_customer_id=move.merged_id,
                                    to_customer_id=move.survivor_id))
            row.customer_id = move.survivor_id


def _move_back(session: Session, move: CustomerMove, now: datetime) -> None:
    recorded = session.scalars(select(ContactMove).where(
        ContactMove.from_customer_id == move.merged_id,
        ContactMove.to_customer_id == move.survivor_id, ContactMove.undone_at.is_(None)))
    for record in recorded:
        record.undone_at = now
        row = _row(session, record.kind, record.row_id)
        if row is None or row.customer_id != move.survivor_id:
            continue  # erased, or moved on since (a later merge): leave it
        row.customer_id = record.from_customer_id


followers.register(follow_contact_moves)
