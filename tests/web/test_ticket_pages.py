"""The service desk in the browser (TestClient): an agent opens a ticket from a customer
page, answers it, moves it through its states and records a rating; names and contacts
are masked for the agent; other roles cannot open the desk; a refused change says why."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.web.conftest import Shop


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_an_agent_works_a_ticket_from_open_to_rated(shop: Shop,
                                                   signed_in: Callable[..., TestClient]) -> None:
    agent = signed_in("agent")
    ming = shop.customer_id("王小明", "taobao")
    profile = agent.get(f"/customers/{ming}").text
    assert "客服工单" in profile and f"/service/tickets/new?customer_id={ming}" in profile
    form = agent.get(f"/service/tickets/new?customer_id={ming}")
    assert form.status_code == 200 and f'value="{ming}"' in form.text
    created = agent.post("/service/tickets", data={
        "csrf_token": _csrf(form.text), "customer_id": str(ming), "channel": "wangwang",
        "kind": "after_sales", "subject": "<script>alert(1)</script> 退货",
        "order_ref": "T1001", "body": "收到的杯子碎了"}, follow_redirects=False)
    assert created.status_code == 303
    url = created.headers["location"]
    page = agent.get(url).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "王**" in page and "王小明" not in page  # the agent has no PII rights
    assert "收到的杯子碎了" in page and "售后" in page and "旺旺（淘宝）" in page
    ticket_id = url.rsplit("/", 1)[1]
    token = _csrf(page)
    assert agent.post(f"/service/tickets/{ticket_id}/replies",
                      data={"csrf_token": token, "body": "很抱歉，已为您补发"},
                      follow_redirects=False).status_code == 303
    assert agent.post(f"/service/tickets/{ticket_id}/status",
                      data={"csrf_token": token, "status": "resolved"},
                      follow_redirects=False).status_code == 303
    assert agent.post(f"/service/tickets/{ticket_id}/rating",
                      data={"csrf_token": token, "score": "4", "comment": "快"},
                      follow_redirects=False).status_code == 303
    done = agent.get(url).text
    assert "已解决" in done and "4 / 5" in done and "很抱歉，已为您补发" in done
    admin_view = signed_in("admin").get(url).text
    assert "王小明" in admin_view
    desk = agent.get("/service?queue=all").text
    assert f"/service/tickets/{ticket_id}" in desk and "满意度" in desk


def test_a_refused_change_is_explained_not_hidden(shop: Shop,
                                                  signed_in: Callable[..., TestClient]) -> None:
    agent = signed_in("agent", lang="en")
    form = agent.get("/service/tickets/new")
    created = agent.post("/service/tickets", data={
        "csrf_token": _csrf(form.text), "contact": "13812345678", "channel": "phone",
        "kind": "consultation", "subject": "Delivery time?"}, follow_redirects=False)
    url = created.headers["location"]
    page = agent.get(url).text
    assert "138****5678" in page and "13812345678" not in page
    ticket_id = url.rsplit("/", 1)[1]
    refused = agent.post(f"/service/tickets/{ticket_id}/rating",
                         data={"csrf_token": _csrf(page), "score": "5"},
                         follow_redirects=False)
    assert refused.status_code == 422 and "after it is resolved" in refused.text
    missing = agent.post("/service/tickets", data={
        "csrf_token": _csrf(form.text), "channel": "phone", "kind": "consultation",
        "subject": "no one"}, follow_redirects=False)
    assert missing.status_code == 422 and "customer or a contact" in missing.text
    assert agent.get("/service/tickets/999999").status_code == 404


def test_only_ticket_handlers_see_the_desk(signed_in: Callable[..., TestClient]) -> None:
    assert signed_in("analyst").get("/service").status_code == 403
    agent_page = signed_in("agent").get("/service").text
    assert 'href="/service"' in agent_page  # in the navigation
    assert 'href="/service"' not in signed_in("analyst").get("/").text
