"""Identity resolution through the API: merge, un-merge, the review queue, a run.

Thin: each route calls one service of :mod:`shopcrm.identity` in a transaction and
maps its errors to problem+json (unknown 404, refused 409, invalid 422). Identities in
the review queue are masked for callers without view-PII, like everywhere else.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shopcrm.accounts.masking import mask_email, mask_phone
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.customers.present import present_identity
from shopcrm.identity.merges import (
    Conflict,
    MergeError,
    NotFound,
    decide_review,
    merge_customers,
    unmerge,
)
from shopcrm.identity.models import IdentityMerge
from shopcrm.identity.queries import list_reviews, merge_history, shared_identifiers
from shopcrm.identity.service import resolve_everything

router = APIRouter(prefix="/api/v1", tags=["identity"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_id: int = Field(ge=1, le=2**63 - 1, description="the customer to merge with")
    reason: str = Field(min_length=1, max_length=500)
    confirm_verified: bool = Field(
        default=False, description="merge even though both have their own account on one "
                                   "platform")


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reason: str | None = Field(default=None, max_length=500)


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retrain: bool = Field(default=False, description="train the match model again first")


class MergeEventPublic(BaseModel):
    id: int
    action: str = Field(description="merge, split or unmerge")
    method: str = Field(description="key, probable, manual or review")
    survivor_id: int
    merged_id: int
    moved: list[int] = Field(description="identity IDs that changed customer")
    evidence: dict[str, Any] | None
    reason: str | None
    actor: str
    at: datetime
    undoes_id: int | None
    undone_by_id: int | None


class MergeOutcomePublic(BaseModel):
    customer_id: int
    events: list[MergeEventPublic]


class IdentityPublic(BaseModel):
    source: str
    external_id: str
    kind: str
    name: str | None
    phone: str | None
    phone_masked: str | None
    email: str | None
    province: str | None
    city: str | None
    district: str | None
    address_detail: str | None


class ReviewPublic(BaseModel):
    id: int
    reason: str = Field(description="grey-band, name-differs, verified-conflict")
    probability: float | None
    weights: dict[str, Any] = Field(description="per field: agreement level, label, weight")
    status: str
    left: IdentityPublic
    right: IdentityPublic
    left_customer: int | None
    right_customer: int | None


class ReviewList(BaseModel):
    items: list[ReviewPublic]
    total: int
    page: int
    size: int


class SharedIdentifierPublic(BaseModel):
    kind: str
    value: str
    identities: int
    names: int
    detected_at: datetime


class ResolutionPublic(BaseModel):
    mode: str
    records: int
    key_edges: int
    probable_edges: int
    reviews_added: int
    shared_identifiers: int
    merges: int
    splits: int
    identities_moved: int
    customers: int
    model_id: int | None
    seconds: float
    note: str | None


def _problem(exc: MergeError) -> HTTPException:
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    return HTTPException(status, str(exc))


def _event(event: IdentityMerge) -> MergeEventPublic:
    return MergeEventPublic.model_validate(event, from_attributes=True)


@router.post("/customers/{customer_id}/merge", response_model=MergeOutcomePublic)
def merge(customer_id: Id, body: MergeRequest, request: Request, context: ContextDep,
          principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
          ) -> MergeOutcomePublic:
    with context.sessions.begin() as session:
        try:
            outcome = merge_customers(
                session, customer_id=customer_id, other_id=body.other_id, reason=body.reason,
                actor=client_actor(request, principal), now=context.clock.now(),
                confirm_verified=body.confirm_verified)
        except MergeError as exc:
            raise _problem(exc) from exc
        return MergeOutcomePublic(customer_id=outcome.customer_id,
                                  events=[_event(e) for e in outcome.events])


@router.get("/customers/{customer_id}/merges", response_model=list[MergeEventPublic])
def merges(customer_id: Id, session: SessionDep,
           _: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
           ) -> list[MergeEventPublic]:
    return [_event(e) for e in merge_history(session, customer_id)]


@router.post("/merges/{merge_id}/undo", response_model=MergeOutcomePublic)
def undo(merge_id: Id, body: UndoRequest, request: Request, context: ContextDep,
         principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
         ) -> MergeOutcomePublic:
    with context.sessions.begin() as session:
        try:
            outcome = unmerge(session, merge_id=merge_id, reason=body.reason,
                              actor=client_actor(request, principal), now=context.clock.now())
        except MergeError as exc:
            raise _problem(exc) from exc
        return MergeOutcomePublic(customer_id=outcome.customer_id,
                                  events=[_event(e) for e in outcome.events])


class ReviewStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@router.get("/identity/reviews", response_model=ReviewList)
def reviews(session: SessionDep,
            principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
            status: ReviewStatus = ReviewStatus.PENDING,
            page: Annotated[int, Query(ge=1, le=100_000)] = 1,
            size: Annotated[int, Query(ge=1, le=200)] = 20) -> ReviewList:
    found = list_reviews(session, status=status.value, page=page, size=size)
    items = []
    for item in found.items:
        data = asdict(item)
        for side in ("left", "right"):
            shown = present_identity(getattr(item, side), principal)
            data[side] = IdentityPublic(**{k: getattr(shown, k)
                                           for k in IdentityPublic.model_fields})
        items.append(ReviewPublic(**data))
    return ReviewList(items=items, total=found.total, page=found.page, size=found.size)


@router.post("/identity/reviews/{review_id}", response_model=MergeOutcomePublic | None)
def decide(review_id: Id, body: ReviewDecision, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
           ) -> MergeOutcomePublic | None:
    with context.sessions.begin() as session:
        try:
            outcome = decide_review(session, review_id=review_id,
                                    accept=body.decision is Decision.ACCEPT,
                                    actor=client_actor(request, principal),
                                    now=context.clock.now(), reason=body.reason)
        except MergeError as exc:
            raise _problem(exc) from exc
        if outcome is None:
            return None
        return MergeOutcomePublic(customer_id=outcome.customer_id,
                                  events=[_event(e) for e in outcome.events])


@router.get("/identity/shared", response_model=list[SharedIdentifierPublic])
def shared(session: SessionDep,
           principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
           ) -> list[SharedIdentifierPublic]:
    rows = []
    for row in shared_identifiers(session):
        value = row.value
        if not principal.can(Permission.VIEW_PII):
            value = (mask_phone(value) if row.kind == "phone" else
                     mask_email(value) if row.kind == "email" else value[:4] + "…") or ""
        rows.append(SharedIdentifierPublic(kind=row.kind, value=value,
                                           identities=row.identities, names=row.names,
                                           detected_at=row.detected_at))
    return rows


@router.post("/identity/resolve", response_model=ResolutionPublic)
def resolve(body: ResolveRequest, request: Request, context: ContextDep,
            principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
            ) -> ResolutionPublic:
    result = resolve_everything(context, retrain=body.retrain,
                                actor=client_actor(request, principal))
    return ResolutionPublic(**result.as_dict())
