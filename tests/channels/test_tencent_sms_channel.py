"""Tencent Cloud SMS: TC3 signatures checked against the official SDK, and the answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.tencent_sms import FakeTencentSms
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

from shopcrm.channels.base import DeliveryStatus, Message
from shopcrm.channels.sms_tencent import TencentSmsChannel, TencentSmsSettings, e164


@pytest.fixture
def tencent() -> Iterator[FakeTencentSms]:
    server = FakeTencentSms().start()
    yield server
    server.stop()


def official_client(fake: FakeTencentSms, secret_key: str) -> sms_client.SmsClient:
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=fake.host))
    return sms_client.SmsClient(Credential(fake.secret_id, secret_key), "ap-guangzhou",
                                profile)


def official_send(client: sms_client.SmsClient) -> models.SendSmsResponse:
    request = models.SendSmsRequest()
    request.PhoneNumberSet = ["+8613800138000"]
    request.SmsSdkAppId, request.SignName, request.TemplateId = "1400000001", "好物小店", "1234567"
    request.TemplateParamSet = ["王芳", "1200"]
    return client.SendSms(request)


def test_the_fake_accepts_what_the_official_sdk_signs(tencent: FakeTencentSms) -> None:
    answer = official_send(official_client(tencent, tencent.secret_key))
    assert answer.SendStatusSet[0].Code == "Ok"
    with pytest.raises(TencentCloudSDKException, match="SignatureFailure"):
        official_send(official_client(tencent, "wrong-key"))


def channel_for(fake: FakeTencentSms, **overrides: str) -> TencentSmsChannel:
    settings = {"secret_id": fake.secret_id, "secret_key": fake.secret_key,
                "sdk_app_id": fake.sdk_app_id, "sign_name": "好物小店",
                "template_id": "1234567", "endpoint": fake.url, **overrides}
    return TencentSmsChannel(TencentSmsSettings(**settings))


def points(to: str = "13800138000", key: str = "c1:s1:42") -> Message:
    return Message(key=key, to=to, body="", params={"1": "王芳", "2": "1200"})


def test_shopcrm_signs_like_the_official_sdk(tencent: FakeTencentSms) -> None:
    with channel_for(tencent) as channel:
        result = channel.send(points())
    assert result.ok and result.provider_message_id == "2433:000000000001"
    [sent] = tencent.sent
    assert sent["PhoneNumberSet"] == ["+8613800138000"]
    assert sent["TemplateParamSet"] == ["王芳", "1200"]
    assert sent["SessionContext"] == "c1:s1:42"


@pytest.mark.parametrize(("overrides", "to", "code"), [
    ({"secret_key": "wrong"}, "13800138000", "AuthFailure.SignatureFailure"),
    ({"sign_name": "别家店"}, "13800138000", "SignatureIncorrectOrUnapproved"),
    ({"template_id": "999"}, "13800138000", "TemplateIncorrectOrUnapproved"),
    ({}, "12345", "IncorrectPhoneNumber"),
    ({}, "13900000000", "PhoneNumberInBlacklist"),
])
def test_permanent_failures(tencent: FakeTencentSms, overrides: dict[str, str], to: str,
                            code: str) -> None:
    tencent.blacklist.add("+8613900000000")
    with channel_for(tencent, **overrides) as channel:
        result = channel.send(points(to))
    assert result.status is DeliveryStatus.PERMANENT and code in (result.reason or "")
    assert tencent.sent == []


def test_transient_and_template_only(tencent: FakeTencentSms) -> None:
    tencent.errors += ["RequestLimitExceeded", "InternalError.Timeout",
                       "FailedOperation.InsufficientBalance"]
    with channel_for(tencent) as channel:
        for code in list(tencent.errors):
            result = channel.send(points())
            assert result.status is DeliveryStatus.TRANSIENT and code in (result.reason or "")
        assert channel.send(points()).ok
    channel = channel_for(tencent, template_id="")
    assert channel.send(Message(key="k", to="13800138000", body="hi")).status is \
        DeliveryStatus.PERMANENT
    channel.close()
    tencent.stop()
    with channel_for(tencent) as down:
        assert down.send(points()).status is DeliveryStatus.TRANSIENT
    assert e164("13800138000") == "+8613800138000" and e164("+447700900123") == "+447700900123"
