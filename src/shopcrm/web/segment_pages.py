"""Pages of the segment builder and the tag library.

Thin like the other pages: each handler calls :mod:`shopcrm.segments.audience` or
:mod:`shopcrm.segments.tags` and renders a template; changes post and redirect
(post/redirect/get). The builder (``static/segment-builder.js``) edits the rule as JSON
in a hidden field; ``POST /segments/estimate`` answers the live count as an HTMX
fragment (or the problems, with the paths the builder marks).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.context import AppContext
from shopcrm.customers.present import present_row
from shopcrm.segments import audience, tags
from shopcrm.segments.compiler import NoFeaturesYet
from shopcrm.segments.library_models import SavedSegment
from shopcrm.segments.rules import (
    AGGREGATE_FIELDS,
    ATTRIBUTE_FIELDS,
    CLV_FIELDS,
    DISTINCT_FIELDS,
    EVENT_TYPES,
    FILTER_FIELDS,
    LOYALTY_FIELDS,
    OPS_BY_TYPE,
    RuleError,
)
from shopcrm.segments.service import feature_store
from shopcrm.web.routes import MAX_ID, _render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
DIFF_LIMIT = 200
KEY = tags.KEY_PATTERN


def _fields(fields: dict[str, Any]) -> list[dict[str, str]]:
    return [{"name": k, "type": str(v)} for k, v in sorted(fields.items())]


def builder_config(context: AppContext, session: Any, *,
                   segment_id: int | None = None) -> dict[str, Any]:
    """What the builder offers (labels are added by the template, in the page's language)."""
    known = audience.catalogue(context, session)
    return {
        "features": _fields(dict(known.features)), "attributes": _fields(ATTRIBUTE_FIELDS),
        "loyalty": _fields(LOYALTY_FIELDS), "clv": _fields(CLV_FIELDS),
        "clv_available": known.clv,
        "behaviour_filters": {k: _fields(v) for k, v in FILTER_FIELDS.items()},
        "behaviour_aggregates": {k: _fields(v) for k, v in AGGREGATE_FIELDS.items()},
        "behaviour_distinct": {k: list(v) for k, v in DISTINCT_FIELDS.items()},
        "event_types": list(EVENT_TYPES),
        "operators": {str(k): [o.value for o in v] for k, v in OPS_BY_TYPE.items()},
        "tags": [[t.key, t.name] for t in tags.list_tags(session)],
        "segments": [[s.id, s.name] for s in audience.list_segments(session)
                     if s.id != segment_id],
    }


def _problems(exc: Exception) -> list[tuple[str, str]]:
    if isinstance(exc, RuleError):
        return [(p.path, p.message) for p in exc.problems]
    return [("", str(exc))]


# --- segments ------------------------------------------------------------------------

@router.post("/segments/estimate", response_class=HTMLResponse)
def estimate_fragment(request: Request, context: ContextDep, session: SessionDep,
                      principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)],
                      definition: Annotated[str, Form(max_length=200_000)] = "",
                      segment_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None
                      ) -> HTMLResponse:
    """The live count while a rule is edited (an HTMX fragment)."""
    import json

    found, problems = None, []
    try:
        data = json.loads(definition) if definition else None
        found = audience.estimate(context, session, data, segment_id=segment_id)
    except json.JSONDecodeError:
        problems = [("", "not JSON")]
    except (RuleError, NoFeaturesYet, audience.SegmentError) as exc:
        problems = _problems(exc)
    return _render(request, context, "_segment_estimate.html", principal=principal,
                   found=found, problems=problems, no_features=not feature_store(
                       context).latest())


def _builder_page(request: Request, context: AppContext, session: Any, principal: Principal,
                  *, segment: Any = None, name: str = "", description: str = "",
                  definition: str = "", problems: list[tuple[str, str]] | None = None,
                  status_code: int = 200) -> HTMLResponse:
    return _render(request, context, "segment_edit.html", principal=principal,
                   segment=segment, segment_name=name, description=description,
                   definition=definition,
                   problems=problems or [], status_code=status_code,
                   config=builder_config(context, session,
                                         segment_id=segment.id if segment else None))


@router.get("/segments/new", response_class=HTMLResponse)
def new_segment(request: Request, context: ContextDep, session: SessionDep,
                principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]
                ) -> HTMLResponse:
    return _builder_page(request, context, session, principal)


@router.post("/segments/new")
def create_segment(request: Request, context: ContextDep,
                   principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
                   name: Annotated[str, Form(max_length=200)] = "",
                   description: Annotated[str, Form(max_length=2000)] = "",
                   definition: Annotated[str, Form(max_length=200_000)] = "") -> Response:
    return _save(request, context, principal, None, name, description, definition)


def _save(request: Request, context: AppContext, principal: Principal, segment_id: int | None,
          name: str, description: str, definition: str) -> Response:
    import json

    try:
        data = json.loads(definition) if definition else None
        with context.sessions.begin() as session:
            actor = client_actor(request, principal)
            if segment_id is None:
                row = audience.create_segment(context, session, name=name, definition=data,
                                              description=description or None, actor=actor)
            else:
                row = audience.update_segment(context, session, segment_id, actor=actor,
                                              name=name, definition=data,
                                              description=description)
            target = row.id
    except (json.JSONDecodeError, RuleError, audience.SegmentError) as exc:
        problems = [("", "not JSON")] if isinstance(exc, json.JSONDecodeError) else \
            _problems(exc)
        with context.sessions() as session:
            segment = session.get(SavedSegment, segment_id) if segment_id else None
            return _builder_page(request, context, session, principal, segment=segment,
                                 name=name, description=description, definition=definition,
                                 problems=problems, status_code=422)
    return RedirectResponse(f"/segments/{target}", status_code=303)


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def segment_page(request: Request, context: ContextDep, session: SessionDep,
                 principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)],
                 segment_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                 before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    import json

    segment = session.get(SavedSegment, segment_id)
    if segment is None:
        return _render(request, context, "error.html", principal=principal, status_code=404,
                       error="not_found")
    rows, total, problems = [], 0, []
    try:
        if principal.can(Permission.VIEW_CUSTOMERS):
            ids, total = audience.members_page(context, session, segment_id, page=page,
                                               size=PAGE_SIZE)
            rows = [present_row(r, principal)
                    for r in audience.customer_rows(session, context, ids)]
        else:
            total = audience.estimate(context, session, segment.definition,
                                      segment_id=segment_id).size
    except (RuleError, NoFeaturesYet) as exc:
        problems = _problems(exc)
    snapshots = audience.list_snapshots(session, segment_id)
    diff = None
    if before and after:
        try:
            for snap in (before, after):
                if audience.get_snapshot(session, snap).segment_id != segment_id:
                    raise audience.SnapshotNotFound(str(snap))
            diff = audience.diff_snapshots(context, session, before, after, limit=DIFF_LIMIT)
        except audience.SnapshotNotFound:
            diff = None
    return _render(request, context, "segment.html", principal=principal, segment=segment,
                   definition=json.dumps(segment.definition, ensure_ascii=False, indent=2),
                   rows=rows, total=total, page=page, size=PAGE_SIZE,
                   pages=max(1, -(-total // PAGE_SIZE)), problems=problems,
                   snapshots=snapshots, diff=diff, before=before, after=after,
                   diff_limit=DIFF_LIMIT)


@router.get("/segments/{segment_id}/edit", response_class=HTMLResponse)
def edit_segment(request: Request, context: ContextDep, session: SessionDep,
                 principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
                 segment_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    import json

    segment = session.get(SavedSegment, segment_id)
    if segment is None:
        return _render(request, context, "error.html", principal=principal, status_code=404,
                       error="not_found")
    return _builder_page(request, context, session, principal, segment=segment,
                         name=segment.name, description=segment.description or "",
                         definition=json.dumps(segment.definition, ensure_ascii=False))


@router.post("/segments/{segment_id}/edit")
def update_segment(request: Request, context: ContextDep,
                   principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
                   segment_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
                   name: Annotated[str, Form(max_length=200)] = "",
                   description: Annotated[str, Form(max_length=2000)] = "",
                   definition: Annotated[str, Form(max_length=200_000)] = "") -> Response:
    with context.sessions() as session:
        if session.get(SavedSegment, segment_id) is None:
            return _render(request, context, "error.html", principal=principal,
                           status_code=404, error="not_found")
    return _save(request, context, principal, segment_id, name, description, definition)


@router.post("/segments/{segment_id}/snapshot")
def snapshot(request: Request, context: ContextDep,
             principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
             segment_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
             reason: Annotated[str, Form(min_length=1, max_length=200)]) -> Response:
    try:
        audience.snapshot_members(context, segment_id, reason=reason,
                                  actor=client_actor(request, principal))
    except (RuleError, NoFeaturesYet, audience.SegmentNotFound) as exc:
        return _render(request, context, "error.html", principal=principal, status_code=409,
                       error="conflict", message=str(exc))
    return RedirectResponse(f"/segments/{segment_id}", status_code=303)


@router.post("/segments/{segment_id}/delete")
def delete(request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
           segment_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    try:
        with context.sessions.begin() as session:
            audience.delete_segment(context, session, segment_id,
                                    actor=client_actor(request, principal))
    except (audience.SegmentError, audience.SegmentNotFound) as exc:
        return _render(request, context, "error.html", principal=principal, status_code=409,
                       error="conflict", message=str(exc))
    return RedirectResponse("/segments", status_code=303)


# --- tags ------------------------------------------------------------------------------

@router.get("/tags", response_class=HTMLResponse)
def tags_page(request: Request, context: ContextDep, session: SessionDep,
              principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
              ) -> HTMLResponse:
    return _render(request, context, "tags.html", principal=principal,
                   tags=tags.list_tags(session))


def _tag_form(request: Request, context: AppContext, session: Any, principal: Principal, *,
              tag: Any = None, values: dict[str, Any] | None = None,
              problems: list[tuple[str, str]] | None = None,
              status_code: int = 200) -> HTMLResponse:
    import json

    values = values or {}
    if tag is not None and not values:
        values = {"key": tag.key, "name": tag.name, "description": tag.description or "",
                  "category": tag.category, "schedule": tag.schedule,
                  "manual": tag.rule is None,
                  "definition": json.dumps(tag.rule, ensure_ascii=False) if tag.rule else ""}
    return _render(request, context, "tag_edit.html", principal=principal, tag=tag,
                   values=values, problems=problems or [], status_code=status_code,
                   categories=tags.CATEGORIES, schedules=tags.SCHEDULES,
                   config=builder_config(context, session))


@router.get("/tags/new", response_class=HTMLResponse)
def new_tag(request: Request, context: ContextDep, session: SessionDep,
            principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)]
            ) -> HTMLResponse:
    return _tag_form(request, context, session, principal,
                     values={"category": "dynamic", "schedule": "on_compute"})


@router.post("/tags/new")
def create_tag(request: Request, context: ContextDep,
               principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
               key: Annotated[str, Form(max_length=64)] = "",
               name: Annotated[str, Form(max_length=200)] = "",
               description: Annotated[str, Form(max_length=2000)] = "",
               category: Annotated[str, Form(max_length=16)] = "dynamic",
               schedule: Annotated[str, Form(max_length=16)] = "on_compute",
               manual: Annotated[bool, Form()] = False,
               definition: Annotated[str, Form(max_length=200_000)] = "") -> Response:
    import json

    values = {"key": key, "name": name, "description": description, "category": category,
              "schedule": schedule, "manual": manual, "definition": definition}
    try:
        rule = None if manual else (json.loads(definition) if definition else None)
        if not manual and rule is None:
            raise tags.TagError("a computed tag needs a rule (or tick 'manual tag')")
        with context.sessions.begin() as session:
            tags.create_tag(context, session, key=key, name=name or key, category=category,
                            rule=rule, description=description or None, schedule=schedule,
                            actor=client_actor(request, principal))
    except (json.JSONDecodeError, RuleError, tags.TagError) as exc:
        with context.sessions() as session:
            return _tag_form(request, context, session, principal, values=values,
                             problems=_problems(exc), status_code=422)
    return RedirectResponse(f"/tags/{key}", status_code=303)


@router.get("/tags/{key}", response_class=HTMLResponse)
def tag_page(request: Request, context: ContextDep, session: SessionDep,
             principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)],
             key: Annotated[str, PathParam(pattern=KEY)],
             page: Annotated[int, Query(ge=1, le=100_000)] = 1,
             history: bool = False) -> Response:
    import json

    try:
        tag = tags.get_tag(session, key)
    except tags.TagNotFound:
        return _render(request, context, "error.html", principal=principal, status_code=404,
                       error="not_found")
    stays: list[tags.Stay] = []
    total = 0
    shown: dict[int, Any] = {}
    if principal.can(Permission.VIEW_CUSTOMERS):
        stays, total = tags.tag_members(session, key, page=page, size=PAGE_SIZE,
                                        history=history)
        ids = sorted({s.customer_id for s in stays})
        shown = {r.id: present_row(r, principal)
                 for r in audience.customer_rows(session, context, ids)}
    return _render(request, context, "tag.html", principal=principal, tag=tag,
                   rule=json.dumps(tag.rule, ensure_ascii=False, indent=2) if tag.rule else None,
                   stays=stays, total=total, page=page, history=history, shown=shown,
                   pages=max(1, -(-total // PAGE_SIZE)), report=None)


@router.get("/tags/{key}/edit", response_class=HTMLResponse)
def edit_tag(request: Request, context: ContextDep, session: SessionDep,
             principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
             key: Annotated[str, PathParam(pattern=KEY)]) -> Response:
    try:
        tag = tags.get_tag(session, key)
    except tags.TagNotFound:
        return _render(request, context, "error.html", principal=principal, status_code=404,
                       error="not_found")
    return _tag_form(request, context, session, principal, tag=tag)


@router.post("/tags/{key}/edit")
def update_tag(request: Request, context: ContextDep,
               principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
               key: Annotated[str, PathParam(pattern=KEY)],
               name: Annotated[str, Form(max_length=200)] = "",
               description: Annotated[str, Form(max_length=2000)] = "",
               category: Annotated[str, Form(max_length=16)] = "dynamic",
               schedule: Annotated[str, Form(max_length=16)] = "on_compute",
               active: Annotated[bool, Form()] = False,
               definition: Annotated[str, Form(max_length=200_000)] = "") -> Response:
    import json

    try:
        with context.sessions.begin() as session:
            tag = tags.get_tag(session, key)
            rule = json.loads(definition) if definition and tag.rule is not None else None
            tags.update_tag(context, session, key, actor=client_actor(request, principal),
                            name=name or None, description=description, category=category,
                            schedule=schedule, rule=rule, active=active)
    except tags.TagNotFound:
        return _render(request, context, "error.html", principal=principal, status_code=404,
                       error="not_found")
    except (json.JSONDecodeError, RuleError, tags.TagError) as exc:
        with context.sessions() as session:
            return _tag_form(request, context, session, principal,
                             tag=tags.get_tag(session, key), problems=_problems(exc),
                             values={"key": key, "name": name, "description": description,
                                     "category": category, "schedule": schedule,
                                     "active": active, "definition": definition,
                                     "manual": False}, status_code=422)
    return RedirectResponse(f"/tags/{key}", status_code=303)


def _tag_action(request: Request, context: AppContext, principal: Principal, key: str,
                action: Any) -> Response:
    try:
        with context.sessions.begin() as session:
            action(session)
    except (tags.TagError, tags.TagNotFound, RuleError, NoFeaturesYet) as exc:
        return _render(request, context, "error.html", principal=principal, status_code=409,
                       error="conflict", message=str(exc))
    return RedirectResponse(f"/tags/{key}", status_code=303)


def _ids(text: str) -> list[int]:
    return [int(p) for p in text.replace(",", " ").split() if p.isdigit() and len(p) < 19]


@router.post("/tags/{key}/add")
def add_to_tag(request: Request, context: ContextDep,
               principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)],
               key: Annotated[str, PathParam(pattern=KEY)],
               customer_ids: Annotated[str, Form(min_length=1, max_length=20_000)]) -> Response:
    return _tag_action(request, context, principal, key, lambda s: tags.add_members(
        context, s, key, _ids(customer_ids), actor=client_actor(request, principal)))


@router.post("/tags/{key}/remove")
def remove_from_tag(request: Request, context: ContextDep,
                    principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)],
                    key: Annotated[str, PathParam(pattern=KEY)],
                    customer_ids: Annotated[str, Form(min_length=1, max_length=20_000)]
                    ) -> Response:
    return _tag_action(request, context, principal, key, lambda s: tags.remove_members(
        context, s, key, _ids(customer_ids), actor=client_actor(request, principal)))


@router.post("/tags/{key}/upload", response_class=HTMLResponse)
def upload_to_tag(request: Request, context: ContextDep,
                  principal: Annotated[Principal, require(Permission.EDIT_CUSTOMERS)],
                  key: Annotated[str, PathParam(pattern=KEY)],
                  file: Annotated[UploadFile, File()]) -> Response:
    """Tag the customers a CSV names, then show the tag with the upload's report."""
    import json

    data = file.file.read(10 * 1024 * 1024 + 1)
    try:
        if len(data) > 10 * 1024 * 1024:
            raise tags.TagError("at most 10 MB per upload")
        with context.sessions.begin() as session:
            report = tags.upload_members(context, session, key, data,
                                         actor=client_actor(request, principal))
    except (tags.TagError, tags.TagNotFound) as exc:
        return _render(request, context, "error.html", principal=principal, status_code=409,
                       error="conflict", message=str(exc))
    with context.sessions() as session:
        tag = tags.get_tag(session, key)
        return _render(request, context, "tag.html", principal=principal, tag=tag,
                       rule=json.dumps(tag.rule, ensure_ascii=False) if tag.rule else None,
                       stays=[], total=tag.members, page=1, history=False, shown={},
                       pages=1, report=report)


@router.post("/tags/{key}/compute")
def compute_tag(request: Request, context: ContextDep,
                principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
                key: Annotated[str, PathParam(pattern=KEY)]) -> Response:
    try:
        done = tags.compute_tags(context, keys=[key], actor=client_actor(request, principal))
    except tags.TagNotFound:
        return _render(request, context, "error.html", principal=principal, status_code=404,
                       error="not_found")
    failed = [o.error for o in done if o.error]
    if failed:
        return _render(request, context, "error.html", principal=principal, status_code=409,
                       error="conflict", message=failed[0])
    return RedirectResponse(f"/tags/{key}", status_code=303)


@router.post("/tags/{key}/delete")
def delete_tag(request: Request, context: ContextDep,
               principal: Annotated[Principal, require(Permission.MANAGE_SEGMENTS)],
               key: Annotated[str, PathParam(pattern=KEY)]) -> Response:
    response = _tag_action(request, context, principal, key, lambda s: tags.delete_tag(
        context, s, key, actor=client_actor(request, principal)))
    if isinstance(response, RedirectResponse):
        return RedirectResponse("/tags", status_code=303)
    return response
