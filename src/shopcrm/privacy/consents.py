"""The consent history in the operational store: record, read, decide, sync from imports.

Rows are only ever inserted (see :class:`~shopcrm.store.models.Consent`); what a
customer allows *now* is computed from the history by the pure rules in
:mod:`shopcrm.privacy.rules`. Callers own the transaction: every function works on the
session it is given and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.privacy import ConsentRefused, CustomerNotFound
from shopcrm.privacy.rules import (
    Channel,
    ConsentChange,
    ConsentRecord,
    ContactDecision,
    Purpose,
    Status,
    consents_from_identity_attributes,
    current_consents,
    decide,
    erased_external_id,
    stricter_changes,
    validate_source,
)
from shopcrm.store.models import Consent, Customer, SourceIdentity

ERASED = "erased"
SHOPIFY_CONSENT_SOURCE = "import:shopify-customers"
_CHUNK = 500


def get_customer(session: Session, customer_id: int) -> Customer:
    """The customer row, or :class:`CustomerNotFound` (one place for the 404 rule)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


def to_record(row: Consent) -> ConsentRecord:
    """A stored row as the pure rules see it (the row ID breaks ties in time)."""
    return ConsentRecord(channel=Channel(row.channel), purpose=Purpose(row.purpose),
                         status=Status(row.status), at=row.at, source=row.source,
                         actor=row.actor, seq=row.id or 0)


def consent_history(session: Session, *, customer_id: int) -> list[Consent]:
    """Every consent change of the customer, oldest first."""
    get_customer(session, customer_id)
    return list(session.scalars(
        select(Consent).where(Consent.customer_id == customer_id)
        .order_by(Consent.at, Consent.id)))


def current_consent_rows(session: Session, *, customer_id: int, now: datetime) -> list[Consent]:
    """The newest row per (channel, purpose) in force at ``now``, ordered by key."""
    rows = consent_history(session, customer_id=customer_id)
    by_id = {row.id: row for row in rows}
    current = current_consents((to_record(r) for r in rows), now=now)
    return [by_id[current[key].seq] for key in sorted(current)]


def record_consent(
    session: Session,
    *,
    customer_id: int,
    channel: Channel,
    purpose: Purpose,
    status: Status,
    source: str,
    actor: audit.Actor,
    now: datetime,
) -> Consent:
    """Append one consent change; an erased customer can only be withdrawn from, never
    granted again (nothing identifies them any more, so no one can speak for them)."""
    customer = get_customer(session, customer_id)
    status = Status(status)
    if customer.status == ERASED and status is Status.GRANTED:
        raise ConsentRefused(f"customer {customer_id} was erased; consent cannot be granted")
    row = Consent(customer_id=customer_id, channel=Channel(channel).value,
                  purpose=Purpose(purpose).value, status=status.value,
                  source=validate_source(source), at=now, actor_id=actor.user_id,
                  actor=actor.label[:100])
    session.add(row)
    session.flush()
    return row


def contact_decision(
    session: Session, *, customer_id: int, channel: Channel, purpose: Purpose, now: datetime
) -> ContactDecision:
    """The pure :func:`~shopcrm.privacy.rules.decide` over one customer's stored history."""
    rows = consent_history(session, customer_id=customer_id)
    return decide([to_record(r) for r in rows], channel=channel, purpose=purpose, now=now)


def records_by_customer(
    session: Session, *, customer_ids: Iterable[int]
) -> dict[int, list[ConsentRecord]]:
    """Histories of many customers in a few queries — for audience filters, which then
    call the pure rules per customer without touching the store again."""
    ids = sorted(set(customer_ids))
    found: dict[int, list[ConsentRecord]] = {i: [] for i in ids}
    for start in range(0, len(ids), _CHUNK):
        for row in session.scalars(select(Consent).where(
                Consent.customer_id.in_(ids[start:start + _CHUNK]))):
            found[row.customer_id].append(to_record(row))
    return found


def erased_identity_keys(
    session: Session, *, source: str, external_ids: Iterable[str]
) -> set[str]:
    """Which of these keys of ``source`` belonged to someone who was erased.

    The identity keys an erasure leaves behind are ``erased:<sha256>``; hashing the
    incoming keys finds them. The consent sync uses it so an old export never grants
    marketing again; an importer can use it to flag a returning person.
    """
    hashed = {erased_external_id(key): key for key in external_ids}
    keys = sorted(hashed)
    matched: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        matched.update(hashed[k] for k in session.scalars(
            select(SourceIdentity.external_id).where(
                SourceIdentity.source == source,
                SourceIdentity.external_id.in_(keys[start:start + _CHUNK]))))
    return matched


def sync_identity_consents(
    session: Session,
    *,
    customer_id: int,
    now: datetime,
    actor: audit.Actor = audit.SYSTEM,
    identity_source: str = "shopify",
    consent_source: str = SHOPIFY_CONSENT_SOURCE,
) -> list[Consent]:
    """Turn the ``accepts_email`` / ``accepts_sms`` flags of the customer's identities
    into consent records; returns what was added (nothing on a second run).

    A record is added only when the flag differs from the last record *this source*
    wrote for that channel and purpose. So a withdrawal made later through the API or a
    reply is not undone by importing the same (older) export again, while a changed
    flag in a newer export is recorded. Several identities disagreeing: the stricter
    flag. Identities whose key was erased before never grant (see
    :func:`erased_identity_keys`).
    """
    customer = get_customer(session, customer_id)
    if customer.status == ERASED:
        return []
    identities = list(session.scalars(select(SourceIdentity).where(
        SourceIdentity.customer_id == customer_id, SourceIdentity.source == identity_source,
        SourceIdentity.attributes.is_not(None)).order_by(SourceIdentity.id)))
    erased = erased_identity_keys(session, source=identity_source,
                                  external_ids=[i.external_id for i in identities])
    stated: list[ConsentChange] = []
    for identity in identities:
        changes = consents_from_identity_attributes(identity.attributes)
        if identity.external_id in erased:
            changes = [c for c in changes if c.status is Status.WITHDRAWN]
        stated.extend(changes)
    history = [to_record(r) for r in consent_history(session, customer_id=customer_id)]
    last_from_source = current_consents(r for r in history if r.source == consent_source)
    added: list[Consent] = []
    for change in stricter_changes(stated):
        held = last_from_source.get((change.channel, change.purpose))
        if held is not None and held.status is change.status:
            continue
        added.append(record_consent(session, customer_id=customer_id, channel=change.channel,
                                    purpose=change.purpose, status=change.status,
                                    source=consent_source, actor=actor, now=now))
    return added
