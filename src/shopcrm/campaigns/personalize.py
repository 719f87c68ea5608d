"""The per-customer values a message may use, loaded for a whole batch at once.

Profile fields come from the customer row (the only place personal data lives), tier
and points from the loyalty account and its lots, recommendations from the
warehouse (:mod:`shopcrm.campaigns.recommend`); a batch costs a few ``IN (…)``
queries, not a query per customer. Only what the templates use is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.store.idlist import in_list, list_value
from shopcrm.store.models import Customer

_CHUNK = 2000


@dataclass(frozen=True)
class Recipient:
    """What dispatch needs to know about one customer."""

    customer_id: int
    status: str
    name: str | None
    phone: str | None
    email: str | None
    city: str | None
    province: str | None
    gender: str | None
    contact: str | None = None
    """The openid (wechat) or device token (push) :func:`recipients` found for the
    channel it was asked for; None when the customer has none."""
    contact_app: str | None = None
    """The app id that lookup was confined to (for the skip reason)."""

    def profile(self) -> dict[str, Any]:
        name = self.name or ""
        surname = name[:1] if name and "\u4e00" <= name[0] <= "\u9fff" else (
            name.split()[-1] if name else "")
        return {"id": self.customer_id, "name": name, "surname": surname,
                "city": self.city or "", "province": self.province or "",
                "gender": self.gender or ""}

    def address(self, channel: str) -> str | None:
        if channel == "sms":
            return self.phone
        if channel == "email":
            return self.email
        if channel in CONTACT_CHANNELS:
            return self.contact
        # inbox, webhook, file: addressed by the customer ID (the inbox table, or the
        # receiving side resolves it)
        return str(self.customer_id)

    def no_address_reason(self, channel: str) -> str:
        """Why :meth:`address` is empty: what a skipped delivery records."""
        from shopcrm.contacts.rules import no_address_reason

        return no_address_reason(channel, self.contact_app)


CONTACT_CHANNELS = frozenset({"wechat", "push"})
"""Channels whose address is a contact point (:mod:`shopcrm.contacts`)."""


def recipients(session: Session, customer_ids: Sequence[int], *, channel: str | None = None,
               app_id: str | None = None) -> dict[int, Recipient]:
    """The batch's recipients in one query (the IDs bound as one value, see
    :mod:`shopcrm.store.idlist`): dispatch's only way of loading who it sends to. For
    WeChat and push each with their contact point (the newest active openid / device
    token of ``app_id``, any app's when None)."""
    dialect = session.get_bind().dialect.name
    c = Customer.__table__.c  # Core columns: plain rows, no ORM loading per row
    query = select(c.id, c.status, c.name, c.phone, c.email, c.city, c.province, c.gender
                   ).where(in_list(c.id, dialect, "ids"))
    rows = session.execute(query, {"ids": list_value(set(customer_ids), dialect)})
    found = {int(row[0]): Recipient(int(row[0]), *row[1:]) for row in rows}
    if channel in CONTACT_CHANNELS:
        from dataclasses import replace

        from shopcrm.contacts.service import active_addresses

        assert channel is not None
        addresses = active_addresses(session, list(found), kind=channel, app_id=app_id)
        found = {cid: replace(person, contact=addresses.get(cid), contact_app=app_id)
                 for cid, person in found.items()}
    return found


def loyalty_values(session: Session, customer_ids: Sequence[int], *,
                   now: datetime) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """(tier, points) per customer: tier code and name; balance, the points of the
    next expiring lots and that date (members who never joined: the lowest tier, 0)."""
    from shopcrm.loyalty.ledger import get_config
    from shopcrm.loyalty.models import LoyaltyAccount, PointLot

    config = get_config(session)
    ids = sorted(set(customer_ids))
    accounts: dict[int, tuple[int, str | None]] = {}
    expiring: dict[int, tuple[datetime, int]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for cid, points, held_tier in session.execute(select(
                LoyaltyAccount.customer_id, LoyaltyAccount.balance, LoyaltyAccount.tier)
                .where(LoyaltyAccount.customer_id.in_(chunk))):
            accounts[int(cid)] = (int(points), held_tier)
        for cid, expires, remaining in session.execute(select(
                PointLot.customer_id, PointLot.expires_at, PointLot.remaining).where(
                PointLot.customer_id.in_(chunk), PointLot.remaining > 0,
                PointLot.expires_at.is_not(None), PointLot.expires_at > now)):
            if expires is None:
                continue
            held = expiring.get(int(cid))
            if held is None or expires < held[0]:
                expiring[int(cid)] = (expires, int(remaining))
            elif expires == held[0]:
                expiring[int(cid)] = (expires, held[1] + int(remaining))
    result = {}
    for cid in ids:
        balance, code = accounts.get(cid, (0, None))
        tier = config.tier(code)
        soon = expiring.get(cid)
        result[cid] = ({"code": tier.code, "name": tier.name},
                       {"balance": balance, "expiring": soon[1] if soon else 0,
                        "expires_on": soon[0].date().isoformat() if soon else ""})
    return result


@cache
def _zones_for(phone: str) -> tuple[str, ...]:
    import phonenumbers
    from phonenumbers import timezone as phone_zones

    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in phone_zones.time_zones_for_number(parsed) if _known_zone(z))


@cache
def _known_zone(name: str) -> bool:
    """Whether the zone database has ``name``: phonenumbers answers ``Etc/Unknown`` for
    numbers it cannot place (a UK mobile, a +800 freephone), which is no zone at all."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if "/" not in name or name.startswith("Etc/"):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def customer_timezone(phone: str | None, default: str) -> str:
    """The customer's time zone for quiet hours: the only zone their mobile number's
    country (and area) has, else the shop's. A +86 number is Asia/Shanghai; a number
    the phone data places nowhere (``Etc/Unknown``) gets the shop's zone."""
    if not phone or phone.startswith("+86") or not phone.startswith("+"):
        return default
    zones = _zones_for(phone)
    return zones[0] if len(zones) == 1 else default


def customer_language(phone: str | None, email: str | None, default: str) -> str:
    """zh for Chinese numbers and mailboxes, en for others, else the campaign's."""
    if phone:
        return "zh" if phone.startswith("+86") else "en"
    if email:
        domain = email.rpartition("@")[2].lower()
        if domain.endswith(".cn") or domain in ("qq.com", "163.com", "126.com", "sina.com",
                                                 "foxmail.com", "yeah.net", "aliyun.com"):
            return "zh"
        return "en"
    return default
