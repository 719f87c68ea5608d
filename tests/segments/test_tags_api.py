"""The tags API: library CRUD, compute, members with history, manual tags and upload."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shop import customer_ids, import_orders, order

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.segments.service import compute_features


def test_tags_api(sqlite_context: AppContext, clock: FakeClock, tmp_path: Path,
                  role_client: Callable[..., Any]) -> None:
    context = sqlite_context
    clock.set(datetime(2026, 3, 1, 2, tzinfo=UTC))
    import_orders(context, tmp_path, "first", [
        order("A1", "alice", "2026-02-20 10:00:00", "300.00", promo="聚划算"),
        order("B1", "bob", "2025-10-01 10:00:00", "30.00")])
    compute_features(context)
    ids = customer_ids(context)
    analyst, agent = role_client(context, "analyst"), role_client(context, "agent")

    library = analyst.get("/api/v1/tags").json()
    seeded = {t["key"]: t for t in library}
    assert seeded["price_sensitive"]["members"] == 1 and seeded["price_sensitive"]["seeded"]
    bad = analyst.post("/api/v1/tags", json={"key": "x", "name": "X", "category": "dynamic",
                                             "rule": {"kind": "behaviour", "of": "purchases",
                                                      "window": {"days": 99999}}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "rule.window.days"
    made = analyst.post("/api/v1/tags", json={"key": "vip", "name": "VIP", "category": "static"})
    assert made.status_code == 201, made.text
    assert analyst.post("/api/v1/tags", json={"key": "vip", "name": "VIP",
                                              "category": "static"}).status_code == 409

    # the analyst may define tags, not tag people; the agent may tag, not define
    assert analyst.post("/api/v1/tags/vip/members",
                        json={"customer_ids": [ids["alice"]]}).status_code == 403
    assert agent.post("/api/v1/tags", json={"key": "y", "name": "Y",
                                            "category": "static"}).status_code == 403
    added = agent.post("/api/v1/tags/vip/members", json={"customer_ids": [ids["alice"]]})
    assert added.status_code == 200 and added.json() == {"changed": 1, "members": 1}
    refused = agent.post("/api/v1/tags/price_sensitive/members",
                         json={"customer_ids": [ids["bob"]]})
    assert refused.status_code == 409

    upload = agent.post("/api/v1/tags/vip/upload", files={
        "file": ("vip.csv", "手机\n13800138002\n13800000000\n".encode(), "text/csv")})
    assert upload.status_code == 200, upload.text
    assert upload.json()["added"] == 1
    assert upload.json()["bad"] == [{"line": 3, "reason": "no customer with this phone"}]

    gone = agent.delete(f"/api/v1/tags/vip/members/{ids['alice']}")
    assert gone.json() == {"changed": 1, "members": 1}
    stays = agent.get("/api/v1/tags/vip/members", params={"history": True}).json()
    assert stays["total"] == 2
    assert {(s["customer_id"], s["until"] is None) for s in stays["items"]} == {
        (ids["alice"], False), (ids["bob"], True)}
    mine = agent.get(f"/api/v1/tags/customers/{ids['alice']}").json()
    assert {s["tag"] for s in mine} >= {"vip", "price_sensitive"}
    detail = agent.get(f"/api/v1/customers/{ids['alice']}").json()
    assert [t["key"] for t in detail["slots"]["tags"]] == ["price_sensitive"]

    computed = analyst.post("/api/v1/tags/compute", json={"keys": ["price_sensitive"]})
    assert computed.status_code == 200 and computed.json()[0]["members"] == 1
    assert analyst.post("/api/v1/tags/compute", json={"keys": ["nope"]}).status_code == 404
    changed = analyst.patch("/api/v1/tags/price_sensitive", json={"schedule": "daily"})
    assert changed.json()["schedule"] == "daily"
    assert analyst.delete("/api/v1/tags/vip").status_code == 204
    assert analyst.get("/api/v1/tags/vip").status_code == 404
