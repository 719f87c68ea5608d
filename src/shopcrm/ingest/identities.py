"""Source identities as one file shows them: who placed the orders, normalised.

Per identity key the newest non-empty value of each attribute wins; personal values
are normalised (E.164 phones, lower-case e-mails) so identity resolution can match
them exactly. Everything here runs in the import's DuckDB; the records land in table
``_records`` for :mod:`shopcrm.ingest.identity_upsert` to write to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from shopcrm.ingest.formats.base import FormatSpec, Grain
from shopcrm.ingest.normalize import normalize_email, normalize_name, normalize_phone
from shopcrm.ingest.normalize.phones import CN_MOBILE_PATTERN
from shopcrm.store.stored_form import TIMESTAMP_TEXT

ATTRIBUTE_FIELDS = ("name", "phone", "phone_masked", "email", "province", "city", "district",
                    "address_detail", "postcode")
ATTRIBUTE_KEYS = ("accepts_email", "accepts_sms", "tags", "customer_id", "country",
                  "email_masked")


RECORD_COLUMNS = (
    "source", "external_id", "kind", *ATTRIBUTE_FIELDS, "first_seen_at", "last_seen_at",
    *ATTRIBUTE_KEYS,
)
"""Columns of DuckDB table ``_records``: one normalised record per identity of the file."""


def collect_identities(con: duckdb.DuckDBPyConnection, spec: FormatSpec) -> int:
    """Table ``_records``: one record per (source, identity key) of table ``good``, newest
    value winning; returns how many.

    Personal values are normalised once per distinct raw value (Python), then joined
    back in DuckDB, so a million identities cost a million dictionary look-ups at most —
    and the records stay in DuckDB until the store takes them.
    """
    if spec.grain in (Grain.ITEMS, Grain.PRODUCTS):
        con.execute("CREATE OR REPLACE TABLE _records AS SELECT " + ", ".join(
            f"CAST(NULL AS VARCHAR) AS {c}" for c in RECORD_COLUMNS) + " LIMIT 0")
        return 0
    _aggregate(con, spec)
    # Look-ups cover every value of the file (not only the newest per identity), so the
    # identifier keys of older orders are normalised too.
    _phone_lookup(con)
    _lookup_table(con, "_emails", _distinct(con, "email"), _email_columns)
    names = con.execute(
        "SELECT DISTINCT name, first_name, last_name FROM good "
        "WHERE identity_key IS NOT NULL").fetchall()
    _register(con, "_names", {
        "name": [n[0] for n in names], "first_name": [n[1] for n in names],
        "last_name": [n[2] for n in names],
        "full": [_full_name(*n) for n in names],
    })
    kind = "customer" if spec.grain is Grain.CUSTOMERS else "buyer"
    e164 = "coalesce(p1.e164, p2.e164, p3.e164, p4.e164)"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE _records AS
        SELECT i.source, left(i.identity_key, 200) AS external_id,
            CASE WHEN i.identity_key LIKE 'rcv:%' THEN 'receiver' ELSE '{kind}' END AS kind,
            n.full AS name, {e164} AS phone,
            CASE WHEN {e164} IS NULL
                 THEN coalesce(p1.masked, p2.masked, p3.masked, p4.masked) END AS phone_masked,
            e.valid AS email, i.r_province AS province, i.r_city AS city,
            i.r_district AS district, i.r_detail AS address_detail, i.r_postcode AS postcode,
            strftime(i.first_seen, '{TIMESTAMP_TEXT}') AS first_seen_at,
            strftime(i.last_seen, '{TIMESTAMP_TEXT}') AS last_seen_at,
            i.accepts_email, i.accepts_sms, i.tags, i.customer_id, i.country,
            e.masked AS email_masked
        FROM _ident i
        LEFT JOIN _phones p1 ON p1.v = i.phone_unmasked
        LEFT JOIN _phones p2 ON p2.v = i.phone2_unmasked
        LEFT JOIN _phones p3 ON p3.v = i.phone
        LEFT JOIN _phones p4 ON p4.v = i.phone2
        LEFT JOIN _emails e ON e.v = i.email
        LEFT JOIN _names n ON n.name IS NOT DISTINCT FROM i.name
            AND n.first_name IS NOT DISTINCT FROM i.first_name
            AND n.last_name IS NOT DISTINCT FROM i.last_name
        """
    )
    return int(con.execute("SELECT count(*) FROM _records").fetchall()[0][0])


def record_attributes(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, Any]]:
    """The extra attributes (consent flags, tags, …) of the records that carry any, by
    (source, external_id). Most order exports carry none: the query then returns nothing."""
    carrying = " OR ".join(f"{k} IS NOT NULL" for k in ATTRIBUTE_KEYS)
    rows = con.execute(
        f"SELECT source, external_id, {', '.join(ATTRIBUTE_KEYS)} FROM _records "
        f"WHERE {carrying}").fetchall()
    return {(row[0], row[1]): {k: v for k, v in zip(ATTRIBUTE_KEYS, row[2:], strict=True)
                               if v is not None} for row in rows}


ORDER_KEY = ("coalesce(epoch_us(coalesce(created_at, occurred_at)), -4611686018427387904)"
             "::HUGEINT * 4294967296 + _line")
"""Rows in time order (undated first), then file order: one number per row, so the
newest value per identity is an ``arg_max`` of it — no global sort of the file (a
window numbering rows in that order sorted every row on one thread)."""


def _aggregate(con: duckdb.DuckDBPyConnection, spec: FormatSpec) -> None:
    rows_filter = "WHERE identity_key IS NOT NULL"
    if spec.grain is Grain.LINES:
        rows_filter += " AND _first"
    source = f"coalesce(source, '{spec.source}')" if spec.grain is Grain.EVENTS else (
        f"'{spec.source}'")
    fields = ("name", "first_name", "last_name", "email", "phone", "phone2", "r_province",
              "r_city", "r_district", "r_detail", "r_postcode", "country", "accepts_email",
              "accepts_sms", "tags", "customer_id")
    picks = [f"arg_max({f}, _ord) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in fields]
    # A masked phone on the newest order must not hide the real number seen earlier.
    picks += [f"arg_max({f}, _ord) FILTER (WHERE {f} IS NOT NULL AND strpos({f}, '*') = 0) "
              f"AS {f}_unmasked" for f in ("phone", "phone2")]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE _ident AS
        SELECT src AS source, identity_key, {', '.join(picks)},
            CAST(min(_ts) AT TIME ZONE 'UTC' AS TIMESTAMP) AS first_seen,
            CAST(max(_ts) AT TIME ZONE 'UTC' AS TIMESTAMP) AS last_seen
        FROM (SELECT *, {source} AS src, coalesce(created_at, occurred_at) AS _ts,
                     {ORDER_KEY} AS _ord
              FROM good {rows_filter})
        GROUP BY src, identity_key
        """
    )


def _distinct(con: duckdb.DuckDBPyConnection, *columns: str) -> list[str]:
    union = " UNION ".join(
        f"SELECT {c} AS v FROM good WHERE identity_key IS NOT NULL" for c in columns)
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL").fetchall()]


def _phone_lookup(con: duckdb.DuckDBPyConnection) -> None:
    """Table ``_phones`` (v, e164, masked) for every distinct phone value of ``good``.

    A bare mainland mobile (most of a Chinese shop's export) is ``+86`` and itself, so
    DuckDB answers those with the same pattern :func:`normalize_phone` uses; Python
    normalises only the rest (masked, decorated, foreign), a few values per buyer
    instead of a million calls.
    """
    union = " UNION ".join(
        f"SELECT {c} AS v FROM good WHERE identity_key IS NOT NULL" for c in ("phone", "phone2"))
    mobile = "'" + CN_MOBILE_PATTERN.replace("'", "''") + "'"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _phone_values AS SELECT v, "
                f"regexp_full_match(v, {mobile}) AS plain FROM ({union}) WHERE v IS NOT NULL")
    rest = [r[0] for r in con.execute(
        "SELECT v FROM _phone_values WHERE NOT plain").fetchall()]
    _register(con, "_phones_rest", _phone_columns(rest))
    con.execute(
        "CREATE OR REPLACE TABLE _phones AS SELECT v, '+86' || v AS e164, "
        "CAST(NULL AS VARCHAR) AS masked FROM _phone_values WHERE plain "
        "UNION ALL SELECT v, e164, masked FROM _phones_rest")
    con.execute("DROP TABLE _phone_values")
    con.execute("DROP TABLE _phones_rest")


def _phone_columns(values: list[str]) -> dict[str, list[str | None]]:
    phones = [normalize_phone(v) for v in values]
    return {
        "v": list(values),
        "e164": [p.value if p.kind == "e164" else None for p in phones],
        "masked": [p.value if p.kind == "masked" else None for p in phones],
    }


def _email_columns(values: list[str]) -> dict[str, list[str | None]]:
    emails = [normalize_email(v) for v in values]
    return {
        "v": list(values),
        "valid": [e.value if e.kind == "valid" else None for e in emails],
        "masked": [e.value if e.kind == "masked" else None for e in emails],
    }


def _lookup_table(con: duckdb.DuckDBPyConnection, name: str, values: list[str],
                  build: Callable[[list[str]], dict[str, list[str | None]]]) -> None:
    _register(con, name, build(values))


def _register(con: duckdb.DuckDBPyConnection, name: str,
              columns: dict[str, list[str | None]]) -> None:
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def _full_name(name: str | None, first: str | None, last: str | None) -> str | None:
    full = normalize_name(name)
    if full:
        return full
    first = normalize_name(first) or ""
    last = normalize_name(last) or ""
    if not (first or last):
        return None
    if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
        return normalize_name(last + first)
    return normalize_name(f"{first} {last}")


