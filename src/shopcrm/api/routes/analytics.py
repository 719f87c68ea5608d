"""Shop KPIs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.analytics.kpis import monthly_kpis
from shopcrm.api.deps import ContextDep, require
from shopcrm.api.schemas import MonthKpiPublic

router = APIRouter(prefix="/api/v1/kpis", tags=["analytics"])


@router.get("/monthly", response_model=list[MonthKpiPublic])
def kpis_by_month(
    context: ContextDep, _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]
) -> list[MonthKpiPublic]:
    return [
        MonthKpiPublic(month=k.month, orders=k.orders, buyers=k.buyers, new_buyers=k.new_buyers,
                       gmv=k.gmv, net_revenue=k.net_revenue, refunds=k.refunds, aov=k.aov)
        for k in monthly_kpis(context.warehouse)
    ]
