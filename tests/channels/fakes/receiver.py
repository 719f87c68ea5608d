"""A loopback HTTP receiver for webhooks and push: verifies shopcrm's webhook
signature (when given a secret), remembers bodies, answers what the test scripts."""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from shopcrm.channels.webhook import WebhookSignatureError, verify_webhook

from .http import LoopbackServer, Reply, Request, json_reply


class Receiver:
    def __init__(self, secret: str | None = None, bearer: str | None = None) -> None:
        self.secret = secret
        self.bearer = bearer
        self.received: list[Request] = []
        self.rejected: list[str] = []
        self._script: deque[Reply] = deque()
        self._seen_keys: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = LoopbackServer(self.handle)
        self.url = self._server.url + "/hook"

    def answer_next(self, status: int, data: object = None,
                    headers: dict[str, str] | None = None) -> None:
        self._script.append(json_reply(status, data or {"error": "scripted"}, headers))

    def start(self) -> Receiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def handle(self, request: Request) -> Reply:
        if self.bearer is not None and request.headers.get("authorization") != \
                f"Bearer {self.bearer}":
            return json_reply(401, {"error": "unauthorised"})
        if self.secret is not None:
            try:
                verify_webhook(self.secret, body=request.body,
                               timestamp=request.headers.get("x-shopcrm-timestamp"),
                               signature=request.headers.get("x-shopcrm-signature"),
                               now=datetime.now(UTC))
            except WebhookSignatureError as exc:
                with self._lock:
                    self.rejected.append(str(exc))
                return json_reply(401, {"error": str(exc)})
        with self._lock:
            if self._script:
                return self._script.popleft()
            key = request.headers.get("idempotency-key", "")
            if key and key in self._seen_keys:
                return json_reply(200, {"id": self._seen_keys[key], "duplicate": True})
            self.received.append(request)
            ident = len(self.received)
            if key:
                self._seen_keys[key] = ident
        data: dict[str, Any] = {"id": ident}
        return json_reply(200, data)
