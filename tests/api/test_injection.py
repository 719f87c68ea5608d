"""Script, HTML, template and SQL injection strings in every free-text field: imported
customer data, search boxes, filters, the login form, account fields. They are stored as
plain text, searched as values (never as SQL), and shown escaped (never as markup)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import create_api_key, create_user
from shopcrm.api.app import create_app
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext, build_context
from shopcrm.ingest.service import import_file
from shopcrm.settings import Settings
from shopcrm.store.models import Customer, SourceIdentity

FIXTURES = Path(__file__).parent.parent / "fixtures"
PASSWORD = "correct horse battery"
PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
    "'; DROP TABLE customers; --",
    "' OR '1'='1",
    "1); DELETE FROM users; --",
    "{{7*7}}",
    "{% raw %}",
    "%(count)s %s",
    "javascript:alert(1)",
    "</script><script>alert(1)</script>",
)
MARKUP = re.compile(r"<(script|img|svg)\b", re.I)


@dataclass
class World:
    context: AppContext
    admin: TestClient  # signed in through the login form (session cookie)
    agent: TestClient
    api: TestClient  # admin API key

    def anonymous(self) -> TestClient:
        return TestClient(create_app(self.context), raise_server_exceptions=False)


def sign_in(context: AppContext, username: str) -> TestClient:
    client = TestClient(create_app(context), raise_server_exceptions=False)
    client.cookies.set("lang", "en")
    response = client.post("/login", data={"username": username, "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 303
    return client


def evil_customers(path: Path) -> Path:
    """A Shopify customers export whose free-text columns carry the payloads."""
    with open(FIXTURES / "shopify_customers.csv", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for i, payload in enumerate(PAYLOADS):
            row = dict.fromkeys(header, "")
            row.update({"Customer ID": f"99{i:02d}", "First Name": payload,
                        "Last Name": f"Evil{i}", "Email": f"evil{i}@example.com",
                        "Default Address Address1": payload,
                        "Default Address City": payload, "Default Address Country Code": "CN",
                        "Phone": f"+86138000000{i:02d}", "Tags": payload, "Note": payload,
                        "Total Spent": "0.00", "Total Orders": "0"})
            writer.writerow(row)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("injection")
    context = build_context(Settings(home=folder / "home"),
                            clock=FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    report = import_file(context, "shopify-customers", evil_customers(folder / "evil.csv"))
    assert report.imported == len(PAYLOADS), report.as_dict()
    now = context.clock.now()
    with context.sessions.begin() as session:
        admin = create_user(session, username="admin", password=PASSWORD, role="admin", now=now)
        create_user(session, username="agent", password=PASSWORD, role="agent", now=now)
        key = create_api_key(session, user_id=admin.id, name="tests",
                             scopes=sorted(p.value for p in Permission), now=now,
                             actor=audit.SYSTEM).key
    api = TestClient(create_app(context), raise_server_exceptions=False)
    api.headers["X-API-Key"] = key
    yield World(context, sign_in(context, "admin"), sign_in(context, "agent"), api)
    context.close()


def assert_escaped(page: str, value: str) -> None:
    """``value`` appears only as escaped text: no tag it carries reaches the page."""
    assert str(escape(value)) in page, value
    if MARKUP.search(value):
        assert value not in page, value


def no_injected_markup(page: str) -> None:
    """No tag from a payload made it into the page as markup."""
    assert "<img src=x" not in page and "<svg/onload" not in page
    assert page.count("<script") == page.count('<script src="') + page.count(
        '<script type="application/json"')


def table_count(context: AppContext, model: Any) -> int:
    with context.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def stored_identities(context: AppContext) -> list[SourceIdentity]:
    with context.sessions() as session:
        return list(session.scalars(select(SourceIdentity).where(
            SourceIdentity.external_id.like("email:evil%"))))


def test_payloads_are_stored_as_plain_text(world: World) -> None:
    identities = stored_identities(world.context)
    assert len(identities) == len(PAYLOADS)
    cities = {i.city for i in identities}
    assert "<script>alert(1)</script>" in cities and "{{7*7}}" in cities
    assert table_count(world.context, Customer) == 3 + len(PAYLOADS)


def test_customer_list_and_profiles_show_them_escaped(world: World) -> None:
    for client in (world.admin, world.agent):
        listing = client.get("/customers", params={"page": 1}).text
        no_injected_markup(listing)
        for identity in stored_identities(world.context):
            assert identity.customer_id is not None
            page = client.get(f"/customers/{identity.customer_id}")
            assert page.status_code == 200
            no_injected_markup(page.text)
            assert_escaped(page.text, identity.city or "")
            if client is world.admin:
                assert_escaped(page.text, identity.name or "")
                assert_escaped(page.text, identity.address_detail or "")
                assert_escaped(listing, identity.name or "")
            assert ">49<" not in page.text  # {{7*7}} is text, not a template


def test_search_boxes_treat_payloads_as_values(world: World) -> None:
    customers_before = table_count(world.context, Customer)
    for payload in (*PAYLOADS, "%", "_", "\\", "' OR 1=1 --", "\x00"):
        page = world.admin.get("/customers", params={"q": payload})
        assert page.status_code in (200, 422), payload
        if page.status_code == 200:
            no_injected_markup(page.text)
            assert_escaped(page.text, payload)
        fragment = world.admin.get("/customers", params={"q": payload},
                                   headers={"HX-Request": "true"})
        assert fragment.status_code in (200, 422)
        api = world.api.get("/api/v1/customers", params={"q": payload})
        assert api.status_code in (200, 422), payload
        assert api.headers["content-type"].startswith("application/")
    assert table_count(world.context, Customer) == customers_before
    # SQL-looking text matches nothing…
    assert world.api.get("/api/v1/customers",
                         params={"q": "' OR '1'='1"}).json()["total"] == 0
    # …and a stored script is found by its text like any other name
    found = world.api.get("/api/v1/customers", params={"q": "<script>alert(1)</script>"})
    assert found.json()["total"] == 1
    assert found.json()["items"][0]["name"].startswith("<script>alert(1)</script>")


def test_audit_filters_and_entries_are_escaped(world: World) -> None:
    anonymous = world.anonymous()
    for payload in PAYLOADS[:4]:
        failed = anonymous.post("/login", data={"username": payload, "password": "wrong-wrong"})
        assert failed.status_code == 401
        no_injected_markup(failed.text)
    log = world.admin.get("/settings/audit", params={"action": "login", "outcome": "failed"})
    assert log.status_code == 200
    no_injected_markup(log.text)
    for payload in PAYLOADS[:4]:
        assert_escaped(log.text, payload)
    for payload in PAYLOADS:
        page = world.admin.get("/settings/audit", params={
            "action": payload[:64], "actor": payload, "outcome": payload[:16],
            "since": payload[:32], "until": payload[:32]})
        assert page.status_code == 200, payload
        no_injected_markup(page.text)
        assert_escaped(page.text, payload)
        api = world.api.get("/api/v1/audit", params={"action": payload[:64], "actor": payload,
                                                     "outcome": payload[:16]})
        assert api.status_code == 200 and api.json()["total"] == 0


def test_login_form_fields(world: World) -> None:
    anonymous = world.anonymous()
    for payload in PAYLOADS:
        page = anonymous.get("/login", params={"next": "/" + payload})
        assert page.status_code == 200
        no_injected_markup(page.text)
        response = anonymous.post("/login", data={"username": "admin", "password": payload,
                                                  "next": payload}, follow_redirects=False)
        assert response.status_code == 401
        no_injected_markup(response.text)
    for target in ("javascript:alert(1)", "//evil.example", "/\\evil.example",
                   "https://evil.example/"):
        fresh = world.anonymous()
        signed = fresh.post("/login", data={"username": "agent", "password": PASSWORD,
                                            "next": target}, follow_redirects=False)
        assert signed.headers["location"] in ("/", "/customers"), target
    refused = world.anonymous().get("/lang/<script>", follow_redirects=False)
    assert refused.status_code == 303 and "set-cookie" not in refused.headers


def test_account_fields_are_stored_and_shown_escaped(world: World) -> None:
    for i, payload in enumerate(PAYLOADS):
        user = world.api.post("/api/v1/users", json={
            "username": f"u{i}{payload}"[:64], "password": "long enough password",
            "role": "agent", "display_name": payload})
        assert user.status_code == 201, user.text
        assert user.json()["display_name"] == payload
        role = world.api.post("/api/v1/roles", json={
            "name": f"role-{i}", "permissions": ["view_customers"], "description": payload})
        assert role.status_code == 201, role.text
        key = world.api.post("/api/v1/api-keys", json={"name": payload,
                                                       "scopes": ["view_customers"]})
        assert key.status_code == 201 and key.json()["name"] == payload
    settings = world.admin.get("/settings")
    assert settings.status_code == 200
    no_injected_markup(settings.text)
    for i, payload in enumerate(PAYLOADS):
        assert_escaped(settings.text, payload)
        assert_escaped(settings.text, f"u{i}{payload}"[:64])
    log = world.admin.get("/settings/audit", params={"action": "user.create"}).text
    no_injected_markup(log)
    assert_escaped(log, f"u0{PAYLOADS[0]}")


def test_every_string_query_parameter_survives_payloads(world: World) -> None:
    """Generated from the OpenAPI schema, so endpoints added later are covered too."""
    schema = create_app().openapi()
    checked = 0
    for path, operations in schema["paths"].items():
        operation = operations.get("get")
        if operation is None or "{" in path:
            continue
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            kinds = {s.get("type") for s in parameter["schema"].get("anyOf",
                                                                   [parameter["schema"]])}
            if "string" not in kinds:
                continue
            limit = next((s.get("maxLength") for s in parameter["schema"].get(
                "anyOf", [parameter["schema"]]) if s.get("maxLength")), 500)
            for payload in PAYLOADS:
                response = world.api.get(path, params={parameter["name"]: payload[:limit]})
                assert response.status_code < 500, (path, parameter["name"], payload)
                assert "text/html" not in response.headers.get("content-type", "")
                checked += 1
    assert checked >= len(PAYLOADS) * 4
