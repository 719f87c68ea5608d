"""Campaign pages: the list, the editor (form → draft, errors shown on the form, live
preview fragment with the SMS counter), the campaign page with exact counts and the
chart data for the funnel and lift, actions guarded by send_campaigns, the public
unsubscribe page; in both languages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.campaigns.conftest import add_people

from shopcrm.campaigns.models import Campaign
from shopcrm.campaigns.rules import unsubscribe_token
from shopcrm.store.models import Customer
from shopcrm.web.campaign_pages import form_from_spec, spec_from_form

Shop = object


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _form(csrf: str, ids: str, **changes: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "name": "会员日短信", "channel": "sms", "purpose": "marketing",
            "language": "zh", "audience_kind": "list", "customer_ids": ids,
            "v0_name": "A", "v0_weight": "1", "v0_body": "{{ customer.name }}，会员日快乐",
            "v1_name": "B", "v1_weight": "1", "v1_body": "会员日全场满减",
            "offer_kind": "none", "schedule_kind": "now", "holdout_percent": "20",
            "attribution_days": "7"}
    form.update(changes)
    return form


def test_form_and_plan_round_trip() -> None:
    plan = spec_from_form(_form("x", "1, 2，3\n4", schedule_kind="waves",
                                waves="2026-11-08T20:00 1\n2026-11-09T20:00 2"),
                          timezone="Asia/Shanghai")
    assert plan["audience"] == {"kind": "list", "customer_ids": [1, 2, 3, 4]}
    assert plan["schedule"]["waves"][0] == {"at": "2026-11-08T20:00:00+08:00", "share": 1.0}
    assert plan["experiment"] == {"holdout_share": 0.2, "attribution_days": 7}
    from shopcrm.campaigns.specs import CampaignSpec

    spec = CampaignSpec.model_validate(plan)
    again = form_from_spec(spec, timezone="Asia/Shanghai")
    assert again["waves"] == "2026-11-08T20:00 1\n2026-11-09T20:00 2"
    assert again["v1_body"] == "会员日全场满减" and again["holdout_percent"] == "20"


def test_editor_list_and_campaign_page(shop: Shop, signed_in: Callable[..., TestClient]) -> None:
    context = shop.context  # type: ignore[attr-defined]
    with context.sessions() as session:
        known = sorted(session.scalars(select(Customer.id).where(Customer.status == "active")))
    add_people(context, range(900_001, 900_031))
    ids = ", ".join(str(i) for i in [*known[:3], *range(900_001, 900_031)])
    admin = signed_in("admin")
    editor = admin.get("/campaigns/new")
    assert editor.status_code == 200
    assert "data-sms-counter" in editor.text and 'hx-post="/campaigns/preview"' in editor.text
    csrf = _csrf(editor.text)
    # the preview fragment: the SMS as received, with its length
    fragment = admin.post("/campaigns/preview", data=_form(csrf, ids, preview_customer="900001"),
                          headers={"hx-request": "true"})
    assert fragment.status_code == 200
    assert "【shopcrm】王小明，会员日快乐，回T退订" in fragment.text
    assert "计费 1 条" in fragment.text
    broken = admin.post("/campaigns/preview", data=_form(csrf, ids, v0_body="{{ nope }}"),
                        headers={"hx-request": "true"})
    assert "unknown variable" in broken.text
    # a bad plan comes back on the form, with what was typed
    refused = admin.post("/campaigns/new", data=_form(csrf, ids, name=""))
    assert refused.status_code == 422 and "name" in refused.text and "900001" in refused.text
    created = admin.post("/campaigns/new", data=_form(csrf, ids), follow_redirects=False)
    assert created.status_code == 303
    page_url = created.headers["location"]
    campaign_id = int(page_url.rsplit("/", 1)[1])
    page = admin.get(page_url)
    assert page.status_code == 200 and "草稿" in page.text and "chart-data" not in page.text
    listing = admin.get("/campaigns")
    assert "会员日短信" in listing.text
    # launch and send from the page (admin holds send_campaigns)
    assert admin.post(f"{page_url}/launch", data={"csrf_token": csrf},
                      follow_redirects=False).status_code == 303
    admin.post(f"{page_url}/dispatch", data={"csrf_token": csrf})
    page = admin.get(page_url)
    data = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>',
                                page.text, re.S).group(1))  # type: ignore[union-attr]
    assert data["steps"][0] == "已发送" and data["funnel"][0]["name"] == "全部实验组"
    with context.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "done"
        assert campaign.final_counts is not None
    sent = campaign.final_counts["sent"]
    assert sent > 0 and f"<b>{sent}</b>" in page.text
    assert "与对照组比较" in page.text
    english = signed_in("admin", lang="en").get(page_url)
    assert "Against the holdout" in english.text and "Dead letters" in english.text


def test_roles_without_campaigns_see_no_campaign_pages(shop: Shop,
                                                       signed_in: Callable[..., TestClient]
                                                       ) -> None:
    analyst = signed_in("analyst")
    assert analyst.get("/campaigns").status_code == 403
    nav = re.search(r'<nav class="sections".*?</nav>', analyst.get("/customers").text, re.S)
    assert nav and "/campaigns" not in nav.group(0)


def test_unsubscribe_page_is_public(shop: Shop) -> None:
    context = shop.context  # type: ignore[attr-defined]
    from shopcrm.campaigns.config import cached_settings

    secret = cached_settings(context.settings).secrets()[0]
    token = unsubscribe_token(secret, customer_id=900_001, channel="sms", campaign_id=None)
    anonymous = shop.anonymous()  # type: ignore[attr-defined]
    asked = anonymous.get(f"/u/{token}", headers={"accept": "text/html"})
    assert asked.status_code == 200 and "不再通过短信接收" in asked.text
    done = anonymous.post(f"/u/{token}")
    assert done.status_code == 200 and "您已退订" in done.text
    assert anonymous.get("/u/forged.AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
