"""Shop KPIs by month: GMV, net revenue, orders, buyers, AOV, new vs returning buyers.

GMV counts orders that were paid (whatever happened later); net revenue subtracts
refunds and ignores cancelled or unpaid orders — the two numbers shops argue about,
shown side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import ibis
import ibis.expr.types as ir

from shopcrm.warehouse.engine import Warehouse

PAID_STATUSES = ("paid", "shipped", "completed", "refunded")


@dataclass(frozen=True)
class MonthKpi:
    month: str
    orders: int
    buyers: int
    new_buyers: int
    gmv: Decimal
    net_revenue: Decimal
    refunds: Decimal

    @property
    def aov(self) -> Decimal:
        return (self.gmv / self.orders).quantize(Decimal("0.01")) if self.orders else Decimal(0)


@dataclass(frozen=True)
class ShopTotals:
    customers_with_orders: int
    orders: int
    gmv: Decimal
    net_revenue: Decimal

    @property
    def aov(self) -> Decimal:
        return (self.gmv / self.orders).quantize(Decimal("0.01")) if self.orders else Decimal(0)


def paid_orders(orders: ir.Table) -> ir.Table:
    return orders.filter(orders.status.isin(PAID_STATUSES))


def monthly_kpis_expr(orders: ir.Table) -> ir.Table:
    paid = paid_orders(orders)
    first = paid.group_by("customer_id").aggregate(first_day=paid.day.min())
    enriched = paid.join(first, "customer_id").mutate(
        month=paid.day.truncate("M"),
    )
    enriched = enriched.mutate(is_new=enriched.first_day.truncate("M") == enriched.month)
    net = ibis.cases(
        (enriched.status == "refunded", 0),
        else_=enriched.paid_amount - enriched.refund_amount,
    )
    return (
        enriched.group_by("month")
        .aggregate(
            orders=enriched.count(),
            buyers=enriched.customer_id.nunique(),
            new_buyers=enriched.customer_id.nunique(where=enriched.is_new),
            gmv=enriched.paid_amount.sum(),
            net_revenue=net.sum(),
            refunds=enriched.refund_amount.sum(),
        )
        .order_by("month")
    )


def monthly_kpis(warehouse: Warehouse) -> list[MonthKpi]:
    frame = warehouse.execute(monthly_kpis_expr(warehouse.table("orders"))).to_pylist()
    return [
        MonthKpi(
            month=row["month"].strftime("%Y-%m"),
            orders=int(row["orders"]),
            buyers=int(row["buyers"]),
            new_buyers=int(row["new_buyers"] or 0),
            gmv=Decimal(row["gmv"] or 0),
            net_revenue=Decimal(row["net_revenue"] or 0).quantize(Decimal("0.01")),
            refunds=Decimal(row["refunds"] or 0),
        )
        for row in frame
    ]


def shop_totals(warehouse: Warehouse) -> ShopTotals:
    paid = paid_orders(warehouse.table("orders"))
    net = ibis.cases((paid.status == "refunded", 0), else_=paid.paid_amount - paid.refund_amount)
    row = warehouse.execute(paid.aggregate(
        customers=paid.customer_id.nunique(), orders=paid.count(),
        gmv=paid.paid_amount.sum(), net=net.sum(),
    )).to_pylist()[0]
    return ShopTotals(
        customers_with_orders=int(row["customers"] or 0),
        orders=int(row["orders"] or 0),
        gmv=Decimal(row["gmv"] or 0),
        net_revenue=Decimal(row["net"] or 0).quantize(Decimal("0.01")),
    )


def channel_mix(warehouse: Warehouse) -> list[tuple[str, int, Decimal]]:
    paid = paid_orders(warehouse.table("orders"))
    rows = warehouse.execute(
        paid.group_by("source").aggregate(orders=paid.count(), gmv=paid.paid_amount.sum())
        .order_by(ibis.desc("gmv"))).to_pylist()
    return [(r["source"], int(r["orders"]), Decimal(r["gmv"] or 0)) for r in rows]
