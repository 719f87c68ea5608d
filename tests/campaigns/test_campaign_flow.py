"""The campaign's life on both stores: draft → scheduled → sending → done with exact
counts at every step, pause / resume / cancel, and dispatch to a file sink that
writes exactly one message per treated customer."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.campaigns.conftest import (
    MARKETER,
    add_people,
    counts,
    dispatcher,
    launch,
    sink_channels,
    sms_plan,
)

from shopcrm.campaigns import CampaignConflict, CampaignError, service
from shopcrm.campaigns.config import CampaignSettings
from shopcrm.campaigns.models import Campaign, Delivery
from shopcrm.campaigns.rules import in_holdout
from shopcrm.campaigns.states import (
    CampaignStatus,
    Counts,
    TransitionRefused,
    check_transition,
    may_finish,
)
from shopcrm.context import AppContext
from shopcrm.store.models import AuditEntry


def test_state_machine() -> None:
    assert check_transition("draft", "scheduled") is CampaignStatus.SCHEDULED
    assert check_transition("sending", "paused") is CampaignStatus.PAUSED
    assert check_transition("paused", "sending") is CampaignStatus.SENDING
    for current, target in (("draft", "sending"), ("draft", "done"), ("done", "sending"),
                            ("cancelled", "scheduled"), ("paused", "done")):
        with pytest.raises(TransitionRefused):
            check_transition(current, target)


def test_counts_are_exact_and_never_done_with_open_messages() -> None:
    counts = Counts.from_statuses({"holdout": 10, "sent": 80, "pending": 5, "sending": 5},
                                  held=3)
    assert counts.audience == 100 and counts.treated == 90 and counts.open == 10
    assert counts.balanced and not may_finish(counts)
    assert may_finish(Counts.from_statuses({"holdout": 10, "sent": 85, "failed": 5}))
    with pytest.raises(ValueError, match="unknown"):
        Counts.from_statuses({"lost": 1})


def test_launch_snapshots_the_audience(context: AppContext) -> None:
    people = add_people(context, range(1, 201))
    # an unknown ID and a repeated one are left out and counted
    spec = sms_plan([*people, 999_999, 5])
    campaign_id = launch(context, spec)
    with context.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "scheduled"
        assert campaign.audience_size == 200 and campaign.snapshot_id.startswith("list:")
        rows = session.execute(select(Delivery.customer_id, Delivery.arm, Delivery.status)
                               .where(Delivery.campaign_id == campaign_id)).all()
        launched = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "campaign.launch")).one()
    assert sorted(r.customer_id for r in rows) == people
    held_out = {r.customer_id for r in rows if r.arm == "holdout"}
    assert held_out == {c for c in people if in_holdout(campaign_id, c, share=0.1)}
    assert {r.status for r in rows if r.arm == "holdout"} == {"holdout"}
    assert {r.arm for r in rows} == {"holdout", "A", "B"}
    assert launched.details["left_out"] == {"unknown": 1, "duplicate": 1}
    found = counts(context, campaign_id)
    assert found["audience"] == 200 and found["holdout"] == len(held_out)
    assert found["pending"] == 200 - len(held_out)
    with pytest.raises(CampaignConflict):
        service.launch(context, campaign_id=campaign_id, actor=MARKETER)


def test_an_empty_audience_is_refused(context: AppContext) -> None:
    with pytest.raises(CampaignError, match="empty"):
        launch(context, sms_plan([424242]))


def test_drafts_only_are_edited(context: AppContext) -> None:
    add_people(context, range(1, 11))
    campaign_id = launch(context, sms_plan(list(range(1, 11))))
    from shopcrm.campaigns.specs import CampaignUpdate

    with context.sessions.begin() as session, pytest.raises(CampaignConflict):
        service.update_campaign(session, campaign_id=campaign_id,
                                changes=CampaignUpdate(name="x"), actor=MARKETER,
                                now=context.clock.now())


def _sink_keys(path: Path) -> list[str]:
    return [json.loads(line)["key"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_dispatch_sends_each_treated_customer_once(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    people = add_people(context, range(1, 121))
    campaign_id = launch(context, sms_plan(people))
    before = counts(context, campaign_id)
    config = settings_for(context, batch_size=25)
    with sink_channels(sink_path) as channels:
        report = dispatcher(context, config, channels).run()
    after = counts(context, campaign_id)
    keys = _sink_keys(sink_path)
    assert len(keys) == len(set(keys)) == before["pending"] == after["sent"]
    assert after["pending"] + after["sending"] == 0
    assert after["holdout"] == before["holdout"] and after["audience"] == 120
    assert report.total.sent == after["sent"] and report.batches >= 4
    with context.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "done"
        assert campaign.final_counts == after
    lines = [json.loads(line) for line in sink_path.read_text(encoding="utf-8").splitlines()]
    assert all(line["body"].startswith("【好物小店】") for line in lines)
    assert all(line["body"].endswith("回T退订") for line in lines)
    assert {line["metadata"]["variant"] for line in lines} == {"A", "B"}
    # a second run finds nothing to do
    with sink_channels(sink_path) as channels:
        again = dispatcher(context, config, channels).run()
    assert again.total.sent == 0 and len(_sink_keys(sink_path)) == len(keys)


def test_pause_resume_and_cancel(context: AppContext,
                                 settings_for: Callable[..., CampaignSettings],
                                 sink_path: Path) -> None:
    people = add_people(context, range(1, 101))
    campaign_id = launch(context, sms_plan(people))
    config = settings_for(context, batch_size=20)
    now = context.clock.now()
    with sink_channels(sink_path) as channels:
        first = dispatcher(context, config, channels).run(max_batches=1)
        assert first.total.sent == 20
        with context.sessions.begin() as session:
            service.pause(session, campaign_id=campaign_id, actor=MARKETER, now=now)
        paused = dispatcher(context, config, channels).run()
        assert paused.total.claimed == 0
        with context.sessions.begin() as session:
            service.resume(session, campaign_id=campaign_id, actor=MARKETER, now=now)
        dispatcher(context, config, channels).run(max_batches=1)
        with context.sessions.begin() as session:
            service.cancel(session, campaign_id=campaign_id, actor=MARKETER, now=now,
                           reason="wrong coupon")
        late = dispatcher(context, config, channels).run()
    assert late.total.claimed == 0
    found = counts(context, campaign_id)
    assert found["sent"] == 40 and found["pending"] == 0
    assert found["cancelled"] == found["audience"] - found["holdout"] - 40
    with context.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "cancelled"
        assert campaign.final_counts == found
        actions = list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.target_type == "campaign").order_by(AuditEntry.id)))
    assert actions[:3] == ["campaign.create", "campaign.launch", "campaign.dispatch"]
    assert {"campaign.pause", "campaign.resume", "campaign.cancel"} <= set(actions)


def test_waves_go_to_their_own_sub_audiences_at_their_times(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    from datetime import timedelta

    from shopcrm.clock import FakeClock

    clock = context.clock
    assert isinstance(clock, FakeClock)
    start = clock.now()
    people = add_people(context, range(1, 301))
    waves = [{"at": (start + timedelta(days=d)).isoformat(), "share": 1} for d in (0, 1, 2)]
    campaign_id = launch(context, sms_plan(people, schedule={"kind": "waves", "waves": waves}))
    with context.sessions() as session:
        steps = dict(session.execute(select(Delivery.step, func.count()).where(
            Delivery.campaign_id == campaign_id).group_by(Delivery.step)).all())
        planned = dict(session.execute(select(Delivery.step, func.min(Delivery.planned_at))
                                       .where(Delivery.campaign_id == campaign_id)
                                       .group_by(Delivery.step)).all())
    assert set(steps) == {0, 1, 2} and sum(steps.values()) == 300
    assert all(60 < n < 140 for n in steps.values())  # about a third each
    assert planned[2] == start + timedelta(days=2)
    config = settings_for(context)
    sent_by_wave = []
    with sink_channels(sink_path) as channels:
        for _ in range(3):
            sent_by_wave.append(dispatcher(context, config, channels).run().total.sent)
            clock.advance(timedelta(days=1))
    with context.sessions() as session:
        treated = dict(session.execute(select(Delivery.step, func.count()).where(
            Delivery.campaign_id == campaign_id, Delivery.arm != "holdout")
            .group_by(Delivery.step)).all())
    assert sent_by_wave == [treated[0], treated[1], treated[2]]
    assert counts(context, campaign_id)["pending"] == 0


def test_sending_is_throttled_per_channel(context: AppContext,
                                          settings_for: Callable[..., CampaignSettings],
                                          sink_path: Path) -> None:
    from shopcrm.clock import FakeClock

    clock = context.clock
    assert isinstance(clock, FakeClock)
    people = add_people(context, range(1, 62))
    launch(context, sms_plan(people, experiment={"holdout_share": 0.0}))
    config = settings_for(context, rate_limits={"sms": 20.0}, batch_size=100)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    from shopcrm.campaigns.dispatch import Dispatcher

    before = clock.now()
    with sink_channels(sink_path) as channels:
        report = Dispatcher(context, channels=channels, config=config, sleep=sleep).run()
    assert report.total.sent == 61
    # a bucket of 20 tokens refilled at 20/s: 61 messages need (61 - 20) / 20 s of waiting
    assert sum(waited) == pytest.approx(41 / 20, abs=0.01)
    assert clock.now() - before == timedelta(seconds=sum(waited))


def test_a_missing_segment_is_a_clear_refusal_not_a_crash(context: AppContext) -> None:
    from shopcrm.campaigns.audience import AudienceUnavailable, resolve_audience
    from shopcrm.campaigns.specs import SegmentAudience

    with pytest.raises(AudienceUnavailable, match="segment 424242 does not exist"):
        resolve_audience(context, SegmentAudience(segment_id=424242), reason="launch")
