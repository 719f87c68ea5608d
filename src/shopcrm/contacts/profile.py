"""Contact points on the customer profile (the 360° page and ``GET /api/v1/customers/{id}``).

A service agent asked "why did she get no WeChat message?" needs to see which openids and
device tokens the customer has, for which app, and which were disabled and why — the
skip reason a campaign recorded names exactly these. Registered as the profile's
``contacts`` slot when ``store.schema`` is imported; its mask, applied by
:func:`shopcrm.customers.present.present_customer`, hides the addresses from roles
without ``view_pii``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shopcrm.contacts.rules import mask_contact
from shopcrm.contacts.service import contacts_of
from shopcrm.customers.profile import register_slot


def profile_contacts(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """Active contact points first (newest registration first), then disabled ones."""
    rows = sorted(contacts_of(session, customer_id),
                  key=lambda r: (r.status != "active", -r.seen_at.timestamp(), r.id))
    return [{"id": r.id, "kind": r.kind, "app_id": r.app_id, "platform": r.platform,
             "address": r.address, "status": r.status, "disabled_reason": r.disabled_reason,
             "disabled_at": r.disabled_at, "seen_at": r.seen_at} for r in rows]


def masked_contacts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The slot as callers without ``view_pii`` see it: addresses masked."""
    return [{**item, "address": mask_contact(str(item["address"]))} for item in items]


register_slot("contacts", profile_contacts, mask=masked_contacts)
