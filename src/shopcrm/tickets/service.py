"""Service tickets: open, answer, assign, move through their states, rate.

Services over a ``Session``; callers own the transaction. Every change appends a
``ticket_events`` row with who did it, so the timeline is the record. Errors carry
messages safe to show (:class:`TicketError` 422, :class:`TicketNotFound` 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts.audit import Actor
from shopcrm.accounts.permissions import Permission
from shopcrm.loyalty.ledger import get_config
from shopcrm.loyalty.models import LoyaltyAccount
from shopcrm.store.models import Customer, Role, User
from shopcrm.tickets.models import Ticket, TicketEvent, TicketSettings
from shopcrm.tickets.rules import (
    Priority,
    SlaPolicy,
    TicketChannel,
    TicketKind,
    TicketRuleError,
    TicketStatus,
    TicketTimes,
    check_rating,
    check_transition,
    first_response_clock,
    pause_added,
    priority_for,
    resolution_clock,
)

SETTINGS_ID = 1
MAX_BODY = 10_000


class TicketError(ValueError):
    """A request the rules refuse; the message says why."""


class TicketNotFound(LookupError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"no ticket {ticket_id}")


@dataclass(frozen=True)
class NewTicket:
    channel: TicketChannel
    kind: TicketKind
    subject: str
    body: str | None = None
    customer_id: int | None = None
    contact: str | None = None
    order_ref: str | None = None
    assignee_id: int | None = None
    priority: Priority | None = None
    """Set by hand; otherwise from the kind and the member's service level."""


def get_policy(session: Session) -> SlaPolicy:
    row = session.get(TicketSettings, SETTINGS_ID)
    return SlaPolicy.model_validate(row.policy) if row else SlaPolicy()


def save_policy(session: Session, policy: SlaPolicy, *, actor: Actor,
                now: datetime) -> SlaPolicy:
    row = session.get(TicketSettings, SETTINGS_ID)
    data = policy.model_dump(mode="json")
    if row is None:
        session.add(TicketSettings(id=SETTINGS_ID, policy=data, updated_at=now,
                                   updated_by=actor.label[:100]))
    else:
        row.policy, row.updated_at, row.updated_by = data, now, actor.label[:100]
    from shopcrm.accounts import audit

    audit.record(session, actor, "tickets.sla_policy", at=now, details=data)
    return policy


def service_level(session: Session, customer_id: int | None) -> str:
    """The service level the customer's loyalty tier promises (standard without one)."""
    if customer_id is None:
        return "standard"
    account = session.get(LoyaltyAccount, customer_id)
    if account is None or account.tier is None:
        return "standard"
    return get_config(session).tier(account.tier).benefits.service_level


def _customer(session: Session, customer_id: int) -> int:
    """The current customer for an ID (a merged customer's survivor)."""
    seen: set[int] = set()
    current = session.get(Customer, customer_id)
    while current is not None and current.merged_into is not None and current.id not in seen:
        seen.add(current.id)
        current = session.get(Customer, current.merged_into)
    if current is None:
        raise TicketError(f"no customer {customer_id}")
    return current.id


def _assignee(session: Session, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise TicketError(f"no active user {user_id} to assign to")
    role = session.get(Role, user.role_id)
    if role is None or Permission.HANDLE_TICKETS.value not in role.permissions:
        raise TicketError(f"user {user.username} does not work on tickets")
    return user.id


def _event(session: Session, ticket: Ticket, kind: str, actor: Actor, now: datetime, *,
           body: str | None = None, data: dict[str, Any] | None = None) -> TicketEvent:
    event = TicketEvent(ticket_id=ticket.id, kind=kind, body=body, data=data, at=now,
                        actor_id=actor.user_id, actor=actor.label[:100])
    session.add(event)
    ticket.updated_at = now
    return event


def _text(value: str | None, *, field: str, limit: int) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if len(cleaned) > limit:
        raise TicketError(f"{field} is longer than {limit} characters")
    return cleaned or None


def open_ticket(session: Session, new: NewTicket, *, actor: Actor, now: datetime) -> Ticket:
    subject = _text(new.subject, field="subject", limit=200)
    if subject is None:
        raise TicketError("a ticket needs a subject")
    customer_id = _customer(session, new.customer_id) if new.customer_id else None
    if customer_id is None and not (new.contact and new.contact.strip()):
        raise TicketError("a ticket needs a customer or a contact")
    level = service_level(session, customer_id)
    ticket = Ticket(
        customer_id=customer_id, contact=_text(new.contact, field="contact", limit=200),
        channel=new.channel.value, kind=new.kind.value, subject=subject,
        order_ref=_text(new.order_ref, field="order", limit=100),
        status=TicketStatus.OPEN.value,
        priority=(new.priority or priority_for(new.kind, level)).value,
        priority_overridden=new.priority is not None, service_level=level,
        assignee_id=_assignee(session, new.assignee_id), created_at=now, updated_at=now,
        paused_seconds=0, created_by=actor.label[:100])
    refresh_due(ticket, get_policy(session), now)
    session.add(ticket)
    session.flush()
    _event(session, ticket, "created", actor, now,
           body=_text(new.body, field="message", limit=MAX_BODY),
           data={"priority": ticket.priority, "service_level": level,
                 "assignee_id": ticket.assignee_id})
    return ticket


def refresh_due(ticket: Ticket, policy: SlaPolicy, now: datetime) -> None:
    """Recompute the stored due times from the clocks (after any change of state or
    priority), so the queue's "late" filter is one indexed comparison."""
    times = times_of(ticket)
    first = first_response_clock(times, policy, now)
    ticket.first_response_due = None if ticket.first_response_at or ticket.resolved_at \
        else first.due
    ticket.resolution_due = resolution_clock(times, policy, now).due \
        if ticket.status == TicketStatus.OPEN.value else None


def get_ticket(session: Session, ticket_id: int, *, lock: bool = False) -> Ticket:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        query = query.with_for_update()
    ticket = session.scalars(query).one_or_none()
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


def times_of(ticket: Ticket) -> TicketTimes:
    return TicketTimes(
        created_at=_aware(ticket.created_at), priority=Priority(ticket.priority),
        status=TicketStatus(ticket.status),
        first_response_at=_aware_or_none(ticket.first_response_at),
        resolved_at=_aware_or_none(ticket.resolved_at),
        paused=timedelta(seconds=ticket.paused_seconds),
        pending_since=_aware_or_none(ticket.pending_since))


def reply(session: Session, ticket_id: int, body: str, *, internal: bool, actor: Actor,
          now: datetime) -> TicketEvent:
    """An answer the customer sees (stops the first-response clock) or an internal note.
    Writing on a closed ticket is refused: open a new one."""
    text = _text(body, field="message", limit=MAX_BODY)
    if text is None:
        raise TicketError("the message is empty")
    ticket = get_ticket(session, ticket_id, lock=True)
    if ticket.status == TicketStatus.CLOSED.value:
        raise TicketError("the ticket is closed: open a new one")
    if not internal and ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.first_response_due = None
    return _event(session, ticket, "note" if internal else "reply", actor, now, body=text)


def change_status(session: Session, ticket_id: int, target: TicketStatus, *,
                  actor: Actor, now: datetime, note: str | None = None) -> Ticket:
    ticket = get_ticket(session, ticket_id, lock=True)
    current = TicketStatus(ticket.status)
    try:
        check_transition(current, target)
    except TicketRuleError as exc:
        raise TicketError(str(exc)) from exc
    times = times_of(ticket)
    if current is TicketStatus.PENDING:
        ticket.paused_seconds = int(pause_added(times, now).total_seconds())
        ticket.pending_since = None
    if target is TicketStatus.PENDING:
        ticket.pending_since = now
    if target is TicketStatus.RESOLVED or (target is TicketStatus.CLOSED
                                           and ticket.resolved_at is None):
        ticket.resolved_at = now
    if target is TicketStatus.OPEN:  # reopened: the resolution clock runs again
        if ticket.resolved_at is not None:
            ticket.paused_seconds += int((now - _aware(ticket.resolved_at)).total_seconds())
        ticket.resolved_at = None
        ticket.satisfaction = None
    if target is TicketStatus.CLOSED:
        ticket.closed_at = now
    ticket.status = target.value
    refresh_due(ticket, get_policy(session), now)
    _event(session, ticket, "status", actor, now, body=_text(note, field="note", limit=2000),
           data={"from": current.value, "to": target.value})
    return ticket


def assign(session: Session, ticket_id: int, user_id: int | None, *, actor: Actor,
           now: datetime) -> Ticket:
    ticket = get_ticket(session, ticket_id, lock=True)
    new = _assignee(session, user_id)
    if new == ticket.assignee_id:
        return ticket
    _event(session, ticket, "assign", actor, now,
           data={"from": ticket.assignee_id, "to": new})
    ticket.assignee_id = new
    return ticket


def set_priority(session: Session, ticket_id: int, priority: Priority, *, actor: Actor,
                 now: datetime) -> Ticket:
    ticket = get_ticket(session, ticket_id, lock=True)
    if ticket.priority == priority.value:
        return ticket
    _event(session, ticket, "priority", actor, now,
           data={"from": ticket.priority, "to": priority.value})
    ticket.priority, ticket.priority_overridden = priority.value, True
    refresh_due(ticket, get_policy(session), now)
    return ticket


def rate(session: Session, ticket_id: int, score: int, *, comment: str | None,
         actor: Actor, now: datetime) -> Ticket:
    """The customer's satisfaction (1–5), recorded by an agent or a survey callback."""
    ticket = get_ticket(session, ticket_id, lock=True)
    try:
        check_rating(TicketStatus(ticket.status), score)
    except TicketRuleError as exc:
        raise TicketError(str(exc)) from exc
    ticket.satisfaction = score
    _event(session, ticket, "rating", actor, now,
           body=_text(comment, field="comment", limit=2000), data={"score": score})
    return ticket


def events(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                .order_by(TicketEvent.id)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)
