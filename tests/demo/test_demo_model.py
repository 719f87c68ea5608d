"""The simulated shop behaves like the brief says: shares, noise, journeys, peaks.

These tests run the pure simulator on 2,000 customers (no files) and check the hidden
truth against the traces it leaves, with tolerances wide enough for sampling noise but
tight enough to catch a broken rule.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from shopcrm.demo.catalog import STROLLER
from shopcrm.demo.model import (
    BUYER_TYPE_SHARES,
    CHANNEL_COUNT_SHARES,
    BuyerType,
    Channel,
    Cycle,
    Order,
    OrderState,
    PersonHistory,
    Refund,
    ShopSimulator,
)
from shopcrm.demo.promotions import CAMPAIGNS, DOUBLE_ELEVEN, MID_YEAR, NEW_YEAR_FAIR

TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def sim() -> ShopSimulator:
    """A simulator whose histories have been drawn (2,000 customers)."""
    return ShopSimulator(customers=2000, seed=11, today=TODAY)


@pytest.fixture(scope="module")
def histories(sim: ShopSimulator) -> list[PersonHistory]:
    """Every person of the 2,000-customer shop."""
    return list(sim.histories())


@pytest.fixture(scope="module")
def orders(histories: list[PersonHistory]) -> list[Order]:
    """Every order of the shop."""
    return [o for h in histories for o in h.orders]


def test_every_customer_is_a_person_with_orders(histories: list[PersonHistory]) -> None:
    assert len(histories) == 2000
    assert len({h.person.person_id for h in histories}) == 2000
    assert all(h.orders for h in histories)


def test_channel_mix(histories: list[PersonHistory]) -> None:
    counts = Counter(len({o.channel for o in h.orders}) for h in histories)
    for k, share in CHANNEL_COUNT_SHARES.items():
        assert abs(counts[k] / len(histories) - share) < 0.04, (k, counts)
    for h in histories:
        assert {o.channel for o in h.orders} == set(h.person.channels)


def test_buyer_type_shares(histories: list[PersonHistory]) -> None:
    counts = Counter(h.person.buyer_type for h in histories)
    for buyer_type, share in BUYER_TYPE_SHARES.items():
        assert abs(counts[buyer_type] / len(histories) - share) < 0.03, (buyer_type, counts)


def test_platform_ids_differ_per_platform(histories: list[PersonHistory]) -> None:
    for h in histories:
        p = h.person
        ids = [x for x in (p.taobao_nick, p.jd_account, p.shopify_id) if x]
        assert len(ids) == len(set(ids))
        for o in h.orders:
            if o.channel is Channel.PDD:
                assert o.buyer_id == ""
            else:
                assert o.buyer_id == {Channel.TAOBAO: p.taobao_nick, Channel.JD: p.jd_account,
                                      Channel.SHOPIFY: p.shopify_id}[o.channel]
    nicks = [h.person.taobao_nick for h in histories if h.person.taobao_nick]
    assert len(nicks) == len(set(nicks))


def test_pdd_orders_have_exactly_one_sku(orders: list[Order]) -> None:
    pdd = [o for o in orders if o.channel is Channel.PDD]
    assert pdd and all(len(o.lines) == 1 for o in pdd)
    others = [o for o in orders if o.channel is not Channel.PDD]
    assert all(1 <= len(o.lines) <= 5 for o in others)
    assert any(len(o.lines) >= 3 for o in others)


def test_masked_phones(histories: list[PersonHistory], sim: ShopSimulator) -> None:
    shares = {}
    for channel in (Channel.TAOBAO, Channel.PDD, Channel.JD, Channel.SHOPIFY):
        shown = [(h.person.phone, o.phone) for h in histories for o in h.orders
                 if o.channel is channel and o.phone != sim.locker_phone]
        masked = [(real, phone) for real, phone in shown if "*" in phone]
        for real, phone in masked:
            assert phone == f"{real[:3]}****{real[-4:]}"
        shares[channel] = len(masked) / len(shown)
    assert abs(shares[Channel.TAOBAO] - 0.25) < 0.05, shares
    assert abs(shares[Channel.PDD] - 0.60) < 0.06, shares
    assert shares[Channel.JD] == shares[Channel.SHOPIFY] == 0


def test_parcel_locker_phone_is_a_trap(histories: list[PersonHistory], sim: ShopSimulator) -> None:
    users = {h.person.person_id for h in histories for o in h.orders
             if o.phone == sim.locker_phone}
    assert len(users) >= 40
    share = sum(o.phone == sim.locker_phone for h in histories for o in h.orders)
    assert 0.005 < share / sum(len(h.orders) for h in histories) < 0.02


def test_families_share_a_home(histories: list[PersonHistory]) -> None:
    families: dict[str, list[PersonHistory]] = defaultdict(list)
    for h in histories:
        if h.person.household:
            families[h.person.household].append(h)
    members = sum(len(v) for v in families.values())
    assert 0.005 < members / len(histories) < 0.045
    for group in families.values():
        assert 2 <= len(group) <= 3
        assert len({id(h.person.home) for h in group}) == 1


def test_noise_on_names_and_addresses(orders: list[Order], histories: list[PersonHistory]) -> None:
    titled = sum(o.recipient.endswith(("先生", "女士")) for o in orders) / len(orders)
    assert 0.015 < titled < 0.05
    office = sum(o.address.kind == "office" for o in orders) / len(orders)
    assert 0.03 < office < 0.07
    spellings = Counter(
        len({a.detail for a in h.person.addresses.values()}) > 1
        for h in histories if len(h.person.channels) > 1
    )
    assert spellings[True] > 0  # the same home typed differently on two platforms


def test_order_outcomes(orders: list[Order]) -> None:
    n = len(orders)
    unpaid = sum(o.state in (OrderState.CANCELLED, OrderState.UNPAID) for o in orders) / n
    full = sum(o.refund is Refund.FULL for o in orders) / n
    partial = sum(o.refund is Refund.PARTIAL for o in orders) / n
    assert 0.02 < unpaid < 0.05
    assert 0.025 < full < 0.055
    assert 0.018 < partial < 0.045


def test_money_is_decimal_with_two_places(orders: list[Order]) -> None:
    for o in orders:
        amounts = [o.shipping_fee, o.shop_discount, o.platform_discount, o.refund_amount,
                   o.balance_paid, o.total_due]
        amounts += [line.unit_price for line in o.lines]
        for amount in amounts:
            assert isinstance(amount, Decimal)
            assert amount.as_tuple().exponent == -2, (amount, o)
            assert amount >= 0
        assert o.total_due > 0
        assert o.refund_amount <= o.paid_amount
        for line in o.lines:
            assert Decimal("0.01") <= line.unit_price <= line.list_price


def test_times_are_consistent_and_in_the_history(orders: list[Order], sim: ShopSimulator) -> None:
    start = datetime.combine(sim.start, datetime.min.time())
    for o in orders:
        assert start <= o.created_at < sim.now
        times = [o.created_at, o.paid_at, o.shipped_at, o.completed_at]
        present = [t for t in times if t is not None]
        assert present == sorted(present)
        assert all(t < sim.now for t in present)
        assert (o.paid_at is None) == (o.state in (OrderState.UNPAID, OrderState.CANCELLED))


def _full_price_new(sim: ShopSimulator, o: Order) -> list[bool]:
    out = []
    for line in o.lines:
        launch = sim.catalog.by_sku[line.sku].launch_date
        fresh = timedelta(0) <= o.created_at.date() - launch <= timedelta(days=14)
        out.append(fresh and line.unit_price == line.list_price)
    return out


def test_new_arrival_buyers_buy_new_styles_at_full_price(
    histories: list[PersonHistory], sim: ShopSimulator
) -> None:
    def share(buyer_type: BuyerType) -> float:
        flags = [flag for h in histories if h.person.buyer_type is buyer_type
                 for o in h.orders for flag in _full_price_new(sim, o)]
        return sum(flags) / len(flags)

    assert share(BuyerType.NEW_ARRIVAL) > 0.4
    assert share(BuyerType.REGULAR) < 0.1


def test_price_sensitive_buyers_pay_less(histories: list[PersonHistory]) -> None:
    def ratio(buyer_type: BuyerType) -> float:
        return statistics.fmean(
            float(line.unit_price / line.list_price) for h in histories
            if h.person.buyer_type is buyer_type for o in h.orders for line in o.lines
        )

    assert ratio(BuyerType.PRICE_SENSITIVE) < ratio(BuyerType.REGULAR) - 0.1
    assert ratio(BuyerType.NEW_ARRIVAL) > ratio(BuyerType.REGULAR)


def test_campaign_and_high_end_buyers_buy_in_campaigns(histories: list[PersonHistory]) -> None:
    def in_campaign(buyer_type: BuyerType) -> float:
        flags = [o.promotion in CAMPAIGNS for h in histories
                 if h.person.buyer_type is buyer_type for o in h.orders]
        return sum(flags) / len(flags)

    assert in_campaign(BuyerType.CAMPAIGN) > 0.75
    assert in_campaign(BuyerType.HIGH_END) > 0.75
    assert in_campaign(BuyerType.REGULAR) < 0.5

    def unit_price(buyer_type: BuyerType) -> float:
        return statistics.fmean(
            float(line.unit_price) for h in histories if h.person.buyer_type is buyer_type
            for o in h.orders for line in o.lines
        )

    assert unit_price(BuyerType.HIGH_END) > 2 * unit_price(BuyerType.CAMPAIGN)


def test_campaigns_make_seasonal_peaks(orders: list[Order]) -> None:
    per_day = Counter(o.created_at.date() for o in orders if o.created_at.year == 2026)
    days = (TODAY - date(2026, 1, 1)).days
    average = sum(per_day.values()) / days
    for promo in (DOUBLE_ELEVEN, MID_YEAR):
        in_window = [o for o in orders if o.created_at.year == 2026 and o.promotion == promo]
        window_days = len({o.created_at.date() for o in in_window})
        assert len(in_window) / window_days > 1.5 * average, promo
    fair = [o for o in orders if o.created_at.year == 2026 and o.promotion == NEW_YEAR_FAIR]
    assert len(fair) / len({o.created_at.date() for o in fair}) > 1.1 * average
    eleven = per_day[date(2026, 11, 11)]
    assert eleven > 3 * average


def test_purchase_cycles(histories: list[PersonHistory]) -> None:
    gaps: dict[Cycle, list[int]] = defaultdict(list)
    for h in histories:
        if h.person.buyer_type not in (BuyerType.REGULAR, BuyerType.PRICE_SENSITIVE):
            continue
        days = sorted({o.created_at.date() for o in h.orders})
        gaps[h.person.cycle] += [(b - a).days for a, b in pairwise(days)]
    medians = {c: statistics.median(g) for c, g in gaps.items() if g}
    assert medians[Cycle.WEEKLY] <= 10
    assert 20 <= medians[Cycle.MONTHLY] <= 40
    assert 60 <= medians[Cycle.SEASONAL] <= 110
    assert 120 <= medians[Cycle.HALF_YEARLY] <= 220
    one_off = [h for h in histories if h.person.cycle is Cycle.ONE_OFF]
    bought = Counter(sum(o.state is not OrderState.CANCELLED for o in h.orders) for h in one_off)
    assert set(bought) <= {0, 1}  # 0: their only order was cancelled and never placed again
    assert bought[1] > 0.95 * len(one_off)


def test_all_lifecycle_stages_occur(histories: list[PersonHistory]) -> None:
    stages: Counter[str] = Counter()
    for h in histories:
        first = min(o.created_at.date() for o in h.orders)
        last = max(o.created_at.date() for o in h.orders)
        age = (TODAY - last).days
        if (TODAY - first).days <= 30:
            stages["new"] += 1
        elif age <= 90:
            stages["active"] += 1
        elif age <= 180:
            stages["sleeping"] += 1
        elif age <= 365:
            stages["pre-churn"] += 1
        else:
            stages["churned"] += 1
    assert all(stages[s] > 0.04 * len(histories)
               for s in ("new", "active", "sleeping", "pre-churn", "churned")), stages


def test_stroller_then_baby_products(
    histories: list[PersonHistory], sim: ShopSimulator
) -> None:
    kinds = {p.sku: p for p in sim.catalog.products}
    journeys = 0
    followed = 0
    for h in histories:
        timeline = sorted(h.orders, key=lambda o: o.created_at)
        stroller_at = next(
            (i for i, o in enumerate(timeline)
             if any(kinds[line.sku].kind == STROLLER for line in o.lines)), None
        )
        if stroller_at is None:
            continue
        assert h.person.baby_journey
        journeys += 1
        before = [line for o in timeline[:stroller_at] for line in o.lines]
        assert all(kinds[line.sku].category != "母婴" for line in before)
        after = [kinds[line.sku].category for o in timeline[stroller_at + 1:] for line in o.lines]
        if after:
            followed += Counter(after)["母婴"] / len(after) > 0.3
    assert journeys >= 30
    assert followed >= journeys // 2


def test_behaviour_events(histories: list[PersonHistory], sim: ShopSimulator) -> None:
    tracked = [h for h in histories
               if {Channel.SHOPIFY, Channel.TAOBAO} & set(h.person.channels)]
    untracked = [h for h in histories
                 if not {Channel.SHOPIFY, Channel.TAOBAO} & set(h.person.channels)]
    assert all(not h.events for h in untracked)
    browsing = [sum(e.event_type != "purchase" for e in h.events) for h in tracked]
    assert 10 <= statistics.median(browsing) <= 30
    for h in tracked:
        own_paid = {o.seq for o in h.orders
                    if o.channel is Channel.SHOPIFY and o.paid_at is not None}
        purchases = {e.order_seq for e in h.events if e.event_type == "purchase"}
        assert purchases == own_paid
        for e in h.events:
            assert e.occurred_at < sim.now
            if e.source == "taobao":
                assert e.buyer_id == h.person.taobao_nick and e.email is None
            else:
                assert e.buyer_id == h.person.shopify_id
    carts = sum(e.event_type == "add_to_cart" for h in tracked for e in h.events)
    assert carts > len(tracked)


def test_same_seed_same_shop() -> None:
    def fingerprint(seed: int) -> list[tuple[str, str, str]]:
        sim = ShopSimulator(customers=60, seed=seed, today=TODAY)
        return [(o.order_no, o.recipient, str(o.total_due)) for h in sim.histories()
                for o in h.orders]

    assert fingerprint(3) == fingerprint(3)
    assert fingerprint(3) != fingerprint(4)
