"""WeChat template messages (Official Account, 模板消息) and subscription messages
(Mini Program, 订阅消息) over the WeChat HTTP API.

Protocol: ``GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`` gives an
``access_token`` valid ``expires_in`` seconds (7,200); messages are POSTed to
``/cgi-bin/message/template/send`` or ``/cgi-bin/message/subscribe/send`` with
``?access_token=…`` and a body naming the openid (``touser``), the ``template_id``, the
link (``url`` / ``page``) and ``data`` as ``{"field": {"value": "…"}}``. Answers carry
``errcode`` (0 is success) and ``msgid``.

The token is cached until five minutes before it expires (time from an injected clock)
and fetched again when the API says it is invalid or expired (40001, 40014, 42001),
then the send is retried once. Error codes decide the outcome: system busy and rate
limits are transient; an openid that does not follow the account, refused the
subscription or is invalid, or an unknown template, is permanent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from shopcrm.channels.base import (
    ChannelKind,
    DeliveryStatus,
    Message,
    SendResult,
    http_client,
    http_status_result,
)
from shopcrm.clock import Clock, SystemClock

TOKEN_INVALID = frozenset({40001, 40014, 42001})
TRANSIENT_CODES = frozenset({-1, 45009, 45011, 45047})
"""-1 system busy; 45009 daily API quota; 45011 API frequency; 45047 too many messages."""
ADDRESS_GONE = frozenset({40003, 43004, 43101})
"""40003 invalid openid; 43004 the user does not follow the account (unfollowed);
43101 the user refused the subscription message: the openid is disabled."""
REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class WeChatSettings:
    appid: str
    secret: str
    kind: Literal["template", "subscribe"] = "template"
    api_base: str = "https://api.weixin.qq.com"
    miniprogram_state: str | None = None
    """Subscription messages: ``developer`` / ``trial`` / ``formal``."""
    timeout: float = 10.0


class WeChatTokenError(RuntimeError):
    """The access token could not be fetched."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class WeChatChannel:
    """Sends template or subscription messages; ``Message.to`` is the openid,
    ``template_id`` the approved template, ``params`` its fields, ``url`` the link."""

    kind = ChannelKind.WECHAT

    def __init__(self, settings: WeChatSettings, *, clock: Clock | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        self._client = http_client(base_url=settings.api_base, timeout=settings.timeout,
                                    transport=transport)
        self._token: str | None = None
        self._token_expires: datetime | None = None
        self.token_fetches = 0

    def _access_token(self, *, force: bool = False) -> str:
        now = self._clock.now()
        if (not force and self._token and self._token_expires
                and now < self._token_expires - REFRESH_MARGIN):
            return self._token
        try:
            response = self._client.get("/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": self.settings.appid,
                "secret": self.settings.secret})
        except httpx.TransportError as exc:
            raise WeChatTokenError(f"WeChat API unreachable: {exc!r}", transient=True) from exc
        self.token_fetches += 1
        if response.status_code != 200:
            failure = http_status_result(response.status_code, response.reason_phrase)
            raise WeChatTokenError(f"token: {failure.reason}",
                                   transient=failure.status is DeliveryStatus.TRANSIENT)
        data = response.json()
        if data.get("errcode"):
            code = int(data["errcode"])
            raise WeChatTokenError(f"token: errcode {code}: {data.get('errmsg', '')}",
                                   transient=code in TRANSIENT_CODES)
        self._token = str(data["access_token"])
        self._token_expires = now + timedelta(seconds=int(data.get("expires_in", 7200)))
        return self._token

    def payload(self, message: Message) -> dict[str, Any]:
        if not message.template_id:
            raise ValueError(f"message {message.key}: WeChat needs a template ID")
        body: dict[str, Any] = {
            "touser": message.to, "template_id": message.template_id,
            "data": {name: {"value": value} for name, value in message.params.items()}}
        if self.settings.kind == "template":
            if message.url:
                body["url"] = message.url
            body["client_msg_id"] = message.key[:64]  # WeChat de-duplicates on it
        else:
            if message.url:
                body["page"] = message.url
            if self.settings.miniprogram_state:
                body["miniprogram_state"] = self.settings.miniprogram_state
            body["lang"] = "zh_CN" if message.language.startswith("zh") else "en_US"
        return body

    def send(self, message: Message) -> SendResult:
        try:
            payload = self.payload(message)
        except ValueError as exc:
            return SendResult.permanent(str(exc))
        path = f"/cgi-bin/message/{self.settings.kind}/send"
        for attempt in (1, 2):
            try:
                token = self._access_token(force=attempt == 2)
                response = self._client.post(path, params={"access_token": token}, json=payload)
            except WeChatTokenError as exc:
                if exc.transient:
                    return SendResult.transient(str(exc))
                return SendResult.permanent(str(exc))
            except httpx.TransportError as exc:
                return SendResult.transient(f"WeChat API unreachable: {exc!r}")
            if response.status_code != 200:
                return http_status_result(response.status_code, response.reason_phrase,
                                          response.headers.get("Retry-After"))
            data = response.json()
            code = int(data.get("errcode", 0))
            if code == 0:
                msgid = data.get("msgid")
                return SendResult.accepted(str(msgid) if msgid is not None else None)
            reason = f"errcode {code}: {data.get('errmsg', '')}"
            if code in TOKEN_INVALID and attempt == 1:
                self._token = None
                continue
            if code in TRANSIENT_CODES:
                return SendResult.transient(reason)
            return SendResult.permanent(reason, address_gone=code in ADDRESS_GONE)
        return SendResult.transient("access token rejected twice")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WeChatChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
