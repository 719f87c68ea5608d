"""Service-desk pages: the queue (tabs, filters, SLA clocks), a new-ticket form, and one
ticket with its conversation and the agent's actions. Thin: each handler calls one
service of :mod:`shopcrm.tickets` and redirects (post/redirect/get), so a reload never
sends a reply twice; a refused change re-renders the page with the reason (422)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.tickets import queries, service
from shopcrm.tickets.present import visible
from shopcrm.tickets.rules import (
    PRIORITY_ORDER,
    TRANSITIONS,
    Priority,
    TicketChannel,
    TicketKind,
    TicketStatus,
)
from shopcrm.web.routes import MAX_ID, _render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
Handler = Annotated[Principal, require(Permission.HANDLE_TICKETS)]
TicketId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


def _choices() -> dict[str, Any]:
    return {"kinds": [k.value for k in TicketKind], "channels": [c.value for c in TicketChannel],
            "priorities": [p.value for p in reversed(PRIORITY_ORDER)]}


@router.get("/service", response_class=HTMLResponse)
def desk(request: Request, context: ContextDep, session: SessionDep, principal: Handler,
         queue: queries.Queue = queries.Queue.MINE, priority: Priority | None = None,
         kind: Annotated[TicketKind | None, Query()] = None,
         channel: Annotated[TicketChannel | None, Query()] = None,
         page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    now, policy = context.clock.now(), service.get_policy(session)
    flt = queries.TicketFilter(queue=queue, me=principal.user_id, priority=priority,
                               kind=kind.value if kind else None,
                               channel=channel.value if channel else None)
    found = queries.list_tickets(session, flt, policy, now, page=page, size=PAGE_SIZE)
    rows = []
    for row in found.items:
        name, _phone, contact = visible(principal, name=row.customer_name,
                                        phone=row.customer_phone, contact=row.ticket.contact)
        rows.append({"ticket": row.ticket, "name": name, "contact": contact, "late": row.late,
                     "assignee": row.assignee, "first_response": row.first_response,
                     "resolution": row.resolution})
    query = urlencode({k: v for k, v in {
        "queue": queue.value, "priority": priority.value if priority else None,
        "kind": flt.kind, "channel": flt.channel}.items() if v})
    return _render(request, context, "service.html", principal=principal, rows=rows,
                   figures=queries.desk_figures(session, policy, now), queue=queue.value,
                   queues=[q.value for q in queries.Queue],
                   flt={"priority": priority.value if priority else None, "kind": flt.kind,
                        "channel": flt.channel},
                   page=found.page, pages=max(1, -(-found.total // PAGE_SIZE)), query=query,
                   **_choices())


@router.get("/service/tickets/new", response_class=HTMLResponse)
def new_ticket(request: Request, context: ContextDep, principal: Handler,
               customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
               ) -> HTMLResponse:
    return _render(request, context, "ticket_new.html", principal=principal,
                   form={"customer_id": customer_id}, **_choices())


@router.post("/service/tickets")
def create_ticket(request: Request, context: ContextDep, principal: Handler,
                  channel: Annotated[TicketChannel, Form()],
                  kind: Annotated[TicketKind, Form()],
                  subject: Annotated[str, Form(max_length=200)],
                  customer_id: Annotated[str, Form(max_length=20)] = "",
                  contact: Annotated[str, Form(max_length=200)] = "",
                  order_ref: Annotated[str, Form(max_length=100)] = "",
                  body: Annotated[str, Form(max_length=service.MAX_BODY)] = "") -> Response:
    form = {"customer_id": customer_id, "contact": contact, "channel": channel.value,
            "kind": kind.value, "subject": subject, "order_ref": order_ref, "body": body}
    try:
        customer = int(customer_id) if customer_id.strip() else None
        if customer is not None and not 1 <= customer <= MAX_ID:
            raise ValueError
    except ValueError:
        return _render(request, context, "ticket_new.html", principal=principal,
                       status_code=422, form=form, error=_bad_customer(request, principal),
                       **_choices())
    with context.sessions.begin() as session:
        try:
            ticket = service.open_ticket(session, service.NewTicket(
                channel=channel, kind=kind, subject=subject, body=body or None,
                customer_id=customer, contact=contact or None, order_ref=order_ref or None),
                actor=client_actor(request, principal), now=context.clock.now())
        except service.TicketError as exc:
            session.rollback()
            return _render(request, context, "ticket_new.html", principal=principal,
                           status_code=422, form=form, error=str(exc), **_choices())
        ticket_id = ticket.id
    return RedirectResponse(f"/service/tickets/{ticket_id}", status_code=303)


def _bad_customer(request: Request, principal: Principal) -> str:
    from shopcrm.web.routes import gettext_functions, language

    return str(gettext_functions(language(request, principal))["_"](
        "The customer number must be a whole number."))


def _ticket_page(request: Request, context: ContextDep, principal: Principal, ticket_id: int,
                 *, error: str | None = None) -> HTMLResponse:
    with context.sessions() as session:
        try:
            ticket = service.get_ticket(session, ticket_id)
        except service.TicketNotFound:
            return _render(request, context, "error.html", principal=principal,
                           status_code=404, error="not_found", message=None)
        row = queries.ticket_row(session, ticket, service.get_policy(session),
                                 context.clock.now())
        name, phone, contact = visible(principal, name=row.customer_name,
                                       phone=row.customer_phone, contact=ticket.contact)
        moves = sorted(s.value for s in TRANSITIONS[TicketStatus(ticket.status)])
        return _render(request, context, "ticket.html", principal=principal,
                       status_code=422 if error else 200, t=ticket, row=row,
                       customer_name=name, phone=phone, contact=contact,
                       events=service.events(session, ticket_id),
                       agents=queries.agents(session), moves=moves, error=error, **_choices())


@router.get("/service/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, context: ContextDep, principal: Handler,
                ticket_id: TicketId) -> HTMLResponse:
    return _ticket_page(request, context, principal, ticket_id)


def _act(request: Request, context: ContextDep, principal: Principal, ticket_id: int,
         change: object) -> Response:
    """Run one change in a transaction; redirect to the ticket, or show why not."""
    assert callable(change)
    with context.sessions.begin() as session:
        try:
            change(session, client_actor(request, principal), context.clock.now())
        except service.TicketNotFound:
            session.rollback()
            return _render(request, context, "error.html", principal=principal,
                           status_code=404, error="not_found", message=None)
        except service.TicketError as exc:
            session.rollback()
            message = str(exc)
        else:
            return RedirectResponse(f"/service/tickets/{ticket_id}", status_code=303)
    return _ticket_page(request, context, principal, ticket_id, error=message)


@router.post("/service/tickets/{ticket_id}/replies")
def reply_submit(request: Request, context: ContextDep, principal: Handler,
                 ticket_id: TicketId,
                 body: Annotated[str, Form(max_length=service.MAX_BODY)],
                 internal: Annotated[bool, Form()] = False) -> Response:
    return _act(request, context, principal, ticket_id, lambda s, a, n: service.reply(
        s, ticket_id, body, internal=internal, actor=a, now=n))


@router.post("/service/tickets/{ticket_id}/status")
def status_submit(request: Request, context: ContextDep, principal: Handler,
                  ticket_id: TicketId, status: Annotated[TicketStatus, Form()]) -> Response:
    return _act(request, context, principal, ticket_id, lambda s, a, n: service.change_status(
        s, ticket_id, status, actor=a, now=n))


@router.post("/service/tickets/{ticket_id}/assign")
def assign_submit(request: Request, context: ContextDep, principal: Handler,
                  ticket_id: TicketId,
                  assignee_id: Annotated[str, Form(max_length=20)] = "") -> Response:
    user = int(assignee_id) if assignee_id.strip().isdigit() else None
    return _act(request, context, principal, ticket_id, lambda s, a, n: service.assign(
        s, ticket_id, user, actor=a, now=n))


@router.post("/service/tickets/{ticket_id}/priority")
def priority_submit(request: Request, context: ContextDep, principal: Handler,
                    ticket_id: TicketId, priority: Annotated[Priority, Form()]) -> Response:
    return _act(request, context, principal, ticket_id, lambda s, a, n: service.set_priority(
        s, ticket_id, priority, actor=a, now=n))


@router.post("/service/tickets/{ticket_id}/rating")
def rating_submit(request: Request, context: ContextDep, principal: Handler,
                  ticket_id: TicketId, score: Annotated[int, Form(ge=1, le=5)],
                  comment: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _act(request, context, principal, ticket_id, lambda s, a, n: service.rate(
        s, ticket_id, score, comment=comment or None, actor=a, now=n))
