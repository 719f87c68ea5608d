"""Running the features job: compute, snapshot, record lifecycle transitions, summarise.

``compute_features(context)`` is what ``shopcrm compute`` runs, and what the importer (or
a scheduler) calls after an import: ``compute_features(context, reason="import:<id>")``.
It reads the current facts, evaluates the job expression on the context's warehouse,
writes the snapshot, records transitions (in one store transaction, before the snapshot
is published, so a crash at worst records a move twice, never loses one) and returns a
summary. The first run of a shop is the baseline: it records no transitions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from shopcrm.context import AppContext
from shopcrm.segments.job import features_table, warehouse_facts
from shopcrm.segments.models import LifecycleTransition
from shopcrm.segments.settings import SegmentSettings, load_settings
from shopcrm.segments.snapshots import FEATURES_DIR, FeatureStore, Run, new_run_id, transitions

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComputeResult:
    run_id: str
    as_of: datetime
    customers: int
    buyers: int
    transitions: int
    seconds: float
    stages: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)
    rfm_cn: dict[str, int] = field(default_factory=dict)
    rfm_en: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    """Members per tag computed after the snapshot (tags scheduled ``on_compute`` or due
    ``daily``); a tag that failed is left out (and logged)."""


def feature_store(context: AppContext) -> FeatureStore:
    return FeatureStore(context.settings.facts_dir / FEATURES_DIR)


def _counts(data: pa.Table, column: str) -> dict[str, int]:
    counted = pc.value_counts(data[column]).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in counted if c["values"] is not None}


def compute_features(context: AppContext, *, settings: SegmentSettings | None = None,
                     reason: str = "manual", progress: Progress | None = None) -> ComputeResult:
    """Compute every customer's features at ``context.clock.now()`` and keep the snapshot."""
    say = progress or (lambda _message: None)
    settings = settings or load_settings(context.settings.home)
    store = feature_store(context)
    with store.run_lock():
        return _compute(context, store, settings, reason, say)


def _compute(context: AppContext, store: FeatureStore, settings: SegmentSettings,
             reason: str, say: Progress) -> ComputeResult:
    started = time.perf_counter()
    as_of = context.clock.now()
    say("computing features")
    expr = features_table(warehouse_facts(context.warehouse), settings, as_of=as_of,
                          timezone=context.settings.timezone)
    data: pa.Table = context.warehouse.execute(expr)
    previous = store.latest()
    run_id = new_run_id(as_of)
    moves: list[dict[str, Any]] = []
    if previous is not None:
        say("finding lifecycle transitions")
        moved = transitions(store.table(previous, ["customer_id", "stage"]),
                            _memtable(data, ["customer_id", "stage"]))
        moves = context.warehouse.execute(moved).to_pylist()
    say("recording transitions")
    with context.sessions.begin() as session:
        record_transitions(session, run_id=run_id, at=as_of, moves=moves)
    say("writing snapshot")
    buyers = int(pc.sum(pc.greater(data["frequency"], 0)).as_py() or 0)
    stages, tiers = _counts(data, "stage"), _counts(data, "tier")
    meta = {"as_of": as_of.isoformat(), "reason": reason, "customers": data.num_rows,
            "buyers": buyers, "transitions": len(moves), "stages": stages, "tiers": tiers,
            "settings": settings.model_dump(mode="json")}
    store.write(run_id, data, meta)
    say("computing tags")
    from shopcrm.segments.tags import compute_tags

    tags = {o.key: o.members for o in compute_tags(context, trigger="compute")
            if o.error is None}
    return ComputeResult(
        run_id=run_id, as_of=as_of, customers=data.num_rows, buyers=buyers,
        transitions=len(moves), seconds=time.perf_counter() - started,
        stages=stages, tiers=tiers,
        rfm_cn=_counts(data, "rfm_cn"), rfm_en=_counts(data, "rfm_en"), tags=tags)


def _memtable(data: pa.Table, columns: list[str]) -> ir.Table:
    import ibis

    return ibis.memtable(data.select(columns))


def record_transitions(session: Session, *, run_id: str, at: datetime,
                       moves: list[dict[str, Any]]) -> int:
    """Append one row per move (``customer_id``, ``from_stage``, ``to_stage``)."""
    if not moves:
        return 0
    rows = [{"run_id": run_id, "customer_id": int(m["customer_id"]),
             "from_stage": m["from_stage"], "to_stage": m["to_stage"], "at": at} for m in moves]
    session.execute(insert(LifecycleTransition), rows)
    return len(rows)


def transitions_after(session: Session, *, after_id: int = 0,
                      limit: int = 1000) -> list[LifecycleTransition]:
    """Transitions with an ID above ``after_id``, oldest first (how journeys poll)."""
    return list(session.scalars(
        select(LifecycleTransition).where(LifecycleTransition.id > after_id)
        .order_by(LifecycleTransition.id).limit(limit)))


def customer_transitions(session: Session, *, customer_id: int) -> list[LifecycleTransition]:
    return list(session.scalars(
        select(LifecycleTransition).where(LifecycleTransition.customer_id == customer_id)
        .order_by(LifecycleTransition.id)))


def latest_run(context: AppContext) -> Run | None:
    return feature_store(context).latest()
