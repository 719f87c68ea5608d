"""The member card on the customer page and the loyalty dashboard."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from tests.web.conftest import Shop

from shopcrm.loyalty import ledger


def test_member_card_and_dashboard(shop: Shop, signed_in: Callable[..., TestClient]) -> None:
    ming = shop.customer_id("王小明", "taobao")
    context = shop.context
    with context.sessions.begin() as session:
        ledger.earn_order(session, customer_id=ming, order_ref="web:o1", points=388,
                          paid=Decimal("388"), now=context.clock.now())
        ledger.redeem(session, customer_id=ming, points=88, key="web-r1",
                      now=context.clock.now())
    page = signed_in("admin").get(f"/customers/{ming}").text
    card = page[page.index('id="membership"'):page.index('data-field="phone"')]
    assert "普通会员" in card and "300" in card and "高级会员" in card
    assert "订单积分" in card and "已兑换" in card and "web:o1" in card
    english = signed_in("admin", lang="en").get(f"/customers/{ming}").text
    assert "Points history" in english and "Order points" in english
    dashboard = signed_in("analyst").get("/loyalty")
    assert dashboard.status_code == 200
    data = json.loads(re.search(r'id="chart-data">(.*?)</script>', dashboard.text, re.S)
                      .group(1))  # type: ignore[union-attr]
    assert data["issued"][-1] >= 388 and data["redeemed"][-1] >= 88
    assert "至尊VIP" in dashboard.text
    assert signed_in("agent").get("/loyalty").status_code == 403
