"""Reading the shop's unsubscribe/bounce mailbox over IMAP (``shopcrm campaign mailbox``,
from cron every few minutes).

Every campaign e-mail offers ``mailto:<unsubscribe_mailbox>?subject=unsubscribe <token>``
and is sent with the (VERP) ``bounce_address`` as envelope sender, so that mailbox
receives the mailto unsubscribes, the bounces and the feedback-loop complaints. Shops in
China mostly use hosted mail (Tencent Exmail, Aliyun mail) that offers IMAP and no
push, so the mailbox is polled with the standard library's IMAP client.

Each run reads the unseen messages above the last UID it looked at (the cursor —
``UIDVALIDITY:UID`` in ``campaign_sync_cursors`` — so letters for a person are left
unread and untouched and never read again), reads each with the pure
:mod:`~shopcrm.campaigns.mail_rules` and, in one transaction per message, records its
Message-ID once (``campaign_inbound``, kind ``mail``) and acts:

- a signed ``unsubscribe <token>``: the customer's suppression and consent withdrawal
  (reason ``mailto``), as the one-click link does; a plain 退订 / unsubscribe from an
  address: that address and every customer carrying it;
- a permanent bounce (5.x.x): the address is suppressed (``bounce``; consent is not
  touched — the address is dead, the person did not object) and the delivery, found
  by its signed VERP address or the returned ``X-Shopcrm-Key``, becomes undelivered;
  a temporary one (4.x.x) is recorded only;
- a complaint: the reported address and the token's customer suppressed (``complaint``)
  with consent withdrawn.

A handled message is then marked ``\\Seen`` (or moved to ``processed_folder``); a
duplicate too. Malformed mail is counted and named in the outcome, never fatal.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.campaigns.config import CampaignSettings, EmailConfig
from shopcrm.campaigns.mail_rules import MailFacts, read_mail
from shopcrm.campaigns.models import Delivery, SyncCursor
from shopcrm.campaigns.respect import (
    first_event,
    normalize_address,
    parse_key,
    suppress_once,
    unsubscribe,
    withdraw_consent,
)
from shopcrm.campaigns.rules import UnsubscribeRequest, read_unsubscribe_token
from shopcrm.campaigns.states import DeliveryStatus
from shopcrm.channels.verp import read_verp
from shopcrm.store.models import Customer

if TYPE_CHECKING:
    from shopcrm.context import AppContext

ACTOR = audit.Actor(None, "mailbox")
Handled = Literal["unsubscribe", "bounce", "soft-bounce", "complaint", "duplicate",
                  "unmatched", "other", "malformed"]
DONE: frozenset[str] = frozenset({"unsubscribe", "bounce", "soft-bounce", "complaint",
                                  "duplicate"})
"""Outcomes whose message is marked seen (or moved); the rest stay unread for a person."""
_MARKABLE = (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
             DeliveryStatus.UNDELIVERED)


class MailboxError(RuntimeError):
    """The mailbox cannot be read: not configured, unreachable, login or folder refused."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: Literal["none", "starttls", "ssl"]
    user: str
    password: str
    folder: str = "INBOX"
    processed_folder: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_config(cls, email: EmailConfig | None) -> ImapSettings:
        if email is None or not email.imap_host:
            raise MailboxError("no mailbox configured: set [email] imap_host, imap_user and "
                               "imap_password in campaigns.toml")
        user = email.imap_user or email.username
        if not user:
            raise MailboxError("[email] imap_user (or username) is required to read the "
                               "mailbox")
        port = email.imap_port or (993 if email.imap_security == "ssl" else 143)
        return cls(host=email.imap_host, port=port, security=email.imap_security, user=user,
                   password=email.imap_password or email.password or "",
                   folder=email.folder, processed_folder=email.processed_folder,
                   timeout=email.imap_timeout)


@dataclass
class MailboxOutcome:
    """What one run found: per outcome a count, and what was malformed."""

    read: int = 0
    unsubscribes: int = 0
    bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0
    duplicates: int = 0
    unmatched: int = 0
    other: int = 0
    malformed: int = 0
    problems: list[str] = field(default_factory=list)

    def count(self, handled: str) -> None:
        name = {"unsubscribe": "unsubscribes", "bounce": "bounces",
                "soft-bounce": "soft_bounces", "complaint": "complaints",
                "duplicate": "duplicates"}.get(handled, handled)
        setattr(self, name, getattr(self, name) + 1)


# --- the store side -------------------------------------------------------------------

def _requests(secrets: Sequence[str], tokens: Sequence[str]) -> list[UnsubscribeRequest]:
    found = []
    for token in tokens:
        with contextlib.suppress(ValueError):
            found.append(read_unsubscribe_token(list(secrets), token))
    return found


def _customers_with(session: Session, address: str) -> list[int]:
    return [int(c) for c in session.scalars(select(Customer.id).where(
        Customer.email == address).order_by(Customer.id))]


def _suppress_address(session: Session, *, address: str, reason: str, source: str,
                      detail: str, now: datetime, withdraw: bool) -> None:
    """The address, and each customer carrying it (with consent withdrawn when the
    person asked — not for a dead mailbox)."""
    suppress_once(session, channel="email", reason=reason, actor=ACTOR, now=now,
                  address=address, detail=detail)
    if not withdraw:
        return
    for customer_id in _customers_with(session, address):
        _row, new = suppress_once(session, channel="email", reason=reason, actor=ACTOR,
                                  now=now, customer_id=customer_id, address=address,
                                  detail=detail)
        if new:
            withdraw_consent(session, customer_id=customer_id, channel="email", source=source,
                             actor=ACTOR, now=now)


def _delivery(session: Session, facts: MailFacts, secrets: Sequence[str]) -> Delivery | None:
    """The delivery a bounce is about: the signed VERP address it came back to, else
    the returned ``X-Shopcrm-Key`` when that delivery's customer has a bounced address
    (an unsigned header alone could name anyone's delivery)."""
    def by_key(key: str) -> Delivery | None:
        parts = parse_key(key)
        if parts is None:
            return None
        return session.scalars(select(Delivery).where(
            Delivery.campaign_id == parts[0], Delivery.step == parts[1],
            Delivery.customer_id == parts[2], Delivery.channel == "email")).first()

    for recipient in facts.recipients:
        key = read_verp(recipient, secrets)
        if key is not None and (found := by_key(key)) is not None:
            return found
    failed = set(facts.permanent) | set(facts.temporary)
    for key in facts.returned_keys:
        found = by_key(key)
        if found is None:
            continue
        customer = session.get(Customer, found.customer_id)
        email = normalize_address("email", customer.email) if customer and customer.email \
            else None
        if email in failed:
            return found
    return None


def handle_mail(session: Session, facts: MailFacts, *, secrets: Sequence[str],
                now: datetime) -> Handled:
    """Act on one read message inside the caller's transaction; the outcome says what
    it was. A Message-ID handled before changes nothing (``duplicate``)."""
    if facts.kind in ("other", "malformed"):
        return facts.kind
    requests = _requests(secrets, facts.tokens)
    if facts.kind == "unsubscribe":
        sender = normalize_address("email", facts.sender) if facts.sender else None
        plain = bool(facts.plain_request and sender and _customers_with(session, sender))
        if not requests and not plain:
            return "unmatched"  # a forged token, or a stranger: a person decides
        if not first_event(session, kind="mail", external_id=facts.message_id, now=now,
                           delivery_id=None, outcome="unsubscribe"):
            return "duplicate"
        for request in requests:
            unsubscribe(session, request=request, via="mailto", actor=ACTOR, now=now)
        if not requests and sender:
            _suppress_address(session, address=sender, reason="mailto",
                              source="unsubscribe:mailto", detail=f"mail {facts.message_id}",
                              now=now, withdraw=True)
        return "unsubscribe"
    if facts.kind == "complaint":
        if not first_event(session, kind="mail", external_id=facts.message_id, now=now,
                           delivery_id=None, outcome=f"complaint:{facts.feedback_type}"):
            return "duplicate"
        for request in requests:
            unsubscribe(session, request=request, via="complaint", actor=ACTOR, now=now)
        for address in facts.permanent:
            if normalize_address("email", address):
                _suppress_address(session, address=address, reason="complaint",
                                  source="complaint", detail=f"{facts.feedback_type} "
                                  f"report {facts.message_id}", now=now, withdraw=True)
        return "complaint"
    delivery = _delivery(session, facts, secrets)
    hard = bool(facts.permanent)
    if not first_event(session, kind="mail", external_id=facts.message_id, now=now,
                       delivery_id=delivery.id if delivery else None,
                       outcome="bounce" if hard else "soft-bounce"):
        return "duplicate"
    if not hard:
        return "soft-bounce"
    for address in facts.permanent:
        if normalize_address("email", address):
            status = facts.statuses.get(address, "5.0.0")
            _suppress_address(session, address=address, reason="bounce", source="bounce",
                              detail=f"bounce {status} ({facts.message_id})", now=now,
                              withdraw=False)
    if delivery is not None and delivery.status in _MARKABLE:
        codes = sorted({facts.statuses.get(a, "5.0.0") for a in facts.permanent})
        delivery.status = DeliveryStatus.UNDELIVERED.value
        delivery.delivered_at = now
        delivery.reason = f"bounce {', '.join(codes)}"[:500]
    return "bounce"


# --- the IMAP side --------------------------------------------------------------------

def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(settings: ImapSettings, *,
            ssl_context: ssl.SSLContext | None = None) -> imaplib.IMAP4:
    """A logged-in IMAP connection, or :class:`MailboxError` saying what failed."""
    context = ssl_context or ssl.create_default_context()
    where = f"{settings.host}:{settings.port}"
    try:
        conn: imaplib.IMAP4
        if settings.security == "ssl":
            conn = imaplib.IMAP4_SSL(settings.host, settings.port, ssl_context=context,
                                     timeout=settings.timeout)
        else:
            conn = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
            if settings.security == "starttls":
                conn.starttls(ssl_context=context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"cannot reach the IMAP server {where}: {exc}") from exc
    try:
        conn.login(settings.user, settings.password)
    except (OSError, imaplib.IMAP4.error) as exc:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            conn.logout()
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(
            exc.args[0], bytes) else str(exc)
        raise MailboxError(f"the IMAP server {where} refused the login of "
                           f"{settings.user!r}: {detail}") from exc
    # Servers announce MOVE and UIDPLUS only once logged in; imaplib keeps the
    # greeting's list.
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        typ, data = conn.capability()
        if typ == "OK" and data and isinstance(data[-1], bytes):
            conn.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())
    return conn


def _uidvalidity(conn: imaplib.IMAP4) -> str:
    _typ, data = conn.response("UIDVALIDITY")
    value = data[0] if data and data[0] is not None else b"0"
    return value.decode() if isinstance(value, bytes) else str(value)


def _fetch(conn: imaplib.IMAP4, uid: int) -> bytes | None:
    typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
    if typ != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


class _Marker:
    """Marks handled messages seen, or moves them to the processed folder."""

    def __init__(self, conn: imaplib.IMAP4, folder: str | None) -> None:
        self.conn = conn
        self.folder = folder
        self._ready = False

    def done(self, uid: int) -> None:
        conn = self.conn
        if self.folder is None:
            conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
            return
        target = _quoted(self.folder)
        if not self._ready:
            conn.create(target)  # NO when it exists: that is fine
            self._ready = True
        conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
        if "MOVE" in conn.capabilities:
            typ, data = conn.uid("MOVE", str(uid), target)
        else:
            typ, data = conn.uid("COPY", str(uid), target)
            if typ == "OK":
                conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
                if "UIDPLUS" in conn.capabilities:
                    conn.uid("EXPUNGE", str(uid))
        if typ != "OK":
            raise MailboxError(f"cannot move mail to {self.folder!r}: {data!r}")


_UIDS = re.compile(rb"\d+")


def poll_mailbox(context: AppContext, config: CampaignSettings, *,
                 ssl_context: ssl.SSLContext | None = None, limit: int = 500) -> MailboxOutcome:
    """Read and act on the unseen mail of the configured mailbox (at most ``limit``
    messages a run; the next run goes on)."""
    settings = ImapSettings.from_config(config.email)
    secrets = config.secrets()
    outcome = MailboxOutcome()
    conn = connect(settings, ssl_context=ssl_context)
    try:
        typ, data = conn.select(_quoted(settings.folder))
        if typ != "OK":
            raise MailboxError(f"cannot open the folder {settings.folder!r}: {data!r}")
        validity = _uidvalidity(conn)
        cursor_name = f"mailbox:{settings.user}:{settings.folder}"[:64]
        with context.sessions() as session:
            row = session.get(SyncCursor, cursor_name)
            stored = row.value if row is not None else ""
        seen_validity, _, last = stored.partition(":")
        after = int(last) if seen_validity == validity and last.isdigit() else 0
        typ, data = conn.uid("SEARCH", "UID", f"{after + 1}:*", "UNSEEN")
        if typ != "OK":
            raise MailboxError(f"the IMAP server refused the search: {data!r}")
        uids = sorted(int(u) for chunk in data if chunk for u in _UIDS.findall(chunk)
                      if int(u) > after)[:limit]
        marker = _Marker(conn, settings.processed_folder)
        for uid in uids:
            raw = _fetch(conn, uid)
            outcome.read += 1
            facts = read_mail(raw) if raw is not None else None
            with context.sessions.begin() as session:
                if facts is None:
                    handled: Handled = "malformed"
                    outcome.problems.append(f"UID {uid}: could not be fetched")
                else:
                    handled = handle_mail(session, facts, secrets=secrets,
                                          now=context.clock.now())
                    if handled == "malformed":
                        outcome.problems.append(f"UID {uid} ({facts.message_id[:80]}): "
                                                f"{facts.reason}")
                value = f"{validity}:{uid}"
                cursor = session.get(SyncCursor, cursor_name)
                if cursor is None:
                    session.add(SyncCursor(name=cursor_name, value=value,
                                           updated_at=context.clock.now()))
                else:
                    cursor.value, cursor.updated_at = value, context.clock.now()
            outcome.count(handled)
            if handled in DONE:
                marker.done(uid)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"the IMAP session with {settings.host} failed: {exc}") from exc
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            conn.logout()
    return outcome
