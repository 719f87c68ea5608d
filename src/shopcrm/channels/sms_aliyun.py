"""SMS through Alibaba Cloud SMS (Dysms API 2017-05-25, ``SendSms``), signed with
ACS3-HMAC-SHA256 (Alibaba Cloud's V3 request signature).

The request is RPC style: ``POST /`` with the parameters in the query string and an
empty body. The signature covers a canonical request — method, path, the query
parameters sorted and RFC 3986-encoded, the signed headers (``host`` and every
``x-acs-*``) lower-cased and sorted, and the body's SHA-256 — hashed into the string to
sign and HMAC'd with the AccessKey secret. ``x-acs-signature-nonce`` and ``x-acs-date``
let the service refuse replays. Templates only (``TemplateCode`` plus ``TemplateParam``
as a JSON object of the message's ``params``); the signature (签名) is ``SignName``; the
delivery key goes out as ``OutId`` and comes back in receipts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx

from shopcrm.channels.base import (
    ChannelKind,
    Message,
    SendResult,
    http_client,
    http_status_result,
)

API_VERSION = "2017-05-25"
TRANSIENT_CODES = frozenset({
    "isv.BUSINESS_LIMIT_CONTROL",  # per-number / per-minute flow control
    "Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable",
    "InternalError", "isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY",
    "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE",  # account balance: retry after top-up
})


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Parameters sorted by name, names and values RFC 3986-encoded (``%20``, ``%2A``)."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))


def acs3_signature(secret: str, *, method: str, path: str, params: Mapping[str, str],
                   headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """``(signed headers, hex signature)`` of a request by ACS3-HMAC-SHA256; every header
    given is signed."""
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    names = sorted(lowered)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed = ";".join(names)
    canonical_request = "\n".join([method, path, canonical_query(params), canonical_headers,
                                   signed, hashlib.sha256(body).hexdigest()])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return signed, signature


@dataclass(frozen=True)
class AliyunSmsSettings:
    access_key_id: str
    access_key_secret: str
    sign_name: str
    template_code: str | None = None
    endpoint: str = "https://dysmsapi.aliyuncs.com"
    timeout: float = 10.0


def aliyun_number(phone: str) -> str:
    """Alibaba Cloud wants a mainland mobile as its 11 digits and others as country code
    plus number without ``+`` or ``00``."""
    number = phone.strip().replace(" ", "").replace("-", "")
    if number.startswith("+86") and len(number) == 14:
        return number[3:]
    if number.startswith("0086") and len(number) == 15:
        return number[4:]
    if number.startswith("+"):
        return number[1:]
    if number.startswith("00"):
        return number[2:]
    return number


class AliyunSmsChannel:
    """One ``SendSms`` request per message."""

    kind = ChannelKind.SMS

    def __init__(self, settings: AliyunSmsSettings, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._host = urlsplit(settings.endpoint).netloc
        self._client = http_client(base_url=settings.endpoint, timeout=settings.timeout,
                                   transport=transport)

    def params(self, message: Message) -> dict[str, str]:
        template = message.template_id or self.settings.template_code
        if not template:
            raise ValueError(f"message {message.key}: Alibaba Cloud SMS sends templates only")
        return {"PhoneNumbers": aliyun_number(message.to), "SignName": self.settings.sign_name,
                "TemplateCode": template,
                "TemplateParam": json.dumps(dict(message.params), ensure_ascii=False),
                "OutId": message.key}

    def send(self, message: Message) -> SendResult:
        try:
            params = self.params(message)
        except ValueError as exc:
            return SendResult.permanent(str(exc))
        body = b""
        headers = {
            "host": self._host, "x-acs-action": "SendSms", "x-acs-version": API_VERSION,
            "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": secrets.token_hex(16),
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest()}
        signed, signature = acs3_signature(self.settings.access_key_secret, method="POST",
                                           path="/", params=params, headers=headers,
                                           body=body)
        headers["Authorization"] = (f"ACS3-HMAC-SHA256 Credential={self.settings.access_key_id},"
                                    f"SignedHeaders={signed},Signature={signature}")
        try:
            response = self._client.post(f"/?{canonical_query(params)}", content=body,
                                         headers={**headers, "accept": "application/json"})
        except httpx.TransportError as exc:
            return SendResult.transient(f"Alibaba Cloud SMS unreachable: {exc!r}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or "Code" not in data:
            if response.status_code != 200:
                return http_status_result(response.status_code, response.reason_phrase,
                                          response.headers.get("Retry-After"))
            return SendResult.transient("Alibaba Cloud SMS answered without a Code")
        code = str(data["Code"])
        if code == "OK" and response.status_code == 200:
            return SendResult.accepted(str(data.get("BizId") or "") or None)
        reason = f"{code}: {data.get('Message', '')}"
        if code in TRANSIENT_CODES or response.status_code >= 500 or \
                response.status_code == 429:
            return SendResult.transient(reason)
        return SendResult.permanent(reason)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AliyunSmsChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
