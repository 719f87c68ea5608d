"""What a person sees in a real browser: sign in, switch language, search a customer and
open their page, the dashboard's charts drawn, a phone-sized screen, Settings — and an
agent seeing masked phones where an admin sees them whole."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Visit = Any  # tests/browser/conftest.py's Visit: a browser context with its page


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def charts_drawn(visit: Visit) -> dict[str, int]:
    """Wait for the three charts and count what ECharts drew into each."""
    page = visit.page
    for chart in ("gmv", "buyers", "channels"):
        page.wait_for_selector(f'[data-chart="{chart}"][data-rendered="true"] svg')
    counts: dict[str, int] = page.evaluate("""() => {
        const out = {};
        for (const el of document.querySelectorAll('[data-chart]')) {
            const option = echarts.getInstanceByDom(el).getOption();
            out[el.dataset.chart + ':points'] = option.series
                .reduce((n, s) => n + s.data.filter(v => v !== 0).length, 0);
            out[el.dataset.chart + ':shapes'] = el.querySelectorAll('svg path').length;
        }
        return out;
    }""")
    return counts


def test_sign_in_and_see_the_dashboard_charts(visit: Callable[..., Visit]) -> None:
    v = visit(locale="zh-CN")
    v.go("/")
    assert "/login" in v.page.url  # signing in first
    expect(v.page.locator("form.login h1")).to_have_text("登录")
    v.shot("login-zh")
    v.sign_in("admin")
    assert v.page.url.endswith("/")
    expect(v.page.locator("h1")).to_have_text("店铺概览")
    counts = charts_drawn(v)
    assert counts["gmv:points"] == 8  # four months of GMV bars and of orders
    assert counts["buyers:points"] == 4  # three months with a new buyer, one returning
    assert counts["channels:points"] == 1  # one channel in the fixtures: Taobao
    for chart in ("gmv", "buyers", "channels"):
        assert counts[f"{chart}:shapes"] > 3, counts
    legend = v.page.locator('[data-chart="buyers"] svg').text_content()
    assert "新买家" in legend and "回头客" in legend
    assert "淘宝/天猫" in v.page.locator('[data-chart="channels"] svg').text_content()
    box = v.page.locator('[data-chart="gmv"]').bounding_box()
    assert box
    v.page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    tooltip = v.page.locator('[data-chart="gmv"] div', has_text="¥256.00")
    expect(tooltip.first).to_be_visible()  # hovering shows the month's figures
    v.shot("dashboard-zh")


def test_switch_language_and_it_is_remembered(visit: Callable[..., Visit]) -> None:
    v = visit(locale="zh-CN")
    v.sign_in("admin")
    expect(v.page.locator("h1")).to_have_text("店铺概览")
    with v.page.expect_navigation():
        v.page.click("text=English")
    expect(v.page.locator("h1")).to_have_text("Shop overview")
    charts_drawn(v)
    assert "Returning buyers" in v.page.locator('[data-chart="buyers"] svg').text_content()
    v.shot("dashboard-en")
    v.go("/customers")
    expect(v.page.locator("h1")).to_have_text("Customers")
    v.page.reload()
    expect(v.page.locator("nav.sections")).to_contain_text("Dashboard")
    with v.page.expect_navigation():
        v.page.click("text=中文")
    expect(v.page.locator("h1")).to_have_text("客户")


def test_search_a_customer_and_open_the_profile(visit: Callable[..., Visit]) -> None:
    v = visit(locale="zh-CN")
    v.sign_in("admin")
    v.go("/customers")
    rows = v.page.locator("#results tbody tr")
    # Five source records, three people: 王小明 and 李芳 bought on Taobao and Shopify.
    expect(rows).to_have_count(3)
    v.page.fill("input[name=q]", "王")  # HTMX swaps the results in as one types
    expect(rows).to_have_count(1)
    expect(v.page.locator("#results")).not_to_contain_text("张三")
    assert re.search(r"/customers\?q=", v.page.url)  # the search is in the address
    v.shot("customers-search-zh")
    with v.page.expect_navigation():
        rows.filter(has_text="淘宝/天猫").locator("a").nth(1).click()
    assert re.search(r"/customers/\d+$", v.page.url)
    expect(v.page.locator("h1")).to_contain_text("王小明")
    expect(v.page.locator('dd[data-field="phone"]')).to_have_text("+8613812345678")
    expect(v.page.locator("table.orders tbody tr")).to_have_count(2)
    expect(v.page.locator("table.identities")).to_contain_text("tb_小明_1988")
    expect(v.page.locator("table.identities")).to_contain_text("ming.wang@example.com")
    v.shot("customer-admin-zh")


def test_agent_sees_masked_phones_admin_sees_them_whole(
        visit: Callable[..., Visit]) -> None:
    agent = visit(locale="en-US")
    agent.sign_in("agent")
    assert agent.page.url.endswith("/customers")  # an agent has no dashboard
    agent.page.fill("input[name=q]", "13812345678")
    rows = agent.page.locator("#results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("138****5678")
    assert "13812345678" not in agent.page.locator("#results").inner_text()
    with agent.page.expect_navigation():
        rows.first.locator("a").first.click()
    expect(agent.page.locator('dd[data-field="phone"]')).to_have_text("138****5678")
    expect(agent.page.locator("h1")).to_contain_text("王**")
    expect(agent.page.locator(".note")).to_be_visible()
    body = agent.page.locator("main").inner_text()
    assert "13812345678" not in body and "王小明" not in body
    agent.shot("customer-agent-en")

    admin = visit(locale="en-US")
    admin.sign_in("admin")
    admin.go("/customers?q=13812345678")
    expect(admin.page.locator("#results tbody tr").first).to_contain_text("+8613812345678")
    admin.shot("customers-admin-en")


def test_phone_screen(visit: Callable[..., Visit]) -> None:
    v = visit(locale="zh-CN", width=390, height=844, mobile=True)
    v.sign_in("admin")
    charts_drawn(v)
    fits = v.page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert fits, "the dashboard scrolls sideways on a phone"
    box = v.page.locator('[data-chart="gmv"]').bounding_box()
    assert box and box["width"] <= 390
    v.shot("dashboard-phone-zh")
    v.go("/customers")
    assert v.page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    v.shot("customers-phone-zh")


def test_settings_users_and_audit_log(visit: Callable[..., Visit]) -> None:
    v = visit(locale="zh-CN")
    v.sign_in("admin")
    with v.page.expect_navigation():
        v.page.click("nav.sections >> text=设置")
    expect(v.page.locator("table.users")).to_contain_text("agent")
    expect(v.page.locator("table.roles")).to_contain_text("查看个人信息")
    v.shot("settings-users-zh")
    with v.page.expect_navigation():
        v.page.click("nav.tabs >> text=审计日志")
    v.page.select_option("select[name=action]", "login")  # HTMX filters on change
    expect(v.page).to_have_url(re.compile(r"action=login"))
    actions = v.page.locator("table.audit tbody td.action")
    expect(actions.first).to_have_text("登录")  # the action, in the page's language
    assert set(actions.all_inner_texts()) == {"登录"}
    v.shot("settings-audit-zh")

    agent = visit(locale="zh-CN")
    agent.sign_in("agent")
    # expected: the refusal, and the favicon Chromium asks for on that bare error page
    agent.tolerate = ("status of 403", "status of 404", "HTTP 403")
    response = agent.go("/settings")
    assert response.status == 403


def test_segment_builder_live_count(visit: Callable[..., Visit]) -> None:
    """Add a condition, set it, negate it: the count follows over HTMX each time, and the
    problems the server finds are marked on the condition."""
    v = visit(locale="en")
    v.sign_in("admin")
    v.go("/segments/new")
    estimate = v.page.locator("#estimate")
    expect(estimate).to_contain_text("rule.children")  # an empty group is not a rule
    v.page.click("text=+ Condition")
    condition = v.page.locator(".rule-cond").first
    expect(condition).to_have_class(re.compile("invalid"))  # no value yet
    condition.locator("select").nth(1).select_option("frequency")
    condition = v.page.locator(".rule-cond").first
    condition.locator("select").nth(2).select_option("gte")
    value = v.page.locator(".rule-cond input").first
    value.fill("1")
    value.press("Tab")
    expect(estimate.locator(".estimate b")).to_have_text(re.compile(r"^\d+$"))
    buyers = int(estimate.locator(".estimate b").inner_text())
    universe = int(re.search(r"of ([\d,]+)", estimate.inner_text()).group(1)  # type: ignore[union-attr]
                   .replace(",", ""))
    assert 0 < buyers <= universe
    expect(v.page.locator(".rule-cond.invalid")).to_have_count(0)
    v.page.locator(".rule-not input").first.check()
    expect(estimate.locator(".estimate b")).to_have_text(str(universe - buyers))
    v.page.fill("input[name=name]", "not buyers")
    v.shot("segment-builder-en")
    with v.page.expect_navigation():
        v.page.click("text=Save segment")
    assert re.search(r"/segments/\d+$", v.page.url)
    expect(v.page.locator("#segment-size")).to_have_text(str(universe - buyers))
