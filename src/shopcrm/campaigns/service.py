"""Campaign life: create and edit drafts, launch (snapshot the audience into delivery
rows), pause, resume, cancel, count.

Services over a ``Session`` take ``now`` and an audit ``Actor`` and never commit; the
caller owns the transaction (``launch`` is the exception: it needs the application
context to resolve the audience and writes the whole snapshot in one transaction of
its own, so a launch is all or nothing).

Status changes are compare-and-set updates (``UPDATE … WHERE status = :expected``), so
two people pressing "launch" at once launch once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.campaigns import CampaignConflict, CampaignError, CampaignNotFound
from shopcrm.campaigns.audience import Audience, AudienceSource, resolve_audience
from shopcrm.campaigns.content import check_content
from shopcrm.campaigns.models import Campaign, CouponPool, Delivery
from shopcrm.campaigns.plan import Planner
from shopcrm.campaigns.rules import HOLDOUT
from shopcrm.campaigns.specs import (
    CampaignSpec,
    CampaignUpdate,
    Offer,
)
from shopcrm.campaigns.states import (
    CampaignStatus,
    Counts,
    DeliveryStatus,
    check_transition,
    may_finish,
)

if TYPE_CHECKING:
    from shopcrm.context import AppContext

INSERT_CHUNK = 5_000


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return campaign


def spec_of(campaign: Campaign, *, audience: bool = True) -> CampaignSpec:
    """The stored plan as the validated model (the row's JSON columns). Without
    ``audience`` an uploaded list is left out — after the launch the delivery rows are
    the audience, and a million IDs parsed per dispatcher cost ~100 MB for nothing."""
    stored = campaign.audience
    if not audience and stored.get("kind") == "list":
        stored = {"kind": "list", "customer_ids": []}
    return CampaignSpec.model_validate({
        "name": campaign.name, "channel": campaign.channel, "purpose": campaign.purpose,
        "language": campaign.language, "audience": stored,
        "content": campaign.content, "offer": campaign.offer, "schedule": campaign.schedule,
        "experiment": {"holdout_share": float(campaign.holdout_share),
                       "attribution_days": campaign.attribution_days},
        "cost_per_message": campaign.cost_per_message})


def _check_offer(session: Session, offer: Offer) -> None:
    if offer.kind == "coupon" and session.get(CouponPool, offer.pool_id) is None:
        raise CampaignError(f"no coupon pool {offer.pool_id}")
    if offer.kind == "points":
        from shopcrm.loyalty.models import BonusRule

        rule = session.get(BonusRule, offer.rule)
        if rule is None:
            raise CampaignError(f"no loyalty bonus rule {offer.rule!r}: create it (kind "
                                "campaign, with a budget) before offering points")
        if rule.kind != "campaign":
            raise CampaignError(f"the loyalty rule {offer.rule!r} is a {rule.kind} rule, "
                                "not a campaign rule")


def _apply(campaign: Campaign, spec: CampaignSpec, *, default_price: Decimal) -> None:
    campaign.name = spec.name
    campaign.channel = spec.channel
    campaign.purpose = spec.purpose
    campaign.language = spec.language
    campaign.audience = spec.audience.model_dump(mode="json")
    campaign.content = spec.content.model_dump(mode="json", exclude_defaults=False)
    campaign.offer = spec.offer.model_dump(mode="json")
    campaign.schedule = spec.schedule.model_dump(mode="json")
    campaign.holdout_share = Decimal(str(round(spec.experiment.holdout_share, 4)))
    campaign.attribution_days = spec.experiment.attribution_days
    campaign.cost_per_message = (spec.cost_per_message if spec.cost_per_message is not None
                                 else default_price)


def _audit_details(campaign: Campaign) -> dict[str, Any]:
    audience = campaign.audience
    size = len(audience.get("customer_ids", [])) if audience.get("kind") == "list" else None
    return {"name": campaign.name, "channel": campaign.channel, "purpose": campaign.purpose,
            "audience": {"kind": audience.get("kind"), "segment_id": audience.get("segment_id"),
                         "size": size},
            "variants": [v["name"] for v in campaign.content.get("variants", [])],
            "offer": campaign.offer.get("kind"),
            "holdout_share": str(campaign.holdout_share)}


def create_campaign(session: Session, *, spec: CampaignSpec, actor: audit.Actor,
                    now: datetime, default_price: Decimal = Decimal("0")) -> Campaign:
    """A new draft (templates checked, offer references checked), audited."""
    check_content(spec.content, spec.language)
    _check_offer(session, spec.offer)
    campaign = Campaign(status=CampaignStatus.DRAFT.value, created_at=now, updated_at=now,
                        created_by=actor.label[:100], audience_size=0)
    _apply(campaign, spec, default_price=default_price)
    session.add(campaign)
    session.flush()
    audit.record(session, actor, "campaign.create", at=now, target_type="campaign",
                 target_id=str(campaign.id), details=_audit_details(campaign))
    return campaign


def update_campaign(session: Session, *, campaign_id: int, changes: CampaignUpdate,
                    actor: audit.Actor, now: datetime,
                    default_price: Decimal = Decimal("0")) -> Campaign:
    """Change a draft; a launched campaign's plan is fixed (409)."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignConflict(f"campaign {campaign_id} is {campaign.status}; only drafts "
                               "can be edited")
    merged = spec_of(campaign).model_dump()
    merged.update(changes.model_dump(exclude_unset=True))
    try:
        spec = CampaignSpec.model_validate(merged)
    except ValidationError as exc:
        raise CampaignError(f"the changed plan is not valid: {exc}") from exc
    check_content(spec.content, spec.language)
    _check_offer(session, spec.offer)
    price = campaign.cost_per_message if "channel" not in changes.model_fields_set \
        else default_price
    _apply(campaign, spec, default_price=price)
    campaign.updated_at = now
    audit.record(session, actor, "campaign.update", at=now, target_type="campaign",
                 target_id=str(campaign.id),
                 details={"fields": sorted(changes.model_fields_set)})
    return campaign


# --- status changes ---------------------------------------------------------------------

def _compare_and_set(session: Session, campaign: Campaign, target: CampaignStatus, *,
                     now: datetime, **values: Any) -> None:
    check_transition(campaign.status, target)
    done = session.execute(
        update(Campaign).where(Campaign.id == campaign.id, Campaign.status == campaign.status)
        .values(status=target.value, updated_at=now, **values)
        .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 1) != 1:
        raise CampaignConflict(f"campaign {campaign.id} changed meanwhile; reload and retry")
    session.refresh(campaign)


@dataclass(frozen=True)
class LaunchReport:
    campaign_id: int
    snapshot_id: str
    audience: int
    holdout: int
    by_arm: dict[str, int]
    by_step: dict[int, int]
    left_out: dict[str, int]


def launch(context: AppContext, *, campaign_id: int, actor: audit.Actor,
           now: datetime | None = None,
           sources: dict[str, AudienceSource] | None = None) -> LaunchReport:
    """Snapshot the audience into one delivery row per customer (holdout included) and
    schedule the campaign — all in one transaction. Audited as ``campaign.launch``."""
    now = now or context.clock.now()
    with context.sessions() as session:
        campaign = get_campaign(session, campaign_id)
        check_transition(campaign.status, CampaignStatus.SCHEDULED)
        spec = spec_of(campaign)
    check_content(spec.content, spec.language)
    audience = resolve_audience(context, spec.audience, reason=f"campaign {campaign_id} launch",
                                sources=sources)
    if not audience.customer_ids:
        raise CampaignError("the audience is empty: nobody to send to")
    with context.sessions.begin() as session:
        campaign = get_campaign(session, campaign_id)
        _check_offer(session, spec.offer)
        report = _snapshot(session, campaign, spec, audience, now=now)
        _compare_and_set(session, campaign, CampaignStatus.SCHEDULED, now=now,
                         snapshot_id=audience.snapshot_id,
                         audience_size=len(audience.customer_ids), launched_at=now,
                         launched_by=actor.label[:100])
        audit.record(session, actor, "campaign.launch", at=now, target_type="campaign",
                     target_id=str(campaign_id),
                     details={**_audit_details(campaign), "snapshot_id": audience.snapshot_id,
                              "audience": report.audience, "holdout": report.holdout,
                              "by_arm": report.by_arm,
                              "by_step": {str(k): v for k, v in report.by_step.items()},
                              "left_out": audience.left_out})
    return report


def _snapshot(session: Session, campaign: Campaign, spec: CampaignSpec, audience: Audience,
              *, now: datetime) -> LaunchReport:
    planner = Planner(campaign.id, spec.content, spec.experiment, spec.schedule, now)
    by_arm: dict[str, int] = {}
    by_step: dict[int, int] = {}
    rows: list[dict[str, Any]] = []

    table: Table = Delivery.__table__  # type: ignore[assignment]

    def flush() -> None:
        if rows:  # Core executemany: no ORM bookkeeping for a million rows
            session.connection().execute(insert(table), rows)
            rows.clear()

    for customer_id in audience.customer_ids:
        arm = planner.arm(customer_id)
        step = planner.step(customer_id)
        by_arm[arm] = by_arm.get(arm, 0) + 1
        by_step[step.index] = by_step.get(step.index, 0) + 1
        rows.append({"campaign_id": campaign.id, "step": step.index,
                     "customer_id": customer_id, "arm": arm, "channel": spec.channel,
                     "purpose": spec.purpose,
                     "status": (DeliveryStatus.HOLDOUT if arm == HOLDOUT
                                else DeliveryStatus.PENDING).value,
                     "planned_at": step.at, "due_at": step.at, "attempts": 0})
        if len(rows) >= INSERT_CHUNK:
            flush()
    flush()
    return LaunchReport(campaign.id, audience.snapshot_id, len(audience.customer_ids),
                        by_arm.get(HOLDOUT, 0), by_arm, by_step, audience.left_out)


def pause(session: Session, *, campaign_id: int, actor: audit.Actor, now: datetime) -> Campaign:
    """Stop claiming new messages; a batch already in flight finishes."""
    campaign = get_campaign(session, campaign_id)
    previous = campaign.status
    _compare_and_set(session, campaign, CampaignStatus.PAUSED, now=now)
    audit.record(session, actor, "campaign.pause", at=now, target_type="campaign",
                 target_id=str(campaign_id), details={"from": previous})
    return campaign


def resume(session: Session, *, campaign_id: int, actor: audit.Actor, now: datetime) -> Campaign:
    """Back to scheduled (the dispatcher moves it on to sending with its next claim).
    Messages held meanwhile go out as soon as they are due."""
    campaign = get_campaign(session, campaign_id)
    _compare_and_set(session, campaign, CampaignStatus.SCHEDULED, now=now)
    audit.record(session, actor, "campaign.resume", at=now, target_type="campaign",
                 target_id=str(campaign_id))
    return campaign


def cancel(session: Session, *, campaign_id: int, actor: audit.Actor, now: datetime,
           reason: str = "") -> Campaign:
    """Cancel: every pending delivery becomes ``cancelled``; messages in flight finish
    and are counted as what they became."""
    campaign = get_campaign(session, campaign_id)
    previous = campaign.status
    _compare_and_set(session, campaign, CampaignStatus.CANCELLED, now=now,
                     status_reason=reason[:500] or None)
    cancelled = session.execute(
        update(Delivery).where(Delivery.campaign_id == campaign_id,
                               Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, reason="campaign cancelled",
                due_at=now).execution_options(synchronize_session=False))
    audit.record(session, actor, "campaign.cancel", at=now, target_type="campaign",
                 target_id=str(campaign_id),
                 details={"from": previous, "reason": reason,
                          "cancelled_deliveries": getattr(cancelled, "rowcount", None)})
    finish_if_done(session, campaign, now=now)
    return campaign


# --- counts -----------------------------------------------------------------------------

def counts(session: Session, *, campaign_id: int, now: datetime) -> Counts:
    """Exact counts from the delivery rows (``held``: pending but not yet due)."""
    by_status = dict(session.execute(
        select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)).all())
    held = session.scalar(select(func.count()).where(
        Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.PENDING.value,
        Delivery.due_at > now)) or 0
    return Counts.from_statuses(by_status, held=int(held))


def counts_by_arm(session: Session, *, campaign_id: int) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for arm, status, n in session.execute(
            select(Delivery.arm, Delivery.status, func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.arm, Delivery.status)):
        found.setdefault(arm, {})[status] = int(n)
    return found


def all_counts(session: Session, campaign_ids: Iterable[int], *,
               now: datetime) -> dict[int, Counts]:
    """Counts of many campaigns in two queries (the campaign list)."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    raw: dict[int, dict[str, int]] = {i: {} for i in ids}
    for cid, status, n in session.execute(
            select(Delivery.campaign_id, Delivery.status, func.count())
            .where(Delivery.campaign_id.in_(ids))
            .group_by(Delivery.campaign_id, Delivery.status)):
        raw[int(cid)][str(status)] = int(n)
    held = dict(session.execute(
        select(Delivery.campaign_id, func.count()).where(
            Delivery.campaign_id.in_(ids), Delivery.status == DeliveryStatus.PENDING.value,
            Delivery.due_at > now).group_by(Delivery.campaign_id)).all())
    return {i: Counts.from_statuses(raw[i], held=int(held.get(i, 0))) for i in ids}


def finish_if_done(session: Session, campaign: Campaign, *, now: datetime,
                   actor: audit.Actor = audit.SYSTEM) -> bool:
    """Mark a sending/scheduled campaign done — only when every delivery is accounted
    for — and keep its final counts; a cancelled one keeps its counts once settled."""
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SCHEDULED,
                               CampaignStatus.CANCELLED):
        return False
    current = counts(session, campaign_id=campaign.id, now=now)
    if not may_finish(current):
        return False
    if campaign.status == CampaignStatus.CANCELLED:
        if campaign.final_counts is None:
            campaign.final_counts = current.as_dict()
            campaign.finished_at = now
        return False
    try:
        _compare_and_set(session, campaign, CampaignStatus.DONE, now=now,
                         final_counts=current.as_dict(), finished_at=now)
    except CampaignConflict:
        # Another dispatcher finished it (or moved it from scheduled to sending, or
        # paused it) since it was read: finishing is idempotent — look again.
        session.refresh(campaign)
        if campaign.status == CampaignStatus.DONE:
            return False
        return finish_if_done(session, campaign, now=now, actor=actor)
    audit.record(session, actor, "campaign.done", at=now, target_type="campaign",
                 target_id=str(campaign.id), details=current.as_dict())
    return True


def list_campaigns(session: Session, *, status: str | None = None,
                   limit: int = 200) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if status:
        query = query.where(Campaign.status == status)
    return list(session.scalars(query))


