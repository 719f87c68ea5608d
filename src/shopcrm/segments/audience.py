"""Saved segments: define, validate, estimate, list members, export, snapshot and diff.

The service layer between the rule language (:mod:`~shopcrm.segments.rules`,
:mod:`~shopcrm.segments.compiler`) and the shells (API, pages, CLI) — and what the
campaigns capability calls:

* :func:`segment_members` — the current member IDs of a saved segment;
* :func:`snapshot_members` — freeze them (an audience for a send), returning the
  snapshot ID and the IDs.

A rule reads the latest features snapshot for ``feature`` nodes and *current* data for
everything else (facts in windows at the clock's ``now``, attributes, points, tags).
Members are customers of the features snapshot whose status is still ``active`` (merged
and erased customers never appear, even before the next features run).

Member snapshots are Parquet files under ``<warehouse>/_segments/<segment>/`` with a
``segment_snapshots`` row as their index (see :mod:`~shopcrm.segments.library_models`).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.context import AppContext
from shopcrm.customers.present import present_row
from shopcrm.customers.queries import CustomerRow, order_figures
from shopcrm.segments.compiler import NoFeaturesYet, Sources, compile_members
from shopcrm.segments.job import warehouse_facts
from shopcrm.segments.library_models import SavedSegment, SegmentSnapshot, Tag
from shopcrm.segments.lookups import StoreSets, ids_table
from shopcrm.segments.rules import (
    Catalogue,
    FieldType,
    Rule,
    RuleError,
    dump_rule,
    parse_rule,
    referenced_segments,
    validate,
)
from shopcrm.segments.service import feature_store
from shopcrm.segments.snapshots import FeatureStore, Run
from shopcrm.store.models import Customer, SourceIdentity

SNAPSHOT_DIR = "_segments"
CLV_DIR = "_clv"
EXPORT_CHUNK = 1000
MAX_PAGE = 500

__all__ = ["NoFeaturesYet", "RuleError", "segment_members", "snapshot_members"]


class SegmentError(ValueError):
    """A request about segments the store refuses (the message says why)."""


class SegmentNotFound(LookupError):
    pass


class SnapshotNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Estimate:
    size: int
    universe: int
    as_of: datetime
    features_run: str | None
    seconds: float


@dataclass(frozen=True)
class SnapshotDiff:
    before: int
    after: int
    entered: list[int]
    left: list[int]
    stayed: int


# --- what a rule reads ----------------------------------------------------------------

def clv_store(context: AppContext) -> FeatureStore:
    """CLV predictions per run (``customer_id``, ``p_alive``, ``clv`` …), same layout as
    the features snapshots."""
    return FeatureStore(context.settings.facts_dir / CLV_DIR)


def _arrow_type(dtype: pa.DataType) -> FieldType | None:
    if pa.types.is_decimal(dtype):
        return FieldType.MONEY
    if pa.types.is_integer(dtype):
        return FieldType.INTEGER
    if pa.types.is_floating(dtype):
        return FieldType.NUMBER
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return FieldType.STRING
    if pa.types.is_date(dtype):
        return FieldType.DATE
    if pa.types.is_timestamp(dtype):
        return FieldType.TIMESTAMP
    return None


def feature_fields(context: AppContext) -> dict[str, FieldType]:
    """The ``feature`` fields: the latest snapshot's columns, or — before the first run —
    the columns the features job will write with the shop's settings."""
    run = feature_store(context).latest()
    if run is not None:
        schema = pq.read_schema(run.path)
        found = {f.name: _arrow_type(f.type) for f in schema}
    else:
        from shopcrm.segments.compiler import feature_catalogue
        from shopcrm.segments.features import Facts
        from shopcrm.segments.job import features_table
        from shopcrm.segments.settings import load_settings
        from shopcrm.warehouse.engine import arrow_schema
        from shopcrm.warehouse.tables import FACT_TABLES

        empty = {n: ibis.memtable(arrow_schema(t).empty_table()) for n, t in FACT_TABLES.items()}
        facts = Facts(empty["orders"], empty["order_items"], empty["events"], empty["products"])
        expr = features_table(facts, load_settings(context.settings.home),
                              as_of=context.clock.now(), timezone=context.settings.timezone)
        return feature_catalogue(expr.schema())
    return {k: v for k, v in found.items() if v is not None and k != "customer_id"}


def rule_lookup(session: Session) -> Callable[[int], Rule | None]:
    """Saved segments' rules by ID (read once per call chain)."""
    cache: dict[int, Rule | None] = {}

    def lookup(segment_id: int) -> Rule | None:
        if segment_id not in cache:
            row = session.get(SavedSegment, segment_id)
            cache[segment_id] = parse_rule(row.definition) if row is not None else None
        return cache[segment_id]

    return lookup


def catalogue(context: AppContext, session: Session) -> Catalogue:
    from shopcrm.segments.job import shop_day

    return Catalogue(
        features=feature_fields(context),
        tags=frozenset(session.scalars(select(Tag.key))),
        segments=rule_lookup(session), clv=clv_store(context).latest() is not None,
        today=shop_day(context.clock.now(), context.settings.timezone))


def check_definition(context: AppContext, session: Session, data: Any, *,
                     segment_id: int | None = None) -> Rule:
    """Parse and check a rule for this shop; RuleError (with paths) when it is wrong."""
    return validate(data, catalogue(context, session), segment_id=segment_id)


@lru_cache(maxsize=16)
def _snapshot_columns(path: str, stamp: int, columns: tuple[str, ...]) -> pa.Table:
    return pq.read_table(path, columns=list(columns))


def read_snapshot(path: Path, columns: Any) -> pa.Table:
    """Columns of a snapshot file, kept in memory: snapshots are written once and never
    changed, and a live estimate reads the same few columns again at every edit (a
    million customers' columns take ~0.4 s to decode)."""
    wanted = tuple(dict.fromkeys(columns))
    return _snapshot_columns(str(path), path.stat().st_mtime_ns, wanted)


def _snapshot_reader(store: FeatureStore, run: Run | None
                     ) -> Callable[[Any], ir.Table] | None:
    if run is None:
        return None
    return lambda columns: ibis.memtable(read_snapshot(run.path, columns))


STAGING_FROM = 250_000
"""Customers from which an ``and`` is evaluated in stages (see
:meth:`shopcrm.segments.compiler._Compiler.stage`): below it, the extra queries cost more
(~0.1 s each) than narrowing saves."""


def staging_pays(customers: int) -> bool:
    return customers >= STAGING_FROM


def sources(context: AppContext, session: Session) -> Sources:
    store = feature_store(context)
    clv = clv_store(context)
    run = store.latest()
    customers = int((run.meta.get("customers") if run else 0) or 0)
    return Sources(
        facts=warehouse_facts(context.warehouse),
        features=_snapshot_reader(store, run),
        sets=StoreSets(context.sessions), as_of=context.clock.now(),
        timezone=context.settings.timezone,
        clv=_snapshot_reader(clv, clv.latest()), segments=rule_lookup(session),
        materialize=context.warehouse.execute_here if staging_pays(customers) else None)


def members_expr(context: AppContext, session: Session, rule: Rule) -> ir.Table:
    """Members of ``rule`` who are still active customers."""
    members = compile_members(rule, sources(context, session))
    gone = ids_table(session.scalars(select(Customer.id).where(Customer.status != "active")))
    if gone.num_rows:
        members = members.filter(~members.customer_id.isin(ibis.memtable(gone).customer_id))
    return members


def _member_ids(context: AppContext, session: Session, rule: Rule) -> list[int]:
    expr = members_expr(context, session, rule).order_by("customer_id")
    data = context.warehouse.execute_here(expr)
    return [int(i) for i in data.column("customer_id").to_pylist()]


def estimate(context: AppContext, session: Session, data: Any, *,
             segment_id: int | None = None) -> Estimate:
    """How many customers a (possibly unsaved) definition selects right now."""
    started = time.perf_counter()
    rule = check_definition(context, session, data, segment_id=segment_id)
    run = feature_store(context).latest()
    expr = members_expr(context, session, rule)
    size = int(context.warehouse.execute_here(expr.count()).as_py())
    universe = int((run.meta.get("customers") if run else 0) or 0)
    return Estimate(size=size, universe=universe, as_of=context.clock.now(),
                    features_run=run.run_id if run else None,
                    seconds=time.perf_counter() - started)


# --- saved segments -----------------------------------------------------------------

def list_segments(session: Session) -> list[SavedSegment]:
    return list(session.scalars(select(SavedSegment).order_by(SavedSegment.name)))


def get_segment(session: Session, segment_id: int) -> SavedSegment:
    row = session.get(SavedSegment, segment_id)
    if row is None:
        raise SegmentNotFound(f"segment {segment_id} does not exist")
    return row


def _name_taken(session: Session, name: str, other_than: int | None = None) -> bool:
    query = select(SavedSegment.id).where(SavedSegment.name == name)
    found = session.scalars(query).first()
    return found is not None and found != other_than


def create_segment(context: AppContext, session: Session, *, name: str, definition: Any,
                   description: str | None, actor: audit.Actor) -> SavedSegment:
    name = name.strip()
    if not name:
        raise SegmentError("a segment needs a name")
    if _name_taken(session, name):
        raise SegmentError(f"a segment named {name!r} exists already")
    rule = check_definition(context, session, definition)
    now = context.clock.now()
    row = SavedSegment(name=name, description=description, owner=actor.label[:100],
                       definition=dump_rule(rule), created_at=now, updated_at=now,
                       updated_by=actor.label[:100])
    session.add(row)
    session.flush()
    audit.record(session, actor, "segment.create", at=now, target_type="segment",
                 target_id=str(row.id), details={"name": name})
    return row


def update_segment(context: AppContext, session: Session, segment_id: int, *,
                   actor: audit.Actor, name: str | None = None, definition: Any = None,
                   description: str | None = None) -> SavedSegment:
    row = get_segment(session, segment_id)
    if name is not None:
        name = name.strip()
        if not name:
            raise SegmentError("a segment needs a name")
        if _name_taken(session, name, other_than=segment_id):
            raise SegmentError(f"a segment named {name!r} exists already")
        row.name = name
    if definition is not None:
        rule = check_definition(context, session, definition, segment_id=segment_id)
        row.definition = dump_rule(rule)
    if description is not None:
        row.description = description
    row.updated_at = context.clock.now()
    row.updated_by = actor.label[:100]
    audit.record(session, actor, "segment.update", at=row.updated_at, target_type="segment",
                 target_id=str(row.id), details={"name": row.name})
    return row


def delete_segment(context: AppContext, session: Session, segment_id: int, *,
                   actor: audit.Actor) -> None:
    """Delete a segment no other segment refers to; its snapshots stay (campaigns may
    point at them)."""
    row = get_segment(session, segment_id)
    users = [s.name for s in list_segments(session) if s.id != segment_id
             and segment_id in referenced_segments(parse_rule(s.definition))]
    users += [t.key for t in session.scalars(select(Tag).where(Tag.rule.is_not(None)))
              if t.rule and segment_id in referenced_segments(parse_rule(t.rule))]
    if users:
        raise SegmentError(f"segment {segment_id} is used by {', '.join(users)}")
    audit.record(session, actor, "segment.delete", at=context.clock.now(),
                 target_type="segment", target_id=str(segment_id), details={"name": row.name})
    session.delete(row)


def segment_members(context: AppContext, segment_id: int) -> list[int]:
    """The current members of saved segment ``segment_id``, ascending IDs.

    Raises SegmentNotFound, NoFeaturesYet (no features run yet) or RuleError (the
    definition no longer fits the shop, e.g. a tag it names was deleted).
    """
    with context.sessions() as session:
        row = get_segment(session, segment_id)
        rule = check_definition(context, session, row.definition, segment_id=segment_id)
        return _member_ids(context, session, rule)


def members_page(context: AppContext, session: Session, segment_id: int, *, page: int = 1,
                 size: int = 50) -> tuple[list[int], int]:
    """One page of members (ascending IDs) and how many there are."""
    row = get_segment(session, segment_id)
    rule = check_definition(context, session, row.definition, segment_id=segment_id)
    size = max(1, min(size, MAX_PAGE))
    expr = members_expr(context, session, rule)
    total = int(context.warehouse.execute_here(expr.count()).as_py())
    paged = expr.order_by("customer_id").limit(size, offset=(max(page, 1) - 1) * size)
    ids = [int(i) for i in context.warehouse.execute_here(paged).column("customer_id")
           .to_pylist()]
    return ids, total


def customer_rows(session: Session, context: AppContext, ids: list[int]) -> list[CustomerRow]:
    """Display rows (unmasked) for these customers, in the given order."""
    if not ids:
        return []
    customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    found: dict[int, set[str]] = {}
    for customer_id, source in session.execute(
            select(SourceIdentity.customer_id, SourceIdentity.source)
            .where(SourceIdentity.customer_id.in_(ids)).distinct()):
        if customer_id is not None:
            found.setdefault(customer_id, set()).add(source)
    figures = order_figures(context.warehouse, ids)
    rows = []
    for cid in ids:
        c = customers.get(cid)
        orders, spend, last = figures.get(cid, (0, Decimal(0), None))
        rows.append(CustomerRow(
            id=cid, name=c.name if c else None, phone=c.phone if c else None,
            email=c.email if c else None, province=c.province if c else None,
            city=c.city if c else None, sources=sorted(found.get(cid, set())), orders=orders,
            spend=spend, last_order=last, first_seen_at=c.first_seen_at if c else None))
    return rows


EXPORT_COLUMNS = ("id", "name", "phone", "email", "province", "city", "sources", "orders",
                  "spend", "last_order")


def export_csv(context: AppContext, segment_id: int, *, principal: Principal,
               actor: audit.Actor) -> tuple[str, Iterator[str]]:
    """The members as CSV lines (file name, lines), masked as ``principal`` may see them.

    The export is audited (``segment.export``, with the count and whether personal data
    was masked) before the first line is produced.
    """
    ids = segment_members(context, segment_id)
    with context.sessions.begin() as session:
        row = get_segment(session, segment_id)
        name = row.name
        audit.record(session, actor, "segment.export", at=context.clock.now(),
                     target_type="segment", target_id=str(segment_id),
                     details={"name": name, "customers": len(ids),
                              "masked": not principal.can(Permission.VIEW_PII)})

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        yield "\ufeff" + buffer.getvalue()
        for start in range(0, len(ids), EXPORT_CHUNK):
            buffer.seek(0)
            buffer.truncate()
            with context.sessions() as session:
                rows = customer_rows(session, context, ids[start:start + EXPORT_CHUNK])
            for r in rows:
                shown = present_row(r, principal)
                writer.writerow([shown.id, shown.name or "", shown.phone or "",
                                 shown.email or "", shown.province or "", shown.city or "",
                                 " ".join(shown.sources), shown.orders, shown.spend,
                                 shown.last_order.isoformat() if shown.last_order else ""])
            yield buffer.getvalue()

    return f"segment-{segment_id}.csv", lines()


# --- snapshots ------------------------------------------------------------------------

def _snapshot_root(context: AppContext) -> Path:
    return context.settings.facts_dir


def snapshot_members(context: AppContext, segment_id: int, *, reason: str,
                     actor: audit.Actor | None = None) -> tuple[int, list[int]]:
    """Freeze the current members of a segment: (snapshot ID, ascending member IDs).

    The member file is written (and fsynced) before the index row commits, so a
    committed snapshot always has its members.
    """
    who = actor or audit.SYSTEM
    ids = segment_members(context, segment_id)
    run = feature_store(context).latest()
    with context.sessions.begin() as session:
        row = get_segment(session, segment_id)
        snap = SegmentSnapshot(segment_id=segment_id, taken_at=context.clock.now(),
                               reason=reason[:200], actor=who.label[:100], size=len(ids),
                               file="", definition=row.definition,
                               features_run=run.run_id if run else None)
        session.add(snap)
        session.flush()
        relative = f"{SNAPSHOT_DIR}/{segment_id}/{snap.id}.parquet"
        _write_ids(_snapshot_root(context) / relative, ids)
        snap.file = relative
        audit.record(session, who, "segment.snapshot", at=snap.taken_at,
                     target_type="segment", target_id=str(segment_id),
                     details={"snapshot": snap.id, "customers": len(ids), "reason": reason})
        snapshot_id = int(snap.id)
    return snapshot_id, ids


def _write_ids(path: Path, ids: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.table({"customer_id": pa.array(ids, pa.int64())}), tmp,
                   compression="zstd")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def list_snapshots(session: Session, segment_id: int) -> list[SegmentSnapshot]:
    return list(session.scalars(select(SegmentSnapshot).where(
        SegmentSnapshot.segment_id == segment_id).order_by(SegmentSnapshot.id.desc())))


def get_snapshot(session: Session, snapshot_id: int) -> SegmentSnapshot:
    row = session.get(SegmentSnapshot, snapshot_id)
    if row is None:
        raise SnapshotNotFound(f"snapshot {snapshot_id} does not exist")
    return row


def snapshot_ids(context: AppContext, snapshot: SegmentSnapshot) -> pa.Array:
    """The member IDs of a snapshot (ascending)."""
    return pq.read_table(_snapshot_root(context) / snapshot.file).column("customer_id") \
        .combine_chunks()


def diff_snapshots(context: AppContext, session: Session, before_id: int,
                   after_id: int, *, limit: int | None = None) -> SnapshotDiff:
    """Who entered (in ``after`` only) and who left (in ``before`` only); ``limit`` caps
    the listed IDs (the counts are always complete)."""
    before = snapshot_ids(context, get_snapshot(session, before_id))
    after = snapshot_ids(context, get_snapshot(session, after_id))
    entered = pc.filter(after, pc.invert(pc.is_in(after, value_set=before)))
    left = pc.filter(before, pc.invert(pc.is_in(before, value_set=after)))
    cut = slice(0, limit)
    return SnapshotDiff(
        before=len(before), after=len(after),
        entered=[int(i) for i in entered.to_pylist()[cut]],
        left=[int(i) for i in left.to_pylist()[cut]],
        stayed=len(after) - len(entered))


def snapshot_counts(session: Session) -> dict[int, int]:
    """Snapshots per segment."""
    return {int(s): int(n) for s, n in session.execute(
        select(SegmentSnapshot.segment_id, func.count()).group_by(SegmentSnapshot.segment_id))}

