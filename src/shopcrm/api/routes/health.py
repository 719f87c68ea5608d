"""Liveness and readiness: answers without authentication (for load balancers)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from shopcrm.api.deps import ContextDep
from shopcrm.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(context: ContextDep) -> Health:
    with context.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return Health(status="ok", database=context.engine.dialect.name,
                  warehouse_batches=len(context.facts.signature()))
