"""Every channel speaks the one interface: a ``kind``, ``send`` and ``close``."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopcrm.channels.base import ChannelAdapter, ChannelKind, SendResult, http_status_result
from shopcrm.channels.email import SmtpEmailChannel, SmtpSettings
from shopcrm.channels.filesink import FileSinkChannel
from shopcrm.channels.push import FileInboxChannel, HttpPushChannel, PushSettings
from shopcrm.channels.sms import HttpSmsChannel, SmsGatewaySettings
from shopcrm.channels.sms_aliyun import AliyunSmsChannel, AliyunSmsSettings
from shopcrm.channels.sms_tencent import TencentSmsChannel, TencentSmsSettings
from shopcrm.channels.webhook import WebhookChannel, WebhookSettings
from shopcrm.channels.wechat import WeChatChannel, WeChatSettings


def every_adapter(tmp: Path) -> list[ChannelAdapter]:
    return [
        SmtpEmailChannel(SmtpSettings(host="127.0.0.1")),
        HttpSmsChannel(SmsGatewaySettings(base_url="http://127.0.0.1:9", signature="s",
                                          auth="none")),
        TencentSmsChannel(TencentSmsSettings(secret_id="i", secret_key="k", sdk_app_id="1",
                                             sign_name="s")),
        AliyunSmsChannel(AliyunSmsSettings(access_key_id="i", access_key_secret="k",
                                           sign_name="s")),
        WeChatChannel(WeChatSettings(appid="a", secret="s")),
        WebhookChannel(WebhookSettings(url="https://example.com/h", secret="x" * 16)),
        HttpPushChannel(PushSettings(url="https://example.com/p", api_token="t")),
        FileInboxChannel(tmp / "inbox.jsonl"),
        FileSinkChannel(tmp / "sink.jsonl"),
    ]


def test_every_adapter_implements_the_interface(tmp_path: Path) -> None:
    adapters = every_adapter(tmp_path)
    kinds = set()
    for adapter in adapters:
        assert isinstance(adapter, ChannelAdapter)
        assert isinstance(adapter.kind, ChannelKind)
        kinds.add(adapter.kind)
        adapter.close()
    assert kinds == set(ChannelKind)


@pytest.mark.parametrize(("status", "transient"), [
    (408, True), (425, True), (429, True), (500, True), (503, True),
    (400, False), (401, False), (403, False), (404, False), (410, False), (422, False)])
def test_http_status_mapping(status: int, transient: bool) -> None:
    result = http_status_result(status, "x", "7")
    assert (result.status.value == "transient-failure") is transient
    assert result.retry_after is None or result.retry_after.total_seconds() == 7
    assert SendResult.accepted("id").ok and not result.ok
