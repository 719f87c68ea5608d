"""Pages of the segment builder and the tag library (browser-free, TestClient): the builder
page with its catalogue, the HTMX live count, saving, the segment page with members,
snapshots and their diff, tag pages, manual tagging and upload, tags on the profile."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shopcrm.segments.service import compute_features

Shop = Any
BUYERS = {"kind": "and", "children": [
    {"kind": "feature", "field": "frequency", "op": "gte", "value": 1},
    {"kind": "not", "child": {"kind": "behaviour", "of": "events", "window": {"days": 7}}}]}


@pytest.fixture(scope="module")
def computed(shop: Shop) -> Shop:
    compute_features(shop.context)
    return shop


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_navigation_has_tags_between_segments_and_loyalty(
        computed: Shop, signed_in: Callable[..., TestClient]) -> None:
    page = signed_in("admin").get("/segments").text
    nav = re.search(r'<nav class="sections".*?</nav>', page, re.S)
    assert nav
    assert re.findall(r'href="([^"]+)"', nav.group(0)) == [
        "/", "/customers", "/segments", "/tags", "/loyalty", "/campaigns", "/service",
        "/settings"]


def test_builder_live_count_save_and_segment_page(computed: Shop,
                                                  signed_in: Callable[..., TestClient]) -> None:
    admin = signed_in("admin", lang="en")
    builder = admin.get("/segments/new")
    assert builder.status_code == 200
    assert 'data-builder="builder-config"' in builder.text
    assert "/static/segment-builder.js" in builder.text
    config = json.loads(re.search(r'<script type="application/json" id="builder-config">(.*?)'
                                  r'</script>', builder.text, re.S).group(1))  # type: ignore[union-attr]
    assert {"name": "monetary", "type": "money"} in config["features"]
    assert config["labels"]["op:gte"] == "at least"
    assert "price_sensitive" in [t[0] for t in config["tags"]]
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", builder.text)  # no inline handlers

    token = csrf(builder.text)
    count = admin.post("/segments/estimate", data={"definition": json.dumps(BUYERS),
                                                   "csrf_token": token},
                       headers={"hx-request": "true"})
    assert count.status_code == 200
    size = int(re.search(r"<b>([\d,]+)</b>", count.text).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert size > 0
    broken = dict(BUYERS, children=[*BUYERS["children"],  # type: ignore[list-item]
                                    {"kind": "feature", "field": "nope", "op": "eq",
                                     "value": 1}])
    wrong = admin.post("/segments/estimate", data={"definition": json.dumps(broken),
                                                   "csrf_token": token})
    assert "rule.children[2].field" in wrong.text and "data-paths" in wrong.text

    saved = admin.post("/segments/new", data={"name": "buyers, quiet this week",
                                              "description": "", "csrf_token": token,
                                              "definition": json.dumps(BUYERS)},
                       follow_redirects=False)
    assert saved.status_code == 303, saved.text
    target = saved.headers["location"]
    page = admin.get(target)
    assert page.status_code == 200 and "buyers, quiet this week" in page.text
    assert f">{size:,}<" in page.text.replace(" ", "")
    assert "Export CSV" in page.text

    refused = admin.post("/segments/new", data={"name": "bad", "csrf_token": token,
                                                "definition": json.dumps(broken)})
    assert refused.status_code == 422 and "rule.children[2].field" in refused.text

    for reason in ("first", "second"):
        done = admin.post(f"{target}/snapshot", data={"reason": reason, "csrf_token": token},
                          follow_redirects=False)
        assert done.status_code == 303
    page = admin.get(target).text
    ids = re.findall(r'<option value="(\d+)"', page)
    compared = admin.get(target, params={"before": ids[-1], "after": ids[0]}).text
    assert "Stayed" in compared and "From snapshot" in compared

    listing = admin.get("/segments").text
    assert "buyers, quiet this week" in listing and "Saved segments" in listing
    edit = admin.get(f"{target}/edit")
    assert edit.status_code == 200 and "buyers, quiet this week" in edit.text


def test_agent_and_analyst_rights_on_segment_pages(computed: Shop,
                                                   signed_in: Callable[..., TestClient]) -> None:
    analyst = signed_in("analyst")
    assert analyst.get("/segments/new").status_code == 200  # manage_segments
    agent = signed_in("agent")
    assert agent.get("/segments/new", headers={"accept": "text/html"}).status_code == 403
    assert agent.get("/tags", headers={"accept": "text/html"}).status_code == 403


def test_tag_pages_manual_tag_and_upload(computed: Shop,
                                         signed_in: Callable[..., TestClient]) -> None:
    admin = signed_in("admin", lang="en")
    library = admin.get("/tags")
    assert library.status_code == 200
    assert "Price-sensitive buyer" in library.text and "Weekly buyer" in library.text
    chinese = signed_in("admin").get("/tags").text
    assert "价格敏感客户" in chinese and "标签库" in chinese

    token = csrf(admin.get("/tags/new").text)
    made = admin.post("/tags/new", data={"key": "vip", "name": "VIP", "category": "static",
                                         "schedule": "manual", "manual": "true",
                                         "csrf_token": token}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == "/tags/vip"
    customer = computed.customer_id(
        *next(iter(_a_customer(computed))))
    added = admin.post("/tags/vip/add", data={"customer_ids": str(customer),
                                              "csrf_token": token}, follow_redirects=False)
    assert added.status_code == 303
    page = admin.get("/tags/vip").text
    assert f'href="/customers/{customer}"' in page
    profile = admin.get(f"/customers/{customer}").text
    assert 'href="/tags/vip"' in profile

    report = admin.post("/tags/vip/upload", data={"csrf_token": token},
                        files={"file": ("x.csv", b"12345678901234\nnot-an-id\n", "text/csv")})
    assert report.status_code == 200
    assert "line 1" in report.text and "line 2" in report.text

    seeded = admin.get("/tags/price_sensitive").text
    assert "Compute now" in seeded and "Tag customers" not in seeded
    computed_now = admin.post("/tags/price_sensitive/compute", data={"csrf_token": token},
                              follow_redirects=False)
    assert computed_now.status_code == 303


def _a_customer(shop: Shop) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from shopcrm.store.models import Customer, SourceIdentity

    with shop.context.sessions() as session:
        row = session.execute(select(Customer.name, SourceIdentity.source).join(
            SourceIdentity, SourceIdentity.customer_id == Customer.id).where(
            Customer.name.is_not(None)).limit(1)).one()
    return [(row[0], row[1])]
