"""Errors as RFC 9457 problem details (``application/problem+json``), everywhere.

An unexpected exception still answers a problem document (and is logged), never a
bare stack trace or an HTML error page.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shopcrm.api.deps import Forbidden, NotAuthenticated
from shopcrm.ingest.errors import ImportFileError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("shopcrm.api")


def problem(status: int, title: str, detail: str | None = None, *, type_: str = "about:blank",
            instance: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", "text/html")


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        return problem(exc.status_code, title, str(exc.detail) if exc.detail else None,
                       instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        return problem(422, "Invalid request", "; ".join(
            f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors), instance=request.url.path,
            errors=errors)

    @app.exception_handler(NotAuthenticated)
    async def _unauthenticated(request: Request, exc: NotAuthenticated) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/login?next={quote(target, safe='')}"
        if request.headers.get("hx-request"):
            # An HTMX call after the session expired: send the whole page to the login.
            return Response(status_code=401, headers={"HX-Redirect": login})
        if _wants_page(request):
            return RedirectResponse(login, status_code=303)
        response = problem(401, "Unauthorized", "sign in or send an API key "
                           "(Authorization: Bearer shk_…)", instance=request.url.path)
        response.headers["WWW-Authenticate"] = 'Bearer realm="shopcrm"'
        return response

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if _wants_page(request) and not request.headers.get("hx-request"):
            from shopcrm.web.routes import error_page  # the web layer renders pages

            return error_page(request, status_code=403, error="forbidden")
        return problem(403, "Forbidden", str(exc), instance=request.url.path)

    @app.exception_handler(ImportFileError)
    async def _import(request: Request, exc: ImportFileError) -> JSONResponse:
        return problem(422, "File refused", str(exc), type_="/problems/import-refused",
                       instance=request.url.path, line=exc.line)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "Internal error",
                       "The server could not complete the request; it has been logged.",
                       instance=request.url.path)
