"""Operational records of the segments capability: lifecycle transitions.

A transition is written when a features run finds a customer in another lifecycle stage
than the previous run did (or for the first time). Journeys poll this table by ``id``
("everything after the last id I handled") to trigger on "became sleeping" and the
like, so rows are append-only and never updated.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shopcrm.store.models import Base, BigId


class LifecycleTransition(Base):
    """Customer ``customer_id`` moved from ``from_stage`` to ``to_stage`` in run ``run_id``.

    No foreign key to ``customers``: the IDs come from the facts (a unified customer may
    later be merged away), and a transition is history, kept as it was seen.
    """

    __tablename__ = "lifecycle_transitions"
    __table_args__ = (
        Index("ix_lifecycle_transitions_customer", "customer_id", "at"),
        Index("ix_lifecycle_transitions_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
