"""Product recommendations from co-purchase, computed in the warehouse through Ibis.

"Bought a stroller → baby products": two products are *partners* when they appear in
the same purchase; a customer's candidates are the partners of what they bought,
scored by how often each pair was bought together, minus what they already own.
Two Ibis expressions (same code on DuckDB or Spark):

- :func:`partners` — for every product its top partners with the pair count (once per
  dispatch run: one self-join of order lines on the order);
- :func:`for_customers` — per customer of a batch the top ``k`` candidates with title
  and category.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from shopcrm.segments.features import PURCHASE_STATUSES

TOP_PARTNERS = 20


def _purchased_lines(order_items: ir.Table, orders: ir.Table, as_of: datetime) -> ir.Table:
    bought = orders.filter(orders.status.isin(PURCHASE_STATUSES),
                           orders.created_at < as_of).select("source", "order_id")
    lines = order_items.filter(order_items.sku.notnull(), order_items.sku != "",
                               order_items.customer_id.notnull())
    return lines.join(bought, ["source", "order_id"]).select(
        "source", "order_id", "customer_id", "sku").distinct()


def partners(order_items: ir.Table, orders: ir.Table, *, as_of: datetime,
             top: int = TOP_PARTNERS) -> ir.Table:
    """``sku, partner, together`` — each product's ``top`` partners by how many
    purchases held both."""
    lines = _purchased_lines(order_items, orders, as_of).select("source", "order_id", "sku")
    other = lines.rename(partner="sku")
    pairs = lines.join(other, ["source", "order_id"])
    pairs = pairs.filter(pairs.sku != pairs.partner)
    counted = pairs.group_by(["sku", "partner"]).aggregate(together=pairs.count())
    rank = ibis.row_number().over(group_by=counted.sku,
                                  order_by=[counted.together.desc(), counted.partner])
    return counted.mutate(rank=rank).filter(lambda t: t["rank"] < top).drop("rank")


def for_customers(order_items: ir.Table, orders: ir.Table, products: ir.Table,
                  partner_table: ir.Table, customer_ids: Sequence[int], *, as_of: datetime,
                  k: int = 3) -> ir.Table:
    """``customer_id, sku, title, category, score`` — up to ``k`` per customer."""
    wanted = ibis.memtable(pa.table({"customer_id": pa.array(list(customer_ids), pa.int64())}))
    owned = _purchased_lines(order_items, orders, as_of).join(wanted, "customer_id").select(
        "customer_id", "sku").distinct()
    candidates = owned.join(partner_table, "sku").select(
        "customer_id", sku="partner", together="together")
    scored = candidates.group_by(["customer_id", "sku"]).aggregate(
        score=candidates.together.sum())
    fresh = scored.anti_join(owned, ["customer_id", "sku"])
    rank = ibis.row_number().over(group_by=fresh.customer_id,
                                  order_by=[fresh.score.desc(), fresh.sku])
    top = fresh.mutate(rank=rank).filter(lambda t: t["rank"] < k)
    names = products.select("sku", "title", "category")
    return top.left_join(names, "sku").select(
        "customer_id", "sku", "title", "category", "score", "rank")


class Recommender:
    """Co-purchase recommendations for the batches of one dispatch run (the partner
    table is computed once, then each batch is one query)."""

    def __init__(self, warehouse: Any, *, as_of: datetime, k: int = 3) -> None:
        self.warehouse = warehouse
        self.as_of = as_of
        self.k = k
        self._partners: pa.Table | None = None

    def _partner_table(self) -> ir.Table:
        if self._partners is None:
            w = self.warehouse
            self._partners = w.execute(partners(w.table("order_items"), w.table("orders"),
                                                as_of=self.as_of))
        return ibis.memtable(self._partners)

    def recommend(self, customer_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        if not customer_ids:
            return {}
        w = self.warehouse
        expr = for_customers(w.table("order_items"), w.table("orders"), w.table("products"),
                             self._partner_table(), customer_ids, as_of=self.as_of, k=self.k)
        found: dict[int, list[dict[str, Any]]] = {}
        rows = sorted(w.execute(expr).to_pylist(),
                      key=lambda r: (r["customer_id"], r["rank"]))
        for row in rows:
            found.setdefault(int(row["customer_id"]), []).append(
                {"sku": row["sku"], "title": row["title"] or row["sku"],
                 "category": row["category"], "score": int(row["score"])})
        return found
