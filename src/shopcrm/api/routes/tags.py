"""Tags API: the tag library (CRUD), computing, memberships and their history, manual
tagging and bulk upload. Thin: each route calls :mod:`shopcrm.segments.tags`.

Reading needs ``view_analytics`` (the library) or ``view_customers`` (who is in a tag);
defining tags ``manage_segments``; tagging customers by hand or upload
``edit_customers`` (the permission for changing customer records and their tags).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.api.problems import problem
from shopcrm.api.routes.segments import refusal
from shopcrm.segments import tags
from shopcrm.segments.compiler import NoFeaturesYet
from shopcrm.segments.library_models import Tag
from shopcrm.segments.rules import RuleError

router = APIRouter(prefix="/api/v1/tags", tags=["tags"])
Key = Annotated[str, Path(pattern=tags.KEY_PATTERN, description="the tag's key")]
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Category = Literal["static", "dynamic", "behavioural", "lifecycle"]
Schedule = Literal["on_compute", "daily", "manual"]
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(pattern=tags.KEY_PATTERN)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    category: Category
    rule: dict[str, Any] | None = Field(default=None, description="the segment rule language; "
                                        "none: a manual tag")
    description: Annotated[str | None, Field(max_length=2000)] = None
    schedule: Schedule = "on_compute"


class TagUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    category: Category | None = None
    rule: dict[str, Any] | None = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    schedule: Schedule | None = None
    active: bool | None = None


class TagPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    name: str
    description: str | None
    category: str
    rule: dict[str, Any] | None
    owner: str
    schedule: str
    active: bool
    seeded: bool
    created_at: datetime
    updated_at: datetime
    computed_at: datetime | None
    members: int


class ComputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: Annotated[list[Annotated[str, Field(pattern=tags.KEY_PATTERN)]] | None,
                    Field(max_length=500)] = None


class ComputePublic(BaseModel):
    key: str
    members: int
    entered: int
    left: int
    milliseconds: int
    error: str | None


class StayPublic(BaseModel):
    tag: str
    customer_id: int
    source: str
    since: datetime
    until: datetime | None
    opened_by: str
    closed_by: str | None


class StayList(BaseModel):
    items: list[StayPublic]
    total: int
    page: int
    size: int


class MembersChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]],
                            Field(min_length=1, max_length=10_000)]


class ChangePublic(BaseModel):
    changed: int
    members: int


class BadRowPublic(BaseModel):
    line: int
    reason: str


class UploadPublic(BaseModel):
    rows: int
    customers: int
    added: int
    already: int
    bad: list[BadRowPublic]


REFUSED = (RuleError, NoFeaturesYet, tags.TagError, tags.TagNotFound)


def _refuse(exc: Exception, path: str) -> JSONResponse:
    if isinstance(exc, tags.TagNotFound):
        return problem(404, "Not Found", str(exc), instance=path)
    if isinstance(exc, tags.TagError):
        return problem(409, "Conflict", str(exc), instance=path)
    return refusal(exc, path)


def _stay(s: tags.Stay) -> StayPublic:
    return StayPublic(tag=s.tag_key, customer_id=s.customer_id, source=s.source, since=s.since,
                      until=s.until, opened_by=s.opened_by, closed_by=s.closed_by)


@router.get("", response_model=list[TagPublic])
def list_tags(session: SessionDep,
              _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> list[TagPublic]:
    return [TagPublic.model_validate(t) for t in tags.list_tags(session)]


@router.post("", response_model=TagPublic, status_code=201)
def create(body: TagCreate, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    try:
        with context.sessions.begin() as session:
            tag = tags.create_tag(context, session, key=body.key, name=body.name,
                                  category=body.category, rule=body.rule,
                                  description=body.description, schedule=body.schedule,
                                  actor=client_actor(request, principal))
            return TagPublic.model_validate(tag)
    except REFUSED as exc:
        return _refuse(exc, request.url.path)


@router.post("/compute", response_model=list[ComputePublic])
def compute(body: ComputeRequest, request: Request, context: ContextDep,
            principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    """Compute computed tags now (all of them, or ``keys``)."""
    try:
        done = tags.compute_tags(context, keys=body.keys,
                                 actor=client_actor(request, principal))
    except REFUSED as exc:
        return _refuse(exc, request.url.path)
    return [ComputePublic(key=o.key, members=o.members, entered=o.entered, left=o.left,
                          milliseconds=round(o.seconds * 1000), error=o.error) for o in done]


@router.get("/customers/{customer_id}", response_model=list[StayPublic])
def customer_history(customer_id: CustomerId, session: SessionDep,
                     _: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
                     history: bool = True) -> list[StayPublic]:
    """A customer's tags: every stay, newest first (``history=false``: current only)."""
    return [_stay(s) for s in tags.customer_tags(session, customer_id, history=history)]


@router.get("/{key}", response_model=TagPublic)
def get(key: Key, request: Request, session: SessionDep,
        _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> Any:
    try:
        return TagPublic.model_validate(tags.get_tag(session, key))
    except REFUSED as exc:
        return _refuse(exc, request.url.path)


@router.patch("/{key}", response_model=TagPublic)
def update(key: Key, body: TagUpdate, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    try:
        with context.sessions.begin() as session:
            tag: Tag = tags.update_tag(
                context, session, key, actor=client_actor(request, principal), name=body.name,
                description=body.description, category=body.category,
                schedule=body.schedule, rule=body.rule, active=body.active)
            return TagPublic.model_validate(tag)
    except REFUSED as exc:
        return _refuse(exc, request.url.path)


@router.delete("/{key}", status_code=204, response_model=None)
def delete(key: Key, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    try:
        with context.sessions.begin() as session:
            tags.delete_tag(context, session, key, actor=client_actor(request, principal))
    except REFUSED as exc:
        return _refuse(exc, request.url.path)
    return Response(status_code=204)


@router.get("/{key}/members", response_model=StayList)
def members(key: Key, request: Request, session: SessionDep,
            _: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
            page: Annotated[int, Query(ge=1, le=100_000)] = 1,
            size: Annotated[int, Query(ge=1, le=500)] = 50,
            history: Annotated[bool, Query(description="every stay, not only current")]
            = False) -> Any:
    """Who is in the tag since when (``history``: also who left, and when)."""
    try:
        stays, total = tags.tag_members(session, key, page=page, size=size, history=history)
    except REFUSED as exc:
        return _refuse(exc, request.url.path)
    return StayList(items=[_stay(s) for s in stays], total=total, page=page, size=size)


@router.post("/{key}/members", response_model=ChangePublic)
def add(key: Key, body: MembersChange, request: Request, context: ContextDep,
        principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)]) -> Any:
    """Tag customers by hand (manual tags only; audited)."""
    try:
        with context.sessions.begin() as session:
            added = tags.add_members(context, session, key, body.customer_ids,
                                     actor=client_actor(request, principal))
            return ChangePublic(changed=added, members=tags.get_tag(session, key).members)
    except REFUSED as exc:
        return _refuse(exc, request.url.path)


@router.delete("/{key}/members/{customer_id}", response_model=ChangePublic)
def remove(key: Key, customer_id: CustomerId, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)]) -> Any:
    """Untag a customer by hand (manual tags only; audited)."""
    try:
        with context.sessions.begin() as session:
            removed = tags.remove_members(context, session, key, [customer_id],
                                          actor=client_actor(request, principal))
            return ChangePublic(changed=removed, members=tags.get_tag(session, key).members)
    except REFUSED as exc:
        return _refuse(exc, request.url.path)


@router.post("/{key}/upload", response_model=UploadPublic)
def upload(key: Key, request: Request, context: ContextDep,
                 principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)],
                 file: Annotated[UploadFile, File(description="CSV of customer IDs, phones "
                                                  "or e-mails, one per line")]) -> Any:
    """Tag every customer a CSV names; rows naming nobody come back with line and reason."""
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return problem(413, "File too large", "at most 10 MB per upload",
                       instance=request.url.path)
    try:
        with context.sessions.begin() as session:
            report = tags.upload_members(context, session, key, data,
                                         actor=client_actor(request, principal))
    except REFUSED as exc:
        return _refuse(exc, request.url.path)
    return UploadPublic(rows=report.rows, customers=len(report.customers), added=report.added,
                        already=report.already,
                        bad=[BadRowPublic(line=line, reason=r) for line, r in report.bad])
