"""Racing redemptions over separate connections never overspend (SQLite and PostgreSQL).

Each of 50 threads has its own engine connection and transaction; they start together
(a barrier) and try to redeem from one balance. The account row lock serialises them,
so exactly as many win as the balance pays for and the rest get InsufficientPoints.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from tests.loyalty.conftest import MakeCustomer, invariants

from shopcrm.context import AppContext
from shopcrm.loyalty import InsufficientPoints
from shopcrm.loyalty import ledger as L
from shopcrm.store.db import make_engine, make_session_factory

THREADS = 50


def _race(context: AppContext, customer: int, points: int, key_of: str) -> Counter[str]:
    engine = make_engine(context.engine.url.render_as_string(hide_password=False),
                         pool_size=THREADS, max_overflow=0)
    sessions = make_session_factory(engine)
    barrier = threading.Barrier(THREADS)
    outcomes: Counter[str] = Counter()
    guard = threading.Lock()

    def attempt(number: int) -> None:
        try:
            with sessions.begin() as session:
                session.connection()  # a connection of its own before the start line
                barrier.wait()
                L.redeem(session, customer_id=customer, points=points,
                         key=f"{key_of}-{number}", now=context.clock.now())
            outcome = "won"
        except InsufficientPoints:
            outcome = "refused"
        except Exception as exc:  # anything else is a failure of the test
            outcome = f"error: {type(exc).__name__}: {exc}"
        with guard:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    return outcomes


@pytest.mark.parametrize(("balance", "each", "winners"), [(100, 100, 1), (1000, 30, 33)])
def test_racing_redemptions(context: AppContext, make_customer: MakeCustomer, balance: int,
                            each: int, winners: int) -> None:
    customer = make_customer(7)
    with context.sessions.begin() as session:
        L.earn_order(session, customer_id=customer, order_ref="s:big", points=balance,
                     paid=Decimal(balance),
                     now=context.clock.now())
    outcomes = _race(context, customer, each, f"race{balance}")
    assert outcomes == Counter({"won": winners, "refused": THREADS - winners})
    with context.sessions() as session:
        assert invariants(session, customer)[0] == balance - winners * each
