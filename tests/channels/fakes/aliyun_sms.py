"""A fake Alibaba Cloud SMS endpoint (Dysms ``SendSms``, 2017-05-25) on loopback.

It verifies ACS3-HMAC-SHA256 signatures from the documented scheme, written here
without shopcrm's code: the canonical request is rebuilt from the decoded query, the
headers the client lists in ``SignedHeaders`` and the body hash. The tests first show
that a request from the official SDK (``alibabacloud-dysmsapi20170525``) passes, so the
verifier is right, then that shopcrm's requests pass it too. Replayed nonces and stale
dates are refused; answers use Dysms' codes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from .http import LoopbackServer, Reply, Request, json_reply

AUTH = re.compile(r"^ACS3-HMAC-SHA256 Credential=(?P<id>[^,]+),SignedHeaders=(?P<signed>[^,]+),"
                  r"Signature=(?P<sig>[0-9a-f]{64})$")


@dataclass
class FakeAliyunSms:
    access_key_id: str = "LTAItest"
    access_key_secret: str = "aliyun-test-secret"
    sign_names: set[str] = field(default_factory=lambda: {"好物小店"})
    templates: set[str] = field(default_factory=lambda: {"SMS_001"})
    blacklist: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.errors: list[str] = []
        self._nonces: set[str] = set()
        self._lock = threading.Lock()
        self._server = LoopbackServer(self.handle)
        self.url = self._server.url
        self.host = f"127.0.0.1:{self._server.port}"

    def start(self) -> FakeAliyunSms:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _verify(self, request: Request, params: list[tuple[str, str]]) -> str | None:
        h = request.headers
        match = AUTH.match(h.get("authorization", ""))
        if not match or match["id"] != self.access_key_id:
            return "InvalidAccessKeyId.NotFound"
        signed = match["signed"].split(";")
        if "host" not in signed or any(n.startswith("x-acs-") and n not in signed for n in h):
            return "SignatureDoesNotMatch"
        enc = lambda s: quote(s, safe="-_.~")  # noqa: E731
        query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params))
        headers = "".join(f"{n}:{h.get(n, '').strip()}\n" for n in signed)
        payload_hash = hashlib.sha256(request.body).hexdigest()
        if h.get("x-acs-content-sha256") != payload_hash:
            return "SignatureDoesNotMatch"
        canonical = "\n".join([request.method, urlsplit(request.target).path, query, headers,
                               ";".join(signed), payload_hash])
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(self.access_key_secret.encode(), to_sign.encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            return "SignatureDoesNotMatch"
        try:
            sent_at = datetime.strptime(h.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return "InvalidTimeStamp.Format"
        if abs(datetime.now(UTC) - sent_at.replace(tzinfo=UTC)) > timedelta(minutes=15):
            return "InvalidTimeStamp.Expired"
        with self._lock:
            nonce = h.get("x-acs-signature-nonce", "")
            if not nonce or nonce in self._nonces:
                return "SignatureNonceUsed"
            self._nonces.add(nonce)
        return None

    def handle(self, request: Request) -> Reply:
        params = parse_qsl(urlsplit(request.target).query, keep_blank_values=True)
        problem = self._verify(request, params)
        if problem:
            status = 404 if problem.startswith("InvalidAccessKeyId") else 400
            return json_reply(status, {"Code": problem, "Message": "refused",
                                       "RequestId": "req"})
        with self._lock:
            injected = self.errors.pop(0) if self.errors else None
        if injected:
            return json_reply(200, {"Code": injected, "Message": "injected", "RequestId": "r"})
        q = dict(params)
        if request.headers.get("x-acs-action") != "SendSms":
            return json_reply(400, {"Code": "InvalidAction.NotFound", "Message": "?"})
        answer: dict[str, Any]
        if q.get("SignName") not in self.sign_names:
            answer = {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "signature illegal"}
        elif q.get("TemplateCode") not in self.templates:
            answer = {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "template illegal"}
        elif not re.fullmatch(r"1[3-9]\d{9}", q.get("PhoneNumbers", "")):
            answer = {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "illegal number"}
        elif q["PhoneNumbers"] in self.blacklist:
            answer = {"Code": "isv.BLACK_KEY_CONTROL_LIMIT", "Message": "blacklisted"}
        else:
            try:
                json.loads(q.get("TemplateParam") or "{}")
            except ValueError:
                return json_reply(200, {"Code": "isv.INVALID_JSON_PARAM", "Message": "json"})
            with self._lock:
                self.sent.append(q)
                answer = {"Code": "OK", "Message": "OK", "BizId": f"{len(self.sent):06d}^0"}
        return json_reply(200, {**answer, "RequestId": "req"})
