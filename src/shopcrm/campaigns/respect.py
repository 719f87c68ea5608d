"""Respect for people, and what comes back from them: the suppression list,
unsubscribes (SMS reply 退订 / TD / T, e-mail link, one-click header, the mailto request
— read from the mailbox by :mod:`~shopcrm.campaigns.mailbox` with bounces and
complaints), delivery receipts, opens and clicks.

An unsubscribe does two things in one transaction: a suppression row (what dispatch
checks, keyed by customer *and* by a hash of the address, so the number stays
suppressed even when nobody or several customers carry it) and a consent withdrawal in
the customer's consent history (the legal record, kept through erasure). Inbound
events are recorded by their provider ID first, so a gateway re-posting the same
callback changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.campaigns import CampaignNotFound
from shopcrm.campaigns.models import Delivery, InboundEvent, Suppression
from shopcrm.campaigns.rules import UnsubscribeRequest, is_unsubscribe, read_unsubscribe_token
from shopcrm.campaigns.states import DeliveryStatus
from shopcrm.channels.sms import InboundReply, Receipt, hmac_signature
from shopcrm.ingest.normalize.emails import normalize_email
from shopcrm.ingest.normalize.phones import normalize_phone
from shopcrm.privacy.rules import Channel, Purpose, Status
from shopcrm.store.idlist import in_list, list_value
from shopcrm.store.models import Customer

CONSENT_CHANNEL: Mapping[str, Channel | None] = {
    "email": Channel.EMAIL, "sms": Channel.SMS, "push": Channel.PUSH, "inbox": Channel.PUSH,
    "wechat": Channel.WECHAT, "webhook": None, "file": None,
}
"""The consent channel a campaign channel answers to; None: only ``any`` records."""
REASONS = ("sms-reply", "email-link", "one-click", "mailto", "bounce", "complaint", "manual")


def normalize_address(channel: str, address: str) -> str | None:
    """The canonical form an address is suppressed under (E.164, lower-case e-mail)."""
    if channel == "sms":
        phone = normalize_phone(address)
        return phone.value if phone.kind == "e164" else None
    if channel == "email":
        email = normalize_email(address)
        return email.value if email.value else None
    return address.strip() or None


def address_hash(address: str) -> str:
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


def suppress(session: Session, *, channel: str, reason: str, actor: audit.Actor, now: datetime,
             customer_id: int | None = None, address: str | None = None,
             campaign_id: int | None = None, detail: str | None = None) -> Suppression:
    """Add a suppression (or return the one already there for that customer/address)."""
    return suppress_once(session, channel=channel, reason=reason, actor=actor, now=now,
                         customer_id=customer_id, address=address, campaign_id=campaign_id,
                         detail=detail)[0]


def suppress_once(session: Session, *, channel: str, reason: str, actor: audit.Actor,
                  now: datetime, customer_id: int | None = None, address: str | None = None,
                  campaign_id: int | None = None,
                  detail: str | None = None) -> tuple[Suppression, bool]:
    """:func:`suppress`, and whether the row is new."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    normalized = normalize_address(channel, address) if address else None
    hashed = address_hash(normalized) if normalized else None
    if customer_id is None and hashed is None:
        raise ValueError("a suppression needs a customer or a valid address")
    query = select(Suppression).where(Suppression.channel == channel)
    if customer_id is not None:
        query = query.where(Suppression.customer_id == customer_id)
    else:
        query = query.where(Suppression.customer_id.is_(None))
    query = query.where(Suppression.address_hash == hashed if hashed
                        else Suppression.address_hash.is_(None))
    existing = session.scalars(query.limit(1)).first()
    if existing is not None:
        return existing, False
    row = Suppression(channel=channel, customer_id=customer_id, address_hash=hashed,
                      reason=reason, campaign_id=campaign_id,
                      detail=(detail or "")[:500] or None, at=now, actor=actor.label[:100])
    session.add(row)
    session.flush()
    return row, True


@dataclass(frozen=True)
class SuppressedSet:
    customers: frozenset[int]
    addresses: frozenset[str]

    def holds(self, customer_id: int, address_digest: str | None) -> bool:
        return customer_id in self.customers or (address_digest is not None
                                                 and address_digest in self.addresses)


def suppressed(session: Session, *, channel: str, customer_ids: Sequence[int],
               address_hashes: Sequence[str]) -> SuppressedSet:
    """Which of these customers or addresses are suppressed for ``channel`` (or any):
    two queries for a whole batch, the lists bound as one value each."""
    channels = (channel, "any")
    dialect = session.get_bind().dialect.name
    t = Suppression.__table__.c
    customers: set[int] = set()
    addresses: set[str] = set()
    if customer_ids:
        by_customer = select(t.customer_id).where(
            t.channel.in_(channels), in_list(t.customer_id, dialect, "ids"))
        customers.update(int(c) for c in session.scalars(
            by_customer, {"ids": list_value(set(customer_ids), dialect)}) if c is not None)
    if address_hashes:
        by_address = select(t.address_hash).where(
            t.channel.in_(channels), in_list(t.address_hash, dialect, "hashes", text=True))
        addresses.update(str(h) for h in session.scalars(
            by_address, {"hashes": list_value(set(address_hashes), dialect)}))
    return SuppressedSet(frozenset(customers), frozenset(addresses))


def withdraw_consent(session: Session, *, customer_id: int, channel: str, source: str,
                     actor: audit.Actor, now: datetime) -> None:
    from shopcrm.privacy.consents import record_consent

    consent_channel = CONSENT_CHANNEL.get(channel) or Channel.ANY
    if session.get(Customer, customer_id) is None:
        return
    record_consent(session, customer_id=customer_id, channel=consent_channel,
                   purpose=Purpose.MARKETING, status=Status.WITHDRAWN, source=source,
                   actor=actor, now=now)


def first_event(session: Session, *, kind: str, external_id: str, now: datetime,
                delivery_id: int | None, outcome: str) -> bool:
    """Record an inbound event once; False when it was seen before."""
    key = external_id[:200]
    seen = session.scalar(select(InboundEvent.id).where(InboundEvent.kind == kind,
                                                        InboundEvent.external_id == key))
    if seen is not None:
        return False
    try:
        with session.begin_nested():
            session.add(InboundEvent(kind=kind, external_id=key, delivery_id=delivery_id,
                                     at=now, outcome=outcome[:64]))
    except IntegrityError:  # the same callback arriving twice at the same moment
        return False
    return True


# --- unsubscribe --------------------------------------------------------------------------

def unsubscribe(session: Session, *, request: UnsubscribeRequest, via: str,
                actor: audit.Actor, now: datetime) -> Suppression:
    """A signed link or one-click POST: suppress the customer on the channel and
    withdraw their marketing consent there."""
    delivery_address = None
    customer = session.get(Customer, request.customer_id)
    if customer is not None:
        delivery_address = customer.email if request.channel == "email" else customer.phone
    row, new = suppress_once(session, channel=request.channel, reason=via, actor=actor,
                             now=now, customer_id=request.customer_id,
                             address=delivery_address, campaign_id=request.campaign_id)
    if new:  # a second click on the same link changes nothing
        withdraw_consent(session, customer_id=request.customer_id, channel=request.channel,
                         source=f"unsubscribe:{via}", actor=actor, now=now)
    audit.record(session, actor, "campaign.unsubscribe", at=now, target_type="customer",
                 target_id=str(request.customer_id),
                 details={"channel": request.channel, "via": via,
                          "campaign_id": request.campaign_id})
    return row


def unsubscribe_token_request(secrets: Sequence[str], token: str) -> UnsubscribeRequest:
    try:
        return read_unsubscribe_token(list(secrets), token)
    except ValueError as exc:
        raise CampaignNotFound("this unsubscribe link is not valid") from exc


@dataclass
class ReplyOutcome:
    received: int = 0
    duplicates: int = 0
    unsubscribes: int = 0
    customers_suppressed: int = 0


def handle_replies(session: Session, replies: Iterable[InboundReply], *,
                   now: datetime) -> ReplyOutcome:
    """Inbound SMS: 退订 / TD / T (and the other keywords of rules.is_unsubscribe)
    suppress the number and every customer carrying it, and withdraw their SMS
    marketing consent (source ``sms-reply``)."""
    outcome = ReplyOutcome()
    actor = audit.Actor(None, "sms-reply")
    for reply in replies:
        outcome.received += 1
        wants_out = is_unsubscribe(reply.text)
        if not first_event(session, kind="reply", external_id=reply.reply_id, now=now,
                           delivery_id=None, outcome="unsubscribe" if wants_out else "other"):
            outcome.duplicates += 1
            continue
        if not wants_out:
            continue
        outcome.unsubscribes += 1
        phone = normalize_address("sms", reply.phone)
        if phone is None:
            continue
        suppress(session, channel="sms", reason="sms-reply", actor=actor, now=now,
                 address=phone, detail=f"reply {reply.reply_id}")
        for customer_id in session.scalars(select(Customer.id).where(Customer.phone == phone)):
            _row, new = suppress_once(session, channel="sms", reason="sms-reply", actor=actor,
                                      now=now, customer_id=int(customer_id), address=phone,
                                      detail=f"reply {reply.reply_id}")
            if not new:
                continue
            withdraw_consent(session, customer_id=int(customer_id), channel="sms",
                             source="sms-reply", actor=actor, now=now)
            outcome.customers_suppressed += 1
    return outcome


# --- receipts, opens, clicks -------------------------------------------------------------

def parse_key(key: str) -> tuple[int, int, int] | None:
    """(campaign, step, customer) from a delivery key ``c<id>:s<step>:<customer>``."""
    try:
        campaign, step, customer = key.split(":")
        if campaign[0] != "c" or step[0] != "s":
            return None
        return int(campaign[1:]), int(step[1:]), int(customer)
    except (ValueError, IndexError):
        return None


def delivery_key(campaign_id: int, step: int, customer_id: int) -> str:
    return f"c{campaign_id}:s{step}:{customer_id}"


@dataclass
class ReceiptOutcome:
    received: int = 0
    duplicates: int = 0
    delivered: int = 0
    undelivered: int = 0
    unknown: int = 0


def _delivery_for(session: Session, receipt: Receipt) -> Delivery | None:
    if receipt.out_id and (parts := parse_key(receipt.out_id)):
        found = session.scalars(select(Delivery).where(
            Delivery.campaign_id == parts[0], Delivery.step == parts[1],
            Delivery.customer_id == parts[2])).first()
        if found is not None:
            return found
    return session.scalars(select(Delivery).where(
        Delivery.provider_message_id == receipt.provider_message_id)).first()


def handle_receipts(session: Session, receipts: Iterable[Receipt], *,
                    now: datetime) -> ReceiptOutcome:
    """Delivery reports: a sent message becomes delivered or undelivered (with the
    operator's error code as the reason)."""
    outcome = ReceiptOutcome()
    for receipt in receipts:
        outcome.received += 1
        delivery = _delivery_for(session, receipt)
        status = DeliveryStatus.DELIVERED if receipt.delivered else DeliveryStatus.UNDELIVERED
        if not first_event(session, kind="receipt",
                           external_id=f"{receipt.provider_message_id}:{receipt.status}",
                           now=now, delivery_id=delivery.id if delivery else None,
                           outcome=status.value if delivery else "unknown"):
            outcome.duplicates += 1
            continue
        if delivery is None:
            outcome.unknown += 1
            continue
        if delivery.status not in (DeliveryStatus.SENT, DeliveryStatus.UNDELIVERED,
                                   DeliveryStatus.SENDING):
            continue
        delivery.status = status.value
        delivery.delivered_at = receipt.at or now
        if not receipt.delivered:
            delivery.reason = f"receipt {receipt.status}: {receipt.error or ''}".strip()[:500]
            outcome.undelivered += 1
        else:
            outcome.delivered += 1
    return outcome


def record_open(session: Session, *, delivery_id: int, now: datetime) -> bool:
    """The pixel was loaded: first open time kept (later loads change nothing)."""
    done = session.execute(update(Delivery).where(
        Delivery.id == delivery_id, Delivery.opened_at.is_(None),
        Delivery.status.in_([s.value for s in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
                                               DeliveryStatus.UNDELIVERED)]))
        .values(opened_at=now).execution_options(synchronize_session=False))
    return bool(getattr(done, "rowcount", 0))


def record_click(session: Session, *, delivery_id: int, now: datetime) -> bool:
    """A tracked link was followed: first click kept; a click proves an open (images
    are often blocked), so the open is set too if it was missing."""
    accepted = [s.value for s in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
                                  DeliveryStatus.UNDELIVERED)]
    session.execute(update(Delivery).where(
        Delivery.id == delivery_id, Delivery.opened_at.is_(None),
        Delivery.status.in_(accepted)).values(opened_at=now)
        .execution_options(synchronize_session=False))
    done = session.execute(update(Delivery).where(
        Delivery.id == delivery_id, Delivery.clicked_at.is_(None),
        Delivery.status.in_(accepted)).values(clicked_at=now)
        .execution_options(synchronize_session=False))
    return bool(getattr(done, "rowcount", 0))


# --- the gateway's callbacks ---------------------------------------------------------------

class BadSignature(PermissionError):
    """A callback that does not carry the gateway's valid signature (401)."""


def verify_gateway(*, access_key_id: str, secret: str, method: str, path: str,
                   headers: Mapping[str, str], body: bytes, now: datetime,
                   tolerance: timedelta = timedelta(minutes=5)) -> None:
    """Check a callback's HMAC-SHA256 signature (the gateway protocol's own scheme,
    :func:`~shopcrm.channels.sms.hmac_signature`) and that it is recent."""
    h = {k.lower(): v for k, v in headers.items()}
    if not secret:
        raise BadSignature("no SMS gateway is configured to accept callbacks from")
    if h.get("x-access-key") != access_key_id:
        raise BadSignature("unknown access key")
    timestamp = h.get("x-timestamp", "")
    if not timestamp.isdigit():
        raise BadSignature("missing timestamp")
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(sent - now) > tolerance:
        raise BadSignature("stale callback")
    expected = hmac_signature(secret, method=method, path=path, timestamp=timestamp,
                              nonce=h.get("x-nonce", ""), body=body)
    if not hmac.compare_digest(expected, h.get("x-signature", "")):
        raise BadSignature("signature does not match")
