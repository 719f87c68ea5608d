"""The whole features job as one Ibis expression: features, RFM, tiers, lifecycle."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from shopcrm.segments.features import Facts, buyer_aggregates, customer_features
from shopcrm.segments.scoring import lifecycle, rfm_classes, rfm_scores, value_tiers
from shopcrm.segments.settings import SegmentSettings


def shop_day(as_of: datetime, timezone: str) -> date:
    """The shop-local calendar day of ``as_of`` (facts' ``day`` columns are shop-local)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return as_of.astimezone(ZoneInfo(timezone)).date()


def features_table(facts: Facts, settings: SegmentSettings, *, as_of: datetime,
                   timezone: str) -> ir.Table:
    """Every customer's features and scores at ``as_of``, ordered by customer ID."""
    day = shop_day(as_of, timezone)
    t = customer_features(facts, as_of=as_of, as_of_day=day, windows=settings.windows,
                          new_arrival_days=settings.new_arrival_days)
    # Scores need windows over all buyers; sorting narrow rows and joining the scores
    # back is much cheaper than sorting the ~50-column feature rows.
    inputs = ("recency_days", "frequency", "monetary", "first_purchase_day")
    scored = t.select("customer_id", *inputs)
    scored = rfm_scores(scored, settings.rfm)
    scored = rfm_classes(scored, settings.rfm)
    scored = value_tiers(scored, settings.tiers)
    scored = lifecycle(scored, settings.lifecycle, as_of_day=day).drop(*inputs)
    t = t.join(scored, "customer_id")
    t = t.mutate(as_of=ibis.literal(as_of, type=dt.Timestamp(timezone="UTC")),
                 as_of_day=ibis.literal(day))
    return t.order_by("customer_id")


def rfm_table(orders: ir.Table, settings: SegmentSettings, *, as_of: datetime,
              timezone: str) -> ir.Table:
    """Only the buyers' R, F, M values and scores (the benchmark's like-for-like part)."""
    day = shop_day(as_of, timezone)
    buyers = buyer_aggregates(orders, as_of, day, ()).select(
        "customer_id", "recency_days", "frequency", "monetary")
    return rfm_scores(buyers, settings.rfm)


def warehouse_facts(warehouse: object) -> Facts:
    """The four fact tables of a :class:`~shopcrm.warehouse.engine.Warehouse`."""
    table = warehouse.table  # type: ignore[attr-defined]
    return Facts(orders=table("orders"), order_items=table("order_items"),
                 events=table("events"), products=table("products"))
