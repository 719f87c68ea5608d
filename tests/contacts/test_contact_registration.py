"""The registration API: WeChat openids and push tokens per customer, idempotent
repeats, problem+json for unknown customers, bad platforms and foreign openids,
masking without view_pii, disabling. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.campaigns.conftest import add_people

from shopcrm.context import AppContext

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"


def problem(response: object) -> dict[str, object]:
    assert response.headers["content-type"].startswith(  # type: ignore[attr-defined]
        "application/problem+json")
    data: dict[str, object] = response.json()  # type: ignore[attr-defined]
    return data


def test_register_list_and_disable(context: AppContext,
                                   role_client: Callable[..., TestClient]) -> None:
    add_people(context, [101, 102])
    agent = role_client(context, "agent")  # edit_customers, no view_pii
    body = {"kind": "wechat", "app_id": "wx1234567890", "openid": OPENID,
            "unionid": "uAbCdEfGhIjKlMnOp"}
    first = agent.post("/api/v1/customers/101/contacts", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["address"] == "oAbC****" + OPENID[-4:]
    again = agent.post("/api/v1/customers/101/contacts", json=body)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    token = {"kind": "push", "app_id": "com.shop.app", "token": "a" * 64,
             "platform": "iOS"}
    pushed = agent.post("/api/v1/customers/101/contacts", json=token)
    assert pushed.status_code == 201 and pushed.json()["platform"] == "ios"
    admin = role_client(context, "admin")
    listed = admin.get("/api/v1/customers/101/contacts").json()["items"]
    assert [(c["kind"], c["address"]) for c in listed] == [("wechat", OPENID),
                                                          ("push", "a" * 64)]
    # the same device signs in as another customer: the token moves with the device
    moved = agent.post("/api/v1/customers/102/contacts", json=token)
    assert moved.status_code == 200 and moved.json()["customer_id"] == 102
    off = agent.post(f"/api/v1/customers/102/contacts/{moved.json()['id']}/disable",
                     json={"reason": "signed out"})
    assert off.status_code == 200
    assert (off.json()["status"], off.json()["disabled_reason"]) == ("disabled", "signed out")
    # registering it again re-activates it
    back = agent.post("/api/v1/customers/102/contacts", json=token)
    assert (back.json()["status"], back.json()["disabled_reason"]) == ("active", None)


def test_bad_input_is_problem_json(context: AppContext,
                                   role_client: Callable[..., TestClient]) -> None:
    add_people(context, [201, 202])
    agent = role_client(context, "agent")
    url = "/api/v1/customers/201/contacts"
    bad_platform = agent.post(url, json={"kind": "push", "app_id": "com.shop.app",
                                         "token": "t" * 40, "platform": "symbian"})
    assert bad_platform.status_code == 422
    assert "symbian" in str(problem(bad_platform)["detail"])
    short = agent.post(url, json={"kind": "wechat", "app_id": "wx1", "openid": "o1"})
    assert short.status_code == 422 and "openid" in str(problem(short)["detail"])
    spaced = agent.post(url, json={"kind": "push", "app_id": "com.shop.app",
                                   "token": "has a space inside", "platform": "ios"})
    assert spaced.status_code == 422
    unknown_kind = agent.post(url, json={"kind": "fax", "app_id": "x", "address": "y"})
    assert unknown_kind.status_code == 422
    problem(unknown_kind)
    missing = agent.post("/api/v1/customers/999999/contacts",
                         json={"kind": "wechat", "app_id": "wx1", "openid": OPENID})
    assert missing.status_code == 404 and "999999" in str(problem(missing)["detail"])
    assert agent.post(url, json={"kind": "wechat", "app_id": "wx1",
                                 "openid": OPENID}).status_code == 201
    taken = agent.post("/api/v1/customers/202/contacts",
                       json={"kind": "wechat", "app_id": "wx1", "openid": OPENID})
    assert taken.status_code == 409 and "merge" in str(problem(taken)["detail"])
    # an analyst may read customers but not change them
    analyst = role_client(context, "analyst")
    assert analyst.post(url, json={"kind": "wechat", "app_id": "wx2",
                                   "openid": OPENID}).status_code == 403
    assert analyst.get(url).status_code == 200
    nobody = agent.post("/api/v1/customers/201/contacts/999/disable", json={})
    assert nobody.status_code == 404
