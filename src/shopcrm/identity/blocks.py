"""Oversized blocks: blocking keys shared by so many records that they tell nothing.

A blocking rule such as "same name and same city" pairs every record of a block with
every other: a block of *n* records costs n(n-1)/2 comparisons. Real shop data has a
few enormous blocks — a masked receiver name (``张**``) in a big city, a parcel locker's
street number, a template phone pattern — and one block of 10,000 records is 50 million
pairs: the resolution run then needs tens of gigabytes of memory and hours, and learns
nothing from those pairs (a name every tenth customer carries does not identify
anyone). Commercial matchers cap block sizes for the same reason.

So each pure-equality blocking rule (``l.a = r.a AND l.b = r.b``) is narrowed, for one
run, to the keys shared by at most ``cap`` records: the records get a boolean column
per rule that says their key is oversized, and the rule gains ``AND NOT
l.oversized_block_<i>``. Records in an oversized block are still reached by the other
rules (a phone, a street), and the stored model is never changed (old models are
capped too). Rules that are not plain equalities are left as they are.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

log = logging.getLogger(__name__)

MAX_BLOCK = 200
"""Records one blocking key may hold and still block (200 records = 19,900 pairs)."""

FLAG_PREFIX = "oversized_block_"


def equality_columns(rule_sql: str) -> tuple[str, ...] | None:
    """The columns of a rule that is only ``l.x = r.x`` terms joined by AND, else None."""
    try:
        tree = sqlglot.parse_one(rule_sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    columns: list[str] = []
    for term in _conjuncts(tree):
        if not isinstance(term, exp.EQ):
            return None
        left, right = term.this, term.expression
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            return None
        if {left.table, right.table} != {"l", "r"} or left.name != right.name:
            return None
        if left.name not in columns:
            columns.append(left.name)
    return tuple(columns) or None


def _conjuncts(node: Any) -> list[Any]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return [*_conjuncts(node.this), *_conjuncts(node.expression)]
    return [node]


@dataclass
class CappedBlocks:
    """The records with their oversized-key flags, and the rules that respect them."""

    tables: list[pa.Table]
    rules: list[str]
    oversized: dict[str, int] = field(default_factory=dict)
    """Per capped rule: how many records sat in blocks over the cap (counts, no values:
    the keys are people's names and addresses)."""

    def model(self, model: dict[str, Any]) -> dict[str, Any]:
        """A copy of the stored model that blocks with the capped rules."""
        capped = copy.deepcopy(model)
        capped["blocking_rules_to_generate_predictions"] = [
            {**(rule if isinstance(rule, dict) else {}), "blocking_rule": sql}
            for rule, sql in zip(model.get("blocking_rules_to_generate_predictions", []),
                                 self.rules, strict=True)]
        return capped


def rule_sql(rule: Any) -> str:
    """A rule as SQL: a stored rule (dict or text) or a Splink rule creator."""
    if isinstance(rule, dict):
        return str(rule["blocking_rule"])
    if isinstance(rule, str):
        return rule
    return str(rule.get_blocking_rule("duckdb").blocking_rule_sql)


def cap(tables: list[pa.Table], rules: list[Any], *, limit: int = MAX_BLOCK) -> CappedBlocks:
    """Flag the records whose key under each equality rule is shared by more than
    ``limit`` records (counted over all ``tables`` together) and narrow the rules."""
    sqls = [rule_sql(r) for r in rules]
    present = set(tables[0].column_names) if tables else set()
    keyed: list[tuple[int, tuple[str, ...]]] = []
    for i, sql in enumerate(sqls):
        cols = equality_columns(sql)
        if cols and set(cols) <= present:
            keyed.append((i, cols))
    if not keyed or not tables:
        return CappedBlocks(tables=list(tables), rules=sqls)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar=false")
        for n, table in enumerate(tables):
            con.register(f"t{n}", table)
        flagged = [f"t{n}" for n in range(len(tables))]
        oversized: dict[str, int] = {}
        rules_out = list(sqls)
        for i, cols in keyed:
            quoted = ", ".join(_quote(c) for c in cols)
            not_null = " AND ".join(f"{_quote(c)} IS NOT NULL" for c in cols)
            union = " UNION ALL ".join(f"SELECT {quoted} FROM {t}" for t in flagged)
            con.execute(f"CREATE OR REPLACE TEMP TABLE big_{i} AS SELECT {quoted}, count(*) AS n "
                        f"FROM ({union}) WHERE {not_null} GROUP BY ALL HAVING count(*) > ?",
                        [limit])
            flag = f"{FLAG_PREFIX}{i}"
            total = con.execute(f"SELECT coalesce(sum(n), 0) FROM big_{i}").fetchone()
            held = int(total[0]) if total else 0
            renamed = []
            for t in flagged:
                name = f"{t}_{i}"
                condition = " AND ".join(f"b.{_quote(c)} = {t}.{_quote(c)}" for c in cols)
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {t}.*, "
                    f"EXISTS (SELECT 1 FROM big_{i} AS b WHERE {condition}) AS {flag} FROM {t}")
                renamed.append(name)
            flagged = renamed
            rules_out[i] = f"({sqls[i]}) AND NOT l.{_quote(flag)}"
            if held:
                oversized[sqls[i]] = held
                log.warning("blocking rule %s: %d records share keys held by more than %d "
                            "records; those keys do not block", sqls[i], held, limit)
        out = [con.sql(f"SELECT * FROM {t}").to_arrow_table() for t in flagged]
        return CappedBlocks(tables=out, rules=rules_out, oversized=oversized)
    finally:
        con.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
