"""Every page declares its permission and enforces it.

Walks the routes with ``fastapi.routing.iter_route_contexts``: since FastAPI 0.13x
``app.routes`` holds included routers as wrappers, so a walk over ``APIRoute`` objects
alone sees only the routes declared on the app itself."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from shopcrm.accounts.permissions import BUILTIN_ROLES, Permission
from shopcrm.api.app import create_app
from shopcrm.api.deps import PUBLIC_PATHS, declared_permission

Shop = Any


def page_routes() -> list[tuple[str, str, str | None]]:
    rows = []
    for route in iter_route_contexts(create_app().routes):
        if not isinstance(route.original_route, APIRoute) or str(route.path).startswith("/api/"):
            continue
        for method in sorted(route.methods or ()):
            rows.append((method, str(route.path), declared_permission(route.dependant)))
    return rows


PAGES = page_routes()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_walk_sees_the_pages() -> None:
    paths = {path for _, path, _ in PAGES}
    assert {"/", "/customers", "/customers/{customer_id}", "/settings",
            "/settings/audit"} <= paths


@pytest.mark.parametrize(("method", "path", "permission"), PAGES,
                         ids=[f"{m} {p}" for m, p, _ in PAGES])
def test_each_page_declares_and_enforces_its_permission(
        shop: Shop, signed_in: Callable[..., TestClient], method: str, path: str,
        permission: str | None) -> None:
    if path in PUBLIC_PATHS:
        assert permission is None
        return
    assert permission is not None, f"{method} {path} declares no permission"
    anonymous = shop.anonymous()
    refused = anonymous.request(method, concrete(path), headers={"accept": "application/json"})
    assert refused.status_code == 401, (method, path)
    if method == "GET":
        page = anonymous.get(concrete(path), headers={"accept": "text/html"},
                             follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    if permission == "signed-in":
        return
    needed = Permission(permission)
    roles = {"admin": "admin", "agent": "agent", "analyst": "analyst"}
    for username, role in roles.items():
        if needed in BUILTIN_ROLES[role]:
            continue
        response = signed_in(username).request(method, concrete(path))
        assert response.status_code == 403, (username, method, path)
