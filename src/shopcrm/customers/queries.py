"""Customer list and search: the operational store finds the people, the warehouse
adds their order figures for the page being shown (never for the whole table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.analytics.kpis import paid_orders
from shopcrm.identity.models import IdentityKey
from shopcrm.ingest.normalize import normalize_phone
from shopcrm.store.models import Customer, SourceIdentity
from shopcrm.warehouse.engine import Warehouse


@dataclass(frozen=True)
class CustomerRow:
    id: int
    name: str | None
    phone: str | None
    email: str | None
    province: str | None
    city: str | None
    sources: list[str]
    orders: int
    spend: Decimal
    last_order: date | None
    first_seen_at: datetime | None


@dataclass(frozen=True)
class CustomerPage:
    items: list[CustomerRow]
    total: int
    page: int
    size: int


def customers_by_order(warehouse: Warehouse, order_id: str) -> list[int]:
    """Customers who placed an order with this number (any channel)."""
    if len(order_id) < 4 or len(order_id) > 64:
        return []
    orders = warehouse.table("orders")
    found = warehouse.execute(
        orders.filter(orders.order_id == order_id).select("customer_id").distinct())
    return [int(c) for c in found.column("customer_id").to_pylist() if c is not None]


SEARCH_LIMIT = 5_000
"""A search matching more customers than this (a one-letter name prefix) is cut off."""


def search_ids(session: Session, warehouse: Warehouse, q: str) -> set[int]:
    """Customers matching a search text: name prefix, e-mail, phone (any number a
    record was seen with), buyer ID, customer ID or order number. Each look-up is its
    own indexed query (an OR of sub-queries defeats the indexes on SQLite)."""
    text = q.strip()
    found: set[int] = set()

    def add(query: Any) -> None:
        found.update(c for c in session.scalars(query.limit(SEARCH_LIMIT)) if c is not None)

    # Prefix as a range, so the B-tree index serves it on SQLite and PostgreSQL alike.
    add(select(Customer.id).where(Customer.name >= text, Customer.name < text + "\U0010ffff"))
    add(select(SourceIdentity.customer_id).where(
        SourceIdentity.external_id.in_([text, f"email:{text.lower()}"])))
    phone = normalize_phone(text)
    if phone.kind == "e164" and phone.value:
        add(select(SourceIdentity.customer_id).where(SourceIdentity.phone == phone.value))
        add(select(SourceIdentity.customer_id).join(
            IdentityKey, IdentityKey.identity_id == SourceIdentity.id)
            .where(IdentityKey.kind == "phone", IdentityKey.value == phone.value))
    if "@" in text:
        add(select(Customer.id).where(Customer.email == text.lower()))
        add(select(SourceIdentity.customer_id).join(
            IdentityKey, IdentityKey.identity_id == SourceIdentity.id)
            .where(IdentityKey.kind == "email", IdentityKey.value == text.lower()))
    if text.isdigit() and len(text) < 19:
        found.add(int(text))
    found.update(customers_by_order(warehouse, text))
    return found


SORTS: dict[str, tuple[Any, ...]] = {
    "-last_seen": (Customer.last_seen_at.desc().nulls_last(), Customer.id.desc()),
    "last_seen": (Customer.last_seen_at.asc().nulls_last(), Customer.id.asc()),
    "-first_seen": (Customer.first_seen_at.desc().nulls_last(), Customer.id.desc()),
    "first_seen": (Customer.first_seen_at.asc().nulls_last(), Customer.id.asc()),
    "name": (Customer.name.asc().nulls_last(), Customer.id.asc()),
    "-name": (Customer.name.desc().nulls_last(), Customer.id.desc()),
    "id": (Customer.id.asc(),),
    "-id": (Customer.id.desc(),),
}
"""Orders a list can be sorted by (a leading '-' means descending); the ID breaks ties so
pages never overlap."""


def list_customers(
    session: Session, warehouse: Warehouse, *, q: str | None = None, page: int = 1,
    size: int = 50, sort: str = "-last_seen", province: str | None = None,
    source: str | None = None,
) -> CustomerPage:
    """A page of customers, filtered by search text, province and channel, sorted."""
    query = select(Customer).where(Customer.status == "active")
    if q and q.strip():
        found = sorted(search_ids(session, warehouse, q))
        if not found:
            return CustomerPage(items=[], total=0, page=page, size=size)
        # The found IDs are few: look them up by primary key. (A plain status filter
        # would let the planner walk the status/last-seen index over every customer.)
        query = select(Customer).where(Customer.id.in_(found),
                                       func.coalesce(Customer.status, "") == "active")
    if province:
        query = query.where(Customer.province == province)
    if source:
        query = query.where(Customer.id.in_(
            select(SourceIdentity.customer_id).where(SourceIdentity.source == source)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    customers = list(session.scalars(
        query.order_by(*SORTS[sort]).offset((page - 1) * size).limit(size)))
    ids = [c.id for c in customers]
    sources: dict[int, list[str]] = {}
    for customer_id, source in session.execute(
        select(SourceIdentity.customer_id, SourceIdentity.source)
        .where(SourceIdentity.customer_id.in_(ids)).distinct()
    ):
        if customer_id is not None:
            sources.setdefault(customer_id, []).append(source)
    figures = order_figures(warehouse, ids)
    items = [
        CustomerRow(
            id=c.id, name=c.name, phone=c.phone, email=c.email, province=c.province,
            city=c.city, sources=sorted(sources.get(c.id, [])),
            orders=figures.get(c.id, (0, Decimal(0), None))[0],
            spend=figures.get(c.id, (0, Decimal(0), None))[1],
            last_order=figures.get(c.id, (0, Decimal(0), None))[2],
            first_seen_at=c.first_seen_at,
        )
        for c in customers
    ]
    return CustomerPage(items=items, total=int(total), page=page, size=size)


def order_figures(
    warehouse: Warehouse, ids: list[int]
) -> dict[int, tuple[int, Decimal, date | None]]:
    """Orders, net spend and last order day for the given customers."""
    if not ids:
        return {}
    orders = paid_orders(warehouse.table("orders"))
    mine = orders.filter(orders.customer_id.isin(ids))
    rows = warehouse.execute(mine.group_by("customer_id").aggregate(
        orders=mine.count(),
        spend=(mine.paid_amount - mine.refund_amount).sum(),
        last=mine.day.max(),
    )).to_pylist()
    return {
        int(r["customer_id"]): (int(r["orders"]), Decimal(r["spend"] or 0), r["last"])
        for r in rows
    }
