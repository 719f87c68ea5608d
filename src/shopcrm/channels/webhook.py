"""Signed generic webhooks: POST the message as JSON to another system (an ERP, a
marketing cloud, a bot) with an HMAC-SHA256 signature the receiver verifies.

Signature scheme (the common one, as Stripe and Slack use): the header
``X-Shopcrm-Timestamp`` holds Unix seconds, ``X-Shopcrm-Signature`` holds
``v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`` — several comma-separated
``v1=`` values during a secret rotation. The receiver recomputes it over the raw body,
compares in constant time and refuses timestamps outside a tolerance (replays).
``Idempotency-Key`` carries the delivery key so a receiver can drop a retried duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from shopcrm.channels.base import ChannelKind, Message, SendResult, http_client, http_status_result
from shopcrm.channels.filesink import message_record
from shopcrm.clock import Clock, SystemClock

TIMESTAMP_HEADER = "X-Shopcrm-Timestamp"
SIGNATURE_HEADER = "X-Shopcrm-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookSignatureError(ValueError):
    """A webhook request whose signature or timestamp does not check out."""


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Shopcrm-Signature`` value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body,
                      hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify_webhook(secrets: str | Sequence[str], *, body: bytes, timestamp: str | None,
                   signature: str | None, now: datetime,
                   tolerance: timedelta = timedelta(minutes=5)) -> None:
    """Raise :class:`WebhookSignatureError` unless one of ``secrets`` signed ``body`` at
    a ``timestamp`` within ``tolerance`` of ``now`` (for receivers of shopcrm webhooks,
    and for shopcrm receiving its own callbacks)."""
    if not timestamp or not signature:
        raise WebhookSignatureError("missing signature or timestamp header")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookSignatureError(f"timestamp {timestamp!r} is not Unix seconds") from exc
    if abs(now.timestamp() - sent) > tolerance.total_seconds():
        raise WebhookSignatureError("timestamp outside the tolerance (replayed or skewed)")
    offered = [part.strip() for part in signature.split(",") if part.strip().startswith("v1=")]
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    for key in keys:
        expected = sign_webhook(key, sent, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise WebhookSignatureError("signature does not match")


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"webhook URL must be http(s), got {self.url!r}")
        if len(self.secret) < 16:
            raise ValueError("a webhook secret needs at least 16 characters")


class WebhookChannel:
    """POSTs each message as signed JSON; 2xx accepted, 408/429/5xx transient, other 4xx
    permanent. The receiver's ``id`` (JSON body) becomes the provider message ID."""

    kind = ChannelKind.WEBHOOK

    def __init__(self, settings: WebhookSettings, *, clock: Clock | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        self._client = http_client(timeout=settings.timeout, transport=transport)

    def send(self, message: Message) -> SendResult:
        body = json.dumps({"type": "message", **message_record(message)},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = int(self._clock.now().timestamp())
        headers = {"Content-Type": "application/json",
                   TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign_webhook(self.settings.secret, timestamp, body),
                   IDEMPOTENCY_HEADER: message.key}
        try:
            response = self._client.post(self.settings.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            return SendResult.transient(f"webhook unreachable: {exc!r}")
        if 200 <= response.status_code < 300:
            provider_id: str | None = None
            try:
                data = response.json()
                if isinstance(data, dict) and data.get("id") is not None:
                    provider_id = str(data["id"])
            except ValueError:
                pass
            return SendResult.accepted(provider_id)
        return http_status_result(response.status_code, response.text[:200] or
                                  response.reason_phrase, response.headers.get("Retry-After"))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebhookChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
