"""The loyalty API over HTTP: member card, benefits, movements, errors as problem+json."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from tests.loyalty.conftest import add_customer

from shopcrm.context import AppContext
from shopcrm.loyalty import ledger as L

PROBLEM = "application/problem+json"
Client = Callable[[str], TestClient]


@pytest.fixture
def shop(sqlite_context: AppContext) -> AppContext:
    with sqlite_context.sessions.begin() as session:
        add_customer(session, 5, sqlite_context.clock.now())
        L.earn_order(session, customer_id=5, order_ref="shop:o1", points=500,
                     paid=Decimal("500"), now=sqlite_context.clock.now())
    return sqlite_context


@pytest.fixture
def client_for(shop: AppContext, role_client: Callable[[AppContext, str], TestClient]
               ) -> Client:
    return lambda role: role_client(shop, role)


def test_card_and_benefits(client_for: Client) -> None:
    agent = client_for("agent")
    card = agent.get("/api/v1/loyalty/customers/5").json()
    assert (card["balance"], card["tier"], card["next_tier"]) == (500, "member", "senior")
    assert [lot["remaining"] for lot in card["lots"]] == [500]
    assert [e["kind"] for e in card["entries"]] == ["earn"]
    got = agent.get("/api/v1/loyalty/customers/5/benefits").json()
    assert (got["tier_name"], got["benefits"]["return_window_days"]) == ("普通会员", 7)
    missing = agent.get("/api/v1/loyalty/customers/77/benefits")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)


def test_redeem_replay_and_errors(client_for: Client) -> None:
    marketer = client_for("marketer")
    url = "/api/v1/loyalty/customers/5/redeem"
    first = marketer.post(url, json={"points": 200, "idempotency_key": "chk-1"})
    assert (first.status_code, first.json()["balance"], first.json()["replayed"]) == (
        200, 300, False)
    again = marketer.post(url, json={"points": 200, "idempotency_key": "chk-1"})
    assert (again.json()["balance"], again.json()["replayed"]) == (300, True)
    for body, status in [
        ({"points": 301, "idempotency_key": "chk-2"}, 409),      # more than the balance
        ({"points": 5, "idempotency_key": "chk-1"}, 409),        # key reused differently
        ({"points": 1.5, "idempotency_key": "chk-3"}, 422),      # fractional
        ({"points": -5, "idempotency_key": "chk-4"}, 422),       # negative
        ({"points": "5", "idempotency_key": "chk-5"}, 422),      # not a number
        ({"points": 5, "idempotency_key": "has space"}, 422),
        ({"points": 5}, 422),                                    # no key
    ]:
        response = marketer.post(url, json=body)
        assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM), (
            body, response.text)
    unknown = marketer.post("/api/v1/loyalty/customers/77/redeem",
                            json={"points": 1, "idempotency_key": "x"})
    assert unknown.status_code == 404
    assert marketer.get("/api/v1/loyalty/customers/5").json()["balance"] == 300
    assert client_for("agent").post(url, json={"points": 1, "idempotency_key": "a"}
                                    ).status_code == 403


def test_adjust_reverse_rules_settings_reports(client_for: Client) -> None:
    admin = client_for("admin")
    no_reason = admin.post("/api/v1/loyalty/customers/5/adjust",
                           json={"points": 10, "reason": "", "idempotency_key": "adj-0"})
    assert no_reason.status_code == 422
    adjusted = admin.post("/api/v1/loyalty/customers/5/adjust",
                          json={"points": -100, "reason": "duplicate order",
                                "idempotency_key": "adj-1"})
    assert adjusted.json()["balance"] == 400
    assert admin.post("/api/v1/loyalty/orders/reverse", json={
        "order_ref": "shop:nope", "refunded_total": "5", "idempotency_key": "rv-0"}
    ).status_code == 404
    reversed_ = admin.post("/api/v1/loyalty/orders/reverse", json={
        "order_ref": "shop:o1", "refunded_total": "100", "idempotency_key": "rv-1"})
    assert (reversed_.json()["balance"], reversed_.json()["entry"]["points"]) == (300, -100)
    rule = admin.put("/api/v1/loyalty/rules/checkin", json={
        "kind": "checkin", "name": "签到", "points": 5, "cost_per_point": "0.02",
        "budget": "0.10"})
    assert rule.status_code == 200, rule.text
    ok = admin.post("/api/v1/loyalty/customers/5/bonus",
                    json={"rule": "checkin", "idempotency_key": "ci-1"})
    assert ok.json()["balance"] == 305
    spent = admin.post("/api/v1/loyalty/customers/5/bonus",
                       json={"rule": "checkin", "idempotency_key": "ci-2"})
    assert spent.status_code == 409 and "budget" in spent.json()["detail"]
    settings = admin.get("/api/v1/loyalty/settings").json()
    settings["tiers"][0]["min_spend"] = "10"          # the lowest tier takes everyone
    assert admin.put("/api/v1/loyalty/settings", json=settings).status_code == 422
    settings["tiers"][0]["min_spend"] = None
    settings["expiry"] = {"kind": "months_after", "months": 3}
    assert admin.put("/api/v1/loyalty/settings", json=settings).status_code == 200
    report = admin.get("/api/v1/loyalty/reports").json()
    assert report["liability_points"] == 305
    assert report["months"][0]["issued"] == 505
    rules = {r["code"]: r for r in report["rules"]}
    assert rules["checkin"]["budget_used"] == "1.0000"
    assert client_for("analyst").put("/api/v1/loyalty/settings", json=settings
                                     ).status_code == 403


def test_many_movements_in_one_request(client_for: Client, shop: AppContext) -> None:
    """Each movement as its single route would do it; refusals carry their status and
    change nothing; the same request again is all replays."""
    with shop.sessions.begin() as session:
        add_customer(session, 6, shop.clock.now())
    marketer = client_for("marketer")
    assert marketer.put("/api/v1/loyalty/rules/review", json={
        "kind": "review", "name": "评价", "points": 20, "cost_per_point": "0.01",
        "budget": "0.30"}).status_code == 200
    body = {"movements": [
        {"type": "redeem", "customer_id": 5, "points": 100, "idempotency_key": "till-1"},
        {"type": "bonus", "customer_id": 6, "rule": "review", "idempotency_key": "rv-6"},
        {"type": "redeem", "customer_id": 6, "points": 21, "idempotency_key": "till-2"},
        {"type": "redeem", "customer_id": 6, "points": 20, "idempotency_key": "till-3"},
        {"type": "bonus", "customer_id": 5, "rule": "review", "idempotency_key": "rv-5"},
        {"type": "bonus", "customer_id": 5, "rule": "nope", "idempotency_key": "rv-x"},
        {"type": "redeem", "customer_id": 77, "points": 1, "idempotency_key": "till-4"},
        {"type": "redeem", "customer_id": 5, "points": 5, "idempotency_key": "till-1"},
    ]}
    first = marketer.post("/api/v1/loyalty/movements", json=body)
    assert first.status_code == 200
    got = [(r["balance"], r["error"]["status"] if r["error"] else None) for r in first.json()]
    assert got == [(400, None), (20, None), (None, 409), (0, None),
                   (None, 409),   # the budget (30 points) is spent
                   (None, 404), (None, 404),
                   (None, 409)]   # the key of the first movement, other points
    again = marketer.post("/api/v1/loyalty/movements", json=body).json()
    assert [r["replayed"] for r in again if not r["error"]] == [True, True, True]
    card = marketer.get("/api/v1/loyalty/customers/5").json()
    assert card["balance"] == 400
    for bad in ({"movements": []},
                {"movements": [{"type": "earn", "customer_id": 5, "points": 1,
                                "idempotency_key": "e"}]},
                {"movements": [{"type": "redeem", "customer_id": 5, "points": 0,
                                "idempotency_key": "z"}]}):
        refused = marketer.post("/api/v1/loyalty/movements", json=bad)
        assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM)
    assert client_for("agent").post("/api/v1/loyalty/movements", json=body).status_code == 403
