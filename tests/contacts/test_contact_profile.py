"""Contact points on the customer profile: the 360° page and the profile API list each
openid / device token with its app, status and disabling reason — addresses masked for
roles without view_pii, whole for those with it. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.campaigns.conftest import add_people
from tests.contacts.conftest import SITE, add_contact

from shopcrm.contacts.service import disable
from shopcrm.context import AppContext

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
TOKEN = "f" * 60 + "beef"


def test_profile_shows_contact_points_masked_without_view_pii(
        context: AppContext, role_client: Callable[..., TestClient]) -> None:
    add_people(context, [101])
    add_contact(context, 101, kind="wechat", app_id="wx1234567890", address=OPENID)
    gone = add_contact(context, 101, kind="push", app_id="com.shop.app", address=TOKEN,
                       platform="android")
    with context.sessions.begin() as session:
        disable(session, customer_id=101, contact_id=gone, reason="push service: 410 Gone",
                now=context.clock.now(), actor=SITE)

    admin, agent = role_client(context, "admin"), role_client(context, "agent")
    whole = admin.get("/api/v1/customers/101").json()["slots"]["contacts"]
    assert [(c["kind"], c["app_id"], c["address"], c["status"]) for c in whole] == [
        ("wechat", "wx1234567890", OPENID, "active"),
        ("push", "com.shop.app", TOKEN, "disabled")]  # active ones first
    assert whole[1]["disabled_reason"] == "push service: 410 Gone"
    masked = agent.get("/api/v1/customers/101").json()["slots"]["contacts"]
    assert [c["address"] for c in masked] == ["oAbC****xYz1", "ffff****beef"]

    page = agent.get("/customers/101", headers={"Accept-Language": "zh-CN"}).text
    assert "消息触达地址" in page and "微信" in page and "wx1234567890" in page
    assert "oAbC****xYz1" in page and OPENID not in page and TOKEN not in page
    assert "已停用 · push service: 410 Gone" in page
    assert OPENID in admin.get("/customers/101").text
