"""Campaign pages: the list, the editor (templates with a live preview for a chosen
customer and the SMS length counter), the campaign page (exact counts, funnel and lift
charts, dead letters, actions) and the public unsubscribe page.

Thin like the other pages: forms become a :class:`~shopcrm.campaigns.specs.CampaignSpec`
(:func:`spec_from_form`, pure), services do the work, templates render. Without
JavaScript every form still works; with it HTMX refreshes the preview as you type and
``app.js`` counts SMS characters and draws the charts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, client_actor, require
from shopcrm.campaigns import CampaignError, service
from shopcrm.campaigns.audience import AudienceUnavailable
from shopcrm.campaigns.config import cached_settings
from shopcrm.campaigns.content import TemplateProblem
from shopcrm.campaigns.models import CouponPool, Delivery
from shopcrm.campaigns.specs import CampaignSpec, CampaignUpdate, Offer, Variant
from shopcrm.web.routes import MAX_ID, _render

router = APIRouter(include_in_schema=False)
VARIANT_SLOTS = 3
CHANNELS = ("sms", "email", "push", "inbox", "wechat", "webhook", "file")
ERRORS = (CampaignError, AudienceUnavailable, TemplateProblem, ValidationError, ValueError)


# --- forms ----------------------------------------------------------------------------------

def _ids(text: str) -> list[int]:
    found = []
    for part in text.replace("，", ",").replace("\n", ",").replace(" ", ",").split(","):
        part = part.strip()
        if part:
            found.append(int(part))
    return found


def _moment(text: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def spec_from_form(form: dict[str, str], *, timezone: str) -> dict[str, Any]:
    """The editor's fields as a campaign plan (validated by CampaignSpec afterwards).
    Times typed without an offset are in the shop's time zone."""
    zone = ZoneInfo(timezone)

    def get(key: str, default: str = "") -> str:
        return (form.get(key) or default).strip()

    audience: dict[str, Any]
    if get("audience_kind", "list") == "segment":
        audience = {"kind": "segment", "segment_id": int(get("segment_id", "0") or 0)}
    else:
        audience = {"kind": "list", "customer_ids": _ids(get("customer_ids"))}
    variants = []
    for i in range(VARIANT_SLOTS):
        body = get(f"v{i}_body")
        if not body:
            continue
        variant: dict[str, Any] = {"name": get(f"v{i}_name") or "ABC"[i],
                                   "weight": float(get(f"v{i}_weight") or 1), "body": body}
        for key in ("subject", "html", "template_id"):
            if get(f"v{i}_{key}"):
                variant[key] = get(f"v{i}_{key}")
        variants.append(variant)
    offer: dict[str, Any] = {"kind": get("offer_kind", "none")}
    if offer["kind"] == "coupon":
        offer["pool_id"] = int(get("pool_id") or 0) or None
    elif offer["kind"] == "points":
        offer["points"] = int(get("points") or 0) or None
        offer["rule"] = get("points_rule") or "campaign"
    elif offer["kind"] == "gift":
        offer["gift"] = get("gift")
        offer["gift_cost"] = get("gift_cost") or "0"
    schedule: dict[str, Any] = {"kind": get("schedule_kind", "now")}
    if schedule["kind"] == "at" and get("at"):
        schedule["at"] = _moment(get("at"), zone).isoformat()
    if schedule["kind"] == "waves":
        waves = []
        for line in get("waves").splitlines():
            parts = line.split()
            if len(parts) == 2:
                waves.append({"at": _moment(parts[0], zone).isoformat(),
                              "share": float(parts[1])})
        schedule["waves"] = waves
    if get("rate_per_second"):
        schedule["rate_per_second"] = float(get("rate_per_second"))
    plan: dict[str, Any] = {
        "name": get("name"), "channel": get("channel", "sms"),
        "purpose": get("purpose", "marketing"), "language": get("language", "zh"),
        "audience": audience, "content": {"variants": variants}, "offer": offer,
        "schedule": schedule,
        "experiment": {"holdout_share": float(get("holdout_percent") or 10) / 100,
                       "attribution_days": int(get("attribution_days") or 7)}}
    if get("cost_per_message"):
        plan["cost_per_message"] = get("cost_per_message")
    return plan


def form_from_spec(spec: CampaignSpec, *, timezone: str) -> dict[str, str]:
    """A saved plan as the editor's fields."""
    zone = ZoneInfo(timezone)
    form: dict[str, str] = {
        "name": spec.name, "channel": spec.channel, "purpose": spec.purpose,
        "language": spec.language, "audience_kind": spec.audience.kind,
        "offer_kind": spec.offer.kind, "schedule_kind": spec.schedule.kind,
        "holdout_percent": f"{spec.experiment.holdout_share * 100:g}",
        "attribution_days": str(spec.experiment.attribution_days),
        "cost_per_message": "" if spec.cost_per_message is None else str(spec.cost_per_message)}
    if spec.audience.kind == "list":
        form["customer_ids"] = ", ".join(map(str, spec.audience.customer_ids))
    else:
        form["segment_id"] = str(spec.audience.segment_id)
    for i, v in enumerate(spec.content.variants[:VARIANT_SLOTS]):
        form.update({f"v{i}_name": v.name, f"v{i}_weight": f"{v.weight:g}",
                     f"v{i}_body": v.body, f"v{i}_subject": v.subject or "",
                     f"v{i}_html": v.html or "", f"v{i}_template_id": v.template_id or ""})
    offer = spec.offer
    form.update({"pool_id": str(offer.pool_id or ""), "points": str(offer.points or ""),
                 "points_rule": offer.rule, "gift": offer.gift or "",
                 "gift_cost": str(offer.gift_cost)})
    if spec.schedule.at:
        form["at"] = spec.schedule.at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    form["waves"] = "\n".join(f"{w.at.astimezone(zone):%Y-%m-%dT%H:%M} {w.share:g}"
                              for w in spec.schedule.waves)
    if spec.schedule.rate_per_second:
        form["rate_per_second"] = f"{spec.schedule.rate_per_second:g}"
    return form


DEFAULT_FORM = {"channel": "sms", "purpose": "marketing", "language": "zh",
                "audience_kind": "list", "offer_kind": "none", "schedule_kind": "now",
                "holdout_percent": "10", "attribution_days": "7", "v0_name": "A",
                "v0_weight": "1", "v0_body": "{{ customer.name }}，双11会员专享券已到账",
                "points_rule": "campaign"}


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                         for e in exc.errors())
    return str(exc)


# --- pages ----------------------------------------------------------------------------------

@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, context: ContextDep,
                   principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                   ) -> HTMLResponse:
    with context.sessions() as session:
        found = service.list_campaigns(session)
        numbers = service.all_counts(session, [c.id for c in found], now=context.clock.now())
    return _render(request, context, "campaigns.html", principal=principal,
                   campaigns=found, counts=numbers)


def _editor(request: Request, context: Any, principal: Principal, form: dict[str, str], *,
            campaign_id: int | None = None, error: str | None = None,
            status_code: int = 200) -> HTMLResponse:
    config = cached_settings(context.settings)
    with context.sessions() as session:
        pools = list(session.scalars(select(CouponPool).order_by(CouponPool.id.desc())
                                     .limit(100)))
    return _render(request, context, "campaign_edit.html", principal=principal, form=form,
                   campaign_id=campaign_id, error=error, pools=pools, channels=CHANNELS,
                   slots=range(VARIANT_SLOTS), signature=config.signature(),
                   status_code=status_code)


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign(request: Request, context: ContextDep,
                 principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                 ) -> HTMLResponse:
    return _editor(request, context, principal, dict(DEFAULT_FORM))


@router.post("/campaigns/new", response_class=HTMLResponse)
async def create_campaign(request: Request, context: ContextDep,
                          principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                          ) -> Response:
    form = await _form(request)
    config = cached_settings(context.settings)
    try:
        spec = CampaignSpec.model_validate(spec_from_form(form,
                                                          timezone=context.settings.timezone))
        with context.sessions.begin() as session:
            campaign = service.create_campaign(
                session, spec=spec, actor=client_actor(request, principal),
                now=context.clock.now(), default_price=config.price(spec.channel))
            campaign_id = campaign.id
    except ERRORS as exc:
        return _editor(request, context, principal, form, error=_error_text(exc),
                       status_code=422)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
def edit_campaign(request: Request, context: ContextDep,
                  principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)],
                  campaign_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    with context.sessions() as session:
        try:
            campaign = service.get_campaign(session, campaign_id)
        except CampaignError:
            return _render(request, context, "error.html", principal=principal,
                           status_code=404, error="not_found")
        if campaign.status != "draft":
            return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
        form = form_from_spec(service.spec_of(campaign), timezone=context.settings.timezone)
    return _editor(request, context, principal, form, campaign_id=campaign_id)


@router.post("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
async def save_campaign(request: Request, context: ContextDep,
                        principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)],
                        campaign_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    form = await _form(request)
    try:
        changes = CampaignUpdate.model_validate(
            spec_from_form(form, timezone=context.settings.timezone))
        with context.sessions.begin() as session:
            service.update_campaign(session, campaign_id=campaign_id, changes=changes,
                                    actor=client_actor(request, principal),
                                    now=context.clock.now())
    except ERRORS as exc:
        return _editor(request, context, principal, form, campaign_id=campaign_id,
                       error=_error_text(exc), status_code=422)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/preview", response_class=HTMLResponse)
async def preview_fragment(request: Request, context: ContextDep,
                           principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)]
                           ) -> HTMLResponse:
    """The editor's preview pane (HTMX): the chosen variant for the chosen customer."""
    from shopcrm.campaigns.preview import preview

    form = await _form(request)
    slot = form.get("preview_slot", "0")
    slot = slot if slot in {str(i) for i in range(VARIANT_SLOTS)} else "0"
    result: Any = None
    error = None
    try:
        plan = spec_from_form({**form, "customer_ids": "1", "name": form.get("name") or "-"},
                              timezone=context.settings.timezone)
        chosen = [v for v in plan["content"]["variants"]
                  if v["body"] == (form.get(f"v{slot}_body") or "").strip()]
        if not chosen:
            raise ValueError("write the message first")
        customer = (form.get("preview_customer") or "").strip()
        result = preview(context, cached_settings(context.settings),
                         channel=plan["channel"] if plan["channel"] in CHANNELS else "sms",
                         language=plan["language"] if plan["language"] in ("zh", "en") else "zh",
                         variant=Variant.model_validate(chosen[0]),
                         offer=Offer.model_validate(plan["offer"]),
                         customer_id=int(customer) if customer else None,
                         mask=not principal.can(Permission.VIEW_PII))
    except ERRORS as exc:
        error = _error_text(exc)
    return _render(request, context, "_campaign_preview.html", principal=principal,
                   preview=result, error=error or (result.error if result else None))


def charts(report: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The campaign page's chart numbers: the funnel per arm and, per treated arm, the
    conversion and revenue lift over the holdout with their 95% intervals."""
    steps = ["sent", "delivered", "opened", "clicked", "converted_after_message"]
    arms = [a for a in report["arms"] if a["name"] != "holdout"]
    lifts = [a for a in arms if a["lift"]]
    return {
        "steps": [labels[s] for s in steps],
        "funnel": [{"name": labels.get(a["name"], a["name"]),
                    "values": [a[s] for s in steps]} for a in arms],
        "lift_arms": [labels.get(a["name"], a["name"]) for a in lifts],
        "conversion": [[a["lift"]["conversion"]["absolute"] * 100,
                        a["lift"]["conversion"]["ci"][0] * 100,
                        a["lift"]["conversion"]["ci"][1] * 100] for a in lifts],
        "revenue": [[a["lift"]["revenue_per_customer"]["absolute"],
                     a["lift"]["revenue_per_customer"]["ci"][0],
                     a["lift"]["revenue_per_customer"]["ci"][1]] for a in lifts],
    }


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, context: ContextDep,
                  principal: Annotated[Principal, require(Permission.MANAGE_CAMPAIGNS)],
                  campaign_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> HTMLResponse:
    now = context.clock.now()
    with context.sessions() as session:
        try:
            campaign = service.get_campaign(session, campaign_id)
        except CampaignError:
            return _render(request, context, "error.html", principal=principal,
                           status_code=404, error="not_found")
        spec = service.spec_of(campaign, audience=False)
        counts = service.counts(session, campaign_id=campaign_id, now=now)
        by_arm = service.counts_by_arm(session, campaign_id=campaign_id)
        dead = list(session.scalars(select(Delivery).where(
            Delivery.campaign_id == campaign_id, Delivery.status == "failed")
            .order_by(Delivery.id).limit(20)))
    report = None
    if campaign.status != "draft" and principal.can(Permission.VIEW_ANALYTICS):
        from shopcrm.campaigns.report import campaign_report, report_json

        report = report_json(campaign_report(context, campaign_id=campaign_id, now=now))
    window_ends = (datetime.fromisoformat(report["window_ends"])
                   if report and report["window_ends"] else None)
    return _render(request, context, "campaign.html", principal=principal, campaign=campaign,
                   spec=spec, counts=counts, by_arm=by_arm, dead=dead, report=report,
                   charts=charts, window_ends=window_ends)


@router.post("/campaigns/{campaign_id}/{action}", response_class=HTMLResponse)
async def campaign_action(request: Request, context: ContextDep,
                          principal: Annotated[Principal, require(Permission.SEND_CAMPAIGNS)],
                          campaign_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
                          action: str) -> Response:
    """Launch, pause, resume, cancel or dispatch from the campaign page."""
    actor, now = client_actor(request, principal), context.clock.now()
    error = None
    try:
        if action == "launch":
            service.launch(context, campaign_id=campaign_id, actor=actor)
        elif action in ("pause", "resume", "cancel"):
            with context.sessions.begin() as session:
                getattr(service, action)(session, campaign_id=campaign_id, actor=actor,
                                         now=now)
        elif action == "dispatch":
            config = cached_settings(context.settings)
            if config.broker_url:
                from shopcrm.campaigns.worker import enqueue

                enqueue(context, config, campaign_id=campaign_id)
            else:
                from shopcrm.campaigns.config import channels_from_settings
                from shopcrm.campaigns.dispatch import Dispatcher

                with channels_from_settings(config, sessions=context.sessions,
                                            clock=context.clock) as channels:
                    Dispatcher(context, channels=channels, config=config).run(
                        campaign_id=campaign_id, max_batches=20, actor=actor)
        else:
            return _render(request, context, "error.html", principal=principal,
                           status_code=404, error="not_found")
    except ERRORS as exc:
        error = _error_text(exc)
    if error:
        return _render(request, context, "error.html", principal=principal,
                       status_code=409, error="conflict", message=error)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


# --- unsubscribe (public) ----------------------------------------------------------------

@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, context: ContextDep, token: str) -> HTMLResponse:
    """The link in a message's footer: a confirmation button (a GET never unsubscribes —
    mail scanners follow links)."""
    from shopcrm.campaigns.respect import unsubscribe_token_request

    config = cached_settings(context.settings)
    try:
        found = unsubscribe_token_request(config.secrets(), token[:200])
    except CampaignError:
        return _render(request, context, "unsubscribe.html", status_code=404, state="invalid",
                       token="", channel="")
    return _render(request, context, "unsubscribe.html", state="ask", token=token,
                   channel=found.channel)


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_submit(request: Request, context: ContextDep, token: str) -> Response:
    """The confirmation, and RFC 8058 one-click (``List-Unsubscribe=One-Click`` posted by
    the mailbox provider): suppress and withdraw the marketing consent."""
    from shopcrm.accounts import audit
    from shopcrm.campaigns.respect import unsubscribe, unsubscribe_token_request

    config = cached_settings(context.settings)
    try:
        found = unsubscribe_token_request(config.secrets(), token[:200])
    except CampaignError:
        return _render(request, context, "unsubscribe.html", status_code=404, state="invalid",
                       token="", channel="")
    form = await request.form()
    via = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "email-link"
    actor = audit.Actor(None, f"unsubscribe:{via}",
                        ip=request.client.host if request.client else None,
                        user_agent=request.headers.get("user-agent"))
    with context.sessions.begin() as session:
        unsubscribe(session, request=found, via=via, actor=actor, now=context.clock.now())
    return _render(request, context, "unsubscribe.html", state="done", token="",
                   channel=found.channel)
