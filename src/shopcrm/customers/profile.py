"""One customer as a page shows them: their attributes, the source identities that make
them up (a Taobao buyer, a Shopify customer, …) and their orders, newest first.

Personal values come back unmasked; :func:`shopcrm.customers.present.present_customer`
masks them for callers without the view-PII permission.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.analytics.kpis import paid_orders
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
class AttributeSource:
    """Where a profile value comes from: the identity whose value survived (the most
    recently seen one that has it; a shop's own records first on equal dates)."""

    field: str
    value: Any
    source: str
    external_id: str
    seen_at: datetime | None


@dataclass(frozen=True)
class Ranked:
    name: str
    count: int


@dataclass(frozen=True)
class Figures:
    """What the customer's orders say, net of refunds."""

    paid_orders: int
    spend: Decimal
    aov: Decimal | None
    first_purchase: date | None
    last_purchase: date | None
    preferred_channel: str | None
    channels: list[Ranked]
    favourite_categories: list[Ranked]
    favourite_brands: list[Ranked]
    refunded: Decimal


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime | None
    kind: str
    """``order`` or an event type (view, add_to_cart, …)."""
    source: str
    detail: str | None
    amount: Decimal | None


@dataclass(frozen=True)
class OrderLine:
    order_id: str
    sku: str | None
    title: str | None
    quantity: int | None
    amount: Decimal


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
    merged_into: int | None = None
    attribute_sources: list[AttributeSource] = field(default_factory=list)
    figures: Figures | None = None
    lines: list[OrderLine] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    """What other capabilities add: tags, RFM, points, tickets, campaign touches."""


SlotProvider = Callable[[Session, int], Any]


def _points(session: Session, customer_id: int) -> dict[str, Any] | None:
    from shopcrm.loyalty.models import LoyaltyAccount

    account = session.get(LoyaltyAccount, customer_id)
    if account is None:
        return None
    return {"tier": account.tier, "balance": account.balance,
            "tier_since": account.tier_since}


def _tickets(session: Session, customer_id: int) -> list[dict[str, Any]]:
    from shopcrm.tickets.queries import customer_tickets

    return [{"id": t.id, "subject": t.subject, "kind": t.kind, "channel": t.channel,
             "status": t.status, "priority": t.priority, "created_at": t.created_at,
             "satisfaction": t.satisfaction}
            for t in customer_tickets(session, customer_id)]


SLOTS: dict[str, SlotProvider | None] = {
    "tags": None, "rfm": None, "points": _points, "tickets": _tickets, "touches": None}
"""Profile slots later capabilities fill by :func:`register_slot`; None = not yet."""


SLOT_MASKS: dict[str, Callable[[Any], Any]] = {}
"""Per slot, what callers without view-PII see of it (a slot holding addresses)."""


def register_slot(name: str, provider: SlotProvider,
                  mask: Callable[[Any], Any] | None = None) -> None:
    SLOTS[name] = provider
    if mask is not None:
        SLOT_MASKS[name] = mask


def customer_profile(session: Session, warehouse: Warehouse, customer_id: int, *,
                     order_limit: int = ORDER_LIMIT) -> CustomerProfile | None:
    """The customer with their identities and newest orders; None when there is none."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    identities = [
        identity_row(i) for i in session.scalars(
            select(SourceIdentity).where(SourceIdentity.customer_id == customer_id)
            .order_by(SourceIdentity.source, SourceIdentity.id))
    ]
    members = list(session.scalars(select(SourceIdentity).where(
        SourceIdentity.customer_id == customer_id)))
    orders, total = customer_orders(warehouse, customer_id, limit=order_limit)
    paid, spend, last = order_figures(warehouse, [customer_id]).get(
        customer_id, (0, Decimal(0), None))
    return CustomerProfile(
        merged_into=customer.merged_into,
        attribute_sources=attribute_sources(members),
        figures=customer_figures(warehouse, customer_id),
        lines=order_lines(warehouse, [o.order_id for o in orders[:20]], customer_id),
        timeline=timeline(warehouse, customer_id),
        slots={name: provider(session, customer_id) if provider else None
               for name, provider in SLOTS.items()},
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


def identity_row(identity: SourceIdentity) -> IdentityRow:
    tags = (identity.attributes or {}).get("tags")
    return IdentityRow(
        source=identity.source, external_id=identity.external_id, kind=identity.kind,
        name=identity.name, phone=identity.phone, phone_masked=identity.phone_masked,
        email=identity.email, province=identity.province, city=identity.city,
        district=identity.district, address_detail=identity.address_detail,
        tags=str(tags) if tags else None,
        first_seen_at=identity.first_seen_at, last_seen_at=identity.last_seen_at,
    )


PROFILE_FIELDS = ("name", "phone", "email", "province", "city", "district")
SOURCE_TRUST = {"shopify": 1, "own": 1, "woocommerce": 1, "taobao": 2, "jd": 2, "pdd": 3}
"""Survivorship tie-break on equal dates: a shop's own records before marketplaces,
receivers last (a receiver may be someone the buyer sent a gift to)."""


def survivor_order(identities: list[SourceIdentity]) -> list[SourceIdentity]:
    """Most recently seen first; on equal dates the more trusted source first."""
    def rank(identity: SourceIdentity) -> tuple[float, int, int]:
        seen = identity.last_seen_at
        return (-(seen.timestamp() if seen else 0.0), SOURCE_TRUST.get(identity.source, 5),
                identity.id)

    return sorted(identities, key=rank)


def attribute_sources(identities: list[SourceIdentity]) -> list[AttributeSource]:
    """Per profile field, the value that survives and the identity it comes from."""
    ordered = survivor_order(identities)
    found = []
    for name in PROFILE_FIELDS:
        winner = next((i for i in ordered if getattr(i, name)), None)
        if winner is not None:
            found.append(AttributeSource(name, getattr(winner, name), winner.source,
                                         winner.external_id, winner.last_seen_at))
    return found


def customer_figures(warehouse: Warehouse, customer_id: int, *, top: int = 3) -> Figures:
    orders = warehouse.table("orders")
    paid = paid_orders(orders.filter(orders.customer_id == customer_id))
    rows = warehouse.execute(paid.select("source", "order_id", "day", "paid_amount",
                                         "refund_amount")).to_pylist()
    spend = sum((Decimal(r["paid_amount"] or 0) - Decimal(r["refund_amount"] or 0)
                 for r in rows), Decimal(0))
    refunded = sum((Decimal(r["refund_amount"] or 0) for r in rows), Decimal(0))
    days = [r["day"] for r in rows if r["day"] is not None]
    channels = Counter(r["source"] for r in rows)
    items = warehouse.table("order_items")
    products = warehouse.table("products")
    mine = items.filter(items.customer_id == customer_id)
    joined = mine.left_join(products, mine.sku == products.sku)
    lines = warehouse.execute(joined.select(category=joined.category,
                                            brand=joined.brand)).to_pylist()
    categories = Counter(r["category"] for r in lines if r["category"])
    brands = Counter(r["brand"] for r in lines if r["brand"])
    return Figures(
        paid_orders=len(rows), spend=spend,
        aov=(spend / len(rows)).quantize(Decimal("0.01")) if rows else None,
        first_purchase=min(days) if days else None, last_purchase=max(days) if days else None,
        preferred_channel=channels.most_common(1)[0][0] if channels else None,
        channels=[Ranked(n, c) for n, c in channels.most_common()],
        favourite_categories=[Ranked(n, c) for n, c in categories.most_common(top)],
        favourite_brands=[Ranked(n, c) for n, c in brands.most_common(top)],
        refunded=refunded)


def order_lines(warehouse: Warehouse, order_ids: list[str], customer_id: int
                ) -> list[OrderLine]:
    if not order_ids:
        return []
    items = warehouse.table("order_items")
    rows = warehouse.execute(
        items.filter(items.order_id.isin(order_ids))
        .order_by([items.order_id, items.line_no])
        .select("order_id", "sku", "title", "quantity", "amount")).to_pylist()
    return [OrderLine(r["order_id"], r["sku"], r["title"], r["quantity"],
                      Decimal(r["amount"] or 0)) for r in rows]


def timeline(warehouse: Warehouse, customer_id: int, *, limit: int = 50
             ) -> list[TimelineEntry]:
    """Orders and behaviour events on one line, newest first."""
    events = warehouse.table("events")
    mine = events.filter(events.customer_id == customer_id)
    rows = warehouse.execute(
        mine.order_by(mine.occurred_at.desc()).limit(limit)
        .select("occurred_at", "event_type", "source", "sku", "category", "query", "value")
    ).to_pylist()
    entries = [TimelineEntry(r["occurred_at"], r["event_type"] or "event", r["source"] or "",
                             r["query"] or r["sku"] or r["category"],
                             Decimal(r["value"]) if r["value"] is not None else None)
               for r in rows]
    orders = warehouse.table("orders")
    placed = orders.filter(orders.customer_id == customer_id)
    for r in warehouse.execute(placed.order_by(placed.created_at.desc()).limit(limit)
                               .select("created_at", "source", "order_id", "status",
                                       "paid_amount")).to_pylist():
        entries.append(TimelineEntry(r["created_at"], "order", r["source"],
                                     f"{r['order_id']} ({r['status']})",
                                     Decimal(r["paid_amount"] or 0)))
    entries.sort(key=lambda e: e.at.timestamp() if e.at else 0.0, reverse=True)
    return entries[:limit]
