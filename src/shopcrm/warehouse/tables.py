"""The fact tables: their columns, keys and how a newer version replaces an older one.

Facts are append-only. A changed order (a refund arrives in a later export) is written
again by a later batch; readers keep the newest version per key. No personal data here:
facts carry only the identity and customer IDs (not even the buyer's platform key, which
can be an e-mail address), so erasure never rewrites a fact.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FactTable:
    """One fact table: DuckDB column types, the version key, and its partitioning."""

    name: str
    columns: tuple[tuple[str, str], ...]
    version_key: tuple[str, ...]
    """Rows sharing these values are versions of one thing; the highest batch_id wins."""
    partitioned_by_day: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


MONEY = "DECIMAL(18,2)"

_BOOKKEEPING = (("batch_id", "BIGINT"), ("row_hash", "VARCHAR"))

ORDERS = FactTable(
    name="orders",
    columns=(
        ("source", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("identity_id", "BIGINT"),
        ("customer_id", "BIGINT"),
        ("status", "VARCHAR"),
        ("raw_status", "VARCHAR"),
        ("created_at", "TIMESTAMPTZ"),
        ("paid_at", "TIMESTAMPTZ"),
        ("completed_at", "TIMESTAMPTZ"),
        ("currency", "VARCHAR"),
        ("goods_amount", MONEY),
        ("shipping_fee", MONEY),
        ("discount_amount", MONEY),
        ("paid_amount", MONEY),
        ("refund_amount", MONEY),
        ("item_count", "INTEGER"),
        ("store_name", "VARCHAR"),
        ("promo_type", "VARCHAR"),
        ("province", "VARCHAR"),
        ("city", "VARCHAR"),
        ("district", "VARCHAR"),
        ("day", "DATE"),
        *_BOOKKEEPING,
    ),
    version_key=("source", "order_id"),
)

ORDER_ITEMS = FactTable(
    name="order_items",
    columns=(
        ("source", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("line_no", "INTEGER"),
        ("sku", "VARCHAR"),
        ("product_id", "VARCHAR"),
        ("title", "VARCHAR"),
        ("quantity", "INTEGER"),
        ("unit_price", MONEY),
        ("amount", MONEY),
        ("refund_amount", MONEY),
        ("status", "VARCHAR"),
        ("identity_id", "BIGINT"),
        ("customer_id", "BIGINT"),
        ("day", "DATE"),
        *_BOOKKEEPING,
    ),
    # All lines of one order are replaced together when any of them changes.
    version_key=("source", "order_id"),
)

EVENTS = FactTable(
    name="events",
    columns=(
        ("source", "VARCHAR"),
        ("event_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("occurred_at", "TIMESTAMPTZ"),
        ("identity_id", "BIGINT"),
        ("customer_id", "BIGINT"),
        ("device_id", "VARCHAR"),
        ("sku", "VARCHAR"),
        ("category", "VARCHAR"),
        ("query", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("value", MONEY),
        ("day", "DATE"),
        *_BOOKKEEPING,
    ),
    version_key=("source", "event_id"),
)

PRODUCTS = FactTable(
    name="products",
    columns=(
        ("sku", "VARCHAR"),
        ("title", "VARCHAR"),
        ("category", "VARCHAR"),
        ("brand", "VARCHAR"),
        ("launched_on", "DATE"),
        ("list_price", MONEY),
        *_BOOKKEEPING,
    ),
    version_key=("sku",),
    partitioned_by_day=False,
)

FACT_TABLES: dict[str, FactTable] = {t.name: t for t in (ORDERS, ORDER_ITEMS, EVENTS, PRODUCTS)}
