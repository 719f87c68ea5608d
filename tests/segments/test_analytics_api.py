"""The analytics API over the latest features run: RFM grid, distributions, lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_lifecycle_scenarios import _import

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.segments.service import compute_features


def test_rfm_grid_and_lifecycle(context: AppContext, clock: FakeClock, tmp_path: Path,
                                role_client: Callable[..., Any]) -> None:
    client = role_client(context, "analyst")
    missing = client.get("/api/v1/analytics/rfm")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "shopcrm compute" in missing.json()["detail"]

    clock.set(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    _import(context, tmp_path, "orders", [
        "A1,alice,2026-02-20 10:00:00,100.00,done", "A2,alice,2026-01-20 10:00:00,50.00,done",
        "B1,bob,2025-10-01 10:00:00,30.00,done", "C1,carol,2025-01-01 10:00:00,20.00,done",
        "D1,dave,2026-02-25 10:00:00,5.00,done", "E1,erin,2026-02-26 10:00:00,9.99,unpaid",
    ])
    compute_features(context)
    clock.advance(timedelta(days=40))
    compute_features(context)

    grid = client.get("/api/v1/analytics/rfm")
    assert grid.status_code == 200, grid.text
    cells = grid.json()["cells"]
    assert sum(c["customers"] for c in cells) == 4  # erin never paid: no RFM cell
    assert sum(Decimal(c["revenue"]) for c in cells) == Decimal("205.00")
    # four buyers at 44 (dave), 49 (alice), 191 and 464 days: R = 1 + ⌊5 × worse / 4⌋
    assert sorted((c["r"], c["customers"]) for c in cells) == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert max(cells, key=lambda c: c["r"])["revenue"] == "5.00"  # dave, the most recent

    tiers = client.get("/api/v1/analytics/distribution", params={"by": "tier"}).json()
    assert tiers["shares"][0]["customers"] >= 1
    assert sum(s["customers"] for s in tiers["shares"]) == 4
    bad = client.get("/api/v1/analytics/distribution", params={"by": "name"})
    assert bad.status_code == 422

    lifecycle = client.get("/api/v1/analytics/lifecycle").json()
    stages = {s["name"]: s["customers"] for s in lifecycle["stages"]}
    assert stages == {"prospect": 1, "active": 2, "pre_churn": 1, "churned": 1}
    assert [s["name"] for s in lifecycle["stages"]] == [  # in lifecycle order
        "prospect", "active", "pre_churn", "churned"]
    assert len(lifecycle["history"]) == 2
    flows = {(f["from_stage"], f["to_stage"]): f["customers"] for f in lifecycle["flows"]}
    # dave bought 4 days before the first run (new), bob went from sleeping to pre-churn
    assert flows == {("new", "active"): 1, ("sleeping", "pre_churn"): 1}


def test_segments_page(context: AppContext, clock: FakeClock, tmp_path: Path,
                       role_client: Callable[..., Any]) -> None:
    client = role_client(context, "analyst")
    empty = client.get("/segments", headers={"accept": "text/html"})
    assert empty.status_code == 200 and "shopcrm compute" in empty.text
    clock.set(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    _import(context, tmp_path, "orders", ["A1,alice,2026-02-20 10:00:00,100.00,done",
                                          "B1,bob,2025-10-01 10:00:00,30.00,done"])
    compute_features(context)
    page = client.get("/segments", headers={"accept": "text/html",
                                            "accept-language": "en-US"})
    assert page.status_code == 200
    assert 'data-chart="rfm"' in page.text and "Sleeping" in page.text
    assert "platinum" in page.text  # the tier table
    chinese = client.get("/segments", headers={"accept": "text/html",
                                                "accept-language": "zh-CN"})
    assert "客户分层" in chinese.text and "沉睡" in chinese.text
    agent = role_client(context, "agent")  # no view_analytics
    assert agent.get("/segments", headers={"accept": "text/html"}).status_code == 403
