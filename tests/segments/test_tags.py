"""The tag library (SQLite and PostgreSQL): the seeds' tags, computed tags with history over
a fake clock, manual tags (audited), bulk upload with bad rows, merges, refusals."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shop import customer_ids, import_orders, order
from sqlalchemy import select

from shopcrm.accounts.audit import Actor
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.customers.profile import customer_profile
from shopcrm.identity.merges import merge_customers, unmerge
from shopcrm.segments import tags
from shopcrm.segments.audience import catalogue, create_segment
from shopcrm.segments.library_models import Tag
from shopcrm.segments.rules import RuleError, check, parse_rule
from shopcrm.segments.service import compute_features
from shopcrm.store.models import AuditEntry

ME = Actor(None, "tester")
RECENT = {"kind": "behaviour", "of": "purchases", "window": {"days": 30}}
MIGRATION = (Path(__file__).resolve().parents[2] / "src" / "shopcrm" / "store" / "migrations"
             / "versions" / "0030_segments_tags.py")


def _seeds() -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("seed_migration", MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SEED_TAGS)


def _shop(context: AppContext, clock: FakeClock, folder: Path) -> dict[str, int]:
    clock.set(datetime(2026, 3, 1, 2, tzinfo=UTC))
    import_orders(context, folder, "first", [
        order("A1", "alice", "2026-02-20 10:00:00", "300.00", promo="聚划算"),
        order("A2", "alice", "2026-01-10 10:00:00", "100.00", promo="双11预售"),
        order("B1", "bob", "2025-10-01 10:00:00", "30.00"),
        order("C1", "carol", "2025-01-01 10:00:00", "20.00"),
    ])
    return customer_ids(context)


def _history(context: AppContext, customer_id: int, key: str) -> list[tuple[Any, Any]]:
    with context.sessions() as session:
        return [(s.since, s.until) for s in reversed(tags.customer_tags(
            session, customer_id, history=True)) if s.tag_key == key]


def test_seeds_are_ready_and_valid(sqlite_context: AppContext) -> None:
    with sqlite_context.sessions() as session:
        keys = {t.key for t in tags.list_tags(session)}
        known = catalogue(sqlite_context, session)
    assert keys == {s["key"] for s in _seeds()} == {
        "new_arrival_buyer", "price_sensitive", "campaign_buyer", "high_end", "weekly_buyer",
        "monthly_buyer", "seasonal_buyer", "half_yearly_buyer"}
    for seed in _seeds():  # the migration's frozen rules fit today's rule language
        assert check(parse_rule(seed["rule"]), known) == [], seed["key"]


def test_computed_tag_history_follows_the_clock(context: AppContext, clock: FakeClock,
                                               tmp_path: Path) -> None:
    ids = _shop(context, clock, tmp_path)
    with context.sessions.begin() as session:
        tags.create_tag(context, session, key="recent", name="Recent buyer",
                        category="dynamic", rule=RECENT, actor=ME)
    first = compute_features(context)  # tags are computed after the snapshot
    assert first.tags["recent"] == 1
    assert first.tags["price_sensitive"] == 1 and first.tags["campaign_buyer"] == 1
    march = clock.now()

    clock.advance(timedelta(days=40))
    import_orders(context, tmp_path, "second", [order("B2", "bob", "2026-04-05 10:00:00",
                                                      "50.00")])
    second = compute_features(context)
    assert second.tags["recent"] == 1
    april = clock.now()
    assert _history(context, ids["alice"], "recent") == [(march, april)]
    assert _history(context, ids["bob"], "recent") == [(april, None)]

    clock.advance(timedelta(days=1))
    outcome = {o.key: o for o in tags.compute_tags(context, keys=["recent"])}
    assert (outcome["recent"].entered, outcome["recent"].left) == (0, 0)  # nothing moved
    with context.sessions() as session:
        page, total = tags.tag_members(session, "recent")
        profile = customer_profile(session, context.warehouse, ids["bob"])
    assert total == 1 and page[0].customer_id == ids["bob"]
    assert profile is not None
    assert [t["key"] for t in profile.slots["tags"]] == ["recent"]


def test_manual_tags_upload_and_merges(context: AppContext, clock: FakeClock,
                                       tmp_path: Path) -> None:
    ids = _shop(context, clock, tmp_path)
    with context.sessions.begin() as session:
        tags.create_tag(context, session, key="vip", name="VIP", category="static", rule=None,
                        actor=ME)
        assert tags.add_members(context, session, "vip", [ids["alice"]], actor=ME) == 1
        assert tags.add_members(context, session, "vip", [ids["alice"]], actor=ME) == 0
        with pytest.raises(tags.TagError, match="computed from its rule"):
            tags.add_members(context, session, "price_sensitive", [ids["bob"]], actor=ME)
        with pytest.raises(tags.TagError, match="no customer 999999"):
            tags.add_members(context, session, "vip", [999999], actor=ME)

    upload = "\n".join([
        "phone,note", "13800138002,bob by phone", "", "13900000000,nobody",
        "138****0003,masked", "13800138001,alice again", ",only a note"]).encode("utf-8")
    with context.sessions.begin() as session:
        report = tags.upload_members(context, session, "vip", upload, actor=ME)
    assert report.customers == sorted([ids["alice"], ids["bob"]])
    assert (report.added, report.already) == (1, 1)
    assert [line for line, _ in report.bad] == [4, 5, 7]
    assert "no customer with this phone" in report.bad[0][1]
    assert "not a usable phone" in report.bad[1][1]
    assert report.bad[2][1] == "empty value"

    ids_file = f"{ids['carol']}\ncarol@example.com\nx@y\n12ab\n".encode()
    with context.sessions.begin() as session:
        second = tags.upload_members(context, session, "vip", ids_file, actor=ME)
    assert second.customers == [ids["carol"]] and second.added == 1
    assert [line for line, _ in second.bad] == [3, 4]

    with context.sessions.begin() as session:
        assert tags.remove_members(context, session, "vip", [ids["carol"]], actor=ME) == 1
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.target_type == "tag").order_by(AuditEntry.id)).all()
    assert actions == ["tag.create", "tag.add", "tag.add", "tag.upload", "tag.upload",
                       "tag.remove"]

    # merge alice and bob (both VIP: one stay survives); then carol (tagged by hand
    # again) into the survivor, undone: carol gets her tag back
    with context.sessions.begin() as session:
        tags.add_members(context, session, "vip", [ids["carol"]], actor=ME)
    with context.sessions.begin() as session:
        survivor = merge_customers(session, customer_id=ids["alice"], other_id=ids["bob"],
                                   reason="same person", actor=ME, now=clock.now(),
                                   confirm_verified=True).customer_id
        outcome = merge_customers(session, customer_id=survivor, other_id=ids["carol"],
                                  reason="same person", actor=ME, now=clock.now(),
                                  confirm_verified=True)
        merge_id = outcome.events[0].id
        merged = outcome.events[0].merged_id
        survivor = outcome.customer_id
    with context.sessions() as session:
        assert tags.tag_members(session, "vip")[1] == 1
        assert [s.customer_id for s in tags.tag_members(session, "vip")[0]] == [survivor]
    clock.advance(timedelta(hours=1))
    with context.sessions.begin() as session:
        unmerge(session, merge_id=merge_id, reason="not the same", actor=ME, now=clock.now())
    with context.sessions() as session:
        current = sorted(s.customer_id for s in tags.tag_members(session, "vip")[0])
    assert current == sorted([survivor, merged])


def test_refusals(sqlite_context: AppContext, clock: FakeClock, tmp_path: Path) -> None:
    context = sqlite_context
    _shop(context, clock, tmp_path)
    with context.sessions.begin() as session:
        tags.create_tag(context, session, key="a", name="A", category="dynamic",
                        rule={"kind": "tag", "tag": "price_sensitive"}, actor=ME)
        tags.create_tag(context, session, key="b", name="B", category="dynamic",
                        rule={"kind": "tag", "tag": "a"}, actor=ME)
    with pytest.raises(RuleError, match="cyclic tag reference: a → b → a"), \
            context.sessions.begin() as session:
        tags.update_tag(context, session, "a", actor=ME, rule={"kind": "tag", "tag": "b"})
    with pytest.raises(RuleError, match=r"rule\.children\[1\]\.tag: unknown tag 'nope'"), \
            context.sessions.begin() as session:
        tags.create_tag(context, session, key="c", name="C", category="dynamic", actor=ME,
                        rule={"kind": "and", "children": [RECENT, {"kind": "tag",
                                                                   "tag": "nope"}]})
    for bad in ({"key": "Bad Key"}, {"category": "weird"}, {"schedule": "hourly"}):
        fields: dict[str, Any] = {"key": "d", "name": "D", "category": "dynamic",
                                  "rule": RECENT, **bad}
        with pytest.raises(tags.TagError), context.sessions.begin() as session:
            tags.create_tag(context, session, actor=ME, **fields)
    with context.sessions.begin() as session:
        create_segment(context, session, name="uses b", description=None, actor=ME,
                       definition={"kind": "tag", "tag": "b"})
    with pytest.raises(tags.TagError, match="used by b"), context.sessions.begin() as session:
        tags.delete_tag(context, session, "a", actor=ME)
    with pytest.raises(tags.TagError, match="used by uses b"), \
            context.sessions.begin() as session:
        tags.delete_tag(context, session, "b", actor=ME)
    # dependency order: price_sensitive, then a, then b
    compute_features(context)
    with context.sessions() as session:
        found = {t.key: t.members for t in session.scalars(select(Tag))}
        order_ = tags.dependency_order(tags.tag_rules(session), ["b", "a", "price_sensitive"])
    assert found["price_sensitive"] == found["a"] == found["b"] == 1
    assert order_ == ["price_sensitive", "a", "b"]


def test_parse_upload_is_pure() -> None:
    rows, bad = tags.parse_upload("\ufeffemail\nA@Example.com\n\n,\n")
    assert rows == [(2, "email", "A@Example.com")] and bad == []
    rows, bad = tags.parse_upload("1001\n+86 138 0013 8000\nx@y.z\n")
    assert [k for _, k, _ in rows] == ["id", "phone", "email"]
