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
