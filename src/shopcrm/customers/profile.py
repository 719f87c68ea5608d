"""One customer as a page shows them: their attributes, the source identities that make
them up (a Taobao buyer, a Shopify customer, …) and their orders, newest first.

Personal values come back unmasked; :func:`shopcrm.customers.present.present_customer`
masks them for callers without the view-PII permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.customers.queries import order_figures
from shopcrm.store.models import Customer, SourceIdentity
from shopcrm.warehouse.engine import Warehouse

ORDER_LIMIT = 100


@dataclass(frozen=True)
class IdentityRow:
    source: str
    external_id: str
    kind: str
    name: str | None
    phone: str | None
    phone_masked: str | None
    email: str | None
    province: str | None
    city: str | None
    district: str | None
    address_detail: str | None
    tags: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None


@dataclass(frozen=True)
class OrderRow:
    source: str
    order_id: str
    status: str
    created_at: datetime | None
    day: date | None
    paid_amount: Decimal
    refund_amount: Decimal
    item_count: int | None
    store_name: str | None
    province: str | None
    city: str | None


@dataclass(frozen=True)
class CustomerProfile:
    id: int
    status: str
    name: str | None
    phone: str | None
    email: str | None
    gender: str | None
    birthday: date | None
    province: str | None
    city: str | None
    district: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    paid_orders: int
    spend: Decimal
    last_order: date | None
    identities: list[IdentityRow]
    orders: list[OrderRow]
    orders_total: int
    """All orders of any status; ``orders`` holds at most ``ORDER_LIMIT`` of them."""


def customer_profile(session: Session, warehouse: Warehouse, customer_id: int, *,
                     order_limit: int = ORDER_LIMIT) -> CustomerProfile | None:
    """The customer with their identities and newest orders; None when there is none."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    identities = [
        _identity(i) for i in session.scalars(
            select(SourceIdentity).where(SourceIdentity.customer_id == customer_id)
            .order_by(SourceIdentity.source, SourceIdentity.id))
    ]
    orders, total = customer_orders(warehouse, customer_id, limit=order_limit)
    paid, spend, last = order_figures(warehouse, [customer_id]).get(
        customer_id, (0, Decimal(0), None))
    return CustomerProfile(
        id=customer.id, status=customer.status, name=customer.name, phone=customer.phone,
        email=customer.email, gender=customer.gender, birthday=customer.birthday,
        province=customer.province, city=customer.city, district=customer.district,
        first_seen_at=customer.first_seen_at, last_seen_at=customer.last_seen_at,
        paid_orders=paid, spend=spend, last_order=last, identities=identities,
        orders=orders, orders_total=total,
    )


def customer_orders(warehouse: Warehouse, customer_id: int, *,
                    limit: int = ORDER_LIMIT) -> tuple[list[OrderRow], int]:
    """The customer's orders (current versions, every status), newest first, and how many
    there are in all."""
    orders = warehouse.table("orders")
    mine = orders.filter(orders.customer_id == customer_id)
    total = int(warehouse.execute(mine.count()).as_py() or 0)
    rows = warehouse.execute(
        mine.order_by([mine.created_at.desc(nulls_first=False), mine.day.desc(nulls_first=False),
                       mine.order_id.desc()])
        .limit(limit)
        .select("source", "order_id", "status", "created_at", "day", "paid_amount",
                "refund_amount", "item_count", "store_name", "province", "city")
    ).to_pylist()
    return [_order(r) for r in rows], total


def _order(row: dict[str, Any]) -> OrderRow:
    return OrderRow(
        source=row["source"], order_id=row["order_id"], status=row["status"] or "",
        created_at=row["created_at"], day=row["day"],
        paid_amount=Decimal(row["paid_amount"] or 0),
        refund_amount=Decimal(row["refund_amount"] or 0),
        item_count=row["item_count"], store_name=row["store_name"],
        province=row["province"], city=row["city"],
    )


def _identity(identity: SourceIdentity) -> IdentityRow:
    tags = (identity.attributes or {}).get("tags")
    return IdentityRow(
        source=identity.source, external_id=identity.external_id, kind=identity.kind,
        name=identity.name, phone=identity.phone, phone_masked=identity.phone_masked,
        email=identity.email, province=identity.province, city=identity.city,
        district=identity.district, address_detail=identity.address_detail,
        tags=str(tags) if tags else None,
        first_seen_at=identity.first_seen_at, last_seen_at=identity.last_seen_at,
    )
