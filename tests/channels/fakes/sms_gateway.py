"""A fake cloud SMS provider on loopback, speaking the ``generic`` gateway protocol.

It behaves like the real ones: requests are authenticated (HMAC-SHA256 over method,
path, timestamp, nonce and body hash — verified here independently of the adapter's
code; replayed nonces and stale timestamps refused), signatures and templates must be
registered, numbers must be valid mobile numbers, blacklisted numbers are refused,
``out_id`` de-duplicates, a rate limit answers 429 with Retry-After, and tests can make
the next requests fail with 5xx or 429. Accepted messages produce delivery receipts
(``DELIVRD``, or ``UNDELIV`` for unreachable handsets) and customers' replies can be
injected; both are pulled with a cursor.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .http import LoopbackServer, Reply, Request, json_reply

MOBILE = re.compile(r"^(\+86)?1[3-9]\d{9}$|^\+[1-9]\d{7,14}$")


@dataclass
class FakeSmsGateway:
    access_key_id: str = "test-key"
    access_key_secret: str = "test-secret"
    signatures: set[str] = field(default_factory=lambda: {"好物小店"})
    templates: set[str] = field(default_factory=lambda: {"SMS_001"})
    blacklist: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    rate_limit: int | None = None
    """Requests per second before 429 (None: unlimited)."""
    retry_after_seconds: int = 1
    batch_size: int = 100
    record: bool = True
    """Keep every message and receipt (tests); benchmarks only count them."""

    def __post_init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.requests = 0
        self.accepted = 0
        self.receipts: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self._by_out_id: dict[str, str] = {}
        self._nonces: set[str] = set()
        self._lock = threading.Lock()
        self._failures: deque[int] = deque()
        self._window: deque[float] = deque()
        self._server = LoopbackServer(self.handle)
        self.url = self._server.url

    # -- test controls ----------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` send requests answer ``status`` (503, 500, 429 ...)."""
        with self._lock:
            self._failures.extend([status] * count)

    def garble_next(self, count: int) -> None:
        """The next ``count`` send requests get a 200 whose body is not JSON (a proxy's
        error page, a truncated answer)."""
        with self._lock:
            self._failures.extend([200] * count)

    def inject_reply(self, phone: str, text: str) -> None:
        with self._lock:
            self.replies.append({"reply_id": f"MO{len(self.replies) + 1}", "phone": phone,
                                 "text": text, "at": datetime.now(UTC).isoformat()})

    def start(self) -> FakeSmsGateway:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    # -- protocol ---------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Reply | None:
        h = request.headers
        if h.get("x-access-key") != self.access_key_id:
            return json_reply(401, {"code": "InvalidAccessKeyId", "message": "unknown key"})
        timestamp, nonce = h.get("x-timestamp", ""), h.get("x-nonce", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return json_reply(401, {"code": "InvalidTimeStamp", "message": "stale request"})
        canonical = "\n".join([request.method, request.target, timestamp, nonce,
                               hashlib.sha256(request.body).hexdigest()])
        expected = hmac.new(self.access_key_secret.encode(), canonical.encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, h.get("x-signature", "")):
            return json_reply(401, {"code": "SignatureDoesNotMatch", "message": "bad signature"})
        with self._lock:
            if nonce in self._nonces:
                return json_reply(401, {"code": "SignatureNonceUsed", "message": "replayed"})
            self._nonces.add(nonce)
        return None

    def _throttle(self) -> Reply | None:
        with self._lock:
            if self._failures:
                status = self._failures.popleft()
                if status == 200:
                    return 200, {"Content-Type": "text/html"}, b"<html>gateway error</html>"
                headers = {"Retry-After": str(self.retry_after_seconds)} if status == 429 else {}
                return json_reply(status, {"code": "Throttled" if status == 429 else "Internal",
                                           "message": "try again later"}, headers)
            if self.rate_limit is not None:
                now = time.monotonic()
                while self._window and now - self._window[0] >= 1.0:
                    self._window.popleft()
                if len(self._window) >= self.rate_limit:
                    return json_reply(429, {"code": "Throttled", "message": "rate limit"},
                                      {"Retry-After": str(self.retry_after_seconds)})
                self._window.append(now)
        return None

    def _accept(self, item: dict[str, Any]) -> dict[str, Any]:
        phone = str(item.get("phone", ""))
        if item.get("sign_name") not in self.signatures:
            return {"code": "InvalidSignature", "message": "signature not registered"}
        if "template_id" in item and item["template_id"] not in self.templates:
            return {"code": "InvalidTemplate", "message": "template not approved"}
        if not item.get("template_id") and not item.get("content"):
            return {"code": "MissingContent", "message": "content or template required"}
        if not MOBILE.match(phone):
            return {"code": "InvalidPhone", "message": f"not a mobile number: {phone}"}
        if phone in self.blacklist:
            return {"code": "Blacklisted", "message": "number is on the carrier blacklist"}
        with self._lock:
            out_id = str(item.get("out_id", ""))
            if out_id and out_id in self._by_out_id:  # idempotent retry: no second message
                return {"code": "OK", "message_id": self._by_out_id[out_id]}
            self.accepted += 1
            message_id = f"SM{self.accepted:09d}"
            self._by_out_id[out_id] = message_id
            if not self.record:
                return {"code": "OK", "message_id": message_id}
            self.sent.append({**item, "message_id": message_id})
            delivered = phone not in self.unreachable
            self.receipts.append({
                "message_id": message_id, "phone": phone, "out_id": out_id,
                "status": "DELIVRD" if delivered else "UNDELIV",
                "error_code": None if delivered else "MK:0001",
                "at": datetime.now(UTC).isoformat()})
        return {"code": "OK", "message_id": message_id}

    def _page(self, items: list[dict[str, Any]], key: str, request: Request) -> Reply:
        start = int(request.query.get("cursor", "0") or 0)
        with self._lock:
            page = items[start:start + 500]
        return json_reply(200, {key: page, "next_cursor": str(start + len(page))})

    def handle(self, request: Request) -> Reply:
        with self._lock:
            self.requests += 1
        problem = self._authenticate(request)
        if problem:
            return problem
        if request.method == "GET" and request.path == "/sms/receipts":
            return self._page(self.receipts, "receipts", request)
        if request.method == "GET" and request.path == "/sms/replies":
            return self._page(self.replies, "replies", request)
        if request.method != "POST" or request.path not in ("/sms/send", "/sms/send-batch"):
            return json_reply(404, {"code": "NotFound", "message": request.path})
        throttled = self._throttle()
        if throttled:
            return throttled
        try:
            payload = request.json()
        except ValueError:
            return json_reply(400, {"code": "MalformedJSON", "message": "bad body"})
        if request.path == "/sms/send-batch":
            items = payload.get("items", []) if isinstance(payload, dict) else []
            if not 0 < len(items) <= self.batch_size:
                return json_reply(400, {"code": "InvalidBatch",
                                        "message": f"1..{self.batch_size} items"})
            return json_reply(200, {"results": [self._accept(item) for item in items]})
        answer = self._accept(payload if isinstance(payload, dict) else {})
        if answer["code"] in ("InvalidPhone", "MissingContent"):
            return json_reply(400, answer)  # request errors come back as HTTP 400
        return json_reply(200, answer)  # business refusals as 200 with a code, like Dysms
