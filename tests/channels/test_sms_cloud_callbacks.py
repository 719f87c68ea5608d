"""Tencent Cloud and Alibaba Cloud SMS pushes (status reports, replies) read into the
receipts and replies the handlers take — bodies shaped as the clouds document them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopcrm.channels import sms_callbacks as cb
from shopcrm.channels.sms_aliyun import aliyun_number

TENCENT_REPORT = [
    {"user_receive_time": "2026-11-20 21:05:09", "nationcode": "86", "mobile": "13800001234",
     "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
     "sid": "2433:000000000001", "ext": "17:0:101"},
    {"user_receive_time": "2026-11-20 21:06:00", "nationcode": "86", "mobile": "13800005678",
     "report_status": "FAIL", "errmsg": "MK:0005", "description": "用户关机",
     "sid": "2433:000000000002", "ext": ""},
]
ALIYUN_REPORT = [
    {"phone_number": "13800001234", "send_time": "2026-11-20 21:05:00",
     "report_time": "2026-11-20 21:05:09", "success": True, "err_code": "DELIVERED",
     "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "000001^0", "out_id": "17:0:101"},
    {"phone_number": "13800005678", "send_time": "2026-11-20 21:05:00",
     "report_time": "2026-11-20 21:06:00", "success": False, "err_code": "MK:0005",
     "err_msg": "", "sms_size": "1", "biz_id": "000002^0", "out_id": "17:0:102"},
]


def test_tencent_status_report() -> None:
    ok, failed = cb.tencent_receipts(TENCENT_REPORT)
    assert (ok.provider_message_id, ok.out_id, ok.delivered, ok.status, ok.error) == (
        "2433:000000000001", "17:0:101", True, "SUCCESS", None)
    assert ok.phone == "13800001234"
    assert ok.at == datetime(2026, 11, 20, 13, 5, 9, tzinfo=UTC)  # Beijing time
    assert (failed.delivered, failed.error, failed.out_id) == (False, "MK:0005", None)


def test_tencent_replies_get_stable_ids_and_foreign_numbers_their_code() -> None:
    reply = {"extend": "", "mobile": "13800001234", "nationcode": "86", "sign": "好物小店",
             "text": "退订", "time": 1763643909}
    first, = cb.tencent_replies(reply)
    again, = cb.tencent_replies([reply])
    other, = cb.tencent_replies({**reply, "text": "TD"})
    assert first.reply_id == again.reply_id != other.reply_id
    assert (first.phone, first.text) == ("13800001234", "退订")
    assert first.at == datetime.fromtimestamp(1763643909, UTC)
    hk, = cb.tencent_replies({**reply, "nationcode": "852", "mobile": "61234567"})
    assert hk.phone == "+85261234567"


def test_aliyun_report_and_replies() -> None:
    ok, failed = cb.aliyun_receipts(ALIYUN_REPORT)
    assert (ok.provider_message_id, ok.out_id, ok.delivered, ok.status) == (
        "000001^0", "17:0:101", True, "DELIVERED")
    assert ok.at == datetime(2026, 11, 20, 13, 5, 9, tzinfo=UTC)
    assert (failed.delivered, failed.error) == (False, "MK:0005")
    up, = cb.aliyun_replies([{"phone_number": "13800001234", "send_time": "2026-11-20 22:00:00",
                              "content": "T", "sign_name": "好物小店", "dest_code": "1231",
                              "sequence_id": 1234567890}])
    assert (up.reply_id, up.phone, up.text) == ("aliyun:1234567890", "13800001234", "T")
    string_flag, = cb.aliyun_receipts([{**ALIYUN_REPORT[0], "success": "false"}])
    assert string_flag.delivered is False


@pytest.mark.parametrize(("provider", "kind", "body", "message"), [
    ("tencent", "receipts", "not a list", "expected a JSON array"),
    ("tencent", "receipts", [{**TENCENT_REPORT[0], "sid": None}], "'sid' is missing"),
    ("tencent", "receipts", [{**TENCENT_REPORT[0], "report_status": "MAYBE"}],
     "unknown report_status"),
    ("tencent", "receipts", [{**TENCENT_REPORT[0], "user_receive_time": "yesterday"}],
     "not a time"),
    ("tencent", "replies", [1, 2], "item 0: expected an object"),
    ("aliyun", "receipts", [{**ALIYUN_REPORT[0], "success": "yes"}], "true or false"),
    ("aliyun", "receipts", [{**ALIYUN_REPORT[0], "biz_id": {"x": 1}}], "text or a number"),
    ("aliyun", "replies", [{"phone_number": "13800001234", "content": "T"}],
     "'sequence_id' is missing"),
])
def test_bad_bodies_are_refused_with_the_reason(provider: str, kind: str, body: Any,
                                                message: str) -> None:
    with pytest.raises(cb.CallbackError, match=message):
        cb.parse(provider, kind, body)


def test_unknown_provider_or_kind() -> None:
    with pytest.raises(LookupError):
        cb.parse("huawei", "receipts", [])
    with pytest.raises(LookupError):
        cb.parse("tencent", "clicks", [])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["sid", "mobile", "report_status", "user_receive_time", "ext", "text",
                         "time", "nationcode", "phone_number", "success", "biz_id",
                         "report_time", "sequence_id", "content", "send_time", "err_code"]),
        inner, max_size=8),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(provider=st.sampled_from(cb.PROVIDERS), kind=st.sampled_from(["receipts", "replies"]),
       body=json_values)
def test_any_json_is_read_or_refused_with_a_callback_error(provider: str, kind: str,
                                                          body: Any) -> None:
    json.dumps(body)  # a body a cloud could send
    try:
        items = cb.parse(provider, kind, body)
    except cb.CallbackError:
        return
    for item in items:
        assert isinstance(item.phone, str) and item.phone
        assert item.at is None or item.at.tzinfo is not None


@pytest.mark.parametrize(("phone", "sent"), [
    ("+8613800001234", "13800001234"), ("13800001234", "13800001234"),
    ("008613800001234", "13800001234"), ("+85261234567", "85261234567"),
    ("0085261234567", "85261234567"), ("+86 138-0000-1234", "13800001234"),
])
def test_aliyun_wants_mainland_numbers_without_the_country_code(phone: str, sent: str) -> None:
    assert aliyun_number(phone) == sent
