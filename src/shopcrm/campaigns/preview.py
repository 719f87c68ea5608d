"""Preview a message as one chosen customer would receive it — while editing.

The same templates, values and SMS assembly as dispatch, without sending or assigning
anything: the coupon is a sample code of the pool, tracked links point nowhere. Who
may not see personal data (no ``view_pii``) sees the customer's values masked in the
preview too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shopcrm.accounts.masking import mask_email, mask_name, mask_phone
from shopcrm.campaigns import CampaignError
from shopcrm.campaigns.content import (
    RenderData,
    RenderFailed,
    TemplateProblem,
    check_content,
    compile_variant,
    render,
    sms_text,
    used_variables,
)
from shopcrm.campaigns.models import CouponPool
from shopcrm.campaigns.personalize import customer_language, loyalty_values, recipients
from shopcrm.campaigns.rules import SmsLength
from shopcrm.campaigns.specs import Content, Offer, Variant

if TYPE_CHECKING:
    from shopcrm.campaigns.config import CampaignSettings
    from shopcrm.context import AppContext

SAMPLE_CODE = "SAMPLE0000"


@dataclass(frozen=True)
class Preview:
    customer_id: int | None
    language: str
    subject: str | None
    body: str
    html: str | None
    params: dict[str, str]
    sms: SmsLength | None
    error: str | None = None


def preview(context: AppContext, config: CampaignSettings, *, channel: str, language: str,
            variant: Variant, offer: Offer | None = None, customer_id: int | None = None,
            mask: bool = False, campaign_name: str = "") -> Preview:
    """Render ``variant`` for ``customer_id`` (or a sample customer). Template errors
    come back in ``error`` rather than raising, so the editor can show them."""
    content = Content(variants=[variant])
    try:
        check_content(content, language)
    except TemplateProblem as exc:
        return Preview(customer_id, language, None, "", None, {}, None, str(exc))
    needs = used_variables(content, language)
    offer = offer or Offer()
    now = context.clock.now()
    profile: dict[str, Any] = {"id": 0, "name": "王小明", "surname": "王", "city": "杭州",
                               "province": "浙江省", "gender": ""}
    loyalty = None
    recs: list[dict[str, Any]] = []
    person_language = language
    with context.sessions() as session:
        if customer_id is not None:
            person = recipients(session, [customer_id]).get(customer_id)
            if person is None:
                raise CampaignError(f"no customer {customer_id}")
            profile = person.profile()
            person_language = customer_language(person.phone, person.email, language)
            if mask:
                profile["name"] = mask_name(profile["name"]) or ""
                profile["surname"] = profile["name"][:1]
                profile["phone"] = mask_phone(person.phone)
                profile["email"] = mask_email(person.email)
            if needs & {"tier", "points"}:
                loyalty = loyalty_values(session, [customer_id], now=now)[customer_id]
        coupon = None
        if offer.kind == "coupon" and offer.pool_id is not None:
            pool = session.get(CouponPool, offer.pool_id)
            if pool is not None:
                coupon = {"code": SAMPLE_CODE, "kind": pool.kind,
                          "value": format(pool.value.normalize(), "f"),
                          "min_spend": format(pool.min_spend.normalize(), "f")
                          if pool.min_spend else "",
                          "valid_until": pool.valid_until.date().isoformat()}
    if customer_id is not None and "recommendations" in needs:
        from shopcrm.campaigns.recommend import Recommender

        recs = Recommender(context.warehouse, as_of=now).recommend([customer_id]).get(
            customer_id, [])
    public = config.public_url.rstrip("/")
    data = RenderData(
        customer=profile, tier=loyalty[0] if loyalty else {"code": "", "name": "普通会员"},
        points=loyalty[1] if loyalty else {"balance": 0, "expiring": 0, "expires_on": ""},
        coupon=coupon, recommendations=recs,
        gift=offer.gift if offer.kind == "gift" else None, shop={"name": config.shop_name},
        campaign={"id": 0, "name": campaign_name}, unsubscribe_url=f"{public}/u/preview",
        link=lambda url: url, language=person_language)
    try:
        rendered = render(compile_variant(variant, language), data)
    except RenderFailed as exc:
        return Preview(customer_id, language, None, "", None, {}, None, str(exc))
    body, length = rendered.body, None
    if channel == "sms":
        try:
            assembled = sms_text(body, signature=config.signature(),
                                 language=rendered.language)
        except ValueError as exc:
            return Preview(customer_id, rendered.language, None, body, None, {}, None, str(exc))
        body, length = assembled.text, assembled.length
    return Preview(customer_id, rendered.language, rendered.subject, body, rendered.html,
                   rendered.params, length)
