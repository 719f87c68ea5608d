"""From the raw text table to a typed ``clean`` table with a list of problems per row.

One statement, in layers: undecorate each mapped column once, type the values, map
statuses and refunds, then collect every problem of the row as a reason string.
Nothing is dropped here; what is rejected (and how whole orders go together) is
decided by the grain (:mod:`shopcrm.ingest.assemble`).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from shopcrm.ingest.fields import FIELD_KINDS, Kind
from shopcrm.ingest.formats.base import FormatSpec, Grain, HeaderMatch, status_key
from shopcrm.ingest.sources import LINE_COLUMN
from shopcrm.ingest.sqlclean import problem_expression, typed_expression

SQL_TYPES = {
    Kind.TEXT: "VARCHAR",
    Kind.ID: "VARCHAR",
    Kind.STATUS: "VARCHAR",
    Kind.MONEY: "DECIMAL(18,2)",
    Kind.INT: "BIGINT",
    Kind.DATETIME: "TIMESTAMPTZ",
    Kind.DATE: "DATE",
    Kind.BOOL: "BOOLEAN",
}

LINE_FIELDS = frozenset(
    {"sku", "product_id", "title", "quantity", "unit_price", "line_amount", "line_refund_amount"}
)
"""Fields that belong to an order line; every other order field belongs to the order."""

REFUNDABLE = "('paid', 'shipped', 'completed', 'cancelled')"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def build_clean(con: duckdb.DuckDBPyConnection, spec: FormatSpec, match: HeaderMatch) -> None:
    """Create table ``clean``: one typed column per canonical field, ``_first``, ``_problems``."""
    mapped = {f: c for f, c in match.columns.items() if f in FIELD_KINDS}
    undecorated = [f"sc_undecorate({quote(col)}) AS u_{field}" for field, col in mapped.items()]
    typed = []
    problems = []
    for field, kind in FIELD_KINDS.items():
        if field in mapped:
            typed.append(f"{typed_expression(kind, f'u_{field}')} AS {field}")
            problems.append(problem_expression(kind, field, f"u_{field}", field))
        else:
            typed.append(f"CAST(NULL AS {SQL_TYPES[kind]}) AS {field}")
    u_names = [f"u_{field}" for field in mapped]
    status_sql = _status_sql(con, spec, mapped.get("status"))
    refund_sql = f"coalesce(refund_amount, {spec.refund_sql})" if spec.refund_sql else (
        "refund_amount")
    first_sql = (
        f"{LINE_COLUMN} = min({LINE_COLUMN}) OVER (PARTITION BY order_id)"
        if spec.grain in (Grain.LINES, Grain.ITEMS) else "true"
    )
    checks = [p for p in problems if p]
    if spec.grain in (Grain.ORDERS, Grain.LINES):
        checks.append("CASE WHEN status_raw IS NOT NULL AND status_m IS NULL THEN "
                      "'status: unknown order status \"' || status_raw || '\"' END")
        checks.append("CASE WHEN refund_m > paid_amount THEN 'refund_amount: refund ' || "
                      "refund_m || ' exceeds the amount paid ' || paid_amount END")
    for field in sorted(spec.required):
        scope = ""
        if spec.grain is Grain.LINES and field not in LINE_FIELDS and field != "order_id":
            scope = " AND _first"
        present = f" AND u_{field} IS NULL" if field in mapped else ""
        checks.append(f"CASE WHEN {field} IS NULL{present}{scope} THEN '{field}: missing' END")
    # One reason string per row (NULL when the row is fine): concat_ws skips NULLs and
    # costs far less than building a list per row.
    problems_sql = (f"nullif(concat_ws('; ', {', '.join(checks)}), '')" if checks
                    else "CAST(NULL AS VARCHAR)")
    outputs = [
        f"CASE WHEN status_m IN {REFUNDABLE} AND paid_amount > 0 AND refund_m >= paid_amount "
        "THEN 'refunded' ELSE status_m END AS status" if spec.grain in (Grain.ORDERS, Grain.LINES)
        else "status_m AS status",
        "refund_m AS refund_amount",
    ]
    replaced = {"status", "refund_amount"}
    keep = [f for f in FIELD_KINDS if f in mapped and f not in replaced]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE clean AS
        WITH u AS MATERIALIZED (
            SELECT {LINE_COLUMN}{''.join(', ' + u for u in undecorated)} FROM raw_lines
        ), t AS (
            SELECT {LINE_COLUMN}, {', '.join(typed)}{''.join(', ' + n for n in u_names)}
            FROM u
        ), s AS (
            SELECT t.*, status AS status_raw, ({status_sql}) AS status_m,
                   ({refund_sql}) AS refund_m, ({first_sql}) AS _first
            FROM t
        )
        SELECT {LINE_COLUMN}, {''.join(k + ', ' for k in keep)}{', '.join(outputs)},
               status_raw, _first,
               {problems_sql} AS _problems
        FROM s
        """
    )
    widen(con, "clean", "clean_v")


def widen(con: duckdb.DuckDBPyConnection, table: str, view: str) -> None:
    """View ``view``: ``table`` plus a typed NULL column for every canonical field it lacks.

    Intermediate tables hold only the fields the file maps (copying 60 mostly-empty
    columns three times cost seconds per million rows); later SQL reads the view and
    may name any canonical field.
    """
    present = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    absent = [f"CAST(NULL AS {SQL_TYPES[kind]}) AS {field}"
              for field, kind in FIELD_KINDS.items() if field not in present]
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT *{''.join(', ' + a for a in absent)} "
                f"FROM {table}")


def _status_sql(con: duckdb.DuckDBPyConnection, spec: FormatSpec, column: str | None) -> str:
    """SQL for the canonical status: the format's expression, or a lookup of the raw text.

    Raw statuses are few, so they are matched in Python (width, spaces and punctuation
    ignored) and the result is inlined as a CASE over the distinct raw values.
    """
    if spec.status_sql:
        return spec.status_sql.replace("status_raw", "status")
    if not spec.status_map or column is None:
        return "CAST(NULL AS VARCHAR)"
    keyed = {status_key(k): v for k, v in spec.status_map.items()}
    raws = [r[0] for r in con.execute(
        f"SELECT DISTINCT sc_text(sc_undecorate({quote(column)})) FROM raw_lines").fetchall()
        if r[0] is not None]
    table = pa.table({
        "status_raw": pa.array(raws, pa.string()),
        "mapped": pa.array([keyed.get(status_key(r)) for r in raws], pa.string()),
    })
    con.execute("DROP TABLE IF EXISTS _status_map")
    con.register("_status_map_arrow", table)
    con.execute("CREATE TABLE _status_map AS SELECT * FROM _status_map_arrow")
    con.unregister("_status_map_arrow")
    return "SELECT m.mapped FROM _status_map m WHERE m.status_raw = t.status"
