"""The pages. Each handler gathers data through services and renders a template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from shopcrm.analytics.kpis import channel_mix, monthly_kpis, shop_totals
from shopcrm.api.deps import ContextDep, SessionDep
from shopcrm.customers.queries import list_customers
from shopcrm.web.i18n import SUPPORTED, Formatter, pick_language, translations

TEMPLATES_DIR = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.add_extension("jinja2.ext.i18n")
    return templates


def _render(request: Request, context: Any, name: str, **data: Any) -> HTMLResponse:
    lang = pick_language(request.cookies.get("lang"), request.headers.get("accept-language"))
    templates: Jinja2Templates = request.app.state.templates
    env = templates.env
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    fmt = Formatter(lang, context.settings.currency)
    return templates.TemplateResponse(
        request, name, {"lang": lang, "fmt": fmt, "languages": SUPPORTED, **data})


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, context: ContextDep) -> HTMLResponse:
    months = monthly_kpis(context.warehouse)
    totals = shop_totals(context.warehouse)
    recent = months[-24:]
    peak = max((m.gmv for m in recent), default=0) or 1
    return _render(request, context, "dashboard.html", months=list(reversed(recent)),
                   chart=recent, peak=peak, totals=totals, channels=channel_mix(context.warehouse))


@router.get("/customers", response_class=HTMLResponse)
def customers(
    request: Request, context: ContextDep, session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    result = list_customers(session, context.warehouse, q=q, page=page, size=50)
    return _render(request, context, "customers.html", result=result, q=q or "")


@router.get("/lang/{lang}")
def set_language(lang: str, request: Request) -> RedirectResponse:
    target = request.headers.get("referer") or "/"
    if not target.startswith(str(request.base_url)):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    if lang in SUPPORTED:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response
