"""End to end: audience → campaign → the loopback SMTP server and SMS gateway receive
exactly the expected messages; consent, the suppression list, frequency caps across
campaigns and quiet hours (fake clock, customers' own time zones) hold; a 退订 reply
suppresses; transient failures are retried, permanent ones become dead letters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

from sqlalchemy import insert, select
from tests.campaigns.conftest import (
    add_people,
    counts,
    dispatcher,
    email_of,
    launch,
    phone_of,
    sms_plan,
)
from tests.channels.fakes.sms_gateway import FakeSmsGateway
from tests.channels.fakes.smtp import SmtpServer

from shopcrm.accounts import audit
from shopcrm.campaigns.config import CampaignSettings, channels_from_settings
from shopcrm.campaigns.inbound import pull_from_gateway
from shopcrm.campaigns.models import Delivery
from shopcrm.campaigns.respect import suppress
from shopcrm.campaigns.rules import in_holdout
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.store.models import Consent, Customer

SHANGHAI_10AM = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def gateway_settings(settings_for: Callable[..., CampaignSettings], context: AppContext,
                     gateway: FakeSmsGateway, **extra: Any) -> CampaignSettings:
    return settings_for(context, sms={
        "base_url": gateway.url, "signature": "好物小店", "access_key_id": gateway.access_key_id,
        "access_key_secret": gateway.access_key_secret, "batch_size": 10}, **extra)


def shop(context: AppContext) -> dict[str, list[int]]:
    """Who may receive what: 1–30 consented, 31–34 never asked, 35–37 withdrew SMS,
    38–39 on the suppression list, 40 erased after the launch (see the test)."""
    now = context.clock.now()
    groups = {"ok": add_people(context, range(1, 31)),
              "never_asked": add_people(context, range(31, 35), consent=()),
              "withdrew_sms": add_people(context, range(35, 38)),
              "suppressed": add_people(context, range(38, 40)),
              "erased": add_people(context, [40])}
    with context.sessions.begin() as session:
        session.execute(insert(Consent), [
            {"customer_id": i, "channel": "sms", "purpose": "marketing", "status": "withdrawn",
             "source": "web", "at": now - timedelta(days=1), "actor": "customer"}
            for i in groups["withdrew_sms"]])
        for i in groups["suppressed"]:
            suppress(session, channel="sms", reason="manual", actor=audit.SYSTEM, now=now,
                     address=phone_of(i))
    return groups


def expected(campaign_id: int, ids: list[int]) -> set[int]:
    return {i for i in ids if not in_holdout(campaign_id, i, share=0.1)}


def test_sms_and_email_reach_exactly_the_expected_people(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sms_gateway: FakeSmsGateway, smtp_server: SmtpServer) -> None:
    groups = shop(context)
    everyone = list(range(1, 41))
    config = gateway_settings(settings_for, context, sms_gateway, email={
        "host": "127.0.0.1", "port": smtp_server.port, "security": "none",
        "sender": "news@shop.example", "sender_name": "好物小店"})
    sms_id = launch(context, sms_plan(everyone))
    mail_id = launch(context, sms_plan(everyone, name="会员日邮件", channel="email", content={
        "variants": [{"name": "A", "subject": "{{ customer.name }}，会员日专享",
                      "body": "亲爱的{{ customer.name }}：会员日快乐！",
                      "html": "<html><body><p>亲爱的{{ customer.name }}</p>"
                              "<a href=\"{{ link('https://shop.example/sale') }}\">去看看</a>"
                              "</body></html>"}]}))
    with context.sessions.begin() as session:  # erased between launch and send
        session.get(Customer, 40).status = "erased"  # type: ignore[union-attr]
    with channels_from_settings(config) as channels:
        report = dispatcher(context, config, channels).run()
    # SMS: consented, not suppressed, not erased, not held out — nobody else
    sms_to = {item["phone"] for item in sms_gateway.sent}
    want_sms = expected(sms_id, groups["ok"])
    assert sms_to == {phone_of(i) for i in want_sms}
    assert len(sms_gateway.sent) == len(want_sms)
    for item in sms_gateway.sent:
        text = item["content"]
        assert text.startswith("【好物小店】") and text.endswith("回T退订")
        assert text.startswith(("【好物小店】王小明，双11", "【好物小店】王先生/女士，双11"))
    # e-mail: SMS withdrawals and SMS suppressions do not stop e-mail
    want_mail = expected(mail_id, groups["ok"] + groups["withdrew_sms"] + groups["suppressed"])
    received = {r.rcpt_tos[0]: r for r in smtp_server.received}
    assert set(received) == {email_of(i) for i in want_mail}
    mail = message_from_bytes(next(iter(received.values())).data, policy=default_policy)
    unsubscribe = str(mail["List-Unsubscribe"])
    assert "<mailto:" in unsubscribe and "<https://crm.example.cn/u/" in unsubscribe
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "会员日专享" in str(mail["Subject"])
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "https://crm.example.cn/t/o/" in html and "https://crm.example.cn/t/c/" in html
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "退订: https://crm.example.cn/u/" in text
    # every audience member is accounted for, with the reason for those skipped
    for campaign_id in (sms_id, mail_id):
        found = counts(context, campaign_id)
        assert found["pending"] + found["sending"] == 0 and found["audience"] == 40
    with context.sessions() as session:
        reasons = dict(session.execute(select(Delivery.customer_id, Delivery.reason).where(
            Delivery.campaign_id == sms_id, Delivery.status == "skipped")).all())
    assert {reasons[i] for i in groups["never_asked"] if i in reasons} <= {
        "no marketing consent for sms"}
    assert {reasons[i] for i in groups["suppressed"] if i in reasons} <= {"suppressed"}
    assert {reasons[i] for i in groups["erased"] if i in reasons} <= {"customer erased"}
    assert report.total.sent == len(want_sms) + len(want_mail)


def test_quiet_hours_hold_until_morning_in_the_customers_zone(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sms_gateway: FakeSmsGateway) -> None:
    clock = context.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai
    people = add_people(context, range(1, 21))
    with context.sessions.begin() as session:  # customer 20 lives in New York (09:30 there)
        session.get(Customer, 20).phone = "+12125550123"  # type: ignore[union-attr]
    campaign_id = launch(context, sms_plan(people, experiment={"holdout_share": 0.0}))
    config = gateway_settings(settings_for, context, sms_gateway)
    with channels_from_settings(config) as channels:
        dispatcher(context, config, channels).run()
        assert [item["phone"] for item in sms_gateway.sent] == ["+12125550123"]
        found = counts(context, campaign_id)
        assert found["held"] == 19 and found["pending"] == 19
        with context.sessions() as session:
            due = set(session.scalars(select(Delivery.due_at).where(
                Delivery.campaign_id == campaign_id, Delivery.status == "pending")))
        assert due == {datetime(2026, 11, 21, 0, 0, tzinfo=UTC)}  # 08:00 in Shanghai
        clock.set(datetime(2026, 11, 20, 23, 59, tzinfo=UTC))
        assert dispatcher(context, config, channels).run().total.sent == 0
        clock.set(datetime(2026, 11, 21, 0, 0, tzinfo=UTC))
        assert dispatcher(context, config, channels).run().total.sent == 19
    assert len(sms_gateway.sent) == 20
    assert counts(context, campaign_id)["sent"] == 20


def test_frequency_cap_across_campaigns_holds_the_third_sms(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sms_gateway: FakeSmsGateway) -> None:
    clock = context.clock
    assert isinstance(clock, FakeClock)
    people = add_people(context, range(1, 11))
    config = gateway_settings(settings_for, context, sms_gateway)
    no_holdout = {"holdout_share": 0.0}
    with channels_from_settings(config) as channels:
        first = launch(context, sms_plan(people, experiment=no_holdout))
        dispatcher(context, config, channels).run()
        clock.advance(timedelta(days=2))
        launch(context, sms_plan(people, experiment=no_holdout))
        dispatcher(context, config, channels).run()
        clock.advance(timedelta(days=1))
        third = launch(context, sms_plan(people, experiment=no_holdout))
        dispatcher(context, config, channels).run()
        assert len(sms_gateway.sent) == 20  # ≤ 2 marketing SMS per customer per 7 days
        found = counts(context, third)
        assert found["held"] == 10 and found["skipped"] == 0
        with context.sessions() as session:
            first_sent = session.scalar(select(Delivery.sent_at).where(
                Delivery.campaign_id == first).limit(1))
            held = session.execute(select(Delivery.due_at, Delivery.reason).where(
                Delivery.campaign_id == third)).first()
        assert first_sent is not None and held is not None
        assert held.reason == "held: frequency cap" and held.due_at == first_sent + timedelta(
            days=7)
        clock.set(held.due_at)
        assert dispatcher(context, config, channels).run().total.sent == 10
    assert counts(context, third)["sent"] == 10 and len(sms_gateway.sent) == 30


def test_an_unsubscribe_reply_suppresses_future_sms(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sms_gateway: FakeSmsGateway) -> None:
    people = add_people(context, range(1, 6))
    config = gateway_settings(settings_for, context, sms_gateway)
    sms_gateway.inject_reply(phone_of(2)[3:], "退订")  # the gateway reports national numbers
    sms_gateway.inject_reply(phone_of(3), "T恤还有货吗")  # a question about a T-shirt
    sms_gateway.inject_reply(phone_of(4), "ＴＤ")
    receipts, replies = pull_from_gateway(context, config)
    assert replies.received == 3 and replies.unsubscribes == 2
    assert replies.customers_suppressed == 2
    again = pull_from_gateway(context, config)[1]  # the cursor moved on: nothing new
    assert again.received == 0
    with context.sessions() as session:
        history = session.execute(select(Consent.customer_id, Consent.status, Consent.source)
                                  .where(Consent.source == "sms-reply")).all()
    assert sorted(history) == [(2, "withdrawn", "sms-reply"), (4, "withdrawn", "sms-reply")]
    campaign_id = launch(context, sms_plan(people, experiment={"holdout_share": 0.0}))
    with channels_from_settings(config) as channels:
        dispatcher(context, config, channels).run()
    assert {item["phone"] for item in sms_gateway.sent} == {phone_of(i) for i in (1, 3, 5)}
    with context.sessions() as session:
        skipped = dict(session.execute(select(Delivery.customer_id, Delivery.reason).where(
            Delivery.campaign_id == campaign_id, Delivery.status == "skipped")).all())
    assert skipped == {2: "suppressed", 4: "suppressed"}
    # receipts: every accepted message is reported delivered
    receipts = pull_from_gateway(context, config)[0]
    assert receipts.delivered == 3
    assert counts(context, campaign_id)["delivered"] == 3


def test_transient_failures_retry_and_permanent_ones_are_dead_letters(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sms_gateway: FakeSmsGateway) -> None:
    clock = context.clock
    assert isinstance(clock, FakeClock)
    people = add_people(context, range(1, 6))
    sms_gateway.blacklist.add(phone_of(5))
    config = gateway_settings(settings_for, context, sms_gateway)
    campaign_id = launch(context, sms_plan(people, experiment={"holdout_share": 0.0}))
    sms_gateway.fail_next(2, 503)
    with channels_from_settings(config) as channels:
        first = dispatcher(context, config, channels).run()
        assert first.total.retried == 5 and len(sms_gateway.sent) == 0
        for _ in range(3):
            clock.advance(timedelta(minutes=2))
            dispatcher(context, config, channels).run()
    found = counts(context, campaign_id)
    assert found["sent"] == 4 and found["failed"] == 1 and found["pending"] == 0
    with context.sessions() as session:
        dead = session.execute(select(Delivery.customer_id, Delivery.reason, Delivery.attempts)
                               .where(Delivery.status == "failed")).one()
    assert dead.customer_id == 5 and "Blacklisted" in dead.reason
    assert len(sms_gateway.sent) == 4
