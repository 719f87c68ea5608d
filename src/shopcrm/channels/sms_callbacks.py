"""What Tencent Cloud and Alibaba Cloud SMS push back: status reports and replies.

Both clouds call a URL the shop registers in their console (HTTP push mode) with JSON
in their own shapes, unsigned — so the URL carries a secret token
(:meth:`shopcrm.campaigns.config.CampaignSettings.callback_token`) and these pure
parsers turn the bodies into the :class:`~shopcrm.channels.sms.Receipt` and
:class:`~shopcrm.channels.sms.InboundReply` the generic gateway's callbacks give, so the
same handlers mark deliveries and turn 退订 / TD / T into suppressions.

- Tencent (SMS API 2021-01-11): a status report is a JSON array of
  ``{"user_receive_time", "nationcode", "mobile", "report_status": "SUCCESS"|"FAIL",
  "errmsg", "description", "sid", "ext"}`` — ``sid`` is the ``SerialNo`` the send
  returned, ``ext`` the ``SessionContext`` it carried (shopcrm's delivery key). A reply
  is one object ``{"extend", "mobile", "nationcode", "sign", "text", "time"}`` (Unix
  seconds). Tencent wants ``{"result": 0, "errmsg": "OK"}`` back.
- Alibaba Cloud (Dysms HTTP batch push): ``SmsReport`` is an array of
  ``{"phone_number", "send_time", "report_time", "success", "err_code", "err_msg",
  "sms_size", "biz_id", "out_id"}`` — ``biz_id`` from the send, ``out_id`` the delivery
  key; ``SmsUp`` an array of ``{"phone_number", "send_time", "content", "sign_name",
  "dest_code", "sequence_id"}``. Alibaba wants ``{"code": 0, "msg": "成功"}``.

Times without a zone are Beijing time (both clouds document them so). A reply without an
ID of its own (Tencent's) gets one derived from number, time and text, so a callback
the cloud repeats is recognised as the same reply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from shopcrm.channels.sms import InboundReply, Receipt

Provider = Literal["tencent", "aliyun"]
PROVIDERS: tuple[Provider, ...] = ("tencent", "aliyun")
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

ANSWERS: dict[str, dict[str, Any]] = {
    "tencent": {"result": 0, "errmsg": "OK"},
    "aliyun": {"code": 0, "msg": "成功"},
}
"""The body each cloud expects from a callback it may stop retrying."""

MAX_ITEMS = 10_000
"""More items than a cloud ever pushes at once: refused rather than processed."""


class CallbackError(ValueError):
    """The body is not a report or reply of this cloud (the message says what is wrong)."""


def beijing_time(value: object) -> datetime | None:
    """``2026-11-20 21:05:09`` (Beijing), an ISO time with a zone, or Unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CallbackError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise CallbackError(f"not a time: {value!r}") from exc
    text = str(value).strip()
    if text.isdigit():
        return beijing_time(int(text))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CallbackError(f"not a time: {text[:40]!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BEIJING)
    return moment.astimezone(UTC)


def _items(data: Any, what: str) -> list[Mapping[str, Any]]:
    items = [data] if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise CallbackError(f"expected a JSON array of {what}")
    if len(items) > MAX_ITEMS:
        raise CallbackError(f"more than {MAX_ITEMS:,} {what} in one call")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise CallbackError(f"item {index}: expected an object")
    return items


def _text(item: Mapping[str, Any], key: str, index: int, *, required: bool = True) -> str:
    value = item.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise CallbackError(f"item {index}: {key!r} is missing")
        return ""
    if isinstance(value, dict | list | bool):
        raise CallbackError(f"item {index}: {key!r} must be text or a number")
    return str(value).strip()


def _phone(item: Mapping[str, Any], key: str, index: int, nation: str | None = None) -> str:
    number = _text(item, key, index)
    if nation and not number.startswith("+"):
        code = nation.lstrip("+")
        return f"+{code}{number}" if code != "86" else number
    return number


def _at(item: Mapping[str, Any], key: str, index: int) -> datetime | None:
    try:
        return beijing_time(item.get(key))
    except CallbackError as exc:
        raise CallbackError(f"item {index}: {key!r}: {exc}") from exc


def tencent_receipts(data: Any) -> list[Receipt]:
    """Tencent's status report (``report_status`` SUCCESS / FAIL)."""
    receipts = []
    for index, item in enumerate(_items(data, "status reports")):
        status = _text(item, "report_status", index).upper()
        if status not in ("SUCCESS", "FAIL"):
            raise CallbackError(f"item {index}: unknown report_status {status[:20]!r}")
        detail = _text(item, "errmsg", index, required=False)
        receipts.append(Receipt(
            provider_message_id=_text(item, "sid", index),
            phone=_phone(item, "mobile", index, _text(item, "nationcode", index,
                                                      required=False) or None),
            delivered=status == "SUCCESS", status=status,
            error=None if status == "SUCCESS" else (detail or None),
            at=_at(item, "user_receive_time", index),
            out_id=_text(item, "ext", index, required=False) or None))
    return receipts


def tencent_replies(data: Any) -> list[InboundReply]:
    """Tencent's reply push (one object per reply, sometimes an array)."""
    replies = []
    for index, item in enumerate(_items(data, "replies")):
        phone = _phone(item, "mobile", index, _text(item, "nationcode", index,
                                                    required=False) or None)
        text = _text(item, "text", index, required=False)
        at = _at(item, "time", index)
        stamp = _text(item, "time", index, required=False)
        digest = hashlib.sha256(f"{phone}|{stamp}|{text}".encode()).hexdigest()[:24]
        replies.append(InboundReply(reply_id=f"tencent:{digest}", phone=phone, text=text,
                                    at=at))
    return replies


def _success(value: object, index: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise CallbackError(f"item {index}: 'success' must be true or false")


def aliyun_receipts(data: Any) -> list[Receipt]:
    """Alibaba Cloud's ``SmsReport`` push."""
    receipts = []
    for index, item in enumerate(_items(data, "status reports")):
        delivered = _success(item.get("success"), index)
        code = _text(item, "err_code", index, required=False)
        receipts.append(Receipt(
            provider_message_id=_text(item, "biz_id", index),
            phone=_phone(item, "phone_number", index),
            delivered=delivered, status=code or ("DELIVERED" if delivered else "FAILED"),
            error=None if delivered else (
                f"{code}: {_text(item, 'err_msg', index, required=False)}".strip(": ")
                or None),
            at=_at(item, "report_time", index),
            out_id=_text(item, "out_id", index, required=False) or None))
    return receipts


def aliyun_replies(data: Any) -> list[InboundReply]:
    """Alibaba Cloud's ``SmsUp`` push."""
    replies = []
    for index, item in enumerate(_items(data, "replies")):
        replies.append(InboundReply(
            reply_id=f"aliyun:{_text(item, 'sequence_id', index)}",
            phone=_phone(item, "phone_number", index),
            text=_text(item, "content", index, required=False),
            at=_at(item, "send_time", index)))
    return replies


def parse(provider: str, kind: str, data: Any) -> list[Receipt] | list[InboundReply]:
    """The receipts (``kind`` = ``receipts``) or replies of a cloud's callback body."""
    if kind == "receipts" and provider in PROVIDERS:
        return tencent_receipts(data) if provider == "tencent" else aliyun_receipts(data)
    if kind == "replies" and provider in PROVIDERS:
        return tencent_replies(data) if provider == "tencent" else aliyun_replies(data)
    raise LookupError(f"no {kind!r} callback for {provider!r}")
