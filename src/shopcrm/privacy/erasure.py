"""Erasure (GDPR art. 17, PIPL art. 47): remove one customer's personal data.

Personal data lives only in the operational store, so erasure is a row-store
operation: the customer row and its source identities lose every personal column, the
identity keys become ``erased:<sha256>`` pseudonyms, the consent history stays (it
proves the withdrawal) and gains a withdrawal of everything; WeChat openids, device
tokens and in-site inbox messages are deleted (``contacts.privacy``). Facts in the warehouse
are not rewritten: they carry only the pseudonymous customer ID, so the shop's figures
(order counts, revenue) stay true. A reason is mandatory and the erasure is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, null, select, update
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.contacts.privacy import erase_parts
from shopcrm.identity.models import IdentityKey
from shopcrm.privacy import ErasureRefused
from shopcrm.privacy.consents import (
    ERASED,
    consent_history,
    get_customer,
    record_consent,
    to_record,
)
from shopcrm.privacy.export import CUSTOMER_TARGET
from shopcrm.privacy.rules import (
    ERASURE_SOURCE,
    Channel,
    Purpose,
    Status,
    current_consents,
    erased_external_id,
)
from shopcrm.store.models import AuditEntry, Customer, SourceIdentity

CUSTOMER_PII_COLUMNS: tuple[str, ...] = ("name", "phone", "email", "gender", "birthday")
"""Set to NULL on the customer row. Province, city and district stay: the facts hold
them per order anyway and they identify no one."""
IDENTITY_PII_COLUMNS: tuple[str, ...] = (
    "name", "phone", "phone_masked", "email", "address_detail", "postcode", "attributes")
"""Set to NULL on every source identity of the customer (``attributes`` holds the
platform customer ID and tags); ``external_id`` is replaced by its hash."""
MAX_REASON = 500


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure did; ``erased`` is False when the customer was erased before."""

    customer_id: int
    erased: bool
    message: str
    identities: int = 0
    consents_withdrawn: int = 0
    erased_at: datetime | None = None
    identity_ids: tuple[int, ...] = ()
    """The erased source identities (the caller drops them from derived files such as
    the identity matcher's cache)."""


def erase_customer(
    session: Session, *, customer_id: int, reason: str, actor: audit.Actor, now: datetime
) -> ErasureResult:
    """Erase the customer's personal data and audit ``privacy.erase`` (caller commits).

    Erasing an erased customer changes nothing and says so (the attempt is still
    audited, with outcome ``noop``, because a repeated request is worth knowing about).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ErasureRefused("a reason is required to erase a customer (for example the "
                             "data subject's request reference)")
    if len(reason) > MAX_REASON:
        raise ErasureRefused(f"the reason is longer than {MAX_REASON} characters")
    customer = get_customer(session, customer_id)
    if customer.status == ERASED:
        return _already_erased(session, customer_id=customer_id, reason=reason, actor=actor,
                               now=now)
    identity_ids = _erase_identities(session, customer_id=customer_id, now=now)
    session.execute(update(Customer).where(Customer.id == customer_id).values(
        status=ERASED, updated_at=now, **_nulls(CUSTOMER_PII_COLUMNS))
        .execution_options(synchronize_session=False))
    session.expire(customer)
    withdrawn = _withdraw_everything(session, customer_id=customer_id, actor=actor, now=now)
    tickets = erase_ticket_texts(session, customer_id=customer_id)
    contacts = erase_parts(session, customer_id)
    audit.record(session, actor, "privacy.erase", at=now, target_type=CUSTOMER_TARGET,
                 target_id=str(customer_id),
                 details={"reason": reason, "identities": len(identity_ids),
                          "consents_withdrawn": withdrawn, "tickets": tickets, **contacts})
    return ErasureResult(
        customer_id=customer_id, erased=True, identities=len(identity_ids),
        consents_withdrawn=withdrawn, erased_at=now, identity_ids=tuple(identity_ids),
        message=f"customer {customer_id} erased: {len(identity_ids)} source identities "
                f"cleared, {withdrawn} consents withdrawn; orders and events are kept "
                "under the pseudonymous customer ID")


def erase_ticket_texts(session: Session, *, customer_id: int) -> int:
    """Service conversations are free text (addresses, phones typed into a chat): their
    subjects, contacts and messages go; kinds, states and times stay, so the desk's
    figures survive. Returns the number of tickets cleared."""
    from shopcrm.tickets.models import Ticket, TicketEvent

    ids = list(session.scalars(select(Ticket.id).where(Ticket.customer_id == customer_id)))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.execute(update(Ticket).where(Ticket.id.in_(chunk))
                        .values(subject="—", contact=None)
                        .execution_options(synchronize_session=False))
        session.execute(update(TicketEvent).where(TicketEvent.ticket_id.in_(chunk))
                        .values(body=None).execution_options(synchronize_session=False))
    return len(ids)


def _nulls(columns: tuple[str, ...]) -> dict[str, Any]:
    # SQL NULL, not JSON 'null': the JSON column would otherwise store the text "null".
    return {column: null() for column in columns}


def _erase_identities(session: Session, *, customer_id: int, now: datetime) -> list[int]:
    rows = session.execute(select(SourceIdentity.id, SourceIdentity.external_id).where(
        SourceIdentity.customer_id == customer_id).order_by(SourceIdentity.id)).all()
    for identity_id, external_id in rows:
        session.execute(update(SourceIdentity).where(SourceIdentity.id == identity_id).values(
            external_id=erased_external_id(external_id), updated_at=now,
            **_nulls(IDENTITY_PII_COLUMNS)).execution_options(synchronize_session=False))
    for identity in session.identity_map.values():
        if isinstance(identity, SourceIdentity) and identity.customer_id == customer_id:
            session.expire(identity)
    erased = [identity_id for identity_id, _ in rows]
    # Every phone, e-mail and device the records were seen with is personal data too.
    for start in range(0, len(erased), 500):
        session.execute(delete(IdentityKey).where(
            IdentityKey.identity_id.in_(erased[start:start + 500])))
    return erased


def _withdraw_everything(
    session: Session, *, customer_id: int, actor: audit.Actor, now: datetime
) -> int:
    """Withdraw every purpose on ``any`` channel (which covers all channels), plus each
    channel-specific grant still current, so the history reads unambiguously."""
    current = current_consents(to_record(r) for r in consent_history(
        session, customer_id=customer_id))
    keys = {(Channel.ANY, purpose) for purpose in Purpose}
    keys |= {key for key, record in current.items() if record.status is Status.GRANTED}
    for channel, purpose in sorted(keys):
        record_consent(session, customer_id=customer_id, channel=channel, purpose=purpose,
                       status=Status.WITHDRAWN, source=ERASURE_SOURCE, actor=actor, now=now)
    return len(keys)


def _already_erased(
    session: Session, *, customer_id: int, reason: str, actor: audit.Actor, now: datetime
) -> ErasureResult:
    first = session.scalar(select(AuditEntry).where(
        AuditEntry.action == "privacy.erase", AuditEntry.outcome == "ok",
        AuditEntry.target_type == CUSTOMER_TARGET, AuditEntry.target_id == str(customer_id))
        .order_by(AuditEntry.id).limit(1))
    when = f" on {first.at:%Y-%m-%d %H:%M} UTC by {first.actor}" if first else ""
    audit.record(session, actor, "privacy.erase", at=now, outcome="noop",
                 target_type=CUSTOMER_TARGET, target_id=str(customer_id),
                 details={"reason": reason, "message": "already erased"})
    return ErasureResult(customer_id=customer_id, erased=False,
                         erased_at=first.at if first else None,
                         message=f"customer {customer_id} was already erased{when}; "
                                 "nothing was changed")
