"""Content and offers: sandboxed templates (checked when saved, escaped in HTML, no
access to Python internals), zh/en, SMS length; coupon codes from a pool (unique,
recorded with the delivery, redemptions counted from orders), points through the
loyalty ledger within the rule's budget, co-purchase recommendations from the
warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.campaigns.conftest import (
    add_people,
    counts,
    dispatcher,
    launch,
    sink_channels,
    sms_plan,
    write_facts,
)

from shopcrm.accounts import audit
from shopcrm.campaigns import CampaignError, coupons
from shopcrm.campaigns.config import CampaignSettings
from shopcrm.campaigns.content import (
    RenderData,
    RenderFailed,
    TemplateProblem,
    check_content,
    compile_variant,
    render,
    sms_text,
)
from shopcrm.campaigns.models import CouponCode, Delivery
from shopcrm.campaigns.recommend import Recommender
from shopcrm.campaigns.specs import Content, Variant
from shopcrm.context import AppContext
from shopcrm.loyalty import ledger
from shopcrm.loyalty.models import LedgerEntry
from shopcrm.loyalty.rules import BonusKind


def test_templates_are_checked_when_saved() -> None:
    check_content(Content(variants=[Variant(body="{{ customer.name }} {% for r in "
                                                 "recommendations %}{{ r.title }}{% endfor %}")]),
                  "zh")
    with pytest.raises(TemplateProblem, match="unknown variable"):
        check_content(Content(variants=[Variant(body="{{ cusotmer.name }}")]), "zh")
    with pytest.raises(TemplateProblem, match=r"A\.zh\.body: line 1"):
        check_content(Content(variants=[Variant(body="{{ customer.name ")]), "zh")


def test_the_sandbox_keeps_templates_out_of_python() -> None:
    variant = compile_variant(Variant(body="{{ customer.__class__.__mro__ }}"), "zh")
    with pytest.raises(RenderFailed):
        render(variant, RenderData(customer={"name": "x"}))
    call = compile_variant(Variant(body="{{ link.__globals__[\"os\"] }}"), "zh")
    with pytest.raises(RenderFailed):
        render(call, RenderData(customer={"name": "x"}))


def test_html_is_escaped_text_is_not_and_languages_are_chosen() -> None:
    variant = compile_variant(Variant(
        body="你好 {{ customer.name }}", html="<p>{{ customer.name }}</p>",
        translations={"en": {"body": "Hello {{ customer.name }}"}}), "zh")
    data = RenderData(customer={"name": "<b>Li</b>"})
    zh = render(variant, data)
    assert zh.body == "你好 <b>Li</b>" and zh.html == "<p>&lt;b&gt;Li&lt;/b&gt;</p>"
    data.language = "en"
    assert render(variant, data).body == "Hello <b>Li</b>"
    data.language = "fr"  # no French text: the campaign's language
    assert render(variant, data).language == "zh"


def test_sms_length_and_segments() -> None:
    short = sms_text("双11会员专享券已到账", signature="好物小店", language="zh")
    assert short.text == "【好物小店】双11会员专享券已到账，回T退订"
    assert short.length.segments == 1 and short.length.encoding == "UCS-2"
    long = sms_text("满" * 70, signature="好物小店", language="zh")
    assert long.length.units == 70 + 6 + 5 and long.length.segments == 2
    english = sms_text("Your coupon is ready", signature="Shop", language="en")
    assert english.text == "【Shop】Your coupon is ready. Reply TD to unsubscribe"
    assert english.length.encoding == "UCS-2"  # 【】 are not in the GSM-7 alphabet


def _pool(context: AppContext, codes: int) -> int:
    now = context.clock.now()
    with context.sessions.begin() as session:
        pool = coupons.create_pool(session, name="双11满300减50", kind="amount",
                                   value=Decimal("50"), min_spend=Decimal("300"),
                                   valid_from=now, valid_until=now + timedelta(days=10),
                                   actor=audit.SYSTEM, now=now)
        assert coupons.generate_codes(session, pool_id=pool.id, count=codes, prefix="D11",
                                      actor=audit.SYSTEM, now=now) == codes
        return pool.id


def test_coupon_codes_are_unique_per_message_and_redemptions_come_from_orders(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    people = add_people(context, range(1, 41))
    pool_id = _pool(context, 30)  # fewer codes than treated customers
    campaign_id = launch(context, sms_plan(
        people, offer={"kind": "coupon", "pool_id": pool_id},
        content={"variants": [{"body": "券码{{ coupon.code }}，满{{ coupon.min_spend }}减"
                                       "{{ coupon.value }}，{{ coupon.valid_until }}前有效"}]}))
    with sink_channels(sink_path) as channels:
        dispatcher(context, settings_for(context), channels).run()
    lines = [json.loads(x) for x in sink_path.read_text(encoding="utf-8").splitlines()]
    with context.sessions() as session:
        rows = session.execute(select(Delivery.customer_id, Delivery.coupon_code,
                                      Delivery.status, Delivery.reason)
                               .where(Delivery.campaign_id == campaign_id)).all()
        assigned = dict(session.execute(select(CouponCode.customer_id, CouponCode.code)
                                        .where(CouponCode.campaign_id == campaign_id)).all())
    sent = {r.customer_id: r.coupon_code for r in rows if r.status == "sent"}
    assert len(sent) == 30 and len(set(sent.values())) == 30
    assert assigned == sent
    for line in lines:
        code = sent[int(line["metadata"]["customer"])]
        assert f"券码{code}，满300减50，2026-11-30前有效" in line["body"]
    exhausted = [r for r in rows if r.status == "skipped"]
    assert exhausted and {r.reason for r in exhausted} == {"the coupon pool is exhausted"}
    # redemptions: two orders with one code (limit 1: shown as over the limit), one with
    # another code in lower case, one with a code after the pool expired
    codes = sorted(sent.values())
    now = context.clock.now()
    write_facts(context, "orders", [
        {"source": "shopify", "order_id": "r1", "customer_id": 1, "status": "paid",
         "created_at": now + timedelta(days=1), "paid_amount": Decimal("320"),
         "promo_type": codes[0]},
        {"source": "shopify", "order_id": "r2", "customer_id": 1, "status": "completed",
         "created_at": now + timedelta(days=2), "paid_amount": Decimal("350"),
         "promo_type": codes[0]},
        {"source": "shopify", "order_id": "r3", "customer_id": 2, "status": "paid",
         "created_at": now + timedelta(days=1), "paid_amount": Decimal("300"),
         "promo_type": codes[1].lower()},
        {"source": "shopify", "order_id": "r4", "customer_id": 3, "status": "paid",
         "created_at": now + timedelta(days=20), "paid_amount": Decimal("300"),
         "promo_type": codes[2]},
    ])
    with context.sessions.begin() as session:
        assert coupons.sync_redemptions(session, context.warehouse, pool_id=pool_id) == 2
        stats = coupons.pool_stats(session, pool_id)
    assert stats == {"codes": 30, "assigned": 30, "free": 0, "redeemed": 2, "redemptions": 3}


def test_imported_codes_are_cleaned_and_deduplicated(context: AppContext) -> None:
    now = context.clock.now()
    with context.sessions.begin() as session:
        pool = coupons.create_pool(session, name="p", kind="percent", value=Decimal("15"),
                                   valid_from=now, valid_until=now + timedelta(days=1),
                                   actor=audit.SYSTEM, now=now)
        result = coupons.import_codes(session, pool_id=pool.id, codes=[
            " vip-001 ", "VIP-001", "VIP-002", "", "bad code!", "x"], actor=audit.SYSTEM,
            now=now)
        assert (result.added, result.duplicates, result.invalid) == (2, 1, ["BAD CODE!", "X"])
        again = coupons.import_codes(session, pool_id=pool.id, codes=["VIP-002"],
                                     actor=audit.SYSTEM, now=now)
        assert again.added == 0 and again.duplicates == 1
        with pytest.raises(CampaignError):
            coupons.create_pool(session, name="p", kind="percent", value=Decimal("120"),
                                valid_from=now, valid_until=now + timedelta(days=1),
                                actor=audit.SYSTEM, now=now)


def test_points_are_granted_through_the_ledger_within_the_budget(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    people = add_people(context, range(1, 21))
    now = context.clock.now()
    with context.sessions.begin() as session:  # 100 points at 0.01 = 1.00 each; budget 12
        ledger.upsert_rule(session, code="campaign", kind=BonusKind.CAMPAIGN, name="活动赠分",
                           points=0, cost_per_point=Decimal("0.01"), budget=Decimal("12"),
                           active=True, actor=audit.SYSTEM, now=now)
    campaign_id = launch(context, sms_plan(
        people, experiment={"holdout_share": 0.0}, offer={"kind": "points", "points": 100},
        content={"variants": [{"body": "{{ customer.name }}，送您100积分，现有{{ points.balance }}"
                                       "分（{{ tier.name }}）"}]}))
    config = settings_for(context)
    with sink_channels(sink_path) as channels:
        dispatcher(context, config, channels).run()
        # a second run (or a crash and retry) never grants twice
        dispatcher(context, config, channels).run(take_over=True)
    found = counts(context, campaign_id)
    assert found["sent"] == 12 and found["skipped"] == 8
    with context.sessions() as session:
        grants = session.execute(select(LedgerEntry.customer_id, LedgerEntry.points).where(
            LedgerEntry.idempotency_key.like(f"campaign:{campaign_id}:%"))).all()
        reasons = set(session.scalars(select(Delivery.reason).where(
            Delivery.campaign_id == campaign_id, Delivery.status == "skipped")))
    assert len(grants) == 12 and {p for _, p in grants} == {100}
    assert len(reasons) == 1 and "budget" in next(iter(reasons))
    bodies = [json.loads(x)["body"] for x in sink_path.read_text(encoding="utf-8").splitlines()]
    assert all("现有100分（" in body for body in bodies)


def test_recommendations_from_co_purchase(context: AppContext) -> None:
    """Stroller buyers also bought bottles and wipes; a customer who bought a stroller
    is offered those (not the stroller again), best partner first."""
    day = datetime(2026, 10, 1, 4, tzinfo=UTC)
    orders, lines = [], []
    baskets = {  # order → (customer, skus)
        "o1": (1, ["STROLLER", "BOTTLE", "WIPES"]), "o2": (2, ["STROLLER", "BOTTLE"]),
        "o3": (3, ["STROLLER", "BOTTLE"]), "o4": (4, ["STROLLER", "WIPES"]),
        "o5": (5, ["TEA", "CUP"]), "o6": (9, ["STROLLER"]), "o7": (10, ["TEA"]),
        "o8": (11, ["STROLLER", "BOTTLE"]),
    }
    for order_id, (customer, skus) in baskets.items():
        orders.append({"source": "taobao", "order_id": order_id, "customer_id": customer,
                       "status": "refunded" if order_id == "o8" else "completed",
                       "created_at": day, "paid_amount": Decimal("100")})
        for n, sku in enumerate(skus, start=1):
            lines.append({"source": "taobao", "order_id": order_id, "line_no": n, "sku": sku,
                          "title": None, "quantity": 1, "customer_id": customer,
                          "day": day.date()})
    write_facts(context, "orders", orders)
    write_facts(context, "order_items", lines)
    write_facts(context, "products", [
        {"sku": "BOTTLE", "title": "防胀气奶瓶", "category": "母婴"},
        {"sku": "WIPES", "title": "婴儿湿巾", "category": "母婴"}])
    found = Recommender(context.warehouse, as_of=context.clock.now()).recommend([9, 10, 77])
    assert [r["title"] for r in found[9]] == ["防胀气奶瓶", "婴儿湿巾"]
    assert [r["score"] for r in found[9]] == [3, 2]  # the refunded order o8 does not count
    assert [r["sku"] for r in found[10]] == ["CUP"] and found[10][0]["title"] == "CUP"
    assert 77 not in found


@pytest.mark.parametrize("body", [
    "{{ customer.name }}，券码{{ coupon.code }}", "{{ gift }}", "{{ customer.missing }}!",
    "{{ points.balance }}分", "{{ tier }}", "{{ coupon.value }}", "纯文本\n",
    "{{ customer.items }}", "{{ shop.name }}{{ shop.name }}"])
def test_substitution_fast_path_renders_exactly_as_jinja(body: str) -> None:
    """Plain substitution templates are concatenated without a Jinja context; whatever
    the values, the text is Jinja's own (or the fast path steps aside)."""
    variant = compile_variant(Variant(body=body), "zh")
    for data in (RenderData(customer={"name": "李雷", "items": 3}, coupon={"code": "X1"},
                            points={"balance": 0}, gift=None, shop={"name": "店"}),
                 RenderData(customer={}, coupon={"value": Decimal("5.50")}, gift="杯子",
                            points={"balance": None}, tier={"name": "金卡"})):
        jinja = variant.texts["zh"].body.render(data.variables()).strip()
        assert render(variant, data).body == jinja
