"""The SMS channel against the loopback fake provider: a real HTTP server that signs,
throttles, fails and reports like a cloud SMS service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fakes.sms_gateway import FakeSmsGateway

from shopcrm.campaigns.rules import assemble_sms, is_unsubscribe
from shopcrm.channels.base import ChannelAdapter, DeliveryStatus, Message
from shopcrm.channels.sms import (
    HttpSmsChannel,
    SmsGatewaySettings,
    parse_receipt,
    parse_reply,
)


def channel_for(gateway: FakeSmsGateway, **overrides: object) -> HttpSmsChannel:
    settings = {"base_url": gateway.url, "signature": "好物小店",
                "access_key_id": gateway.access_key_id,
                "access_key_secret": gateway.access_key_secret, **overrides}
    return HttpSmsChannel(SmsGatewaySettings(**settings))  # type: ignore[arg-type]


def sms(key: str, to: str = "13800138000", body: str = "双11会员专享券已到账") -> Message:
    return Message(key=key, to=to, body=assemble_sms(body, signature="好物小店"))


def test_accepted_message_reaches_the_gateway(sms_gateway: FakeSmsGateway) -> None:
    with channel_for(sms_gateway) as channel:
        assert isinstance(channel, ChannelAdapter)
        result = channel.send(sms("c1:s1:42"))
    assert result.status is DeliveryStatus.ACCEPTED and result.provider_message_id
    [item] = sms_gateway.sent
    assert item["phone"] == "13800138000" and item["sign_name"] == "好物小店"
    assert item["content"] == "【好物小店】双11会员专享券已到账，回T退订"
    assert item["out_id"] == "c1:s1:42" and item["message_id"] == result.provider_message_id


def test_retry_with_the_same_key_sends_once(sms_gateway: FakeSmsGateway) -> None:
    with channel_for(sms_gateway) as channel:
        first = channel.send(sms("c1:s1:42"))
        again = channel.send(sms("c1:s1:42"))
    assert first.provider_message_id == again.provider_message_id
    assert len(sms_gateway.sent) == 1


@pytest.mark.parametrize(("to", "setup", "reason"), [
    ("12345", None, "InvalidPhone"),
    ("13900000000", "blacklist", "Blacklisted"),
])
def test_permanent_rejections(sms_gateway: FakeSmsGateway, to: str, setup: str | None,
                              reason: str) -> None:
    if setup == "blacklist":
        sms_gateway.blacklist.add(to)
    with channel_for(sms_gateway) as channel:
        result = channel.send(sms("k", to=to))
    assert result.status is DeliveryStatus.PERMANENT and reason in (result.reason or "")
    assert sms_gateway.sent == []


def test_unregistered_signature_and_template(sms_gateway: FakeSmsGateway) -> None:
    with channel_for(sms_gateway, signature="别家店") as channel:
        assert "InvalidSignature" in (channel.send(sms("a")).reason or "")
    with channel_for(sms_gateway, template_id="SMS_999") as channel:
        assert "InvalidTemplate" in (channel.send(sms("b")).reason or "")


def test_wrong_secret_is_refused_permanently(sms_gateway: FakeSmsGateway) -> None:
    with channel_for(sms_gateway, access_key_secret="wrong") as channel:
        result = channel.send(sms("k"))
    assert result.status is DeliveryStatus.PERMANENT
    assert "SignatureDoesNotMatch" in (result.reason or "") and sms_gateway.sent == []


def test_transient_5xx_and_throttling(sms_gateway: FakeSmsGateway) -> None:
    sms_gateway.fail_next(1, 503)
    sms_gateway.fail_next(1, 429)
    with channel_for(sms_gateway) as channel:
        unavailable = channel.send(sms("k"))
        throttled = channel.send(sms("k"))
        assert unavailable.status is DeliveryStatus.TRANSIENT and "503" in (
            unavailable.reason or "")
        assert throttled.status is DeliveryStatus.TRANSIENT
        assert throttled.retry_after == timedelta(seconds=1)
        assert channel.send(sms("k")).ok  # the provider recovered
    assert len(sms_gateway.sent) == 1


def test_rate_limit_answers_429() -> None:
    gateway = FakeSmsGateway(rate_limit=5, retry_after_seconds=2).start()
    try:
        with channel_for(gateway) as channel:
            results = []
            for i in range(40):  # 40 requests within a second would be needed to never hit it
                results.append(channel.send(sms(f"k{i}")))
                if not results[-1].ok:
                    break
    finally:
        gateway.stop()
    throttled = [r for r in results if r.status is DeliveryStatus.TRANSIENT]
    assert len(throttled) == 1 and throttled[0].retry_after == timedelta(seconds=2)
    assert len(gateway.sent) == len(results) - 1 >= 5


def test_unreachable_gateway_is_transient(sms_gateway: FakeSmsGateway) -> None:
    channel = channel_for(sms_gateway)
    sms_gateway.stop()
    try:
        result = channel.send(sms("k"))
    finally:
        channel.close()
    assert result.status is DeliveryStatus.TRANSIENT and "unreachable" in (result.reason or "")


def test_receipts_are_pulled_with_a_cursor(sms_gateway: FakeSmsGateway) -> None:
    sms_gateway.unreachable.add("13700000000")
    with channel_for(sms_gateway) as channel:
        ok = channel.send(sms("a", to="13800138000"))
        lost = channel.send(sms("b", to="13700000000"))
        receipts, cursor = channel.pull_receipts()
        again, cursor2 = channel.pull_receipts(cursor)
    by_id = {r.provider_message_id: r for r in receipts}
    assert by_id[str(ok.provider_message_id)].delivered
    undelivered = by_id[str(lost.provider_message_id)]
    assert not undelivered.delivered and undelivered.error == "MK:0001"
    assert undelivered.out_id == "b" and undelivered.at is not None
    assert again == [] and cursor2 == cursor == "2"


def test_unsubscribe_replies_are_pulled_and_recognised(sms_gateway: FakeSmsGateway) -> None:
    for phone, text in (("13800000001", "退订"), ("13800000002", "ＴＤ"),
                        ("13800000003", "Thanks!"), ("13800000004", "t"),
                        ("13800000005", "不要退订")):
        sms_gateway.inject_reply(phone, text)
    with channel_for(sms_gateway) as channel:
        replies, cursor = channel.pull_replies()
        assert channel.pull_replies(cursor)[0] == []
    opted_out = sorted(r.phone for r in replies if is_unsubscribe(r.text))
    assert opted_out == ["13800000001", "13800000002", "13800000004"]


def test_batch_send_answers_per_message(sms_gateway: FakeSmsGateway) -> None:
    messages = [sms(f"k{i}", to=f"138{i:08d}") for i in range(250)]
    messages[7] = sms("bad", to="nope")
    with channel_for(sms_gateway) as channel:
        results = [r for start in range(0, 250, 100)
                   for r in channel.send_batch(messages[start:start + 100])]
        sms_gateway.fail_next(1, 503)
        failed = channel.send_batch(messages[:3])
    assert len(results) == 250
    assert results[7].status is DeliveryStatus.PERMANENT
    assert sum(r.ok for r in results) == 249 == len(sms_gateway.sent)
    assert all(r.status is DeliveryStatus.TRANSIENT for r in failed)


def test_unreadable_answers_are_transient(sms_gateway: FakeSmsGateway) -> None:
    sms_gateway.garble_next(2)
    with channel_for(sms_gateway) as channel:
        single = channel.send(sms("a"))
        batch = channel.send_batch([sms("b", to="13800000001"), sms("c", to="13800000002")])
        again = channel.send_batch([sms("b", to="13800000001"), sms("c", to="13800000002")])
    assert single.status is DeliveryStatus.TRANSIENT
    assert [r.status for r in batch] == [DeliveryStatus.TRANSIENT] * 2
    assert all(r.ok for r in again) and len(sms_gateway.sent) == 2


def test_aliyun_style_profile_sends_templates() -> None:
    settings = SmsGatewaySettings(base_url="http://127.0.0.1:9", signature="好物小店",
                                  profile="aliyun-style", template_id="SMS_001",
                                  access_key_id="k", access_key_secret="s")
    channel = HttpSmsChannel(settings)
    try:
        payload = channel.payload(Message(key="k1", to="13800138000", body="ignored",
                                          params={"name": "王芳", "coupon": "A1B2"}))
        assert payload == {"PhoneNumbers": "13800138000", "SignName": "好物小店",
                           "OutId": "k1", "TemplateCode": "SMS_001",
                           "TemplateParam": '{"name": "王芳", "coupon": "A1B2"}'}
        no_template = HttpSmsChannel(SmsGatewaySettings(
            base_url="http://127.0.0.1:9", signature="x", profile="aliyun-style",
            access_key_id="k", access_key_secret="s"))
        result = no_template.send(Message(key="k2", to="13800138000", body="hi"))
        assert result.status is DeliveryStatus.PERMANENT and "template" in (result.reason or "")
        no_template.close()
    finally:
        channel.close()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        SmsGatewaySettings(base_url="http://x", signature="s", profile="nope", auth="none")
    with pytest.raises(ValueError, match="access_key"):
        SmsGatewaySettings(base_url="http://x", signature="s")


def test_receipt_and_reply_callback_bodies() -> None:
    # Providers can also push receipts and replies to a callback URL with the same JSON.
    receipt = parse_receipt({"message_id": "SM1", "phone": "13800138000", "status": "UNDELIV",
                             "error_code": "MK:0005", "at": "2026-11-20T10:00:00+08:00",
                             "out_id": "c1:s1:42"})
    assert not receipt.delivered and receipt.error == "MK:0005"
    assert receipt.at == datetime(2026, 11, 20, 2, tzinfo=UTC)
    assert parse_receipt({"message_id": 7, "status": "DELIVRD", "at": "garbage"}).at is None
    assert parse_receipt({"message_id": 7, "status": "delivrd"}).delivered
    reply = parse_reply({"reply_id": "MO1", "phone": "13800138000", "text": "ＴＤ",
                         "at": "2026-11-20T02:00:00Z"})
    assert is_unsubscribe(reply.text) and reply.at == datetime(2026, 11, 20, 2, tzinfo=UTC)
    with pytest.raises(KeyError):
        parse_reply({"phone": "1"})
