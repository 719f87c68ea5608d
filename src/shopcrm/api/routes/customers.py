"""Customer list and search."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, require
from shopcrm.api.schemas import CustomerList, CustomerPublic
from shopcrm.customers.present import present_row
from shopcrm.customers.queries import list_customers

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("", response_model=CustomerList)
def customers(
    context: ContextDep,
    session: SessionDep,
    principal: Annotated[Principal, require(Permission.VIEW_CUSTOMERS)],
    q: Annotated[str | None, Query(max_length=200, description="name, phone, e-mail, buyer ID")]
    = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CustomerList:
    result = list_customers(session, context.warehouse, q=q, page=page, size=size)
    return CustomerList(
        items=[CustomerPublic(**asdict(present_row(item, principal))) for item in result.items],
        total=result.total, page=result.page, size=result.size,
    )
