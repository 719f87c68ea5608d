"""Service-ticket tables of the operational store.

A ticket row holds its current state and the few times its SLA clocks need; everything
that happened to it is an append-only ``ticket_events`` row (the timeline an agent reads
and the record of who answered, when). ``ticket_moves`` remembers which tickets a
customer merge moved, so an un-merge moves exactly those back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopcrm.loyalty.models import UtcDateTime
from shopcrm.store.models import Base, BigId


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_priority", "status", "priority"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_customer", "customer_id", "created_at"),
        Index("ix_tickets_resolution_due", "resolution_due"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id"))
    contact: Mapped[str | None] = mapped_column(String(200))
    """Who wrote, when no customer is known yet (a phone, a nickname)."""
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    order_ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    priority_overridden: Mapped[bool] = mapped_column(default=False)
    service_level: Mapped[str] = mapped_column(String(16), default="standard")
    """The member's service level when the ticket was opened (why it got its priority)."""
    assignee_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    pending_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    first_response_due: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """Kept with the clocks (None once answered) so the queue filters late tickets in SQL."""
    resolution_due: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """None while pending or resolved: that clock is not running."""
    paused_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))


class TicketEvent(Base):
    """One thing that happened: created, reply (the customer sees it), note (internal),
    status, assign, priority, rating, moved (by a customer merge)."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(100))


class TicketMove(Base):
    """A ticket a customer merge moved from ``from_customer_id`` to ``to_customer_id``;
    an un-merge of the pair moves it back and stamps ``undone_at``."""

    __tablename__ = "ticket_moves"
    __table_args__ = (Index("ix_ticket_moves_pair", "from_customer_id", "to_customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merge_id: Mapped[int] = mapped_column(BigInteger)
    ticket_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tickets.id"))
    from_customer_id: Mapped[int] = mapped_column(BigInteger)
    to_customer_id: Mapped[int] = mapped_column(BigInteger)
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TicketSettings(Base):
    """The shop's SLA policy (:class:`~shopcrm.tickets.rules.SlaPolicy`) as JSON."""

    __tablename__ = "ticket_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    policy: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(100))
