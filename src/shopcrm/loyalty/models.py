"""Loyalty tables of the operational store.

The ledger (``loyalty_entries``) is append-only and is the balance: every entry has a
unique idempotency key, a reason and a source. Credits open *lots* (``loyalty_lots``)
with their own expiry; debits record which lots they consumed (``loyalty_allocations``).
The account row caches the balance and is the per-customer lock every movement takes,
so racing redemptions are serialised on it. Points are whole numbers (BigInteger); money
(cost per point, budgets, liability) is ``Numeric``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from shopcrm.store.models import Base, BigId


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that reads back timezone-aware UTC on SQLite too
    (SQLite drops the offset), so expiry dates compare with an injected ``now``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("loyalty times must be timezone-aware")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None,
                             dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


COST = Numeric(12, 4)
MONEY = Numeric(18, 4)


class LoyaltySettings(Base):
    """The programme (:class:`~shopcrm.loyalty.rules.ProgramConfig`) as validated JSON."""

    __tablename__ = "loyalty_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    config: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(100))


class LoyaltyAccount(Base):
    """One member: cached balance, current tier, and the row every movement locks."""

    __tablename__ = "loyalty_accounts"

    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id"), primary_key=True, autoincrement=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    tier: Mapped[str | None] = mapped_column(String(32))
    tier_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reviewed_period: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lock_version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LedgerEntry(Base):
    """One movement of points (positive credit, negative debit); never updated except
    re-keyed by a customer merge (recorded in :class:`LoyaltyMove`)."""

    __tablename__ = "loyalty_entries"
    __table_args__ = (
        Index("ix_loyalty_entries_customer_at", "customer_id", "at"),
        Index("ix_loyalty_entries_order_ref", "order_ref"),
        Index("ix_loyalty_entries_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(32))
    order_ref: Mapped[str | None] = mapped_column(String(200))
    order_paid: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    order_refunded: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    """An order's paid and already-refunded amounts when it earned: the basis a later
    refund is measured against (refunds before earning already lowered the points)."""
    written_off: Mapped[int | None] = mapped_column(BigInteger)
    """Points a reversal could not take back under the ``cap`` policy (already spent)."""
    value: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    """Money value of the points at their cost per point (liability accounting)."""
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)


class PointLot(Base):
    """Points credited together, expiring together; ``remaining`` falls as they are
    spent, expired or reversed."""

    __tablename__ = "loyalty_lots"
    __table_args__ = (
        Index("ix_loyalty_lots_customer_expiry", "customer_id", "expires_at"),
        Index("ix_loyalty_lots_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    earned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rule: Mapped[str | None] = mapped_column(String(32))
    cost_per_point: Mapped[Decimal] = mapped_column(COST, default=Decimal("0"))
    order_ref: Mapped[str | None] = mapped_column(String(200))


class Allocation(Base):
    """How many points a debit entry took from (negative) or settled into a lot."""

    __tablename__ = "loyalty_allocations"
    __table_args__ = (Index("ix_loyalty_allocations_entry", "entry_id"),
                      Index("ix_loyalty_allocations_lot", "lot_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    lot_id: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)


class BonusRule(Base):
    """A way to earn (the order rule, first purchase, birthday, review, check-in,
    campaign grant) with its cost per point and optional budget in money."""

    __tablename__ = "loyalty_rules"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_per_point: Mapped[Decimal] = mapped_column(COST, default=Decimal("0.01"))
    budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    issued_points: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TierChange(Base):
    """A customer's tier history: join, upgrade, downgrade, merge, manual."""

    __tablename__ = "loyalty_tier_history"
    __table_args__ = (Index("ix_loyalty_tier_history_customer", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    from_tier: Mapped[str | None] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))


class LoyaltyMove(Base):
    """A merge that re-keyed one customer's loyalty rows to another, with what it moved
    so that an un-merge can move exactly those rows back."""

    __tablename__ = "loyalty_moves"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    from_customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    to_customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]]
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
