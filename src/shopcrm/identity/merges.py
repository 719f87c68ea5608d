"""What people decide: merge two customers, undo a merge, settle a review.

Every decision is a link in the graph (``manual`` joins, ``never`` keeps apart) and
the components around it are recomputed, so a person's decision and the automatic
rules can never fight: the resolver honours the links on every later run. Every
decision is audited and leaves an ``identity_merges`` event with who, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.identity.models import IdentityLink, IdentityMerge, MatchReview
from shopcrm.identity.resolve import resolve_around
from shopcrm.identity.rules import VERIFIED_KINDS, is_verified
from shopcrm.store.models import Customer, SourceIdentity


class MergeError(Exception):
    """A merge decision that cannot be carried out (the message says why)."""


class NotFound(MergeError):
    pass


class Conflict(MergeError):
    pass


@dataclass(frozen=True)
class MergeOutcome:
    customer_id: int
    events: list[IdentityMerge]


def _active(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if customer.status == "merged":
        raise Conflict(f"customer {customer_id} is merged into {customer.merged_into}; "
                       f"use that customer")
    if customer.status == "erased":
        raise Conflict(f"customer {customer_id} was erased")
    return customer


def _verified_sources(session: Session, customer_id: int) -> dict[str, str]:
    rows = session.execute(select(SourceIdentity.source, SourceIdentity.external_id,
                                  SourceIdentity.kind).where(
        SourceIdentity.customer_id == customer_id,
        SourceIdentity.kind.in_(sorted(VERIFIED_KINDS)))).all()
    return {source: external for source, external, kind in rows
            if is_verified(kind, external)}


def _link(session: Session, a: int, b: int, kind: str, *, now: datetime, actor: audit.Actor,
          evidence: dict[str, object] | None = None) -> None:
    low, high = min(a, b), max(a, b)
    opposite = "never" if kind == "manual" else "manual"
    session.execute(delete(IdentityLink).where(
        IdentityLink.identity_a == low, IdentityLink.identity_b == high,
        IdentityLink.kind.in_((opposite, kind))))
    session.add(IdentityLink(identity_a=low, identity_b=high, kind=kind, evidence=evidence,
                             created_at=now, created_by=actor.label[:100]))
    session.flush()


def merge_customers(session: Session, *, customer_id: int, other_id: int, reason: str,
                    actor: audit.Actor, now: datetime, confirm_verified: bool = False,
                    method: str = "manual") -> MergeOutcome:
    """Join two customers by a person's decision. Two customers that each hold their
    own account on the same platform are only merged when ``confirm_verified`` says
    the person saw that and still wants it (never silently)."""
    if customer_id == other_id:
        raise Conflict("a customer cannot be merged with itself")
    if not reason.strip():
        raise MergeError("a merge needs a reason")
    _active(session, customer_id)
    _active(session, other_id)
    mine, theirs = _verified_sources(session, customer_id), _verified_sources(session, other_id)
    clash = sorted(s for s in set(mine) & set(theirs) if mine[s] != theirs[s])
    if clash and not confirm_verified:
        raise Conflict(
            f"both customers have their own verified {', '.join(clash)} account; "
            "confirm to merge them anyway")
    # Customer IDs are identity IDs (the founding identity), so the link joins them.
    _link(session, customer_id, other_id, "manual", now=now, actor=actor,
          evidence={"reason": reason})
    events = resolve_around(session, [customer_id, other_id], now=now, actor=actor,
                            action="merge", method=method, reason=reason)
    survivor = min(customer_id, other_id)
    audit.record(session, actor, "customer.merge", at=now, target_type="customer",
                 target_id=str(survivor),
                 details={"customers": sorted((customer_id, other_id)), "reason": reason,
                          "events": [e.id for e in events]})
    return MergeOutcome(survivor, events)


def unmerge(session: Session, *, merge_id: int, reason: str, actor: audit.Actor,
            now: datetime) -> MergeOutcome:
    """Undo a merge: the merged customer comes back with the records that were moved,
    and a *never* link keeps the two apart on every later run."""
    if not reason.strip():
        raise MergeError("an un-merge needs a reason")
    event = session.get(IdentityMerge, merge_id)
    if event is None:
        raise NotFound(f"merge {merge_id} does not exist")
    if event.action != "merge":
        raise Conflict(f"event {merge_id} is a {event.action}, not a merge")
    if event.undone_by_id is not None:
        raise Conflict(f"merge {merge_id} was already undone (event {event.undone_by_id})")
    _link(session, event.survivor_id, event.merged_id, "never", now=now, actor=actor,
          evidence={"reason": reason, "undoes": merge_id})
    events = resolve_around(session, [event.survivor_id], now=now, actor=actor,
                            action="unmerge", method="manual", reason=reason, undoes=merge_id)
    audit.record(session, actor, "customer.unmerge", at=now, target_type="customer",
                 target_id=str(event.merged_id),
                 details={"merge": merge_id, "survivor": event.survivor_id, "reason": reason,
                          "events": [e.id for e in events]})
    return MergeOutcome(event.merged_id, events)


def decide_review(session: Session, *, review_id: int, accept: bool, actor: audit.Actor,
                  now: datetime, reason: str | None = None) -> MergeOutcome | None:
    """Accept (the two records are one person) or reject (never join them)."""
    review = session.get(MatchReview, review_id)
    if review is None:
        raise NotFound(f"review {review_id} does not exist")
    if review.status != "pending":
        raise Conflict(f"review {review_id} was already {review.status}")
    review.status = "accepted" if accept else "rejected"
    review.decided_at, review.decided_by = now, actor.label[:100]
    audit.record(session, actor, "identity.review", at=now, target_type="match_review",
                 target_id=str(review_id),
                 details={"decision": review.status, "identities":
                          [review.identity_a, review.identity_b], "reason": reason})
    if not accept:
        _link(session, review.identity_a, review.identity_b, "never", now=now, actor=actor,
              evidence={"review": review_id})
        return None
    _link(session, review.identity_a, review.identity_b, "manual", now=now, actor=actor,
          evidence={"review": review_id})
    customers = [c for c in session.scalars(select(SourceIdentity.customer_id).where(
        SourceIdentity.id.in_((review.identity_a, review.identity_b)))) if c is not None]
    events = resolve_around(session, customers, now=now, actor=actor, action="merge",
                            method="review", reason=reason or f"review {review_id}")
    return MergeOutcome(min(customers) if customers else review.identity_a, events)
