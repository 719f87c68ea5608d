"""The pages. Each handler gathers data through services and renders a template.

Pages work without JavaScript; with it, HTMX swaps search results and audit-log filters
in place (the handler answers just the results fragment when ``HX-Request`` is set) and
``static/app.js`` draws the dashboard's ECharts from JSON embedded in the page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.queries import audit_facets, list_roles, list_users
from shopcrm.accounts.service import Principal, login, logout
from shopcrm.accounts.throttle import LoginThrottle
from shopcrm.analytics.kpis import MonthKpi, channel_mix, monthly_kpis, shop_totals
from shopcrm.api.deps import (
    SESSION_COOKIE,
    ContextDep,
    SessionDep,
    client_actor,
    current_principal,
    require,
)
from shopcrm.customers.present import present_customer, present_row
from shopcrm.customers.profile import customer_profile
from shopcrm.customers.queries import list_customers
from shopcrm.identity.queries import merge_history
from shopcrm.loyalty import reports as loyalty_reports
from shopcrm.loyalty.benefits import member_card
from shopcrm.loyalty.ledger import get_config
from shopcrm.loyalty.reports import MonthRow
from shopcrm.web.i18n import SUPPORTED, Formatter, pick_language, translations

TEMPLATES_DIR = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)
CHART_MONTHS = 24
AUDIT_PAGE_SIZE = 50
MAX_ID = 2**63 - 1


def make_templates() -> Jinja2Templates:
    """The template environment. Translations are not installed into it: each response
    gets its language's ``_``/``gettext``/``ngettext`` in its own context (installing
    them into the shared environment per request would race between threads)."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.add_extension("jinja2.ext.i18n")
    templates.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return templates


@cache
def gettext_functions(lang: str) -> dict[str, Callable[..., str]]:
    """Jinja "new style" gettext for one language: autoescape-aware, ``%(name)s``
    placeholders filled (and escaped) from keyword arguments."""
    catalogue = translations(lang)

    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        text: str = catalogue.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, /,
                 **variables: Any) -> str:
        variables.setdefault("num", num)
        text: str = catalogue.ngettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def home_for(principal: Principal | None) -> str:
    """The first section a user may open (an agent has no dashboard)."""
    if principal is None or principal.can(Permission.VIEW_ANALYTICS):
        return "/"
    if principal.can(Permission.VIEW_CUSTOMERS):
        return "/customers"
    if principal.can(Permission.MANAGE_USERS):
        return "/settings"
    if principal.can(Permission.VIEW_AUDIT):
        return "/settings/audit"
    return "/"


def navigation(principal: Principal | None) -> list[tuple[str, str, str]]:
    """(key, path, label msgid) of the sections this user may open, in menu order."""
    if principal is None:
        return []
    items = []
    if principal.can(Permission.VIEW_ANALYTICS):
        items.append(("dashboard", "/", "Dashboard"))
    if principal.can(Permission.VIEW_CUSTOMERS):
        items.append(("customers", "/customers", "Customers"))
    if principal.can(Permission.VIEW_ANALYTICS):
        items.append(("segments", "/segments", "Segments"))
        items.append(("tags", "/tags", "Tags"))
        items.append(("loyalty", "/loyalty", "Loyalty"))
    if principal.can(Permission.MANAGE_CAMPAIGNS):
        items.append(("campaigns", "/campaigns", "Campaigns"))
    if principal.can(Permission.HANDLE_TICKETS):
        items.append(("service", "/service", "Service"))
    if principal.can(Permission.MANAGE_USERS):
        items.append(("settings", "/settings", "Settings"))
    elif principal.can(Permission.VIEW_AUDIT):
        items.append(("settings", "/settings/audit", "Settings"))
    return items


class DateTimeFormatter:
    """Timestamps in the shop's time zone, per locale (stored times are UTC; SQLite hands
    them back naive)."""

    def __init__(self, lang: str, timezone: str) -> None:
        self.lang = lang
        self.zone = ZoneInfo(timezone)

    def __call__(self, value: datetime | None) -> str:
        if value is None:
            return ""
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(moment, format="short", tzinfo=self.zone, locale=self.lang)


def language(request: Request, principal: Principal | None) -> str:
    return pick_language(request.cookies.get("lang") or (principal.language if principal
                                                         else None),
                         request.headers.get("accept-language"))


def _render(request: Request, context: Any, name: str, *, principal: Principal | None = None,
            status_code: int = 200, **data: Any) -> HTMLResponse:
    lang = language(request, principal)
    templates: Jinja2Templates = request.app.state.templates
    fmt = Formatter(lang, context.settings.currency)
    response = templates.TemplateResponse(
        request, name, {"lang": lang, "fmt": fmt, "languages": SUPPORTED, "me": principal,
                        "csrf": principal.csrf_token if principal else "",
                        "dt": DateTimeFormatter(lang, context.settings.timezone),
                        "nav": navigation(principal), "home": home_for(principal),
                        "Permission": Permission, **gettext_functions(lang), **data},
        status_code=status_code)
    response.headers["Vary"] = "Accept-Language, Cookie, HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response


def _fragment_wanted(request: Request) -> bool:
    """An HTMX request for part of a page (not a history restore, which needs it all)."""
    return (request.headers.get("hx-request") == "true"
            and request.headers.get("hx-history-restore-request") != "true")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would help phishing."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, context: ContextDep, next: str | None = None) -> Response:
    principal = current_principal(request, context)
    if principal is not None:
        target = _safe_next(next)
        return RedirectResponse(home_for(principal) if target == "/" else target,
                                status_code=303)
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
    target = _safe_next(next)
    if target == "/":
        target = home_for(result.principal)
    redirect = RedirectResponse(target, status_code=303)
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


def dashboard_charts(months: list[MonthKpi],
                     channels: list[tuple[str, int, Any]]) -> dict[str, Any]:
    """The numbers the dashboard's charts draw (labels are added by the template)."""
    return {
        "months": [m.month for m in months],
        "gmv": [float(m.gmv) for m in months],
        "orders": [m.orders for m in months],
        "new_buyers": [m.new_buyers for m in months],
        "returning_buyers": [m.buyers - m.new_buyers for m in months],
        "channels": [{"source": source, "orders": orders, "gmv": float(gmv)}
                     for source, orders, gmv in channels],
    }


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, context: ContextDep,
              principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
              ) -> HTMLResponse:
    months = monthly_kpis(context.warehouse)
    totals = shop_totals(context.warehouse)
    channels = channel_mix(context.warehouse)
    recent = months[-CHART_MONTHS:]
    return _render(request, context, "dashboard.html", principal=principal,
                   months=list(reversed(recent)), totals=totals, channels=channels,
                   charts=dashboard_charts(recent, channels))


def rfm_chart(grid: list[Any]) -> dict[str, Any]:
    """The RFM heat-map's numbers: [F − 1, R − 1, buyers] per cell, revenue and segment."""
    return {"cells": [[c.f - 1, c.r - 1, c.customers] for c in grid],
            "revenue": {f"{c.f - 1}:{c.r - 1}": float(c.revenue) for c in grid},
            "segments": {f"{c.f - 1}:{c.r - 1}": c.segment for c in grid}}


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, context: ContextDep, session: SessionDep,
                  principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
                  ) -> HTMLResponse:
    from shopcrm.segments.audience import list_segments, snapshot_counts
    from shopcrm.segments.queries import overview

    view = overview(context)
    return _render(request, context, "segments.html", principal=principal, view=view,
                   charts=rfm_chart(view.grid) if view else None,
                   saved=list_segments(session), snapshot_counts=snapshot_counts(session))


@router.get("/customers", response_class=HTMLResponse)
def customers(
    request: Request, context: ContextDep, session: SessionDep,
    principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    result = list_customers(session, context.warehouse, q=q, page=page, size=50)
    rows = [present_row(row, principal) for row in result.items]
    name = "_customer_results.html" if _fragment_wanted(request) else "customers.html"
    return _render(request, context, name, principal=principal, result=result,
                   rows=rows, q=q or "")


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    request: Request, context: ContextDep, session: SessionDep,
    principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
    customer_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
) -> Response:
    profile = customer_profile(session, context.warehouse, customer_id)
    if profile is None:
        return _render(request, context, "error.html", principal=principal, status_code=404,
                       error="not_found")
    if profile.status == "merged" and profile.merged_into:
        return RedirectResponse(f"/customers/{profile.merged_into}", status_code=303)
    return _render(request, context, "customer.html", principal=principal,
                   c=present_customer(profile, principal),
                   merges=merge_history(session, customer_id),
                   card=member_card(session, warehouse=context.warehouse,
                                    customer_id=customer_id, now=context.clock.now()))


def loyalty_charts(months: list[MonthRow]) -> dict[str, Any]:
    """The numbers the loyalty dashboard's chart draws (labels come from the template)."""
    return {"months": [m.month for m in months], "issued": [m.issued for m in months],
            "redeemed": [m.redeemed for m in months], "expired": [m.expired for m in months],
            "liability": [float(m.liability) for m in months]}


@router.get("/loyalty", response_class=HTMLResponse)
def loyalty_page(request: Request, context: ContextDep, session: SessionDep,
                 principal: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
                 ) -> HTMLResponse:
    """The loyalty dashboard: liability, points by month, budgets, tiers, the ladder."""
    months = loyalty_reports.by_month(session)
    return _render(request, context, "loyalty.html", principal=principal,
                   owed=loyalty_reports.liability(session, now=context.clock.now()),
                   months=list(reversed(months)), rules=loyalty_reports.by_rule(session),
                   tiers=loyalty_reports.tier_distribution(session),
                   config=get_config(session), charts=loyalty_charts(months[-CHART_MONTHS:]))


@router.get("/settings", response_class=HTMLResponse)
def settings_page(
    request: Request, context: ContextDep, session: SessionDep,
    principal: Annotated[Principal, require(Permission.MANAGE_USERS)],
) -> HTMLResponse:
    return _render(request, context, "settings.html", principal=principal,
                   tab="users", users=list_users(session), roles=list_roles(session),
                   all_permissions=list(Permission))


def _day(value: str | None) -> date | None:
    """A YYYY-MM-DD filter value; anything else is ignored rather than refused."""
    try:
        return date.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None


@router.get("/settings/audit", response_class=HTMLResponse)
def settings_audit(
    request: Request, context: ContextDep, session: SessionDep,
    principal: Annotated[Principal, require(Permission.VIEW_AUDIT)],
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[str | None, Query(max_length=32)] = None,
    until: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    zone = ZoneInfo(context.settings.timezone)
    start, end = _day(since), _day(until)
    flt = audit.AuditFilter(
        action=(action or "").strip() or None, actor=(actor or "").strip() or None,
        outcome=(outcome or "").strip() or None,
        since=datetime.combine(start, time(), zone) if start else None,
        until=datetime.combine(end + timedelta(days=1), time(), zone) if end else None,
    )
    entries, total = audit.list_entries(session, flt, page=page, size=AUDIT_PAGE_SIZE)
    filters = {"action": flt.action or "", "actor": flt.actor or "",
               "outcome": flt.outcome or "", "since": start.isoformat() if start else "",
               "until": end.isoformat() if end else ""}
    query = urlencode({k: v for k, v in filters.items() if v})
    name = "_audit_results.html" if _fragment_wanted(request) else "settings_audit.html"
    return _render(request, context, name, principal=principal, tab="audit",
                   entries=entries, total=total, page=page, size=AUDIT_PAGE_SIZE,
                   filters=filters, query=query, facets=audit_facets(session))


@router.get("/lang/{lang}")
def set_language(lang: str, request: Request) -> RedirectResponse:
    referer = request.headers.get("referer") or "/"
    target = urlsplit(referer)
    path = _safe_next(target.path + (f"?{target.query}" if target.query else ""))
    if target.netloc and target.netloc != request.url.netloc:
        path = "/"
    response = RedirectResponse(path, status_code=303)
    if lang in SUPPORTED:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True,
                            secure=request.url.scheme == "https")
    return response


def error_page(request: Request, *, status_code: int, error: str) -> HTMLResponse:
    """An error as a page in the user's language (the API answers problem+json)."""
    context = request.app.state.context
    principal = getattr(request.state, "principal", None)
    return _render(request, context, "error.html", principal=principal,
                   status_code=status_code, error=error)
