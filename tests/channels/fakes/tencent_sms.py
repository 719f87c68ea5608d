"""A fake Tencent Cloud SMS endpoint (``SendSms``, 2021-01-11) on loopback.

It verifies the TC3-HMAC-SHA256 ``Authorization`` header: the canonical request is
built here from the documented scheme and the signing key is derived by the official
SDK's own ``Sign.sign_tc3`` (``tencentcloud-sdk-python-common``), so a request the
official SDK signs is accepted — the test proves that first — and shopcrm's signer is
checked against the same verifier. Answers use Tencent's shapes and codes.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tencentcloud.common.sign import Sign

from .http import LoopbackServer, Reply, Request, json_reply

AUTH = re.compile(r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>[\d-]+)/(?P<service>\w+)"
                  r"/tc3_request, SignedHeaders=content-type;host, Signature=(?P<sig>[0-9a-f]+)$")


@dataclass
class FakeTencentSms:
    secret_id: str = "AKIDtest"
    secret_key: str = "tencent-test-key"
    sdk_app_id: str = "1400000001"
    sign_names: set[str] = field(default_factory=lambda: {"好物小店"})
    templates: set[str] = field(default_factory=lambda: {"1234567"})
    blacklist: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.errors: list[str] = []
        """Codes to answer the next requests with (``RequestLimitExceeded`` ...)."""
        self._lock = threading.Lock()
        self._server = LoopbackServer(self.handle)
        self.url = self._server.url
        self.host = f"127.0.0.1:{self._server.port}"

    def start(self) -> FakeTencentSms:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _error(self, code: str, message: str) -> Reply:
        return json_reply(200, {"Response": {"Error": {"Code": code, "Message": message},
                                             "RequestId": "req-error"}})

    def _verify(self, request: Request) -> str | None:
        h = request.headers
        match = AUTH.match(h.get("authorization", ""))
        if not match or match["id"] != self.secret_id:
            return "AuthFailure.SecretIdNotFound"
        timestamp = h.get("x-tc-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return "AuthFailure.SignatureExpire"
        date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
        canonical = (f"POST\n/\n\ncontent-type:{h.get('content-type')}\nhost:{h.get('host')}\n"
                     f"\ncontent-type;host\n{hashlib.sha256(request.body).hexdigest()}")
        to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{match['service']}/tc3_request\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        expected = Sign.sign_tc3(self.secret_key, date, match["service"], to_sign)
        if expected != match["sig"] or match["date"] != date:
            return "AuthFailure.SignatureFailure"
        return None

    def handle(self, request: Request) -> Reply:
        problem = self._verify(request)
        if problem:
            return self._error(problem, "authentication failed")
        with self._lock:
            injected = self.errors.pop(0) if self.errors else None
        if injected:
            return self._error(injected, "injected")
        if request.headers.get("x-tc-action") != "SendSms" or \
                request.headers.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction", "unknown action or version")
        body = request.json()
        if body.get("SmsSdkAppId") != self.sdk_app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist", "no such app")
        if body.get("SignName") not in self.sign_names:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved", "bad sign")
        if body.get("TemplateId") not in self.templates:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved", "bad template")
        statuses = []
        for phone in body.get("PhoneNumberSet", []):
            if not re.fullmatch(r"\+861[3-9]\d{9}", phone):
                statuses.append({"SerialNo": "", "PhoneNumber": phone, "Fee": 0,
                                 "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                                 "Message": "incorrect number"})
                continue
            if phone in self.blacklist:
                statuses.append({"SerialNo": "", "PhoneNumber": phone, "Fee": 0,
                                 "Code": "FailedOperation.PhoneNumberInBlacklist",
                                 "Message": "blacklisted"})
                continue
            with self._lock:
                self.sent.append({**body, "PhoneNumber": phone})
                serial = f"2433:{len(self.sent):012d}"
            statuses.append({"SerialNo": serial, "PhoneNumber": phone, "Fee": 1,
                             "SessionContext": body.get("SessionContext", ""), "Code": "Ok",
                             "Message": "send success", "IsoCode": "CN"})
        return json_reply(200, {"Response": {"SendStatusSet": statuses,
                                             "RequestId": "req-ok"}})
