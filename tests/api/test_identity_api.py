"""Identity resolution through the API: resolve, the 360° profile (with redirect from a
merged ID), merge history, un-merge, the review queue, masking and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.identity.test_resolution import add

from shopcrm.context import AppContext


def _pair(context: AppContext) -> tuple[int, int]:
    with context.sessions.begin() as session:
        a = add(session, context, source="taobao", external_id="liu", name="刘洋",
                phone="+8613500000001")
        b = add(session, context, source="jd", external_id="liu_jd", name="刘洋",
                phone="+8613500000001", city="上海市")
    return a, b


def test_resolve_merge_history_profile_and_undo(context: AppContext,
                                                role_client: Callable[..., Any]) -> None:
    a, b = _pair(context)
    admin = role_client(context, "admin")
    run = admin.post("/api/v1/identity/resolve", json={})
    assert run.status_code == 200, run.text
    assert run.json()["merges"] == 1

    moved = admin.get(f"/api/v1/customers/{b}", follow_redirects=False)
    assert moved.status_code == 307
    assert moved.headers["location"] == f"/api/v1/customers/{a}"
    profile = admin.get(f"/api/v1/customers/{a}").json()
    assert {i["source"] for i in profile["identities"]} == {"taobao", "jd"}
    assert profile["phone"] == "+8613500000001"
    fields = {s["field"]: s for s in profile["attribute_sources"]}
    assert fields["phone"]["source"] in {"taobao", "jd"}
    assert set(profile["slots"]) >= {"tags", "rfm", "points", "tickets", "touches"}

    history = admin.get(f"/api/v1/customers/{a}/merges").json()
    assert [(e["action"], e["survivor_id"], e["merged_id"]) for e in history] == [
        ("merge", a, b)]
    undone = admin.post(f"/api/v1/merges/{history[0]['id']}/undo", json={"reason": "twins"})
    assert undone.status_code == 200, undone.text
    assert undone.json()["customer_id"] == b
    assert admin.get(f"/api/v1/customers/{b}", follow_redirects=False).status_code == 200
    again = admin.post(f"/api/v1/merges/{history[0]['id']}/undo", json={"reason": "twins"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


def test_agent_sees_masked_profile_and_cannot_merge(context: AppContext,
                                                    role_client: Callable[..., Any]) -> None:
    a, b = _pair(context)
    agent = role_client(context, "agent")
    profile = agent.get(f"/api/v1/customers/{a}").json()
    assert profile["phone"] != "+8613500000001" and "*" in profile["phone"]
    assert all("*" in (s["value"] or "*") for s in profile["attribute_sources"]
               if s["field"] in ("phone", "name"))
    denied = agent.post(f"/api/v1/customers/{a}/merge", json={"other_id": b, "reason": "x"})
    assert denied.status_code == 403


def test_manual_merge_errors_are_problems(context: AppContext,
                                         role_client: Callable[..., Any]) -> None:
    a, b = _pair(context)
    admin = role_client(context, "admin")
    assert admin.post(f"/api/v1/customers/{a}/merge",
                      json={"other_id": a, "reason": "x"}).status_code == 409
    assert admin.post(f"/api/v1/customers/{a}/merge",
                      json={"other_id": 999999, "reason": "x"}).status_code == 404
    assert admin.post(f"/api/v1/customers/{a}/merge",
                      json={"other_id": b, "reason": ""}).status_code == 422
    ok = admin.post(f"/api/v1/customers/{b}/merge", json={"other_id": a, "reason": "same"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["customer_id"] == a
    assert admin.get("/api/v1/customers/424242").status_code == 404


def test_review_queue_accept(context: AppContext, role_client: Callable[..., Any]) -> None:
    with context.sessions.begin() as session:
        a = add(session, context, source="shopify", external_id="email:x@y.cn", name="何静",
                phone="+8613300000001", email="x@y.cn", kind="customer")
        b = add(session, context, source="shopify", external_id="email:z@y.cn", name="何静",
                phone="+8613300000001", email="z@y.cn", kind="customer")
    admin = role_client(context, "admin")
    admin.post("/api/v1/identity/resolve", json={})
    queue = admin.get("/api/v1/identity/reviews").json()
    assert queue["total"] == 1
    item = queue["items"][0]
    assert item["reason"] == "verified-conflict"
    assert {item["left"]["external_id"], item["right"]["external_id"]} == {
        "email:x@y.cn", "email:z@y.cn"}
    decided = admin.post(f"/api/v1/identity/reviews/{item['id']}", json={"decision": "accept"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["customer_id"] == a
    assert admin.get(f"/api/v1/customers/{b}", follow_redirects=False).status_code == 307
    assert admin.post(f"/api/v1/identity/reviews/{item['id']}",
                      json={"decision": "reject"}).status_code == 409
