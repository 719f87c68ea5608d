"""Customer list and search."""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import RedirectResponse

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, require
from shopcrm.api.schemas import CustomerDetail, CustomerList, CustomerPublic
from shopcrm.customers.present import present_customer, present_row
from shopcrm.customers.profile import customer_profile
from shopcrm.customers.queries import SORTS, list_customers

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])



class CustomerSort(StrEnum):
    """The orders :data:`shopcrm.customers.queries.SORTS` knows."""

    LAST_SEEN_DESC = "-last_seen"
    LAST_SEEN = "last_seen"
    FIRST_SEEN_DESC = "-first_seen"
    FIRST_SEEN = "first_seen"
    NAME = "name"
    NAME_DESC = "-name"
    ID = "id"
    ID_DESC = "-id"


assert {s.value for s in CustomerSort} == set(SORTS)


@router.get("", response_model=CustomerList)
def customers(
    context: ContextDep,
    session: SessionDep,
    principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
    q: Annotated[str | None, Query(max_length=200, description="name, phone, e-mail, buyer ID")]
    = None,
    province: Annotated[str | None, Query(max_length=32, description="e.g. 浙江省")] = None,
    source: Annotated[str | None, Query(max_length=32, description="taobao, jd, pdd, …")]
    = None,
    sort: Annotated[CustomerSort, Query(description="a leading '-' sorts descending")]
    = CustomerSort.LAST_SEEN_DESC,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CustomerList:
    result = list_customers(session, context.warehouse, q=q, page=page, size=size,
                            sort=sort.value, province=province, source=source)
    return CustomerList(
        items=[CustomerPublic(**asdict(present_row(item, principal))) for item in result.items],
        total=result.total, page=result.page, size=result.size,
    )


@router.get("/{customer_id}", response_model=CustomerDetail,
            responses={307: {"description": "the customer was merged: see the survivor"},
                       404: {"description": "no such customer"}})
def customer(
    customer_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="unified customer ID")],
    context: ContextDep,
    session: SessionDep,
    principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
) -> CustomerDetail | RedirectResponse:
    profile = customer_profile(session, context.warehouse, customer_id)
    if profile is None:
        raise HTTPException(404, f"customer {customer_id} does not exist")
    if profile.status == "merged" and profile.merged_into:
        return RedirectResponse(f"/api/v1/customers/{profile.merged_into}", status_code=307)
    return CustomerDetail.model_validate(asdict(present_customer(profile, principal)))
