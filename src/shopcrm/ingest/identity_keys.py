"""Identifier keys: every phone, e-mail and device each source record was seen with.

An identity row keeps only the newest value of each attribute; identity resolution
needs all of them (the buyer's own phone stays theirs after one order went to a parcel
locker). Each key carries the name it came with, so a gift's receiver phone is not
taken for the buyer's. Normalisation reuses the import's look-up tables (``_phones``,
``_emails``, ``_names``), so a key costs no second pass over personal values.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import duckdb
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from shopcrm.identity.models import IdentityKey
from shopcrm.ingest.formats.base import FormatSpec, Grain
from shopcrm.store.bulk import load_query
from shopcrm.store.stored_form import TIMESTAMP_TEXT

KEY_COLUMNS = ("identity_id", "kind", "value", "name_seen", "first_seen_at", "last_seen_at")


def collect_keys(con: duckdb.DuckDBPyConnection, spec: FormatSpec) -> int:
    """Table ``_keys``: one row per (identity, kind, value) of table ``good``, in
    KEY_COLUMNS order; needs ``_idmap``. Returns how many."""
    if spec.grain in (Grain.ITEMS, Grain.PRODUCTS):
        con.execute("CREATE OR REPLACE TABLE _keys (identity_id BIGINT, kind VARCHAR, "
                    "value VARCHAR, name_seen VARCHAR, first_seen_at VARCHAR, "
                    "last_seen_at VARCHAR)")
        return 0
    columns = {r[0] for r in con.execute("DESCRIBE good").fetchall()}
    source = (f"coalesce(source, '{spec.source}')" if spec.grain is Grain.EVENTS
              else f"'{spec.source}'")
    first = " AND _first" if spec.grain is Grain.LINES else ""
    device = "device_id" if "device_id" in columns else "CAST(NULL AS VARCHAR)"
    ts = "coalesce(created_at, occurred_at)" if "occurred_at" in columns else "created_at"
    values = [
        "SELECT g.*, 'phone' AS kind, p.e164 AS value FROM g JOIN _phones p ON p.v = g.phone "
        "WHERE p.e164 IS NOT NULL",
        "SELECT g.*, 'phone', p.e164 FROM g JOIN _phones p ON p.v = g.phone2 "
        "WHERE p.e164 IS NOT NULL",
        "SELECT g.*, 'email', e.valid FROM g JOIN _emails e ON e.v = g.email "
        "WHERE e.valid IS NOT NULL",
        "SELECT g.*, 'device', left(g.device_id, 320) FROM g WHERE g.device_id IS NOT NULL",
    ]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE _keys AS
        WITH g AS (
            SELECT {source} AS src, identity_key, name, first_name, last_name, phone, phone2,
                   email, {device} AS device_id,
                   CAST({ts} AT TIME ZONE 'UTC' AS TIMESTAMP) AS ts
            FROM good WHERE identity_key IS NOT NULL{first}),
        v AS ({' UNION ALL '.join(values)})
        SELECT m.identity_id, v.kind, v.value,
               arg_max(n."full", coalesce(v.ts, TIMESTAMP '1970-01-01'))
                   FILTER (WHERE n."full" IS NOT NULL) AS name_seen,
               strftime(min(v.ts), '{TIMESTAMP_TEXT}') AS first_seen_at,
               strftime(max(v.ts), '{TIMESTAMP_TEXT}') AS last_seen_at
        FROM v
        JOIN _idmap m ON m.source = v.src AND m.identity_key = v.identity_key
        LEFT JOIN _names n ON n.name IS NOT DISTINCT FROM v.name
            AND n.first_name IS NOT DISTINCT FROM v.first_name
            AND n.last_name IS NOT DISTINCT FROM v.last_name
        GROUP BY m.identity_id, v.kind, v.value
        """
    )
    return int(con.execute("SELECT count(*) FROM _keys").fetchall()[0][0])


def upsert_keys(session: Session, con: duckdb.DuckDBPyConnection, scratch: Path) -> set[int]:
    """Add new keys, move ``last_seen_at``/``name_seen`` forward; returns the identities
    that got a key they did not have (identity resolution looks at them again).

    Keys of the identities this batch founded (DuckDB table ``_new_ids``) are all new:
    they go straight into their table. Only keys of identities the store had pass
    through a stage table to be compared.
    """
    connection = session.connection()
    names = ", ".join(f"k.{c}" for c in KEY_COLUMNS)
    founded = bool(con.execute("SELECT count(*) FROM _keys k SEMI JOIN _new_ids n "
                               "ON n.id = k.identity_id").fetchall()[0][0])
    if founded:
        load_query(connection, "identity_keys", KEY_COLUMNS, con,
                   f"SELECT {names} FROM _keys k SEMI JOIN _new_ids n ON n.id = k.identity_id "
                   "ORDER BY 1, 2, 3", scratch)
    others = f"SELECT {names} FROM _keys k ANTI JOIN _new_ids n ON n.id = k.identity_id"
    if not con.execute(f"SELECT count(*) FROM ({others})").fetchall()[0][0]:
        return set()
    stage = Table(
        "stage_identity_keys", MetaData(),
        Column("identity_id", BigInteger), Column("kind", String(16)),
        Column("value", String(320)), Column("name_seen", String(200)),
        Column("first_seen_at", DateTime(timezone=True)),
        Column("last_seen_at", DateTime(timezone=True)),
        prefixes=["TEMPORARY"],
    )
    stage.drop(connection, checkfirst=True)
    stage.create(connection)
    load_query(connection, stage.name, KEY_COLUMNS, con, others, scratch)
    keys = cast(Table, IdentityKey.__table__)
    same = and_(keys.c.identity_id == stage.c.identity_id, keys.c.kind == stage.c.kind,
                keys.c.value == stage.c.value)
    new = set(connection.scalars(
        select(stage.c.identity_id).distinct().where(~exists().where(same))))
    # Keys already stored move forward first, so these joins meet only the keys that
    # were there before this batch, not the ones it is about to add.
    later = or_(keys.c.last_seen_at.is_(None),
                and_(stage.c.last_seen_at.is_not(None),
                     stage.c.last_seen_at > keys.c.last_seen_at))
    connection.execute(
        update(keys).where(same, later).values(
            last_seen_at=stage.c.last_seen_at,
            name_seen=func.coalesce(stage.c.name_seen, keys.c.name_seen)))
    earlier = and_(stage.c.first_seen_at.is_not(None),
                   or_(keys.c.first_seen_at.is_(None),
                       stage.c.first_seen_at < keys.c.first_seen_at))
    connection.execute(update(keys).where(same, earlier).values(
        first_seen_at=stage.c.first_seen_at))
    if new:
        connection.execute(insert(keys).from_select(
            list(KEY_COLUMNS),
            select(*[stage.c[c] for c in KEY_COLUMNS]).where(~exists().where(same))))
    stage.drop(connection)
    return new
