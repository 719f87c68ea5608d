"""Saved segments end to end (SQLite and PostgreSQL): define, estimate, members, snapshots
and their diff over a fake clock, the campaigns' audience functions, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shop import customer_ids, import_orders, order
from sqlalchemy import update

from shopcrm.accounts.audit import Actor
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.segments import audience
from shopcrm.segments.audience import (
    SegmentError,
    create_segment,
    delete_segment,
    diff_snapshots,
    estimate,
    members_page,
    segment_members,
    snapshot_members,
    update_segment,
)
from shopcrm.segments.compiler import NoFeaturesYet
from shopcrm.segments.rules import RuleError
from shopcrm.segments.service import compute_features
from shopcrm.store.models import AuditEntry, Customer

ME = Actor(None, "tester")
RECENT = {"kind": "behaviour", "of": "purchases", "window": {"days": 30}}


def _shop(context: AppContext, clock: FakeClock, folder: Path) -> dict[str, int]:
    clock.set(datetime(2026, 3, 1, 2, tzinfo=UTC))
    import_orders(context, folder, "first", [
        order("A1", "alice", "2026-02-20 10:00:00", "300.00", promo="双11"),
        order("A2", "alice", "2026-01-10 10:00:00", "100.00"),
        order("B1", "bob", "2025-10-01 10:00:00", "30.00"),
        order("C1", "carol", "2025-01-01 10:00:00", "20.00"),
        order("D1", "dave", "2026-02-25 10:00:00", "9.99", status="unpaid"),
    ])
    compute_features(context)
    return customer_ids(context)


def _create(context: AppContext, name: str, definition: dict[str, Any]) -> int:
    with context.sessions.begin() as session:
        return int(create_segment(context, session, name=name, definition=definition,
                                  description=None, actor=ME).id)


def test_segment_members_snapshots_and_diff(context: AppContext, clock: FakeClock,
                                            tmp_path: Path) -> None:
    ids = _shop(context, clock, tmp_path)
    zhejiang = {"kind": "and", "children": [
        {"kind": "attribute", "field": "province", "op": "eq", "value": "浙江省"},
        {"kind": "feature", "field": "frequency", "op": "gte", "value": 1}]}
    with context.sessions() as session:
        guess = estimate(context, session, zhejiang)
    assert guess.size == 2 and guess.universe == 4
    recent = _create(context, "bought in 30 days", RECENT)
    assert segment_members(context, recent) == [ids["alice"]]

    first, members = snapshot_members(context, recent, reason="campaign 1")
    assert members == [ids["alice"]]

    # 40 days later bob buys and alice has not: alice leaves, bob enters
    clock.advance(timedelta(days=40))
    import_orders(context, tmp_path, "second", [
        order("B2", "bob", "2026-04-05 10:00:00", "50.00")])
    second, members = snapshot_members(context, recent, reason="campaign 2")
    assert members == [ids["bob"]]
    with context.sessions() as session:
        diff = diff_snapshots(context, session, first, second)
        snaps = audience.list_snapshots(session, recent)
        assert [s.id for s in snaps] == [second, first]
        assert [s.reason for s in snaps] == ["campaign 2", "campaign 1"]
        assert snaps[0].size == 1 and snaps[0].definition["kind"] == "behaviour"
        assert session.query(AuditEntry).filter_by(action="segment.snapshot").count() == 2
    assert (diff.entered, diff.left, diff.stayed) == ([ids["bob"]], [ids["alice"]], 0)
    # the first snapshot is frozen: still alice
    with context.sessions() as session:
        frozen = audience.snapshot_ids(context, audience.get_snapshot(session, first))
    assert frozen.to_pylist() == [ids["alice"]]

    # a segment of a segment, paged members
    both = _create(context, "zhejiang or recent", {"kind": "or", "children": [
        zhejiang, {"kind": "segment", "segment": recent}]})
    with context.sessions() as session:
        page, total = members_page(context, session, both, page=1, size=2)
        second_page, _ = members_page(context, session, both, page=2, size=2)
    assert total == 3
    assert page + second_page == sorted([ids["alice"], ids["carol"], ids["bob"]])

    # merged or erased customers drop out at once, before any new features run
    with context.sessions.begin() as session:
        session.execute(update(Customer).where(Customer.id == ids["carol"])
                        .values(status="merged", merged_into=ids["alice"]))
    assert segment_members(context, both) == sorted([ids["alice"], ids["bob"]])


def test_refusals_point_at_the_problem(sqlite_context: AppContext, clock: FakeClock,
                                       tmp_path: Path) -> None:
    context = sqlite_context
    _shop(context, clock, tmp_path)
    with pytest.raises(RuleError) as bad:
        _create(context, "bad", {"kind": "and", "children": [
            RECENT, {"kind": "feature", "field": "salary", "op": "gt", "value": 1}]})
    assert bad.value.problems[0].path == "rule.children[1].field"
    a = _create(context, "A", RECENT)
    b = _create(context, "B", {"kind": "segment", "segment": a})
    with pytest.raises(RuleError, match=f"cyclic segment reference: {a} → {b} → {a}"), \
            context.sessions.begin() as session:
        update_segment(context, session, a, actor=ME,
                       definition={"kind": "not", "child": {"kind": "segment", "segment": b}})
    with pytest.raises(SegmentError, match="exists already"):
        _create(context, "A", RECENT)
    with pytest.raises(SegmentError, match="used by B"), context.sessions.begin() as session:
        delete_segment(context, session, a, actor=ME)
    with context.sessions.begin() as session:
        delete_segment(context, session, b, actor=ME)
        delete_segment(context, session, a, actor=ME)
    with pytest.raises(audience.SegmentNotFound):
        segment_members(context, a)


def test_no_features_run_yet(sqlite_context: AppContext) -> None:
    seg = _create(sqlite_context, "early", RECENT)  # definable before the first run
    with pytest.raises(NoFeaturesYet):
        segment_members(sqlite_context, seg)


def test_clv_snapshot_feeds_clv_conditions(sqlite_context: AppContext, clock: FakeClock,
                                           tmp_path: Path) -> None:
    """`shopcrm segment clv` writes a CLV snapshot; `clv` conditions read the latest."""
    import random

    from shop import COLUMNS

    from shopcrm.segments.clv_service import compute_clv

    context = sqlite_context
    clock.set(datetime(2026, 3, 1, 2, tzinfo=UTC))
    rng = random.Random(5)
    rows = []
    for m in range(40):  # buyers at different rates, some of whom stop for good
        start = datetime(2025, 3, 1) + timedelta(days=rng.randrange(60))
        gap, stops = rng.choice([20, 45, 90]), start + timedelta(days=rng.randrange(30, 400))
        level = rng.choice([30, 60, 120, 300])  # each buyer spends at their own level
        day, k = start, 0
        while day < min(stops, datetime(2026, 2, 28)):
            rows.append({**dict.fromkeys(COLUMNS, ""), "order": f"M{m}-{k}", "member": f"m{m}",
                         "created": f"{day:%Y-%m-%d} 10:00:00",
                         "paid": f"{level * rng.uniform(0.5, 1.5):.2f}", "status": "done"})
            day, k = day + timedelta(days=rng.randrange(gap // 2, gap * 2)), k + 1
    import_orders(context, tmp_path, "many", rows)
    compute_features(context)
    with context.sessions() as session, pytest.raises(RuleError, match="no CLV snapshot"):
        estimate(context, session, {"kind": "clv", "field": "clv", "op": "gt", "value": 0})
    run = compute_clv(context)
    assert run.customers == 40
    with context.sessions() as session:
        everyone = estimate(context, session, {"kind": "clv", "field": "p_alive", "op": "gte",
                                               "value": 0})
        top = estimate(context, session, {"kind": "clv", "field": "clv", "op": "top",
                                          "value": 0.25})
    assert everyone.size == 40 and top.size == 10
