"""The rule tree: structure, semantic checks with JSON paths, cycles, round trips."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopcrm.segments.rules import (
    MAX_WINDOW_DAYS,
    Catalogue,
    FieldType,
    RuleError,
    check,
    dump_rule,
    find_cycle,
    json_path,
    parse_rule,
    validate,
)

FEATURES = {"monetary": FieldType.MONEY, "frequency": FieldType.INTEGER,
            "stage": FieldType.STRING, "r_score": FieldType.INTEGER,
            "last_purchase_day": FieldType.DATE, "promo_share": FieldType.NUMBER}
CATALOGUE = Catalogue(features=FEATURES, tags=frozenset({"vip"}), today=date(2026, 11, 20))


def problems(data: Any, catalogue: Catalogue = CATALOGUE, **kw: Any) -> list[str]:
    try:
        validate(data, catalogue, **kw)
    except RuleError as exc:
        return [str(p) for p in exc.problems]
    return []


def feat(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"kind": "feature", "field": field, "op": op, "value": value}


def test_a_valid_tree_of_every_kind() -> None:
    rule = {"kind": "and", "children": [
        feat("monetary", "gte", 300),
        {"kind": "or", "children": [feat("stage", "in", ["new", "active"]),
                                    {"kind": "tag", "tag": "vip"}]},
        {"kind": "not", "child": {"kind": "behaviour", "of": "events", "event_type": "view",
                                  "where": [{"field": "sku", "op": "eq", "value": "X"}],
                                  "window": {"days": 7}, "op": "gte", "value": 3}},
        {"kind": "attribute", "field": "province", "op": "eq", "value": "浙江省"},
        {"kind": "loyalty", "field": "points", "op": "gt", "value": 100},
        {"kind": "behaviour", "of": "purchases", "aggregate": "sum", "field": "net",
         "window": {"since": "2026-01-01"}, "op": "gte", "value": 500},
    ]}
    assert problems(rule) == []
    parsed = parse_rule(rule)
    assert parse_rule(json.loads(json.dumps(dump_rule(parsed)))) == parsed


@pytest.mark.parametrize(("data", "expected"), [
    ({"kind": "and", "children": [feat("monetary", "gte", 1), feat("nope", "eq", 1)]},
     "rule.children[1].field: unknown feature 'nope'"),
    ({"kind": "and", "children": [feat("monetary", "gte", 1), feat("stage", "gte", 1)]},
     "rule.children[1].op: 'gte' does not apply to stage (string)"),
    (feat("monetary", "gte", "lots"), "rule.value: monetary is a number, not str 'lots'"),
    (feat("stage", "eq", 5), "rule.value: stage is text, not int 5"),
    (feat("monetary", "between", [500, 100]), "rule.value: low is greater than high"),
    (feat("monetary", "is_null", 3), "rule.value: is_null takes no value"),
    (feat("monetary", "top", 2), "rule.value: a share between 0 and 1"),
    (feat("last_purchase_day", "gte", "yesterday"), "rule.value: 'yesterday' is not a date"),
    (feat("frequency", "eq", 1.5), "rule.value: frequency is a whole number"),
    ({"kind": "not", "child": {"kind": "tag", "tag": "gold"}},
     "rule.child.tag: unknown tag 'gold'"),
    ({"kind": "clv", "field": "clv", "op": "gt", "value": 1},
     "rule: no CLV snapshot yet"),
    ({"kind": "attribute", "field": "salary", "op": "gt", "value": 1},
     "rule.field: unknown attribute 'salary'"),
    ({"kind": "behaviour", "of": "purchases", "aggregate": "sum", "op": "gt", "value": 1},
     "rule.field: sum needs a field of purchases"),
    ({"kind": "behaviour", "of": "purchases", "event_type": "view"},
     "rule.event_type: only events have an event type"),
    ({"kind": "behaviour", "of": "items", "where": [{"field": "colour", "op": "eq",
                                                      "value": "red"}]},
     "rule.where[0].field: unknown items field 'colour'"),
    ({"kind": "behaviour", "of": "purchases", "window": {"since": "2010-01-01"}},
     "rule.window.since: a window of more than ten years is absurd"),
    ({"kind": "behaviour", "of": "purchases", "window": {"since": "2027-01-01"}},
     "rule.window.since: the window starts in the future"),
    ({"kind": "behaviour", "of": "purchases", "op": "top", "value": 0.1},
     "rule.op: 'top' does not apply to an aggregate"),
])
def test_semantic_problems_point_at_the_node(data: dict[str, Any], expected: str) -> None:
    found = problems(data)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(("data", "expected"), [
    ({"kind": "and", "children": [feat("monetary", "gte", 1),
                                  {"kind": "behaviour", "of": "purchases",
                                   "window": {"days": -3}}]},
     "rule.children[1].window.days: Value error, a window of -3 days is absurd"),
    ({"kind": "behaviour", "of": "purchases", "window": {"days": MAX_WINDOW_DAYS + 1}},
     "rule.window.days: Value error, a window of 3651 days is absurd"),
    ({"kind": "behaviour", "of": "purchases", "window": {}},
     "rule.window: Value error, give either days"),
    ({"kind": "behaviour", "of": "purchases",
      "window": {"since": "2026-02-01", "until": "2026-01-01"}},
     "rule.window: Value error, the window ends"),
    ({"kind": "or", "children": [{"kind": "frobnicate"}]},
     "rule.children[0]: unknown kind"),
    ({"kind": "or", "children": []}, "rule.children: List should have at least 1 item"),
    ({"kind": "not", "child": feat("monetary", "gte", 1), "extra": 1}, "rule.extra: unknown field"),
    ({"kind": "and", "children": [{"kind": "not", "child": feat("monetary", "approx", 1)}]},
     "rule.children[0].child.op: Input should be"),
    (feat("monetary", "eq", True), "rule.value"),
    (feat("stage", "eq", "a\x00b"), "rule.value: Value error, text values cannot contain"),
    ({"kind": "segment", "segment": "1; DROP TABLE segments"}, "rule.segment"),
    ({"kind": "tag", "tag": "x' OR '1'='1"}, "rule.tag: String should match pattern"),
])
def test_structural_problems_point_at_the_node(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(data)
    found = [str(p) for p in caught.value.problems]
    assert any(p.startswith(expected) for p in found), found


def test_too_deep_or_too_big_is_refused() -> None:
    deep: dict[str, Any] = feat("monetary", "gte", 1)
    for _ in range(20):
        deep = {"kind": "not", "child": deep}
    with pytest.raises(RuleError, match="nested deeper"):
        parse_rule(deep)
    wide = {"kind": "and", "children": [
        {"kind": "or", "children": [feat("monetary", "gte", i) for i in range(40)]}
        for _ in range(6)]}
    with pytest.raises(RuleError, match="at most 200"):
        parse_rule(wide)


def test_json_path_strips_union_tags() -> None:
    assert json_path(("children", 2, "behaviour", "window", "days")) == \
        "rule.children[2].window.days"
    assert json_path(("not", "child", "feature", "op")) == "rule.child.op"
    assert json_path(("behaviour", "where", 0, "field")) == "rule.where[0].field"


def test_cycles_between_saved_segments() -> None:
    rules = {1: parse_rule({"kind": "segment", "segment": 2}),
             2: parse_rule({"kind": "and", "children": [{"kind": "segment", "segment": 3},
                                                        feat("monetary", "gte", 1)]}),
             3: parse_rule({"kind": "segment", "segment": 1}),
             4: parse_rule(feat("monetary", "gte", 1))}
    catalogue = Catalogue(features=FEATURES, segments=rules.get)
    assert find_cycle(1, rules.get) == [1, 2, 3, 1]
    assert find_cycle(4, rules.get) is None
    # pointing at a segment whose references already loop is refused too
    assert problems({"kind": "segment", "segment": 1}, catalogue, segment_id=4) == [
        "rule.segment: cyclic segment reference: 4 → 1 → 2 → 3 → 1"]
    assert problems({"kind": "segment", "segment": 4}, catalogue, segment_id=7) == []
    # … a segment pointing at itself, or through others back to itself, is not
    assert problems({"kind": "segment", "segment": 4}, catalogue, segment_id=4) == [
        "rule.segment: a segment cannot contain itself"]
    rules5 = {**rules, 6: parse_rule({"kind": "segment", "segment": 5})}
    catalogue5 = Catalogue(features=FEATURES, segments=rules5.get)
    assert problems({"kind": "not", "child": {"kind": "segment", "segment": 6}}, catalogue5,
                    segment_id=5) == ["rule.child.segment: cyclic segment reference: 5 → 6 → 5"]
    assert problems({"kind": "segment", "segment": 99}, catalogue) == [
        "rule.segment: no saved segment 99"]


# --- hypothesis: any tree round-trips; any JSON either parses or fails with paths ---------

printable = st.text(max_size=20).filter(lambda s: not any(ord(c) < 32 or ord(c) == 127
                                                          for c in s))
scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False),
                    st.text(max_size=20).filter(lambda s: not any(ord(c) < 32 for c in s)))
leaves = st.one_of(
    st.builds(lambda f, v: feat(f, "gte", v), st.sampled_from(["monetary", "frequency"]),
              st.integers(0, 10**5)),
    st.builds(lambda v: feat("stage", "in", v), st.lists(printable, min_size=1, max_size=4)),
    st.builds(lambda d, n: {"kind": "behaviour", "of": "events", "event_type": "view",
                            "window": {"days": d}, "op": "gte", "value": n},
              st.integers(1, MAX_WINDOW_DAYS), st.integers(0, 50)),
    st.builds(lambda v: {"kind": "attribute", "field": "city", "op": "eq", "value": v},
              printable),
    st.just({"kind": "tag", "tag": "vip"}),
)
trees = st.recursive(leaves, lambda inner: st.one_of(
    st.builds(lambda c: {"kind": "and", "children": c}, st.lists(inner, min_size=1, max_size=4)),
    st.builds(lambda c: {"kind": "or", "children": c}, st.lists(inner, min_size=1, max_size=4)),
    st.builds(lambda c: {"kind": "not", "child": c}, inner)), max_leaves=12)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(trees)
def test_valid_trees_round_trip_through_json(data: dict[str, Any]) -> None:
    try:
        rule = parse_rule(data)
    except RuleError as exc:  # only the depth limit can refuse a generated tree
        assert "nested deeper" in str(exc)
        return
    again = parse_rule(json.loads(json.dumps(dump_rule(rule), ensure_ascii=False)))
    assert again == rule
    assert check(again, CATALOGUE) == []


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), scalars),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(
                                ["kind", "children", "child", "field", "op", "value", "of",
                                 "window", "days", "tag", "segment", "where", "aggregate"]),
                                inner, max_size=5)),
    max_leaves=15)
kinds = st.sampled_from(["and", "or", "not", "feature", "behaviour", "tag", "segment", "x"])


@settings(max_examples=300, deadline=None)
@given(json_values, kinds)
def test_any_json_parses_or_fails_with_paths(data: Any, kind: str) -> None:
    if isinstance(data, dict):
        data = {**data, "kind": kind}
    try:
        rule = parse_rule(data)
    except RuleError as exc:
        assert exc.problems
        assert all(p.path.startswith("rule") for p in exc.problems)
        return
    check(rule, CATALOGUE)  # never raises, whatever it finds
