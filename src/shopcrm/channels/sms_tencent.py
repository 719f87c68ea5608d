"""SMS through Tencent Cloud SMS (API 2021-01-11, ``SendSms``), signed with TC3-HMAC-SHA256.

Tencent's API is not the flat JSON shape of :mod:`shopcrm.channels.sms`: every request
is signed with the documented TC3 scheme (a canonical request over method, path,
``content-type`` and ``host`` headers and the body hash; a signing key derived from the
secret, the UTC date and the service), the answer is nested under ``Response`` with a
``SendStatusSet`` per number or an ``Error``. Templates only: ``Message.params`` fill
the template's ``{1}``, ``{2}`` … in the order given; the signature (签名) is added by
Tencent. The delivery key goes out as ``SessionContext`` and comes back in receipts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from shopcrm.channels.base import (
    ChannelKind,
    Message,
    SendResult,
    http_client,
    http_status_result,
)

API_VERSION = "2021-01-11"
SERVICE = "sms"
CONTENT_TYPE = "application/json"
TRANSIENT_PREFIXES = ("InternalError", "RequestLimitExceeded",
                      "LimitExceeded.DeliveryFrequencyLimit", "FailedOperation.InsufficientBalance")
"""Codes worth retrying later (a topped-up balance, a passed rate limit); every other
code — an invalid number, a blacklisted number, an unapproved template — is permanent."""


def tc3_signature(secret_key: str, *, timestamp: int, host: str, body: bytes,
                  service: str = SERVICE, method: str = "POST", uri: str = "/",
                  content_type: str = CONTENT_TYPE) -> tuple[str, str]:
    """``(credential scope, hex signature)`` of a request by the TC3-HMAC-SHA256 scheme."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join([
        method, uri, "", f"content-type:{content_type}\nhost:{host}\n", "content-type;host",
        hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join([
        "TC3-HMAC-SHA256", str(timestamp), scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])

    def digest(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()

    signing_key = digest(digest(digest(f"TC3{secret_key}".encode(), date), service),
                         "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    return scope, signature


@dataclass(frozen=True)
class TencentSmsSettings:
    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    template_id: str | None = None
    region: str = "ap-guangzhou"
    endpoint: str = "https://sms.tencentcloudapi.com"
    timeout: float = 10.0


def e164(phone: str) -> str:
    """Tencent wants ``+86…``; an 11-digit mainland mobile without a prefix gets one."""
    digits = phone.strip()
    if digits.startswith("+"):
        return digits
    if len(digits) == 11 and digits.startswith("1") and digits.isdigit():
        return f"+86{digits}"
    return digits


def _outcome(code: str, message: str, serial: str | None) -> SendResult:
    if code == "Ok":
        return SendResult.accepted(serial)
    reason = f"{code}: {message}"
    if code.startswith(TRANSIENT_PREFIXES):
        return SendResult.transient(reason)
    return SendResult.permanent(reason)


class TencentSmsChannel:
    """One ``SendSms`` request per message."""

    kind = ChannelKind.SMS

    def __init__(self, settings: TencentSmsSettings, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._host = urlsplit(settings.endpoint).netloc
        self._client = http_client(base_url=settings.endpoint, timeout=settings.timeout,
                                   transport=transport)

    def payload(self, message: Message) -> dict[str, Any]:
        template = message.template_id or self.settings.template_id
        if not template:
            raise ValueError(f"message {message.key}: Tencent SMS sends templates only")
        return {"PhoneNumberSet": [e164(message.to)], "SmsSdkAppId": self.settings.sdk_app_id,
                "SignName": self.settings.sign_name, "TemplateId": template,
                "TemplateParamSet": [str(v) for v in message.params.values()],
                "SessionContext": message.key}

    def send(self, message: Message) -> SendResult:
        try:
            body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        except ValueError as exc:
            return SendResult.permanent(str(exc))
        s = self.settings
        timestamp = int(time.time())
        scope, signature = tc3_signature(s.secret_key, timestamp=timestamp, host=self._host,
                                         body=body)
        headers = {
            "Authorization": f"TC3-HMAC-SHA256 Credential={s.secret_id}/{scope}, "
                             f"SignedHeaders=content-type;host, Signature={signature}",
            "Content-Type": CONTENT_TYPE, "Host": self._host, "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp), "X-TC-Version": API_VERSION,
            "X-TC-Region": s.region}
        try:
            response = self._client.post("/", content=body, headers=headers)
        except httpx.TransportError as exc:
            return SendResult.transient(f"Tencent SMS unreachable: {exc!r}")
        if response.status_code != 200:
            return http_status_result(response.status_code, response.reason_phrase,
                                      response.headers.get("Retry-After"))
        try:
            answer = response.json()["Response"]
        except (ValueError, KeyError, TypeError):
            return SendResult.transient("Tencent SMS answered without a Response")
        if "Error" in answer:
            error = answer["Error"]
            return _outcome(str(error.get("Code", "")), str(error.get("Message", "")), None)
        statuses = answer.get("SendStatusSet") or []
        if len(statuses) != 1:
            return SendResult.transient(f"expected one send status, got {len(statuses)}")
        status = statuses[0]
        return _outcome(str(status.get("Code", "")), str(status.get("Message", "")),
                        status.get("SerialNo"))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TencentSmsChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
