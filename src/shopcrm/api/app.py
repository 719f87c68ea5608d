"""The ASGI application factory: API, pages, static files, problem+json errors.

``create_app()`` builds nothing until the server starts (lifespan), so importing this
module never connects to anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from shopcrm import __version__
from shopcrm.api.problems import install_problem_handlers
from shopcrm.api.routes import analytics, customers, health, imports
from shopcrm.context import AppContext, build_context
from shopcrm.web import routes as web_routes

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def create_app(context: AppContext | None = None) -> FastAPI:
    """The app; with no context given, one is built from settings at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        app.state.context = context or build_context()
        try:
            yield
        finally:
            if owned:
                app.state.context.close()

    app = FastAPI(title="shopcrm", version=__version__, lifespan=lifespan,
                  description="Self-hosted CRM and customer data platform for online shops.")
    if context is not None:
        app.state.context = context
    app.state.templates = web_routes.make_templates()
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(customers.router)
    app.include_router(analytics.router)
    app.include_router(imports.router)
    app.include_router(web_routes.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
