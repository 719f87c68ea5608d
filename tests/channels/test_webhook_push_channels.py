"""Signed webhooks and app push against loopback receivers; the file sink and inbox."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes.receiver import Receiver

from shopcrm.channels.base import ChannelAdapter, ChannelKind, DeliveryStatus, Message
from shopcrm.channels.filesink import FileSinkChannel
from shopcrm.channels.push import FileInboxChannel, HttpPushChannel, PushSettings
from shopcrm.channels.webhook import (
    WebhookChannel,
    WebhookSettings,
    WebhookSignatureError,
    sign_webhook,
    verify_webhook,
)
from shopcrm.clock import FakeClock, SystemClock

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(secret=SECRET).start()
    yield server
    server.stop()


def message(key: str = "c1:s1:42") -> Message:
    return Message(key=key, to="customer-42", body="您的积分即将过期", subject="积分提醒",
                   metadata={"campaign": "1", "variant": "A"})


def test_webhook_is_signed_and_accepted(receiver: Receiver) -> None:
    with WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET)) as channel:
        assert isinstance(channel, ChannelAdapter)
        result = channel.send(message())
    assert result.ok and result.provider_message_id == "1"
    [request] = receiver.received
    body = json.loads(request.body)
    assert body == {"type": "message", "key": "c1:s1:42", "to": "customer-42",
                    "body": "您的积分即将过期", "subject": "积分提醒", "language": "zh",
                    "metadata": {"campaign": "1", "variant": "A"}}
    # The signature is the documented scheme, recomputed here without shopcrm's code.
    timestamp = request.headers["x-shopcrm-timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body,
                        hashlib.sha256).hexdigest()
    assert request.headers["x-shopcrm-signature"] == f"v1={expected}"
    assert request.headers["idempotency-key"] == "c1:s1:42"


def test_retried_webhook_is_deduplicated_by_the_receiver(receiver: Receiver) -> None:
    with WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET)) as channel:
        first, again = channel.send(message()), channel.send(message())
    assert first.provider_message_id == again.provider_message_id
    assert len(receiver.received) == 1


def test_wrong_secret_and_stale_clock_are_refused(receiver: Receiver) -> None:
    with WebhookChannel(WebhookSettings(url=receiver.url, secret="another-secret-value")) as c:
        wrong = c.send(message())
    stale_clock = FakeClock(datetime.now(UTC) - timedelta(hours=1))
    with WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET),
                        clock=stale_clock) as c:
        stale = c.send(message())
    assert wrong.status is stale.status is DeliveryStatus.PERMANENT
    assert receiver.received == []
    assert receiver.rejected == ["signature does not match",
                                 "timestamp outside the tolerance (replayed or skewed)"]


@pytest.mark.parametrize(("status", "headers", "expected", "retry_after"), [
    (500, None, DeliveryStatus.TRANSIENT, None),
    (429, {"Retry-After": "30"}, DeliveryStatus.TRANSIENT, timedelta(seconds=30)),
    (410, None, DeliveryStatus.PERMANENT, None),
    (400, None, DeliveryStatus.PERMANENT, None),
])
def test_webhook_failures(receiver: Receiver, status: int, headers: dict[str, str] | None,
                          expected: DeliveryStatus, retry_after: timedelta | None) -> None:
    receiver.answer_next(status, headers=headers)
    with WebhookChannel(WebhookSettings(url=receiver.url, secret=SECRET)) as channel:
        result = channel.send(message())
        assert (result.status, result.retry_after) == (expected, retry_after)
        assert f"HTTP {status}" in (result.reason or "")


def test_verify_webhook_rules() -> None:
    body, now = b'{"a":1}', datetime(2026, 11, 20, tzinfo=UTC)
    ts = int(now.timestamp())
    good = sign_webhook(SECRET, ts, body)
    verify_webhook(SECRET, body=body, timestamp=str(ts), signature=good, now=now)
    # During a rotation the sender signs with both secrets; either verifies.
    both = f"{sign_webhook('old-secret-0123456789', ts, body)}, {good}"
    verify_webhook(["old-secret-0123456789"], body=body, timestamp=str(ts), signature=both,
                   now=now)
    for kwargs in ({"body": b'{"a":2}'}, {"timestamp": None}, {"timestamp": "soon"},
                   {"signature": good.replace("v1=", "v0=")},
                   {"now": now + timedelta(minutes=6)}):
        args = {"body": body, "timestamp": str(ts), "signature": good, "now": now, **kwargs}
        with pytest.raises(WebhookSignatureError):
            verify_webhook(SECRET, **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WebhookSettings(url="ftp://x", secret=SECRET)
    with pytest.raises(ValueError):
        WebhookSettings(url="https://x", secret="short")


def test_push_to_a_push_service() -> None:
    service = Receiver(bearer="push-token").start()
    try:
        channel = HttpPushChannel(PushSettings(url=service.url, api_token="push-token"))
        ok = channel.send(Message(key="k1", to="device-abc", body="新品上架", subject="好物小店",
                                  url="app://product/42"))
        service.answer_next(410, {"error": "Unregistered"})
        gone = channel.send(Message(key="k2", to="device-old", body="x"))
        channel.close()
        wrong = HttpPushChannel(PushSettings(url=service.url, api_token="nope"))
        unauthorised = wrong.send(Message(key="k3", to="device-abc", body="x"))
        wrong.close()
    finally:
        service.stop()
    assert ok.ok and gone.status is DeliveryStatus.PERMANENT and "no longer" in (gone.reason or "")
    assert gone.address_gone  # dispatch disables the token
    assert unauthorised.status is DeliveryStatus.PERMANENT and not unauthorised.address_gone
    [request] = service.received
    assert request.json() == {"token": "device-abc", "title": "好物小店", "body": "新品上架",
                              "url": "app://product/42", "data": {"key": "k1"}}


def test_unreachable_receiver_is_transient() -> None:
    server = Receiver(secret=SECRET).start()
    url = server.url
    server.stop()
    with WebhookChannel(WebhookSettings(url=url, secret=SECRET), clock=SystemClock()) as c:
        assert c.send(message()).status is DeliveryStatus.TRANSIENT


def test_file_sink_and_inbox(tmp_path: Path) -> None:
    path = tmp_path / "out" / "sink.jsonl"
    with FileSinkChannel(path) as sink:
        ids = [sink.send(message(f"k{i}")).provider_message_id for i in range(3)]
        sink.flush(sync=True)
    assert ids == ["sink.jsonl:1", "sink.jsonl:2", "sink.jsonl:3"]
    # Reopened: numbering continues after the lines already there.
    with FileSinkChannel(path) as sink:
        assert sink.send(message("k3")).provider_message_id == "sink.jsonl:4"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["key"] for line in lines] == ["k0", "k1", "k2", "k3"]
    assert lines[0]["body"] == "您的积分即将过期"  # UTF-8, not escaped
    sink = FileSinkChannel(path)
    sink.close()
    with pytest.raises(RuntimeError):
        sink.send(message())
    inbox = FileInboxChannel(tmp_path / "inbox.jsonl")
    assert inbox.kind is ChannelKind.INBOX and inbox.send(message()).ok
    inbox.close()
