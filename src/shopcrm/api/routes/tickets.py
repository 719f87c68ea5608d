"""Service-ticket API: the queue, one ticket with its timeline, and the changes an agent
makes (reply or note, status, assignee, priority, rating); the SLA policy.

Thin: each route calls one service of :mod:`shopcrm.tickets` in a transaction; refusals
are problem+json (unknown ticket 404, a change the rules refuse 422). Personal data is
masked for roles without ``view_pii`` (:mod:`shopcrm.tickets.present`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.tickets import queries, service
from shopcrm.tickets.models import TicketEvent
from shopcrm.tickets.present import visible
from shopcrm.tickets.rules import (
    Clock,
    Priority,
    SlaPolicy,
    TicketChannel,
    TicketKind,
    TicketStatus,
)

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])

TicketId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Handler = Annotated[Principal, require(Permission.HANDLE_TICKETS)]


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: TicketChannel
    kind: TicketKind
    subject: str = Field(min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=service.MAX_BODY)
    customer_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    contact: str | None = Field(default=None, max_length=200,
                                description="who wrote, when no customer is known")
    order_ref: str | None = Field(default=None, max_length=100)
    assignee_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    priority: Priority | None = Field(default=None, description="set by hand; otherwise "
                                      "from the kind and the member's service level")


class TicketUpdate(BaseModel):
    """Any of: a new status (with a note), an assignee (null = unassign), a priority."""

    model_config = ConfigDict(extra="forbid")

    status: TicketStatus | None = None
    note: str | None = Field(default=None, max_length=2000)
    assignee_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    unassign: bool = False
    priority: Priority | None = None


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=service.MAX_BODY)
    internal: bool = Field(default=False, description="an internal note the customer "
                           "does not see (does not stop the first-response clock)")


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class ClockPublic(BaseModel):
    state: str
    due: datetime | None
    used_seconds: int
    target_seconds: int


class TicketPublic(BaseModel):
    id: int
    customer_id: int | None
    customer_name: str | None
    customer_phone: str | None
    contact: str | None
    channel: str
    kind: str
    subject: str
    order_ref: str | None
    status: str
    priority: str
    priority_overridden: bool
    service_level: str
    assignee_id: int | None
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    satisfaction: int | None
    late: bool
    first_response: ClockPublic
    resolution: ClockPublic


class EventPublic(BaseModel):
    id: int
    kind: str
    body: str | None
    data: dict[str, object] | None
    at: datetime
    actor: str


class TicketDetail(TicketPublic):
    events: list[EventPublic]


class TicketList(BaseModel):
    items: list[TicketPublic]
    total: int
    page: int
    size: int


class DeskFiguresPublic(BaseModel):
    active: int
    unassigned: int
    late: int
    resolved: int
    first_response_met: float | None
    median_first_response_seconds: int | None
    satisfaction: float | None
    ratings: int
    by_kind: dict[str, int]


def _clock(clock: Clock) -> ClockPublic:
    return ClockPublic(state=clock.state.value, due=clock.due,
                       used_seconds=int(clock.used.total_seconds()),
                       target_seconds=int(clock.target.total_seconds()))


def _public(row: queries.TicketRow, principal: Principal) -> TicketPublic:
    t = row.ticket
    name, phone, contact = visible(principal, name=row.customer_name,
                                   phone=row.customer_phone, contact=t.contact)
    return TicketPublic(
        id=t.id, customer_id=t.customer_id, customer_name=name, customer_phone=phone,
        contact=contact, channel=t.channel, kind=t.kind, subject=t.subject,
        order_ref=t.order_ref, status=t.status, priority=t.priority,
        priority_overridden=t.priority_overridden, service_level=t.service_level,
        assignee_id=t.assignee_id, assignee=row.assignee, created_at=t.created_at,
        updated_at=t.updated_at, first_response_at=t.first_response_at,
        resolved_at=t.resolved_at, closed_at=t.closed_at, satisfaction=t.satisfaction,
        late=row.late, first_response=_clock(row.first_response),
        resolution=_clock(row.resolution))


def _event(event: TicketEvent) -> EventPublic:
    return EventPublic(id=event.id, kind=event.kind, body=event.body, data=event.data,
                       at=event.at, actor=event.actor)


def _problem(exc: Exception) -> HTTPException:
    if isinstance(exc, service.TicketNotFound):
        return HTTPException(404, str(exc))
    return HTTPException(422, str(exc))


ERRORS = (service.TicketError, service.TicketNotFound)


@router.get("", response_model=TicketList)
def list_tickets(
    context: ContextDep, session: SessionDep, principal: Handler,
    queue: Annotated[queries.Queue, Query(description="mine, unassigned, active, late, all")]
    = queries.Queue.ACTIVE,
    status: TicketStatus | None = None, priority: Priority | None = None,
    kind: TicketKind | None = None, channel: TicketChannel | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 25,
) -> TicketList:
    flt = queries.TicketFilter(queue=queue, me=principal.user_id, status=status,
                               priority=priority, kind=kind.value if kind else None,
                               channel=channel.value if channel else None,
                               customer_id=customer_id, assignee_id=assignee_id)
    found = queries.list_tickets(session, flt, service.get_policy(session),
                                 context.clock.now(), page=page, size=size)
    return TicketList(items=[_public(r, principal) for r in found.items], total=found.total,
                      page=found.page, size=found.size)


@router.post("", response_model=TicketDetail, status_code=201)
def open_ticket(body: TicketCreate, request: Request, context: ContextDep,
                principal: Handler) -> TicketDetail:
    with context.sessions.begin() as session:
        try:
            ticket = service.open_ticket(session, service.NewTicket(**body.model_dump()),
                                         actor=client_actor(request, principal),
                                         now=context.clock.now())
        except ERRORS as exc:
            raise _problem(exc) from exc
        return _detail(session, ticket.id, context.clock.now(), principal)


@router.get("/figures", response_model=DeskFiguresPublic)
def figures(context: ContextDep, session: SessionDep, principal: Handler,
            days: Annotated[int, Query(ge=1, le=366)] = 30) -> DeskFiguresPublic:
    found = queries.desk_figures(session, service.get_policy(session), context.clock.now(),
                                 days=days)
    median = found.median_first_response
    return DeskFiguresPublic(
        active=found.active, unassigned=found.unassigned, late=found.late,
        resolved=found.resolved, first_response_met=found.first_response_met,
        median_first_response_seconds=int(median.total_seconds()) if median else None,
        satisfaction=found.satisfaction, ratings=found.ratings, by_kind=found.by_kind)


@router.get("/settings", response_model=SlaPolicy)
def sla_policy(session: SessionDep, principal: Handler) -> SlaPolicy:
    return service.get_policy(session)


@router.put("/settings", response_model=SlaPolicy)
def save_sla_policy(body: SlaPolicy, request: Request, context: ContextDep,
                    principal: Annotated[Principal, require(Permission.MANAGE_SETTINGS)]
                    ) -> SlaPolicy:
    with context.sessions.begin() as session:
        return service.save_policy(session, body, actor=client_actor(request, principal),
                                   now=context.clock.now())


def _detail(session: Session, ticket_id: int, now: datetime,
            principal: Principal) -> TicketDetail:
    ticket = service.get_ticket(session, ticket_id)
    row = queries.ticket_row(session, ticket, service.get_policy(session), now)
    return TicketDetail(**_public(row, principal).model_dump(),
                        events=[_event(e) for e in service.events(session, ticket_id)])


@router.get("/{ticket_id}", response_model=TicketDetail)
def get_ticket(ticket_id: TicketId, context: ContextDep, session: SessionDep,
               principal: Handler) -> TicketDetail:
    try:
        return _detail(session, ticket_id, context.clock.now(), principal)
    except ERRORS as exc:
        raise _problem(exc) from exc


@router.patch("/{ticket_id}", response_model=TicketDetail)
def update_ticket(ticket_id: TicketId, body: TicketUpdate, request: Request,
                  context: ContextDep, principal: Handler) -> TicketDetail:
    actor, now = client_actor(request, principal), context.clock.now()
    with context.sessions.begin() as session:
        try:
            service.get_ticket(session, ticket_id)
            if body.unassign or body.assignee_id is not None:
                service.assign(session, ticket_id, None if body.unassign else body.assignee_id,
                               actor=actor, now=now)
            if body.priority is not None:
                service.set_priority(session, ticket_id, body.priority, actor=actor, now=now)
            if body.status is not None:
                service.change_status(session, ticket_id, body.status, actor=actor, now=now,
                                      note=body.note)
            return _detail(session, ticket_id, now, principal)
        except ERRORS as exc:
            raise _problem(exc) from exc


@router.post("/{ticket_id}/replies", response_model=EventPublic, status_code=201)
def add_reply(ticket_id: TicketId, body: ReplyCreate, request: Request, context: ContextDep,
              principal: Handler) -> EventPublic:
    with context.sessions.begin() as session:
        try:
            event = service.reply(session, ticket_id, body.body, internal=body.internal,
                                  actor=client_actor(request, principal),
                                  now=context.clock.now())
            session.flush()
            return _event(event)
        except ERRORS as exc:
            raise _problem(exc) from exc


@router.post("/{ticket_id}/rating", response_model=TicketPublic)
def add_rating(ticket_id: TicketId, body: RatingCreate, request: Request,
               context: ContextDep, principal: Handler) -> TicketPublic:
    with context.sessions.begin() as session:
        try:
            ticket = service.rate(session, ticket_id, body.score, comment=body.comment,
                                  actor=client_actor(request, principal),
                                  now=context.clock.now())
            row = queries.ticket_row(session, ticket, service.get_policy(session),
                                     context.clock.now())
            return _public(row, principal)
        except ERRORS as exc:
            raise _problem(exc) from exc



