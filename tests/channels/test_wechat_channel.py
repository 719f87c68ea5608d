"""WeChat template and subscription messages against a loopback fake of the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fakes.wechat import FakeWeChatApi

from shopcrm.channels.base import DeliveryStatus, Message
from shopcrm.channels.wechat import WeChatChannel, WeChatSettings
from shopcrm.clock import FakeClock


@pytest.fixture
def api() -> Iterator[FakeWeChatApi]:
    server = FakeWeChatApi().start()
    yield server
    server.stop()


def channel_for(api: FakeWeChatApi, clock: FakeClock | None = None,
                **overrides: object) -> WeChatChannel:
    settings = {"appid": api.appid, "secret": api.secret, "api_base": api.url, **overrides}
    return WeChatChannel(WeChatSettings(**settings), clock=clock)  # type: ignore[arg-type]


def points(to: str = "o-follower-1", key: str = "c1:s1:42") -> Message:
    return Message(key=key, to=to, body="", template_id="TPL_POINTS",
                   params={"points": "1200", "expiry": "2026-12-31"},
                   url="https://shop.example/points")


def test_template_message(api: FakeWeChatApi) -> None:
    with channel_for(api) as channel:
        result = channel.send(points())
        assert channel.send(points("o-follower-2")).ok
    assert result.ok and result.provider_message_id == "1001"
    assert api.sent[0] == {"path": "/cgi-bin/message/template/send", "touser": "o-follower-1",
                           "template_id": "TPL_POINTS", "url": "https://shop.example/points",
                           "client_msg_id": "c1:s1:42",
                           "data": {"points": {"value": "1200"},
                                    "expiry": {"value": "2026-12-31"}}}
    assert api.token_requests == 1  # the token is cached


def test_token_is_refreshed_when_expired_or_revoked(api: FakeWeChatApi) -> None:
    clock = FakeClock(datetime(2026, 11, 20, tzinfo=UTC))
    with channel_for(api, clock) as channel:
        assert channel.send(points()).ok
        clock.advance(timedelta(seconds=7200 - 200))  # within the refresh margin
        assert channel.send(points()).ok
        assert api.token_requests == 2
        api.revoke_tokens()  # the API says 42001: fetch a new token and retry once
        assert channel.send(points()).ok
        assert api.token_requests == 3
    assert len(api.sent) == 3


def test_subscription_message(api: FakeWeChatApi) -> None:
    api.refused_subscription.add("o-refuser")
    with channel_for(api, kind="subscribe", miniprogram_state="formal") as channel:
        ok = channel.send(points("o-anyone"))
        refused = channel.send(points("o-refuser"))
    assert ok.ok and refused.status is DeliveryStatus.PERMANENT
    assert "43101" in (refused.reason or "") and refused.address_gone and not ok.address_gone
    assert api.sent[0]["page"] == "https://shop.example/points"
    assert api.sent[0]["miniprogram_state"] == "formal" and api.sent[0]["lang"] == "zh_CN"


@pytest.mark.parametrize(("errcode", "status", "gone"), [
    (-1, DeliveryStatus.TRANSIENT, False), (45009, DeliveryStatus.TRANSIENT, False),
    (40003, DeliveryStatus.PERMANENT, True), (40037, DeliveryStatus.PERMANENT, False),
])
def test_error_codes(api: FakeWeChatApi, errcode: int, status: DeliveryStatus,
                     gone: bool) -> None:
    """40003 (invalid openid) marks the address gone, so dispatch disables it; a bad
    template is the campaign's fault, not the openid's."""
    with channel_for(api) as channel:
        assert channel.send(points()).ok
        api.fail_next(errcode)
        result = channel.send(points())
    assert result.status is status and str(errcode) in (result.reason or "")
    assert result.address_gone is gone


def test_not_following_unknown_template_bad_credentials(api: FakeWeChatApi) -> None:
    with channel_for(api) as channel:
        stranger = channel.send(points("o-stranger"))
        bad_template = channel.send(Message(key="k", to="o-follower-1", body="",
                                            template_id="TPL_NOPE"))
        no_template = channel.send(Message(key="k", to="o-follower-1", body="x"))
    assert "43004" in (stranger.reason or "") and stranger.status is DeliveryStatus.PERMANENT
    assert stranger.address_gone and not bad_template.address_gone
    assert "40037" in (bad_template.reason or "")
    assert no_template.status is DeliveryStatus.PERMANENT
    with channel_for(api, secret="wrong") as channel:
        wrong = channel.send(points())
    assert wrong.status is DeliveryStatus.PERMANENT and "40125" in (wrong.reason or "")
    assert len(api.sent) == 0
