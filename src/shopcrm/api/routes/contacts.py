"""Contact points (WeChat openids, push device tokens) and the in-site inbox.

Registration and disabling are customer writes (``edit_customers``; the shop's site
or app backend calls them with an API key scoped to it); listing a customer's contact
points is a customer read, masked for callers without ``view_pii``. The inbox routes
are what the shop's site calls to show a signed-in customer their messages
(``site_inbox``): a page of messages with the unread count, and marking one read —
the first read counts as an open of the campaign delivery. Errors are problem+json:
unknown customer or message 404, an openid held by another customer 409, bad input
422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.contacts import ContactConflict, ContactError, UnknownCustomer, UnknownMessage
from shopcrm.contacts.inbox import inbox_page, mark_read
from shopcrm.contacts.models import ContactPoint, InboxMessage
from shopcrm.contacts.rules import mask_contact, validate
from shopcrm.contacts.service import contacts_of, disable, live_customer, register
from shopcrm.store.models import Customer

router = APIRouter(tags=["contacts"])
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the unified customer ID")]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class WeChatContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["wechat"]
    app_id: str = Field(min_length=1, max_length=64,
                        description="official account / mini-program app id (wx…)")
    openid: str = Field(min_length=1, max_length=64)
    unionid: str | None = Field(default=None, max_length=64)


class PushContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["push"]
    app_id: str = Field(min_length=1, max_length=64, description="the app's id")
    token: str = Field(min_length=1, max_length=512, description="the device token")
    platform: str = Field(min_length=1, max_length=16, description="ios, android, harmony")


ContactCreate = Annotated[WeChatContactCreate | PushContactCreate,
                          Field(discriminator="kind")]


class ContactPublic(BaseModel):
    id: int
    customer_id: int
    kind: str
    app_id: str
    address: str = Field(description="openid or device token (masked without view_pii)")
    platform: str | None
    unionid: str | None
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    source: str
    created_at: datetime
    seen_at: datetime


class ContactList(BaseModel):
    customer_id: int
    items: list[ContactPublic]


class DisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=300,
                        description="e.g. signed out on the device, unfollowed")


class InboxMessagePublic(BaseModel):
    id: int
    campaign_id: int | None
    subject: str | None
    body: str
    url: str | None
    created_at: datetime
    read_at: datetime | None


class InboxPagePublic(BaseModel):
    customer_id: int
    items: list[InboxMessagePublic]
    total: int
    unread: int
    page: int
    size: int


class ReadPublic(BaseModel):
    message: InboxMessagePublic
    first_read: bool
    unread: int


def _problem(exc: ContactError) -> HTTPException:
    if isinstance(exc, UnknownCustomer | UnknownMessage):
        return HTTPException(404, str(exc))
    if isinstance(exc, ContactConflict):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


def _public(row: ContactPoint, principal: Principal) -> ContactPublic:
    shown = row.address if principal.can(Permission.VIEW_PII) else mask_contact(row.address)
    unionid = row.unionid if principal.can(Permission.VIEW_PII) or row.unionid is None \
        else mask_contact(row.unionid)
    return ContactPublic(id=row.id, customer_id=row.customer_id, kind=row.kind,
                         app_id=row.app_id, address=shown, platform=row.platform,
                         unionid=unionid, status=row.status,
                         disabled_reason=row.disabled_reason, disabled_at=row.disabled_at,
                         source=row.source, created_at=row.created_at, seen_at=row.seen_at)


@router.post("/api/v1/customers/{customer_id}/contacts", response_model=ContactPublic,
             status_code=201, responses={200: {"description": "already registered"},
                                         404: {"description": "no such customer"},
                                         409: {"description": "openid of another customer"}})
def register_contact(customer_id: CustomerId, body: ContactCreate, request: Request,
                     context: ContextDep,
                     principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)],
                     ) -> ContactPublic | JSONResponse:
    """Register a WeChat openid or a push device token (idempotent: a repeat answers
    200 with the same contact point)."""
    try:
        if isinstance(body, WeChatContactCreate):
            item = validate(kind="wechat", app_id=body.app_id, address=body.openid,
                            unionid=body.unionid)
        else:
            item = validate(kind="push", app_id=body.app_id, address=body.token,
                            platform=body.platform)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    with context.sessions.begin() as session:
        try:
            done = register(session, customer_id=customer_id, item=item, source="api",
                            now=context.clock.now(), actor=client_actor(request, principal))
        except ContactError as exc:
            raise _problem(exc) from exc
        public = _public(done.contact, principal)
    if done.created:
        return public
    return JSONResponse(public.model_dump(mode="json"), status_code=200)


@router.get("/api/v1/customers/{customer_id}/contacts", response_model=ContactList)
def list_contacts(customer_id: CustomerId, session: SessionDep,
                  principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
                  ) -> ContactList:
    if session.get(Customer, customer_id) is None:
        raise HTTPException(404, f"customer {customer_id} does not exist")
    return ContactList(customer_id=customer_id,
                       items=[_public(r, principal) for r in contacts_of(session, customer_id)])


@router.post("/api/v1/customers/{customer_id}/contacts/{contact_id}/disable",
             response_model=ContactPublic)
def disable_contact(customer_id: CustomerId, contact_id: RowId, body: DisableRequest,
                    request: Request, context: ContextDep,
                    principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)],
                    ) -> ContactPublic:
    """The address no longer works (signed out, unfollowed): later sends skip it."""
    with context.sessions.begin() as session:
        try:
            row = disable(session, customer_id=customer_id, contact_id=contact_id,
                          reason=body.reason, now=context.clock.now(),
                          actor=client_actor(request, principal))
        except ContactError as exc:
            raise _problem(exc) from exc
        return _public(row, principal)


def _message(row: InboxMessage) -> InboxMessagePublic:
    return InboxMessagePublic.model_validate(row, from_attributes=True)


def _survivor(session: SessionDep, customer_id: int) -> int | None:
    """The customer a merged one now lives in (None: serve this one)."""
    try:
        live_customer(session, customer_id)
    except UnknownCustomer as exc:
        customer = session.get(Customer, customer_id)
        if customer is not None and customer.status == "merged" and customer.merged_into:
            return int(customer.merged_into)
        raise _problem(exc) from exc
    return None


@router.get("/api/v1/inbox/{customer_id}", response_model=InboxPagePublic,
            responses={307: {"description": "the customer was merged: see the survivor"},
                       404: {"description": "no such customer"}})
def inbox(customer_id: CustomerId, session: SessionDep,
          _: Annotated[Principal, require(Permission.SITE_INBOX)],
          page: Annotated[int, Query(ge=1, le=100_000)] = 1,
          size: Annotated[int, Query(ge=1, le=100)] = 20,
          unread: Annotated[bool, Query(description="only unread messages")] = False,
          ) -> InboxPagePublic | RedirectResponse:
    """A customer's in-site messages, newest first, with the unread count."""
    survivor = _survivor(session, customer_id)
    if survivor is not None:
        return RedirectResponse(f"/api/v1/inbox/{survivor}?page={page}&size={size}"
                                f"&unread={str(unread).lower()}", status_code=307)
    found = inbox_page(session, customer_id=customer_id, page=page, size=size,
                       unread_only=unread)
    return InboxPagePublic(customer_id=customer_id, items=[_message(m) for m in found.items],
                           total=found.total, unread=found.unread, page=page, size=size)


@router.post("/api/v1/inbox/{customer_id}/messages/{message_id}/read",
             response_model=ReadPublic, responses={404: {"description": "no such message"}})
def read_message(customer_id: CustomerId, message_id: RowId, context: ContextDep,
                 _: Annotated[Principal, require(Permission.SITE_INBOX)]) -> ReadPublic:
    """Mark a message read (again: no change); the first read is the campaign's open."""
    with context.sessions.begin() as session:
        try:
            live_customer(session, customer_id)
            message, first = mark_read(session, customer_id=customer_id,
                                       message_id=message_id, now=context.clock.now())
        except ContactError as exc:
            raise _problem(exc) from exc
        unread = inbox_page(session, customer_id=customer_id, page=1, size=1).unread
        return ReadPublic(message=_message(message), first_read=first, unread=unread)
