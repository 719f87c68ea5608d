"""What the faster dispatch must keep: two dispatchers finishing one campaign at the
same moment, customers whose number the phone data places nowhere, frequency caps
counted by the database across campaigns (held until the window frees, not dropped)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from tests.campaigns.conftest import (
    add_people,
    counts,
    dispatcher,
    launch,
    sink_channels,
    sms_plan,
)

from shopcrm.campaigns import service
from shopcrm.campaigns.config import CampaignSettings, load_settings
from shopcrm.campaigns.dispatch import RunReport
from shopcrm.campaigns.models import Campaign, Delivery
from shopcrm.campaigns.personalize import customer_timezone
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.store.models import AuditEntry, Customer


def test_two_dispatchers_finishing_at_once_both_end_well(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    people = add_people(context, range(1, 31))
    campaign_id = launch(context, sms_plan(people))
    config = settings_for(context, batch_size=100)
    with sink_channels(sink_path) as channels:
        one = dispatcher(context, config, channels)
        assert one.batch(campaign_id, RunReport()) > 0  # everything sent, not finished
    now = context.clock.now()
    with context.sessions.begin() as late:
        stale = late.get(Campaign, campaign_id)
        assert stale is not None and stale.status == "sending"
        with context.sessions.begin() as first:  # the other dispatcher finishes first
            other = first.get(Campaign, campaign_id)
            assert other is not None
            assert service.finish_if_done(first, other, now=now)
        assert stale.status == "sending"  # this one still sees the old state …
        assert not service.finish_if_done(late, stale, now=now)  # … and takes it well
    with context.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "done"
        assert campaign.final_counts is not None
        assert campaign.final_counts["sent"] == counts(context, campaign_id)["sent"] > 0
        done_entries = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "campaign.done", AuditEntry.target_id == str(campaign_id)))
    assert done_entries == 1


def test_finishing_follows_a_campaign_that_moved_on_meanwhile(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    """Read as scheduled, the other dispatcher's first claim made it sending: finishing
    looks again instead of failing with a conflict."""
    people = add_people(context, range(1, 11))
    campaign_id = launch(context, sms_plan(people))
    config = settings_for(context, batch_size=100)
    with sink_channels(sink_path) as channels:
        dispatcher(context, config, channels).batch(campaign_id, RunReport())
    with context.sessions.begin() as session:  # as if read before the first claim
        session.execute(update(Campaign).where(Campaign.id == campaign_id)
                        .values(status="scheduled"))
    now = context.clock.now()
    with context.sessions.begin() as late:
        stale = late.get(Campaign, campaign_id)
        assert stale is not None and stale.status == "scheduled"
        with context.sessions.begin() as other:
            other.execute(update(Campaign).where(Campaign.id == campaign_id)
                          .values(status="sending"))
        assert service.finish_if_done(late, stale, now=now)
    with context.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "done"


@pytest.mark.parametrize("phone", ["+447700900123", "+80012345678"])
def test_a_number_placed_nowhere_gets_the_shops_zone(phone: str) -> None:
    assert customer_timezone(phone, "Asia/Shanghai") == "Asia/Shanghai"
    assert customer_timezone("+12125550123", "Asia/Shanghai") == "America/New_York"


def test_dispatch_sends_to_a_number_the_phone_data_places_nowhere(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    clock = context.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai: quiet
    people = add_people(context, range(1, 4))
    with context.sessions.begin() as session:  # a UK mobile: phonenumbers says Etc/Unknown
        session.get(Customer, 3).phone = "+447700900123"  # type: ignore[union-attr]
    campaign_id = launch(context, sms_plan(people, experiment={"holdout_share": 0.0}))
    config = settings_for(context, quiet_hours={"sms": {"start": "21:00", "end": "08:00"}})
    with sink_channels(sink_path) as channels:
        report = dispatcher(context, config, channels).run()
    # held like the shop's own customers (the shop's zone), not crashed, not dropped
    assert report.total.held == 3 and report.total.sent == 0
    with context.sessions() as session:
        due = set(session.scalars(select(Delivery.due_at).where(
            Delivery.campaign_id == campaign_id)))
    assert due == {datetime(2026, 11, 21, 0, 0, tzinfo=UTC)}  # 08:00 in Shanghai


def test_an_unknown_default_zone_is_refused_when_configured(context: AppContext) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Etc/Nowhere'"):
        load_settings(context.settings, {"timezone": "Etc/Nowhere"})


def test_caps_count_messages_of_other_campaigns(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    """Two earlier SMS to customer 1 this week, one to customer 2, none to 3: with a
    cap of two per week customer 1 waits until the older one leaves the window."""
    clock = context.clock
    assert isinstance(clock, FakeClock)
    start = clock.now()
    people = add_people(context, range(1, 4))
    config = settings_for(context, caps=[{"channel": "sms", "limit": 2, "days": 7}],
                          quiet_hours={})
    plan = {"experiment": {"holdout_share": 0.0}}
    earlier = [launch(context, sms_plan([1, 2], **plan)), launch(context, sms_plan([1], **plan))]
    with sink_channels(sink_path) as channels:
        for campaign_id in earlier:
            dispatcher(context, config, channels).run(campaign_id=campaign_id)
            clock.advance(timedelta(days=1))
        campaign_id = launch(context, sms_plan(people, **plan))
        report = dispatcher(context, config, channels).run(campaign_id=campaign_id)
    assert report.total.sent == 2 and report.total.held == 1
    with context.sessions() as session:
        held = session.execute(select(Delivery.customer_id, Delivery.due_at, Delivery.reason)
                               .where(Delivery.campaign_id == campaign_id,
                                      Delivery.status == "pending")).all()
    assert [(r.customer_id, r.due_at) for r in held] == [(1, start + timedelta(days=7))]
    assert held[0].reason == "held: frequency cap"
    keys = [json.loads(line)["key"] for line in sink_path.read_text().splitlines()]
    assert sorted(k for k in keys if k.startswith(f"c{campaign_id}:")) == [
        f"c{campaign_id}:s0:2", f"c{campaign_id}:s0:3"]
