"""Features of hand-made facts: what counts as a purchase, windows, favourites, shares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from factrows import Rows, event, line, order, product

from shopcrm.segments.features import Facts
from shopcrm.segments.job import features_table, shop_day
from shopcrm.segments.settings import SegmentSettings

AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def features(duck: Callable[[Rows], Facts], rows: Rows,
             as_of: datetime = AS_OF) -> dict[int, dict[str, Any]]:
    table = features_table(duck(rows), SegmentSettings(), as_of=as_of, timezone="Asia/Shanghai")
    return {r["customer_id"]: r for r in table.to_pyarrow().to_pylist()}


def test_purchases_exclude_unpaid_cancelled_refunded_and_future(
        duck: Callable[[Rows], Facts]) -> None:
    rows: Rows = {"orders": [
        order(1, "a", ago(10), "100"),
        order(1, "b", ago(5), "80", status="shipped", refund="30"),
        order(1, "c", ago(4), "999", status="pending"),
        order(1, "d", ago(3), "999", status="cancelled"),
        order(1, "e", ago(2), "500", status="refunded", refund="500"),
        order(1, "f", TODAY, "777", hour=3),  # 03:00 UTC: after as_of (02:00)
        order(None, "g", ago(1), "50"),  # no customer: ignored
    ]}
    got = features(duck, rows)
    assert list(got) == [1]
    row = got[1]
    assert row["frequency"] == 2
    assert str(row["monetary"]) == "150.00"  # 100 + (80 − 30)
    assert str(row["gross"]) == "180.00" and str(row["refunds"]) == "30.00"
    assert str(row["aov"]) == "75.00"
    assert row["recency_days"] == 5
    assert row["first_purchase_day"] == ago(10) and row["last_purchase_day"] == ago(5)
    later = features(duck, rows, AS_OF + timedelta(hours=2))
    assert later[1]["frequency"] == 3 and later[1]["recency_days"] == 0


def test_interpurchase_interval_windows_and_promo_share(duck: Callable[[Rows], Facts]) -> None:
    rows: Rows = {"orders": [
        order(1, "a", ago(100), "10"), order(1, "b", ago(40), "20", promo="聚划算"),
        order(1, "c", ago(6), "30", promo=" "), order(1, "d", ago(0), "40", hour=1,
                                                       promo="满减"),
        order(2, "x", ago(3), "10"),
    ]}
    got = features(duck, rows)
    assert got[1]["mean_interpurchase_days"] == 100 / 3
    assert got[2]["mean_interpurchase_days"] is None
    assert got[1]["promo_share"] == 0.5  # blank promo text is no promotion
    assert (got[1]["orders_7d"], got[1]["orders_30d"], got[1]["orders_90d"]) == (2, 2, 3)
    assert str(got[1]["spend_7d"]) == "70.00" and str(got[1]["spend_90d"]) == "90.00"


def test_favourites_new_arrivals_and_price_level(duck: Callable[[Rows], Facts]) -> None:
    rows: Rows = {
        "orders": [order(1, "a", ago(10), "300"), order(1, "b", ago(50), "100")],
        "order_items": [
            line(1, "a", ago(10), "shoe", 1, "100"),
            line(1, "a", ago(10), "bag", 2, "50", line_no=2),
            line(1, "b", ago(50), "hat", 1, "100"),
            line(1, "b", ago(50), "unknown-sku", 5, "1", line_no=2),
        ],
        "products": [
            product("shoe", "鞋", "Nike", ago(20), "200"),  # bought 10 days after launch
            product("bag", "包", "Coach", ago(400), "50"),
            product("hat", "鞋", "Adidas", ago(55), "100"),  # bought 5 days after launch
        ],
    }
    got = features(duck, rows)[1]
    # 鞋: 1 + 1 = 2 units, 包: 2 units → tie broken by name (包 < 鞋 in code-point order)
    assert got["favourite_category"] == "包"
    assert got["favourite_brand"] == "Coach"  # 2 units beats 1 each
    assert got["new_arrival_share"] == 2 / 4
    assert str(got["avg_unit_price"]) == "62.75"  # (100 + 50 + 100 + 1) / 4
    assert got["price_index"] == pytest.approx((0.5 + 1.0 + 1.0) / 3)  # lines with a list price
    assert got["items_bought"] == 9


def test_behaviour_counts_by_window(duck: Callable[[Rows], Facts]) -> None:
    rows: Rows = {"events": [
        event(7, "e1", "view", ago(0), hour=1), event(7, "e2", "view", ago(6)),
        event(7, "e3", "view", ago(7)), event(7, "e4", "add_to_cart", ago(29)),
        event(7, "e5", "search", ago(89)), event(7, "e6", "view", ago(90)),
        event(7, "e7", "view", ago(0), hour=5),  # after as_of
    ]}
    got = features(duck, rows)[7]
    assert (got["view_7d"], got["view_30d"], got["view_90d"]) == (2, 3, 3)
    assert (got["add_to_cart_7d"], got["add_to_cart_30d"]) == (0, 1)
    assert got["search_90d"] == 1 and got["frequency"] == 0 and got["stage"] == "prospect"
    assert got["last_event_day"] == ago(0)


def test_money_means_round_half_up_to_cents(duck: Callable[[Rows], Facts]) -> None:
    rows: Rows = {"orders": [order(1, "a", ago(3), "0.01"), order(1, "b", ago(4), "0.00"),
                             order(2, "c", ago(3), "10.00"), order(2, "d", ago(4), "0.01"),
                             order(2, "e", ago(5), "0.00")]}
    got = features(duck, rows)
    assert str(got[1]["aov"]) == "0.01"  # 0.005 → 0.01 (half up)
    assert str(got[2]["aov"]) == "3.34"  # 10.01 / 3 = 3.3366…


def test_shop_day_is_local() -> None:
    assert shop_day(datetime(2026, 11, 19, 16, 30, tzinfo=UTC), "Asia/Shanghai") == TODAY
    assert shop_day(datetime(2026, 11, 19, 15, 30, tzinfo=UTC), "Asia/Shanghai") == ago(1)
