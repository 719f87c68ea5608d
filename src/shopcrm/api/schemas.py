"""Response and request schemas (``ThingPublic`` …) of the REST API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

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
