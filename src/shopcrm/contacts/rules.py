"""Pure rules of contact points: what a valid openid / device token looks like, which
of a customer's addresses a message goes to, and what a provider's answer means.

No I/O: the service, the importer and dispatch share these, so the API and the CSV
import refuse exactly the same input with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ContactKind(StrEnum):
    WECHAT = "wechat"
    PUSH = "push"


class Platform(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    HARMONY = "harmony"


class ContactStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
"""A WeChat app id (``wx…``) or a mobile app's id (``com.shop.app``)."""
OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
"""WeChat openids and unionids are 28 characters of [A-Za-z0-9_-]; a little room."""
TOKEN = re.compile(r"^[\x21-\x7e]{8,512}$")
"""APNs tokens are 64 hex digits, FCM / HMS / JPush tokens longer printable strings:
printable ASCII without spaces."""


@dataclass(frozen=True)
class ContactInput:
    """One registration, validated: the same shape from the API and a CSV row."""

    kind: ContactKind
    app_id: str
    address: str
    platform: Platform | None = None
    unionid: str | None = None


def validate(*, kind: str, app_id: str, address: str, platform: str | None = None,
             unionid: str | None = None) -> ContactInput:
    """The registration as data, or ValueError with the reason in plain words."""
    kind = (kind or "").strip().lower()
    try:
        which = ContactKind(kind)
    except ValueError:
        raise ValueError(f"unknown kind {kind!r}: expected wechat or push") from None
    app_id, address = (app_id or "").strip(), (address or "").strip()
    if not APP_ID.match(app_id):
        raise ValueError(f"app id {app_id!r} is not an app id (letters, digits, . _ : -, "
                         "at most 64)")
    unionid = (unionid or "").strip() or None
    platform = (platform or "").strip().lower() or None
    if which is ContactKind.WECHAT:
        if not OPENID.match(address):
            raise ValueError("an openid is 6–64 letters, digits, _ or -")
        if platform is not None:
            raise ValueError("a WeChat openid has no platform")
        if unionid is not None and not OPENID.match(unionid):
            raise ValueError("a unionid is 6–64 letters, digits, _ or -")
        return ContactInput(which, app_id, address, None, unionid)
    if not TOKEN.match(address):
        raise ValueError("a device token is 8–512 printable characters without spaces")
    if platform is None:
        raise ValueError("a device token needs its platform: ios, android or harmony")
    try:
        chosen = Platform(platform)
    except ValueError:
        raise ValueError(f"unknown platform {platform!r}: expected ios, android or "
                         "harmony") from None
    if unionid is not None:
        raise ValueError("a device token has no unionid")
    return ContactInput(which, app_id, address, chosen, None)


@dataclass(frozen=True)
class Candidate:
    """An active contact point of a customer, as dispatch sees it."""

    customer_id: int
    address: str
    seen_at: datetime
    id: int


def newest(candidates: Iterable[Candidate]) -> dict[int, str]:
    """Each customer's address to use: the most recently registered active one.

    One delivery is one message with one idempotency key and one provider ID, so a
    customer gets one push (to the device they registered last — the one in use) and
    one WeChat message (an openid per app id is one person anyway), never one per
    device. Ties go to the later row.
    """
    best: dict[int, Candidate] = {}
    for c in candidates:
        held = best.get(c.customer_id)
        if held is None or (c.seen_at, c.id) > (held.seen_at, held.id):
            best[c.customer_id] = c
    return {cid: c.address for cid, c in best.items()}


def no_address_reason(channel: str, app_id: str | None) -> str:
    """Why a customer was skipped: the words dispatch records on the delivery."""
    scope = f" for app {app_id}" if app_id else ""
    if channel == "wechat":
        return f"no active WeChat openid{scope}"
    if channel == "push":
        return f"no active push device token{scope}"
    return f"no {channel} address"


def mask_contact(value: str) -> str:
    """An openid or token for callers without ``view_pii``: enough to tell two apart
    (``oAbC****xY9z``), not enough to send to."""
    if len(value) <= 8:
        return "****"
    return f"{value[:4]}****{value[-4:]}"
