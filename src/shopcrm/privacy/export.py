"""Data-subject export (GDPR art. 15 / 20, PIPL art. 45): everything held about one
customer as one JSON-ready document.

Personal data comes from the operational store (customer row, source identities), the
consent history and the audit entries about the customer; their orders, order lines and
events come from the warehouse, filtered by the pseudonymous customer ID through Ibis.
The document is unmasked — only holders of ``manage_privacy`` may ask for it — and every
export is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.contacts.privacy import export_parts
from shopcrm.identity.models import IdentityKey
from shopcrm.privacy.consents import consent_history, get_customer
from shopcrm.store.models import AuditEntry, Base, ImportBatch, SourceIdentity
from shopcrm.warehouse.engine import Warehouse

EXPORT_FORMAT = "shopcrm.data-subject-export/1"
CUSTOMER_TARGET = "customer"
"""``audit_log.target_type`` of entries about a customer (their ``target_id`` is the ID)."""

WAREHOUSE_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("orders", ("created_at", "source", "order_id")),
    ("order_items", ("day", "source", "order_id", "line_no")),
    ("events", ("occurred_at", "source", "event_id")),
)
"""Fact tables exported, with the columns that order their rows (stable documents)."""

_INTERNAL_COLUMNS = frozenset({"row_hash"})


def export_customer(
    session: Session,
    *,
    warehouse: Warehouse,
    customer_id: int,
    actor: audit.Actor,
    now: datetime,
) -> dict[str, Any]:
    """The export document; records ``privacy.export`` in the audit log (caller commits).

    The audit entry of this export is written after the document is built, so it shows
    up in the *next* export, not in this one.
    """
    customer = get_customer(session, customer_id)
    identities = list(session.scalars(select(SourceIdentity).where(
        SourceIdentity.customer_id == customer_id).order_by(SourceIdentity.id)))
    consents = consent_history(session, customer_id=customer_id)
    entries = list(session.scalars(select(AuditEntry).where(
        AuditEntry.target_type == CUSTOMER_TARGET, AuditEntry.target_id == str(customer_id))
        .order_by(AuditEntry.id)))
    facts = {name: warehouse_rows(warehouse, name, customer_id=customer_id, order_by=order)
             for name, order in WAREHOUSE_TABLES}
    batch_ids = {i.first_batch_id for i in identities} | {i.last_batch_id for i in identities}
    batch_ids |= {row.get("batch_id") for rows in facts.values() for row in rows}
    batches = list(session.scalars(select(ImportBatch).where(
        ImportBatch.id.in_(sorted(b for b in batch_ids if b is not None)))
        .order_by(ImportBatch.id)))
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "customer_id": customer_id,
        "generated_at": jsonable(now),
        "customer": row_dict(customer),
        "source_identities": [row_dict(i) for i in identities],
        "identity_keys": [row_dict(k) for k in session.scalars(
            select(IdentityKey).where(IdentityKey.identity_id.in_([i.id for i in identities]))
            .order_by(IdentityKey.id))],
        "consents": [row_dict(c) for c in consents],
        "tickets": ticket_documents(session, customer_id),
        **export_parts(session, customer_id),
        "audit": [row_dict(e) for e in entries],
        **{name: [jsonable_mapping(r) for r in rows] for name, rows in facts.items()},
        "imports": [{"id": b.id, "format": b.format, "file_name": b.file_name,
                     "finished_at": jsonable(b.finished_at)} for b in batches],
    }
    audit.record(session, actor, "privacy.export", at=now, target_type=CUSTOMER_TARGET,
                 target_id=str(customer_id),
                 details={"identities": len(identities), "consents": len(consents),
                          **{name: len(rows) for name, rows in facts.items()}})
    return document


def ticket_documents(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """The customer's service tickets, each with its conversation."""
    from shopcrm.tickets.models import Ticket, TicketEvent

    tickets = list(session.scalars(select(Ticket).where(Ticket.customer_id == customer_id)
                                   .order_by(Ticket.id)))
    events: dict[int, list[dict[str, Any]]] = {t.id: [] for t in tickets}
    for event in session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id.in_(list(events))).order_by(TicketEvent.id)):
        events[event.ticket_id].append(row_dict(event))
    return [{**row_dict(t), "events": events[t.id]} for t in tickets]


def warehouse_rows(
    warehouse: Warehouse, table: str, *, customer_id: int, order_by: Iterable[str]
) -> list[dict[str, Any]]:
    """Current rows of one fact table for one customer (an Ibis filter, bound value)."""
    facts = warehouse.table(table)
    mine = facts.filter(facts.customer_id == customer_id)
    keep = [c for c in mine.columns if c not in _INTERNAL_COLUMNS]
    rows: list[dict[str, Any]] = warehouse.execute(
        mine.select(*keep).order_by(list(order_by))).to_pylist()
    return rows


def row_dict(row: Base) -> dict[str, Any]:
    """Every mapped column of an ORM row, as JSON-ready values."""
    return {attr.key: jsonable(getattr(row, attr.key))
            for attr in inspect(row).mapper.column_attrs}


def jsonable_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: jsonable(value) for key, value in values.items()}


def jsonable(value: Any) -> Any:
    """Decimals as strings (exact money), times as ISO 8601 in UTC, containers deeply."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return jsonable_mapping(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
