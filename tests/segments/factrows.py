"""Hand-made facts for the segments tests, on DuckDB and on Spark (local mode).

Facts are written as rows with the warehouse's own column types; ``on_duckdb`` loads
them into an Ibis DuckDB connection, ``on_spark`` into the session-wide Spark session
(through Parquet, as production Spark reads the facts), so both engines see the same
input.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from shopcrm.segments.features import Facts
from shopcrm.warehouse.engine import arrow_schema
from shopcrm.warehouse.tables import FACT_TABLES

Rows = dict[str, list[dict[str, Any]]]


def order(customer_id: int | None, order_id: str, day: date, amount: str, *,
          status: str = "completed", refund: str = "0", promo: str | None = None,
          hour: int = 4, source: str = "taobao") -> dict[str, Any]:
    """An order created at ``hour``:00 UTC on ``day`` (the same shop-local day in China
    for hours before 16)."""
    return {"source": source, "order_id": order_id, "customer_id": customer_id,
            "identity_id": customer_id, "status": status,
            "created_at": datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
            "paid_amount": Decimal(amount), "refund_amount": Decimal(refund),
            "promo_type": promo, "day": day, "batch_id": 1}


def line(customer_id: int, order_id: str, day: date, sku: str, qty: int, price: str, *,
         line_no: int = 1, source: str = "taobao") -> dict[str, Any]:
    return {"source": source, "order_id": order_id, "line_no": line_no, "sku": sku,
            "quantity": qty, "unit_price": Decimal(price),
            "amount": Decimal(price) * qty, "customer_id": customer_id, "day": day,
            "batch_id": 1}


def event(customer_id: int, event_id: str, kind: str, day: date, *,
          hour: int = 4) -> dict[str, Any]:
    return {"source": "web", "event_id": event_id, "event_type": kind,
            "occurred_at": datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
            "customer_id": customer_id, "identity_id": customer_id, "day": day, "batch_id": 1}


def product(sku: str, category: str, brand: str, launched: date | None,
            list_price: str) -> dict[str, Any]:
    return {"sku": sku, "category": category, "brand": brand, "launched_on": launched,
            "list_price": Decimal(list_price), "batch_id": 1}


def arrow_facts(rows: Rows) -> dict[str, pa.Table]:
    out = {}
    for name, table in FACT_TABLES.items():
        schema = arrow_schema(table)
        given = rows.get(name, [])
        out[name] = pa.table({f.name: [r.get(f.name) for r in given] for f in schema},
                             schema=schema)
    return out


def on_duckdb(tables: dict[str, pa.Table]) -> Facts:
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone='UTC'")
    for name, data in tables.items():
        con.create_table(name, obj=data, overwrite=True)
    return Facts(*(con.table(n) for n in ("orders", "order_items", "events", "products")))




def on_spark(spark: tuple[Any, Path], tables: dict[str, pa.Table]) -> Facts:
    """The same facts in Spark: written as Parquet and read back as temporary views."""
    session, folder = spark
    con = ibis.pyspark.connect(session)
    prefix = f"f{uuid.uuid4().hex[:8]}"
    for name, data in tables.items():
        path = folder / f"{prefix}_{name}.parquet"
        pq.write_table(data, path)
        session.read.parquet(str(path)).createOrReplaceTempView(f"{prefix}_{name}")
    return Facts(*(con.table(f"{prefix}_{n}")
                   for n in ("orders", "order_items", "events", "products")))
