"""Registering, disabling and looking up contact points (the operational store side).

Registration is idempotent: the same (kind, app id, address) finds its row, which is
refreshed (``seen_at``) and re-activated when it had been disabled — an app that hands
in a token again proves it works. A device token registered for another customer moves
to the new one (a shared phone, a second account signed in on it: the token belongs to
the device). An openid registered for another customer is a conflict: an openid is one
person, so two customers holding it are one person — merge them instead.

Dispatch looks addresses up set-wise (:func:`active_addresses`, a few ``IN (…)``
queries per batch) and disables the ones providers reject as gone
(:func:`disable_addresses`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.contacts import ContactConflict, UnknownCustomer
from shopcrm.contacts.models import ContactPoint
from shopcrm.contacts.rules import Candidate, ContactInput, ContactKind, ContactStatus, newest
from shopcrm.store.models import Customer

_CHUNK = 2000
REASON_MAX = 300


@dataclass(frozen=True)
class Registered:
    contact: ContactPoint
    created: bool
    """False when the registration was already known (idempotent repeat)."""
    changed: bool
    """Whether anything was written (re-activated, moved, unionid learnt)."""


def live_customer(session: Session, customer_id: int) -> Customer:
    """The customer, or :class:`UnknownCustomer` (erased and merged ones too: their
    contact points belong to nobody / to the survivor)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise UnknownCustomer(f"customer {customer_id} does not exist")
    if customer.status == "erased":
        raise UnknownCustomer(f"customer {customer_id} was erased")
    if customer.status == "merged":
        raise UnknownCustomer(f"customer {customer_id} was merged into "
                              f"{customer.merged_into}: register with that ID")
    return customer


def find(session: Session, item: ContactInput) -> ContactPoint | None:
    found: ContactPoint | None = session.scalar(select(ContactPoint).where(
        ContactPoint.kind == item.kind.value, ContactPoint.app_id == item.app_id,
        ContactPoint.address == item.address))
    return found


def register(session: Session, *, customer_id: int, item: ContactInput, source: str,
             now: datetime, actor: audit.Actor, audit_each: bool = True) -> Registered:
    """Add or refresh one contact point (caller commits); changes are audited one by
    one unless the caller audits the whole batch (the CSV import)."""
    live_customer(session, customer_id)
    row = find(session, item)
    if row is None:
        row = ContactPoint(customer_id=customer_id, kind=item.kind.value, app_id=item.app_id,
                           address=item.address,
                           platform=item.platform.value if item.platform else None,
                           unionid=item.unionid, status=ContactStatus.ACTIVE.value,
                           source=source[:32], created_at=now, seen_at=now)
        session.add(row)
        session.flush()
        if audit_each:
            _audit(session, actor, "contact.register", row, now, {"source": source})
        return Registered(row, created=True, changed=True)
    changes: dict[str, object] = {}
    if row.customer_id != customer_id:
        if item.kind is ContactKind.WECHAT:
            raise ContactConflict(
                f"openid {item.address} of app {item.app_id} belongs to customer "
                f"{row.customer_id}: one openid is one person — merge the two customers")
        changes["moved_from"] = row.customer_id
        row.customer_id = customer_id
    if row.status != ContactStatus.ACTIVE.value:
        changes["reactivated"] = row.disabled_reason
        row.status, row.disabled_reason, row.disabled_at = ContactStatus.ACTIVE.value, None, None
    platform = item.platform.value if item.platform else None
    if platform != row.platform:
        changes["platform"] = platform
        row.platform = platform
    if item.unionid and item.unionid != row.unionid:
        changes["unionid"] = True
        row.unionid = item.unionid
    row.seen_at = max(row.seen_at, now)
    if changes and audit_each:
        _audit(session, actor, "contact.update", row, now, changes)
    session.flush()
    return Registered(row, created=False, changed=bool(changes))


def disable(session: Session, *, customer_id: int, contact_id: int, reason: str,
            now: datetime, actor: audit.Actor) -> ContactPoint:
    """The site says the address no longer works (signed out, unfollowed)."""
    row = session.get(ContactPoint, contact_id)
    if row is None or row.customer_id != customer_id:
        raise UnknownCustomer(f"customer {customer_id} has no contact point {contact_id}")
    if row.status == ContactStatus.ACTIVE.value:
        row.status, row.disabled_at = ContactStatus.DISABLED.value, now
        row.disabled_reason = reason.strip()[:REASON_MAX] or "disabled by the site"
        _audit(session, actor, "contact.disable", row, now, {"reason": row.disabled_reason})
    return row


def contacts_of(session: Session, customer_id: int) -> list[ContactPoint]:
    return list(session.scalars(select(ContactPoint).where(
        ContactPoint.customer_id == customer_id).order_by(ContactPoint.id)))


def _active_candidates(session: Session, customer_ids: Sequence[int], *, kind: str,
                       app_id: str | None) -> list[Candidate]:
    """Every active address of ``kind`` these customers have (within ``app_id`` when one
    is configured, else of any app)."""
    ids = sorted(set(customer_ids))
    c = ContactPoint.__table__.c
    query = select(c.customer_id, c.address, c.seen_at, c.id).where(
        c.customer_id.in_(bindparam("ids", expanding=True)), c.kind == kind,
        c.status == ContactStatus.ACTIVE.value)
    if app_id is not None:
        query = query.where(c.app_id == app_id)
    found: list[Candidate] = []
    for start in range(0, len(ids), _CHUNK):
        for cid, address, seen, ident in session.execute(query,
                                                         {"ids": ids[start:start + _CHUNK]}):
            found.append(Candidate(int(cid), str(address), seen, int(ident)))
    return found


def active_addresses(session: Session, customer_ids: Sequence[int], *, kind: str,
                     app_id: str | None) -> dict[int, str]:
    """Each customer's address for ``kind`` (the newest active one, see
    :func:`~shopcrm.contacts.rules.newest`), within ``app_id`` when one is configured,
    else of any app. Customers without one are absent."""
    return newest(_active_candidates(session, customer_ids, kind=kind, app_id=app_id))


def with_another_address(session: Session, gone: Sequence[tuple[int, str]], *, kind: str,
                         app_id: str | None) -> set[int]:
    """The customers among these (customer, dead address) pairs who have another active
    address of ``kind`` (within ``app_id`` when configured): their message can still
    reach them on it."""
    if not gone:
        return set()
    dead = set(gone)
    candidates = _active_candidates(session, [customer for customer, _ in gone], kind=kind,
                                    app_id=app_id)
    return {c.customer_id for c in candidates if (c.customer_id, c.address) not in dead}


def disable_addresses(session: Session, *, kind: str, app_id: str | None,
                      gone: Sequence[tuple[str, str]], now: datetime) -> int:
    """Disable the addresses a provider answered are gone — (address, reason) pairs —
    so later sends skip them with a reason instead of failing again. Returns how many
    rows changed (an address already disabled changes nothing)."""
    if not gone:
        return 0
    c = ContactPoint.__table__.c
    statement = update(ContactPoint).where(
        c.kind == kind, c.address == bindparam("b_address"),
        c.status == ContactStatus.ACTIVE.value).values(
        status=ContactStatus.DISABLED.value, disabled_at=now,
        disabled_reason=bindparam("b_reason"))
    if app_id is not None:
        statement = statement.where(c.app_id == app_id)
    changed = 0
    for address, reason in gone:
        done = session.execute(statement.execution_options(synchronize_session=False),
                               {"b_address": address, "b_reason": reason[:REASON_MAX]})
        changed += int(getattr(done, "rowcount", 0) or 0)
    return changed


def _audit(session: Session, actor: audit.Actor, action: str, row: ContactPoint,
           now: datetime, details: dict[str, object]) -> None:
    audit.record(session, actor, action, at=now, target_type="customer",
                 target_id=str(row.customer_id),
                 details={"contact_id": row.id, "kind": row.kind, "app_id": row.app_id,
                          **details})
