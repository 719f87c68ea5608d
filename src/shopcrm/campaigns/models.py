"""Campaign tables of the operational store.

A campaign row holds what the marketer decided (audience spec, channel, content
variants, offer, schedule, experiment design) as validated JSON plus the columns the
lists and the dispatcher query. Its audience is fixed at launch as **one delivery row
per (campaign, step, customer)** — holdout customers included, with status
``holdout`` — so the list is auditable and the unique key makes dispatch idempotent:
a delivery can be claimed, sent and recorded, never created twice.

Counts are never cached on the campaign while it runs: they are a ``GROUP BY status``
over its deliveries, so they are exact at every moment (a finished campaign also keeps
the final counts in ``final_counts``).

Suppressions are the operational "never send again" list (SMS reply 退订, e-mail link,
one-click header, manual): keyed by customer and by a hash of the address, so an
address stays suppressed after its customer is erased or merged. Coupon pools hold
unique codes, assigned to deliveries before the message goes out and matched to orders
afterwards.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopcrm.loyalty.models import UtcDateTime
from shopcrm.store.models import Base, BigId

MONEY = Numeric(18, 2)
PRICE = Numeric(12, 4)


class Campaign(Base):
    """One campaign: the plan (JSON specs) and where it stands (status, times)."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16), default="marketing")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    """``{"variants": [{"name", "weight", "subject", "body", "html", "template_id",
    "translations"}]}`` (see :class:`~shopcrm.campaigns.specs.Variant`)."""
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    holdout_share: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.1"))
    attribution_days: Mapped[int] = mapped_column(Integer, default=7)
    cost_per_message: Mapped[Decimal] = mapped_column(PRICE, default=Decimal("0"))
    """Price of one message (for SMS: of one billed segment) on this channel."""
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    """The audience snapshot taken at launch (segment snapshot ID or list digest)."""
    audience_size: Mapped[int] = mapped_column(BigInteger, default=0)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    final_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    launched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    launched_by: Mapped[str | None] = mapped_column(String(100))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Delivery(Base):
    """One message of one campaign step to one customer — or its holdout placeholder.

    ``status``: ``holdout`` (never sent), ``pending`` (due at ``due_at``; ``reason``
    says why it was held), ``sending`` (claimed by a dispatcher: ``claim``,
    ``claimed_at``), ``sent`` (the provider accepted it), ``delivered`` /
    ``undelivered`` (receipt), ``failed`` (dead letter, ``reason``), ``skipped``
    (consent, suppression, cap, no address …, ``reason``), ``cancelled``.
    ``planned_at`` is the step's scheduled time, the start of the attribution window
    for treated and holdout customers alike.
    """

    __tablename__ = "campaign_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "step", "customer_id",
                         name="uq_campaign_deliveries_campaign_step_customer"),
        Index("ix_campaign_deliveries_due", "campaign_id", "status", "due_at"),
        Index("ix_campaign_deliveries_customer_sent", "customer_id", "sent_at"),
        Index("ix_campaign_deliveries_provider_id", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id"))
    step: Mapped[int] = mapped_column(Integer, default=0)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    arm: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    clicked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    coupon_code: Mapped[str | None] = mapped_column(String(64))
    segments: Mapped[int | None] = mapped_column(Integer)
    """Billed SMS segments (1 for other channels) of the message as sent."""
    reason: Mapped[str | None] = mapped_column(String(500))


class Suppression(Base):
    """Never send marketing on ``channel`` (``any``: every channel) to this customer or
    this address. Rows are added, never updated; lifting one deletes it (audited)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        Index("ix_suppressions_customer", "customer_id", "channel"),
        Index("ix_suppressions_address", "address_hash", "channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    address_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the normalised address (E.164 phone, lower-case e-mail)."""
    reason: Mapped[str] = mapped_column(String(32))
    """``sms-reply``, ``email-link``, ``one-click``, ``mailto``, ``bounce``, ``complaint``,
    ``manual``."""
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))


class InboundEvent(Base):
    """A receipt, reply, open or click as it arrived: the provider's ID makes a
    re-posted callback a no-op (gateways retry callbacks until they get a 200)."""

    __tablename__ = "campaign_inbound"
    __table_args__ = (UniqueConstraint("kind", "external_id",
                                       name="uq_campaign_inbound_kind_external"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(200))
    delivery_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(64))


class CouponPool(Base):
    """A batch of unique codes with one value, validity and usage limit per code."""

    __tablename__ = "coupon_pools"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="amount")
    """``amount`` (money off) or ``percent``."""
    value: Mapped[Decimal] = mapped_column(MONEY)
    min_spend: Mapped[Decimal | None] = mapped_column(MONEY)
    cost_per_redemption: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    """What one redemption costs the shop (for ROI); the value for an amount coupon."""
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    uses_per_code: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class CouponCode(Base):
    """One code: free, or assigned to a customer by a campaign; redemptions counted
    from the orders that carry it."""

    __tablename__ = "coupon_codes"
    __table_args__ = (
        UniqueConstraint("code", name="uq_coupon_codes_code"),
        Index("ix_coupon_codes_pool_free", "pool_id", "customer_id"),
        Index("ix_coupon_codes_campaign", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("coupon_pools.id"))
    code: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    first_redeemed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_order_ref: Mapped[str | None] = mapped_column(String(200))


class SyncCursor(Base):
    """Where the last pull of receipts or replies from a provider stopped."""

    __tablename__ = "campaign_sync_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
