"""The rule compiler on hand-computed cases: every node kind, windows with a fixed
``as_of``, the zero rows trap (no purchase in 90 days), exact averages, injection strings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pytest
from factrows import arrow_facts, event, line, on_duckdb, order, product

from shopcrm.segments.compiler import NoFeaturesYet, Sources, compile_members
from shopcrm.segments.features import Facts
from shopcrm.segments.rules import Attribute, Loyalty, Op, Rule, RuleError, parse_rule

AS_OF = datetime(2026, 11, 20, 10, tzinfo=UTC)  # 18:00 in Shanghai, day 2026-11-20
TODAY = date(2026, 11, 20)


def d(days_ago: int) -> date:
    return date.fromordinal(TODAY.toordinal() - days_ago)


ROWS = {
    "orders": [
        order(1, "o1", d(0), "100.00"), order(1, "o2", d(5), "300.00", promo="聚划算"),
        order(1, "o3", d(100), "50.00"),
        order(2, "o4", d(20), "80.00", refund="30.00"), order(2, "o5", d(200), "20.00"),
        order(3, "o6", d(400), "1000.00"),
        order(4, "o7", d(1), "999.00", status="cancelled"),
        order(5, "o8", d(3), "10.00", status="pending"),
    ],
    "order_items": [
        line(1, "o1", d(0), "SKU-A", 2, "50.00"), line(1, "o2", d(5), "SKU-B", 1, "300.00"),
        line(2, "o4", d(20), "SKU-A", 1, "80.00"), line(3, "o6", d(400), "SKU-C", 4, "250.00"),
        line(4, "o7", d(1), "SKU-B", 1, "999.00"),
    ],
    "products": [product("SKU-A", "奶粉", "BrandA", d(300), "60.00"),
                 product("SKU-B", "玩具", "BrandB", d(10), "400.00"),
                 product("SKU-C", "童车", "BrandC", None, "300.00")],
    "events": [
        event(1, "e1", "view", d(0)), event(1, "e2", "view", d(2)), event(1, "e3", "view", d(6)),
        event(1, "e4", "view", d(7)),  # outside a 7-day window (today and 6 days before)
        event(2, "e5", "view", d(1)), event(2, "e6", "view", d(1)),
        event(2, "e7", "add_to_cart", d(1)), event(6, "e8", "view", d(3)),
    ],
}
for e in ROWS["events"]:
    e["sku"] = "SKU-X" if e["event_id"] != "e8" else "SKU-Y"
ROWS["events"][6]["value"] = Decimal("80.00")

UNIVERSE = pa.table({
    "customer_id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
    "monetary": pa.array([Decimal("450.00"), Decimal("70.00"), Decimal("1000.00"), None, None,
                          None], pa.decimal128(18, 2)),
    "frequency": pa.array([3, 2, 1, 0, 0, 0], pa.int64()),
    "stage": pa.array(["active", "active", "churned", "prospect", "prospect", "prospect"]),
    "promo_share": pa.array([1 / 3, 0.0, 0.0, None, None, None], pa.float64()),
    "last_purchase_day": pa.array([d(0), d(20), d(400), None, None, None], pa.date32()),
})


class FakeSets:
    """The operational store's answers, as plain data."""

    def __init__(self) -> None:
        self.attributes = {1: {"province": "浙江省"}, 2: {"province": "上海市"},
                           3: {"province": "浙江省"}, 4: {}, 5: {"province": "广东省"}, 6: {}}
        self.points = {1: 500, 2: 0, 3: 40}
        self.tags = {"vip": [1, 3], "empty": []}

    def attribute(self, node: Attribute, *, today: date, timezone: str) -> pa.Table:
        assert node.op in (Op.EQ, Op.IN)
        wanted = node.value if isinstance(node.value, list) else [node.value]
        return _ids([c for c, a in self.attributes.items() if a.get(node.field) in wanted])

    def loyalty(self, node: Loyalty, *, complement: bool) -> pa.Table:
        ops = {Op.GT: lambda x: x > node.value, Op.LT: lambda x: x < node.value,  # type: ignore[operator]
               Op.GTE: lambda x: x >= node.value}  # type: ignore[operator]
        passes = ops[node.op]
        return _ids([c for c, p in self.points.items() if passes(p) != complement])

    def tag(self, key: str) -> pa.Table:
        return _ids(self.tags[key])


def _ids(values: list[int]) -> pa.Table:
    return pa.table({"customer_id": pa.array(values, pa.int64())})


@pytest.fixture(scope="module")
def facts() -> Facts:
    return on_duckdb(arrow_facts(ROWS))


def sources(facts: Facts, **extra: Any) -> Sources:
    universe = ibis.memtable(UNIVERSE)
    return Sources(facts=facts, features=lambda cols: universe.select(*cols), sets=FakeSets(),
                   as_of=AS_OF, timezone="Asia/Shanghai", **extra)


def members(facts: Facts, data: dict[str, Any], **extra: Any) -> list[int]:
    """The members, computed twice: as one expression, and staged (an "and" runs its
    cheap conditions first, as the application does) — both must agree."""
    rule = parse_rule(data)
    con = facts.orders._find_backend()
    expr = compile_members(rule, sources(facts, **extra))
    whole = sorted(con.to_pyarrow(expr).column("customer_id").to_pylist())
    staged = compile_members(rule, sources(facts, materialize=con.to_pyarrow, **extra))
    assert sorted(con.to_pyarrow(staged).column("customer_id").to_pylist()) == whole
    return whole


def feat(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"kind": "feature", "field": field, "op": op, "value": value}


def beh(of: str, **kw: Any) -> dict[str, Any]:
    return {"kind": "behaviour", "of": of, **kw}


@pytest.mark.parametrize(("rule", "expected"), [
    (feat("monetary", "gte", 450), [1, 3]),
    (feat("monetary", "gt", 450), [3]),
    (feat("monetary", "between", [70, 450]), [1, 2]),
    (feat("monetary", "is_null"), [4, 5, 6]),
    (feat("frequency", "in", [1, 2]), [2, 3]),
    (feat("frequency", "ne", 0), [1, 2, 3]),
    (feat("stage", "eq", "active"), [1, 2]),
    (feat("stage", "not_in", ["active", "churned"]), [4, 5, 6]),
    (feat("stage", "contains", "ctiv"), [1, 2]),
    (feat("stage", "starts_with", "pro"), [4, 5, 6]),
    (feat("stage", "contains_any", ["urn", "xyz", "ctiv"]), [1, 2, 3]),
    (feat("promo_share", "gt", 0.3), [1]),
    (feat("last_purchase_day", "within_days", 20), [1, 2]),
    (feat("last_purchase_day", "within_days", 19), [1]),
    (feat("last_purchase_day", "older_than_days", 20), [3]),
    (feat("last_purchase_day", "lt", str(d(20))), [3]),
    (feat("last_purchase_day", "eq", str(d(20))), [2]),
    (feat("last_purchase_day", "ne", str(d(20))), [1, 3]),
    # top share: 3 buyers with monetary; position p (0 = best) is in when p < share × 3
    (feat("monetary", "top", 0.33), [3]),
    (feat("monetary", "top", 0.34), [1, 3]),
    (feat("monetary", "bottom", 0.33), [2]),
])
def test_feature_nodes(facts: Facts, rule: dict[str, Any], expected: list[int]) -> None:
    assert members(facts, rule) == expected


@pytest.mark.parametrize(("rule", "expected"), [
    # viewed SKU-X at least 3 times in the last 7 days (today and the 6 before)
    (beh("events", event_type="view", where=[{"field": "sku", "op": "eq", "value": "SKU-X"}],
         window={"days": 7}, op="gte", value=3), [1]),
    (beh("events", event_type="view", window={"days": 8}, op="gte", value=4), [1]),
    (beh("events", event_type="view", window={"days": 7}, op="gte", value=2), [1, 2]),
    (beh("events", window={"days": 7}, aggregate="sum", field="value", op="gte", value=80), [2]),
    # bought category 奶粉 (ever): purchases only, cancelled o7 of customer 4 does not count
    (beh("items", where=[{"field": "category", "op": "eq", "value": "奶粉"}]), [1, 2]),
    (beh("items", where=[{"field": "category", "op": "eq", "value": "玩具"}]), [1]),
    (beh("items", aggregate="sum", field="quantity", op="gte", value=4), [3]),
    (beh("items", aggregate="sum", field="quantity", op="gte", value=3), [1, 3]),
    (beh("items", where=[{"field": "brand", "op": "in", "value": ["BrandC", "BrandB"]}],
         window={"days": 30}), [1]),
    # spent ≥ 150 net since a date
    (beh("purchases", aggregate="sum", field="net", window={"since": str(d(30))},
         op="gte", value=150), [1]),
    (beh("purchases", aggregate="sum", field="net", window={"since": str(d(30)),
                                                            "until": str(d(1))},
         op="gte", value=300), [1]),
    (beh("purchases", aggregate="sum", field="net", window={"since": str(d(30))},
         op="between", value=[50, 50]), [2]),
    # no purchase for 90 days: count eq 0 — includes those who never bought
    (beh("purchases", window={"days": 90}, op="eq", value=0), [3, 4, 5, 6]),
    # the same as "less than 1" and as "not (at least one)"
    (beh("purchases", window={"days": 90}, op="lt", value=1), [3, 4, 5, 6]),
    ({"kind": "not", "child": beh("purchases", window={"days": 90})}, [3, 4, 5, 6]),
    # spent < 100 in 30 days: zero spenders too
    (beh("purchases", aggregate="sum", field="net", window={"days": 30}, op="lt", value=100),
     [2, 3, 4, 5, 6]),
    # averages compare exactly: customer 1 spent 100 + 300 + 50 over 3 → 150
    (beh("purchases", aggregate="avg", field="paid_amount", op="eq", value=150), [1]),
    (beh("purchases", aggregate="avg", field="paid_amount", op="gte", value=150), [1, 3]),
    (beh("purchases", aggregate="avg", field="paid_amount", op="between", value=[40, 60]), [2]),
    (beh("purchases", aggregate="avg", field="paid_amount", op="lt", value=1), []),
    (beh("purchases", aggregate="max", field="paid_amount", op="gte", value=300), [1, 3]),
    (beh("purchases", aggregate="min", field="paid_amount", op="lte", value=20), [2]),
    (beh("purchases", aggregate="count_distinct", field="day", op="gte", value=3), [1]),
    (beh("purchases", where=[{"field": "promo_type", "op": "contains", "value": "聚划算"}]), [1]),
    # orders of any status: the cancelled and the pending ones count
    (beh("orders", window={"days": 7}), [1, 4, 5]),
    (beh("orders", where=[{"field": "status", "op": "eq", "value": "cancelled"}]), [4]),
])
def test_behaviour_nodes(facts: Facts, rule: dict[str, Any], expected: list[int]) -> None:
    assert members(facts, rule) == expected


@pytest.mark.parametrize(("rule", "expected"), [
    # an "and" evaluates costly children within the customers its cheaper ones left;
    # complements and "or" below it must still be exact for those customers
    ({"kind": "and", "children": [
        {"kind": "not", "child": beh("events", event_type="view", window={"days": 7})},
        feat("frequency", "lte", 1)]}, [3, 4, 5]),
    ({"kind": "and", "children": [
        {"kind": "or", "children": [
            beh("events", event_type="view", window={"days": 7}, op="gte", value=2),
            beh("purchases", aggregate="sum", field="net", window={"days": 30}, op="lt",
                value=100)]},
        feat("frequency", "gte", 1)]}, [1, 2, 3]),
    ({"kind": "and", "children": [
        beh("purchases", window={"days": 30}),
        beh("items", where=[{"field": "category", "op": "eq", "value": "奶粉"}]),
        {"kind": "not", "child": beh("orders", where=[{"field": "status", "op": "eq",
                                                        "value": "cancelled"}])}]}, [1, 2]),
    ({"kind": "and", "children": [
        beh("purchases", window={"days": 400}, op="eq", value=0),
        {"kind": "not", "child": feat("stage", "eq", "prospect")}]}, [3]),
    ({"kind": "and", "children": [
        beh("purchases", window={"days": 400}, op="eq", value=0),
        beh("events", window={"days": 30}, op="eq", value=0)]}, [3, 4, 5]),
])
def test_and_narrows_costly_children_exactly(facts: Facts, rule: dict[str, Any],
                                             expected: list[int]) -> None:
    assert members(facts, rule) == expected


def test_windows_follow_the_clock(facts: Facts) -> None:
    """The same rule a day later: the view 6 days ago falls out of the 7-day window."""
    rule = parse_rule(beh("events", event_type="view", window={"days": 7}, op="gte", value=3))
    con = facts.orders._find_backend()
    today = con.to_pyarrow(compile_members(rule, sources(facts)))
    later = sources(facts)
    later.as_of = datetime(2026, 11, 21, 10, tzinfo=UTC)
    tomorrow = con.to_pyarrow(compile_members(rule, later))
    assert today.column("customer_id").to_pylist() == [1]
    assert tomorrow.column("customer_id").to_pylist() == []


@pytest.mark.parametrize(("rule", "expected"), [
    ({"kind": "attribute", "field": "province", "op": "eq", "value": "浙江省"}, [1, 3]),
    ({"kind": "not", "child": {"kind": "attribute", "field": "province", "op": "eq",
                               "value": "浙江省"}}, [2, 4, 5, 6]),
    ({"kind": "tag", "tag": "vip"}, [1, 3]),
    ({"kind": "tag", "tag": "empty"}, []),
    ({"kind": "loyalty", "field": "points", "op": "gt", "value": 100}, [1]),
    # fewer than 100 points: members with few points and everyone without an account
    ({"kind": "loyalty", "field": "points", "op": "lt", "value": 100}, [2, 3, 4, 5, 6]),
    ({"kind": "and", "children": [feat("stage", "eq", "active"), {"kind": "tag", "tag": "vip"}]},
     [1]),
    ({"kind": "or", "children": [feat("stage", "eq", "churned"), feat("frequency", "eq", 2)]},
     [2, 3]),
    ({"kind": "not", "child": {"kind": "or", "children": [feat("monetary", "gte", 100),
                                                          feat("monetary", "lt", 100)]}},
     [4, 5, 6]),  # the null monetary customers: a missing value is false, its negation true
])
def test_store_sets_and_groups(facts: Facts, rule: dict[str, Any], expected: list[int]) -> None:
    assert members(facts, rule) == expected


def test_clv_and_saved_segment_nodes(facts: Facts) -> None:
    clv = ibis.memtable(pa.table({"customer_id": pa.array([1, 2, 3], pa.int64()),
                                  "clv": [900.5, 10.0, 300.0], "p_alive": [0.9, 0.2, 0.5]}))
    saved: dict[int, Rule] = {7: parse_rule(feat("stage", "eq", "active")),
                              8: parse_rule({"kind": "and", "children": [
                                  {"kind": "segment", "segment": 7},
                                  feat("monetary", "gte", 100)]})}
    extra = {"clv": lambda cols: clv.select(*cols), "segments": saved.get}
    assert members(facts, {"kind": "clv", "field": "clv", "op": "gte", "value": 300},
                   **extra) == [1, 3]
    assert members(facts, {"kind": "clv", "field": "p_alive", "op": "top", "value": 0.33},
                   **extra) == [1]
    assert members(facts, {"kind": "segment", "segment": 8}, **extra) == [1]
    assert members(facts, {"kind": "not", "child": {"kind": "segment", "segment": 7}},
                   **extra) == [3, 4, 5, 6]
    looped = {**saved, 7: parse_rule({"kind": "segment", "segment": 8})}
    with pytest.raises(RuleError, match="cyclic"):
        members(facts, {"kind": "segment", "segment": 8}, segments=looped.get)


def test_no_features_snapshot(facts: Facts) -> None:
    src = sources(facts)
    src.features = None
    with pytest.raises(NoFeaturesYet):
        compile_members(parse_rule(feat("stage", "eq", "x")), src)


INJECTIONS = [
    "'; DROP TABLE orders; --", "' OR '1'='1", "\" OR \"\"=\"", "x') OR ('a'='a",
    "%", "_", "%%' --", "\\'; SELECT 1; --", "奶粉' UNION SELECT customer_id FROM orders --",
    "$$; DROP TABLE events; $$", "`id`", "1; ATTACH 'evil.db'", "' || (SELECT 1) || '",
    "\u2019 OR 1=1 --", "\\", "'", "''", "null", "*/ OR 1=1 /*",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_strings_are_only_values(facts: Facts, value: str) -> None:
    """Each is a value that matches nothing; the tables are all still there after."""
    for rule in (feat("stage", "eq", value), feat("stage", "contains", value),
                 feat("stage", "in", [value, "nothing"]),
                 feat("stage", "starts_with", value),
                 feat("stage", "contains_any", [value, "zzz"]),
                 beh("items", where=[{"field": "category", "op": "eq", "value": value}]),
                 beh("events", where=[{"field": "sku", "op": "contains", "value": value}]),
                 beh("purchases", where=[{"field": "promo_type", "op": "in", "value": [value]}])):
        assert members(facts, rule) == []
    assert members(facts, feat("stage", "not_contains", value)) == [1, 2, 3, 4, 5, 6]
    con = facts.orders._find_backend()
    assert con.to_pyarrow(facts.orders.count()).as_py() == len(ROWS["orders"])
    assert con.to_pyarrow(facts.events.count()).as_py() == len(ROWS["events"])
