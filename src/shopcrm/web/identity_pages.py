"""Pages for identity resolution: the review queue, and the merge / un-merge forms on
the customer page. Thin: each handler calls one service of :mod:`shopcrm.identity`
and redirects (post/redirect/get), so a reload never repeats a decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.customers.present import present_identity
from shopcrm.identity.merges import MergeError, decide_review, merge_customers, unmerge
from shopcrm.identity.queries import list_reviews
from shopcrm.web.routes import MAX_ID, _render

router = APIRouter(include_in_schema=False)
REVIEW_PAGE_SIZE = 20


@router.get("/identity/reviews", response_class=HTMLResponse)
def reviews_page(request: Request, context: ContextDep, session: SessionDep,
                 principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
                 page: int = 1) -> HTMLResponse:
    found = list_reviews(session, page=max(1, min(page, 100_000)), size=REVIEW_PAGE_SIZE)
    items = [(item, present_identity(item.left, principal),
              present_identity(item.right, principal)) for item in found.items]
    return _render(request, context, "identity_reviews.html", principal=principal,
                   items=items, total=found.total, page=found.page,
                   pages=max(1, -(-found.total // REVIEW_PAGE_SIZE)))


@router.post("/identity/reviews/{review_id}")
def review_submit(request: Request, context: ContextDep,
                  principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
                  review_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
                  decision: Annotated[str, Form(pattern="^(accept|reject)$")]) -> Response:
    with context.sessions.begin() as session:
        try:
            decide_review(session, review_id=review_id, accept=decision == "accept",
                          actor=client_actor(request, principal), now=context.clock.now())
        except MergeError as exc:
            return _render(request, context, "error.html", principal=principal,
                           status_code=409, error="conflict", message=str(exc))
    return RedirectResponse("/identity/reviews", status_code=303)


@router.post("/customers/{customer_id}/merge")
def merge_submit(request: Request, context: ContextDep,
                 principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
                 customer_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
                 other_id: Annotated[int, Form(ge=1, le=MAX_ID)],
                 reason: Annotated[str, Form(min_length=1, max_length=500)],
                 confirm_verified: Annotated[bool, Form()] = False) -> Response:
    with context.sessions.begin() as session:
        try:
            outcome = merge_customers(session, customer_id=customer_id, other_id=other_id,
                                      reason=reason, actor=client_actor(request, principal),
                                      now=context.clock.now(),
                                      confirm_verified=confirm_verified)
        except MergeError as exc:
            return _render(request, context, "error.html", principal=principal,
                           status_code=409, error="conflict", message=str(exc))
    return RedirectResponse(f"/customers/{outcome.customer_id}", status_code=303)


@router.post("/merges/{merge_id}/undo")
def undo_submit(request: Request, context: ContextDep,
                principal: Annotated[Principal, require(Permission.MERGE_CUSTOMERS)],
                merge_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
                reason: Annotated[str, Form(min_length=1, max_length=500)]) -> Response:
    with context.sessions.begin() as session:
        try:
            outcome = unmerge(session, merge_id=merge_id, reason=reason,
                              actor=client_actor(request, principal), now=context.clock.now())
        except MergeError as exc:
            return _render(request, context, "error.html", principal=principal,
                           status_code=409, error="conflict", message=str(exc))
    return RedirectResponse(f"/customers/{outcome.customer_id}", status_code=303)
