"""Identity pages: the unified profile (where each value comes from, merges, timeline),
merge and un-merge forms, the review queue, and who may use them."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.web.conftest import Shop

from shopcrm.identity.models import IdentityMerge
from shopcrm.store.models import SourceIdentity


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_unified_profile_shows_every_channel_and_where_values_come_from(shop: Shop) -> None:
    ming = shop.customer_id("王小明", "taobao")
    assert shop.customer_id("王小明", "shopify") == ming  # one person, one customer
    page = shop.client("admin", lang="en").get(f"/customers/{ming}")
    assert page.status_code == 200
    assert "Where each value comes from" in page.text
    assert "Taobao / Tmall" in page.text and "Shopify" in page.text
    assert "Merges" in page.text and "Undo merge" in page.text
    assert "Preferred channel" in page.text


def test_agent_sees_no_merge_forms_and_cannot_post_them(shop: Shop) -> None:
    ming = shop.customer_id("王小明", "taobao")
    agent = shop.client("agent", lang="en")
    page = agent.get(f"/customers/{ming}")
    assert page.status_code == 200
    assert "Undo merge" not in page.text and "Merge with customer" not in page.text
    assert agent.get("/identity/reviews").status_code == 403
    denied = agent.post(f"/customers/{ming}/merge",
                        data={"other_id": "1", "reason": "x", "csrf_token": _csrf(page.text)})
    assert denied.status_code == 403


def test_undo_and_redo_a_merge_through_the_forms(shop: Shop) -> None:
    admin = shop.client("admin", lang="en")
    ming = shop.customer_id("王小明", "taobao")
    with shop.context.sessions() as session:
        merge = session.scalars(select(IdentityMerge).where(
            IdentityMerge.survivor_id == ming, IdentityMerge.action == "merge")).first()
        assert merge is not None
        merged = merge.merged_id
    page = admin.get(f"/customers/{ming}")
    undone = admin.post(f"/merges/{merge.id}/undo",
                        data={"reason": "checking", "csrf_token": _csrf(page.text)},
                        follow_redirects=False)
    assert undone.status_code == 303 and undone.headers["location"] == f"/customers/{merged}"
    with shop.context.sessions() as session:
        assert session.get(SourceIdentity, merged).customer_id == merged  # type: ignore[union-attr]
    again = admin.post(f"/customers/{ming}/merge",
                       data={"other_id": str(merged), "reason": "same person after all",
                             "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/customers/{ming}"
    moved = admin.get(f"/customers/{merged}", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == f"/customers/{ming}"
    refused = admin.post(f"/customers/{ming}/merge",
                         data={"other_id": str(ming), "reason": "x",
                               "csrf_token": _csrf(page.text)})
    assert refused.status_code == 409 and "cannot be merged with itself" in refused.text


def test_review_queue_page(shop: Shop) -> None:
    page = shop.client("admin", lang="zh_CN").get("/identity/reviews")
    assert page.status_code == 200
    assert "匹配审核" in page.text
