"""Loyalty test helpers: customers in the store, a programme with a short expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.context import AppContext
from shopcrm.loyalty import ledger
from shopcrm.loyalty.models import LedgerEntry, LoyaltyAccount, PointLot
from shopcrm.loyalty.rules import ExpiryPolicy, ProgramConfig
from shopcrm.store.models import Customer

MakeCustomer = Callable[..., int]


def add_customer(session: Session, customer_id: int, now: datetime,
                 birthday: object = None) -> int:
    session.add(Customer(id=customer_id, created_at=now, updated_at=now,
                         birthday=birthday))  # type: ignore[arg-type]
    session.flush()
    return customer_id


@pytest.fixture
def make_customer(context: AppContext) -> MakeCustomer:
    """``make_customer(id, birthday=None)``: a customer row on the parametrised store."""

    def make(customer_id: int, birthday: object = None) -> int:
        with context.sessions.begin() as session:
            return add_customer(session, customer_id, context.clock.now(), birthday)

    return make


def configure(context: AppContext, **changes: object) -> ProgramConfig:
    with context.sessions.begin() as session:
        config = ProgramConfig().model_copy(update=changes)
        config = ProgramConfig.model_validate(config.model_dump())
        return ledger.save_config(session, config=config, actor=audit.SYSTEM,
                                  now=context.clock.now())


SIX_MONTHS = ExpiryPolicy(kind="months_after", months=6)
ZERO = Decimal("0")


def invariants(session: Session, customer_id: int) -> tuple[int, int, int]:
    """(cached balance, ledger sum, points in lots) after checking they agree."""
    cached = session.scalar(select(LoyaltyAccount.balance).where(
        LoyaltyAccount.customer_id == customer_id)) or 0
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
        LedgerEntry.customer_id == customer_id)) or 0
    held = session.scalar(select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
        PointLot.customer_id == customer_id)) or 0
    negative = session.scalar(select(func.count()).select_from(PointLot).where(
        PointLot.customer_id == customer_id, PointLot.remaining < 0)) or 0
    assert cached == total, (cached, total)
    assert held == max(total, 0), (held, total)
    assert negative == 0
    return int(cached), int(total), int(held)


_BATCHES = iter(range(900_000, 1_000_000))


def write_orders(context: AppContext, orders: list[dict[str, object]]) -> None:
    """Publish order facts (one batch) the way an import does: Parquet files and a
    manifest. Keys: source, order_id, customer_id, status, paid_amount, refund_amount,
    completed_at; a later batch with the same (source, order_id) is a newer version."""
    import duckdb
    import pyarrow as pa

    from shopcrm.warehouse.tables import ORDERS

    given = ("source", "order_id", "customer_id", "status", "paid_amount", "refund_amount",
             "completed_at")
    table = pa.table({
        "source": [str(o.get("source", "shop")) for o in orders],
        "order_id": [str(o["order_id"]) for o in orders],
        "customer_id": pa.array([o.get("customer_id") for o in orders], pa.int64()),
        "status": [str(o.get("status", "completed")) for o in orders],
        "paid_amount": pa.array([Decimal(str(o.get("paid_amount", "0"))) for o in orders],
                                pa.decimal128(18, 2)),
        "refund_amount": pa.array([Decimal(str(o.get("refund_amount", "0"))) for o in orders],
                                  pa.decimal128(18, 2)),
        "completed_at": pa.array([o.get("completed_at") for o in orders],
                                 pa.timestamp("us", tz="UTC")),
    })
    batch_id = next(_BATCHES)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("incoming", table)
    columns = ", ".join(
        name if name in given else
        ("CAST(completed_at AS DATE) AS day" if name == "day" else
         f"{batch_id} AS batch_id" if name == "batch_id" else
         "md5(order_id) AS row_hash" if name == "row_hash" else f"NULL AS {name}")
        for name, _ in ORDERS.columns)
    context.facts.ensure()
    with context.facts.writer_lock():
        writer = context.facts.begin(batch_id)
        writer.write(con, ORDERS, f"SELECT {columns} FROM incoming")
        writer.prepare()
        writer.publish()
    con.close()
