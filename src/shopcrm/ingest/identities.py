"""Source identities: who placed the orders, as each source shows them.

Per identity key the newest non-empty value of each attribute wins; personal values
are normalised (E.164 phones, lower-case e-mails) so identity resolution can match
them exactly. The upsert is set-based through a temporary table so a million
identities cost a few statements, and re-importing the same file changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
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
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from shopcrm.ingest.formats.base import FormatSpec, Grain
from shopcrm.ingest.normalize import Phone, normalize_email, normalize_name, normalize_phone
from shopcrm.store.models import Customer, SourceIdentity

ATTRIBUTE_FIELDS = ("name", "phone", "phone_masked", "email", "province", "city", "district",
                    "address_detail", "postcode")


@dataclass(frozen=True)
class IdentityUpsert:
    new: int
    updated: int
    mapping: pa.Table  # source, identity_key, identity_id, customer_id


def collect_identities(con: duckdb.DuckDBPyConnection, spec: FormatSpec) -> list[dict[str, Any]]:
    """One record per (source, identity key) from table ``good``, newest value winning."""
    if spec.grain in (Grain.ITEMS, Grain.PRODUCTS):
        return []
    rows_filter = "WHERE identity_key IS NOT NULL"
    if spec.grain is Grain.LINES:
        rows_filter += " AND _first"
    source = f"coalesce(source, '{spec.source}')" if spec.grain is Grain.EVENTS else (
        f"'{spec.source}'")
    fields = ("name", "first_name", "last_name", "email", "phone", "phone2", "r_province",
              "r_city", "r_district", "r_detail", "r_postcode", "country", "accepts_email",
              "accepts_sms", "tags", "customer_id")
    picks = ",\n".join(
        f"arg_max({f}, _ord) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in fields
    )
    # A masked phone on the newest order must not hide the real number seen earlier.
    picks += ",\n" + ",\n".join(
        f"arg_max({f}, _ord) FILTER (WHERE {f} IS NOT NULL AND strpos({f}, '*') = 0) "
        f"AS {f}_unmasked" for f in ("phone", "phone2")
    )
    query = f"""
        SELECT src AS source, identity_key, {picks},
            CAST(min(_ts) AT TIME ZONE 'UTC' AS TIMESTAMP) AS first_seen,
            CAST(max(_ts) AT TIME ZONE 'UTC' AS TIMESTAMP) AS last_seen
        FROM (SELECT *, {source} AS src, coalesce(created_at, occurred_at) AS _ts,
                     row_number() OVER (ORDER BY coalesce(created_at, occurred_at) NULLS FIRST,
                                        _line) AS _ord
              FROM good {rows_filter})
        GROUP BY src, identity_key
    """
    cursor = con.execute(query)
    columns = [d[0] for d in cursor.description]
    return [
        _normalised(dict(zip(columns, row, strict=True)), spec)
        for row in cursor.fetchall()
    ]


def _full_name(record: dict[str, Any]) -> str | None:
    name = normalize_name(record.get("name"))
    if name:
        return name
    first = normalize_name(record.get("first_name")) or ""
    last = normalize_name(record.get("last_name")) or ""
    if not (first or last):
        return None
    if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
        return normalize_name(last + first)
    return normalize_name(f"{first} {last}")


def _best_phone(record: dict[str, Any]) -> Phone:
    """The first real (E.164) number among the candidates, else the first masked one."""
    candidates = [normalize_phone(record.get(key)) for key in
                  ("phone_unmasked", "phone2_unmasked", "phone", "phone2")]
    for kind in ("e164", "masked", "invalid"):
        for phone in candidates:
            if phone.kind == kind:
                return phone
    return candidates[0]


def _normalised(record: dict[str, Any], spec: FormatSpec) -> dict[str, Any]:
    phone = _best_phone(record)
    email = normalize_email(record.get("email"))
    attributes = {
        key: record[key]
        for key in ("accepts_email", "accepts_sms", "tags", "customer_id", "country")
        if record.get(key) is not None
    }
    if email.kind == "masked" and email.value:
        attributes["email_masked"] = email.value
    first_seen = record.get("first_seen")
    last_seen = record.get("last_seen")
    return {
        "source": record["source"],
        "external_id": record["identity_key"][:200],
        "kind": "receiver" if record["identity_key"].startswith("rcv:") else (
            "customer" if spec.grain is Grain.CUSTOMERS else "buyer"),
        "name": _full_name(record),
        "phone": phone.value if phone.kind == "e164" else None,
        "phone_masked": phone.value if phone.kind == "masked" else None,
        "email": email.value if email.kind == "valid" else None,
        "province": record.get("r_province"),
        "city": record.get("r_city"),
        "district": record.get("r_district"),
        "address_detail": record.get("r_detail"),
        "postcode": record.get("r_postcode"),
        "attributes": attributes or None,
        "attributes_changed": bool(attributes),
        "first_seen_at": first_seen.replace(tzinfo=UTC) if first_seen else None,
        "last_seen_at": last_seen.replace(tzinfo=UTC) if last_seen else None,
    }


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
    session: Session, records: list[dict[str, Any]], *, batch_id: int, now: datetime
) -> IdentityUpsert:
    """Insert new identities (each founding a customer), update changed ones."""
    empty = pa.table({
        "source": pa.array([], pa.string()), "identity_key": pa.array([], pa.string()),
        "identity_id": pa.array([], pa.int64()), "customer_id": pa.array([], pa.int64()),
    })
    if not records:
        return IdentityUpsert(0, 0, empty)
    connection = session.connection()
    _merge_existing_attributes(session, records)
    metadata = MetaData()
    stage = _stage_table(metadata)
    stage.drop(connection, checkfirst=True)
    stage.create(connection)
    for start in range(0, len(records), 5000):
        connection.execute(insert(stage), records[start:start + 5000])

    ident = cast(Table, SourceIdentity.__table__)
    same_key = and_(ident.c.source == stage.c.source, ident.c.external_id == stage.c.external_id)
    columns = ["source", "external_id", "kind", *ATTRIBUTE_FIELDS, "attributes",
               "first_seen_at", "last_seen_at"]
    # Counted explicitly: drivers disagree on rowcount for INSERT … SELECT / UPDATE … FROM.
    new = connection.scalar(
        select(func.count()).select_from(stage).where(~exists().where(same_key))) or 0
    connection.execute(
        insert(ident).from_select(
            [*columns, "first_batch_id", "last_batch_id", "updated_at"],
            select(*[stage.c[c] for c in columns], literal(batch_id, BigInteger),
                   literal(batch_id, BigInteger), literal(now, DateTime(timezone=True)))
            .where(~exists().where(same_key)),
        )
    )

    newer = or_(ident.c.last_seen_at.is_(None), stage.c.last_seen_at.is_(None),
                stage.c.last_seen_at >= ident.c.last_seen_at)
    changed = or_(
        *[and_(stage.c[f].is_not(None), stage.c[f].is_distinct_from(ident.c[f]), newer)
          for f in ATTRIBUTE_FIELDS],
        stage.c.attributes_changed.is_(True),
        stage.c.last_seen_at > ident.c.last_seen_at,
        stage.c.first_seen_at < ident.c.first_seen_at,
        and_(ident.c.last_seen_at.is_(None), stage.c.last_seen_at.is_not(None)),
    )
    values: dict[str, Any] = {
        f: case((and_(stage.c[f].is_not(None), newer), stage.c[f]), else_=ident.c[f])
        for f in ATTRIBUTE_FIELDS
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

    _create_customers(session, batch_id=batch_id, now=now)
    _refresh_customers(session, batch_id=batch_id, now=now)

    rows = connection.execute(
        select(stage.c.source, stage.c.external_id, ident.c.id, ident.c.customer_id)
        .join(ident, same_key)
    ).all()
    stage.drop(connection)
    mapping = pa.table({
        "source": pa.array([r[0] for r in rows], pa.string()),
        "identity_key": pa.array([r[1] for r in rows], pa.string()),
        "identity_id": pa.array([r[2] for r in rows], pa.int64()),
        "customer_id": pa.array([r[3] for r in rows], pa.int64()),
    })
    return IdentityUpsert(int(new or 0), int(updated or 0), mapping)


def _merge_existing_attributes(session: Session, records: list[dict[str, Any]]) -> None:
    """Attributes add up across exports (the customers file's consent flags survive the
    orders file); only records that carry attributes pay for the look-up."""
    carrying: dict[tuple[str, str], dict[str, Any]] = {
        (r["source"], r["external_id"]): r for r in records if r["attributes"]}
    by_source: dict[str, list[str]] = {}
    for source, external_id in carrying:
        by_source.setdefault(source, []).append(external_id)
    for source, keys in by_source.items():
        for start in range(0, len(keys), 500):
            rows = session.execute(
                select(SourceIdentity.external_id, SourceIdentity.attributes).where(
                    SourceIdentity.source == source,
                    SourceIdentity.external_id.in_(keys[start:start + 500]),
                    SourceIdentity.attributes.is_not(None)))
            for external_id, existing in rows:
                record = carrying[(source, external_id)]
                merged = {**(existing or {}), **record["attributes"]}
                record["attributes"] = merged
                record["attributes_changed"] = merged != existing


def _create_customers(session: Session, *, batch_id: int, now: datetime) -> None:
    """Each identity without a customer founds one, with the identity's ID."""
    ident = cast(Table, SourceIdentity.__table__)
    customers = cast(Table, Customer.__table__)
    fields = ["name", "phone", "email", "province", "city", "district", "first_seen_at",
              "last_seen_at"]
    session.execute(
        insert(customers).from_select(
            ["id", "status", *fields, "created_at", "updated_at"],
            select(ident.c.id, literal("active"), *[ident.c[f] for f in fields],
                   literal(now, DateTime(timezone=True)), literal(now, DateTime(timezone=True)))
            .where(ident.c.customer_id.is_(None)),
        )
    )
    session.execute(
        update(ident).where(ident.c.customer_id.is_(None)).values(customer_id=ident.c.id)
    )


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
