"""normalize_email: one comparable spelling for a real address, nothing guessed."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopcrm.ingest.normalize import Email, normalize_email
from shopcrm.ingest.normalize.emails import _normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zs@qq.com", "zs@qq.com"),
        ("Zhang.San@QQ.com", "zhang.san@qq.com"),
        ("  zs@163.com  ", "zs@163.com"),
        ("ZS@163.COM", "zs@163.com"),
        ("mailto:ZS@qq.com", "zs@qq.com"),
        ("MAILTO: zs@qq.com", "zs@qq.com"),
        ("张三 <zs@qq.com>", "zs@qq.com"),
        ("<zs@qq.com>", "zs@qq.com"),
        ('"Zhang San" <zs@qq.com>', "zs@qq.com"),
        ("'zs@qq.com", "zs@qq.com"),
        ('="zs@qq.com"', "zs@qq.com"),
        ('"zs@qq.com"', "zs@qq.com"),
        ("zs@qq.com.", "zs@qq.com"),
        ("zs@163.com;", "zs@163.com"),
        ("zs@qq。com", "zs@qq.com"),  # ideographic full stop from a Chinese keyboard
        ("ｚｓ＠ｑｑ．ｃｏｍ", "zs@qq.com"),  # full-width
        ("zs@qq.com\u200b", "zs@qq.com"),
        ("a+tag@gmail.com", "a+tag@gmail.com"),  # +tags are kept: no provider rules
        ("first.last@gmail.com", "first.last@gmail.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("user_1-x@sub.mail.example.co.uk", "user_1-x@sub.mail.example.co.uk"),
        ("123456789@qq.com", "123456789@qq.com"),
        ("buyer@example.com", "buyer@example.com"),
        ("用户@例子.中国", "用户@例子.中国"),
        ("user@xn--fsqu00a.xn--fiqs8s", "user@例子.中国"),  # punycode and Unicode agree
        ("user@例子.中国", "user@例子.中国"),
        ("ab@xn--domain-9ta.de", "ab@ädomain.de"),
        ("AB@ÄDomain.DE", "ab@ädomain.de"),
    ],
)
def test_valid(raw: str, expected: str) -> None:
    assert normalize_email(raw) == Email("valid", expected, None)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("z***@example.com", "z***@example.com"),
        ("Z***@Example.com", "z***@example.com"),
        ("zh****an@qq.com", "zh****an@qq.com"),
        ("***@163.com", "***@163.com"),
        ("z●●●@qq.com", "z***@qq.com"),
        ("******", "******"),
    ],
)
def test_masked(raw: str, value: str) -> None:
    assert normalize_email(raw) == Email("masked", value, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("zsqq.com", "no @"),
        ("12345678", "no @"),
        ("zs@@qq.com", "more than one @"),
        ("a@b@qq.com", "more than one @"),
        ("zs @qq.com", "contains spaces"),
        ("zhang san@qq.com", "contains spaces"),
        ("@qq.com", "nothing before @"),
        ("zs@", "nothing after @"),
        ("zs@qq", "domain has no dot"),
        ("zs@localhost", "domain has no dot"),
        ("zs@qq,com", "bad character in domain"),
        ("zs@qq..com", "empty domain label"),
        ("zs@.qq.com", "empty domain label"),
        ("zs@-qq.com", "bad character in domain"),
        ("zs@qq_mail.com", "bad character in domain"),
        ("zs@[1.2.3.4]", "bad character in domain"),
        ("zs@qq.c", "bad top-level domain"),
        ("zs@1.23", "bad top-level domain"),
        ("zs@qq.con", "typo in top-level domain"),
        ("zs@gmail.cmo", "typo in top-level domain"),
        ("zs@shop.invalid", "reserved domain"),
        (".zs@qq.com", "bad character before @"),
        ("zs.@qq.com", "bad character before @"),
        ("z..s@qq.com", "bad character before @"),
        ("z(s)@qq.com", "bad character before @"),
        ("a" * 65 + "@qq.com", "local part too long"),
        ("zs@" + "a" * 250 + ".com", "domain too long"),
        ("x" * 2000, "too long for an e-mail address"),
    ],
)
def test_invalid(raw: str, reason: str) -> None:
    assert normalize_email(raw) == Email("invalid", None, reason)


@pytest.mark.parametrize("raw", [None, "", "  ", "nan", "None", "NULL", "-", "无", "mailto:", "<>"])
def test_empty(raw: str | None) -> None:
    assert normalize_email(raw) == Email("empty", None, None)


def _check(result: Email) -> None:
    assert isinstance(result, Email)
    if result.kind == "valid":
        assert result.value is not None and result.value.count("@") == 1
        assert result.value == result.value.lower() and result.value.strip() == result.value
        assert result.reason is None
    elif result.kind == "masked":
        assert result.value is not None
    elif result.kind == "invalid":
        assert result.value is None and result.reason
    else:
        assert result.value is None


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
@example("@")
@example("a@b.xn--")
@example("a@xn--.com")
@example("a@xn--zz.com")
@example("a@ß.de")
@example("<a@b.com")
@example('="')
def test_any_text_gives_an_email_and_never_raises(raw: str) -> None:
    _check(normalize_email(raw))


local = st.text(alphabet="abcXYZ019._+-'", min_size=1, max_size=12)
domain = st.lists(st.text(alphabet="abcz09-", min_size=1, max_size=8), min_size=1, max_size=3)
tld = st.sampled_from(["com", "cn", "COM", "c", "con", "中国", "xn--fiqs8s", "org", "1"])
decoration = st.sampled_from(["{}", " {} ", "'{}", "mailto:{}", "<{}>", "Name <{}>", '="{}"'])


@settings(max_examples=500, deadline=None)
@given(local, domain, tld, decoration)
def test_idempotent_and_fast_path_agrees(user: str, labels: list[str], top: str, wrap: str) -> None:
    address = f"{user}@{'.'.join([*labels, top])}"
    raw = wrap.format(address)
    result = normalize_email(raw)
    _check(result)
    assert _normalize(raw) == result  # the ASCII fast path changes nothing
    if result.value is not None:
        assert normalize_email(result.value) == result
        assert _normalize(result.value) == result
