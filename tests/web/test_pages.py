"""The server-rendered pages: dashboard chart data, customer search (full page and HTMX
fragment), the customer page with PII masked per permission, Settings (users, roles,
audit log with filters), navigation per role, languages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Shop = Any  # tests/web/conftest.py's Shop: the module's small shop and its browsers

HTML = {"accept": "text/html"}


def chart_data(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page,
                      re.S)
    assert found, "the dashboard embeds its chart data"
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_dashboard_embeds_the_shops_chart_data(signed_in: Callable[..., TestClient]) -> None:
    page = signed_in("admin").get("/")
    assert page.status_code == 200
    assert '<script src="/static/echarts/echarts.min.js" defer></script>' in page.text
    for chart in ("gmv", "buyers", "channels"):
        assert f'data-chart="{chart}"' in page.text
    data = chart_data(page.text)
    assert data["months"] == ["2024-05", "2024-06", "2024-11", "2024-12"]
    assert data["gmv"] == [138.5, 99.0, 256.0, 55.0]
    assert data["orders"] == [1, 1, 1, 1]
    # 王小明 bought in May and came back in June; the others bought once.
    assert data["new_buyers"] == [1, 0, 1, 1]
    assert data["returning_buyers"] == [0, 1, 0, 0]
    assert data["channels"] == [{"source": "taobao", "orders": 4, "gmv": 548.5}]
    assert data["currency"] == "CNY" and data["locale"] == "zh-CN"
    assert data["echarts_locale"] == "ZH"
    assert data["channel_names"]["taobao"] == "淘宝/天猫"  # type: ignore[index]
    assert data["labels"]["returning_buyers"] == "回头客"  # type: ignore[index]
    assert "店铺概览" in page.text and "淘宝/天猫" in page.text


def test_dashboard_in_english(signed_in: Callable[..., TestClient]) -> None:
    page = signed_in("admin", lang="en").get("/")
    data = chart_data(page.text)
    assert data["labels"]["gmv"] == "GMV"  # type: ignore[index]
    assert data["channel_names"]["taobao"] == "Taobao / Tmall"  # type: ignore[index]
    assert data["locale"] == "en" and data["echarts_locale"] == "EN"
    assert "GMV and orders by month" in page.text and "Channel mix" in page.text


def test_vendored_scripts_are_served_by_the_app(shop: Shop) -> None:
    client = shop.anonymous()
    for path, marker in (("/static/echarts/echarts.min.js", "echarts"),
                         ("/static/htmx/htmx.min.js", "htmx"),
                         ("/static/app.js", "chart-data"),
                         ("/static/echarts/LICENSE", "Apache License"),
                         ("/static/htmx/LICENSE", "BSD")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert marker in response.text, path


def test_pages_carry_no_inline_script_and_a_strict_policy(
        signed_in: Callable[..., TestClient]) -> None:
    client = signed_in("admin")
    for path in ("/", "/customers", "/settings", "/settings/audit"):
        page = client.get(path).text
        assert "script-src 'self'" in page
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
        for attributes, body in scripts:
            assert "src=" in attributes or 'type="application/json"' in attributes, path
            assert "src=" not in attributes or not body.strip(), path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", page), path  # no inline handlers


def test_customer_search_full_page_and_htmx_fragment(
        signed_in: Callable[..., TestClient]) -> None:
    client = signed_in("admin")
    full = client.get("/customers", params={"q": "王"})
    assert full.status_code == 200
    assert "<html" in full.text and 'id="results"' in full.text and "王小明" in full.text
    fragment = client.get("/customers", params={"q": "138 1234 5678"},
                          headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<header" not in fragment.text
    assert "王小明" in fragment.text and "李芳" not in fragment.text
    assert 'href="/customers/' in fragment.text
    restore = client.get("/customers", params={"q": "王"},
                         headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_customer_page_shows_identities_and_orders_newest_first(
        shop: Shop, signed_in: Callable[..., TestClient]) -> None:
    ming = shop.customer_id("王小明", "taobao")
    page = signed_in("admin").get(f"/customers/{ming}")
    assert page.status_code == 200
    text = page.text
    assert "王小明" in text and "+8613812345678" in text
    assert "tb_小明_1988" in text and "文三路 188号" in text
    assert text.index("3012345678901234502") < text.index("3012345678901234501")
    assert "已退款" in text and "已完成" in text  # statuses in the page's language
    assert "好店旗舰店" in text
    assert "个人信息已脱敏" not in text


def test_agent_sees_the_customer_page_masked(shop: Shop,
                                            signed_in: Callable[..., TestClient]) -> None:
    agent = signed_in("agent")
    ming = shop.customer_id("王小明", "taobao")
    text = agent.get(f"/customers/{ming}").text
    assert "138****5678" in text and "王**" in text and "****" in text
    for secret in ("13812345678", "王小明", "文三路", "188号"):
        assert secret not in text, secret
    assert "个人信息已脱敏" in text
    assert "3012345678901234501" in text  # orders are not personal data
    shopify = shop.customer_id("王小明", "shopify")
    text = agent.get(f"/customers/{shopify}").text
    assert "ming.wang" not in text and "m***@example.com" in text
    listing = agent.get("/customers", params={"q": "13812345678"}).text
    table = listing.split('<table class="customers">', 1)[1].split("</table>", 1)[0]
    assert "138****5678" in table and "13812345678" not in table


def test_unknown_customer_is_an_html_404(signed_in: Callable[..., TestClient]) -> None:
    client = signed_in("admin")
    missing = client.get("/customers/987654321", headers=HTML)
    assert missing.status_code == 404
    assert "未找到" in missing.text and "<html" in missing.text
    assert client.get("/customers/0", headers=HTML).status_code == 422
    assert client.get("/customers/99999999999999999999999", headers=HTML).status_code == 422


def test_settings_lists_users_and_roles(signed_in: Callable[..., TestClient]) -> None:
    page = signed_in("admin").get("/settings")
    assert page.status_code == 200
    text = page.text
    for username in ("admin", "agent", "analyst", "auditor"):
        assert f"<td>{username}</td>" in text
    assert "查看个人信息" in text and "管理用户" in text  # permission names translated
    assert 'href="/settings/audit"' in text


def test_settings_forbidden_without_the_permission(
        signed_in: Callable[..., TestClient]) -> None:
    agent = signed_in("agent")
    assert agent.get("/settings", headers=HTML).status_code == 403
    assert agent.get("/settings/audit", headers=HTML).status_code == 403
    analyst = signed_in("analyst")
    assert analyst.get("/settings", headers=HTML).status_code == 403
    auditor = signed_in("auditor")
    assert auditor.get("/settings", headers=HTML).status_code == 403
    audit = auditor.get("/settings/audit")
    assert audit.status_code == 200
    assert 'href="/settings/audit"' in audit.text
    assert 'href="/settings"' not in audit.text  # no tab it cannot open


def test_audit_log_filters(shop: Shop, signed_in: Callable[..., TestClient]) -> None:
    anonymous = shop.anonymous()
    anonymous.post("/login", data={"username": "agent", "password": "not the password"})
    admin = signed_in("admin")
    every = admin.get("/settings/audit").text
    assert "login" in every
    failed = admin.get("/settings/audit", params={"action": "login", "outcome": "failed"})
    rows = re.findall(r'<tr class="o-([a-z]+)">', failed.text)
    assert rows and set(rows) == {"failed"}
    by_actor = admin.get("/settings/audit", params={"actor": "auditor"}).text
    assert re.findall(r"<tr class=\"o-ok\">.*?<td>auditor</td>", by_actor, re.S)
    assert "<td>admin</td>" not in by_actor
    fragment = admin.get("/settings/audit", params={"action": "login"},
                         headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'class="audit"' in fragment.text
    # the shop's day (Asia/Shanghai): the fake clock says 2026-11-20 10:00 there
    assert "o-" in admin.get("/settings/audit", params={"since": "2026-11-20",
                                                       "until": "2026-11-20"}).text
    none = admin.get("/settings/audit", params={"since": "2026-11-21"}).text
    assert "没有符合筛选条件的记录" in none
    odd = admin.get("/settings/audit", params={"since": "yesterday", "until": "13/45"})
    assert odd.status_code == 200  # unreadable dates are ignored, not a failure


def test_navigation_follows_the_role(shop: Shop, signed_in: Callable[..., TestClient]) -> None:
    admin = signed_in("admin").get("/customers").text
    nav = re.search(r'<nav class="sections".*?</nav>', admin, re.S)
    assert nav
    assert [p for p in re.findall(r'href="([^"]+)"', nav.group(0))] == [
        "/", "/customers", "/segments", "/tags", "/loyalty", "/campaigns", "/service",
        "/settings"]
    agent = signed_in("agent").get("/customers").text
    nav = re.search(r'<nav class="sections".*?</nav>', agent, re.S)
    assert nav and re.findall(r'href="([^"]+)"', nav.group(0)) == ["/customers", "/service"]
    # an agent has no dashboard: signing in lands on the customer list
    fresh = shop.anonymous()
    landed = fresh.post("/login", data={"username": "agent", "password": "correct horse battery"},
                        follow_redirects=False)
    assert landed.headers["location"] == "/customers"


def test_language_choice_is_remembered(shop: Shop) -> None:
    client = shop.anonymous()
    page = client.get("/login", headers={"accept-language": "en-US,en;q=0.9"})
    assert "Sign in" in page.text
    switched = client.get("/lang/zh_CN", headers={"referer": "http://testserver/login?next=/x"},
                          follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/login?next=/x"
    assert "lang=zh_CN" in switched.headers["set-cookie"]
    again = client.get("/login", headers={"accept-language": "en-US"})
    assert "登录" in again.text
    foreign = client.get("/lang/en", headers={"referer": "https://evil.example/phish"},
                         follow_redirects=False)
    assert foreign.headers["location"] == "/"


def test_languages_do_not_leak_between_concurrent_requests(shop: Shop) -> None:
    """Translations are per response, not installed into the shared environment."""
    from concurrent.futures import ThreadPoolExecutor

    zh, en = shop.anonymous(), shop.anonymous()
    zh.cookies.set("lang", "zh_CN")
    en.cookies.set("lang", "en")

    def fetch(i: int) -> bool:
        client, expected, other = ((zh, "用户名", "Username") if i % 2
                                   else (en, "Username", "用户名"))
        text = client.get("/login").text
        return expected in text and other not in text

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(fetch, range(40)))


def test_an_empty_shop_renders_without_charts(tmp_path: Any) -> None:
    from datetime import UTC, datetime

    from shopcrm.accounts.service import create_user
    from shopcrm.api.app import create_app
    from shopcrm.clock import FakeClock
    from shopcrm.context import build_context
    from shopcrm.settings import Settings

    context = build_context(Settings(home=tmp_path / "home"),
                            clock=FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    try:
        with context.sessions.begin() as session:
            create_user(session, username="admin", password="correct horse battery",
                        role="admin", now=context.clock.now())
        client = TestClient(create_app(context), raise_server_exceptions=False)
        client.post("/login", data={"username": "admin", "password": "correct horse battery"})
        page = client.get("/")
        assert page.status_code == 200
        assert 'id="chart-data"' not in page.text
        assert "还没有订单" in page.text
        assert client.get("/customers").status_code == 200
        assert "没有找到客户" in client.get("/customers").text
    finally:
        context.close()
