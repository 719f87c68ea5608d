"""The ASGI application factory: API, pages, static files, problem+json errors.

``create_app()`` builds nothing until the server starts (lifespan), so importing this
module never connects to anything.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from shopcrm import __version__
from shopcrm.accounts.service import Principal
from shopcrm.accounts.throttle import LoginThrottle
from shopcrm.api.deps import require
from shopcrm.api.problems import install_problem_handlers
from shopcrm.api.routes import (
    accounts,
    analytics,
    campaigns,
    contacts,
    customers,
    health,
    identity,
    imports,
    loyalty,
    privacy,
    segment_analytics,
    segments,
    tags,
    tickets,
    tracking,
)
from shopcrm.context import AppContext, build_context
from shopcrm.web import campaign_pages, identity_pages, segment_pages, ticket_pages
from shopcrm.web import routes as web_routes

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def create_app(context: AppContext | None = None) -> FastAPI:
    """The app; with no context given, one is built from settings at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        app.state.context = context or build_context()
        # Load the facts before the first visitor asks for them.
        threading.Thread(target=lambda: app.state.context.warehouse.con, daemon=True,
                         name="warehouse-warm-up").start()
        try:
            yield
        finally:
            if owned:
                app.state.context.close()

    app = FastAPI(title="shopcrm", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  description="Self-hosted CRM and customer data platform for online shops.")
    if context is not None:
        app.state.context = context
    app.state.templates = web_routes.make_templates()
    app.state.login_throttle = LoginThrottle()
    install_problem_handlers(app)
    for router in (health.router, accounts.router, customers.router, analytics.router,
                   imports.router, privacy.router, identity.router, segment_analytics.router,
                   loyalty.router, segments.router, tags.router, campaigns.router,
                   tracking.router, tickets.router, contacts.router, web_routes.router,
                   identity_pages.router, segment_pages.router, campaign_pages.router,
                   ticket_pages.router):
        app.include_router(router)
    _docs(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app


def _docs(app: FastAPI) -> None:
    """OpenAPI schema and Swagger UI, for signed-in users only."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Annotated[Principal, require(None)]) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_: Annotated[Principal, require(None)]) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="shopcrm API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css")


def route_table(app: FastAPI) -> list[dict[str, Any]]:
    """Every route with its methods and declared permission (for docs and tests).

    Walks included routers too: newer FastAPI keeps each included router as one entry
    of ``app.routes``, so a flat look at ``app.routes`` would miss most routes.
    """
    from shopcrm.api.deps import declared_permission

    return [{"path": path, "methods": sorted(route.methods or ()),
             "permission": declared_permission(route.dependant)}
            for path, route in _walk(app.routes, "")]


def _walk(routes: Any, prefix: str) -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route
