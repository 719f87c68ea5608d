"""Dispatch over real HTTP on loopback: WeChat template messages go to the customer's
active openid of the configured app id, push to the newest active device token; a
customer without one is skipped with the reason and counted; addresses the provider
calls gone are disabled; the inbox channel writes rows the site reads, and the first
read is the delivery's open. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fakes.receiver import Receiver
from fakes.wechat import FakeWeChatApi
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.campaigns.conftest import add_people, counts, dispatcher, launch
from tests.contacts.conftest import SITE, add_contact, contact_status

from shopcrm.campaigns.config import CampaignSettings, channels_from_settings
from shopcrm.campaigns.models import Delivery
from shopcrm.campaigns.specs import CampaignSpec
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext

APP = "wx-test-app"


def plan(channel: str, ids: list[int], **variant: Any) -> CampaignSpec:
    body: dict[str, Any] = {"name": "A", "body": "{{ customer.name }}，积分快到期了", **variant}
    return CampaignSpec.model_validate({
        "name": f"{channel} 会员日", "channel": channel,
        "audience": {"kind": "list", "customer_ids": ids},
        "content": {"variants": [body]}, "experiment": {"holdout_share": 0}})


def reasons(context: AppContext, campaign_id: int) -> dict[int, tuple[str, str | None]]:
    with context.sessions() as session:
        return {int(cid): (status, reason) for cid, status, reason in session.execute(
            select(Delivery.customer_id, Delivery.status, Delivery.reason).where(
                Delivery.campaign_id == campaign_id))}


def test_wechat_goes_to_the_openid_of_the_configured_app(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        wechat_api: FakeWeChatApi) -> None:
    ids = add_people(context, [11, 12, 13, 14], consent=("wechat",))
    add_contact(context, 11, kind="wechat", app_id=APP, address="oFollowerAAAA1")
    add_contact(context, 12, kind="wechat", app_id=APP, address="oFollowerBBBB2")
    # 13 follows another official account only: not reachable through this one
    add_contact(context, 13, kind="wechat", app_id="wx-other-app", address="oOtherAppCCC3")
    gone = add_contact(context, 14, kind="wechat", app_id=APP, address="oUnfollowed444")
    config = settings_for(context, wechat={"appid": APP, "secret": wechat_api.secret,
                                           "api_base": wechat_api.url})
    campaign_id = launch(context, plan("wechat", ids, template_id="TPL_POINTS",
                                       params={"name": "{{ customer.name }}"}))
    with channels_from_settings(config, sessions=context.sessions,
                                clock=context.clock) as channels:
        dispatcher(context, config, channels).run(campaign_id=campaign_id)
    sent = {m["touser"]: m for m in wechat_api.sent}
    assert set(sent) == {"oFollowerAAAA1", "oFollowerBBBB2"}
    assert sent["oFollowerAAAA1"]["data"] == {"name": {"value": "王小明"}}
    outcome = reasons(context, campaign_id)
    assert outcome[11][0] == outcome[12][0] == "sent"
    assert outcome[13] == ("skipped", f"no active WeChat openid for app {APP}")
    assert outcome[14][0] == "failed" and "43004" in (outcome[14][1] or "")
    assert contact_status(context, gone) == ("disabled", outcome[14][1])
    final = counts(context, campaign_id)
    assert (final["sent"], final["skipped"], final["failed"]) == (2, 1, 1)
    assert final["audience"] == 4


def test_a_disabled_openid_is_skipped_next_time(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        wechat_api: FakeWeChatApi) -> None:
    ids = add_people(context, [21], consent=("wechat",))
    add_contact(context, 21, kind="wechat", app_id=APP, address="oRefusedSub21")
    config = settings_for(context, wechat={"appid": APP, "secret": wechat_api.secret,
                                           "api_base": wechat_api.url, "kind": "subscribe"})
    wechat_api.refused_subscription.add("oRefusedSub21")
    first = launch(context, plan("wechat", ids, template_id="TPL_POINTS"))
    second = launch(context, plan("wechat", ids, template_id="TPL_POINTS"))
    with channels_from_settings(config, sessions=context.sessions,
                                clock=context.clock) as channels:
        dispatcher(context, config, channels).run(campaign_id=first)
        dispatcher(context, config, channels).run(campaign_id=second)
    assert "43101" in (reasons(context, first)[21][1] or "")
    assert reasons(context, second)[21] == ("skipped",
                                            f"no active WeChat openid for app {APP}")
    assert wechat_api.sent == []


def test_push_goes_to_the_newest_active_token_of_the_configured_app(
        context: AppContext, clock: FakeClock, settings_for: Callable[..., CampaignSettings],
        push_service: Receiver) -> None:
    ids = add_people(context, [31, 32, 33], consent=("push",))
    add_contact(context, 31, kind="push", app_id="com.shop.app", address="token-old-31",
                platform="android", at=clock.now() - timedelta(days=30))
    add_contact(context, 31, kind="push", app_id="com.shop.app", address="token-new-31",
                platform="ios", at=clock.now() - timedelta(days=1))
    add_contact(context, 31, kind="push", app_id="com.other.app", address="token-other-31",
                platform="ios")
    add_contact(context, 32, kind="push", app_id="com.shop.app", address="token-only-32",
                platform="harmony")
    signed_out = add_contact(context, 33, kind="push", app_id="com.shop.app",
                             address="token-gone-33", platform="ios")
    with context.sessions.begin() as session:
        from shopcrm.contacts.service import disable

        disable(session, customer_id=33, contact_id=signed_out, reason="signed out",
                now=clock.now(), actor=SITE)
    config = settings_for(context, push={"url": push_service.url, "api_token": "push-secret",
                                         "app_id": "com.shop.app"})
    campaign_id = launch(context, plan("push", ids, subject="会员日",
                                       url="https://shop.example.cn/day"))
    with channels_from_settings(config, sessions=context.sessions,
                                clock=context.clock) as channels:
        dispatcher(context, config, channels).run(campaign_id=campaign_id)
    received = sorted((r.json()["token"], r.json()["title"]) for r in push_service.received)
    assert received == [("token-new-31", "会员日"), ("token-only-32", "会员日")]
    outcome = reasons(context, campaign_id)
    assert outcome[33] == ("skipped", "no active push device token for app com.shop.app")
    assert counts(context, campaign_id)["skipped"] == 1


def test_a_410_disables_that_token_and_the_message_goes_to_the_next_one(
        context: AppContext, clock: FakeClock, settings_for: Callable[..., CampaignSettings],
        push_service: Receiver) -> None:
    ids = add_people(context, [41], consent=("push",))
    older = add_contact(context, 41, kind="push", app_id="com.shop.app",
                        address="token-older-41", platform="android",
                        at=clock.now() - timedelta(days=9))
    newer = add_contact(context, 41, kind="push", app_id="com.shop.app",
                        address="token-newer-41", platform="ios")
    config = settings_for(context, push={"url": push_service.url, "api_token": "push-secret",
                                         "app_id": "com.shop.app"})
    first = launch(context, plan("push", ids))
    second = launch(context, plan("push", ids))
    with channels_from_settings(config, sessions=context.sessions,
                                clock=context.clock) as channels:
        push_service.answer_next(410, {"error": "Unregistered"})
        dispatcher(context, config, channels).run(campaign_id=first)
        status, reason = reasons(context, first)[41]
        # Not a dead letter: the customer has another device.
        assert status == "pending" and "retrying on the customer's next address" in (
            reason or "")
        clock.advance(timedelta(hours=2))
        dispatcher(context, config, channels).run(campaign_id=first)
        dispatcher(context, config, channels).run(campaign_id=second)
    status, reason = contact_status(context, newer)
    assert status == "disabled" and "410" in (reason or "")
    assert contact_status(context, older) == ("active", None)
    assert reasons(context, first)[41][0] == "sent"
    assert reasons(context, second)[41][0] == "sent"
    assert [r.json()["token"] for r in push_service.received] == ["token-older-41"] * 2


def test_a_410_on_the_only_token_is_a_dead_letter(
        context: AppContext, clock: FakeClock, settings_for: Callable[..., CampaignSettings],
        push_service: Receiver) -> None:
    ids = add_people(context, [42], consent=("push",))
    only = add_contact(context, 42, kind="push", app_id="com.shop.app",
                       address="token-only-42", platform="ios")
    config = settings_for(context, push={"url": push_service.url, "api_token": "push-secret",
                                         "app_id": "com.shop.app"})
    campaign = launch(context, plan("push", ids))
    with channels_from_settings(config, sessions=context.sessions,
                                clock=context.clock) as channels:
        push_service.answer_next(410, {"error": "Unregistered"})
        dispatcher(context, config, channels).run(campaign_id=campaign)
    status, reason = reasons(context, campaign)[42]
    assert status == "failed" and "410" in (reason or "")
    assert contact_status(context, only)[0] == "disabled"
    assert push_service.received == []


def test_the_inbox_is_a_table_the_site_reads_and_the_first_read_is_an_open(
        context: AppContext, clock: FakeClock, settings_for: Callable[..., CampaignSettings],
        role_client: Callable[..., TestClient]) -> None:
    ids = add_people(context, [51, 52], consent=("push",))
    config = settings_for(context)
    campaign_id = launch(context, plan("inbox", ids, subject="双11 会员专享",
                                       url="https://shop.example.cn/d11"))
    with channels_from_settings(config, sessions=context.sessions,
                                clock=context.clock) as channels:
        dispatcher(context, config, channels).run(campaign_id=campaign_id)
        # a second pass (as after a crash) writes nothing twice
        assert channels.get("inbox").find_sent({f"c{campaign_id}:s0:51"})  # type: ignore[attr-defined]
    assert counts(context, campaign_id)["sent"] == 2
    site = role_client(context, "admin")
    page = site.get("/api/v1/inbox/51")
    assert page.status_code == 200, page.text
    data = page.json()
    assert (data["total"], data["unread"]) == (1, 1)
    message = data["items"][0]
    assert message["subject"] == "双11 会员专享" and message["body"].startswith("王小明")
    assert message["url"].startswith("https://crm.example.cn/t/c/")  # tracked link
    clock.advance(timedelta(minutes=5))
    read = site.post(f"/api/v1/inbox/51/messages/{message['id']}/read")
    assert read.status_code == 200, read.text
    assert read.json()["first_read"] is True and read.json()["unread"] == 0
    again = site.post(f"/api/v1/inbox/51/messages/{message['id']}/read")
    assert again.json()["first_read"] is False
    with context.sessions() as session:
        opened = dict(session.execute(select(Delivery.customer_id, Delivery.opened_at).where(
            Delivery.campaign_id == campaign_id)).all())
    assert opened[51] == clock.now()
    assert opened[52] is None
    # another customer's message is not this customer's to read
    other = site.post(f"/api/v1/inbox/52/messages/{message['id']}/read")
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    assert site.get("/api/v1/inbox/999999").status_code == 404
    assert site.get("/api/v1/inbox/51", params={"size": 0}).status_code == 422
    # the marketer's key lacks site_inbox
    assert role_client(context, "marketer").get("/api/v1/inbox/51").status_code == 403
