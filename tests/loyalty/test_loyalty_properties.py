"""Property tests: any sequence of earn / redeem / expire / reverse / adjust, against a
simple reference model of lots, on SQLite and PostgreSQL.

After every step: the cached balance equals the ledger sum, the lots hold exactly
``max(balance, 0)``, every lot's remaining points equal the model's (so FIFO expiry and
consumption match), only a reversal can take the balance below zero, and replaying the
last successful request with its idempotency key changes nothing.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.loyalty.conftest import add_customer, invariants

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.loyalty import InsufficientPoints
from shopcrm.loyalty import ledger as L
from shopcrm.loyalty.models import PointLot
from shopcrm.loyalty.rules import ExpiryPolicy, ProgramConfig, ReversalPolicy

IDS = itertools.count(1000)
START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ALL = frozenset(Permission)


@dataclass(eq=False)
class Lot:
    """Compared by identity: ``lots.index(lot)`` (the FIFO tie-break) must find this lot,
    not an earlier one that happens to hold the same values."""

    remaining: int
    expires: datetime
    order: str | None


@dataclass
class Model:
    """The reference: a list of lots and a balance, written as plainly as possible."""

    policy: ReversalPolicy
    lots: list[Lot] = field(default_factory=list)
    balance: int = 0
    earned: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    reversed: dict[str, int] = field(default_factory=dict)

    def expire(self, now: datetime) -> None:
        for lot in self.lots:
            if lot.remaining and lot.expires <= now:
                self.balance -= lot.remaining
                lot.remaining = 0

    def credit(self, points: int, now: datetime, order: str | None) -> None:
        settle = min(points, max(0, -self.balance))
        self.lots.append(Lot(points - settle, now + timedelta(days=0) + _SIX(now), order))
        self.balance += points

    def live(self, now: datetime) -> list[Lot]:
        return sorted((lot for lot in self.lots if lot.remaining and lot.expires > now),
                      key=lambda lot: (lot.expires, self.lots.index(lot)))

    def take(self, lots: list[Lot], amount: int) -> int:
        for lot in lots:
            step = min(amount, lot.remaining)
            lot.remaining -= step
            amount -= step
        return amount

    def debit(self, points: int, now: datetime) -> bool:
        self.expire(now)
        if points > sum(lot.remaining for lot in self.live(now)):
            return False
        self.take(self.live(now), points)
        self.balance -= points
        return True

    def reverse(self, order: str, refunded: Decimal, now: datetime) -> None:
        earned, paid = self.earned[order]
        if refunded >= paid:
            target = earned
        else:
            target = int((Decimal(earned) * refunded / paid).to_integral_value(ROUND_HALF_UP))
        due = target - self.reversed.get(order, 0)
        if due <= 0:
            return
        self.reversed[order] = target
        self.expire(now)
        own = [lot for lot in self.lots if lot.order == order and lot.remaining]
        others = [lot for lot in self.live(now) if lot.order != order]
        left = self.take(own + others, due)
        self.balance -= due - (0 if self.policy is ReversalPolicy.DEBT else left)


def _SIX(now: datetime) -> timedelta:
    from shopcrm.loyalty.rules import add_months

    return add_months(now, 6) - now


step = st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 500)),
    st.tuples(st.just("redeem"), st.integers(1, 600)),
    st.tuples(st.just("advance"), st.integers(0, 200)),
    st.tuples(st.just("reverse"), st.integers(0, 20), st.integers(1, 4)),
    st.tuples(st.just("adjust"), st.integers(-300, 300).filter(bool)),
    st.tuples(st.just("replay")),
    st.tuples(st.just("expire")),
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=25),
       policy=st.sampled_from([ReversalPolicy.DEBT, ReversalPolicy.CAP]))
def test_ledger_matches_reference_model(context: AppContext, clock: FakeClock,
                                        steps: list[tuple[object, ...]],
                                        policy: ReversalPolicy) -> None:
    customer = next(IDS)
    clock.set(START)
    prefix = f"p{customer}"
    with context.sessions.begin() as session:
        add_customer(session, customer, clock.now())
        L.save_config(session, config=ProgramConfig(
            expiry=ExpiryPolicy(kind="months_after", months=6), reversal=policy),
            actor=audit.SYSTEM, now=clock.now())
    model = Model(policy)
    orders: list[str] = []
    last: tuple[str, dict[str, object]] | None = None
    for number, (kind, *args) in enumerate(steps):
        now = clock.now()
        key = f"{prefix}:{number}"
        floor = min(0, model.balance)
        call: tuple[str, dict[str, object]] | None = None
        if kind == "earn":
            order = f"{prefix}:o{len(orders)}"
            orders.append(order)
            points = int(args[0])  # type: ignore[call-overload]
            call = ("earn_order", {"customer_id": customer, "order_ref": order,
                                   "points": points, "paid": Decimal(points), "now": now})
            model.credit(points, now, order)
            model.earned[order] = (points, Decimal(points))
        elif kind == "redeem":
            points = int(args[0])  # type: ignore[call-overload]
            before = copy.deepcopy(model)
            ok = model.debit(points, now)
            call = ("redeem", {"customer_id": customer, "points": points, "key": key,
                               "now": now})
            if not ok:  # refused: nothing changes, not even the expiry it ran first
                model = before
                _refused(context, call)
                call = None
        elif kind == "advance":
            clock.advance(timedelta(days=int(args[0])))  # type: ignore[call-overload]
        elif kind == "reverse" and orders:
            order = orders[int(args[0]) % len(orders)]  # type: ignore[call-overload]
            paid = model.earned[order][1]
            refunded = paid * int(args[1]) / 4  # type: ignore[call-overload]
            model.reverse(order, refunded, now)
            call = ("reverse_order", {"order_ref": order, "refunded_total": refunded,
                                      "key": key, "now": now})
        elif kind == "adjust":
            points = int(args[0])  # type: ignore[call-overload]
            before = copy.deepcopy(model)
            if points > 0:
                model.credit(points, now, None)
                ok = True
            else:
                ok = model.debit(-points, now)
            call = ("adjust", {"customer_id": customer, "points": points, "reason": "fix",
                               "key": key, "now": now, "actor": audit.SYSTEM, "granted": ALL})
            if not ok:
                model = before
                _refused(context, call)
                call = None
        elif kind == "replay" and last is not None:
            call = last
        elif kind == "expire":
            model.expire(now)
            with context.sessions.begin() as session:
                L.expire_due(session, now=now)
        if call is not None:
            with context.sessions.begin() as session:
                getattr(L, call[0])(session, **call[1])
            last = call
        with context.sessions() as session:
            balance, _, _ = invariants(session, customer)
            lots = [lot.remaining for lot in session.scalars(
                select(PointLot).where(PointLot.customer_id == customer).order_by(PointLot.id))]
        assert balance == model.balance, (number, kind)
        assert lots == [lot.remaining for lot in model.lots], (number, kind)
        if kind != "reverse":
            assert balance >= floor, "only a reversal may create or deepen a debt"
        if policy is ReversalPolicy.CAP:
            assert balance >= 0


def _refused(context: AppContext, call: tuple[str, dict[str, object]]) -> None:
    """A request the model refuses is refused by the ledger, and changes nothing."""
    try:
        with context.sessions.begin() as session:
            getattr(L, call[0])(session, **call[1])
    except InsufficientPoints:
        return
    raise AssertionError(f"{call[0]} should have been refused")
