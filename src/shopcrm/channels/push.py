"""App push and the in-site inbox.

Push goes through the shop's push service (its own, or a vendor's such as JPush or
Getui behind a small relay) over HTTP: one JSON request per device token with bearer
authentication; 404/410 mean the token is gone (the app was uninstalled) — permanent.
The in-site inbox is a table of the operational store
(:class:`shopcrm.contacts.inbox.StoreInboxChannel`) the shop's site reads through the
API; :class:`FileInboxChannel` (JSON lines) remains for set-ups without a store
session, such as the demo's outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from shopcrm.channels.base import ChannelKind, Message, SendResult, http_client, http_status_result
from shopcrm.channels.filesink import FileSinkChannel


@dataclass(frozen=True)
class PushSettings:
    url: str
    api_token: str
    timeout: float = 10.0


class HttpPushChannel:
    """Sends ``{"token", "title", "body", "url", "data"}`` to a push service."""

    kind = ChannelKind.PUSH

    def __init__(self, settings: PushSettings, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._client = http_client(timeout=settings.timeout, transport=transport,
                                    headers={"Authorization": f"Bearer {settings.api_token}"})

    def send(self, message: Message) -> SendResult:
        payload = {"token": message.to, "title": message.subject or "", "body": message.body,
                   "url": message.url, "data": {"key": message.key, **message.metadata}}
        try:
            response = self._client.post(self.settings.url, json=payload,
                                         headers={"Idempotency-Key": message.key})
        except httpx.TransportError as exc:
            return SendResult.transient(f"push service unreachable: {exc!r}")
        if 200 <= response.status_code < 300:
            try:
                data = response.json()
            except ValueError:
                data = {}
            ident = data.get("id") if isinstance(data, dict) else None
            return SendResult.accepted(str(ident) if ident is not None else None)
        if response.status_code in (404, 410):
            return SendResult.permanent(f"device token no longer registered "
                                        f"(HTTP {response.status_code})", address_gone=True)
        return http_status_result(response.status_code, response.text[:200] or
                                  response.reason_phrase, response.headers.get("Retry-After"))

    def close(self) -> None:
        self._client.close()


class FileInboxChannel(FileSinkChannel):
    """In-site inbox messages as JSON lines (``to`` is the customer ID)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, kind=ChannelKind.INBOX)
