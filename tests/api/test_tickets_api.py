"""The tickets API on both stores: open, answer, change, rate; problem+json refusals;
masking for roles without PII rights; the SLA policy behind manage_settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.store.models import Customer


def test_ticket_lifecycle_over_the_api(context: AppContext, clock: FakeClock,
                                       role_client: Callable[..., object]) -> None:
    with context.sessions.begin() as session:
        now = clock.now()
        session.add(Customer(id=41, status="active", name="张伟", phone="+8613911112222",
                             created_at=now, updated_at=now))
    agent, admin = role_client(context, "agent"), role_client(context, "admin")
    opened = agent.post("/api/v1/tickets", json={  # type: ignore[attr-defined]
        "channel": "wechat", "kind": "complaint", "subject": "快递太慢", "customer_id": 41,
        "body": "三天了还没到"})
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert ticket["priority"] == "high" and ticket["status"] == "open"
    assert ticket["customer_name"] == "张*" and ticket["customer_phone"] == "139****2222"
    assert ticket["first_response"]["state"] == "running"
    tid = ticket["id"]
    clock.advance(timedelta(hours=3))  # high: first response within 2 h — late now
    late = agent.get("/api/v1/tickets", params={"queue": "late"}).json()  # type: ignore[attr-defined]
    assert [t["id"] for t in late["items"]] == [tid] and late["items"][0]["late"]
    reply = agent.post(f"/api/v1/tickets/{tid}/replies",  # type: ignore[attr-defined]
                       json={"body": "已催促快递"})
    assert reply.status_code == 201 and reply.json()["kind"] == "reply"
    changed = agent.patch(f"/api/v1/tickets/{tid}",  # type: ignore[attr-defined]
                          json={"status": "resolved", "note": "已签收"})
    assert changed.status_code == 200
    detail = changed.json()
    assert detail["first_response"]["state"] == "missed"
    assert [e["kind"] for e in detail["events"]] == ["created", "reply", "status"]
    rated = agent.post(f"/api/v1/tickets/{tid}/rating", json={"score": 3})  # type: ignore[attr-defined]
    assert rated.status_code == 200 and rated.json()["satisfaction"] == 3
    whole = admin.get(f"/api/v1/tickets/{tid}").json()  # type: ignore[attr-defined]
    assert whole["customer_name"] == "张伟"
    figures = admin.get("/api/v1/tickets/figures").json()  # type: ignore[attr-defined]
    assert figures["first_response_met"] == 0.0 and figures["satisfaction"] == 3.0
    profile = admin.get("/api/v1/customers/41").json()  # type: ignore[attr-defined]
    assert [t["id"] for t in profile["slots"]["tickets"]] == [tid]


def test_refusals_are_problems(context: AppContext,
                               role_client: Callable[..., object]) -> None:
    agent = role_client(context, "agent")
    unknown = agent.get("/api/v1/tickets/12345")  # type: ignore[attr-defined]
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    nobody = agent.post("/api/v1/tickets", json={  # type: ignore[attr-defined]
        "channel": "phone", "kind": "consultation", "subject": "?"})
    assert nobody.status_code == 422 and "contact" in nobody.json()["detail"]
    bad_kind = agent.post("/api/v1/tickets", json={  # type: ignore[attr-defined]
        "channel": "phone", "kind": "praise", "subject": "?", "contact": "x"})
    assert bad_kind.status_code == 422
    tid = agent.post("/api/v1/tickets", json={  # type: ignore[attr-defined]
        "channel": "phone", "kind": "consultation", "subject": "?", "contact": "x"}).json()["id"]
    agent.patch(f"/api/v1/tickets/{tid}", json={"status": "closed"})  # type: ignore[attr-defined]
    reopened = agent.patch(f"/api/v1/tickets/{tid}", json={"status": "open"})  # type: ignore[attr-defined]
    assert reopened.status_code == 422 and "cannot become" in reopened.json()["detail"]


def test_sla_policy_needs_manage_settings(context: AppContext,
                                          role_client: Callable[..., object]) -> None:
    agent, admin = role_client(context, "agent"), role_client(context, "admin")
    policy = agent.get("/api/v1/tickets/settings").json()  # type: ignore[attr-defined]
    assert policy["urgent"]["first_response_minutes"] == 30
    policy["urgent"]["first_response_minutes"] = 15
    assert agent.put("/api/v1/tickets/settings", json=policy).status_code == 403  # type: ignore[attr-defined]
    saved = admin.put("/api/v1/tickets/settings", json=policy)  # type: ignore[attr-defined]
    assert saved.status_code == 200
    policy["low"]["first_response_minutes"] = 1  # shorter than urgent: refused
    assert admin.put("/api/v1/tickets/settings", json=policy).status_code == 422  # type: ignore[attr-defined]
