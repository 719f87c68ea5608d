"""A campaign sent through Tencent Cloud / Alibaba Cloud SMS (loopback fakes that verify
the clouds' signatures), then the clouds' status reports and 退订 replies pushed to the
callback URLs: deliveries marked once, the number suppressed, wrong tokens and wrong
clouds answered 404 with nothing recorded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.campaigns.conftest import add_people, phone_of
from tests.channels.fakes.aliyun_sms import FakeAliyunSms
from tests.channels.fakes.tencent_sms import FakeTencentSms

from shopcrm.campaigns.config import load_settings
from shopcrm.context import AppContext

PEOPLE = range(101, 111)


@pytest.fixture
def tencent() -> Iterator[FakeTencentSms]:
    fake = FakeTencentSms().start()
    yield fake
    fake.stop()


@pytest.fixture
def aliyun() -> Iterator[FakeAliyunSms]:
    fake = FakeAliyunSms().start()
    yield fake
    fake.stop()


def _configure(context: AppContext, sms: str) -> dict[str, str]:
    home = context.settings.home
    (home / "campaigns.toml").write_text(
        'public_url = "https://crm.example.cn"\nshop_name = "好物小店"\nsecret = "s3cret"\n'
        f"quiet_hours = {{}}\n[sms]\n{sms}", encoding="utf-8")
    add_people(context, PEOPLE)
    return load_settings(context.settings).callback_urls()


def _send(client: TestClient, template: str) -> int:
    cid = client.post("/api/v1/campaigns", json={
        "name": "会员日", "channel": "sms", "experiment": {"holdout_share": 0.0},
        "audience": {"kind": "list", "customer_ids": list(PEOPLE)},
        "content": {"variants": [{"body": "会员日快乐", "template_id": template,
                                  "params": {"name": "{{ customer.name }}"}}]}}).json()["id"]
    assert client.post(f"/api/v1/campaigns/{cid}/launch").status_code == 200
    sent = client.post(f"/api/v1/campaigns/{cid}/dispatch")
    assert sent.status_code == 200 and sent.json()["sent"] == len(PEOPLE), sent.text
    return int(cid)


def _path(url: str) -> str:
    return url.removeprefix("https://crm.example.cn")


def _post(client: TestClient, url: str, body: Any) -> Any:
    return client.post(_path(url), content=json.dumps(body, ensure_ascii=False).encode(),
                       headers={"Content-Type": "application/json"})


def test_tencent_reports_and_replies(app_context: AppContext, tencent: FakeTencentSms,
                                     client_for: Callable[[str], TestClient],
                                     anonymous: TestClient) -> None:
    urls = _configure(app_context, (
        f'provider = "tencent"\nbase_url = "{tencent.url}"\nsignature = "好物小店"\n'
        f'access_key_id = "{tencent.secret_id}"\naccess_key_secret = "{tencent.secret_key}"\n'
        f'sdk_app_id = "{tencent.sdk_app_id}"\n'))
    assert set(urls) == {"receipts", "replies"}
    marketer = client_for("marketer")
    cid = _send(marketer, "1234567")
    assert [m["TemplateParamSet"] for m in tencent.sent[:1]] == [["王小明"]]
    report = [{"user_receive_time": "2026-11-20 21:05:09", "nationcode": "86",
               "mobile": m["PhoneNumber"][3:], "report_status": "SUCCESS", "errmsg": "DELIVRD",
               "description": "ok", "sid": f"2433:{i + 1:012d}", "ext": m["SessionContext"]}
              for i, m in enumerate(tencent.sent[:4])]
    report[3] = {**report[3], "report_status": "FAIL", "errmsg": "MK:0005"}
    done = _post(anonymous, urls["receipts"], report)
    assert done.status_code == 200 and done.json() == {"result": 0, "errmsg": "OK"}
    assert _post(anonymous, urls["receipts"], report).json() == {"result": 0, "errmsg": "OK"}
    counts = marketer.get(f"/api/v1/campaigns/{cid}").json()["counts"]
    assert (counts["delivered"], counts["undelivered"]) == (3, 1)  # the repeat changed nothing

    wrong = urls["receipts"][:-4] + "abcd"
    assert _post(anonymous, wrong, report).status_code == 404
    other_cloud = urls["receipts"].replace("/tencent/", "/aliyun/")
    assert _post(anonymous, other_cloud, report).status_code == 404
    assert anonymous.post("/api/v1/track/sms/receipts", json={"receipts": []}).status_code == 404
    bad = _post(anonymous, urls["receipts"], [{"sid": "x", "report_status": "??"}])
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")

    reply = {"extend": "", "mobile": phone_of(103)[3:], "nationcode": "86", "sign": "好物小店",
             "text": "退订", "time": 1763643909}
    assert _post(anonymous, urls["replies"], reply).json() == {"result": 0, "errmsg": "OK"}
    listed = marketer.get("/api/v1/suppressions", params={"customer_id": 103}).json()
    assert listed["total"] == 1 and listed["items"][0]["reason"] == "sms-reply"


def test_aliyun_reports_and_replies(app_context: AppContext, aliyun: FakeAliyunSms,
                                    client_for: Callable[[str], TestClient],
                                    anonymous: TestClient) -> None:
    urls = _configure(app_context, (
        f'provider = "aliyun"\nbase_url = "{aliyun.url}"\nsignature = "好物小店"\n'
        f'access_key_id = "{aliyun.access_key_id}"\n'
        f'access_key_secret = "{aliyun.access_key_secret}"\n'))
    marketer = client_for("marketer")
    cid = _send(marketer, "SMS_001")
    # Mainland numbers go out as their 11 digits (the fake refuses +86…).
    assert all(len(m["PhoneNumbers"]) == 11 for m in aliyun.sent)
    report = [{"phone_number": m["PhoneNumbers"], "send_time": "2026-11-20 21:05:00",
               "report_time": "2026-11-20 21:05:09", "success": True, "err_code": "DELIVERED",
               "err_msg": "用户接收成功", "sms_size": "1", "biz_id": f"{i + 1:06d}^0",
               "out_id": m["OutId"]} for i, m in enumerate(aliyun.sent[:5])]
    done = _post(anonymous, urls["receipts"], report)
    assert done.status_code == 200 and done.json() == {"code": 0, "msg": "成功"}
    assert marketer.get(f"/api/v1/campaigns/{cid}").json()["counts"]["delivered"] == 5
    up = [{"phone_number": phone_of(104)[3:], "send_time": "2026-11-20 22:00:00",
           "content": "TD", "sign_name": "好物小店", "dest_code": "1231", "sequence_id": 77}]
    assert _post(anonymous, urls["replies"], up).status_code == 200
    assert _post(anonymous, urls["replies"], up).status_code == 200  # repeated push
    listed = marketer.get("/api/v1/suppressions", params={"customer_id": 104}).json()
    assert listed["total"] == 1


def test_a_cloud_needs_its_keys(app_context: AppContext) -> None:
    home = app_context.settings.home
    (home / "campaigns.toml").write_text(
        '[sms]\nprovider = "tencent"\nsignature = "好物小店"\naccess_key_id = "a"\n'
        'access_key_secret = "b"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="sdk_app_id"):
        load_settings(app_context.settings)
    (home / "campaigns.toml").write_text('[sms]\nsignature = "好物小店"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="base_url is required"):
        load_settings(app_context.settings)
