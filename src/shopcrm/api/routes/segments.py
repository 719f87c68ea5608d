"""Segments API: saved segments (CRUD), the live size estimate, members, CSV export,
membership snapshots and their diff, and the field catalogue the builder offers.

Thin: each route calls :mod:`shopcrm.segments.audience`. An invalid rule answers 422
problem+json with ``errors`` — one ``{path, message}`` per offending node
(``rule.children[2].window.days``); no features run yet answers 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.api.problems import problem
from shopcrm.api.schemas import CustomerPublic
from shopcrm.customers.present import present_row
from shopcrm.segments import audience
from shopcrm.segments.compiler import NoFeaturesYet
from shopcrm.segments.library_models import SavedSegment, SegmentSnapshot
from shopcrm.segments.rules import (
    AGGREGATE_FIELDS,
    ATTRIBUTE_FIELDS,
    CLV_FIELDS,
    DISTINCT_FIELDS,
    EVENT_TYPES,
    FILTER_FIELDS,
    LOYALTY_FIELDS,
    MAX_WINDOW_DAYS,
    OPS_BY_TYPE,
    RuleError,
)

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Definition = Annotated[dict[str, Any], Field(description="the rule tree (see docs/segments.md)")]


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str | None, Field(max_length=2000)] = None
    definition: Definition


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    definition: Definition | None = None


class SegmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    owner: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    updated_by: str


class EstimateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: Definition
    segment_id: Annotated[int | None, Field(ge=1, le=2**63 - 1)] = Field(
        default=None, description="the segment being edited (so a reference back to it is "
                                  "reported as a cycle)")


class EstimatePublic(BaseModel):
    size: int
    universe: int = Field(description="customers of the features run")
    as_of: datetime
    features_run: str | None
    milliseconds: int


class MemberList(BaseModel):
    items: list[CustomerPublic]
    total: int
    page: int
    size: int


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=200)]


class SnapshotPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    segment_id: int
    taken_at: datetime
    reason: str
    actor: str
    size: int
    features_run: str | None


class DiffPublic(BaseModel):
    before: int = Field(description="members in the earlier snapshot")
    after: int
    entered_count: int
    left_count: int
    stayed: int
    entered: list[int] = Field(description="customer IDs (at most `limit`)")
    left: list[int]


class FieldPublic(BaseModel):
    name: str
    type: str


class CataloguePublic(BaseModel):
    """What the builder offers: fields per node kind and operators per field type."""

    features: list[FieldPublic]
    attributes: list[FieldPublic]
    loyalty: list[FieldPublic]
    clv: list[FieldPublic]
    clv_available: bool
    behaviour_filters: dict[str, list[FieldPublic]]
    behaviour_aggregates: dict[str, list[FieldPublic]]
    behaviour_distinct: dict[str, list[str]]
    event_types: list[str]
    operators: dict[str, list[str]]
    tags: list[str]
    max_window_days: int


def refusal(exc: Exception, path: str) -> JSONResponse:
    """problem+json for what the segment services refuse."""
    if isinstance(exc, RuleError):
        return problem(422, "Invalid rule", str(exc), type_="/problems/invalid-rule",
                       instance=path,
                       errors=[{"path": p.path, "message": p.message} for p in exc.problems])
    if isinstance(exc, NoFeaturesYet):
        return problem(409, "No features yet", "no features run yet: run `shopcrm compute` "
                       "first", instance=path)
    if isinstance(exc, audience.SegmentNotFound | audience.SnapshotNotFound):
        return problem(404, "Not Found", str(exc), instance=path)
    return problem(409, "Conflict", str(exc), instance=path)


REFUSED = (RuleError, NoFeaturesYet, audience.SegmentNotFound, audience.SnapshotNotFound,
           audience.SegmentError)


def _public(row: SavedSegment) -> SegmentPublic:
    return SegmentPublic.model_validate(row)


def _fields(fields: dict[str, Any]) -> list[FieldPublic]:
    return [FieldPublic(name=k, type=str(v)) for k, v in sorted(fields.items())]


@router.get("", response_model=list[SegmentPublic])
def list_segments(session: SessionDep,
                  _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
                  ) -> list[SegmentPublic]:
    return [_public(s) for s in audience.list_segments(session)]


@router.get("/fields", response_model=CataloguePublic)
def fields(context: ContextDep, session: SessionDep,
           _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> CataloguePublic:
    known = audience.catalogue(context, session)
    return CataloguePublic(
        features=_fields(dict(known.features)), attributes=_fields(ATTRIBUTE_FIELDS),
        loyalty=_fields(LOYALTY_FIELDS), clv=_fields(CLV_FIELDS), clv_available=known.clv,
        behaviour_filters={k: _fields(v) for k, v in FILTER_FIELDS.items()},
        behaviour_aggregates={k: _fields(v) for k, v in AGGREGATE_FIELDS.items()},
        behaviour_distinct={k: list(v) for k, v in DISTINCT_FIELDS.items()},
        event_types=list(EVENT_TYPES),
        operators={str(k): [o.value for o in v] for k, v in OPS_BY_TYPE.items()},
        tags=sorted(known.tags), max_window_days=MAX_WINDOW_DAYS)


@router.post("", response_model=SegmentPublic, status_code=201)
def create(body: SegmentCreate, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    try:
        with context.sessions.begin() as session:
            row = audience.create_segment(
                context, session, name=body.name, definition=body.definition,
                description=body.description, actor=client_actor(request, principal))
            return _public(row)
    except REFUSED as exc:
        return refusal(exc, request.url.path)


@router.post("/estimate", response_model=EstimatePublic)
def estimate(body: EstimateRequest, request: Request, context: ContextDep, session: SessionDep,
             _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> Any:
    """The live size of a definition while it is being edited (nothing is saved)."""
    try:
        found = audience.estimate(context, session, body.definition, segment_id=body.segment_id)
    except REFUSED as exc:
        return refusal(exc, request.url.path)
    return EstimatePublic(size=found.size, universe=found.universe, as_of=found.as_of,
                          features_run=found.features_run,
                          milliseconds=round(found.seconds * 1000))


@router.get("/{segment_id}", response_model=SegmentPublic)
def get(segment_id: Id, request: Request, session: SessionDep,
        _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> Any:
    try:
        return _public(audience.get_segment(session, segment_id))
    except REFUSED as exc:
        return refusal(exc, request.url.path)


@router.patch("/{segment_id}", response_model=SegmentPublic)
def update(segment_id: Id, body: SegmentUpdate, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    try:
        with context.sessions.begin() as session:
            row = audience.update_segment(
                context, session, segment_id, actor=client_actor(request, principal),
                name=body.name, definition=body.definition, description=body.description)
            return _public(row)
    except REFUSED as exc:
        return refusal(exc, request.url.path)


@router.delete("/{segment_id}", status_code=204, response_model=None)
def delete(segment_id: Id, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    try:
        with context.sessions.begin() as session:
            audience.delete_segment(context, session, segment_id,
                                    actor=client_actor(request, principal))
    except REFUSED as exc:
        return refusal(exc, request.url.path)
    return Response(status_code=204)


@router.get("/{segment_id}/estimate", response_model=EstimatePublic)
def saved_estimate(segment_id: Id, request: Request, context: ContextDep, session: SessionDep,
                   _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> Any:
    try:
        row = audience.get_segment(session, segment_id)
        found = audience.estimate(context, session, row.definition, segment_id=segment_id)
    except REFUSED as exc:
        return refusal(exc, request.url.path)
    return EstimatePublic(size=found.size, universe=found.universe, as_of=found.as_of,
                          features_run=found.features_run,
                          milliseconds=round(found.seconds * 1000))


@router.get("/{segment_id}/members", response_model=MemberList)
def members(segment_id: Id, request: Request, context: ContextDep, session: SessionDep,
            principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
            page: Annotated[int, Query(ge=1, le=100_000)] = 1,
            size: Annotated[int, Query(ge=1, le=audience.MAX_PAGE)] = 50) -> Any:
    """A page of members, personal data masked for roles without view_pii."""
    try:
        ids, total = audience.members_page(context, session, segment_id, page=page, size=size)
    except REFUSED as exc:
        return refusal(exc, request.url.path)
    rows = audience.customer_rows(session, context, ids)
    return MemberList(items=[CustomerPublic(**present_row(r, principal).__dict__)
                             for r in rows], total=total, page=page, size=size)


@router.get("/{segment_id}/export", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def export(segment_id: Id, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.EXPORT)]) -> Any:
    """Every member as CSV (UTF-8 with BOM), masked for roles without view_pii; audited."""
    try:
        name, lines = audience.export_csv(context, segment_id, principal=principal,
                                          actor=client_actor(request, principal))
    except REFUSED as exc:
        return refusal(exc, request.url.path)
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{segment_id}/snapshots", response_model=list[SnapshotPublic])
def snapshots(segment_id: Id, session: SessionDep,
              _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
              ) -> list[SnapshotPublic]:
    return [SnapshotPublic.model_validate(s) for s in audience.list_snapshots(session, segment_id)]


@router.post("/{segment_id}/snapshots", response_model=SnapshotPublic, status_code=201)
def take_snapshot(segment_id: Id, body: SnapshotCreate, request: Request, context: ContextDep,
                  principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]) -> Any:
    """Freeze the current members (who entered and left since is then a diff away)."""
    try:
        snapshot_id, _ = audience.snapshot_members(
            context, segment_id, reason=body.reason, actor=client_actor(request, principal))
    except REFUSED as exc:
        return refusal(exc, request.url.path)
    with context.sessions() as session:
        row: SegmentSnapshot = audience.get_snapshot(session, snapshot_id)
        return SnapshotPublic.model_validate(row)


@router.get("/{segment_id}/diff", response_model=DiffPublic)
def diff(segment_id: Id, request: Request, context: ContextDep, session: SessionDep,
         _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)],
         before: Annotated[int, Query(ge=1, le=2**63 - 1, description="snapshot ID")],
         after: Annotated[int, Query(ge=1, le=2**63 - 1, description="snapshot ID")],
         limit: Annotated[int, Query(ge=0, le=100_000)] = 1000) -> Any:
    """Who entered and who left between two snapshots of this segment."""
    try:
        for snapshot_id in (before, after):
            if audience.get_snapshot(session, snapshot_id).segment_id != segment_id:
                raise audience.SnapshotNotFound(
                    f"snapshot {snapshot_id} is not a snapshot of segment {segment_id}")
        found = audience.diff_snapshots(context, session, before, after, limit=None)
    except REFUSED as exc:
        return refusal(exc, request.url.path)
    return DiffPublic(before=found.before, after=found.after,
                      entered_count=len(found.entered), left_count=len(found.left),
                      stayed=found.stayed, entered=found.entered[:limit],
                      left=found.left[:limit])
