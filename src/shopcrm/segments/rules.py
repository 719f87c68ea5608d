"""The segment rule tree: a typed, validated JSON document (pure — no I/O, no Ibis).

A rule is a tree of nodes discriminated by ``kind``:

* groups — ``and`` / ``or`` (``children``) and ``not`` (``child``);
* ``attribute`` — a customer profile field of the operational store (province, city,
  district, gender, source platform, first / last seen);
* ``feature`` — any column of the latest features snapshot (RFM scores and classes,
  lifecycle stage, tier, quadrant, monetary, frequency, AOV, recency, windows …);
* ``tag`` — current member of a tag of the tag library (by its key);
* ``clv`` — a column of the latest CLV snapshot (clv, p_alive, expected purchases …);
* ``loyalty`` — points balance or member tier (operational store);
* ``behaviour`` — an aggregate (count, sum, average, min, max, distinct count) over the
  facts (purchases, orders, order lines, events) in a window, with filters: "viewed SKU X
  at least 3 times in the last 7 days", "bought category C", "spent ≥ M since D", "no
  purchase for 90 days";
* ``segment`` — member of another saved segment.

Structure and value shapes are checked by pydantic (:func:`parse_rule`); what depends on
the shop — which feature columns exist, which tags and segments, whether a CLV snapshot
exists, cycles between segments, windows relative to today — by :func:`check` against a
:class:`Catalogue`. Both report problems as JSON paths to the offending node
(``rule.children[2].window.days``), so an editor can point at it. Values are data all the
way down: :mod:`shopcrm.segments.compiler` turns them into Ibis literals, never SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_NODES = 200
MAX_DEPTH = 12
MAX_CHILDREN = 50
MAX_LIST = 500
MAX_TEXT = 200
MAX_WINDOW_DAYS = 3650
"""Ten years: a longer window is a typo, not a question."""
ROOT = "rule"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""Control characters and lone surrogates (not text any engine can hold)."""


class FieldType(StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    MONEY = "money"
    STRING = "string"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @property
    def numeric(self) -> bool:
        return self in (FieldType.INTEGER, FieldType.NUMBER, FieldType.MONEY)

    @property
    def temporal(self) -> bool:
        return self in (FieldType.DATE, FieldType.TIMESTAMP)


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    CONTAINS_ANY = "contains_any"
    """Text: contains at least one of a list of pieces (``["聚划算", "秒杀"]``)."""
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"
    TOP = "top"
    """Numeric: in the top share (0 < value ≤ 1) of customers by the field (nulls out)."""
    BOTTOM = "bottom"
    WITHIN_DAYS = "within_days"
    """Date: on one of the last ``value`` days (today − value … today)."""
    OLDER_THAN_DAYS = "older_than_days"
    """Date: before today − ``value`` days."""


COMPARISONS = (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE)
OPS_BY_TYPE: dict[FieldType, tuple[Op, ...]] = {
    FieldType.INTEGER: (*COMPARISONS, Op.BETWEEN, Op.IN, Op.NOT_IN, Op.IS_NULL, Op.NOT_NULL,
                        Op.TOP, Op.BOTTOM),
    FieldType.STRING: (Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.CONTAINS, Op.CONTAINS_ANY,
                       Op.NOT_CONTAINS, Op.STARTS_WITH, Op.IS_NULL, Op.NOT_NULL),
    FieldType.DATE: (*COMPARISONS, Op.BETWEEN, Op.WITHIN_DAYS, Op.OLDER_THAN_DAYS,
                     Op.IS_NULL, Op.NOT_NULL),
}
OPS_BY_TYPE[FieldType.NUMBER] = OPS_BY_TYPE[FieldType.INTEGER]
OPS_BY_TYPE[FieldType.MONEY] = OPS_BY_TYPE[FieldType.INTEGER]
OPS_BY_TYPE[FieldType.TIMESTAMP] = OPS_BY_TYPE[FieldType.DATE]

Text = Annotated[str, Field(min_length=0, max_length=MAX_TEXT)]
Scalar = StrictInt | StrictFloat | Text
Value = Scalar | list[Scalar] | None


def _clean_text(value: Any) -> Any:
    """Control characters (a NUL byte …) are refused: they are never a real value."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str) and _CONTROL.search(item):
            raise ValueError("text values cannot contain control characters")
        if (isinstance(item, float) and item != item) or item in (float("inf"), float("-inf")):
            raise ValueError("numbers must be finite")
    if isinstance(value, list) and len(value) > MAX_LIST:
        raise ValueError(f"at most {MAX_LIST} values in a list")
    return value


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Condition(_Node):
    field: Annotated[str, Field(min_length=1, max_length=64)]
    op: Op
    value: Value = None

    _clean = field_validator("value")(_clean_text)


# --- fixed field catalogues ---------------------------------------------------------

ATTRIBUTE_FIELDS: dict[str, FieldType] = {
    "province": FieldType.STRING, "city": FieldType.STRING, "district": FieldType.STRING,
    "gender": FieldType.STRING,
    "source": FieldType.STRING,
    # ``source``: the customer has a record from that platform (taobao, jd, pdd, shopify …)
    "first_seen": FieldType.TIMESTAMP, "last_seen": FieldType.TIMESTAMP,
}
LOYALTY_FIELDS: dict[str, FieldType] = {"points": FieldType.INTEGER, "tier": FieldType.STRING}
CLV_FIELDS: dict[str, FieldType] = {
    "clv": FieldType.NUMBER, "p_alive": FieldType.NUMBER,
    "expected_purchases": FieldType.NUMBER, "expected_spend": FieldType.NUMBER,
    "expected_revenue": FieldType.NUMBER,
}

Facts = Literal["purchases", "orders", "items", "events"]

FILTER_FIELDS: dict[str, dict[str, FieldType]] = {
    "purchases": {"source": FieldType.STRING, "promo_type": FieldType.STRING,
                  "store_name": FieldType.STRING, "province": FieldType.STRING,
                  "city": FieldType.STRING, "paid_amount": FieldType.MONEY,
                  "item_count": FieldType.INTEGER},
    "items": {"sku": FieldType.STRING, "product_id": FieldType.STRING,
              "title": FieldType.STRING, "category": FieldType.STRING,
              "brand": FieldType.STRING, "source": FieldType.STRING,
              "unit_price": FieldType.MONEY, "quantity": FieldType.INTEGER},
    "events": {"sku": FieldType.STRING, "category": FieldType.STRING,
               "query": FieldType.STRING, "source": FieldType.STRING,
               "value": FieldType.MONEY},
}
FILTER_FIELDS["orders"] = {**FILTER_FIELDS["purchases"], "status": FieldType.STRING}
"""Fields a behaviour ``where`` filter may test, per kind of fact."""

AGGREGATE_FIELDS: dict[str, dict[str, FieldType]] = {
    "purchases": {"paid_amount": FieldType.MONEY, "net": FieldType.MONEY,
                  "refund_amount": FieldType.MONEY, "goods_amount": FieldType.MONEY,
                  "discount_amount": FieldType.MONEY, "item_count": FieldType.INTEGER},
    "items": {"quantity": FieldType.INTEGER, "amount": FieldType.MONEY,
              "unit_price": FieldType.MONEY},
    "events": {"value": FieldType.MONEY},
}
AGGREGATE_FIELDS["orders"] = AGGREGATE_FIELDS["purchases"]
"""Fields ``sum`` / ``avg`` / ``min`` / ``max`` may take, per kind of fact (``net`` is
paid − refunded)."""

DISTINCT_FIELDS: dict[str, tuple[str, ...]] = {
    "purchases": ("day", "source", "store_name"), "orders": ("day", "source", "status"),
    "items": ("day", "sku", "category", "brand"), "events": ("day", "sku", "category"),
}
EVENT_TYPES = ("view", "search", "add_to_cart", "favourite")


class Filter(_Condition):
    """A condition on each fact row before aggregating (``category eq 奶粉``)."""


class Window(_Node):
    """Which days count: the last ``days`` days (today and the ``days − 1`` before), or
    from ``since`` (and up to ``until``, both inclusive, shop-local days). None: all time."""

    days: StrictInt | None = None
    since: date | None = None
    until: date | None = None

    @field_validator("days")
    @classmethod
    def _days(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_WINDOW_DAYS:
            raise ValueError(f"a window of {value} days is absurd: use 1 to "
                             f"{MAX_WINDOW_DAYS} days (ten years)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Window:
        if (self.days is None) == (self.since is None):
            raise ValueError("give either days (the last N days) or since (from a date)")
        if self.until is not None and self.since is None:
            raise ValueError("until needs since")
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"the window ends ({self.until}) before it starts ({self.since})")
        return self


class And(_Node):
    kind: Literal["and"]
    children: Annotated[list[Rule], Field(min_length=1, max_length=MAX_CHILDREN)]


class Or(_Node):
    kind: Literal["or"]
    children: Annotated[list[Rule], Field(min_length=1, max_length=MAX_CHILDREN)]


class Not(_Node):
    kind: Literal["not"]
    child: Rule


class Attribute(_Condition):
    kind: Literal["attribute"]


class Feature(_Condition):
    kind: Literal["feature"]


class Clv(_Condition):
    kind: Literal["clv"]


class Loyalty(_Condition):
    kind: Literal["loyalty"]


class TagRef(_Node):
    """Currently a member of the tag ``tag`` (its key)."""

    kind: Literal["tag"]
    tag: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_][a-z0-9_\-]*$")]


class SegmentRef(_Node):
    """A member of saved segment ``segment`` (evaluated live, not from a snapshot)."""

    kind: Literal["segment"]
    segment: Annotated[int, Field(ge=1, le=2**63 - 1, strict=True)]


class Behaviour(_Node):
    """``aggregate`` (of ``field``) over the ``of`` facts in ``window`` that pass ``where``,
    compared by ``op`` with ``value``. Customers without a matching row count 0 and sum 0
    (so "no purchase in 90 days" is ``count eq 0``); their average, min and max are
    missing and compare false."""

    kind: Literal["behaviour"]
    of: Facts
    event_type: Annotated[str | None, Field(max_length=32)] = None
    where: Annotated[list[Filter], Field(max_length=10)] = []
    window: Window | None = None
    aggregate: Literal["count", "count_distinct", "sum", "avg", "min", "max"] = "count"
    field: Annotated[str | None, Field(max_length=64)] = None
    op: Op = Op.GTE
    value: Value = 1

    _clean = field_validator("value")(_clean_text)


Rule = Annotated[And | Or | Not | Attribute | Feature | TagRef | Clv | Loyalty | Behaviour
                 | SegmentRef, Field(discriminator="kind")]
KINDS = ("and", "or", "not", "attribute", "feature", "tag", "clv", "loyalty", "behaviour",
         "segment")
for _model in (And, Or, Not):
    _model.model_rebuild()

RULE = TypeAdapter(Rule)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RuleError(ValueError):
    """The rule is invalid; ``problems`` point at the offending nodes."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def json_path(loc: tuple[int | str, ...], root: str = ROOT) -> str:
    """A pydantic error location as a JSON path, without the union's tag names
    (``('children', 2, 'behaviour', 'window')`` → ``rule.children[2].window``)."""
    out = root
    expect_tag = True
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if expect_tag and part in KINDS:
            expect_tag = False
            continue
        expect_tag = part in ("children", "child")
        out += f".{part}"
    return out


def parse_rule(data: Any, *, root: str = ROOT) -> Rule:
    """Validate the structure of a rule (JSON-like data); RuleError with paths if not."""
    try:
        rule: Rule = RULE.validate_python(data)
    except ValidationError as exc:
        problems: list[Problem] = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            message = str(err.get("msg", "invalid"))
            if err.get("type") == "union_tag_invalid":
                message = f"unknown kind: use one of {', '.join(KINDS)}"
            elif err.get("type") == "extra_forbidden":
                message = "unknown field"
            elif "value" in loc and loc.index("value") < len(loc) - 1 and \
                    not str(message).startswith("Value error"):
                # one problem for the value, not one per member of its type union
                loc = loc[:loc.index("value") + 1]
                message = (f"a number, a text (at most {MAX_TEXT} characters) or a list of "
                           "them")
            problem = Problem(json_path(loc, root), message)
            if problem not in problems:
                problems.append(problem)
        raise RuleError(problems) from None
    _check_size(rule, root)
    return rule


def dump_rule(rule: Rule) -> dict[str, Any]:
    """The rule as JSON-ready data (what is stored)."""
    data: dict[str, Any] = RULE.dump_python(rule, mode="json", exclude_defaults=False)
    return data


def walk(rule: Rule, path: str = ROOT) -> Iterator[tuple[str, Rule]]:
    """Every node with its JSON path, parents first."""
    yield path, rule
    if isinstance(rule, And | Or):
        for i, child in enumerate(rule.children):
            yield from walk(child, f"{path}.children[{i}]")
    elif isinstance(rule, Not):
        yield from walk(rule.child, f"{path}.child")


def _depth(rule: Rule) -> int:
    if isinstance(rule, And | Or):
        return 1 + max(_depth(c) for c in rule.children)
    if isinstance(rule, Not):
        return 1 + _depth(rule.child)
    return 1


def _check_size(rule: Rule, root: str) -> None:
    nodes = sum(1 for _ in walk(rule, root))
    if nodes > MAX_NODES:
        raise RuleError([Problem(root, f"{nodes} conditions: at most {MAX_NODES}")])
    if _depth(rule) > MAX_DEPTH:
        raise RuleError([Problem(root, f"nested deeper than {MAX_DEPTH} levels")])


def referenced_segments(rule: Rule) -> set[int]:
    return {n.segment for _, n in walk(rule) if isinstance(n, SegmentRef)}


def referenced_tags(rule: Rule) -> set[str]:
    return {n.tag for _, n in walk(rule) if isinstance(n, TagRef)}


# --- semantic checks ------------------------------------------------------------------

@dataclass(frozen=True)
class Catalogue:
    """What the shop has: the features snapshot's columns, tags, saved segments."""

    features: Mapping[str, FieldType]
    tags: frozenset[str] = frozenset()
    segments: Callable[[int], Rule | None] = field(default=lambda _id: None)
    """A saved segment's rule (None: no such segment)."""
    clv: bool = False
    """Whether a CLV snapshot exists."""
    today: date | None = None
    """Shop-local today, for windows given as dates (None: not checked)."""


def check(rule: Rule, catalogue: Catalogue, *, segment_id: int | None = None,
          root: str = ROOT) -> list[Problem]:
    """Everything wrong with a structurally valid rule, as paths and messages.

    ``segment_id``: the saved segment this rule belongs to, so a reference back to it
    (directly or through other segments) is reported as a cycle.
    """
    problems: list[Problem] = []
    for path, node in walk(rule, root):
        if isinstance(node, Attribute):
            problems += _condition(node, path, ATTRIBUTE_FIELDS, "attribute")
        elif isinstance(node, Feature):
            problems += _condition(node, path, catalogue.features, "feature",
                                   hint="of the features snapshot (run `shopcrm compute`?)")
        elif isinstance(node, Loyalty):
            problems += _condition(node, path, LOYALTY_FIELDS, "loyalty field")
        elif isinstance(node, Clv):
            if not catalogue.clv:
                problems.append(Problem(path, "no CLV snapshot yet: compute CLV first"))
            problems += _condition(node, path, CLV_FIELDS, "CLV field")
        elif isinstance(node, TagRef):
            if node.tag not in catalogue.tags:
                problems.append(Problem(f"{path}.tag", f"unknown tag {node.tag!r}"))
        elif isinstance(node, Behaviour):
            problems += _behaviour(node, path, catalogue.today)
        elif isinstance(node, SegmentRef):
            problems += _segment(node, path, catalogue, segment_id)
    return problems


def validate(data: Any, catalogue: Catalogue, *, segment_id: int | None = None) -> Rule:
    """Parse and check; RuleError listing every problem with its path."""
    rule = parse_rule(data)
    problems = check(rule, catalogue, segment_id=segment_id)
    if problems:
        raise RuleError(problems)
    return rule


def _condition(node: _Condition | Filter, path: str, fields: Mapping[str, FieldType],
               what: str, hint: str = "") -> list[Problem]:
    kind = fields.get(node.field)
    if kind is None:
        known = ", ".join(sorted(fields)[:40])
        extra = f" {hint}" if hint else ""
        return [Problem(f"{path}.field",
                        f"unknown {what} {node.field!r}{extra} (known: {known})")]
    return value_problems(kind, node.op, node.value, path, name=node.field)


def value_problems(kind: FieldType, op: Op, value: Value, path: str, *,
                   name: str) -> list[Problem]:
    """Whether ``op`` suits a field of type ``kind`` and ``value`` suits ``op``."""
    if op not in OPS_BY_TYPE[kind]:
        allowed = ", ".join(o.value for o in OPS_BY_TYPE[kind])
        return [Problem(f"{path}.op", f"{op.value!r} does not apply to {name} ({kind.value}); "
                        f"use one of {allowed}")]
    at = f"{path}.value"
    if op in (Op.IS_NULL, Op.NOT_NULL):
        return [] if value is None else [Problem(at, f"{op.value} takes no value")]
    if op in (Op.TOP, Op.BOTTOM):
        if _is_number(value) and 0 < float(value) <= 1:  # type: ignore[arg-type]
            return []
        return [Problem(at, "a share between 0 and 1 (0.1 = the top 10 %)")]
    if op in (Op.WITHIN_DAYS, Op.OLDER_THAN_DAYS):
        if isinstance(value, int) and not isinstance(value, bool) and \
                0 <= value <= MAX_WINDOW_DAYS:
            return []
        return [Problem(at, f"a whole number of days from 0 to {MAX_WINDOW_DAYS}")]
    if op is Op.BETWEEN:
        if not (isinstance(value, list) and len(value) == 2):
            return [Problem(at, "between takes a list of two values [low, high]")]
        bad = [p for i, v in enumerate(value) for p in _scalar(kind, v, f"{at}[{i}]", name)]
        if bad:
            return bad
        low, high = (_ordered(kind, v) for v in value)
        return [] if low <= high else [Problem(at, "low is greater than high")]
    if op in (Op.IN, Op.NOT_IN, Op.CONTAINS_ANY):
        if not (isinstance(value, list) and value):
            return [Problem(at, f"{op.value} takes a non-empty list")]
        return [p for i, v in enumerate(value) for p in _scalar(kind, v, f"{at}[{i}]", name)]
    if isinstance(value, list):
        return [Problem(at, f"{op.value} takes one value, not a list")]
    return _scalar(kind, value, at, name)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar(kind: FieldType, value: Any, at: str, name: str) -> list[Problem]:
    if value is None:
        return [Problem(at, f"a value is needed for {name}")]
    if kind.numeric:
        if not _is_number(value):
            return [Problem(at, f"{name} is a number, not {type(value).__name__} {value!r}")]
        if kind is FieldType.INTEGER and isinstance(value, float) and not value.is_integer():
            return [Problem(at, f"{name} is a whole number")]
        if abs(float(value)) >= 1e15:
            return [Problem(at, "number out of range")]
        return []
    if kind is FieldType.STRING:
        return [] if isinstance(value, str) else [
            Problem(at, f"{name} is text, not {type(value).__name__} {value!r}")]
    if not isinstance(value, str):
        return [Problem(at, f"{name} is a date: give YYYY-MM-DD")]
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return [Problem(at, f"{value!r} is not a date (YYYY-MM-DD)")]
    if not 1900 <= day.year <= 2200:
        return [Problem(at, f"{value} is out of range")]
    return []


def _ordered(kind: FieldType, value: Any) -> Any:
    return date.fromisoformat(value) if kind.temporal else value


def _behaviour(node: Behaviour, path: str, today: date | None) -> list[Problem]:
    problems: list[Problem] = []
    filters = FILTER_FIELDS[node.of]
    if node.event_type is not None and node.of != "events":
        problems.append(Problem(f"{path}.event_type", "only events have an event type"))
    for i, flt in enumerate(node.where):
        problems += _condition(flt, f"{path}.where[{i}]", filters, f"{node.of} field")
    if node.window and node.window.since and today is not None:
        if node.window.since > today:
            problems.append(Problem(f"{path}.window.since", "the window starts in the future"))
        elif node.window.since < today - timedelta(days=MAX_WINDOW_DAYS):
            problems.append(Problem(f"{path}.window.since",
                                    "a window of more than ten years is absurd"))
    kind = FieldType.INTEGER
    if node.aggregate == "count":
        if node.field is not None:
            problems.append(Problem(f"{path}.field", "count takes no field"))
    elif node.aggregate == "count_distinct":
        if node.field not in DISTINCT_FIELDS[node.of]:
            problems.append(Problem(f"{path}.field", "count_distinct needs one of "
                                    f"{', '.join(DISTINCT_FIELDS[node.of])}"))
    else:
        fields = AGGREGATE_FIELDS[node.of]
        if node.field not in fields:
            problems.append(Problem(f"{path}.field", f"{node.aggregate} needs a field of "
                                    f"{node.of}: {', '.join(fields)}"))
            return problems
        kind = fields[node.field]
    if node.op in (Op.TOP, Op.BOTTOM, Op.IS_NULL, Op.NOT_NULL, Op.IN, Op.NOT_IN,
                   Op.CONTAINS_ANY):
        problems.append(Problem(f"{path}.op", f"{node.op.value!r} does not apply to an "
                                "aggregate; compare with eq, ne, gt, gte, lt, lte or between"))
        return problems
    problems += value_problems(kind, node.op, node.value, path, name=node.aggregate)
    return problems


def _segment(node: SegmentRef, path: str, catalogue: Catalogue,
             segment_id: int | None) -> list[Problem]:
    at = f"{path}.segment"
    if segment_id is not None and node.segment == segment_id:
        return [Problem(at, "a segment cannot contain itself")]
    target = catalogue.segments(node.segment)
    if target is None:
        return [Problem(at, f"no saved segment {node.segment}")]
    cycle = find_cycle(node.segment, catalogue.segments, start=segment_id)
    if cycle:
        return [Problem(at, "cyclic segment reference: " + " → ".join(map(str, cycle)))]
    return []


def find_cycle(segment: int, lookup: Callable[[int], Rule | None], *,
               start: int | None = None) -> list[int] | None:
    """A path of segment IDs that leads back to one already on it (or to ``start``),
    following references from ``segment``; None when there is no cycle."""
    def visit(current: int, trail: list[int]) -> list[int] | None:
        if current in trail or current == start:
            return [*trail, current]
        rule = lookup(current)
        if rule is None:
            return None
        for ref in sorted(referenced_segments(rule)):
            found = visit(ref, [*trail, current])
            if found:
                return found
        return None

    found = visit(segment, [start] if start is not None else [])
    return found
