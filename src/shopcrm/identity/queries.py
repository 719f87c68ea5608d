"""Reading identity resolution's records for pages and the API: the review queue, a
customer's merge history, shared identifiers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shopcrm.customers.profile import IdentityRow, identity_row
from shopcrm.identity.models import IdentityMerge, MatchReview, SharedIdentifier
from shopcrm.store.models import SourceIdentity


@dataclass(frozen=True)
class ReviewItem:
    id: int
    reason: str
    probability: float | None
    weights: dict[str, Any]
    status: str
    left: IdentityRow
    right: IdentityRow
    left_customer: int | None
    right_customer: int | None


@dataclass(frozen=True)
class ReviewPage:
    items: list[ReviewItem]
    total: int
    page: int
    size: int


def list_reviews(session: Session, *, status: str = "pending", page: int = 1,
                 size: int = 20) -> ReviewPage:
    """Reviews, most probable first (the easiest decisions on top)."""
    query = select(MatchReview).where(MatchReview.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    reviews = list(session.scalars(
        query.order_by(MatchReview.probability.desc().nulls_last(), MatchReview.id)
        .offset((page - 1) * size).limit(size)))
    ids = {r.identity_a for r in reviews} | {r.identity_b for r in reviews}
    identities = {i.id: i for i in session.scalars(
        select(SourceIdentity).where(SourceIdentity.id.in_(sorted(ids))))}
    items = []
    for review in reviews:
        left, right = identities.get(review.identity_a), identities.get(review.identity_b)
        if left is None or right is None:  # erased meanwhile
            continue
        items.append(ReviewItem(
            id=review.id, reason=review.reason, probability=review.probability,
            weights=review.weights or {}, status=review.status,
            left=identity_row(left), right=identity_row(right),
            left_customer=left.customer_id, right_customer=right.customer_id))
    return ReviewPage(items=items, total=int(total), page=page, size=size)


def merge_history(session: Session, customer_id: int) -> list[IdentityMerge]:
    """Every merge, split and un-merge the customer took part in, newest first."""
    return list(session.scalars(
        select(IdentityMerge).where(or_(IdentityMerge.survivor_id == customer_id,
                                        IdentityMerge.merged_id == customer_id))
        .order_by(IdentityMerge.id.desc()).limit(200)))


def shared_identifiers(session: Session, *, limit: int = 200) -> list[SharedIdentifier]:
    return list(session.scalars(
        select(SharedIdentifier).order_by(SharedIdentifier.identities.desc()).limit(limit)))
