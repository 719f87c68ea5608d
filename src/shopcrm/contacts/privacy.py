"""The contact capability's part of a data-subject export and of an erasure.

Openids, device tokens and inbox messages are personal data: the export lists them
all (disabled ones too, with why), erasure deletes them — an openid or a token kept
after erasure would still reach the person — together with the merge bookkeeping
that names them. Deliveries keep their accounting (status, times), not the text.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from shopcrm.contacts.models import ContactMove, ContactPoint, InboxMessage


def export_parts(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    from shopcrm.privacy.export import row_dict

    contacts = session.scalars(select(ContactPoint).where(
        ContactPoint.customer_id == customer_id).order_by(ContactPoint.id))
    inbox = session.scalars(select(InboxMessage).where(
        InboxMessage.customer_id == customer_id).order_by(InboxMessage.id))
    return {"contact_points": [row_dict(c) for c in contacts],
            "inbox_messages": [row_dict(m) for m in inbox]}


def erase_parts(session: Session, customer_id: int) -> dict[str, int]:
    """Delete the customer's contact points and inbox messages; their counts."""
    contact_ids = list(session.scalars(select(ContactPoint.id).where(
        ContactPoint.customer_id == customer_id)))
    inbox_ids = list(session.scalars(select(InboxMessage.id).where(
        InboxMessage.customer_id == customer_id)))
    for kind, ids in (("contact", contact_ids), ("inbox", inbox_ids)):
        for start in range(0, len(ids), 500):
            session.execute(delete(ContactMove).where(
                ContactMove.kind == kind, ContactMove.row_id.in_(ids[start:start + 500])))
    session.execute(delete(ContactMove).where(or_(
        and_(ContactMove.from_customer_id == customer_id, ContactMove.undone_at.is_not(None)),
        and_(ContactMove.to_customer_id == customer_id,
             ContactMove.undone_at.is_not(None)))))
    session.execute(delete(ContactPoint).where(ContactPoint.customer_id == customer_id)
                    .execution_options(synchronize_session=False))
    session.execute(delete(InboxMessage).where(InboxMessage.customer_id == customer_id)
                    .execution_options(synchronize_session=False))
    return {"contact_points": len(contact_ids), "inbox_messages": len(inbox_ids)}
