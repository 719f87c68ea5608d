"""Province / city / district for every row, computed once per distinct address; the
result is table ``good``: the rows that passed every check, with ``r_*`` region columns.

Orders keep the region (useful, not identifying) in the facts; the street detail and
postcode go only to the operational store with the rest of the personal data.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from shopcrm.ingest.clean import widen
from shopcrm.ingest.formats.base import FormatSpec
from shopcrm.ingest.normalize import normalize_province, split_cn_address

CHINA = frozenset({"cn", "china", "中国", "中华人民共和国", "prc"})
GOOD = "c._problems IS NULL"


def build_good(con: duckdb.DuckDBPyConnection, spec: FormatSpec) -> None:
    """Create ``good`` from ``checked``: passing rows plus region columns."""
    if spec.address_mode == "full":
        addresses = [r[0] for r in con.execute(
            f"SELECT DISTINCT address FROM checked_v c WHERE {GOOD} AND address IS NOT NULL"
        ).fetchall()]
        parts = [split_cn_address(a) for a in addresses]
        _register(con, "_regions", {
            "k": addresses,
            "r_province": [p.province for p in parts],
            "r_city": [p.city for p in parts],
            "r_district": [p.district for p in parts],
            "r_detail": [p.detail for p in parts],
            "r_postcode": [p.postcode for p in parts],
        })
        con.execute(
            f"CREATE OR REPLACE TABLE good_t AS SELECT c.*, g.r_province, g.r_city, "
            f"g.r_district, g.r_detail, g.r_postcode FROM checked c "
            f"LEFT JOIN _regions g ON {_column(con, 'address')} = g.k WHERE {GOOD}")
        widen(con, "good_t", "good")
        return
    rows = con.execute(
        f"SELECT DISTINCT province, country FROM checked_v c WHERE {GOOD} "
        "AND province IS NOT NULL"
    ).fetchall()
    names = [
        normalize_province(p) if (c is None or c.strip().lower() in CHINA) else p
        for p, c in rows
    ]
    _register(con, "_provinces", {
        "p": [r[0] for r in rows], "c": [r[1] for r in rows], "n": names})
    v = {f: _column(con, f) for f in ("province", "city", "district", "street", "postcode",
                                      "country")}
    con.execute(
        f"CREATE OR REPLACE TABLE good_t AS SELECT c.*, coalesce(g.n, {v['province']}) "
        f"AS r_province, {v['city']} AS r_city, {v['district']} AS r_district, "
        f"{v['street']} AS r_detail, {v['postcode']} AS r_postcode FROM checked c "
        f"LEFT JOIN _provinces g ON {v['province']} = g.p "
        f"AND {v['country']} IS NOT DISTINCT FROM g.c WHERE {GOOD}")
    widen(con, "good_t", "good")


def _column(con: duckdb.DuckDBPyConnection, field: str) -> str:
    """``c.<field>`` when table ``checked`` has it, else a typed NULL: reading ``checked``
    alone, not joined to its widened view, saves a join of every row with itself."""
    present = {r[0] for r in con.execute("DESCRIBE checked").fetchall()}
    return f"c.{field}" if field in present else "CAST(NULL AS VARCHAR)"


def _register(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, list[object]]) -> None:
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")
