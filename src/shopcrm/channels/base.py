"""The one interface every channel speaks: ``send(message) → SendResult``.

Dispatch does not care whether a message leaves by SMTP, an SMS gateway, WeChat, a
webhook or a file: it hands over a :class:`Message` (already rendered, already checked
against consent, caps and quiet hours) and gets back what the provider said —
accepted with the provider's message ID, a transient failure worth retrying (with the
provider's Retry-After when it gave one), or a permanent failure with a reason for the
dead-letter list. Adapters never raise for a provider's answer; they raise only for
programming errors (a message for the wrong channel, a closed adapter).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

import httpx


class ChannelKind(StrEnum):
    """The kinds of channel; the same words as consent channels where they overlap."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    INBOX = "inbox"
    WECHAT = "wechat"
    WEBHOOK = "webhook"
    FILE = "file"


class DeliveryStatus(StrEnum):
    """What the provider said about one send attempt."""

    ACCEPTED = "accepted"
    TRANSIENT = "transient-failure"
    PERMANENT = "permanent-failure"


@dataclass(frozen=True)
class Message:
    """One message to one recipient, fully rendered.

    ``key`` is the delivery's idempotency key (campaign, step, customer): adapters pass
    it to providers that de-duplicate (webhooks, the SMS gateway's ``out_id``), so a
    retry after a crash cannot deliver twice where the provider helps. ``to`` is the
    channel's address: an e-mail address, an E.164 phone number, a WeChat openid, a
    device token, a customer ID for the inbox.
    """

    key: str
    to: str
    body: str
    subject: str | None = None
    html: str | None = None
    language: str = "zh"
    template_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    """Where a tap leads (push, WeChat template, inbox)."""
    unsubscribe_url: str | None = None
    """One-click unsubscribe link (e-mail List-Unsubscribe, footer)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """Campaign, variant, customer IDs: echoed to webhooks and the file sink."""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a message needs an idempotency key")
        if not self.to:
            raise ValueError(f"message {self.key}: no recipient address")


@dataclass(frozen=True)
class SendResult:
    """A provider's answer to one send attempt."""

    status: DeliveryStatus
    provider_message_id: str | None = None
    reason: str | None = None
    retry_after: timedelta | None = None
    address_gone: bool = False
    """The provider says the address itself is dead (an uninstalled app's device token,
    an openid that unfollowed or refused): dispatch disables that contact point."""

    @classmethod
    def accepted(cls, provider_message_id: str | None) -> SendResult:
        return cls(DeliveryStatus.ACCEPTED, provider_message_id)

    @classmethod
    def transient(cls, reason: str, retry_after: timedelta | None = None) -> SendResult:
        return cls(DeliveryStatus.TRANSIENT, reason=reason, retry_after=retry_after)

    @classmethod
    def permanent(cls, reason: str, *, address_gone: bool = False) -> SendResult:
        return cls(DeliveryStatus.PERMANENT, reason=reason, address_gone=address_gone)

    @property
    def ok(self) -> bool:
        return self.status is DeliveryStatus.ACCEPTED


@runtime_checkable
class ChannelAdapter(Protocol):
    """A way out for messages. Implementations hold their connections and are used by
    one dispatcher thread at a time; ``close`` releases them."""

    kind: ChannelKind

    def send(self, message: Message) -> SendResult: ...

    def close(self) -> None: ...


def send_all(adapter: ChannelAdapter, messages: Iterable[Message]) -> list[SendResult]:
    """Send one after another (adapters with a batch API offer ``send_batch`` too)."""
    return [adapter.send(message) for message in messages]


def http_client(*, timeout: float, base_url: str = "",
                transport: httpx.BaseTransport | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.Client:
    """An HTTP client for a provider: keep-alive, and ``TCP_NODELAY`` so a request's
    header and body writes are not held back by Nagle's algorithm waiting for a delayed
    ACK (40 ms per request otherwise)."""
    if transport is None:
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(base_url=base_url, timeout=timeout, transport=transport,
                        headers=dict(headers or {}))


def parse_retry_after(value: str | None) -> timedelta | None:
    """An HTTP ``Retry-After`` in seconds (the HTTP-date form is rare from APIs and is
    treated as absent, which makes the caller fall back to its own backoff)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return timedelta(seconds=max(0.0, seconds))


def http_status_result(status_code: int, reason: str,
                       retry_after: str | None = None) -> SendResult:
    """The usual mapping of an HTTP failure: 408/425/429 and 5xx are transient, other
    4xx permanent."""
    if status_code in (408, 425, 429) or status_code >= 500:
        return SendResult.transient(f"HTTP {status_code}: {reason}",
                                    parse_retry_after(retry_after))
    return SendResult.permanent(f"HTTP {status_code}: {reason}")
