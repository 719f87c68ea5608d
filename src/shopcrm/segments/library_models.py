"""Operational records of the segment builder and the tag library (migration ``0030``).

* ``segments`` — a saved segment: its rule tree as validated JSON, name, owner,
  description, timestamps.
* ``segment_snapshots`` — one frozen membership of a segment: when, why, by whom, how
  many, and the rule as it was. The member IDs themselves are a Parquet file in the
  warehouse folder (``_segments/<segment>/<snapshot>.parquet``): member lists are large
  (a million IDs), written once, read whole and compared set against set — a columnar
  file does that in milliseconds and keeps the operational store small; this row is the
  index campaigns and people refer to.
* ``tags`` — the tag library: each tag is data (rule in the segment language or none for
  a manual tag, category, owner, schedule).
* ``tag_memberships`` — one stay of a customer in a tag: ``since`` … ``until`` (open
  while ``until`` is null), how it began (``rule``, ``manual``, ``upload``, ``merge``) and
  ended. History is never rewritten, so "when did this customer enter / leave" is a
  query.

No foreign keys to ``customers``: member IDs come from the facts (a customer may later
be merged away), and history is kept as it was seen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from shopcrm.store.models import Base, BigId


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` read back timezone-aware (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("times must be timezone-aware")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None,
                             dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SavedSegment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(100))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(100))


class SegmentSnapshot(Base):
    __tablename__ = "segment_snapshots"
    __table_args__ = (Index("ix_segment_snapshots_segment", "segment_id", "taken_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    segment_id: Mapped[int] = mapped_column(BigInteger)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    file: Mapped[str] = mapped_column(String(300))
    """Relative to the warehouse folder."""
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    features_run: Mapped[str | None] = mapped_column(String(64))


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """None: a manual tag (members added by hand or by upload)."""
    owner: Mapped[str] = mapped_column(String(100))
    schedule: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    seeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    computed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    members: Mapped[int] = mapped_column(BigInteger, default=0)


class TagMembership(Base):
    __tablename__ = "tag_memberships"
    __table_args__ = (
        Index("ix_tag_memberships_tag_open", "tag_id", "until"),
        Index("ix_tag_memberships_customer", "customer_id", "until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tag_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tags.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    opened_by: Mapped[str] = mapped_column(String(100))
    closed_by: Mapped[str | None] = mapped_column(String(100))
