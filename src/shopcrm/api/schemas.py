"""Response and request schemas (``ThingPublic`` …) of the REST API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    database: str
    warehouse_batches: int


class MonthKpiPublic(BaseModel):
    month: str
    orders: int
    buyers: int
    new_buyers: int
    gmv: Decimal
    net_revenue: Decimal
    refunds: Decimal
    aov: Decimal


class CustomerPublic(BaseModel):
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


class CustomerList(BaseModel):
    items: list[CustomerPublic]
    total: int
    page: int
    size: int


class RejectPublic(BaseModel):
    line: int
    reason: str


class ImportReportPublic(BaseModel):
    batch_id: int
    format: str
    file: str
    encoding: str | None
    status: str
    unit: str
    rows_read: int
    imported: int
    updated: int
    duplicates: int
    rejected: int
    identities_new: int
    identities_updated: int
    rejects_path: str | None
    sample_rejects: list[RejectPublic]
    unused_columns: list[str]
    message: str | None


class ImportBatchPublic(BaseModel):
    id: int
    format: str
    file_name: str
    status: str
    rows_read: int
    imported: int
    updated: int
    duplicates: int
    rejected: int
    started_at: datetime
    finished_at: datetime | None
    message: str | None


class IdentityPublic(BaseModel):
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


class AttributeSourcePublic(BaseModel):
    field: str
    value: Any
    source: str
    external_id: str
    seen_at: datetime | None


class RankedPublic(BaseModel):
    name: str
    count: int


class FiguresPublic(BaseModel):
    paid_orders: int
    spend: Decimal
    aov: Decimal | None
    first_purchase: date | None
    last_purchase: date | None
    preferred_channel: str | None
    channels: list[RankedPublic]
    favourite_categories: list[RankedPublic]
    favourite_brands: list[RankedPublic]
    refunded: Decimal


class OrderPublic(BaseModel):
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


class OrderLinePublic(BaseModel):
    order_id: str
    sku: str | None
    title: str | None
    quantity: int | None
    amount: Decimal


class TimelineEntryPublic(BaseModel):
    at: datetime | None
    kind: str
    source: str
    detail: str | None
    amount: Decimal | None


class CustomerDetail(BaseModel):
    """The 360° profile: who (with where each value comes from), how they are known on
    each channel, what they bought and did, and the slots later capabilities fill."""

    id: int
    status: str
    merged_into: int | None
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
    attribute_sources: list[AttributeSourcePublic]
    identities: list[IdentityPublic]
    figures: FiguresPublic | None
    orders: list[OrderPublic]
    orders_total: int
    lines: list[OrderLinePublic]
    timeline: list[TimelineEntryPublic]
    slots: dict[str, Any]
class RfmCellPublic(BaseModel):
    r: int
    f: int
    customers: int
    revenue: Decimal
    segment: str | None


class RfmGridPublic(BaseModel):
    run_id: str
    as_of: datetime
    cells: list[RfmCellPublic]


class SharePublic(BaseModel):
    name: str
    customers: int
    revenue: Decimal


class DistributionPublic(BaseModel):
    run_id: str
    as_of: datetime
    by: str
    shares: list[SharePublic]


class FlowPublic(BaseModel):
    from_stage: str | None
    to_stage: str
    customers: int


class StageRunPublic(BaseModel):
    run_id: str
    as_of: datetime
    stages: dict[str, int]


class LifecyclePublic(BaseModel):
    run_id: str
    as_of: datetime
    stages: list[SharePublic]
    flows: list[FlowPublic]
    """Moves recorded by the latest run (from_stage null: new to the features table)."""
    history: list[StageRunPublic]
