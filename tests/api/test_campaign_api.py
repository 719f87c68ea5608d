"""Campaigns over HTTP: a marketer plans, previews (personal data masked), launches
and dispatches a campaign to the loopback SMS gateway; tracking links, the open pixel
and unsubscribe pages work without signing in but only with valid signatures; the
gateway's signed callbacks record receipts and 退订 replies; the suppression list."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.campaigns.conftest import add_people, phone_of
from tests.channels.fakes.sms_gateway import FakeSmsGateway

from shopcrm.campaigns.models import Delivery
from shopcrm.channels.sms import hmac_signature
from shopcrm.context import AppContext
from shopcrm.store.models import AuditEntry, Consent


@pytest.fixture
def gateway() -> Iterator[FakeSmsGateway]:
    found = FakeSmsGateway().start()
    yield found
    found.stop()


@pytest.fixture
def shop(app_context: AppContext, gateway: FakeSmsGateway) -> AppContext:
    home = app_context.settings.home
    (home / "campaigns.toml").write_text(
        'public_url = "https://crm.example.cn"\nshop_name = "好物小店"\nsecret = "s3cret"\n'
        f'quiet_hours = {{}}\n[sms]\nbase_url = "{gateway.url}"\nsignature = "好物小店"\n'
        f'access_key_id = "{gateway.access_key_id}"\n'
        f'access_key_secret = "{gateway.access_key_secret}"\n', encoding="utf-8")
    add_people(app_context, range(101, 141))
    return app_context


def _plan(**changes: object) -> dict[str, object]:
    plan: dict[str, object] = {
        "name": "双11预热", "channel": "sms",
        "audience": {"kind": "list", "customer_ids": list(range(101, 141))},
        "content": {"variants": [{"name": "A",
                                  "body": "{{ customer.name }}，券码{{ coupon.code }}"},
                                 {"name": "B", "body": "{{ customer.surname }}先生/女士，券码"
                                                       "{{ coupon.code }}"}]}}
    plan.update(changes)
    return plan


def test_plan_preview_launch_dispatch_report(shop: AppContext, gateway: FakeSmsGateway,
                                             client_for: Callable[[str], TestClient]) -> None:
    marketer, analyst, admin = client_for("marketer"), client_for("analyst"), client_for("admin")
    pool = marketer.post("/api/v1/coupon-pools", json={
        "name": "双11券", "value": "50", "min_spend": "300",
        "valid_until": "2026-12-31T23:59:59+08:00"})
    assert pool.status_code == 201, pool.text
    pool_id = pool.json()["id"]
    codes = marketer.post(f"/api/v1/coupon-pools/{pool_id}/codes",
                          json={"count": 50, "prefix": "D11"})
    assert codes.json() == {"added": 50, "duplicates": 0, "invalid": []}
    bad = marketer.post("/api/v1/campaigns", json=_plan(content={"variants": [
        {"body": "{{ phone }}"}]}))
    assert bad.status_code == 422 and "unknown variable" in bad.json()["detail"]
    created = marketer.post("/api/v1/campaigns", json=_plan(
        offer={"kind": "coupon", "pool_id": pool_id}))
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft"
    assert Decimal(campaign["cost_per_message"]) == Decimal("0.045")  # the SMS price
    cid = campaign["id"]
    # preview as a chosen customer: a marketer has no view_pii, so the name is masked
    masked = marketer.post(f"/api/v1/campaigns/{cid}/preview", json={"customer_id": 101})
    assert masked.status_code == 200
    assert masked.json()["body"] == "【好物小店】王**，券码SAMPLE0000，回T退订"
    assert masked.json()["sms"]["segments"] == 1
    whole = admin.post(f"/api/v1/campaigns/{cid}/preview", json={"customer_id": 101})
    assert whole.json()["body"].startswith("【好物小店】王小明，")
    draft = marketer.post("/api/v1/campaigns/preview", json={
        "channel": "sms", "variant": {"body": "满" * 80}})
    assert draft.json()["sms"]["segments"] == 2
    # analysts see reports but do not send
    assert analyst.post(f"/api/v1/campaigns/{cid}/launch").status_code == 403
    launched = marketer.post(f"/api/v1/campaigns/{cid}/launch")
    assert launched.status_code == 200 and launched.json()["audience"] == 40
    assert marketer.post(f"/api/v1/campaigns/{cid}/launch").status_code == 409
    assert marketer.patch(f"/api/v1/campaigns/{cid}", json={"name": "x"}).status_code == 409
    sent = marketer.post(f"/api/v1/campaigns/{cid}/dispatch")
    assert sent.status_code == 200 and sent.json()["finished"] == [cid]
    treated = 40 - launched.json()["holdout"]
    assert sent.json()["sent"] == treated == len(gateway.sent)
    assert len({item["content"][-14:] for item in gateway.sent}) == treated  # unique codes
    detail = marketer.get(f"/api/v1/campaigns/{cid}").json()
    assert detail["status"] == "done" and detail["counts"]["sent"] == treated
    report = analyst.get(f"/api/v1/campaigns/{cid}/report")
    assert report.status_code == 200
    body = report.json()
    assert body["arms"][0]["name"] == "treated" and body["arms"][0]["sent"] == treated
    assert body["funnel"][0] == {"step": "sent", "count": treated, "of_previous": None,
                                 "of_first": None}
    assert marketer.get(f"/api/v1/campaigns/{cid}/deliveries",
                        params={"status": "holdout"}).json()["total"] == 40 - treated
    with shop.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(
            AuditEntry.target_id == str(cid))))
    assert {"campaign.create", "campaign.launch", "campaign.dispatch", "campaign.done"} <= actions


def _sign(gateway: FakeSmsGateway, path: str, body: bytes, shop: AppContext) -> dict[str, str]:
    """The gateway's request signature, dated by the shop's (fake) clock."""
    timestamp, nonce = str(int(shop.clock.now().timestamp())), secrets.token_hex(8)
    return {"X-Access-Key": gateway.access_key_id, "X-Timestamp": timestamp, "X-Nonce": nonce,
            "X-Signature": hmac_signature(gateway.access_key_secret, method="POST", path=path,
                                          timestamp=timestamp, nonce=nonce, body=body),
            "Content-Type": "application/json"}


def test_gateway_callbacks_are_signed_and_idempotent(shop: AppContext, gateway: FakeSmsGateway,
                                                     client_for: Callable[[str], TestClient],
                                                     anonymous: TestClient) -> None:
    marketer = client_for("marketer")
    cid = marketer.post("/api/v1/campaigns", json=_plan(
        experiment={"holdout_share": 0.0},
        content={"variants": [{"body": "会员日快乐"}]})).json()["id"]
    marketer.post(f"/api/v1/campaigns/{cid}/launch")
    marketer.post(f"/api/v1/campaigns/{cid}/dispatch")
    path = "/api/v1/track/sms/receipts"
    receipts = json.dumps({"receipts": gateway.receipts[:5]}).encode()
    unsigned = anonymous.post(path, content=receipts, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    forged = _sign(gateway, path, b"{}", shop)
    assert anonymous.post(path, content=receipts, headers=forged).status_code == 401
    done = anonymous.post(path, content=receipts, headers=_sign(gateway, path, receipts, shop))
    assert done.status_code == 200 and done.json()["detail"]["delivered"] == 5
    again = anonymous.post(path, content=receipts, headers=_sign(gateway, path, receipts, shop))
    assert again.json()["duplicates"] == 5
    assert marketer.get(f"/api/v1/campaigns/{cid}").json()["counts"]["delivered"] == 5
    replies_path = "/api/v1/track/sms/replies"
    reply = json.dumps({"replies": [{"reply_id": "MO-1", "phone": phone_of(103)[3:],
                                     "text": "退订", "at": "2026-11-20T10:00:00+08:00"}]}
                       ).encode()
    said = anonymous.post(replies_path, content=reply,
                          headers=_sign(gateway, replies_path, reply, shop))
    assert said.json()["detail"] == {"unsubscribes": 1, "customers_suppressed": 1}
    listed = marketer.get("/api/v1/suppressions", params={"customer_id": 103}).json()
    assert listed["total"] == 1 and listed["items"][0]["reason"] == "sms-reply"
    assert "phone" not in json.dumps(listed)  # no addresses in the listing
    suppression_id = listed["items"][0]["id"]
    assert marketer.delete(f"/api/v1/suppressions/{suppression_id}").status_code == 403
    assert client_for("admin").delete(f"/api/v1/suppressions/{suppression_id}").status_code == 204


def test_tracking_links_and_unsubscribe_pages(shop: AppContext,
                                              client_for: Callable[[str], TestClient],
                                              anonymous: TestClient) -> None:
    marketer = client_for("marketer")
    cid = marketer.post("/api/v1/campaigns", json=_plan(
        channel="email", experiment={"holdout_share": 0.0},
        audience={"kind": "list", "customer_ids": [101, 102]},
        content={"variants": [{"subject": "会员日", "body": "会员日快乐",
                               "html": "<p><a href=\"{{ link('https://shop.example/x?a=1') }}\">"
                                       "去看看</a></p>"}]})).json()["id"]
    marketer.post(f"/api/v1/campaigns/{cid}/launch")
    marketer.post(f"/api/v1/campaigns/{cid}/dispatch")  # no SMTP configured: the outbox file
    lines = [json.loads(x) for x in (shop.settings.home / "outbox" / "email.jsonl")
             .read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2
    html = lines[0]["html"]
    pixel = re.search(r'src="https://crm\.example\.cn(/t/o/[^"]+)"', html)
    link = re.search(r'href="https://crm\.example\.cn(/t/c/[^"]+)"', html)
    assert pixel and link
    image = anonymous.get(pixel.group(1))
    assert image.status_code == 200 and image.headers["content-type"] == "image/gif"
    target = link.group(1).replace("&amp;", "&")
    followed = anonymous.get(target, follow_redirects=False)
    assert followed.status_code == 302
    assert followed.headers["location"] == "https://shop.example/x?a=1"
    tampered = target.replace("shop.example", "evil.example")
    assert anonymous.get(tampered, follow_redirects=False).status_code == 404
    assert anonymous.get("/t/c/1.AAAAAAAAAAAAAAAAAAAAAA?u=https://a.b").status_code == 404
    with shop.sessions() as session:
        rows = session.execute(select(Delivery.customer_id, Delivery.opened_at,
                                      Delivery.clicked_at).where(
            Delivery.campaign_id == cid)).all()
    assert sum(r.opened_at is not None for r in rows) == 1
    assert sum(r.clicked_at is not None for r in rows) == 1
    funnel = {s["step"]: s["count"] for s in
              marketer.get(f"/api/v1/campaigns/{cid}/report").json()["funnel"]}
    assert funnel["opened"] == 1 and funnel["clicked"] == 1
    # the footer link asks first (mail scanners follow links) …
    unsubscribe = urlsplit(lines[1]["unsubscribe_url"]).path
    page = anonymous.get(unsubscribe, headers={"accept": "text/html"})
    assert page.status_code == 200 and "<form method=\"post\"" in page.text
    # … the mailbox's one-click POST (RFC 8058) does it
    customer = int(lines[1]["metadata"]["customer"])
    done = anonymous.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    with shop.sessions() as session:
        consent = session.execute(select(Consent.channel, Consent.status, Consent.source).where(
            Consent.customer_id == customer).order_by(Consent.id.desc())).first()
    assert tuple(consent) == ("email", "withdrawn", "unsubscribe:one-click")  # type: ignore[arg-type]
    assert anonymous.get("/u/not-a-token").status_code == 404
    # a second campaign skips them
    cid2 = marketer.post("/api/v1/campaigns", json=_plan(
        channel="email", experiment={"holdout_share": 0.0},
        audience={"kind": "list", "customer_ids": [101, 102]},
        content={"variants": [{"subject": "s", "body": "b"}]})).json()["id"]
    marketer.post(f"/api/v1/campaigns/{cid2}/launch")
    assert marketer.post(f"/api/v1/campaigns/{cid2}/dispatch").json()["skipped"] == 1
