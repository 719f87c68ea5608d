"""Contact-point and inbox tables of the operational store (migration 0080).

``contact_points``: one row per (kind, app id, address) — an openid is unique within
its app id, a device token within its app — so a re-registration finds its row and a
merge can re-key rows without conflicts. ``contact_moves`` remembers which rows a
customer merge moved (contact points and inbox messages), so an un-merge moves exactly
those back. ``inbox_messages`` is the in-site inbox: one row per delivery (the
delivery key is unique, which makes the inbox channel idempotent and lets dispatch
recovery read back what it already wrote).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopcrm.loyalty.models import UtcDateTime
from shopcrm.store.models import Base, BigId


class ContactPoint(Base):
    __tablename__ = "contact_points"
    __table_args__ = (
        UniqueConstraint("kind", "app_id", "address", name="uq_contact_points_address"),
        Index("ix_contact_points_customer", "customer_id", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    """``wechat`` (an openid) or ``push`` (a device token)."""
    app_id: Mapped[str] = mapped_column(String(64))
    """The official account / mini-program app id, or the mobile app's id."""
    address: Mapped[str] = mapped_column(String(512))
    platform: Mapped[str | None] = mapped_column(String(16))
    """Push: ios, android or harmony."""
    unionid: Mapped[str | None] = mapped_column(String(64))
    """WeChat: the open-platform unionid when the shop has one."""
    status: Mapped[str] = mapped_column(String(16), default="active")
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """Last registration (the newest active token is the one push uses)."""


class ContactMove(Base):
    """A contact point or inbox message a merge moved; an un-merge moves it back."""

    __tablename__ = "contact_moves"
    __table_args__ = (Index("ix_contact_moves_pair", "from_customer_id", "to_customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merge_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    """``contact`` or ``inbox``."""
    row_id: Mapped[int] = mapped_column(BigInteger)
    from_customer_id: Mapped[int] = mapped_column(BigInteger)
    to_customer_id: Mapped[int] = mapped_column(BigInteger)
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_messages_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    delivery_key: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
