"""The features job as Ibis expressions: facts in, one row per customer out.

Every function here takes Ibis tables and plain values (``as_of`` from the injected
clock, the shop's settings) and returns an Ibis expression — no SQL text, no pandas — so
the very same definition runs on DuckDB and on Spark (see ``tests/segments``'s parity
suite). Scoring (RFM, tiers, lifecycle) lives in :mod:`shopcrm.segments.scoring`.

Definitions (documented in docs/segments.md):

* a *purchase* is an order created before ``as_of`` whose status is paid, shipped or
  completed (a fully refunded or cancelled order is not a purchase);
* dates are the shop-local order ``day``; ``recency_days`` is ``as_of_day`` minus the day
  of the last purchase;
* ``monetary`` is net of refunds: the sum over purchases of paid amount − refunded amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

PURCHASE_STATUSES = ("paid", "shipped", "completed")
EVENT_TYPES = ("view", "search", "add_to_cart", "favourite")
MONEY = dt.Decimal(18, 2)


@dataclass(frozen=True)
class Facts:
    """The four fact tables the job reads (current versions), on one Ibis backend."""

    orders: ir.Table
    order_items: ir.Table
    events: ir.Table
    products: ir.Table


def _moment(as_of: datetime) -> ir.TimestampScalar:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return ibis.literal(as_of, type=dt.Timestamp(timezone="UTC"))


def purchases(orders: ir.Table, as_of: datetime) -> ir.Table:
    """Orders that count as purchases at ``as_of``."""
    return orders.filter(
        orders.customer_id.notnull(),
        orders.status.isin(PURCHASE_STATUSES),
        orders.created_at < _moment(as_of),
    )


def money_mean(total: ir.NumericValue, n: ir.IntegerValue) -> ir.DecimalValue:
    """``total / n`` rounded half-up to cents, in integer arithmetic so every engine agrees
    (a float mean rounded to 2 places can land on either side of a half cent)."""
    cents = (total * 100).cast("int64")
    rounded = (cents * 2 + n) // (n * 2)
    return (rounded.cast("float64") / 100).cast(MONEY)


def _days_before(as_of_day: date, day: ir.DateValue) -> ir.IntegerValue:
    return ibis.literal(as_of_day).delta(day, unit="day")


def buyer_aggregates(orders: ir.Table, as_of: datetime, as_of_day: date,
                     windows: tuple[int, ...]) -> ir.Table:
    """Recency, frequency, monetary and the order-side features of every buyer."""
    bought = purchases(orders, as_of)
    bought = bought.mutate(
        net=(bought.paid_amount.fill_null(0) - bought.refund_amount.fill_null(0)),
        age=_days_before(as_of_day, bought.day),
        promo=(bought.promo_type.notnull() & (bought.promo_type.strip() != "")).cast("int32"),
    )
    metrics: dict[str, ir.Value] = {
        "first_purchase_day": bought.day.min(),
        "last_purchase_day": bought.day.max(),
        "frequency": bought.count(),
        "monetary": bought.net.sum().cast(MONEY),
        "gross": bought.paid_amount.fill_null(0).sum().cast(MONEY),
        "refunds": bought.refund_amount.fill_null(0).sum().cast(MONEY),
        "promo_orders": bought.promo.sum(),
    }
    for w in windows:
        metrics[f"orders_{w}d"] = bought.count(where=bought.age < w)
        metrics[f"spend_{w}d"] = bought.net.sum(where=bought.age < w).fill_null(0).cast(MONEY)
    agg = bought.group_by("customer_id").aggregate(**metrics)
    span = agg.last_purchase_day.delta(agg.first_purchase_day, unit="day")
    return agg.mutate(
        recency_days=_days_before(as_of_day, agg.last_purchase_day),
        aov=money_mean(agg.monetary, agg.frequency),
        mean_interpurchase_days=ibis.ifelse(
            agg.frequency > 1, span.cast("float64") / (agg.frequency - 1), ibis.null("float64")),
        promo_share=agg.promo_orders.cast("float64") / agg.frequency,
    ).drop("promo_orders")


_NAME_SLOTS = 10_000_000
"""Distinct names a favourite can choose among (categories, brands) — far above reality."""


def _favourite(grouped: ir.Table, column: str) -> ir.Table:
    """Per customer, the value of ``column`` bought in the largest quantity (ties: name).

    A window (row_number per customer) sorts millions of (customer, value) rows; instead
    every distinct value gets its rank by name (a small sort), and one hash aggregate
    takes ``argmax`` of ``qty × slots − rank``: the largest quantity, then the first name.
    """
    present = grouped.filter(grouped[column].notnull() & (grouped[column] != ""))
    totals = present.group_by(["customer_id", column]).aggregate(qty=present.qty.sum())
    names = present.select(column).distinct()
    names = names.mutate(name_rank=ibis.row_number().over(order_by=names[column]))
    ranked = totals.join(names, column)
    key = ranked.qty.cast("int64") * _NAME_SLOTS - ranked.name_rank
    return ranked.group_by("customer_id").aggregate(
        **{f"favourite_{column}": ranked[column].argmax(key)})


def item_aggregates(orders: ir.Table, items: ir.Table, products: ir.Table, as_of: datetime,
                    new_arrival_days: int) -> ir.Table:
    """Favourite category and brand, new-arrival share and unit-price level per buyer.

    The order lines are joined once and reduced to one row per (customer, category,
    brand); the per-customer figures and both favourites are computed from that table.
    (Caching that table, ``Table.cache``, was measured at 10 M lines: no gain — the cost
    is the grouping volume, not recomputation.)
    """
    bought = purchases(orders, as_of).select("source", "order_id", "customer_id", "day")
    lines = items.select("source", "order_id", "sku", "quantity", "unit_price").join(
        bought, ["source", "order_id"])
    catalogue = products.select("sku", "category", "brand", "launched_on", "list_price")
    lines = lines.left_join(catalogue, "sku").drop("sku_right")
    since_launch = lines.day.delta(lines.launched_on, unit="day")
    lines = lines.mutate(
        new_arrival=ibis.ifelse(
            lines.launched_on.notnull() & (since_launch >= 0)
            & (since_launch < new_arrival_days), 1, 0),
        price_ratio=ibis.ifelse(
            lines.list_price > 0,
            lines.unit_price.cast("float64") / lines.list_price.cast("float64"),
            ibis.null("float64")),
    )
    grouped = lines.group_by(["customer_id", "category", "brand"]).aggregate(
        qty=lines.quantity.fill_null(0).sum(),
        n_lines=lines.count(),
        new_lines=lines.new_arrival.sum(),
        price_total=lines.unit_price.fill_null(0).sum(),
        ratio_sum=lines.price_ratio.sum(),
        ratio_n=lines.price_ratio.count(),
    )
    agg = grouped.group_by("customer_id").aggregate(
        items_bought=grouped.qty.sum(),
        priced_lines=grouped.n_lines.sum(),
        new_lines=grouped.new_lines.sum(),
        unit_price_total=grouped.price_total.sum(),
        ratio_sum=grouped.ratio_sum.sum(),
        ratio_n=grouped.ratio_n.sum(),
    )
    agg = agg.mutate(
        new_arrival_share=agg.new_lines.cast("float64") / agg.priced_lines,
        avg_unit_price=money_mean(agg.unit_price_total, agg.priced_lines),
        price_index=ibis.ifelse(agg.ratio_n > 0, agg.ratio_sum / agg.ratio_n,
                                ibis.null("float64")),
    ).select("customer_id", "items_bought", "new_arrival_share", "avg_unit_price",
             "price_index")
    agg = agg.left_join(_favourite(grouped, "category"), "customer_id").drop("customer_id_right")
    return agg.left_join(_favourite(grouped, "brand"), "customer_id").drop("customer_id_right")


def event_aggregates(events: ir.Table, as_of: datetime, as_of_day: date,
                     windows: tuple[int, ...]) -> ir.Table:
    """Behaviour counts by event type and window (days up to and including ``as_of_day``)."""
    seen = events.filter(events.customer_id.notnull(), events.occurred_at < _moment(as_of))
    seen = seen.mutate(age=_days_before(as_of_day, seen.day))
    metrics: dict[str, ir.Value] = {"last_event_day": seen.day.max()}
    for kind in EVENT_TYPES:
        for w in windows:
            metrics[f"{kind}_{w}d"] = seen.count(where=(seen.event_type == kind) & (seen.age < w))
    return seen.group_by("customer_id").aggregate(**metrics)


def customers_seen(facts: Facts, as_of: datetime) -> ir.Table:
    """Every customer with an order (any status) or an event before ``as_of``."""
    moment = _moment(as_of)
    o = facts.orders.filter(facts.orders.customer_id.notnull(), facts.orders.created_at < moment)
    e = facts.events.filter(facts.events.customer_id.notnull(), facts.events.occurred_at < moment)
    return o.select("customer_id").union(e.select("customer_id"), distinct=True)


def customer_features(facts: Facts, *, as_of: datetime, as_of_day: date,
                      windows: tuple[int, ...] = (7, 30, 90),
                      new_arrival_days: int = 30) -> ir.Table:
    """One row per customer seen before ``as_of``: the unscored features.

    Buyers have every purchase feature; customers with only events (or only unpaid
    orders) have nulls there and zeros in the counts.
    """
    everyone = customers_seen(facts, as_of)
    buyers = buyer_aggregates(facts.orders, as_of, as_of_day, windows)
    items = item_aggregates(facts.orders, facts.order_items, facts.products, as_of,
                            new_arrival_days)
    behaviour = event_aggregates(facts.events, as_of, as_of_day, windows)
    joined = (everyone.left_join(buyers, "customer_id").drop("customer_id_right")
              .left_join(items, "customer_id").drop("customer_id_right")
              .left_join(behaviour, "customer_id").drop("customer_id_right"))
    zero_filled: dict[str, ir.Value] = {"frequency": joined.frequency.fill_null(0)}
    for w in windows:
        zero_filled[f"orders_{w}d"] = joined[f"orders_{w}d"].fill_null(0)
        zero_filled[f"spend_{w}d"] = joined[f"spend_{w}d"].fill_null(Decimal(0)).cast(MONEY)
        for kind in EVENT_TYPES:
            zero_filled[f"{kind}_{w}d"] = joined[f"{kind}_{w}d"].fill_null(0)
    return joined.mutate(**zero_filled)
