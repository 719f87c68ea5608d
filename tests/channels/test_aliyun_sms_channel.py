"""Alibaba Cloud SMS: ACS3 signatures checked by a verifier the official SDK passes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from fakes.aliyun_sms import FakeAliyunSms

from shopcrm.channels.base import DeliveryStatus, Message
from shopcrm.channels.sms_aliyun import AliyunSmsChannel, AliyunSmsSettings, canonical_query


@pytest.fixture
def aliyun() -> Iterator[FakeAliyunSms]:
    server = FakeAliyunSms().start()
    yield server
    server.stop()


def official_send(fake: FakeAliyunSms, secret: str) -> str:
    client = Client(open_api_models.Config(access_key_id=fake.access_key_id,
                                           access_key_secret=secret, endpoint=fake.host,
                                           protocol="http"))
    try:
        response = client.send_sms(models.SendSmsRequest(
            phone_numbers="13800138000", sign_name="好物小店", template_code="SMS_001",
            template_param='{"name": "王芳 & co", "points": "1200*"}', out_id="c1:s1:42"))
    except Exception as exc:  # the SDK raises its own TeaException for HTTP 4xx
        return str(getattr(exc, "code", exc))
    return str(response.body.code)


def test_the_fake_accepts_what_the_official_sdk_signs(aliyun: FakeAliyunSms) -> None:
    assert official_send(aliyun, aliyun.access_key_secret) == "OK"
    assert official_send(aliyun, "wrong") == "SignatureDoesNotMatch"
    assert len(aliyun.sent) == 1


def channel_for(fake: FakeAliyunSms, **overrides: str) -> AliyunSmsChannel:
    settings = {"access_key_id": fake.access_key_id, "access_key_secret":
                fake.access_key_secret, "sign_name": "好物小店", "template_code": "SMS_001",
                "endpoint": fake.url, **overrides}
    return AliyunSmsChannel(AliyunSmsSettings(**settings))


def points(to: str = "13800138000", key: str = "c1:s1:42") -> Message:
    return Message(key=key, to=to, body="", params={"name": "王芳 & co", "points": "1200*"})


def test_shopcrm_signs_like_the_official_sdk(aliyun: FakeAliyunSms) -> None:
    with channel_for(aliyun) as channel:
        result = channel.send(points())
        assert channel.send(points(key="c1:s1:43")).ok  # a fresh nonce each time
    assert result.ok and result.provider_message_id == "000001^0"
    assert aliyun.sent[0] == {"PhoneNumbers": "13800138000", "SignName": "好物小店",
                              "TemplateCode": "SMS_001", "OutId": "c1:s1:42",
                              "TemplateParam": '{"name": "王芳 & co", "points": "1200*"}'}


@pytest.mark.parametrize(("overrides", "to", "code"), [
    ({"access_key_secret": "wrong"}, "13800138000", "SignatureDoesNotMatch"),
    ({"access_key_id": "LTAIother"}, "13800138000", "InvalidAccessKeyId"),
    ({"sign_name": "别家店"}, "13800138000", "isv.SMS_SIGNATURE_ILLEGAL"),
    ({"template_code": "SMS_999"}, "13800138000", "isv.SMS_TEMPLATE_ILLEGAL"),
    ({}, "12345", "isv.MOBILE_NUMBER_ILLEGAL"),
    ({}, "13900000000", "isv.BLACK_KEY_CONTROL_LIMIT"),
])
def test_permanent_failures(aliyun: FakeAliyunSms, overrides: dict[str, str], to: str,
                            code: str) -> None:
    aliyun.blacklist.add("13900000000")
    with channel_for(aliyun, **overrides) as channel:
        result = channel.send(points(to))
    assert result.status is DeliveryStatus.PERMANENT and code in (result.reason or "")
    assert aliyun.sent == []


def test_flow_control_is_transient(aliyun: FakeAliyunSms) -> None:
    aliyun.errors += ["isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR"]
    with channel_for(aliyun) as channel:
        first, second, third = (channel.send(points()) for _ in range(3))
        no_template = AliyunSmsChannel(AliyunSmsSettings(
            access_key_id="k", access_key_secret="s", sign_name="x", endpoint=aliyun.url))
        assert no_template.send(Message(key="k", to="13800138000", body="hi")).status is \
            DeliveryStatus.PERMANENT
        no_template.close()
    assert first.status is second.status is DeliveryStatus.TRANSIENT
    assert "BUSINESS_LIMIT_CONTROL" in (first.reason or "") and third.ok
    aliyun.stop()
    with channel_for(aliyun) as down:
        assert down.send(points()).status is DeliveryStatus.TRANSIENT


def test_canonical_query_encoding() -> None:
    assert canonical_query({"b": "a b*~", "a": "好"}) == "a=%E5%A5%BD&b=a%20b%2A~"
