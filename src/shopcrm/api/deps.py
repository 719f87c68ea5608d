"""Typed dependencies shared by routes: the context, a DB session, and the caller.

Every route declares its access with :func:`require` (a permission, or ``None`` for
"any signed-in user"); a test walks the route table and fails for any route that
does not, unless it is listed in :data:`PUBLIC_PATHS`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal, resolve_api_key, resolve_session
from shopcrm.context import AppContext

SESSION_COOKIE = "shopcrm_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/health", "/login", "/lang/{lang}", "/static",
                          "/t/o/{token}", "/t/c/{token}", "/u/{token}",
                          "/api/v1/track/sms/receipts", "/api/v1/track/sms/replies",
                          "/api/v1/track/sms/{provider}/{kind}/{token}"})
"""Routes reachable without signing in: health checks, the login page, static files,
and the campaign tracking endpoints — the open pixel and click redirects (authenticated
by an HMAC tag over the delivery), unsubscribe pages (by a signed token) and the SMS
gateway's receipt and reply callbacks (by the gateway's request signature; the SMS
clouds' by a secret token in the URL)."""
PERMISSION_MARK = "__shopcrm_permission__"


class NotAuthenticated(Exception):
    """No valid session or API key: 401 for the API, a login redirect for pages."""


class Forbidden(Exception):
    """Signed in, but the role lacks the permission (or the CSRF token is wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    with context.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def client_actor(request: Request, principal: Principal | None = None) -> audit.Actor:
    return audit.Actor(
        user_id=principal.user_id if principal else None,
        label=principal.username if principal else "anonymous",
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def current_principal(request: Request, context: AppContext) -> Principal | None:
    """The caller from an API key (Authorization: Bearer / X-API-Key) or session cookie."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal = None
    now = context.clock.now()
    authorization = request.headers.get("authorization", "")
    key = request.headers.get("x-api-key") or (
        authorization[7:].strip() if authorization.lower().startswith("bearer ") else None)
    with context.sessions.begin() as session:
        if key:
            principal = resolve_api_key(session, key=key, now=now)
        else:
            token = request.cookies.get(SESSION_COOKIE)
            if token:
                principal = resolve_session(session, token=token, now=now)
    request.state.principal = principal
    return principal


def require(permission: Permission | None) -> Any:
    """A dependency that admits callers holding ``permission`` (None: any signed-in user)."""

    async def dependency(request: Request) -> Principal:
        context = get_context(request)
        principal = current_principal(request, context)
        if principal is None:
            raise NotAuthenticated()
        if permission is not None and not principal.can(permission):
            raise Forbidden(f"your role ({principal.role}) lacks the permission {permission}")
        if request.method not in SAFE_METHODS and principal.via == "session":
            await _check_csrf(request, principal)
        return principal

    setattr(dependency, PERMISSION_MARK, permission.value if permission else "signed-in")
    return Depends(dependency)


async def _check_csrf(request: Request, principal: Principal) -> None:
    """Unsafe requests made with a session cookie must carry the session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden("the form has expired or did not come from this site: "
                        "reload the page and try again")


def declared_permission(dependant: Any) -> str | None:
    """The permission a route declared through :func:`require`, if any."""
    for sub in getattr(dependant, "dependencies", []):
        mark = getattr(sub.call, PERMISSION_MARK, None)
        if mark:
            return str(mark)
        nested = declared_permission(sub)
        if nested:
            return nested
    return None

