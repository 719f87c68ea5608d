"""Tables of identity resolution: the identifiers each record carries, the links found
between records, the merges made from them (and undone), and the review queue.

A customer's ID is always the smallest identity ID of its component, so the mapping
identity → customer is a pure function of the graph; ``identity_merges`` is the event
log that explains every change of it (who, when, why, with what evidence).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopcrm.store.models import Base, BigId


class IdentityKey(Base):
    """One identifier one source record was seen with: a phone, an e-mail, a device…

    ``name_seen`` is the name that came with the value (a receiver name on an order),
    so a phone a buyer only used to send a gift to someone else is recognised as not
    theirs and never joins the buyer to the recipient.
    """

    __tablename__ = "identity_keys"
    __table_args__ = (
        UniqueConstraint("identity_id", "kind", "value", name="uq_identity_keys_identity_value"),
        Index("ix_identity_keys_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("source_identities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    name_seen: Mapped[str | None] = mapped_column(String(200))
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdentityLink(Base):
    """An edge decided outside the exact keys: a probable match above the threshold, a
    person's manual merge, or a *never* link (after an un-merge or a rejected review)
    that keeps two records apart for good. ``identity_a`` < ``identity_b``."""

    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("identity_a", "identity_b", "kind", name="uq_identity_links_pair_kind"),
        Index("ix_identity_links_b", "identity_b"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identity_a: Mapped[int] = mapped_column(BigInteger)
    identity_b: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # probable | manual | never
    probability: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))


class IdentityMerge(Base):
    """One change of the identity → customer mapping, append-only.

    ``action`` is ``merge`` (``merged_id`` joined ``survivor_id``), ``split`` (the
    graph no longer holds them together, e.g. a phone turned out to be shared) or
    ``unmerge`` (a person undid merge ``undoes_id``). ``moved`` lists the identity IDs
    that changed customer, which is what an un-merge gives back.
    """

    __tablename__ = "identity_merges"
    __table_args__ = (Index("ix_identity_merges_customers", "survivor_id", "merged_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))  # key | probable | manual | review
    survivor_id: Mapped[int] = mapped_column(BigInteger)
    merged_id: Mapped[int] = mapped_column(BigInteger)
    moved: Mapped[list[int]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any] | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    undoes_id: Mapped[int | None] = mapped_column(BigInteger)
    undone_by_id: Mapped[int | None] = mapped_column(BigInteger)


class MatchReview(Base):
    """A pair a person has to decide: a grey-band probable match, or a match the rules
    refused to make on their own (two verified accounts, a shared identifier)."""

    __tablename__ = "match_reviews"
    __table_args__ = (
        UniqueConstraint("identity_a", "identity_b", name="uq_match_reviews_pair"),
        Index("ix_match_reviews_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identity_a: Mapped[int] = mapped_column(BigInteger)
    identity_b: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    probability: Mapped[float | None] = mapped_column(Float)
    weights: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))


class SharedIdentifier(Base):
    """An identifier too many different people use (a parcel-locker phone, a company
    switchboard) — it never joins records on its own."""

    __tablename__ = "shared_identifiers"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(320), primary_key=True)
    identities: Mapped[int] = mapped_column(Integer)
    names: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MatchModel(Base):
    """A trained probabilistic match model (Splink settings with m/u probabilities).

    Incremental runs reuse the newest model, so they score pairs exactly as a full run
    with the same model would."""

    __tablename__ = "match_models"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    records: Mapped[int] = mapped_column(BigInteger)
    settings: Mapped[dict[str, Any]] = mapped_column()


class ResolutionRun(Base):
    """One run of the resolver, full or incremental, with what it found and changed."""

    __tablename__ = "resolution_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    mode: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stats: Mapped[dict[str, Any] | None] = mapped_column()
