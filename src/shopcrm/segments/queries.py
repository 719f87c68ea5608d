"""Read-side of the features snapshots: the RFM grid, distributions, flows, history.

Each function reads the latest run (or a given one) and answers plain dataclasses; the
API, the web page and the CLI format them. Aggregation runs as Ibis expressions on the
context's warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import ibis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.context import AppContext
from shopcrm.segments.models import LifecycleTransition
from shopcrm.segments.scoring import STAGES
from shopcrm.segments.service import feature_store
from shopcrm.segments.snapshots import Run

DISTRIBUTIONS = ("stage", "tier", "quadrant", "rfm_cn", "rfm_en")


class NoFeaturesYet(LookupError):
    """No features run exists yet (run ``shopcrm compute``)."""


@dataclass(frozen=True)
class GridCell:
    r: int
    f: int
    customers: int
    revenue: Decimal
    segment: str | None


@dataclass(frozen=True)
class Share:
    name: str
    customers: int
    revenue: Decimal


@dataclass(frozen=True)
class Flow:
    from_stage: str | None
    to_stage: str
    customers: int


def _run(context: AppContext, run_id: str | None) -> Run:
    store = feature_store(context)
    if run_id is not None:
        return store.get(run_id)
    run = store.latest()
    if run is None:
        raise NoFeaturesYet("no features run yet: run `shopcrm compute` first")
    return run


def rfm_grid(context: AppContext, *, run_id: str | None = None) -> tuple[Run, list[GridCell]]:
    """Buyers and net revenue per (R, F) cell, with the English segment of the cell."""
    run = _run(context, run_id)
    t = feature_store(context).table(run, ["r_score", "f_score", "monetary", "rfm_en"])
    t = t.filter(t.r_score.notnull())
    expr = t.group_by(["r_score", "f_score"]).aggregate(
        customers=t.count(), revenue=t.monetary.sum(), segment=t.rfm_en.max(),
    ).order_by(["r_score", "f_score"])
    rows = context.warehouse.execute(expr).to_pylist()
    return run, [GridCell(int(r["r_score"]), int(r["f_score"]), int(r["customers"]),
                          Decimal(r["revenue"] or 0), r["segment"]) for r in rows]


def distribution(context: AppContext, column: str, *,
                 run_id: str | None = None) -> tuple[Run, list[Share]]:
    """Customers and net revenue by stage, tier, quadrant or RFM class."""
    if column not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {column!r}; one of {', '.join(DISTRIBUTIONS)}")
    run = _run(context, run_id)
    t = feature_store(context).table(run, [column, "monetary"])
    t = t.filter(t[column].notnull())
    expr = t.group_by(column).aggregate(customers=t.count(),
                                        revenue=t.monetary.sum().fill_null(0))
    rows = context.warehouse.execute(expr.order_by(ibis.desc("customers"), column)).to_pylist()
    shares = [Share(str(r[column]), int(r["customers"]), Decimal(r["revenue"] or 0))
              for r in rows]
    if column == "stage":
        shares.sort(key=lambda s: STAGES.index(s.name) if s.name in STAGES else len(STAGES))
    return run, shares


def stage_history(context: AppContext) -> list[tuple[Run, dict[str, int]]]:
    """Stage counts of every run (kept in each run's metadata), oldest first."""
    return [(run, dict(run.meta.get("stages", {}))) for run in feature_store(context).runs()]


def stage_flows(session: Session, *, run_id: str) -> list[Flow]:
    """How many customers moved from which stage to which in one run."""
    rows = session.execute(
        select(LifecycleTransition.from_stage, LifecycleTransition.to_stage, func.count())
        .where(LifecycleTransition.run_id == run_id)
        .group_by(LifecycleTransition.from_stage, LifecycleTransition.to_stage))
    return sorted((Flow(a, b, int(n)) for a, b, n in rows), key=lambda f: -f.customers)


@dataclass(frozen=True)
class Overview:
    """What the segments page shows: the latest run's grid and distributions."""

    run: Run
    grid: list[GridCell]
    stages: list[Share]
    tiers: list[Share]
    rfm_cn: list[Share]


def overview(context: AppContext) -> Overview | None:
    """The latest run's figures, or None before the first run."""
    run = feature_store(context).latest()
    if run is None:
        return None
    _, grid = rfm_grid(context, run_id=run.run_id)
    _, stages = distribution(context, "stage", run_id=run.run_id)
    _, tiers = distribution(context, "tier", run_id=run.run_id)
    _, classes = distribution(context, "rfm_cn", run_id=run.run_id)
    tier_order = [t["name"] for t in run.meta.get("settings", {}).get("tiers", {}).get(
        "tiers", [])]
    tiers.sort(key=lambda s: tier_order.index(s.name) if s.name in tier_order else 99)
    return Overview(run=run, grid=grid, stages=stages, tiers=tiers, rfm_cn=classes)
