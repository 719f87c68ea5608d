"""Campaigns API: plans, launch and the other status changes, previews, dispatch,
dead letters, reports; coupon pools; the suppression list.

Thin: each route calls services of :mod:`shopcrm.campaigns` in a transaction and maps
their errors to problem+json (unknown campaign/pool 404, a state that does not allow
it 409, a refused plan 422). Editing needs ``manage_campaigns``; launching, pausing,
resuming, cancelling and dispatching need ``send_campaigns``; reports
``view_analytics``; lifting a suppression (re-enabling someone who said stop) needs
``manage_privacy``. Suppressions are listed without addresses.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.campaigns import CampaignConflict, CampaignError, CampaignNotFound, service
from shopcrm.campaigns import coupons as coupon_service
from shopcrm.campaigns.audience import AudienceUnavailable
from shopcrm.campaigns.config import cached_settings
from shopcrm.campaigns.content import TemplateProblem
from shopcrm.campaigns.models import Campaign, CouponPool, Delivery, Suppression
from shopcrm.campaigns.specs import CampaignSpec, CampaignUpdate, Offer, Variant
from shopcrm.campaigns.states import Counts

router = APIRouter(prefix="/api/v1", tags=["campaigns"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
ERRORS = (CampaignError, AudienceUnavailable, TemplateProblem)


def _problem(exc: Exception) -> HTTPException:
    if isinstance(exc, CampaignNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, CampaignConflict):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


class CampaignCreate(CampaignSpec):
    """A new campaign (a draft): audience, channel, content variants, offer, schedule,
    experiment design."""


class CountsPublic(BaseModel):
    audience: int
    holdout: int
    pending: int
    held: int
    sending: int
    sent: int
    delivered: int
    undelivered: int
    failed: int
    skipped: int
    cancelled: int


class CampaignPublic(BaseModel):
    id: int
    name: str
    status: str
    channel: str
    purpose: str
    language: str
    audience: dict[str, Any]
    content: dict[str, Any]
    offer: dict[str, Any]
    schedule: dict[str, Any]
    holdout_share: Decimal
    attribution_days: int
    cost_per_message: Decimal
    snapshot_id: str | None
    audience_size: int
    status_reason: str | None
    created_at: datetime
    created_by: str
    launched_at: datetime | None
    launched_by: str | None
    finished_at: datetime | None
    counts: CountsPublic


def _public(campaign: Campaign, counts: Counts) -> CampaignPublic:
    audience = dict(campaign.audience)
    if audience.get("kind") == "list":  # thousands of IDs are not for a listing
        audience = {"kind": "list", "size": len(audience.get("customer_ids", []))}
    return CampaignPublic(
        id=campaign.id, name=campaign.name, status=campaign.status, channel=campaign.channel,
        purpose=campaign.purpose, language=campaign.language, audience=audience,
        content=campaign.content, offer=campaign.offer, schedule=campaign.schedule,
        holdout_share=campaign.holdout_share, attribution_days=campaign.attribution_days,
        cost_per_message=campaign.cost_per_message, snapshot_id=campaign.snapshot_id,
        audience_size=campaign.audience_size, status_reason=campaign.status_reason,
        created_at=campaign.created_at, created_by=campaign.created_by,
        launched_at=campaign.launched_at, launched_by=campaign.launched_by,
        finished_at=campaign.finished_at, counts=CountsPublic(**counts.as_dict()))


@router.get("/campaigns", response_model=list[CampaignPublic])
def list_campaigns(context: ContextDep, session: SessionDep,
                   _: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)],
                   status: Annotated[Literal["draft", "scheduled", "sending", "paused", "done",
                                             "cancelled"] | None, Query()] = None,
                   ) -> list[CampaignPublic]:
    found = service.list_campaigns(session, status=status)
    numbers = service.all_counts(session, [c.id for c in found], now=context.clock.now())
    return [_public(c, numbers[c.id]) for c in found]


@router.post("/campaigns", response_model=CampaignPublic, status_code=201)
def create_campaign(body: CampaignCreate, request: Request, context: ContextDep,
                    principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                    ) -> CampaignPublic:
    config = cached_settings(context.settings)
    try:
        with context.sessions.begin() as session:
            campaign = service.create_campaign(
                session, spec=body, actor=client_actor(request, principal),
                now=context.clock.now(), default_price=config.price(body.channel))
            return _public(campaign, Counts())
    except ERRORS as exc:
        raise _problem(exc) from exc


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic)
def get_campaign(campaign_id: Id, context: ContextDep, session: SessionDep,
                 _: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                 ) -> CampaignPublic:
    try:
        campaign = service.get_campaign(session, campaign_id)
    except ERRORS as exc:
        raise _problem(exc) from exc
    public = _public(campaign, service.counts(session, campaign_id=campaign_id,
                                              now=context.clock.now()))
    public.audience = campaign.audience
    return public


@router.patch("/campaigns/{campaign_id}", response_model=CampaignPublic)
def update_campaign(campaign_id: Id, body: CampaignUpdate, request: Request,
                    context: ContextDep,
                    principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                    ) -> CampaignPublic:
    config = cached_settings(context.settings)
    try:
        with context.sessions.begin() as session:
            campaign = service.update_campaign(
                session, campaign_id=campaign_id, changes=body,
                actor=client_actor(request, principal), now=context.clock.now(),
                default_price=config.price(body.channel or "sms"))
            return _public(campaign, Counts())
    except ERRORS as exc:
        raise _problem(exc) from exc


class LaunchPublic(BaseModel):
    campaign_id: int
    snapshot_id: str
    audience: int
    holdout: int
    by_arm: dict[str, int]
    by_step: dict[int, int]
    left_out: dict[str, int]


@router.post("/campaigns/{campaign_id}/launch", response_model=LaunchPublic)
def launch(campaign_id: Id, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.SEND_CAMPAIGNS)]) -> LaunchPublic:
    """Snapshot the audience into delivery rows and schedule the campaign (audited)."""
    try:
        report = service.launch(context, campaign_id=campaign_id,
                                actor=client_actor(request, principal))
    except ERRORS as exc:
        raise _problem(exc) from exc
    return LaunchPublic(**report.__dict__)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


def _change(name: str, campaign_id: int, request: Request, context: Any,
            principal: Principal, reason: str = "") -> CampaignPublic:
    actor, now = client_actor(request, principal), context.clock.now()
    try:
        with context.sessions.begin() as session:
            if name == "pause":
                campaign = service.pause(session, campaign_id=campaign_id, actor=actor, now=now)
            elif name == "resume":
                campaign = service.resume(session, campaign_id=campaign_id, actor=actor,
                                          now=now)
            else:
                campaign = service.cancel(session, campaign_id=campaign_id, actor=actor,
                                          now=now, reason=reason)
            return _public(campaign, service.counts(session, campaign_id=campaign_id, now=now))
    except ERRORS as exc:
        raise _problem(exc) from exc


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignPublic)
def pause(campaign_id: Id, request: Request, context: ContextDep,
          principal: Annotated[Principal, require(Permission.SEND_CAMPAIGNS)]) -> CampaignPublic:
    return _change("pause", campaign_id, request, context, principal)


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignPublic)
def resume(campaign_id: Id, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.SEND_CAMPAIGNS)]
           ) -> CampaignPublic:
    return _change("resume", campaign_id, request, context, principal)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignPublic)
def cancel(campaign_id: Id, request: Request, context: ContextDep,
           principal: Annotated[Principal, require(Permission.SEND_CAMPAIGNS)],
           body: CancelRequest | None = None) -> CampaignPublic:
    return _change("cancel", campaign_id, request, context, principal,
                   body.reason if body else "")


class DispatchPublic(BaseModel):
    queued: bool
    batches: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    held: int = 0
    retried: int = 0
    finished: list[int] = Field(default_factory=list)


@router.post("/campaigns/{campaign_id}/dispatch", response_model=DispatchPublic)
def dispatch(campaign_id: Id, request: Request, context: ContextDep,
             principal: Annotated[Principal, require(Permission.SEND_CAMPAIGNS)],
             max_batches: Annotated[int, Query(ge=1, le=1000)] = 20) -> DispatchPublic:
    """Send what is due now: on the workers when a broker is configured (queued),
    otherwise here, up to ``max_batches`` batches (``shopcrm campaign dispatch`` sends
    the rest)."""
    config = cached_settings(context.settings)
    with context.sessions() as session:
        try:
            service.get_campaign(session, campaign_id)
        except ERRORS as exc:
            raise _problem(exc) from exc
    if config.broker_url:
        from shopcrm.campaigns.worker import enqueue

        enqueue(context, config, campaign_id=campaign_id)
        return DispatchPublic(queued=True)
    from shopcrm.campaigns.config import channels_from_settings
    from shopcrm.campaigns.dispatch import Dispatcher

    with channels_from_settings(config, sessions=context.sessions,
                                clock=context.clock) as channels:
        report = Dispatcher(context, channels=channels, config=config).run(
            campaign_id=campaign_id, max_batches=max_batches,
            actor=client_actor(request, principal))
    t = report.total
    return DispatchPublic(queued=False, batches=report.batches, sent=t.sent, failed=t.failed,
                          skipped=t.skipped, held=t.held, retried=t.retried,
                          finished=report.finished)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    variant: str | None = Field(default=None, max_length=32)
    """Which variant of the campaign (default the first)."""


class DraftPreviewRequest(BaseModel):
    """Preview content that is not saved yet (the editor)."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "sms", "push", "inbox", "wechat", "webhook", "file"]
    language: Literal["zh", "en"] = "zh"
    variant: Variant
    offer: Offer = Field(default_factory=Offer)
    customer_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class SmsLengthPublic(BaseModel):
    units: int
    encoding: str
    segments: int
    per_segment: int
    remaining_in_segment: int


class PreviewPublic(BaseModel):
    customer_id: int | None
    language: str
    subject: str | None
    body: str
    html: str | None
    params: dict[str, str]
    sms: SmsLengthPublic | None
    error: str | None


def _preview_public(found: Any) -> PreviewPublic:
    sms = None
    if found.sms is not None:
        sms = SmsLengthPublic(units=found.sms.units, encoding=found.sms.encoding.value,
                              segments=found.sms.segments, per_segment=found.sms.per_segment,
                              remaining_in_segment=found.sms.remaining_in_segment)
    return PreviewPublic(customer_id=found.customer_id, language=found.language,
                         subject=found.subject, body=found.body, html=found.html,
                         params=found.params, sms=sms, error=found.error)


def run_preview(context: Any, principal: Principal, body: DraftPreviewRequest,
                name: str = "") -> PreviewPublic:
    from shopcrm.campaigns.preview import preview

    try:
        found = preview(context, cached_settings(context.settings), channel=body.channel,
                        language=body.language, variant=body.variant, offer=body.offer,
                        customer_id=body.customer_id,
                        mask=not principal.can(Permission.VIEW_PII), campaign_name=name)
    except ERRORS as exc:
        raise _problem(exc) from exc
    return _preview_public(found)


@router.post("/campaigns/preview", response_model=PreviewPublic)
def preview_draft(body: DraftPreviewRequest, context: ContextDep,
                  principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                  ) -> PreviewPublic:
    """Render unsaved content for a chosen customer, with the SMS length and segments."""
    return run_preview(context, principal, body)


@router.post("/campaigns/{campaign_id}/preview", response_model=PreviewPublic)
def preview_campaign(campaign_id: Id, body: PreviewRequest, context: ContextDep,
                     principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                     ) -> PreviewPublic:
    """A campaign's variant as a chosen customer would receive it."""
    with context.sessions() as session:
        try:
            spec = service.spec_of(service.get_campaign(session, campaign_id), audience=False)
        except ERRORS as exc:
            raise _problem(exc) from exc
    variants = {v.name: v for v in spec.content.variants}
    variant = variants.get(body.variant or spec.content.variants[0].name)
    if variant is None:
        raise HTTPException(404, f"no variant {body.variant!r}")
    return run_preview(context, principal, DraftPreviewRequest(
        channel=spec.channel, language=spec.language, variant=variant, offer=spec.offer,
        customer_id=body.customer_id), spec.name)


@router.get("/campaigns/{campaign_id}/report")
def report(campaign_id: Id, context: ContextDep,
           _: Annotated[Principal, require(Permission.VIEW_ANALYTICS)]) -> dict[str, Any]:
    """Funnel, conversion and revenue per customer against the holdout per variant,
    absolute and relative lift with 95% intervals, incremental revenue, cost, ROI."""
    from shopcrm.campaigns.report import campaign_report, report_json

    try:
        return report_json(campaign_report(context, campaign_id=campaign_id))
    except ERRORS as exc:
        raise _problem(exc) from exc


class DeliveryPublic(BaseModel):
    id: int
    step: int
    customer_id: int
    arm: str
    status: str
    attempts: int
    due_at: datetime
    sent_at: datetime | None
    reason: str | None


class DeliveryPage(BaseModel):
    total: int
    items: list[DeliveryPublic]


@router.get("/campaigns/{campaign_id}/deliveries", response_model=DeliveryPage)
def deliveries(campaign_id: Id, session: SessionDep,
               _: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)],
               status: Annotated[Literal["holdout", "pending", "sending", "sent", "delivered",
                                         "undelivered", "failed", "skipped", "cancelled"]
                                 | None, Query(description="failed: the dead letters")] = None,
               page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
               size: Annotated[int, Query(ge=1, le=500)] = 100) -> DeliveryPage:
    """The campaign's deliveries (by status; ``failed`` are the dead letters with their
    reasons)."""
    try:
        service.get_campaign(session, campaign_id)
    except ERRORS as exc:
        raise _problem(exc) from exc
    query = select(Delivery).where(Delivery.campaign_id == campaign_id)
    if status:
        query = query.where(Delivery.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Delivery.id).offset((page - 1) * size).limit(size))
    return DeliveryPage(total=int(total), items=[DeliveryPublic(
        id=r.id, step=r.step, customer_id=r.customer_id, arm=r.arm, status=r.status,
        attempts=r.attempts, due_at=r.due_at, sent_at=r.sent_at, reason=r.reason)
        for r in rows])


# --- coupon pools --------------------------------------------------------------------------

class CouponPoolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["amount", "percent"] = "amount"
    value: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    min_spend: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    cost_per_redemption: Decimal | None = Field(default=None, ge=0, max_digits=18,
                                                decimal_places=2)
    valid_from: datetime | None = None
    valid_until: datetime
    uses_per_code: int = Field(default=1, ge=1, le=1_000_000)


class CouponPoolPublic(BaseModel):
    id: int
    name: str
    kind: str
    value: Decimal
    min_spend: Decimal | None
    cost_per_redemption: Decimal
    valid_from: datetime
    valid_until: datetime
    uses_per_code: int
    codes: int
    assigned: int
    free: int
    redeemed: int
    redemptions: int


def _pool_public(session: Any, pool: CouponPool) -> CouponPoolPublic:
    return CouponPoolPublic(
        id=pool.id, name=pool.name, kind=pool.kind, value=pool.value, min_spend=pool.min_spend,
        cost_per_redemption=pool.cost_per_redemption, valid_from=pool.valid_from,
        valid_until=pool.valid_until, uses_per_code=pool.uses_per_code,
        **coupon_service.pool_stats(session, pool.id))


@router.get("/coupon-pools", response_model=list[CouponPoolPublic])
def list_pools(session: SessionDep,
               _: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
               ) -> list[CouponPoolPublic]:
    pools = session.scalars(select(CouponPool).order_by(CouponPool.id.desc()).limit(500))
    return [_pool_public(session, p) for p in pools]


@router.post("/coupon-pools", response_model=CouponPoolPublic, status_code=201)
def create_pool(body: CouponPoolCreate, request: Request, context: ContextDep,
                principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                ) -> CouponPoolPublic:
    now = context.clock.now()
    if body.valid_until.tzinfo is None or (body.valid_from and body.valid_from.tzinfo is None):
        raise HTTPException(422, "validity times need a time zone")
    try:
        with context.sessions.begin() as session:
            pool = coupon_service.create_pool(
                session, name=body.name, kind=body.kind, value=body.value,
                min_spend=body.min_spend, cost_per_redemption=body.cost_per_redemption,
                valid_from=body.valid_from or now, valid_until=body.valid_until,
                uses_per_code=body.uses_per_code, actor=client_actor(request, principal),
                now=now)
            return _pool_public(session, pool)
    except ERRORS as exc:
        raise _problem(exc) from exc


@router.get("/coupon-pools/{pool_id}", response_model=CouponPoolPublic)
def get_pool(pool_id: Id, session: SessionDep,
             _: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]) -> CouponPoolPublic:
    try:
        return _pool_public(session, coupon_service.get_pool(session, pool_id))
    except ERRORS as exc:
        raise _problem(exc) from exc


class CodesRequest(BaseModel):
    """Generate ``count`` random codes, or import ``codes``."""

    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=1, le=100_000,
                              description="more at a time with the CLI")
    prefix: str = Field(default="", pattern=r"^[A-Z0-9]{0,16}$")
    length: int = Field(default=10, ge=6, le=32)
    codes: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None,
                                                                    max_length=100_000)


class CodesPublic(BaseModel):
    added: int
    duplicates: int = 0
    invalid: list[str] = Field(default_factory=list)


@router.post("/coupon-pools/{pool_id}/codes", response_model=CodesPublic)
def add_codes(pool_id: Id, body: CodesRequest, request: Request, context: ContextDep,
              principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
              ) -> CodesPublic:
    if (body.count is None) == (body.codes is None):
        raise HTTPException(422, "give either count (to generate) or codes (to import)")
    actor, now = client_actor(request, principal), context.clock.now()
    try:
        with context.sessions.begin() as session:
            if body.count is not None:
                made = coupon_service.generate_codes(
                    session, pool_id=pool_id, count=body.count, prefix=body.prefix,
                    length=body.length, actor=actor, now=now)
                return CodesPublic(added=made)
            result = coupon_service.import_codes(session, pool_id=pool_id,
                                                 codes=body.codes or [], actor=actor, now=now)
            return CodesPublic(added=result.added, duplicates=result.duplicates,
                               invalid=result.invalid)
    except ERRORS as exc:
        raise _problem(exc) from exc


@router.post("/coupon-pools/{pool_id}/sync", response_model=CouponPoolPublic)
def sync_pool(pool_id: Id, context: ContextDep,
              _: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]) -> CouponPoolPublic:
    """Count redemptions of the pool's codes from the orders in the warehouse."""
    try:
        with context.sessions.begin() as session:
            coupon_service.sync_redemptions(session, context.warehouse, pool_id=pool_id)
            return _pool_public(session, coupon_service.get_pool(session, pool_id))
    except ERRORS as exc:
        raise _problem(exc) from exc


# --- suppressions --------------------------------------------------------------------------

class SuppressionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "email", "push", "inbox", "wechat", "webhook", "file", "any"]
    customer_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    address: str | None = Field(default=None, max_length=320,
                                description="phone (sms) or e-mail address (email)")
    detail: str | None = Field(default=None, max_length=500)


class SuppressionPublic(BaseModel):
    id: int
    channel: str
    customer_id: int | None
    by_address: bool
    reason: str
    campaign_id: int | None
    detail: str | None
    at: datetime
    actor: str


def _suppression(row: Suppression) -> SuppressionPublic:
    return SuppressionPublic(id=row.id, channel=row.channel, customer_id=row.customer_id,
                             by_address=row.address_hash is not None, reason=row.reason,
                             campaign_id=row.campaign_id, detail=row.detail, at=row.at,
                             actor=row.actor)


class SuppressionPage(BaseModel):
    total: int
    items: list[SuppressionPublic]


@router.get("/suppressions", response_model=SuppressionPage)
def list_suppressions(session: SessionDep,
                      _: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)],
                      customer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                      page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                      size: Annotated[int, Query(ge=1, le=500)] = 100) -> SuppressionPage:
    query = select(Suppression)
    if customer_id is not None:
        query = query.where(Suppression.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Suppression.id.desc())
                           .offset((page - 1) * size).limit(size))
    return SuppressionPage(total=int(total), items=[_suppression(r) for r in rows])


@router.post("/suppressions", response_model=SuppressionPublic, status_code=201)
def add_suppression(body: SuppressionCreate, request: Request, context: ContextDep,
                    principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                    ) -> SuppressionPublic:
    from shopcrm.campaigns.respect import suppress

    actor, now = client_actor(request, principal), context.clock.now()
    try:
        with context.sessions.begin() as session:
            row = suppress(session, channel=body.channel, reason="manual", actor=actor, now=now,
                           customer_id=body.customer_id, address=body.address,
                           detail=body.detail)
            audit.record(session, actor, "suppression.add", at=now, target_type="suppression",
                         target_id=str(row.id), details={"channel": body.channel,
                                                         "customer_id": body.customer_id})
            return _suppression(row)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.delete("/suppressions/{suppression_id}", status_code=204)
def lift_suppression(suppression_id: Id, request: Request, context: ContextDep,
                     principal: Annotated[Principal, require(Permission.MANAGE_PRIVACY)]
                     ) -> Response:
    """Lift a suppression (audited): only when the person asked to hear from the shop
    again — their consent must be granted anew as well."""
    now = context.clock.now()
    with context.sessions.begin() as session:
        row = session.get(Suppression, suppression_id)
        if row is None:
            raise HTTPException(404, f"no suppression {suppression_id}")
        audit.record(session, client_actor(request, principal), "suppression.lift", at=now,
                     target_type="suppression", target_id=str(suppression_id),
                     details={"channel": row.channel, "customer_id": row.customer_id,
                              "reason": row.reason})
        session.delete(row)
    return Response(status_code=204)
