"""Tickets follow their customer through merges and back through un-merges.

A merge re-keys the merged customer's tickets to the survivor and records each move
(``ticket_moves``); an un-merge of the pair moves exactly those tickets back — a ticket opened on
the survivor after the merge stays with it. Each move is written on the ticket's
timeline, so an agent sees why a ticket changed customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from shopcrm.accounts.audit import Actor
from shopcrm.tickets.models import Ticket, TicketEvent, TicketMove

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shopcrm.identity.followers import CustomerMove


def follow_ticket_moves(session: Session, moves: list[CustomerMove], now: datetime,
                        actor: Actor) -> None:
    for move in moves:
        if move.undo:
            _move_back(session, move, now, actor)
        else:
            _move(session, move, now, actor)
    session.flush()


def _note(session: Session, ticket: Ticket, now: datetime, actor: Actor, *, source: int,
          target: int, merge_id: int, undo: bool) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, kind="moved", at=now,
                            actor_id=actor.user_id, actor=actor.label[:100],
                            data={"from": source, "to": target, "merge_id": merge_id,
                                  "undo": undo}))


def _move(session: Session, move: CustomerMove, now: datetime, actor: Actor) -> None:
    tickets = session.scalars(select(Ticket).where(Ticket.customer_id == move.merged_id))
    for ticket in tickets:
        session.add(TicketMove(merge_id=move.merge_id, ticket_id=ticket.id,
                               from_customer_id=move.merged_id,
                               to_customer_id=move.survivor_id))
        ticket.customer_id = move.survivor_id
        _note(session, ticket, now, actor, source=move.merged_id, target=move.survivor_id,
              merge_id=move.merge_id, undo=False)


def _move_back(session: Session, move: CustomerMove, now: datetime, actor: Actor) -> None:
    recorded = session.scalars(select(TicketMove).where(
        TicketMove.from_customer_id == move.merged_id,
        TicketMove.to_customer_id == move.survivor_id, TicketMove.undone_at.is_(None)))
    for record in recorded:
        record.undone_at = now
        ticket = session.get(Ticket, record.ticket_id)
        if ticket is None or ticket.customer_id != move.survivor_id:
            continue  # moved on since (a later merge) — leave it where it is
        ticket.customer_id = record.from_customer_id
        _note(session, ticket, now, actor, source=move.survivor_id,
              target=record.from_customer_id, merge_id=move.merge_id, undo=True)
