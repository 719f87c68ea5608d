"""Rule trees → Ibis expressions, node by node (never SQL text).

:func:`compile_members` turns a validated rule into an Ibis table of ``customer_id`` —
the members — over a *universe*: the customers of the latest features snapshot. Each
node becomes a boolean expression on that universe:

* ``feature`` — a comparison on a snapshot column (``top`` / ``bottom``: a rank over
  the customers that have a value);
* ``behaviour`` — an aggregate per customer over the filtered facts in the window, and
  ``customer_id IN (customers whose aggregate passes)``; when a customer *without* a
  matching row passes too (``count eq 0``, ``sum lt 100``) it is the complement,
  ``NOT IN (customers with rows that fail)``, so "no purchase for 90 days" needs no
  outer join. Averages compare ``sum`` with ``value × count`` — exact decimal arithmetic,
  the same on every engine;
* ``attribute``, ``loyalty``, ``tag`` — sets of customer IDs the operational store
  computes (:class:`ExternalSets`; SQLAlchemy with bound parameters), brought in as
  small in-memory tables;
* ``clv`` — a comparison on the latest CLV snapshot;
* ``segment`` — the referenced segment's own rule, compiled in place (live, not a
  snapshot of it);
* ``and`` / ``or`` / ``not`` — boolean algebra. Every leaf is made two-valued
  (missing → false) so ``not`` is the complement.

Values become Ibis literals (typed by the field), so the same definition runs on DuckDB,
Spark and PostgreSQL, and a value can never change a query's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from shopcrm.segments.features import PURCHASE_STATUSES, Facts
from shopcrm.segments.rules import (
    AGGREGATE_FIELDS,
    FILTER_FIELDS,
    And,
    Attribute,
    Behaviour,
    Clv,
    Feature,
    FieldType,
    Filter,
    Loyalty,
    Not,
    Op,
    Or,
    Problem,
    Rule,
    RuleError,
    SegmentRef,
    TagRef,
    Window,
    walk,
)

SHARE_SCALE = 1_000_000
"""Shares (``top 0.1``) are compared in parts per million, as integers: no float edge."""


class NoFeaturesYet(LookupError):
    """No features snapshot exists (run ``shopcrm compute`` first)."""


class ExternalSets(Protocol):
    """Customer IDs the operational store computes (``customer_id`` int64 column)."""

    def attribute(self, node: Attribute, *, today: date, timezone: str) -> pa.Table: ...

    def loyalty(self, node: Loyalty, *, complement: bool) -> pa.Table:
        """Members whose value passes (``complement``: members whose value fails)."""
        ...

    def tag(self, key: str) -> pa.Table: ...


@dataclass
class Sources:
    """Everything a rule reads, on one Ibis backend."""

    facts: Facts
    features: Callable[[Sequence[str]], ir.Table] | None
    """The latest features snapshot, given columns (``customer_id`` always among them)."""
    sets: ExternalSets
    as_of: datetime
    timezone: str
    clv: Callable[[Sequence[str]], ir.Table] | None = None
    segments: Callable[[int], Rule | None] = field(default=lambda _id: None)
    materialize: Callable[[ir.Table], pa.Table] | None = None
    """Run an expression now (the engine's ``to_pyarrow``). Given, an ``and`` runs its
    cheap conditions first and evaluates each costly one only over the customers still
    in (see :meth:`_Compiler.stage`); None: one expression, nothing run early."""

    @property
    def today(self) -> date:
        return self.as_of.astimezone(ZoneInfo(self.timezone)).date()


def feature_type(dtype: dt.DataType) -> FieldType | None:
    """How a snapshot column is compared (None: not comparable, e.g. booleans)."""
    if dtype.is_decimal():
        return FieldType.MONEY
    if dtype.is_integer():
        return FieldType.INTEGER
    if dtype.is_floating():
        return FieldType.NUMBER
    if dtype.is_string():
        return FieldType.STRING
    if dtype.is_date():
        return FieldType.DATE
    if dtype.is_timestamp():
        return FieldType.TIMESTAMP
    return None


def feature_catalogue(schema: ibis.Schema) -> dict[str, FieldType]:
    """The ``feature`` fields a snapshot offers (every comparable column)."""
    found = {}
    for name, dtype in schema.items():
        kind = feature_type(dtype)
        if kind is not None and name != "customer_id":
            found[name] = kind
    return found


def expanded(rule: Rule, segments: Callable[[int], Rule | None]) -> list[Rule]:
    """The rule and every segment rule it reaches (for the columns they need)."""
    seen: set[int] = set()
    out = [rule]
    stack = [rule]
    while stack:
        current = stack.pop()
        for _, node in walk(current):
            if isinstance(node, SegmentRef) and node.segment not in seen:
                seen.add(node.segment)
                target = segments(node.segment)
                if target is not None:
                    out.append(target)
                    stack.append(target)
    return out


def compile_members(rule: Rule, sources: Sources) -> ir.Table:
    """The members of ``rule``: one ``customer_id`` column, one row per member."""
    if sources.features is None:
        raise NoFeaturesYet("no features run yet: run `shopcrm compute` first")
    needed = sorted({n.field for r in expanded(rule, sources.segments) for _, n in walk(r)
                     if isinstance(n, Feature)})
    base = sources.features(["customer_id", *needed])
    predicate = _Compiler(sources, base).node(rule, "rule", ())
    return base.filter(predicate).select("customer_id")


def _holds(op: Op, value: Any, x: Decimal) -> bool:
    """``x op value`` in Python (for the customers with no matching fact: x = 0)."""
    if op is Op.BETWEEN:
        low, high = (Decimal(str(v)) for v in value)
        return low <= x <= high
    v = Decimal(str(value))
    return {Op.EQ: x == v, Op.NE: x != v, Op.GT: x > v, Op.GTE: x >= v, Op.LT: x < v,
            Op.LTE: x <= v}[op]


class _Compiler:
    def __init__(self, sources: Sources, base: ir.Table) -> None:
        self.s = sources
        self.base = base
        self.today = sources.today

    def node(self, rule: Rule, path: str, trail: tuple[int, ...],
             scope: ir.Table | None = None) -> ir.BooleanValue:
        """``rule`` as a boolean over the universe, exact for the customers in ``scope``
        (None: everyone) — outside it the value does not matter, because it is ANDed
        with "in scope" above. Behaviour sub-queries aggregate only the scope's facts."""
        if isinstance(rule, And):
            # cheap conditions first; each costly one runs only over the customers the
            # conditions before it left (a 5-condition segment over 10 M orders
            # aggregates a few thousand customers' facts instead of a million's)
            order = sorted(range(len(rule.children)),
                           key=lambda i: (_cost(rule.children[i], self.s.segments), i))
            out: ir.BooleanValue | None = None
            costly_before = False
            for i in order:
                child = rule.children[i]
                narrowed = scope
                costly = _cost(child, self.s.segments) >= COSTLY
                # narrow only after a costly condition: cheap ones alone leave most of
                # the shop, and a semi-join against most of the shop costs more than
                # it saves
                if out is not None and costly and costly_before \
                        and self.s.materialize is not None:
                    narrowed, out = self.stage(out, scope)
                part = self.node(child, f"{path}.children[{i}]", trail, narrowed)
                out = part if out is None else out & part
                costly_before = costly_before or costly
            assert out is not None
            return out
        if isinstance(rule, Or):
            parts = [self.node(c, f"{path}.children[{i}]", trail, scope)
                     for i, c in enumerate(rule.children)]
            result = parts[0]
            for part in parts[1:]:
                result = result | part
            return result
        if isinstance(rule, Not):
            return ~self.node(rule.child, f"{path}.child", trail, scope)
        if isinstance(rule, Feature):
            return self.feature(rule)
        if isinstance(rule, Behaviour):
            return self.behaviour(rule, scope)
        ids = self.base.customer_id
        if isinstance(rule, Attribute):
            table = self.s.sets.attribute(rule, today=self.today, timezone=self.s.timezone)
            return ids.isin(_ids(table).customer_id)
        if isinstance(rule, TagRef):
            return ids.isin(_ids(self.s.sets.tag(rule.tag)).customer_id)
        if isinstance(rule, Loyalty):
            zero_passes = rule.field == "points" and rule.op not in (Op.IS_NULL, Op.NOT_NULL) \
                and _numeric_holds(rule.op, rule.value, Decimal(0))
            table = self.s.sets.loyalty(rule, complement=zero_passes)
            inside = ids.isin(_ids(table).customer_id)
            return ~inside if zero_passes else inside
        if isinstance(rule, Clv):
            return self.clv(rule)
        if isinstance(rule, SegmentRef):
            if rule.segment in trail:
                raise RuleError([Problem(f"{path}.segment", "cyclic segment reference: "
                                         + " → ".join(map(str, (*trail, rule.segment))))])
            target = self.s.segments(rule.segment)
            if target is None:
                raise RuleError([Problem(f"{path}.segment", f"no saved segment {rule.segment}")])
            return self.node(target, f"{path}<segment {rule.segment}>",
                             (*trail, rule.segment), scope)
        raise TypeError(f"unknown node {rule!r}")

    def stage(self, so_far: ir.BooleanValue, scope: ir.Table | None
              ) -> tuple[ir.Table, ir.BooleanValue]:
        """Run the conditions so far and hold their customers as an in-memory table: the
        next costly condition aggregates only their facts, and the final query reads the
        table instead of evaluating those conditions again (Ibis repeats a shared
        sub-query in place; it does not make it a materialised CTE)."""
        assert self.s.materialize is not None
        wanted = so_far if scope is None else so_far & self.base.customer_id.isin(
            scope.customer_id)
        held = _ids(self.s.materialize(self.base.filter(wanted).select("customer_id")))
        return held, self.base.customer_id.isin(held.customer_id)

    # --- leaves on the universe ----------------------------------------------------

    def feature(self, node: Feature) -> ir.BooleanValue:
        column = self.base[node.field]
        kind = feature_type(column.type())
        if kind is None:
            raise RuleError([Problem("rule", f"feature {node.field!r} cannot be compared")])
        if node.op in (Op.TOP, Op.BOTTOM):
            return self.base.customer_id.isin(
                _ranked(self.base.select("customer_id", node.field), node.field, node.op,
                        node.value).customer_id)
        return condition(column, kind, node.op, node.value, today=self.today,
                         timezone=self.s.timezone)

    def clv(self, node: Clv) -> ir.BooleanValue:
        if self.s.clv is None:
            raise RuleError([Problem("rule", "no CLV snapshot yet: compute CLV first")])
        table = self.s.clv(["customer_id", node.field])
        if node.op in (Op.TOP, Op.BOTTOM):
            passing = _ranked(table, node.field, node.op, node.value)
        else:
            passing = table.filter(condition(table[node.field], FieldType.NUMBER, node.op,
                                             node.value, today=self.today,
                                             timezone=self.s.timezone))
        return self.base.customer_id.isin(passing.customer_id)

    # --- behaviour -------------------------------------------------------------------

    def rows(self, node: Behaviour, scope: ir.Table | None = None) -> ir.Table:
        """The fact rows a behaviour node aggregates: customer_id, day and its fields.

        Every condition goes into one filter (Ibis compiles a chain of filters into
        nested selects and then merges them again — a cost paid on every estimate)."""
        facts = self.s.facts
        moment = ibis.literal(self.s.as_of, type=dt.Timestamp(timezone="UTC"))
        if node.of == "items":
            o = facts.orders
            bought = o.filter(o.customer_id.notnull(), o.created_at < moment,
                              o.status.isin(PURCHASE_STATUSES)).select(
                "source", "order_id", "customer_id", "day")
            lines = facts.order_items.select(
                "source", "order_id", "sku", "product_id", "title", "quantity", "unit_price",
                "amount")
            rows = lines.join(bought, ["source", "order_id"])
            catalogue = facts.products.select("sku", "category", "brand")
            rows = rows.left_join(catalogue, rows.sku == catalogue.sku).drop("sku_right")
            wanted: list[ir.BooleanValue] = []
        elif node.of == "events":
            rows = facts.events
            wanted = [rows.customer_id.notnull(), rows.occurred_at < moment]
            if node.event_type is not None:
                wanted.append(rows.event_type == node.event_type)
        else:
            rows = facts.orders
            wanted = [rows.customer_id.notnull(), rows.created_at < moment]
            if node.of == "purchases":
                wanted.append(rows.status.isin(PURCHASE_STATUSES))
        if node.window is not None:
            wanted += self.window(rows, node.window)
        fields = FILTER_FIELDS[node.of]
        wanted += [self.filter_condition(rows, flt, fields[flt.field]) for flt in node.where]
        if scope is not None:
            wanted.append(rows.customer_id.isin(scope.customer_id))
        if wanted:
            rows = rows.filter(*wanted)
        if node.field == "net":
            rows = rows.mutate(net=rows.paid_amount.fill_null(0) - rows.refund_amount.fill_null(0))
        return rows

    def window(self, rows: ir.Table, window: Window) -> list[ir.BooleanValue]:
        if window.days is not None:
            return [rows.day >= ibis.literal(self.today - timedelta(days=window.days - 1))]
        out = [rows.day >= ibis.literal(window.since)]
        if window.until is not None:
            out.append(rows.day <= ibis.literal(window.until))
        return out

    def filter_condition(self, rows: ir.Table, flt: Filter, kind: FieldType) -> ir.BooleanValue:
        return condition(rows[flt.field], kind, flt.op, flt.value, today=self.today,
                         timezone=self.s.timezone)

    def behaviour(self, node: Behaviour, scope: ir.Table | None = None) -> ir.BooleanValue:
        rows = self.rows(node, scope)
        grouped = rows.group_by("customer_id")
        ids = self.base.customer_id
        if node.aggregate in ("count", "count_distinct", "sum"):
            if node.aggregate == "count":
                agg = grouped.aggregate(v=rows.count())
            elif node.aggregate == "count_distinct":
                agg = grouped.aggregate(v=rows[node.field].nunique())
            else:
                agg = grouped.aggregate(v=rows[node.field].fill_null(0).sum())
            test = _numeric(agg.v, node.op, node.value)
            if _numeric_holds(node.op, node.value, Decimal(0)):
                return ~ids.isin(agg.filter(~test).customer_id)
            return ids.isin(agg.filter(test).customer_id)
        column = rows[node.field]
        if node.aggregate in ("min", "max"):
            agg = grouped.aggregate(v=column.min() if node.aggregate == "min" else column.max())
            return ids.isin(agg.filter(_numeric(agg.v, node.op, node.value)).customer_id)
        # avg: sum compared with value × count, exactly
        agg = grouped.aggregate(s=column.sum(), n=column.count())
        agg = agg.filter(agg.n > 0)
        kind = AGGREGATE_FIELDS[node.of][str(node.field)]
        if node.op is Op.BETWEEN:
            low, high = (_number(kind, v) for v in cast(list[Any], node.value))
            test = (agg.s >= agg.n * low) & (agg.s <= agg.n * high)
        else:
            test = _compare(agg.s, node.op, agg.n * _number(kind, node.value))
        return ids.isin(agg.filter(test).customer_id)


COSTLY = 10
"""Nodes costing this much or more are evaluated within the customers left by cheaper
siblings of an ``and``."""


def _cost(rule: Rule, segments: Callable[[int], Rule | None], depth: int = 0) -> int:
    """A rough order of how expensive a node is to evaluate: snapshot columns and small
    store sets first, then events, purchases, order lines; negations and long windows
    (which match many customers) last."""
    if isinstance(rule, Feature | Attribute | TagRef | Loyalty | Clv):
        return 1
    if isinstance(rule, Not):
        return _cost(rule.child, segments, depth) + 5
    if isinstance(rule, And | Or):
        return max(_cost(c, segments, depth) for c in rule.children)
    if isinstance(rule, SegmentRef):
        target = segments(rule.segment) if depth < 20 else None
        return _cost(target, segments, depth + 1) if target is not None else 1
    assert isinstance(rule, Behaviour)
    base = {"events": 10, "purchases": 20, "orders": 20, "items": 30}[rule.of]
    if rule.window is None or rule.window.since is not None or (rule.window.days or 0) > 90:
        base += 2
    return base


def _ids(table: pa.Table | ir.Table) -> ir.Table:
    if isinstance(table, pa.Table):
        return ibis.memtable(table.select(["customer_id"]).cast(
            pa.schema([("customer_id", pa.int64())])))
    return table.select("customer_id")


def _ranked(table: ir.Table, column: str, op: Op, share: Any) -> ir.Table:
    """Customers in the top (or bottom) ``share`` by ``column``; equal values share a
    rank, so a tie at the edge is wholly in."""
    present = table.filter(table[column].notnull())
    order = present[column].desc() if op is Op.TOP else present[column].asc()
    present = present.mutate(_n=present.customer_id.count().over(ibis.window()),
                             _rank=ibis.rank().over(order_by=order))
    ppm = int(Decimal(str(share)) * SHARE_SCALE)
    return present.filter(present._rank * SHARE_SCALE < present._n * ppm)


def _number(kind: FieldType, value: Any) -> Any:
    if kind is FieldType.MONEY:
        return Decimal(str(value))
    if kind is FieldType.INTEGER:
        return int(value) if float(value).is_integer() else Decimal(str(value))
    return float(value)


def _numeric_holds(op: Op, value: Any, x: Decimal) -> bool:
    if op in (Op.IS_NULL, Op.NOT_NULL, Op.IN, Op.NOT_IN, Op.TOP, Op.BOTTOM, Op.CONTAINS_ANY):
        return False
    return _holds(op, value, x)


def _numeric(column: ir.Value, op: Op, value: Any) -> ir.BooleanValue:
    if op is Op.BETWEEN:
        low, high = (Decimal(str(v)) for v in value)
        return column.between(low, high)
    return _compare(column, op, Decimal(str(value)))


def _compare(column: Any, op: Op, value: Any) -> ir.BooleanValue:
    if op is Op.EQ:
        return column == value
    if op is Op.NE:
        return column != value
    if op is Op.GT:
        return column > value
    if op is Op.GTE:
        return column >= value
    if op is Op.LT:
        return column < value
    if op is Op.LTE:
        return column <= value
    raise ValueError(f"{op.value} is not a comparison")


def _start_of(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(timezone))


def condition(column: Any, kind: FieldType, op: Op, value: Any, *, today: date,
              timezone: str) -> ir.BooleanValue:
    """``column op value`` as a two-valued Ibis boolean (a missing value: false).

    Dates compare as shop-local days; a timestamp column is compared with the start of
    the shop-local day (``lte 2026-03-01`` means before 2026-03-02 00:00 in the shop's
    time zone).
    """
    if op is Op.IS_NULL:
        return column.isnull()
    if op is Op.NOT_NULL:
        return column.notnull()
    test: ir.BooleanValue
    if kind is FieldType.STRING:
        if op is Op.EQ:
            test = column == value
        elif op is Op.NE:
            test = column != value
        elif op is Op.IN:
            test = column.isin(list(value))
        elif op is Op.NOT_IN:
            test = column.notin(list(value))
        elif op is Op.CONTAINS:
            test = column.contains(value)
        elif op is Op.CONTAINS_ANY:
            test = column.contains(value[0])
            for piece in value[1:]:
                test = test | column.contains(piece)
        elif op is Op.NOT_CONTAINS:
            test = ~column.contains(value)
        elif op is Op.STARTS_WITH:
            test = column.startswith(value)
        else:
            raise ValueError(f"{op.value} does not apply to text")
        return test.fill_null(False)
    if kind.temporal:
        return _temporal(column, kind, op, value, today=today, timezone=timezone)
    if op is Op.BETWEEN:
        low, high = (_number(kind, v) for v in value)
        test = column.between(low, high)
    elif op is Op.IN:
        test = column.isin([_number(kind, v) for v in value])
    elif op is Op.NOT_IN:
        test = column.notin([_number(kind, v) for v in value])
    else:
        test = _compare(column, op, _number(kind, value))
    return test.fill_null(False)


def _temporal(column: Any, kind: FieldType, op: Op, value: Any, *, today: date,
              timezone: str) -> ir.BooleanValue:
    low: date | None
    high: date | None
    if op is Op.WITHIN_DAYS:
        low, high = today - timedelta(days=int(value)), today
    elif op is Op.OLDER_THAN_DAYS:
        low, high = None, today - timedelta(days=int(value) + 1)
    elif op is Op.BETWEEN:
        low, high = (date.fromisoformat(v) for v in value)
    else:
        day = date.fromisoformat(value)
        low, high = {Op.EQ: (day, day), Op.GT: (day + timedelta(days=1), None),
                     Op.GTE: (day, None), Op.LT: (None, day - timedelta(days=1)),
                     Op.LTE: (None, day), Op.NE: (day, day)}[op]
    parts = []
    if kind is FieldType.DATE:
        if low is not None:
            parts.append(column >= ibis.literal(low))
        if high is not None:
            parts.append(column <= ibis.literal(high))
    else:
        stamp = dt.Timestamp(timezone="UTC")
        if low is not None:
            parts.append(column >= ibis.literal(_start_of(low, timezone), type=stamp))
        if high is not None:
            parts.append(column < ibis.literal(
                _start_of(high + timedelta(days=1), timezone), type=stamp))
    test = parts[0]
    for part in parts[1:]:
        test = test & part
    if op is Op.NE:
        test = ~test
    return test.fill_null(False)
