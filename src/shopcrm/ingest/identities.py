"""Source identities: who placed the orders, as each source shows them.

Per identity key the newest non-empty value of each attribute wins; personal values
are normalised (E.164 phones, lower-case e-mails) so identity resolution can match
them exactly. The upsert is set-based through a temporary table so a million
identities cost a few statements, and re-importing the same file changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import duckdb
import pyarrow as pa
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shopcrm.ingest.formats.base import FormatSpec, Grain
from shopcrm.ingest.normalize import normalize_email, normalize_name, normalize_phone
from shopcrm.ingest.normalize.phones import CN_MOBILE_PATTERN
from shopcrm.store.bulk import bulk_insert
from shopcrm.store.models import Customer, SourceIdentity

ATTRIBUTE_FIELDS = ("name", "phone", "phone_masked", "email", "province", "city", "district",
                    "address_detail", "postcode")


@dataclass(frozen=True)
class IdentityUpsert:
    new: int
    updated: int
    mapping: pa.Table  # source, identity_key, identity_id, customer_id


STAGE_COLUMNS = (
    "source", "external_id", "kind", *ATTRIBUTE_FIELDS, "attributes", "attributes_changed",
    "first_seen_at", "last_seen_at",
)
ATTRIBUTE_KEYS = ("accepts_email", "accepts_sms", "tags", "customer_id", "country",
                  "email_masked")
TIMESTAMP_TEXT = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy stores DateTime on SQLite; PostgreSQL parses it (as UTC) too."""


@dataclass
class IdentityBatch:
    """Normalised identity records ready for the stage table, in STAGE_COLUMNS order."""

    rows: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.rows)


def collect_identities(con: duckdb.DuckDBPyConnection, spec: FormatSpec) -> IdentityBatch:
    """One record per (source, identity key) from table ``good``, newest value winning.

    Personal values are normalised once per distinct raw value (Python), then joined
    back in DuckDB, so a million identities cost a million dictionary look-ups at most.
    """
    if spec.grain in (Grain.ITEMS, Grain.PRODUCTS):
        return IdentityBatch([])
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
    cursor = con.execute(
        f"""
        SELECT i.source, left(i.identity_key, 200),
            CASE WHEN i.identity_key LIKE 'rcv:%' THEN 'receiver' ELSE '{kind}' END,
            n.full, {e164},
            CASE WHEN {e164} IS NULL
                 THEN coalesce(p1.masked, p2.masked, p3.masked, p4.masked) END,
            e.valid, i.r_province, i.r_city, i.r_district, i.r_detail, i.r_postcode,
            strftime(i.first_seen, '{TIMESTAMP_TEXT}'), strftime(i.last_seen, '{TIMESTAMP_TEXT}'),
            i.accepts_email, i.accepts_sms, i.tags, i.customer_id, i.country, e.masked
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
    rows: list[tuple[Any, ...]] = []
    none = (None,) * len(ATTRIBUTE_KEYS)
    while chunk := cursor.fetchmany(50_000):
        for row in chunk:
            extras = row[14:]
            if extras == none:  # most exports carry none of these: skip building a dict
                rows.append((*row[:12], None, False, row[12], row[13]))
                continue
            attributes = {k: v for k, v in zip(ATTRIBUTE_KEYS, extras, strict=True)
                          if v is not None}
            rows.append((*row[:12], attributes, True, row[12], row[13]))
    return IdentityBatch(rows)


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


def _stage_table(metadata: MetaData) -> Table:
    return Table(
        "stage_identities",
        metadata,
        Column("source", String(32)),
        Column("external_id", String(200)),
        Column("kind", String(16)),
        Column("name", String(200)),
        Column("phone", String(32)),
        Column("phone_masked", String(32)),
        Column("email", String(320)),
        Column("province", String(32)),
        Column("city", String(64)),
        Column("district", String(64)),
        Column("address_detail", Text),
        Column("postcode", String(16)),
        Column("attributes", JSON),
        Column("attributes_changed", Boolean),
        Column("first_seen_at", DateTime(timezone=True)),
        Column("last_seen_at", DateTime(timezone=True)),
        prefixes=["TEMPORARY"],
    )


def upsert_identities(
    session: Session, batch: IdentityBatch, *, batch_id: int, now: datetime
) -> IdentityUpsert:
    """Insert new identities (each founding a customer), update changed ones."""
    empty = pa.table({
        "source": pa.array([], pa.string()), "identity_key": pa.array([], pa.string()),
        "identity_id": pa.array([], pa.int64()), "customer_id": pa.array([], pa.int64()),
    })
    if not batch:
        return IdentityUpsert(0, 0, empty)
    connection = session.connection()
    _merge_existing_attributes(session, batch)
    metadata = MetaData()
    stage = _stage_table(metadata)
    stage.drop(connection, checkfirst=True)
    stage.create(connection)
    attributes_at = STAGE_COLUMNS.index("attributes")
    bulk_insert(connection, stage.name, STAGE_COLUMNS, (
        row if row[attributes_at] is None else
        (*row[:attributes_at], json.dumps(row[attributes_at], ensure_ascii=False),
         *row[attributes_at + 1:])
        for row in batch.rows))
    connection.execute(text(
        "CREATE INDEX ix_stage_identities_key ON stage_identities (source, external_id)"))

    ident = cast(Table, SourceIdentity.__table__)
    same_key = and_(ident.c.source == stage.c.source, ident.c.external_id == stage.c.external_id)
    columns = ["source", "external_id", "kind", *ATTRIBUTE_FIELDS, "attributes",
               "first_seen_at", "last_seen_at"]

    # Existing identities are updated before the new ones are inserted, so the update's
    # join only meets identities that were there before this batch.
    # Dated records (orders) win by date; undated ones (a customer list) only fill gaps,
    # so re-importing an old customer list never undoes what newer orders said.
    newer = or_(ident.c.last_seen_at.is_(None),
                and_(stage.c.last_seen_at.is_not(None),
                     stage.c.last_seen_at >= ident.c.last_seen_at))

    def takes(f: str) -> Any:
        return and_(stage.c[f].is_not(None), or_(newer, ident.c[f].is_(None)))

    changed = or_(
        *[and_(takes(f), stage.c[f].is_distinct_from(ident.c[f])) for f in ATTRIBUTE_FIELDS],
        stage.c.attributes_changed.is_(True),
        stage.c.last_seen_at > ident.c.last_seen_at,
        stage.c.first_seen_at < ident.c.first_seen_at,
        and_(ident.c.last_seen_at.is_(None), stage.c.last_seen_at.is_not(None)),
    )
    values: dict[str, Any] = {
        f: case((takes(f), stage.c[f]), else_=ident.c[f]) for f in ATTRIBUTE_FIELDS
    }
    values["attributes"] = func.coalesce(stage.c.attributes, ident.c.attributes)
    values["last_seen_at"] = case(
        (or_(ident.c.last_seen_at.is_(None), stage.c.last_seen_at > ident.c.last_seen_at),
         stage.c.last_seen_at), else_=ident.c.last_seen_at)
    values["first_seen_at"] = case(
        (or_(ident.c.first_seen_at.is_(None), stage.c.first_seen_at < ident.c.first_seen_at),
         stage.c.first_seen_at), else_=ident.c.first_seen_at)
    values["last_batch_id"] = batch_id
    values["updated_at"] = now
    updated = connection.scalar(
        select(func.count()).select_from(stage).join(ident, same_key)
        .where(ident.c.first_batch_id != batch_id, changed)) or 0
    if updated:
        connection.execute(
            update(ident).where(same_key, ident.c.first_batch_id != batch_id, changed)
            .values(values))
        _refresh_customers(session, batch_id=batch_id, now=now)

    new = _insert_new(connection, stage, columns, batch_id=batch_id, now=now)
    mapping = _read_mapping(connection)
    stage.drop(connection)
    return IdentityUpsert(new, int(updated), mapping)


def batch_identities(session: Session, batch_id: int) -> set[int]:
    """IDs of the identities this batch founded or changed (raw cursor: one per buyer)."""
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        marker = "%s" if session.get_bind().dialect.name == "postgresql" else "?"
        cursor.execute(f"SELECT id FROM source_identities WHERE first_batch_id = {marker} "
                       f"OR last_batch_id = {marker}", (batch_id, batch_id))
        return {int(r[0]) for r in cursor.fetchall()}
    finally:
        cursor.close()


def _read_mapping(connection: Connection) -> pa.Table:
    """(source, identity_key, identity_id, customer_id) of every staged identity.

    Read through the raw driver cursor: a few hundred thousand rows through SQLAlchemy's
    row objects cost more than the query.
    """
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            "SELECT s.source, s.external_id, i.id, i.customer_id FROM stage_identities s "
            "JOIN source_identities i ON i.source = s.source AND i.external_id = s.external_id")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    sources, keys, ids, customers = (list(c) for c in zip(*rows, strict=True)) if rows else (
        [], [], [], [])
    return pa.table({
        "source": pa.array(sources, pa.string()),
        "identity_key": pa.array(keys, pa.string()),
        "identity_id": pa.array(ids, pa.int64()),
        "customer_id": pa.array(customers, pa.int64()),
    })


def _merge_existing_attributes(session: Session, batch: IdentityBatch) -> None:
    """Attributes add up across exports (the customers file's consent flags survive the
    orders file); only records that carry attributes pay for the look-up."""
    at = STAGE_COLUMNS.index("attributes")
    carrying = {(row[0], row[1]): i for i, row in enumerate(batch.rows) if row[at]}
    by_source: dict[str, list[str]] = {}
    for source, external_id in carrying:
        by_source.setdefault(source, []).append(external_id)
    for source, keys in by_source.items():
        for start in range(0, len(keys), 500):
            found = session.execute(
                select(SourceIdentity.external_id, SourceIdentity.attributes).where(
                    SourceIdentity.source == source,
                    SourceIdentity.external_id.in_(keys[start:start + 500]),
                    SourceIdentity.attributes.is_not(None)))
            for external_id, existing in found:
                index = carrying[(source, external_id)]
                row = batch.rows[index]
                merged = {**(existing or {}), **row[at]}
                batch.rows[index] = (*row[:at], merged, merged != existing, *row[at + 2:])


def _stage_new_ids(connection: Connection, fresh: Table) -> int:
    """Fill ``fresh`` with every staged key the store does not know and its new ID, in one
    statement; returns how many. IDs are taken before inserting so each identity and the
    customer it founds are written once with their final IDs (no update pass)."""
    unknown = ("FROM stage_identities s WHERE NOT EXISTS (SELECT 1 FROM source_identities i "
               "WHERE i.source = s.source AND i.external_id = s.external_id)")
    if connection.dialect.name == "postgresql":
        allocated = "nextval(pg_get_serial_sequence('source_identities', 'id'))"
        order = ""
        params: dict[str, int] = {}
    else:
        # SQLite: the import holds the database's write lock for the whole transaction.
        top = connection.scalar(text(
            "SELECT max(coalesce((SELECT max(id) FROM source_identities), 0), "
            "coalesce((SELECT max(id) FROM customers), 0))")) or 0
        # IDs in key order: the identities' and customers' indexes (ID, key, customer)
        # then all grow at their end, which SQLite inserts far faster than at random.
        allocated = ":top + row_number() OVER (ORDER BY s.source, s.external_id)"
        order = " ORDER BY s.source, s.external_id"
        params = {"top": int(top)}
    result = connection.execute(text(
        f"INSERT INTO {fresh.name} (source, external_id, id) "
        f"SELECT s.source, s.external_id, {allocated} {unknown}{order}"), params)
    return int(result.rowcount or 0)


def _insert_new(connection: Connection, stage: Table, columns: list[str], *, batch_id: int,
                now: datetime) -> int:
    """Each new identity founds a customer with the identity's own ID; returns how many."""
    fresh = Table("stage_new_ids", stage.metadata, Column("source", String(32)),
                  Column("external_id", String(200)), Column("id", BigInteger),
                  prefixes=["TEMPORARY"])
    fresh.drop(connection, checkfirst=True)
    fresh.create(connection)
    new = _stage_new_ids(connection, fresh)
    if not new:
        fresh.drop(connection)
        return 0
    joined = stage.join(fresh, and_(fresh.c.source == stage.c.source,
                                    fresh.c.external_id == stage.c.external_id))
    stamp = literal(now, DateTime(timezone=True))
    profile = ["name", "phone", "email", "province", "city", "district", "first_seen_at",
               "last_seen_at"]
    customers = cast(Table, Customer.__table__)
    connection.execute(insert(customers).from_select(
        ["id", "status", *profile, "created_at", "updated_at"],
        select(fresh.c.id, literal("active"), *[stage.c[c] for c in profile], stamp, stamp)
        .select_from(joined).order_by(fresh.c.id)))
    ident = cast(Table, SourceIdentity.__table__)
    connection.execute(insert(ident).from_select(
        ["id", "customer_id", *columns, "first_batch_id", "last_batch_id", "updated_at"],
        select(fresh.c.id, fresh.c.id, *[stage.c[c] for c in columns],
               literal(batch_id, BigInteger), literal(batch_id, BigInteger), stamp)
        .select_from(joined).order_by(fresh.c.id)))
    fresh.drop(connection)
    return new


def _refresh_customers(session: Session, *, batch_id: int, now: datetime) -> None:
    """Customers whose identities changed in this batch take their newest values."""
    ident = cast(Table, SourceIdentity.__table__)
    customers = cast(Table, Customer.__table__)
    touched = (
        select(ident).where(ident.c.last_batch_id == batch_id, ident.c.first_batch_id != batch_id)
        .subquery()
    )
    newer = or_(
        customers.c.last_seen_at.is_(None), touched.c.last_seen_at >= customers.c.last_seen_at
    )
    values: dict[str, Any] = {
        f: case((and_(touched.c[f].is_not(None), newer), touched.c[f]), else_=customers.c[f])
        for f in ("name", "phone", "email", "province", "city", "district")
    }
    values["last_seen_at"] = func.coalesce(
        case((touched.c.last_seen_at > customers.c.last_seen_at, touched.c.last_seen_at),
             else_=customers.c.last_seen_at), touched.c.last_seen_at)
    values["first_seen_at"] = func.coalesce(
        case((touched.c.first_seen_at < customers.c.first_seen_at, touched.c.first_seen_at),
             else_=customers.c.first_seen_at), touched.c.first_seen_at)
    values["updated_at"] = now
    session.execute(
        update(customers).where(customers.c.id == touched.c.customer_id).values(values)
    )
