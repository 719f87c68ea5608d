"""CLV snapshots: fit and predict on the shop's purchases, keep one Parquet file per run.

``compute_clv(context)`` (CLI: ``shopcrm segment clv``) writes
``<warehouse>/_clv/<run>.parquet`` (``customer_id``, ``p_alive``, ``expected_purchases``,
``expected_spend``, ``expected_revenue``, ``clv``) with the same layout and atomic
publication as the features snapshots; ``clv`` nodes of segment and tag rules read the
latest one. Spend is net of refunds; the observation ends on the shop-local today.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from shopcrm.context import AppContext
from shopcrm.segments.audience import clv_store
from shopcrm.segments.clv import ClvSettings, predict_from_orders
from shopcrm.segments.features import purchases
from shopcrm.segments.job import shop_day
from shopcrm.segments.snapshots import new_run_id


@dataclass(frozen=True)
class ClvRun:
    run_id: str
    customers: int
    notes: list[str]


def compute_clv(context: AppContext, settings: ClvSettings | None = None) -> ClvRun:
    """Raises ``NotEnoughCustomers`` / ``FitError`` when the shop cannot identify a model."""
    now = context.clock.now()
    orders = purchases(context.warehouse.table("orders"), now)
    orders = orders.mutate(amount=(orders.paid_amount.fill_null(0)
                                   - orders.refund_amount.fill_null(0)).cast("float64"))
    with context.warehouse._lock:  # one DuckDB connection serves every thread
        prediction = predict_from_orders(orders, end=shop_day(now, context.settings.timezone),
                                         settings=settings or ClvSettings())
    table: pa.Table = prediction.table
    table = table.set_column(0, "customer_id", table.column("customer_id").cast(pa.int64()))
    run_id = new_run_id(now)
    clv_store(context).write(run_id, table, {
        "as_of": now.isoformat(), "customers": table.num_rows, "notes": prediction.notes})
    return ClvRun(run_id, table.num_rows, list(prediction.notes))
