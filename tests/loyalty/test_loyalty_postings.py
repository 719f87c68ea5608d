"""The set-based posting path (`loyalty.postings.post`) and group commit (`PostingWriter`),
on SQLite and PostgreSQL.

The property: any sequence of earn / bonus / redeem postings applied as *one batch* in
one transaction ends exactly where the same postings end when each is made alone in its
own transaction (the one-at-a-time path, itself checked against a reference model in
``test_loyalty_properties``): the same outcome per posting (error or balance, replay),
the same balances, the same lots; every balance equals its ledger sum and the lots hold
``max(balance, 0)``; a refused posting changes nothing; posting the batch again is a
replay of every posting that went through and changes nothing.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.loyalty.conftest import MakeCustomer, add_customer, invariants

from shopcrm.accounts import audit
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.loyalty import BudgetExhausted, InsufficientPoints, reports
from shopcrm.loyalty import ledger as L
from shopcrm.loyalty import writer as writer_module
from shopcrm.loyalty.models import LedgerEntry, PointLot
from shopcrm.loyalty.postings import Earn, Grant, Posted, Posting, Redeem, post
from shopcrm.loyalty.rules import BonusKind, ExpiryPolicy, ProgramConfig
from shopcrm.loyalty.writer import PostingWriter
from shopcrm.store.db import make_engine, make_session_factory

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
IDS = itertools.count(5000, 10)
UNKNOWN = 999_999
ADMIN = audit.Actor(1, "admin")


def _setup(context: AppContext, clock: FakeClock) -> None:
    clock.set(START)
    with context.sessions.begin() as session:
        L.save_config(session, config=ProgramConfig(
            expiry=ExpiryPolicy(kind="months_after", months=6)), actor=audit.SYSTEM,
            now=clock.now())


def _seed(context: AppContext, clock: FakeClock, twin: str, base: int) -> list[int]:
    """Three customers: one with a lot already past its date (a redemption expires it
    first), one in debt (a refund after spending), one new; a bonus rule with a budget
    of 3.00 (300 points at 0.01) of the twin's own."""
    customers = [base + 1, base + 2, base + 3]
    with context.sessions.begin() as session:
        for customer in customers:
            add_customer(session, customer, clock.now())
        L.upsert_rule(session, code=f"gift_{twin}", kind=BonusKind.CAMPAIGN, name="gift",
                      points=40, cost_per_point=Decimal("0.01"), budget=Decimal("3"),
                      active=True, actor=ADMIN, now=clock.now())
    old = clock.now() - timedelta(days=200)
    with context.sessions.begin() as session:
        L.earn_order(session, customer_id=customers[0], order_ref=f"{twin}:old", points=70,
                     paid=Decimal(70), now=old)
        L.earn_order(session, customer_id=customers[1], order_ref=f"{twin}:d", points=100,
                     paid=Decimal(100), now=clock.now())
    with context.sessions.begin() as session:
        L.redeem(session, customer_id=customers[1], points=80, key=f"{twin}:spend",
                 now=clock.now())
    with context.sessions.begin() as session:
        L.reverse_order(session, order_ref=f"{twin}:d", refunded_total=Decimal(100),
                        key=f"{twin}:refund", now=clock.now())
    return customers


def _posting(step: tuple[Any, ...], twin: str, customers: list[int]) -> Posting:
    kind, who, points, key = step
    customer = UNKNOWN if who == 3 else customers[who]
    if kind == "earn":
        return Earn(customer, f"{twin}:o{key}", points, Decimal(points))
    if kind == "grant":
        return Grant(customer, f"gift_{twin}", f"{twin}:g{key}",
                     points=None if points % 2 else points)
    return Redeem(customer, points, f"{twin}:r{key}")


def _one_at_a_time(context: AppContext, posting: Posting) -> Posted:
    """The single-movement functions, each in its own transaction."""
    now = context.clock.now()
    try:
        with context.sessions.begin() as session:
            if isinstance(posting, Earn):
                m = L.earn_order(session, customer_id=posting.customer_id,
                                 order_ref=posting.order_ref, points=posting.points,
                                 paid=posting.paid, now=now)
            elif isinstance(posting, Grant):
                m = L.grant_bonus(session, customer_id=posting.customer_id,
                                  rule_code=posting.rule_code, key=posting.key,
                                  points=posting.points, now=now)
            else:
                m = L.redeem(session, customer_id=posting.customer_id, points=posting.points,
                             key=posting.key, now=now)
    except Exception as exc:  # the outcome to compare, whatever it is
        return Posted(posting.customer_id, error=exc)  # type: ignore[arg-type]
    return Posted(posting.customer_id, m.entry, m.replayed,  # type: ignore[arg-type]
                  m.balance)


def _shape(outcome: Posted) -> tuple[object, ...]:
    if outcome.error is not None:
        return ("error", type(outcome.error).__name__)
    assert outcome.entry is not None
    return (outcome.entry.kind, outcome.entry.points, outcome.replayed, outcome.balance)


def _state(session: Session, customers: list[int]) -> list[tuple[int, list[int]]]:
    state = []
    for customer in customers:
        balance = invariants(session, customer)[0]
        lots = list(session.scalars(select(PointLot.remaining).where(
            PointLot.customer_id == customer).order_by(PointLot.id)))
        state.append((balance, lots))
    return state


def _rows(session: Session) -> int:
    """Ledger rows other than expiries (a redemption that now goes through may expire a
    lot first)."""
    return int(session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.kind != "expire")) or 0)


def _compare(context: AppContext, clock: FakeClock, steps: list[tuple[Any, ...]]) -> None:
    base = next(IDS) * 10
    batch_customers = _seed(context, clock, f"b{base}", base)
    single_customers = _seed(context, clock, f"s{base}", base + 5)
    batch = [_posting(step, f"b{base}", batch_customers) for step in steps]
    single = [_posting(step, f"s{base}", single_customers) for step in steps]
    expected = [_one_at_a_time(context, p) for p in single]
    with context.sessions.begin() as session:
        got = post(session, batch, now=clock.now())
    assert [_shape(o) for o in got] == [_shape(o) for o in expected]
    with context.sessions() as session:
        assert _state(session, batch_customers) == _state(session, single_customers)
        rows = _rows(session)
        budgets = {r.code: r.issued_points for r in reports.by_rule(session)}
    assert budgets[f"gift_b{base}"] == budgets[f"gift_s{base}"]
    with context.sessions.begin() as session:  # the same batch again: all replays
        again = post(session, batch, now=clock.now())
    for first, second in zip(got, again, strict=True):
        if first.error is None:
            assert second.replayed and second.entry is not None and first.entry is not None
            assert second.entry.id == first.entry.id
        elif not isinstance(first.error, InsufficientPoints | BudgetExhausted):
            assert type(second.error) is type(first.error)
    with context.sessions() as session:
        assert _rows(session) == rows + sum(  # only refusals may now go through
            1 for o in again if o.error is None and not o.replayed)
        for customer in batch_customers:
            invariants(session, customer)


step = st.tuples(st.sampled_from(["earn", "grant", "redeem", "redeem"]),
                 st.integers(0, 3), st.integers(-1, 120), st.integers(0, 12))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=30))
# A refused redemption expired a lot first: the refusal must restore it, so the next
# redemption expires it again (as its own transaction would).
@example(steps=[("redeem", 0, 100, 1), ("earn", 0, 30, 2), ("redeem", 0, 20, 3)])
# A refused grant must give its points back to the budget (300 points at most).
@example(steps=[("grant", 2, 120, 1), ("grant", 2, 120, 2), ("grant", 2, 100, 3),
                ("grant", 2, 60, 4)])
def test_batch_equals_one_at_a_time(context: AppContext, clock: FakeClock,
                                    steps: list[tuple[Any, ...]]) -> None:
    _setup(context, clock)
    _compare(context, clock, steps)


def test_large_batch_takes_the_bulk_path(context: AppContext, clock: FakeClock) -> None:
    """Hundreds of postings (``COPY`` on PostgreSQL): the same as one at a time."""
    _setup(context, clock)
    kinds = ["earn", "redeem", "grant", "earn", "redeem"]
    steps = [(kinds[i % 5], i % 3, 1 + (i * 37) % 90, i) for i in range(300)]
    steps += [("redeem", 0, 5, 7), ("earn", 1, 10, 3)]  # replays inside the batch
    _compare(context, clock, steps)


def test_unknown_and_bad_postings_are_refused_alone(context: AppContext,
                                                    make_customer: MakeCustomer) -> None:
    customer = make_customer(31)
    now = context.clock.now()
    with context.sessions.begin() as session:
        got = post(session, [Earn(customer, "x:1", 50, Decimal(50)),
                             Earn(UNKNOWN, "x:2", 50, Decimal(50)),
                             Redeem(customer, 0, "x:r0"), Redeem(customer, 60, "x:r1"),
                             Redeem(customer, 20, "x:r2"),
                             Earn(customer, "x:1", 50, Decimal(50)),
                             Redeem(customer, 30, "x:r2")], now=now)
    assert [type(o.error).__name__ if o.error else (o.balance, o.replayed) for o in got] == [
        (50, False), "CustomerNotFound", "LoyaltyError", "InsufficientPoints", (30, False),
        (30, True), "IdempotencyConflict"]


def test_budget_recounted_from_the_ledger(context: AppContext,
                                          make_customer: MakeCustomer) -> None:
    """A rule without a budget keeps no counter; giving it one counts the ledger."""
    customer = make_customer(32)
    now = context.clock.now()
    with context.sessions.begin() as session:
        L.upsert_rule(session, code="review", kind=BonusKind.REVIEW, name="review",
                      points=30, cost_per_point=Decimal("0.01"), budget=None, active=True,
                      actor=ADMIN, now=now)
    for key in ("a", "b"):
        with context.sessions.begin() as session:
            L.grant_bonus(session, customer_id=customer, rule_code="review", key=key, now=now)
    with context.sessions() as session:
        rule = next(r for r in reports.by_rule(session) if r.code == "review")
        assert (rule.issued_points, rule.spent) == (60, Decimal("0.60"))
    with context.sessions.begin() as session:
        saved = L.upsert_rule(session, code="review", kind=BonusKind.REVIEW, name="review",
                              points=30, cost_per_point=Decimal("0.01"),
                              budget=Decimal("1.00"), active=True, actor=ADMIN, now=now)
        assert saved.issued_points == 60
    with context.sessions.begin() as session:
        L.grant_bonus(session, customer_id=customer, rule_code="review", key="c", now=now)
    try:
        with context.sessions.begin() as session:
            L.grant_bonus(session, customer_id=customer, rule_code="review", key="d", now=now)
        raise AssertionError("the budget of 1.00 pays for 100 points, not 120")
    except BudgetExhausted:
        pass
    with context.sessions() as session:
        rule = next(r for r in reports.by_rule(session) if r.code == "review")
        assert (rule.issued_points, rule.budget_used) == (90, Decimal("0.9000"))


def _writer(context: AppContext) -> tuple[PostingWriter, Any]:
    engine = make_engine(context.engine.url.render_as_string(hide_password=False),
                         pool_size=4, max_overflow=0)
    return PostingWriter(make_session_factory(engine), clock=context.clock), engine


def _race(writer: PostingWriter, postings: list[Posting]) -> list[Posted]:
    barrier = threading.Barrier(len(postings))
    outcomes: list[Posted] = []
    guard = threading.Lock()

    def go(posting: Posting) -> None:
        barrier.wait()
        outcome = writer.post(posting)
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=go, args=(p,)) for p in postings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_writer_racing_redemptions_never_overspend(context: AppContext,
                                                   make_customer: MakeCustomer) -> None:
    customer = make_customer(33)
    with context.sessions.begin() as session:
        L.earn_order(session, customer_id=customer, order_ref="w:big", points=1000,
                     paid=Decimal(1000), now=context.clock.now())
    writer, engine = _writer(context)
    try:
        outcomes = _race(writer, [Redeem(customer, 30, f"w:{i}") for i in range(50)])
        replays = _race(writer, [Redeem(customer, 30, f"w:{i}") for i in range(3)])
    finally:
        writer.close()
        engine.dispose()
    assert Counter(type(o.error).__name__ if o.error else "won" for o in outcomes) == Counter(
        {"won": 33, "InsufficientPoints": 17})
    assert writer.posted == 53
    assert all(o.replayed or o.error for o in replays)
    with context.sessions() as session:
        assert invariants(session, customer)[0] == 1000 - 33 * 30


def test_writer_retries_a_failed_round_one_by_one(context: AppContext,
                                                  make_customer: MakeCustomer,
                                                  monkeypatch: Any) -> None:
    """If a round fails as a whole, each posting is tried alone: none is lost, and one
    that fails alone gets its own error."""
    customer = make_customer(34)
    real = writer_module.post

    def flaky(session: Session, postings: list[Posting], **kw: Any) -> list[Posted]:
        if len(postings) > 1 or postings[0].key == "earn:f:bad":
            raise RuntimeError("round failed")
        return real(session, postings, **kw)

    monkeypatch.setattr(writer_module, "post", flaky)
    writer, engine = _writer(context)
    try:
        futures = [writer.submit(Earn(customer, f"f:{i}", 10, Decimal(10)))
                   for i in ["a", "b", "bad", "c"]]
        results = []
        for future in futures:
            try:
                results.append(future.result(30).balance)
            except RuntimeError:
                results.append(-1)
    finally:
        writer.close()
        engine.dispose()
    assert sorted(results) == [-1, 10, 20, 30]
    with context.sessions() as session:
        assert invariants(session, customer)[0] == 30


def test_giving_a_rule_a_budget_waits_for_credits_in_flight(context: AppContext,
                                                           make_customer: MakeCustomer) -> None:
    """A credit under a rule without a budget holds the rule's shared lock (PostgreSQL)
    or the database write lock (SQLite) until it commits; setting a budget waits for it,
    so the recount from the ledger includes its points."""
    customer = make_customer(35)
    now = context.clock.now()
    with context.sessions.begin() as session:
        L.upsert_rule(session, code="checkin", kind=BonusKind.CHECKIN, name="check-in",
                      points=50, cost_per_point=Decimal("0.01"), budget=None, active=True,
                      actor=ADMIN, now=now)
    engine = make_engine(context.engine.url.render_as_string(hide_password=False),
                         pool_size=2, max_overflow=0)
    sessions = make_session_factory(engine)
    credited, budget_started = threading.Event(), threading.Event()
    counted: list[int] = []

    def credit() -> None:
        with sessions.begin() as session:
            L.grant_bonus(session, customer_id=customer, rule_code="checkin", key="c1",
                          now=now)
            credited.set()
            budget_started.wait(10)
            time.sleep(0.5)  # the budget change is waiting on our lock by now

    def give_budget() -> None:
        credited.wait(10)
        budget_started.set()
        with sessions.begin() as session:
            rule = L.upsert_rule(session, code="checkin", kind=BonusKind.CHECKIN,
                                 name="check-in", points=50, cost_per_point=Decimal("0.01"),
                                 budget=Decimal("5"), active=True, actor=ADMIN, now=now)
            counted.append(rule.issued_points)

    threads = [threading.Thread(target=credit), threading.Thread(target=give_budget)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert counted == [50]
