"""SQL producing each fact table's rows from ``good`` and the identity map ``_idmap``,
and the comparison with what the warehouse already holds (new / changed / same)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from shopcrm.ingest.formats.base import FormatSpec, Grain
from shopcrm.warehouse.tables import EVENTS, ORDER_ITEMS, ORDERS, PRODUCTS, FactTable

NOT_HASHED = frozenset({"identity_id", "customer_id", "batch_id", "row_hash"})


def _hash(table: FactTable, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    parts = [
        f"coalesce(CAST({prefix}{name} AS VARCHAR), '')"
        for name in table.column_names if name not in NOT_HASHED
    ]
    return f"md5(concat_ws('|', {', '.join(parts)}))"


def _idmap_join(source_sql: str) -> str:
    return f"LEFT JOIN _idmap m ON m.source = {source_sql} AND m.identity_key = g.identity_key"


def orders_sql(spec: FormatSpec) -> str:
    src = f"'{spec.source}'"
    lines = (
        "LEFT JOIN (SELECT order_id AS oid, sum(coalesce(quantity, 1)) AS qty, "
        "sum(coalesce(line_amount, unit_price * coalesce(quantity, 1))) AS goods "
        "FROM good GROUP BY order_id) l ON l.oid = g.order_id"
    )
    qty, goods = "l.qty", "l.goods"
    if spec.grain is Grain.ORDERS:
        # One row per order (a repeated order number is rejected), so the order's line
        # totals are its own row's: no grouping of a million orders to find that out.
        lines = ""
        qty = "coalesce(g.quantity, 1)"
        goods = "coalesce(g.line_amount, g.unit_price * coalesce(g.quantity, 1))"
    body = f"""
        SELECT {src} AS source, g.order_id, m.identity_id, m.customer_id,
            g.status, g.status_raw AS raw_status, g.created_at, g.paid_at, g.completed_at,
            coalesce(upper(g.currency), '{spec.default_currency}') AS currency,
            coalesce(g.goods_amount, {goods}, g.paid_amount) AS goods_amount,
            coalesce(g.shipping_fee, 0) AS shipping_fee,
            coalesce(g.discount_amount, 0) AS discount_amount,
            coalesce(g.paid_amount, coalesce(g.goods_amount, {goods}, 0)
                + coalesce(g.shipping_fee, 0) - coalesce(g.discount_amount, 0)) AS paid_amount,
            coalesce(g.refund_amount, 0) AS refund_amount,
            coalesce(g.item_count, {qty}, 1) AS item_count,
            g.store_name, g.promo_type,
            g.r_province AS province, g.r_city AS city, g.r_district AS district,
            sc_local_day(g.created_at) AS day
        FROM good g {_idmap_join(src)} {lines}
        WHERE g._first
    """
    return _with_hash(ORDERS, body)


def items_sql(spec: FormatSpec, orders_files: list[Path]) -> str | None:
    src = f"'{spec.source}'"
    if spec.grain is Grain.ORDERS:
        body = f"""
            SELECT {src} AS source, g.order_id, 1 AS line_no, g.sku, g.product_id, g.title,
                coalesce(g.quantity, 1) AS quantity,
                coalesce(g.unit_price, round(coalesce(g.goods_amount, g.paid_amount)
                    / greatest(coalesce(g.quantity, 1), 1), 2)) AS unit_price,
                coalesce(g.line_amount, g.goods_amount, g.paid_amount) AS amount,
                CASE WHEN g.status = 'refunded'
                    THEN coalesce(g.line_amount, g.goods_amount, g.paid_amount)
                    ELSE coalesce(g.line_refund_amount, 0) END AS refund_amount,
                g.status, m.identity_id, m.customer_id,
                sc_local_day(g.created_at) AS day
            FROM good g {_idmap_join(src)}
            WHERE g.title IS NOT NULL OR g.sku IS NOT NULL
        """
    elif spec.grain is Grain.LINES:
        body = f"""
            SELECT {src} AS source, g.order_id, g.line_no, g.sku, g.product_id, g.title,
                coalesce(g.quantity, 1) AS quantity, g.unit_price,
                coalesce(g.line_amount, g.unit_price * coalesce(g.quantity, 1)) AS amount,
                coalesce(g.line_refund_amount, 0) AS refund_amount,
                o.status, m.identity_id, m.customer_id,
                sc_local_day(o.created_at) AS day
            FROM (SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY _line)::INTEGER
                  AS line_no FROM good) g
            JOIN (SELECT order_id AS oid, status, identity_key, created_at FROM good
                  WHERE _first) o ON o.oid = g.order_id
            LEFT JOIN _idmap m ON m.source = {src} AND m.identity_key = o.identity_key
        """
    elif spec.grain is Grain.ITEMS:
        known = _orders_lookup(orders_files, spec.source)
        body = f"""
            SELECT {src} AS source, g.order_id, g.line_no, g.sku, g.product_id, g.title,
                coalesce(g.quantity, 1) AS quantity, g.unit_price,
                coalesce(g.line_amount, g.unit_price * coalesce(g.quantity, 1)) AS amount,
                coalesce(g.line_refund_amount, 0) AS refund_amount,
                coalesce(g.status, o.status) AS status, o.identity_id,
                o.customer_id, o.day
            FROM (SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY _line)::INTEGER
                  AS line_no FROM good) g
            LEFT JOIN ({known}) o ON o.order_id = g.order_id
        """
    else:
        return None
    return _with_group_hash(body)


def _orders_lookup(files: list[Path], source: str) -> str:
    if not files:
        return ("SELECT NULL::VARCHAR AS order_id, NULL::VARCHAR AS status, "
                "NULL::BIGINT AS identity_id, "
                "NULL::BIGINT AS customer_id, NULL::DATE AS day WHERE false")
    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"""
        SELECT order_id, status, identity_id, customer_id, day FROM (
            SELECT *, max(batch_id) OVER (PARTITION BY order_id) AS newest
            FROM read_parquet([{listing}], union_by_name = true) WHERE source = '{source}')
        WHERE batch_id = newest
    """


def events_sql(spec: FormatSpec, rows: str = "good") -> str:
    """``rows``: the relation of cleaned events (``good``, or its copy without the
    file's repeated events)."""
    src = f"coalesce(g.source, '{spec.source}')"
    body = f"""
        SELECT {src} AS source,
            coalesce(g.event_id, md5(concat_ws('|', {src}, g.event_type,
                CAST(g.occurred_at AS VARCHAR), coalesce(g.identity_key, ''),
                coalesce(g.device_id, ''), coalesce(g.sku, g.product_id, ''),
                coalesce(g.query, ''), coalesce(g.order_id, '')))) AS event_id,
            g.event_type, g.occurred_at, m.identity_id, m.customer_id,
            g.device_id, coalesce(g.sku, g.product_id) AS sku, g.category, g.query, g.order_id,
            g.value, sc_local_day(g.occurred_at) AS day
        FROM {rows} g {_idmap_join(src)}
    """
    return _with_hash(EVENTS, body)


def products_sql() -> str:
    body = """
        SELECT sku, title, category, brand, launched_on, list_price FROM good
    """
    return _with_hash(PRODUCTS, body)


def _with_hash(table: FactTable, body: str) -> str:
    return f"SELECT *, {_hash(table, 'x')} AS row_hash FROM ({body}) x"


def _with_group_hash(body: str) -> str:
    """All lines of an order share one hash, so the order's lines version together."""
    line_hash = _hash(ORDER_ITEMS, "x")
    return f"""
        SELECT * EXCLUDE (line_hash), md5(string_agg(line_hash, ',' ORDER BY line_no)
            OVER (PARTITION BY source, order_id)) AS row_hash
        FROM (SELECT *, {line_hash} AS line_hash FROM ({body}) x)
    """


@dataclass(frozen=True)
class Classified:
    """The staged rows of one fact table, sorted against the warehouse.

    ``rows_sql`` gives the rows to write (new or changed); ``counts`` how many keys are
    in each state. With no committed files every row is new: nothing is materialised,
    so the rows (and their MD5 ``row_hash``) are computed once, by the file write itself.
    """

    rows_sql: str
    _state_counts_sql: str | None
    _all_new_sql: str

    def counts(self, con: duckdb.DuckDBPyConnection, counted: str) -> dict[str, int]:
        """``counted`` (an aggregate such as ``count(*)``) per state: new / changed / same."""
        if self._state_counts_sql is None:
            # Every row is new. The aggregate reads only the key columns: the optimiser
            # drops the row hash and every other column of the staged query.
            rows = con.execute(f"SELECT {counted} FROM ({self._all_new_sql})").fetchall()
            found = int(rows[0][0]) if rows else 0
            return {"new": found} if found else {}
        return {str(state): int(n) for state, n in con.execute(
            self._state_counts_sql.format(counted=counted)).fetchall()}


def classify(
    con: duckdb.DuckDBPyConnection, table: FactTable, staged_sql: str, target: str,
    files: list[Path],
) -> Classified:
    """Sort the staged rows into new / changed / same against the newest version of each
    key already in the warehouse; with committed files, table ``target`` holds them with
    a ``_state`` column."""
    if not files:
        return Classified(rows_sql=staged_sql, _state_counts_sql=None, _all_new_sql=staged_sql)
    keys = ", ".join(table.version_key)
    join = " AND ".join(f"s.{k} IS NOT DISTINCT FROM e.{k}" for k in table.version_key)
    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    existing = f"""
        SELECT DISTINCT {keys}, row_hash FROM (
            SELECT {keys}, row_hash, batch_id,
                   max(batch_id) OVER (PARTITION BY {keys}) AS newest
            FROM read_parquet([{listing}], union_by_name = true))
        WHERE batch_id = newest
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _existing AS {existing}")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {target} AS
        SELECT s.*, CASE WHEN e.row_hash IS NULL THEN 'new'
                         WHEN e.row_hash = s.row_hash THEN 'same'
                         ELSE 'changed' END AS _state
        FROM ({staged_sql}) s LEFT JOIN _existing e ON {join}
        """
    )
    return Classified(
        rows_sql=f"SELECT * FROM {target} WHERE _state <> 'same'",
        _state_counts_sql=f"SELECT _state, {{counted}} FROM {target} GROUP BY _state",
        _all_new_sql=staged_sql,
    )
