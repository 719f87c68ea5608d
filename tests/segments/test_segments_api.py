"""The segments API: CRUD, estimate, invalid rules as problem+json with paths, members and
CSV export masked for a role without view_pii (and audited), snapshots and their diff."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shop import customer_ids, import_orders, order
from sqlalchemy import select

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.segments.service import compute_features
from shopcrm.store.models import AuditEntry

RECENT = {"kind": "behaviour", "of": "purchases", "window": {"days": 30}}


def test_segments_api(sqlite_context: AppContext, clock: FakeClock, tmp_path: Path,
                      role_client: Callable[..., Any]) -> None:
    context = sqlite_context
    analyst = role_client(context, "analyst")  # manage_segments, export; no view_pii
    clock.set(datetime(2026, 3, 1, 2, tzinfo=UTC))
    import_orders(context, tmp_path, "first", [
        order("A1", "alice", "2026-02-20 10:00:00", "300.00"),
        order("B1", "bob", "2025-10-01 10:00:00", "30.00")])

    early = analyst.post("/api/v1/segments/estimate", json={"definition": RECENT})
    assert early.status_code == 409 and "shopcrm compute" in early.json()["detail"]
    compute_features(context)
    ids = customer_ids(context)

    bad = analyst.post("/api/v1/segments", json={"name": "x", "definition": {
        "kind": "and", "children": [RECENT, {"kind": "behaviour", "of": "events",
                                             "window": {"days": -3}}]}})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["path"] == "rule.children[1].window.days"
    assert "absurd" in bad.json()["errors"][0]["message"]

    guess = analyst.post("/api/v1/segments/estimate", json={"definition": RECENT})
    assert guess.status_code == 200, guess.text
    assert guess.json()["size"] == 1 and guess.json()["universe"] == 2

    made = analyst.post("/api/v1/segments", json={"name": "recent buyers",
                                                  "description": "30 days",
                                                  "definition": RECENT})
    assert made.status_code == 201, made.text
    seg = made.json()["id"]
    assert made.json()["owner"] == "analyst"
    assert analyst.post("/api/v1/segments", json={"name": "recent buyers",
                                                  "definition": RECENT}).status_code == 409
    assert [s["name"] for s in analyst.get("/api/v1/segments").json()] == ["recent buyers"]
    assert analyst.get(f"/api/v1/segments/{seg}/estimate").json()["size"] == 1
    assert analyst.get("/api/v1/segments/999").status_code == 404

    page = analyst.get(f"/api/v1/segments/{seg}/members").json()
    assert page["total"] == 1 and page["items"][0]["id"] == ids["alice"]
    assert page["items"][0]["phone"] != "+8613800138001"  # masked
    assert "*" in page["items"][0]["phone"]

    exported = analyst.get(f"/api/v1/segments/{seg}/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [int(r["id"]) for r in rows] == [ids["alice"]]
    assert "*" in rows[0]["phone"] and "13800138001" not in exported.text
    assert "alice@example.com" not in exported.text
    admin = role_client(context, "admin")
    unmasked = admin.get(f"/api/v1/segments/{seg}/export")
    assert "13800138001" in unmasked.text
    with context.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "segment.export").order_by(AuditEntry.id)).all()
    assert [(e.actor, e.details["masked"], e.details["customers"]) for e in entries] == [
        ("analyst", True, 1), ("admin", False, 1)]

    first = analyst.post(f"/api/v1/segments/{seg}/snapshots", json={"reason": "send 1"})
    assert first.status_code == 201 and first.json()["size"] == 1
    clock.advance(timedelta(days=40))
    import_orders(context, tmp_path, "second", [order("B2", "bob", "2026-04-05 10:00:00",
                                                      "50.00")])
    second = analyst.post(f"/api/v1/segments/{seg}/snapshots", json={"reason": "send 2"})
    diff = analyst.get(f"/api/v1/segments/{seg}/diff", params={
        "before": first.json()["id"], "after": second.json()["id"]}).json()
    assert (diff["entered"], diff["left"]) == ([ids["bob"]], [ids["alice"]])
    assert diff["entered_count"] == 1 and diff["stayed"] == 0
    assert len(analyst.get(f"/api/v1/segments/{seg}/snapshots").json()) == 2

    renamed = analyst.patch(f"/api/v1/segments/{seg}", json={"name": "bought lately"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "bought lately"
    catalogue = analyst.get("/api/v1/segments/fields").json()
    assert {"name": "monetary", "type": "money"} in catalogue["features"]
    assert "price_sensitive" in catalogue["tags"]  # the seeds' tags

    agent = role_client(context, "agent")  # view_customers only
    assert agent.get("/api/v1/segments").status_code == 403
    assert agent.get(f"/api/v1/segments/{seg}/export").status_code == 403
    assert analyst.delete(f"/api/v1/segments/{seg}").status_code == 204
    assert analyst.get(f"/api/v1/segments/{seg}").status_code == 404


def test_injection_strings_through_the_api(sqlite_context: AppContext, clock: FakeClock,
                                           tmp_path: Path,
                                           role_client: Callable[..., Any]) -> None:
    context = sqlite_context
    clock.set(datetime(2026, 3, 1, 2, tzinfo=UTC))
    import_orders(context, tmp_path, "first", [order("A1", "alice", "2026-02-20 10:00:00",
                                                     "300.00")])
    compute_features(context)
    client = role_client(context, "analyst")
    for value in ("'; DROP TABLE customers; --", "浙江省' OR '1'='1", "%", "_"):
        for node in ({"kind": "attribute", "field": "province", "op": "eq", "value": value},
                     {"kind": "attribute", "field": "city", "op": "contains", "value": value},
                     {"kind": "attribute", "field": "source", "op": "in", "value": [value]},
                     {"kind": "feature", "field": "stage", "op": "eq", "value": value}):
            answer = client.post("/api/v1/segments/estimate", json={"definition": node})
            assert answer.status_code == 200, answer.text
            assert answer.json()["size"] == 0
    still = client.post("/api/v1/segments/estimate", json={"definition": {
        "kind": "attribute", "field": "province", "op": "eq", "value": "浙江省"}})
    assert still.json()["size"] == 1
