"""SMS through an HTTP gateway (httpx), configurable for the common cloud SMS providers.

Chinese SMS providers share one shape: a JSON (or form) request naming the phone
numbers, the registered signature (签名, shown as 【店铺名】), a pre-approved template
ID (模板) with its parameters, and an ``out_id`` the provider echoes in receipts; a
response with a business code ("OK") and the provider's message ID; delivery receipts
(状态报告) pushed to a callback or pulled; inbound replies (上行短信) likewise. The
field names differ per provider, so they are data (:class:`SmsFieldMap`); the profile
``generic`` is shopcrm's own documented gateway protocol (aggregators and relays),
``aliyun-style`` uses Aliyun Dysms' field names and codes. Authentication is a bearer
token or an HMAC-SHA256 request signature (see :func:`hmac_signature`). The two big
clouds' own APIs and signatures have their own modules: :mod:`.sms_tencent` (TC3) and
:mod:`.sms_aliyun` (ACS3).

Outcomes: HTTP 429 and 5xx, transport errors and the provider's throttling codes are
transient (with Retry-After when given); a rejected number, a blacklisted number or a
bad signature is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from shopcrm.channels.base import (
    ChannelKind,
    Message,
    SendResult,
    http_client,
    http_status_result,
)


@dataclass(frozen=True)
class SmsFieldMap:
    """The provider's words for the request and response fields."""

    phone: str = "phone"
    sign: str = "sign_name"
    template: str = "template_id"
    params: str = "params"
    params_as_json_string: bool = False
    content: str | None = "content"
    out_id: str = "out_id"
    code: str = "code"
    ok_code: str = "OK"
    message: str = "message"
    message_id: str = "message_id"
    transient_codes: frozenset[str] = frozenset({"Throttled", "SystemBusy"})


PROFILES: Mapping[str, SmsFieldMap] = {
    "generic": SmsFieldMap(),
    "aliyun-style": SmsFieldMap(
        phone="PhoneNumbers", sign="SignName", template="TemplateCode", params="TemplateParam",
        params_as_json_string=True, content=None, out_id="OutId", code="Code", ok_code="OK",
        message="Message", message_id="BizId",
        transient_codes=frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR",
                                   "SignatureNonceUsed"})),
}


@dataclass(frozen=True)
class SmsGatewaySettings:
    """One SMS provider account."""

    base_url: str
    signature: str
    """The registered signature, without 【】 (the provider adds them)."""
    template_id: str | None = None
    """Default template when a message names none."""
    profile: str = "generic"
    auth: Literal["none", "bearer", "hmac-sha256"] = "hmac-sha256"
    access_key_id: str = ""
    access_key_secret: str = ""
    send_path: str = "/sms/send"
    batch_path: str = "/sms/send-batch"
    receipts_path: str = "/sms/receipts"
    replies_path: str = "/sms/replies"
    timeout: float = 10.0
    fields: SmsFieldMap = field(init=False)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown SMS provider profile {self.profile!r}; "
                             f"known: {', '.join(sorted(PROFILES))}")
        object.__setattr__(self, "fields", PROFILES[self.profile])
        if self.auth != "none" and not (self.access_key_id and self.access_key_secret):
            raise ValueError(f"SMS auth {self.auth!r} needs access_key_id and access_key_secret")


def hmac_signature(secret: str, *, method: str, path: str, timestamp: str, nonce: str,
                   body: bytes) -> str:
    """Hex HMAC-SHA256 over ``METHOD\\npath\\ntimestamp\\nnonce\\nsha256(body)``.

    Signing the timestamp and a nonce lets the gateway refuse replays; signing the body
    hash lets it refuse tampering. Verifiers compare with ``hmac.compare_digest``.
    """
    canonical = "\n".join([method.upper(), path, timestamp, nonce,
                           hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode("utf-8"), canonical.encode("utf-8"),
                    hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """A delivery report: did the handset get it?"""

    provider_message_id: str
    phone: str
    delivered: bool
    status: str
    error: str | None
    at: datetime | None
    out_id: str | None = None


@dataclass(frozen=True)
class InboundReply:
    """An SMS a customer sent back (for 退订 / TD / T)."""

    reply_id: str
    phone: str
    text: str
    at: datetime | None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_receipt(item: Mapping[str, Any]) -> Receipt:
    """A receipt from the gateway's JSON (pull response or callback body)."""
    status = str(item.get("status", ""))
    return Receipt(provider_message_id=str(item["message_id"]), phone=str(item.get("phone", "")),
                   delivered=status.upper() in ("DELIVRD", "DELIVERED", "SUCCESS"),
                   status=status, error=item.get("error_code") or None,
                   at=_parse_time(item.get("at")), out_id=item.get("out_id"))


def parse_reply(item: Mapping[str, Any]) -> InboundReply:
    """An inbound reply from the gateway's JSON (pull response or callback body)."""
    return InboundReply(reply_id=str(item["reply_id"]), phone=str(item["phone"]),
                        text=str(item.get("text", "")), at=_parse_time(item.get("at")))


class HttpSmsChannel:
    """Sends SMS through a provider's HTTP API and pulls receipts and replies."""

    kind = ChannelKind.SMS

    def __init__(self, settings: SmsGatewaySettings, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._client = http_client(base_url=settings.base_url, timeout=settings.timeout,
                                    transport=transport,
                                    headers={"Content-Type": "application/json"})

    # -- requests ---------------------------------------------------------------------

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        s = self.settings
        if s.auth == "bearer":
            return {"Authorization": f"Bearer {s.access_key_secret}",
                    "X-Access-Key": s.access_key_id}
        if s.auth == "hmac-sha256":
            timestamp, nonce = str(int(time.time())), secrets.token_hex(12)
            signature = hmac_signature(s.access_key_secret, method=method, path=path,
                                       timestamp=timestamp, nonce=nonce, body=body)
            return {"X-Access-Key": s.access_key_id, "X-Timestamp": timestamp,
                    "X-Nonce": nonce, "X-Signature": signature}
        return {}

    def _request(self, method: str, path: str, payload: object | None = None,
                 params: Mapping[str, str] | None = None) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        signed_path = path if not params else f"{path}?{httpx.QueryParams(params)}"
        return self._client.request(method, path, content=body or None, params=params,
                                    headers=self._headers(method, signed_path, body))

    def payload(self, message: Message) -> dict[str, Any]:
        """The provider request for one message (public for previews and tests)."""
        f, s = self.settings.fields, self.settings
        template = message.template_id or s.template_id
        item: dict[str, Any] = {f.phone: message.to, f.sign: s.signature, f.out_id: message.key}
        if template:
            item[f.template] = template
            params = dict(message.params)
            item[f.params] = (json.dumps(params, ensure_ascii=False)
                              if f.params_as_json_string else params)
        if f.content is not None:
            item[f.content] = message.body
        elif not template:
            raise ValueError(f"profile {s.profile!r} sends templates only: "
                             f"message {message.key} has no template ID")
        return item

    def _result(self, data: Mapping[str, Any]) -> SendResult:
        f = self.settings.fields
        code = str(data.get(f.code, ""))
        if code == f.ok_code:
            return SendResult.accepted(str(data.get(f.message_id) or "") or None)
        reason = f"{code}: {data.get(f.message, '')}".strip()
        if code in f.transient_codes:
            return SendResult.transient(reason)
        return SendResult.permanent(reason)

    def _failure(self, response: httpx.Response) -> SendResult:
        f = self.settings.fields
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get(f.code) and response.status_code != 429 \
                and response.status_code < 500:
            return self._result(data)
        reason = (data.get(f.message) if isinstance(data, dict) else None) \
            or response.reason_phrase
        return http_status_result(response.status_code, str(reason),
                                  response.headers.get("Retry-After"))

    # -- the interface ----------------------------------------------------------------

    def send(self, message: Message) -> SendResult:
        try:
            payload = self.payload(message)
        except ValueError as exc:
            return SendResult.permanent(str(exc))
        try:
            response = self._request("POST", self.settings.send_path, payload)
        except httpx.TransportError as exc:
            return SendResult.transient(f"SMS gateway unreachable: {exc!r}")
        if response.status_code != 200:
            return self._failure(response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return SendResult.transient("SMS gateway answered with something other than a "
                                        "JSON object")
        return self._result(data)

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        """Up to the provider's batch size in one request; one result per message, in
        order. A throttled or failed request makes every message's result transient."""
        results: list[SendResult | None] = [None] * len(messages)
        items = []
        for index, message in enumerate(messages):
            try:
                items.append((index, self.payload(message)))
            except ValueError as exc:
                results[index] = SendResult.permanent(str(exc))
        if items:
            try:
                response = self._request("POST", self.settings.batch_path,
                                         {"items": [item for _, item in items]})
            except httpx.TransportError as exc:
                failure = SendResult.transient(f"SMS gateway unreachable: {exc!r}")
                response = None
            if response is not None and response.status_code != 200:
                failure = self._failure(response)
                response = None
            answers: list[Any] | None = None
            if response is not None:
                try:
                    body = response.json()
                    answers = body.get("results") if isinstance(body, dict) else None
                except ValueError:
                    answers = None
                if not isinstance(answers, list) or len(answers) != len(items):
                    # A malformed answer says nothing about any single message: retry all
                    # (out_id de-duplication keeps the ones that did go from going twice).
                    failure = SendResult.transient("SMS gateway answered a batch with "
                                                   "an unreadable or incomplete result list")
                    answers = None
            if answers is None:
                for index, _ in items:
                    results[index] = failure
            else:
                for (index, _), answer in zip(items, answers, strict=True):
                    results[index] = self._result(answer if isinstance(answer, dict) else {})
        return [r if r is not None else SendResult.transient("not sent") for r in results]

    def pull_receipts(self, cursor: str = "0") -> tuple[list[Receipt], str]:
        """Delivery receipts after ``cursor`` and the cursor to ask from next time."""
        response = self._request("GET", self.settings.receipts_path, params={"cursor": cursor})
        response.raise_for_status()
        data = response.json()
        return ([parse_receipt(item) for item in data.get("receipts", [])],
                str(data.get("next_cursor", cursor)))

    def pull_replies(self, cursor: str = "0") -> tuple[list[InboundReply], str]:
        """Inbound replies after ``cursor`` and the cursor to ask from next time."""
        response = self._request("GET", self.settings.replies_path, params={"cursor": cursor})
        response.raise_for_status()
        data = response.json()
        return ([parse_reply(item) for item in data.get("replies", [])],
                str(data.get("next_cursor", cursor)))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpSmsChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
