"""Customer analytics from the latest features run: RFM grid, distributions, lifecycle."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, require
from shopcrm.api.schemas import (
    DistributionPublic,
    FlowPublic,
    LifecyclePublic,
    RfmCellPublic,
    RfmGridPublic,
    SharePublic,
    StageRunPublic,
)
from shopcrm.segments import queries

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

_NOT_YET = "no features run yet: run `shopcrm compute` first"


@router.get("/rfm", response_model=RfmGridPublic)
def rfm_grid(context: ContextDep,
             _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> RfmGridPublic:
    """Buyers and net revenue per (R, F) cell of the latest run (R 5 = most recent)."""
    try:
        run, cells = queries.rfm_grid(context)
    except queries.NoFeaturesYet as exc:
        raise HTTPException(404, _NOT_YET) from exc
    return RfmGridPublic(run_id=run.run_id, as_of=run.as_of, cells=[
        RfmCellPublic(r=c.r, f=c.f, customers=c.customers, revenue=c.revenue,
                      segment=c.segment) for c in cells])


@router.get("/distribution", response_model=DistributionPublic)
def distribution(
    context: ContextDep, _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)],
    by: Annotated[Literal["stage", "tier", "quadrant", "rfm_cn", "rfm_en"],
                  Query(description="what to count customers by")] = "tier",
) -> DistributionPublic:
    """Customers and net revenue by lifecycle stage, value tier, quadrant or RFM class."""
    try:
        run, shares = queries.distribution(context, by)
    except queries.NoFeaturesYet as exc:
        raise HTTPException(404, _NOT_YET) from exc
    return DistributionPublic(run_id=run.run_id, as_of=run.as_of, by=by, shares=[
        SharePublic(name=s.name, customers=s.customers, revenue=s.revenue) for s in shares])


@router.get("/lifecycle", response_model=LifecyclePublic)
def lifecycle(context: ContextDep, session: SessionDep,
              _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> LifecyclePublic:
    """Stage distribution now, the moves of the latest run, and stage counts per run."""
    try:
        run, shares = queries.distribution(context, "stage")
    except queries.NoFeaturesYet as exc:
        raise HTTPException(404, _NOT_YET) from exc
    flows = queries.stage_flows(session, run_id=run.run_id)
    return LifecyclePublic(
        run_id=run.run_id, as_of=run.as_of,
        stages=[SharePublic(name=s.name, customers=s.customers, revenue=s.revenue)
                for s in shares],
        flows=[FlowPublic(from_stage=f.from_stage, to_stage=f.to_stage, customers=f.customers)
               for f in flows],
        history=[StageRunPublic(run_id=r.run_id, as_of=r.as_of, stages=stages)
                 for r, stages in queries.stage_history(context)])
