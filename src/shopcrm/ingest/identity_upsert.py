"""Writing a file's identities (DuckDB table ``_records``) to the operational store.

New identities are inserted, each founding a customer with the identity's own ID;
existing ones are updated where the file says something newer. What the store already
knows is looked up with the file's keys only (a narrow stage table), so the records
themselves cross to the store once: new ones straight into their final table, in ID
order, and only existing ones through a stage table for the update. IDs of new
identities are allocated before anything is written, so the map of every record to its
identity and customer (DuckDB table ``_idmap``) is known up front and the keys and
facts need no read-back. Re-importing the same file changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import duckdb
import pyarrow as pa
from sqlalchemy import (
    JSON,
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
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shopcrm.ingest.identities import ATTRIBUTE_FIELDS, record_attributes
from shopcrm.store.bulk import load_query
from shopcrm.store.models import Customer, SourceIdentity
from shopcrm.store.stored_form import TIMESTAMP_TEXT

STAGE_COLUMNS = (
    "source", "external_id", "kind", *ATTRIBUTE_FIELDS, "attributes", "attributes_changed",
    "first_seen_at", "last_seen_at",
)
PROFILE = ("name", "phone", "email", "province", "city", "district", "first_seen_at",
           "last_seen_at")
"""What a new customer takes from the identity that founds it."""


@dataclass(frozen=True)
class IdentityUpsert:
    new: int
    updated: int
    touched: set[int]
    """IDs of the identities this batch founded or changed."""


@dataclass(frozen=True)
class StoredIdentities:
    """What the store knows of a file's identities (DuckDB table ``_stored_ids``)."""

    existing: int
    new: int
    stored_total: int

    @property
    def first_load(self) -> bool:
        """The batch at least doubles the identities: a load to build indexes after."""
        return self.new > 0 and self.new >= self.stored_total


def find_stored(connection: Connection, con: duckdb.DuckDBPyConnection,
                scratch: Path) -> StoredIdentities:
    """Table ``_stored_ids`` (source, external_id, identity_id, customer_id) of the records
    the store already has, and ``_fresh`` (source, external_id) of the others."""
    ident = cast(Table, SourceIdentity.__table__)
    sources = [r[0] for r in con.execute("SELECT DISTINCT source FROM _records").fetchall()]
    stored_total = int(connection.scalar(select(func.count()).select_from(ident)) or 0)
    of_sources = int(connection.scalar(
        select(func.count()).select_from(ident).where(ident.c.source.in_(sources))) or 0
    ) if sources and stored_total else 0
    rows: list[tuple[Any, ...]] = []
    if of_sources:
        lookup = Table("stage_identity_lookup", MetaData(), Column("source", String(32)),
                       Column("external_id", String(200)), prefixes=["TEMPORARY"])
        lookup.drop(connection, checkfirst=True)
        lookup.create(connection)
        load_query(connection, lookup.name, ("source", "external_id"), con,
                   "SELECT source, external_id FROM _records", scratch)
        rows = _raw_rows(connection,
                         "SELECT s.source, s.external_id, i.id, i.customer_id "
                         "FROM stage_identity_lookup s JOIN source_identities i "
                         "ON i.source = s.source AND i.external_id = s.external_id")
        lookup.drop(connection)
    columns: list[tuple[Any, ...]] = (list(zip(*rows, strict=True)) if rows
                                      else [(), (), (), ()])
    _register(con, "_stored_ids", pa.table({
        "source": pa.array(columns[0], pa.string()),
        "external_id": pa.array(columns[1], pa.string()),
        "identity_id": pa.array(columns[2], pa.int64()),
        "customer_id": pa.array(columns[3], pa.int64()),
    }))
    con.execute("CREATE OR REPLACE TABLE _fresh AS SELECT r.source, r.external_id "
                "FROM _records r ANTI JOIN _stored_ids e USING (source, external_id)")
    new = int(con.execute("SELECT count(*) FROM _fresh").fetchall()[0][0])
    return StoredIdentities(existing=len(rows), new=new, stored_total=stored_total)


def upsert_identities(session: Session, con: duckdb.DuckDBPyConnection,
                      stored: StoredIdentities, *, batch_id: int, now: datetime,
                      scratch: Path) -> IdentityUpsert:
    """Update the existing identities, insert the new ones; leaves ``_idmap`` and
    ``_new_ids`` (source, external_id, id) in DuckDB."""
    connection = session.connection()
    _attributes(session, con)
    _allocate_ids(connection, con, stored.new)
    con.execute(
        "CREATE OR REPLACE TABLE _idmap AS "
        "SELECT source, external_id AS identity_key, identity_id, customer_id FROM _stored_ids "
        "UNION ALL SELECT source, external_id, id, id FROM _new_ids")
    updated: set[int] = set()
    if stored.existing:
        # Existing identities are updated before the new ones are inserted, so the
        # update's join only meets identities that were there before this batch.
        updated = _update_existing(session, con, batch_id=batch_id, now=now, scratch=scratch)
    new_ids: set[int] = set()
    if stored.new:
        _insert_new(connection, con, batch_id=batch_id, now=now, scratch=scratch)
        new_ids = {int(r[0]) for r in con.execute("SELECT id FROM _new_ids").fetchall()}
    return IdentityUpsert(stored.new, len(updated), new_ids | updated)


def _attributes(session: Session, con: duckdb.DuckDBPyConnection) -> None:
    """Table ``_attrs`` (source, external_id, attributes JSON text, attributes_changed).

    Attributes add up across exports (the customers file's consent flags survive the
    orders file); only records that carry attributes pay for the look-up.
    """
    carried = record_attributes(con)
    existing: dict[tuple[str, str], Any] = {}
    by_source: dict[str, list[str]] = {}
    for source, external_id in carried:
        by_source.setdefault(source, []).append(external_id)
    for source, keys in by_source.items():
        for start in range(0, len(keys), 500):
            found = session.execute(
                select(SourceIdentity.external_id, SourceIdentity.attributes).where(
                    SourceIdentity.source == source,
                    SourceIdentity.external_id.in_(keys[start:start + 500]),
                    SourceIdentity.attributes.is_not(None)))
            for external_id, value in found:
                existing[(source, external_id)] = value
    sources, externals, texts, changed = [], [], [], []
    for key, attributes in carried.items():
        before = existing.get(key)
        merged = {**(before or {}), **attributes}
        sources.append(key[0])
        externals.append(key[1])
        texts.append(json.dumps(merged, ensure_ascii=False))
        changed.append(merged != before)
    _register(con, "_attrs", pa.table({
        "source": pa.array(sources, pa.string()),
        "external_id": pa.array(externals, pa.string()),
        "attributes": pa.array(texts, pa.string()),
        "attributes_changed": pa.array(changed, pa.bool_()),
    }))


def _allocate_ids(connection: Connection, con: duckdb.DuckDBPyConnection, count: int) -> None:
    """Table ``_new_ids``: each record the store lacks with the ID it will have, in key
    order (the identities' and customers' indexes then grow at their end)."""
    if connection.dialect.name == "postgresql":
        ids = [r[0] for r in _raw_rows(
            connection, "SELECT nextval(pg_get_serial_sequence('source_identities', 'id')) "
            f"FROM generate_series(1, {int(count)})")] if count else []
        _register(con, "_allocated", pa.table({
            "rank": pa.array(range(1, len(ids) + 1), pa.int64()),
            "id": pa.array(sorted(ids), pa.int64())}))
        con.execute(
            "CREATE OR REPLACE TABLE _new_ids AS SELECT f.source, f.external_id, a.id "
            "FROM (SELECT *, row_number() OVER (ORDER BY source, external_id) AS rank "
            "FROM _fresh) f JOIN _allocated a USING (rank)")
        return
    # SQLite: the import holds the database's write lock for the whole transaction.
    top = connection.scalar(text(
        "SELECT max(coalesce((SELECT max(id) FROM source_identities), 0), "
        "coalesce((SELECT max(id) FROM customers), 0))")) or 0
    con.execute(
        "CREATE OR REPLACE TABLE _new_ids AS SELECT source, external_id, "
        f"{int(top)} + row_number() OVER (ORDER BY source, external_id) AS id FROM _fresh")


def _stored_time(connection: Connection, value: datetime) -> str:
    """``value`` as the store keeps it, for rows written without SQLAlchemy."""
    if connection.dialect.name == "postgresql":
        return value.astimezone(UTC).strftime(TIMESTAMP_TEXT)
    kind = DateTime(timezone=True)
    processor = kind.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    return str(processor(value) if processor else value)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _insert_new(connection: Connection, con: duckdb.DuckDBPyConnection, *, batch_id: int,
                now: datetime, scratch: Path) -> None:
    """Each new identity and the customer it founds, written once with final IDs."""
    stamp = _quoted(_stored_time(connection, now))
    joined = ("FROM _new_ids n JOIN _records r USING (source, external_id) "
              "LEFT JOIN _attrs a USING (source, external_id)")
    identity_columns = ("id", "customer_id", "source", "external_id", "kind",
                        *ATTRIBUTE_FIELDS, "attributes", "first_seen_at", "last_seen_at",
                        "first_batch_id", "last_batch_id", "updated_at")
    identity_query = (
        "SELECT n.id, n.id, r.source, r.external_id, r.kind, "
        + ", ".join(f"r.{f}" for f in ATTRIBUTE_FIELDS)
        + f", a.attributes, r.first_seen_at, r.last_seen_at, {batch_id}, {batch_id}, {stamp} "
        + joined + " ORDER BY n.id")
    customer_columns = ("id", "status", *PROFILE, "created_at", "updated_at")
    if connection.dialect.name == "postgresql":
        load_query(connection, "customers", customer_columns, con,
                   "SELECT n.id, 'active', " + ", ".join(f"r.{f}" for f in PROFILE)
                   + f", {stamp}, {stamp} " + joined + " ORDER BY n.id", scratch)
        load_query(connection, "source_identities", identity_columns, con, identity_query,
                   scratch)
        return
    # SQLite: the identities cross from Python once; their customers are copied from
    # them inside SQLite. The foreign key is checked at commit, when both exist.
    connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    load_query(connection, "source_identities", identity_columns, con, identity_query, scratch)
    low = int(con.execute("SELECT min(id) FROM _new_ids").fetchall()[0][0])
    connection.execute(text(
        f"INSERT INTO customers ({', '.join(customer_columns)}) "
        f"SELECT id, 'active', {', '.join(PROFILE)}, updated_at, updated_at "
        "FROM source_identities WHERE id >= :low AND first_batch_id = :batch ORDER BY id"),
        {"low": low, "batch": batch_id})


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


def _update_existing(session: Session, con: duckdb.DuckDBPyConnection, *, batch_id: int,
                     now: datetime, scratch: Path) -> set[int]:
    """Update the identities the store had where this file is newer; returns their IDs."""
    connection = session.connection()
    stage = _stage_table(MetaData())
    stage.drop(connection, checkfirst=True)
    stage.create(connection)
    picks = ", ".join(
        "a.attributes" if c == "attributes"
        else "coalesce(a.attributes_changed, false)" if c == "attributes_changed"
        else f"r.{c}" for c in STAGE_COLUMNS)
    load_query(connection, stage.name, STAGE_COLUMNS, con,
               f"SELECT {picks} FROM _stored_ids e JOIN _records r USING (source, external_id) "
               "LEFT JOIN _attrs a USING (source, external_id)", scratch)
    connection.execute(text(
        "CREATE INDEX ix_stage_identities_key ON stage_identities (source, external_id)"))

    ident = cast(Table, SourceIdentity.__table__)
    same_key = and_(ident.c.source == stage.c.source, ident.c.external_id == stage.c.external_id)
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
    updated = {int(i) for i in connection.scalars(
        select(ident.c.id).select_from(stage).join(ident, same_key)
        .where(ident.c.first_batch_id != batch_id, changed))}
    if updated:
        connection.execute(
            update(ident).where(same_key, ident.c.first_batch_id != batch_id, changed)
            .values(values))
        _refresh_customers(session, batch_id=batch_id, now=now)
    stage.drop(connection)
    return updated


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


def _raw_rows(connection: Connection, sql: str) -> list[tuple[Any, ...]]:
    """Rows through the raw driver cursor: a few hundred thousand rows through
    SQLAlchemy's row objects cost more than the query."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        return cast(list[tuple[Any, ...]], cursor.fetchall())
    finally:
        cursor.close()


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")
