"""The in-site inbox: a channel that writes messages into ``inbox_messages`` and the
reads the shop's site makes (a customer's messages, paged, with the unread count;
marking read).

The channel commits each message in its own transaction before dispatch records the
delivery as sent, and the delivery key is unique, so a retry after a crash finds the
row instead of writing a second one (``find_sent`` lets recovery settle it as sent:
exactly once). The first read of a message records an open on its delivery — the same
``opened_at`` the e-mail pixel sets — so inbox campaigns have open rates too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shopcrm.campaigns.respect import parse_key, record_open
from shopcrm.channels.base import ChannelKind, Message, SendResult
from shopcrm.clock import Clock
from shopcrm.contacts import UnknownMessage
from shopcrm.contacts.models import InboxMessage


class StoreInboxChannel:
    """Inbox messages as rows of the operational store (``to`` is the customer ID)."""

    kind = ChannelKind.INBOX

    def __init__(self, sessions: sessionmaker[Session], *, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def send(self, message: Message) -> SendResult:
        try:
            customer_id = int(message.to)
        except ValueError:
            return SendResult.permanent(f"inbox address {message.to!r} is not a customer ID")
        campaign = message.metadata.get("campaign")
        row = InboxMessage(customer_id=customer_id, delivery_key=message.key[:64],
                           campaign_id=int(campaign) if campaign and campaign.isdigit()
                           else None, subject=(message.subject or None),
                           body=message.body, url=message.url, created_at=self._clock.now())
        try:
            with self._sessions.begin() as session:
                session.add(row)
                session.flush()
                ident = row.id
        except IntegrityError:
            # written before (a retry after a crash), or the customer row is gone
            found = self.find_sent({message.key[:64]})
            if message.key[:64] in found:
                return SendResult.accepted(found[message.key[:64]])
            return SendResult.permanent(f"customer {customer_id} does not exist")
        return SendResult.accepted(f"inbox:{ident}")

    def find_sent(self, keys: Iterable[str]) -> dict[str, str]:
        """Delivery keys already in the inbox → their provider ID (for recovery)."""
        wanted = sorted(set(keys))
        found: dict[str, str] = {}
        with self._sessions() as session:
            for start in range(0, len(wanted), 1000):
                for key, ident in session.execute(select(
                        InboxMessage.delivery_key, InboxMessage.id).where(
                        InboxMessage.delivery_key.in_(wanted[start:start + 1000]))):
                    found[str(key)] = f"inbox:{ident}"
        return found

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class InboxPage:
    customer_id: int
    items: list[InboxMessage]
    total: int
    unread: int
    page: int
    size: int


def inbox_page(session: Session, *, customer_id: int, page: int, size: int,
               unread_only: bool = False) -> InboxPage:
    """One page of a customer's messages, newest first, and the unread count."""
    mine = InboxMessage.customer_id == customer_id
    query = select(InboxMessage).where(mine)
    if unread_only:
        query = query.where(InboxMessage.read_at.is_(None))
    items = list(session.scalars(query.order_by(InboxMessage.id.desc())
                                 .offset((page - 1) * size).limit(size)))
    unread = int(session.scalar(select(func.count()).select_from(InboxMessage).where(
        mine, InboxMessage.read_at.is_(None))) or 0)
    total = unread if unread_only else int(session.scalar(
        select(func.count()).select_from(InboxMessage).where(mine)) or 0)
    return InboxPage(customer_id, items, total, unread, page, size)


def mark_read(session: Session, *, customer_id: int, message_id: int,
              now: datetime) -> tuple[InboxMessage, bool]:
    """Mark one message read; the first read records the open of its delivery.
    Returns the message and whether this call was its first read."""
    message = session.get(InboxMessage, message_id)
    if message is None or message.customer_id != customer_id:
        raise UnknownMessage(f"customer {customer_id} has no inbox message {message_id}")
    done = session.execute(update(InboxMessage).where(
        InboxMessage.id == message_id, InboxMessage.read_at.is_(None)).values(read_at=now)
        .execution_options(synchronize_session=False))
    first = bool(getattr(done, "rowcount", 0))
    if first:
        _count_open(session, message.delivery_key, now)
    session.refresh(message)
    return message, first


def _count_open(session: Session, key: str, now: datetime) -> None:
    from shopcrm.campaigns.models import Delivery

    parsed = parse_key(key)
    if parsed is None:
        return
    campaign_id, step, customer_id = parsed
    delivery_id = session.scalar(select(Delivery.id).where(
        Delivery.campaign_id == campaign_id, Delivery.step == step,
        Delivery.customer_id == customer_id))
    if delivery_id is not None:
        record_open(session, delivery_id=int(delivery_id), now=now)
