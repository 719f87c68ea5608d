"""Access control, generated from the route table: no route without a declared
permission; no credentials → 401; a role without the permission → 403. Plus the
session, CSRF, lock-out, throttling, masking and API-key behaviour."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from shopcrm.accounts.permissions import BUILTIN_ROLES, Permission
from shopcrm.api.app import create_app, route_table
from shopcrm.api.deps import PUBLIC_PATHS
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext

ROUTES = route_table(create_app())
PROTECTED = [r for r in ROUTES if r["path"] not in PUBLIC_PATHS]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_declares_a_permission_or_is_public() -> None:
    undeclared = [r["path"] for r in PROTECTED if r["permission"] is None]
    assert undeclared == []
    public_with_permission = [r["path"] for r in ROUTES
                              if r["path"] in PUBLIC_PATHS and r["permission"]]
    assert public_with_permission == []


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r['methods'][0]} {r['path']}")
def test_no_credentials_gets_401(shared_anonymous: TestClient,
                                 route: dict[str, object]) -> None:
    anonymous = shared_anonymous
    for method in route["methods"]:  # type: ignore[attr-defined]
        if method == "HEAD":
            continue
        response = anonymous.request(method, concrete(str(route["path"])),
                                     headers={"accept": "application/json"})
        assert response.status_code == 401, (method, route["path"], response.text)
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("route", [r for r in PROTECTED if r["permission"] != "signed-in"],
                         ids=lambda r: f"{r['methods'][0]} {r['path']}")
def test_roles_without_the_permission_get_403(
        shared_client_for: Callable[[str], TestClient], route: dict[str, object]) -> None:
    client_for = shared_client_for
    needed = Permission(str(route["permission"]))
    lacking = [role for role, perms in BUILTIN_ROLES.items() if needed not in perms]
    for role in lacking:
        client = client_for(role)
        for method in route["methods"]:  # type: ignore[attr-defined]
            if method == "HEAD":
                continue
            response = client.request(method, concrete(str(route["path"])))
            assert response.status_code == 403, (role, method, route["path"], response.text)


def test_pages_redirect_to_login_and_back(anonymous: TestClient,
                                          browser_login: Callable[..., None]) -> None:
    response = anonymous.get("/customers?q=x", headers={"accept": "text/html"},
                             follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcustomers%3Fq%3Dx"
    login = anonymous.post("/login", data={"username": "admin", "password": "correct horse battery",
                                           "next": "/customers?q=x"}, follow_redirects=False)
    assert login.headers["location"] == "/customers?q=x"
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_open_redirect_is_refused(anonymous: TestClient) -> None:
    login = anonymous.post("/login", data={"username": "admin",
                                           "password": "correct horse battery",
                                           "next": "//evil.example/phish"},
                           follow_redirects=False)
    assert login.headers["location"] == "/"


def test_agent_sees_masked_pii_admin_sees_it_whole(
        client_for: Callable[[str], TestClient]) -> None:
    from pathlib import Path

    admin = client_for("admin")
    fixture = Path(__file__).parent.parent / "fixtures" / "taobao_orders_gbk.csv"
    with open(fixture, "rb") as handle:
        admin.post("/api/v1/imports", data={"format": "taobao-orders"},
                   files={"file": ("t.csv", handle, "text/csv")})
    whole = {c["id"]: c for c in admin.get("/api/v1/customers").json()["items"]}
    masked = {c["id"]: c for c in client_for("agent").get("/api/v1/customers").json()["items"]}
    ming = next(c for c in whole.values() if c["name"] == "王小明")
    assert ming["phone"] == "+8613812345678"
    assert masked[ming["id"]]["phone"] == "138****5678"
    assert masked[ming["id"]]["name"] == "王**"


def test_wrong_password_then_lockout(anonymous: TestClient) -> None:
    for _ in range(5):
        response = anonymous.post("/login", data={"username": "agent", "password": "nope-nope"})
        assert response.status_code == 401
        assert "Wrong username or password" in response.text or "用户名或密码" in response.text
    locked = anonymous.post("/login", data={"username": "agent",
                                            "password": "correct horse battery"})
    assert locked.status_code == 401
    assert "locked" in locked.text or "锁定" in locked.text
    unknown = anonymous.post("/login", data={"username": "nobody", "password": "whatever1"})
    assert unknown.status_code == 401


def test_login_throttle_per_address(anonymous: TestClient) -> None:
    statuses = [anonymous.post("/login", data={"username": f"u{i}", "password": "x" * 8}
                               ).status_code for i in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429


def test_csrf_is_required_for_session_posts(anonymous: TestClient,
                                            browser_login: Callable[..., None]) -> None:
    browser_login(anonymous, "admin")
    refused = anonymous.post("/logout", follow_redirects=False)
    assert refused.status_code == 403
    assert "reload the page" in refused.json()["detail"]
    page = anonymous.get("/customers", headers={"accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    done = anonymous.post("/logout", data={"csrf_token": token.group(1)},
                          follow_redirects=False)
    assert done.status_code == 303
    reused = anonymous.post("/logout", data={"csrf_token": token.group(1)},
                            headers={"accept": "application/json"}, follow_redirects=False)
    assert reused.status_code == 401  # the session is gone; the old token opens nothing


def test_expired_session(app_context: AppContext, anonymous: TestClient,
                         browser_login: Callable[..., None]) -> None:
    browser_login(anonymous, "analyst")
    assert anonymous.get("/api/v1/me").status_code == 200
    clock = app_context.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(hours=13))
    expired = anonymous.get("/api/v1/me")
    assert expired.status_code == 401


def test_api_key_scopes_and_revocation(admin: TestClient, anonymous: TestClient) -> None:
    created = admin.post("/api/v1/api-keys", json={"name": "bi tool",
                                                   "scopes": ["view_analytics"]})
    assert created.status_code == 201
    key = created.json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert anonymous.get("/api/v1/kpis/monthly", headers=headers).status_code == 200
    assert anonymous.get("/api/v1/customers", headers=headers).status_code == 403
    assert admin.delete(f"/api/v1/api-keys/{created.json()['id']}").status_code == 204
    assert anonymous.get("/api/v1/kpis/monthly", headers=headers).status_code == 401
    log = admin.get("/api/v1/audit", params={"action": "api_key.revoke"}).json()
    assert log["total"] == 1


def test_audit_records_logins_and_failures(admin: TestClient, anonymous: TestClient,
                                           browser_login: Callable[..., None]) -> None:
    anonymous.post("/login", data={"username": "marketer", "password": "wrong-password"})
    browser_login(anonymous, "marketer")
    entries = admin.get("/api/v1/audit", params={"action": "login"}).json()["items"]
    outcomes = sorted(e["outcome"] for e in entries)
    assert outcomes == ["failed", "ok"]
    assert all(e["ip"] for e in entries)


def test_custom_role(admin: TestClient, anonymous: TestClient) -> None:
    role = admin.post("/api/v1/roles", json={"name": "auditor",
                                             "permissions": ["view_audit"]})
    assert role.status_code == 201
    user = admin.post("/api/v1/users", json={"username": "aud", "password": "long enough pw",
                                             "role": "auditor"})
    assert user.status_code == 201
    bad = admin.post("/api/v1/roles", json={"name": "x", "permissions": ["fly"]})
    assert bad.status_code == 422
    login = anonymous.post("/login", data={"username": "aud", "password": "long enough pw"},
                           follow_redirects=False)
    assert login.status_code == 303
    assert anonymous.get("/api/v1/audit").status_code == 200
    assert anonymous.get("/api/v1/customers").status_code == 403


def test_forbidden_page_is_a_page_and_htmx_is_redirected(
        anonymous: TestClient, browser_login: Callable[..., None]) -> None:
    htmx = anonymous.get("/customers?q=x", headers={"hx-request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/login?next=")
    browser_login(anonymous, "agent")
    page = anonymous.get("/settings", headers={"accept": "text/html"})
    assert page.status_code == 403
    assert "text/html" in page.headers["content-type"]
    assert "Not allowed" in page.text or "不允许访问" in page.text


def test_change_role_deactivate_and_reset_password(admin: TestClient, anonymous: TestClient,
                                                   browser_login: Callable[..., None]) -> None:
    users = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    analyst = users["analyst"]["id"]
    browser_login(anonymous, "analyst")
    assert anonymous.get("/api/v1/kpis/monthly").status_code == 200

    demoted = admin.patch(f"/api/v1/users/{analyst}", json={"role": "agent"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "agent"
    # the role change signed the analyst out everywhere
    assert anonymous.get("/api/v1/kpis/monthly").status_code == 401

    assert admin.patch(f"/api/v1/users/{analyst}", json={"is_active": False}).status_code == 200
    refused = anonymous.post("/login", data={"username": "analyst",
                                             "password": "correct horse battery"})
    assert refused.status_code == 401
    reset = admin.patch(f"/api/v1/users/{analyst}",
                        json={"is_active": True, "password": "a brand new secret"})
    assert reset.status_code == 200
    browser_login(anonymous, "analyst", "a brand new secret")

    only_admin = users["admin"]["id"]
    last = admin.patch(f"/api/v1/users/{only_admin}", json={"role": "agent"})
    assert last.status_code == 422 and "last active admin" in last.json()["detail"]
    assert admin.patch("/api/v1/users/999999", json={"is_active": False}).status_code == 404
    changes = admin.get("/api/v1/audit", params={"action": "user.update"}).json()
    assert changes["total"] == 3
