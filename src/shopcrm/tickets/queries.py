"""Reading tickets: the queue with its filters, a customer's tickets, desk figures.

The queue is ordered the way an agent works it: late first, then by priority, then the
oldest due time — so the ticket that breaks a promise soonest is on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shopcrm.store.models import Customer, User
from shopcrm.tickets.models import Ticket
from shopcrm.tickets.rules import (
    PRIORITY_ORDER,
    Clock,
    ClockState,
    Priority,
    SlaPolicy,
    TicketStatus,
    first_response_clock,
    resolution_clock,
)
from shopcrm.tickets.service import times_of

ACTIVE = (TicketStatus.OPEN.value, TicketStatus.PENDING.value)


class Queue(StrEnum):
    """The tabs of the service desk."""

    MINE = "mine"
    UNASSIGNED = "unassigned"
    ACTIVE = "active"
    LATE = "late"
    ALL = "all"


@dataclass(frozen=True)
class TicketFilter:
    queue: Queue = Queue.ACTIVE
    me: int | None = None
    status: TicketStatus | None = None
    priority: Priority | None = None
    kind: str | None = None
    channel: str | None = None
    customer_id: int | None = None
    assignee_id: int | None = None


@dataclass(frozen=True)
class TicketRow:
    ticket: Ticket
    customer_name: str | None
    customer_phone: str | None
    assignee: str | None
    first_response: Clock
    resolution: Clock

    @property
    def late(self) -> bool:
        return ClockState.BREACHED in (self.first_response.state, self.resolution.state)


@dataclass(frozen=True)
class Page:
    items: list[TicketRow]
    total: int
    page: int
    size: int


def late_condition(now: datetime) -> ColumnElement[bool]:
    return or_(Ticket.first_response_due < now, Ticket.resolution_due < now)


def _conditions(flt: TicketFilter, now: datetime) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if flt.queue is Queue.MINE:
        found += [Ticket.assignee_id == (flt.me or -1), Ticket.status.in_(ACTIVE)]
    elif flt.queue is Queue.UNASSIGNED:
        found += [Ticket.assignee_id.is_(None), Ticket.status.in_(ACTIVE)]
    elif flt.queue is Queue.ACTIVE:
        found.append(Ticket.status.in_(ACTIVE))
    elif flt.queue is Queue.LATE:
        found += [Ticket.status.in_(ACTIVE), late_condition(now)]
    if flt.status is not None:
        found.append(Ticket.status == flt.status.value)
    if flt.priority is not None:
        found.append(Ticket.priority == flt.priority.value)
    if flt.kind:
        found.append(Ticket.kind == flt.kind)
    if flt.channel:
        found.append(Ticket.channel == flt.channel)
    if flt.customer_id is not None:
        found.append(Ticket.customer_id == flt.customer_id)
    if flt.assignee_id is not None:
        found.append(Ticket.assignee_id == flt.assignee_id)
    return found


def _rank() -> ColumnElement[int]:
    return case({p.value: -i for i, p in enumerate(PRIORITY_ORDER)}, value=Ticket.priority,
                else_=0)


def list_tickets(session: Session, flt: TicketFilter, policy: SlaPolicy, now: datetime, *,
                 page: int = 1, size: int = 25) -> Page:
    where = and_(*_conditions(flt, now)) if _conditions(flt, now) else None
    count = select(func.count()).select_from(Ticket)
    query = (select(Ticket, Customer.name, Customer.phone, User.username)
             .outerjoin(Customer, Customer.id == Ticket.customer_id)
             .outerjoin(User, User.id == Ticket.assignee_id))
    if where is not None:
        count, query = count.where(where), query.where(where)
    active_first = case((Ticket.status.in_(ACTIVE), 0), else_=1)
    late_first = case((late_condition(now), 0), else_=1)
    due = func.coalesce(Ticket.first_response_due, Ticket.resolution_due)
    query = (query.order_by(active_first, late_first, _rank(), due.is_(None), due,
                            Ticket.created_at.desc(), Ticket.id.desc())
             .limit(size).offset((page - 1) * size))
    rows = [_row(ticket, name, phone, assignee, policy, now)
            for ticket, name, phone, assignee in session.execute(query)]
    return Page(rows, int(session.scalar(count) or 0), page, size)


def ticket_row(session: Session, ticket: Ticket, policy: SlaPolicy, now: datetime) -> TicketRow:
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    user = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    return _row(ticket, customer.name if customer else None,
                customer.phone if customer else None, user.username if user else None,
                policy, now)


def _row(ticket: Ticket, name: str | None, phone: str | None, assignee: str | None,
         policy: SlaPolicy, now: datetime) -> TicketRow:
    times = times_of(ticket)
    return TicketRow(ticket, name, phone, assignee, first_response_clock(times, policy, now),
                     resolution_clock(times, policy, now))


@dataclass(frozen=True)
class DeskFigures:
    """What a service lead watches: load, lateness, speed, satisfaction."""

    active: int
    unassigned: int
    late: int
    resolved: int
    """Tickets resolved in the window."""
    first_response_met: float | None
    """Share of tickets answered in the window whose first response met its target."""
    median_first_response: timedelta | None
    satisfaction: float | None
    ratings: int
    by_kind: dict[str, int]


def desk_figures(session: Session, policy: SlaPolicy, now: datetime, *,
                 days: int = 30) -> DeskFigures:
    since = now - timedelta(days=days)
    active = select(func.count()).select_from(Ticket).where(Ticket.status.in_(ACTIVE))
    answered = list(session.scalars(select(Ticket).where(
        Ticket.first_response_at.is_not(None), Ticket.first_response_at >= since)))
    clocks = [first_response_clock(times_of(t), policy, now) for t in answered]
    waits = sorted(c.used for c in clocks)
    rated = session.execute(select(func.count(Ticket.satisfaction), func.avg(Ticket.satisfaction))
                            .where(Ticket.satisfaction.is_not(None),
                                   Ticket.resolved_at >= since)).one()
    kinds = dict(session.execute(select(Ticket.kind, func.count()).where(
        Ticket.created_at >= since).group_by(Ticket.kind)).all())
    return DeskFigures(
        active=int(session.scalar(active) or 0),
        unassigned=int(session.scalar(active.where(Ticket.assignee_id.is_(None))) or 0),
        late=int(session.scalar(active.where(late_condition(now))) or 0),
        resolved=int(session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.resolved_at.is_not(None), Ticket.resolved_at >= since)) or 0),
        first_response_met=(sum(c.state is ClockState.MET for c in clocks) / len(clocks)
                            if clocks else None),
        median_first_response=waits[len(waits) // 2] if waits else None,
        satisfaction=float(rated[1]) if rated[0] else None, ratings=int(rated[0] or 0),
        by_kind={str(k): int(v) for k, v in kinds.items()})


def customer_tickets(session: Session, customer_id: int, *, limit: int = 10) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.customer_id == customer_id)
                                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                                .limit(limit)))


def agents(session: Session) -> list[User]:
    """Active users whose role works on tickets (the assign list)."""
    from shopcrm.accounts.permissions import Permission
    from shopcrm.store.models import Role

    users = session.execute(select(User, Role.permissions).join(Role, Role.id == User.role_id)
                            .where(User.is_active.is_(True)).order_by(User.username))
    return [user for user, permissions in users
            if Permission.HANDLE_TICKETS.value in (permissions or [])]
