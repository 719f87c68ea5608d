"""segments, segment_snapshots, tags, tag_memberships; the seeds' tags

Revision ID: 0030
Revises: 0020

The seeds' tags are inserted here (once, on migration) so they are ready to use and a
shop may edit or delete them afterwards without them coming back. Their rules are a
frozen copy of the rule language as of this revision (``SEED_TAGS``); a test validates
them against the current rule model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_CAMPAIGN_MARKS = ["双11", "双十一", "618", "年货节", "女王节", "38节", "预售", "大促", "DOUBLE11",
                   "618SALE", "CNY", "QUEEN38"]
_FLASH_MARKS = ["聚划算", "秒杀", "限时", "特卖", "FLASH"]


def _feature(field: str, op_: str, value: Any) -> dict[str, Any]:
    return {"kind": "feature", "field": field, "op": op_, "value": value}


def _cycle(low: float | None, high: float) -> dict[str, Any]:
    parts = [_feature("frequency", "gte", 3), _feature("mean_interpurchase_days", "lte", high)]
    if low is not None:
        parts.append(_feature("mean_interpurchase_days", "gt", low))
    return {"kind": "and", "children": parts}


_CAMPAIGN_RULE = {"kind": "behaviour", "of": "purchases", "window": {"days": 365},
                  "where": [{"field": "promo_type", "op": "contains_any",
                             "value": _CAMPAIGN_MARKS}], "op": "gte", "value": 1}

SEED_TAGS: list[dict[str, Any]] = [
    {"key": "new_arrival_buyer", "name": "New-arrival buyer", "category": "behavioural",
     "description": "Buys new products: at least three in ten order lines within the "
                    "new-arrival days of the product's launch.",
     "rule": {"kind": "and", "children": [_feature("frequency", "gte", 1),
                                          _feature("new_arrival_share", "gte", 0.3)]}},
    {"key": "price_sensitive", "name": "Price-sensitive buyer", "category": "behavioural",
     "description": "Flash-sale / 聚划算 buyer in the last year, or a repeat buyer paying on "
                    "average at most three quarters of list price.",
     "rule": {"kind": "or", "children": [
         {"kind": "behaviour", "of": "purchases", "window": {"days": 365},
          "where": [{"field": "promo_type", "op": "contains_any", "value": _FLASH_MARKS}],
          "op": "gte", "value": 1},
         {"kind": "and", "children": [_feature("frequency", "gte", 2),
                                      _feature("price_index", "lte", 0.75)]}]}},
    {"key": "campaign_buyer", "name": "Campaign buyer", "category": "behavioural",
     "description": "Bought in a big campaign (双11, 618, 年货节, 38女王节, pre-sale) in the "
                    "last year.",
     "rule": _CAMPAIGN_RULE},
    {"key": "high_end", "name": "High-end buyer", "category": "behavioural",
     "description": "Campaign buyer whose average unit price is in the shop's top quarter.",
     "rule": {"kind": "and", "children": [{"kind": "tag", "tag": "campaign_buyer"},
                                          _feature("avg_unit_price", "top", 0.25)]}},
    {"key": "weekly_buyer", "name": "Weekly buyer", "category": "dynamic",
     "description": "Three or more purchases, on average at most 14 days apart.",
     "rule": _cycle(None, 14)},
    {"key": "monthly_buyer", "name": "Monthly buyer", "category": "dynamic",
     "description": "Three or more purchases, on average 15 to 52 days apart.",
     "rule": _cycle(14, 52)},
    {"key": "seasonal_buyer", "name": "Seasonal buyer", "category": "dynamic",
     "description": "Three or more purchases, on average 53 to 128 days apart.",
     "rule": _cycle(52, 128)},
    {"key": "half_yearly_buyer", "name": "Half-yearly buyer", "category": "dynamic",
     "description": "Three or more purchases, on average 129 to 257 days apart.",
     "rule": _cycle(128, 257)},
]


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "segment_snapshots",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file", sa.String(length=300), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("features_run", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_snapshots")),
    )
    with op.batch_alter_table("segment_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_segment_snapshots_segment", ["segment_id", "taken_at"],
                              unique=False)
    tags = op.create_table(
        "tags",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("schedule", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("seeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("key", name=op.f("uq_tags_key")),
    )
    op.create_table(
        "tag_memberships",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"],
                                name=op.f("fk_tag_memberships_tag_id_tags"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_memberships")),
    )
    with op.batch_alter_table("tag_memberships", schema=None) as batch_op:
        batch_op.create_index("ix_tag_memberships_customer", ["customer_id", "until"],
                              unique=False)
        batch_op.create_index("ix_tag_memberships_tag_open", ["tag_id", "until"], unique=False)
    now = datetime.now(UTC)
    op.bulk_insert(tags, [
        {**seed, "owner": "shopcrm", "schedule": "on_compute", "active": True, "seeded": True,
         "created_at": now, "updated_at": now, "computed_at": None, "members": 0}
        for seed in SEED_TAGS])


def downgrade() -> None:
    with op.batch_alter_table("tag_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_tag_memberships_tag_open")
        batch_op.drop_index("ix_tag_memberships_customer")
    op.drop_table("tag_memberships")
    op.drop_table("tags")
    with op.batch_alter_table("segment_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_snapshots_segment")
    op.drop_table("segment_snapshots")
    op.drop_table("segments")
