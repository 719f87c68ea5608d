"""The privacy API: permissions per route (401 / 403), problem+json errors, consent
changes, the export attachment and erasure over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from shopcrm.context import AppContext
from shopcrm.identity.cache import cache_for
from shopcrm.store.models import SourceIdentity

PROBLEM = "application/problem+json"
ROUTES = (("GET", "consents"), ("POST", "consents"), ("GET", "export"), ("POST", "erase"))
BODIES = {"consents": {"channel": "sms", "purpose": "marketing", "status": "granted"},
          "erase": {"reason": "DSR-1"}}


def _id(context: AppContext, source: str, external_id: str) -> int:
    with context.sessions() as session:
        found = session.scalar(select(SourceIdentity.customer_id).where(
            SourceIdentity.source == source, SourceIdentity.external_id == external_id))
    assert found is not None
    return int(found)


@pytest.fixture
def ming(app_context: AppContext) -> int:
    return _id(app_context, "shopify", "email:ming.wang@example.com")


def _call(client: TestClient, method: str, customer_id: int, tail: str) -> Response:
    return client.request(method, f"/api/v1/customers/{customer_id}/{tail}",
                          json=BODIES.get(tail) if method == "POST" else None)


def test_no_credentials_is_401(anonymous: TestClient, ming: int) -> None:
    for method, tail in ROUTES:
        response = _call(anonymous, method, ming, tail)
        assert response.status_code == 401, (method, tail)
        assert response.headers["content-type"] == PROBLEM


def test_roles_without_the_permission_are_403(client_for: Callable[[str], TestClient],
                                              ming: int) -> None:
    for role, method, tail in [
        ("agent", "GET", "export"), ("agent", "POST", "erase"),
        ("marketer", "GET", "export"), ("marketer", "POST", "erase"),
        ("analyst", "POST", "consents"), ("marketer", "POST", "consents"),
    ]:
        response = _call(client_for(role), method, ming, tail)
        assert response.status_code == 403, (role, method, tail, response.text)
        assert response.headers["content-type"] == PROBLEM
    # The agent may still look at consents; nothing was erased by the refused calls.
    assert _call(client_for("agent"), "GET", ming, "consents").status_code == 200
    assert client_for("admin").get(f"/api/v1/customers/{ming}/export").json()[
        "customer"]["status"] == "active"


def test_unknown_customer_is_404_problem(client_for: Callable[[str], TestClient]) -> None:
    admin = client_for("admin")
    for method, tail in ROUTES:
        response = _call(admin, method, 999_999, tail)
        assert response.status_code == 404, (method, tail)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == "no customer 999999"


def test_agent_records_and_reads_consents(client_for: Callable[[str], TestClient],
                                          ming: int) -> None:
    agent = client_for("agent")
    assert agent.get(f"/api/v1/customers/{ming}/consents").json()["history"] == []
    created = agent.post(f"/api/v1/customers/{ming}/consents",
                         json={"channel": "wechat", "purpose": "marketing",
                               "status": "granted", "source": "service-desk"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["customer_id"], body["channel"], body["status"], body["source"],
            body["actor"]) == (ming, "wechat", "granted", "service-desk", "agent")
    withdrawn = agent.post(f"/api/v1/customers/{ming}/consents",
                           json={"channel": "any", "purpose": "marketing",
                                 "status": "withdrawn"})
    assert withdrawn.status_code == 201 and withdrawn.json()["source"] == "api"
    overview = agent.get(f"/api/v1/customers/{ming}/consents").json()
    assert [(c["channel"], c["status"]) for c in overview["history"]] == [
        ("wechat", "granted"), ("any", "withdrawn")]
    assert [(c["channel"], c["status"]) for c in overview["current"]] == [
        ("any", "withdrawn"), ("wechat", "granted")]


def test_invalid_consent_bodies_are_422(client_for: Callable[[str], TestClient],
                                        ming: int) -> None:
    admin = client_for("admin")
    for body in [
        {"channel": "fax", "purpose": "marketing", "status": "granted"},
        {"channel": "sms", "purpose": "marketing", "status": "maybe"},
        {"channel": "sms", "purpose": "marketing", "status": "granted", "source": "erasure"},
        {"channel": "sms", "purpose": "marketing", "status": "granted",
         "source": "import:shopify-customers"},
        {"channel": "sms", "purpose": "marketing", "status": "granted", "note": "extra"},
    ]:
        response = admin.post(f"/api/v1/customers/{ming}/consents", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM
    assert admin.get(f"/api/v1/customers/{ming}/consents").json()["history"] == []


def test_export_is_an_audited_attachment(client_for: Callable[[str], TestClient],
                                         ming: int) -> None:
    admin = client_for("admin")
    response = admin.get(f"/api/v1/customers/{ming}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="customer-{ming}-export.json"')
    document = response.json()
    assert document["customer"]["phone"] == "+8613812345678"  # unmasked for privacy staff
    assert [i["external_id"] for i in document["source_identities"]] == [
        "email:ming.wang@example.com"]
    assert [o["order_id"] for o in document["orders"]] == ["#1001"]
    log = admin.get("/api/v1/audit", params={"action": "privacy.export"}).json()
    assert [(e["actor"], e["target_id"]) for e in log["items"]] == [("admin", str(ming))]


def test_erase_over_http(client_for: Callable[[str], TestClient], ming: int,
                         app_context: AppContext) -> None:
    # The identity matcher keeps comparable records (names, phones) beside its model.
    cache = cache_for(app_context.settings.home)
    with app_context.sessions() as session:
        identities = list(session.scalars(select(SourceIdentity.id)))
    cache.save(pa.table({"unique_id": pa.array(identities, pa.int64()),
                         "name": [f"n{i}" for i in identities]}), expected="f", watermark=None)
    admin = client_for("admin")
    missing = admin.post(f"/api/v1/customers/{ming}/erase", json={})
    assert missing.status_code == 422 and missing.headers["content-type"] == PROBLEM
    blank = admin.post(f"/api/v1/customers/{ming}/erase", json={"reason": "   "})
    assert blank.status_code == 422 and "reason" in blank.json()["detail"]

    done = admin.post(f"/api/v1/customers/{ming}/erase", json={"reason": "DSR-7 by e-mail"})
    assert done.status_code == 200, done.text
    assert done.json()["erased"] is True and done.json()["identities"] == 1
    kept = cache.load("f")
    assert kept is not None
    with app_context.sessions() as session:
        erased = set(session.scalars(select(SourceIdentity.id).where(
            SourceIdentity.customer_id == ming)))
    assert erased and set(kept.table.column("unique_id").to_pylist()) == set(identities) - erased
    again = admin.post(f"/api/v1/customers/{ming}/erase", json={"reason": "DSR-7 again"})
    assert again.status_code == 200
    assert again.json()["erased"] is False
    assert "already erased" in again.json()["message"]

    log = admin.get("/api/v1/audit", params={"action": "privacy.erase"}).json()["items"]
    assert [(e["outcome"], e["details"]["reason"]) for e in log] == [
        ("noop", "DSR-7 again"), ("ok", "DSR-7 by e-mail")]
    grant = admin.post(f"/api/v1/customers/{ming}/consents",
                       json={"channel": "sms", "purpose": "marketing", "status": "granted"})
    assert grant.status_code == 422 and "erased" in grant.json()["detail"]
    customers = admin.get("/api/v1/customers", params={"size": 100}).json()["items"]
    assert ming not in {c["id"] for c in customers}
