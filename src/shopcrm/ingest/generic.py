"""The generic format: any CSV / JSONL / XLSX plus a mapping file saying which column
is which canonical field. The mapping is TOML or JSON, validated with pydantic::

    kind = "orders"            # orders | lines | items | customers | events | products
    source = "own-shop"        # channel label stored with facts and identities
    currency = "CNY"
    address = "full"           # "full": one address string; "parts": province/city/... columns
    [columns]
    order_id = "Order No"
    created_at = ["Date", "Order Date"]
    paid_amount = "Paid"
    buyer_id = "Member"
    status = "State"
    [status]                   # raw value -> pending|paid|shipped|completed|cancelled|refunded
    Done = "completed"
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shopcrm.ingest.errors import ImportFileError
from shopcrm.ingest.fields import FIELD_KINDS, ORDER_STATUSES
from shopcrm.ingest.formats.base import FormatSpec, Grain

DEFAULT_REQUIRED: dict[Grain, frozenset[str]] = {
    Grain.ORDERS: frozenset({"order_id", "created_at", "paid_amount"}),
    Grain.LINES: frozenset({"order_id", "created_at"}),
    Grain.ITEMS: frozenset({"order_id", "quantity"}),
    Grain.CUSTOMERS: frozenset(),
    Grain.EVENTS: frozenset({"event_type", "occurred_at"}),
    Grain.PRODUCTS: frozenset({"sku"}),
}


class ColumnMapping(BaseModel):
    """A user's mapping file, checked field by field with messages that point at the key."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["orders", "lines", "items", "customers", "events", "products"]
    source: str = Field(default="generic", min_length=1, max_length=32, pattern=r"^[\w.-]+$")
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    address: Literal["full", "parts"] = "full"
    columns: dict[str, str | list[str]]
    status: dict[str, str] = Field(default_factory=dict)
    required: list[str] | None = None

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        unknown = sorted(set(value) - set(FIELD_KINDS))
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(FIELD_KINDS))}")
        if not value:
            raise ValueError("map at least one column")
        return value

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted({v for v in value.values() if v not in ORDER_STATUSES})
        if bad:
            allowed = ", ".join(ORDER_STATUSES)
            raise ValueError(f"unknown status(es) {', '.join(bad)}; use {allowed}")
        return value

    def to_spec(self) -> FormatSpec:
        grain = Grain(self.kind)
        columns = {
            field: (names,) if isinstance(names, str) else tuple(names)
            for field, names in self.columns.items()
        }
        required = frozenset(self.required) if self.required is not None else (
            DEFAULT_REQUIRED[grain] & set(columns) | DEFAULT_REQUIRED[grain])
        missing = sorted(required - set(columns))
        if missing:
            raise ImportFileError(
                f"mapping: required field(s) {', '.join(missing)} are not mapped to a column")
        status_map = dict(self.status)
        if grain in (Grain.ORDERS, Grain.LINES) and "status" in columns and not status_map:
            status_map = {s: s for s in ORDER_STATUSES}
        return FormatSpec(
            name="generic",
            title=f"generic {self.kind} file",
            source=self.source,
            grain=grain,
            columns=columns,
            required=required,
            status_map=status_map,
            file_kinds=("csv", "xlsx", "jsonl"),
            address_mode=self.address,
            default_currency=self.currency.upper(),
        )


def load_mapping(path: Path) -> FormatSpec:
    """Read and validate a mapping file; problems name the key at fault."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ImportFileError(f"mapping file {path.name}: {exc}") from exc
    try:
        return ColumnMapping.model_validate(data).to_spec()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'mapping'}: {err['msg']}"
            for err in exc.errors())
        raise ImportFileError(f"mapping file {path.name}: {problems}") from exc
