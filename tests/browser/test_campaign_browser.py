"""Campaigns in a real browser: the editor counts SMS characters and segments as one
types and refreshes the preview (HTMX), a campaign is saved, launched and sent from
its page, and the funnel and lift charts are drawn — without script errors or
Content-Security-Policy violations."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

Visit = Any


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def test_edit_preview_launch_and_charts(visit: Callable[..., Visit]) -> None:
    v = visit(locale="zh-CN")
    v.sign_in("admin")
    v.go("/campaigns")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', v.page.content())
    assert csrf
    for name, fmt in (("jd_orders_gbk.csv", "jd-orders"), ("pdd_orders.csv", "pdd-orders"),
                      ("woocommerce_orders.csv", "woocommerce-orders"),
                      ("shopify_orders.csv", "shopify-orders")):  # more customers
        answer = v.page.request.post(
            v.base + "/api/v1/imports", headers={"x-csrf-token": csrf.group(1)},
            multipart={"format": fmt, "file": {"name": name, "mimeType": "text/csv",
                                               "buffer": (FIXTURES / name).read_bytes()}})
        assert answer.status in (201, 422), answer.text()
    ids = range(1, 200)  # the shop's customers; IDs nobody has are left out at launch
    v.go("/campaigns/new")
    page = v.page
    page.fill("input[name=name]", "浏览器测试活动")
    page.fill("textarea[name=customer_ids]", ", ".join(map(str, ids)))
    page.fill("input[name=holdout_percent]", "50")
    body = page.locator("textarea[name=v0_body]")
    body.fill("")
    body.type("会员日快乐")
    counter = page.locator('[data-sms-count-for="v0_body"]')
    expect(counter).to_contain_text("1 条计费")  # 【shopcrm】会员日快乐，回T退订: one segment
    body.fill("满" * 70)
    body.dispatch_event("input")
    expect(counter).to_contain_text("2 条计费")
    expect(page.locator("#preview")).to_contain_text("【shopcrm】" + "满" * 70)
    body.fill("{{ customer.name }}，会员日快乐")
    body.dispatch_event("input")
    expect(page.locator("#preview")).to_contain_text("王小明，会员日快乐")
    v.shot("campaign-editor")
    with page.expect_navigation():
        page.click("form.editor button[type=submit]")
    assert re.search(r"/campaigns/\d+$", page.url)
    for action in ("启动", "发送到期消息"):
        with page.expect_navigation():
            page.click(f"form.inline button:has-text('{action}')")
    for chart in ("campaign_funnel", "campaign_lift"):
        page.wait_for_selector(f'[data-chart="{chart}"][data-rendered="true"] svg')
    expect(page.locator("h1 .badge")).to_have_text("已完成")
    v.shot("campaign-page")
