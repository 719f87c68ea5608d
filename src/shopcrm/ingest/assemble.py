"""From ``clean`` to ``checked`` and ``rejected``: the grain's own rules on top of the
value problems — duplicates within the file, whole orders, events without anyone.

An order is all or nothing: if any of its lines has a problem, all its lines are
rejected, each saying where the problem is — an order is never half-imported.
"""

from __future__ import annotations

import duckdb

from shopcrm.ingest.clean import widen
from shopcrm.ingest.formats.base import FormatSpec, Grain


def default_identity_sql() -> str:
    """Buyer ID, else a usable e-mail, else the receiver (name + phone + address)."""
    return (
        "coalesce(buyer_id, "
        "CASE WHEN email LIKE '%_@_%' AND strpos(email, '*') = 0 "
        "THEN 'email:' || lower(email) END, "
        "CASE WHEN coalesce(name, phone, address, street) IS NOT NULL THEN 'rcv:' || "
        "md5(concat_ws('|', coalesce(name, ''), coalesce(phone, ''), coalesce(province, ''), "
        "coalesce(city, ''), coalesce(district, ''), coalesce(address, ''), "
        "coalesce(street, ''))) END)"
    )


def _duplicate_problem(key: str, label: str) -> str:
    """A second row for the same key is rejected, naming the line of the first."""
    first = f"min(_line) OVER (PARTITION BY {key})"
    return (f"CASE WHEN {key} IS NOT NULL AND _line > {first} THEN 'duplicate {label} ' "
            f"|| {key} || ' (first on line ' || {first} || ')' END")


def assemble(con: duckdb.DuckDBPyConnection, spec: FormatSpec) -> None:
    """Create ``checked`` (clean + identity key + final problems) and ``rejected``."""
    identity = spec.identity_sql or default_identity_sql()
    extra = "NULL"
    whole_orders = spec.grain in (Grain.LINES, Grain.ITEMS)
    if spec.grain is Grain.ORDERS:
        extra = _duplicate_problem("order_id", "order number")
    elif spec.grain is Grain.PRODUCTS:
        extra = _duplicate_problem("sku", "SKU")
    elif spec.grain is Grain.CUSTOMERS:
        extra = _duplicate_problem("identity_key", "customer")
    elif spec.grain is Grain.EVENTS:
        extra = ("CASE WHEN identity_key IS NULL AND device_id IS NULL AND phone IS NULL "
                 "THEN 'buyer: no buyer_id, email, phone or device_id' END")
    final = "_own"
    if whole_orders:
        bad_line = ("min(CASE WHEN _own IS NOT NULL THEN _line END) "
                    "OVER (PARTITION BY order_id)")
        final = (f"CASE WHEN _own IS NULL AND order_id IS NOT NULL AND {bad_line} IS NOT NULL "
                 f"THEN 'order ' || order_id || ' rejected because of line ' || {bad_line} "
                 "ELSE _own END")
    narrow = [r[0] for r in con.execute("DESCRIBE clean").fetchall() if r[0] != "_problems"]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE checked AS
        WITH k AS (SELECT * EXCLUDE (_problems), _problems, ({identity}) AS identity_key
                   FROM clean_v),
        o AS (SELECT * EXCLUDE (_problems),
                     nullif(concat_ws('; ', _problems, {extra}), '') AS _own
              FROM k)
        SELECT {', '.join(narrow)}, identity_key, {final} AS _problems FROM o
        """
    )
    widen(con, "checked", "checked_v")
    con.execute(
        "CREATE OR REPLACE TABLE rejected AS SELECT _line, _problems AS reason "
        "FROM checked WHERE _problems IS NOT NULL"
    )
