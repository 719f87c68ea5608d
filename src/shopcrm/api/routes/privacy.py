"""Consents, data-subject export and erasure of one customer (PIPL / GDPR).

Thin: each route calls one service of :mod:`shopcrm.privacy` in a transaction and maps
its errors to problem+json (unknown customer 404, refused request 422). Consent records
hold no personal data, so they need no masking; the export is unmasked and therefore
only for holders of ``manage_privacy``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.identity.cache import cache_for
from shopcrm.privacy import CustomerNotFound, PrivacyError
from shopcrm.privacy.consents import consent_history, current_consent_rows, record_consent
from shopcrm.privacy.erasure import MAX_REASON, erase_customer
from shopcrm.privacy.export import export_customer
from shopcrm.privacy.rules import ERASURE_SOURCE, Channel, Purpose, Status

router = APIRouter(prefix="/api/v1/customers", tags=["privacy"])

CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the unified customer ID")]
CALLER_SOURCE = r"^[a-z][a-z0-9-]{0,31}$"
"""Sources a caller may name: ``api``, ``web``, ``sms-reply``, ``service-desk`` …; the
system's own sources (``erasure``, ``import:…``, ``merge:…``) cannot be forged."""
SYSTEM_SOURCES = frozenset({ERASURE_SOURCE})


class ConsentCreate(BaseModel):
    """A consent change as the customer expressed it."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    purpose: Purpose
    status: Status
    source: str = Field(default="api", pattern=CALLER_SOURCE,
                        description="where the customer said it: api, web, sms-reply …")

    @field_validator("source")
    @classmethod
    def _not_a_system_source(cls, value: str) -> str:
        if value in SYSTEM_SOURCES:
            raise ValueError(f"{value!r} is written by shopcrm itself, not by callers")
        return value


class ConsentPublic(BaseModel):
    id: int
    customer_id: int
    channel: Channel
    purpose: Purpose
    status: Status
    source: str
    at: datetime
    actor: str


class ConsentOverview(BaseModel):
    customer_id: int
    current: list[ConsentPublic] = Field(description="newest record per channel and purpose")
    history: list[ConsentPublic] = Field(description="every change, oldest first")


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON,
                        description="why (e.g. the data subject's request reference)")


class ErasurePublic(BaseModel):
    customer_id: int
    erased: bool = Field(description="false when the customer had been erased before")
    message: str
    identities: int
    consents_withdrawn: int
    erased_at: datetime | None


def _problem(exc: PrivacyError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, CustomerNotFound) else 422, str(exc))


@router.get("/{customer_id}/consents", response_model=ConsentOverview)
def consents(customer_id: CustomerId, context: ContextDep, session: SessionDep,
             _: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)]) -> ConsentOverview:
    try:
        history = consent_history(session, customer_id=customer_id)
        current = current_consent_rows(session, customer_id=customer_id,
                                       now=context.clock.now())
    except PrivacyError as exc:
        raise _problem(exc) from exc
    return ConsentOverview(
        customer_id=customer_id,
        current=[ConsentPublic.model_validate(r, from_attributes=True) for r in current],
        history=[ConsentPublic.model_validate(r, from_attributes=True) for r in history])


@router.post("/{customer_id}/consents", response_model=ConsentPublic, status_code=201)
def add_consent(customer_id: CustomerId, body: ConsentCreate, request: Request,
                context: ContextDep,
                principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)],
                ) -> ConsentPublic:
    with context.sessions.begin() as session:
        try:
            row = record_consent(session, customer_id=customer_id, channel=body.channel,
                                 purpose=body.purpose, status=body.status, source=body.source,
                                 actor=client_actor(request, principal),
                                 now=context.clock.now())
        except PrivacyError as exc:
            raise _problem(exc) from exc
        return ConsentPublic.model_validate(row, from_attributes=True)


@router.get("/{customer_id}/export", response_class=Response,
            responses={200: {"content": {"application/json": {}},
                             "description": "the data-subject export as a JSON attachment"}})
def export(customer_id: CustomerId, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_PRIVACY)]) -> Response:
    with context.sessions.begin() as session:
        try:
            document = export_customer(session, warehouse=context.warehouse,
                                       customer_id=customer_id,
                                       actor=client_actor(request, principal),
                                       now=context.clock.now())
        except PrivacyError as exc:
            raise _problem(exc) from exc
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2), media_type="application/json",
        headers={"Content-Disposition":
                 f'attachment; filename="customer-{customer_id}-export.json"',
                 "Cache-Control": "no-store"})


@router.post("/{customer_id}/erase", response_model=ErasurePublic)
def erase(customer_id: CustomerId, body: ErasureRequest, request: Request, context: ContextDep,
          principal: Annotated[Principal, require(Permission.MANAGE_PRIVACY)]) -> ErasurePublic:
    with context.sessions.begin() as session:
        try:
            result = erase_customer(session, customer_id=customer_id, reason=body.reason,
                                    actor=client_actor(request, principal),
                                    now=context.clock.now())
        except PrivacyError as exc:
            raise _problem(exc) from exc
    # The matcher's cache of comparable records holds names, phones and addresses too.
    cache_for(context.settings.home).forget(result.identity_ids)
    return ErasurePublic(customer_id=result.customer_id, erased=result.erased,
                         message=result.message, identities=result.identities,
                         consents_withdrawn=result.consents_withdrawn,
                         erased_at=result.erased_at)
