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

_TABLES: dict[str, type[ContactPoint] | type[InboxMessage]] = {
    "contact": ContactPoint, "inbox": InboxMessage}


def follow_contact_moves(session: Session, moves: list[CustomerMove], now: datetime,
                         actor: Actor) -> None:
    for move in moves:
        if move.undo:
            _move_back(session, move, now)
        else:
            _move(session, move)
    session.flush()


def _move(session: Session, move: CustomerMove) -> None:
    for kind, table in _TABLES.items():
        for row in session.scalars(select(table).where(table.customer_id == move.merged_id)):
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
        row = session.get(_TABLES[record.kind], record.row_id)
        if row is None or row.customer_id != move.survivor_id:
            continue  # erased, or moved on since (a later merge): leave it
        row.customer_id = record.from_customer_id


followers.register(follow_contact_moves)
