"""A generated shop for the features benchmark, written as Parquet directly.

Not through the importer (that has its own benchmark): DuckDB writes N orders over
N/10 customers (about ten orders each), one order line per order, N/2 browsing events
and 2,000 products, with the warehouse's own column types. Deterministic (hashes of the
row number, no random state), so every run measures the same data.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

START = "2023-11-20 00:00:00+00"
SPAN_SECONDS = 3 * 365 * 86_400


def write(folder: Path, orders: int) -> Path:
    """Write ``orders.parquet``, ``order_items.parquet``, ``events.parquet`` and
    ``products.parquet`` into ``folder`` (skipped when they exist)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / ".complete"
    if done.exists():
        return folder
    customers = max(1, orders // 10)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    q = str(folder).replace("'", "''")
    con.execute(f"""
        COPY (SELECT
            'sku' || lpad(i::VARCHAR, 5, '0') AS sku, 'product ' || i AS title,
            'category ' || (hash(i, 1) % 50) AS category, 'brand ' || (hash(i, 2) % 200) AS brand,
            (DATE '2023-11-20' + (hash(i, 3) % 1095)::INTEGER) AS launched_on,
            (10 + hash(i, 4) % 1000)::DECIMAL(18, 2) AS list_price,
            1::BIGINT AS batch_id, md5(i::VARCHAR) AS row_hash
          FROM range(2000) t(i))
        TO '{q}/products.parquet' (FORMAT parquet)""")
    con.execute(f"""
        CREATE TEMP TABLE base AS SELECT
            i,
            (hash(i, 10) % {customers} + 1)::BIGINT AS customer_id,
            TIMESTAMPTZ '{START}' + to_seconds((hash(i, 11) % {SPAN_SECONDS})::BIGINT)
                AS created_at,
            hash(i, 12) % 100 AS s,
            ((hash(i, 13) % 50000) + 100)::BIGINT AS cents,
            hash(i, 14) % 2000 AS p,
            (hash(i, 15) % 3 + 1)::INTEGER AS qty
          FROM range({orders}) t(i)""")
    con.execute(f"""
        COPY (SELECT
            'bench' AS source, 'o' || i AS order_id, customer_id AS identity_id, customer_id,
            CASE WHEN s < 88 THEN 'completed' WHEN s < 92 THEN 'shipped'
                 WHEN s < 96 THEN 'refunded' ELSE 'cancelled' END AS status,
            NULL::VARCHAR AS raw_status, created_at, created_at AS paid_at,
            NULL::TIMESTAMPTZ AS completed_at, 'CNY' AS currency,
            (cents / 100.0)::DECIMAL(18, 2) AS goods_amount, 0::DECIMAL(18, 2) AS shipping_fee,
            0::DECIMAL(18, 2) AS discount_amount, (cents / 100.0)::DECIMAL(18, 2) AS paid_amount,
            CASE WHEN s BETWEEN 92 AND 95 THEN (cents / 100.0)
                 WHEN s < 5 THEN (cents / 1000.0) ELSE 0 END::DECIMAL(18, 2) AS refund_amount,
            qty AS item_count, 'bench shop' AS store_name,
            CASE WHEN s % 3 = 0 THEN '聚划算' ELSE NULL END AS promo_type,
            NULL::VARCHAR AS province, NULL::VARCHAR AS city, NULL::VARCHAR AS district,
            (created_at AT TIME ZONE 'Asia/Shanghai')::DATE AS day,
            1::BIGINT AS batch_id, md5(i::VARCHAR) AS row_hash
          FROM base)
        TO '{q}/orders.parquet' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    con.execute(f"""
        COPY (SELECT
            'bench' AS source, 'o' || i AS order_id, 1 AS line_no,
            'sku' || lpad(p::VARCHAR, 5, '0') AS sku, 'sku' || lpad(p::VARCHAR, 5, '0')
                AS product_id, NULL::VARCHAR AS title, qty AS quantity,
            (cents / 100.0 / qty)::DECIMAL(18, 2) AS unit_price,
            (cents / 100.0)::DECIMAL(18, 2) AS amount, 0::DECIMAL(18, 2) AS refund_amount,
            NULL::VARCHAR AS status, customer_id AS identity_id, customer_id,
            (created_at AT TIME ZONE 'Asia/Shanghai')::DATE AS day,
            1::BIGINT AS batch_id, md5(i::VARCHAR) AS row_hash
          FROM base)
        TO '{q}/order_items.parquet' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    con.execute(f"""
        COPY (SELECT
            'web' AS source, 'e' || i AS event_id,
            ['view', 'view', 'view', 'search', 'add_to_cart', 'favourite'][
                (hash(i, 20) % 6 + 1)::INTEGER] AS event_type,
            TIMESTAMPTZ '{START}' + to_seconds((hash(i, 21) % {SPAN_SECONDS})::BIGINT)
                AS occurred_at,
            (hash(i, 22) % {customers} + 1)::BIGINT AS identity_id,
            (hash(i, 22) % {customers} + 1)::BIGINT AS customer_id,
            NULL::VARCHAR AS device_id, NULL::VARCHAR AS sku, NULL::VARCHAR AS category,
            NULL::VARCHAR AS query, NULL::VARCHAR AS order_id, NULL::DECIMAL(18, 2) AS value,
            ((TIMESTAMPTZ '{START}' + to_seconds((hash(i, 21) % {SPAN_SECONDS})::BIGINT))
                AT TIME ZONE 'Asia/Shanghai')::DATE AS day,
            1::BIGINT AS batch_id, md5(i::VARCHAR) AS row_hash
          FROM range({orders // 2}) t(i))
        TO '{q}/events.parquet' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    con.close()
    done.touch()
    return folder
