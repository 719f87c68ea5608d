"""The pages. Each handler gathers data through services and renders a template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal, login, logout
from shopcrm.accounts.throttle import LoginThrottle
from shopcrm.analytics.kpis import channel_mix, monthly_kpis, shop_totals
from shopcrm.api.deps import (
    SESSION_COOKIE,
    ContextDep,
    SessionDep,
    client_actor,
    current_principal,
    require,
)
from shopcrm.customers.present import present_row
from shopcrm.customers.queries import list_customers
from shopcrm.web.i18n import SUPPORTED, Formatter, pick_language, translations

TEMPLATES_DIR = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.add_extension("jinja2.ext.i18n")
    return templates


def _render(request: Request, context: Any, name: str, *, principal: Principal | None = None,
            status_code: int = 200, **data: Any) -> HTMLResponse:
    lang = pick_language(request.cookies.get("lang") or (principal.language if principal
                                                          else None),
                         request.headers.get("accept-language"))
    templates: Jinja2Templates = request.app.state.templates
    templates.env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(lang), newstyle=True)
    fmt = Formatter(lang, context.settings.currency)
    return templates.TemplateResponse(
        request, name, {"lang": lang, "fmt": fmt, "languages": SUPPORTED, "me": principal,
                        "csrf": principal.csrf_token if principal else "", **data},
        status_code=status_code)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would help phishing."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, context: ContextDep, next: str | None = None) -> Response:
    if current_principal(request, context) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render(request, context, "login.html", next=_safe_next(next), error=None)


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request, context: ContextDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    now = context.clock.now()
    address = request.client.host if request.client else "unknown"
    wait = _throttle(request).retry_after(address, now)
    if wait:
        response = _render(request, context, "login.html", next=_safe_next(next),
                           error=("too_many", wait), status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    _throttle(request).note_attempt(address, now)
    with context.sessions.begin() as session:
        result = login(session, username=username, password=password, now=now,
                       actor=client_actor(request))
    if result.token is None:
        return _render(request, context, "login.html", next=_safe_next(next),
                       error=("locked" if result.locked else "failed", result.error),
                       status_code=401)
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    redirect.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", max_age=7 * 86400, path="/")
    return redirect


@router.post("/logout")
def logout_submit(request: Request, context: ContextDep,
                  principal: Annotated[Principal, require(None)]) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    with context.sessions.begin() as session:
        logout(session, token=token, now=context.clock.now(),
               actor=client_actor(request, principal))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, context: ContextDep,
              principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
              ) -> HTMLResponse:
    months = monthly_kpis(context.warehouse)
    totals = shop_totals(context.warehouse)
    recent = months[-24:]
    peak = max((m.gmv for m in recent), default=0) or 1
    return _render(request, context, "dashboard.html", principal=principal,
                   months=list(reversed(recent)), chart=recent, peak=peak, totals=totals,
                   channels=channel_mix(context.warehouse))


@router.get("/customers", response_class=HTMLResponse)
def customers(
    request: Request, context: ContextDep, session: SessionDep,
    principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    result = list_customers(session, context.warehouse, q=q, page=page, size=50)
    rows = [present_row(row, principal) for row in result.items]
    return _render(request, context, "customers.html", principal=principal, result=result,
                   rows=rows, q=q or "")


@router.get("/lang/{lang}")
def set_language(lang: str, request: Request) -> RedirectResponse:
    referer = request.headers.get("referer") or "/"
    target = urlsplit(referer)
    path = _safe_next(target.path + (f"?{target.query}" if target.query else ""))
    if target.netloc and target.netloc != request.url.netloc:
        path = "/"
    response = RedirectResponse(path, status_code=303)
    if lang in SUPPORTED:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response
