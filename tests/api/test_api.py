"""The HTTP API: health, import by upload, customers, KPIs, and problem+json errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture
def client(admin: TestClient) -> TestClient:
    return admin


def upload(client: TestClient, name: str, fmt: str) -> dict[str, object]:
    with open(FIXTURES / name, "rb") as handle:
        response = client.post("/api/v1/imports", data={"format": fmt},
                               files={"file": (name, handle, "text/csv")})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_health(anonymous: TestClient) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_import_then_customers_and_kpis(client: TestClient) -> None:
    report = upload(client, "taobao_orders_gbk.csv", "taobao-orders")
    assert (report["imported"], report["rejected"], report["file"]) == (
        5, 0, "taobao_orders_gbk.csv")

    again = upload(client, "taobao_orders_gbk.csv", "taobao-orders")
    assert again["duplicates"] == 5

    customers = client.get("/api/v1/customers").json()
    assert customers["total"] == 3
    by_name = {c["name"]: c for c in customers["items"]}
    assert by_name["王小明"]["orders"] == 2
    assert by_name["王小明"]["sources"] == ["taobao"]

    found = client.get("/api/v1/customers", params={"q": "138 1234 5678"}).json()
    assert [c["name"] for c in found["items"]] == ["王小明"]
    assert client.get("/api/v1/customers", params={"q": "tb_小明_1988"}).json()["total"] == 1
    assert client.get("/api/v1/customers", params={"q": "'; DROP TABLE customers; --"}
                      ).json()["total"] == 0

    months = client.get("/api/v1/kpis/monthly").json()
    assert [m["month"] for m in months] == ["2024-05", "2024-06", "2024-11", "2024-12"]
    may = months[0]
    assert (may["orders"], may["gmv"]) == (1, "138.50")

    batches = client.get("/api/v1/imports").json()
    assert [b["status"] for b in batches] == ["committed", "committed"]


def test_errors_are_problem_json(client: TestClient, tmp_path: Path) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

    invalid = client.get("/api/v1/customers", params={"page": 0})
    assert invalid.status_code == 422
    assert invalid.json()["title"] == "Invalid request"

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with open(empty, "rb") as handle:
        refused = client.post("/api/v1/imports", data={"format": "taobao-orders"},
                              files={"file": ("empty.csv", handle, "text/csv")})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "empty" in refused.json()["detail"]

    with open(FIXTURES / "products.csv", "rb") as handle:
        unknown = client.post("/api/v1/imports", data={"format": "nope"},
                              files={"file": ("p.csv", handle, "text/csv")})
    assert unknown.status_code == 422


def test_pages_render_in_both_languages(client: TestClient, anonymous: TestClient,
                                       browser_login: Callable[..., None]) -> None:
    upload(client, "taobao_orders_gbk.csv", "taobao-orders")
    client = anonymous
    browser_login(client, "admin")
    zh = client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 200 and "店铺概览" in zh.text and "¥" in zh.text
    en = client.get("/", headers={"accept-language": "en-US"})
    assert "Shop overview" in en.text
    client.cookies.set("lang", "en")
    page = client.get("/customers", params={"q": "王"}, headers={"accept-language": "zh-CN"})
    assert "王小明" in page.text and "Customers" in page.text
    script = client.get("/customers", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in script.text


def test_customer_list_filters_and_sorts(client: TestClient) -> None:
    upload(client, "taobao_orders_gbk.csv", "taobao-orders")
    upload(client, "jd_orders_gbk.csv", "jd-orders")
    by_name = client.get("/api/v1/customers", params={"sort": "name"}).json()["items"]
    names = [c["name"] for c in by_name]
    assert names == sorted(names)
    jd = client.get("/api/v1/customers", params={"source": "jd"}).json()
    # Both JD buyers also bought on Taobao (same phone and name): one customer each.
    assert jd["total"] == 2 and all(c["sources"] == ["jd", "taobao"] for c in jd["items"])
    zhejiang = client.get("/api/v1/customers", params={"province": "浙江省"}).json()
    assert {c["name"] for c in zhejiang["items"]} == {"王小明"}
    paged = client.get("/api/v1/customers", params={"size": 2, "page": 2, "sort": "id"}).json()
    assert paged["page"] == 2 and len(paged["items"]) == 1 and paged["total"] == 3
    bad = client.get("/api/v1/customers", params={"sort": "password"})
    assert bad.status_code == 422
