"""normalize_name and name_kind: clean without rewriting, classify cautiously."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopcrm.ingest.normalize import name_kind, normalize_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张三"),
        ("  张三  ", "张三"),
        ("张 三", "张三"),  # no spaces inside a Chinese name
        ("王　小明", "王小明"),  # ideographic space
        ("'张三", "张三"),
        ('="张三"', "张三"),
        ('"张三"', "张三"),
        ("“张三”", "张三"),
        ("张三\u200b", "张三"),
        ("\ufeff张三", "张三"),
        ("张三\t\n", "张三"),
        ("ＺＨＡＮＧ　Ｓａｎ", "ZHANG San"),  # full-width Latin: NFKC
        ("John   Smith", "John Smith"),
        (" john smith ", "john smith"),  # case is kept
        ("O'Brien", "O'Brien"),
        ("Jean-Luc Picard", "Jean-Luc Picard"),
        ("阿卜杜拉·买买提", "阿卜杜拉·买买提"),
        ("阿卜杜拉•买买提", "阿卜杜拉·买买提"),  # look-alike dots unified
        ("阿卜杜拉・买买提", "阿卜杜拉·买买提"),
        ("阿卜杜拉.买买提", "阿卜杜拉·买买提"),
        ("阿卜杜拉 · 买买提", "阿卜杜拉·买买提"),
        ("陳大文", "陳大文"),  # traditional stays traditional
        ("王先生", "王先生"),
        ("tb_12345678", "tb_12345678"),
        ("小鱼 123", "小鱼 123"),
        ("Zhang 三", "Zhang 三"),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "'", '=""', "nan", "None", "NULL", "-", "--", "N/A", "无", "未知", "·"]
)
def test_nothing_left_is_none(raw: str | None) -> None:
    assert normalize_name(raw) is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("张三", "full"),
        ("王小明", "full"),
        ("欧阳娜娜", "full"),
        ("司马相如", "full"),
        ("诸葛亮", "full"),
        ("陳大文", "full"),
        ("阿卜杜拉·买买提", "full"),
        ("John Smith", "full"),
        ("Zhang San", "full"),
        ("Mr. John Smith", "full"),
        ("Jean-Luc Picard", "full"),
        ("王先生", "surname_title"),
        ("李女士", "surname_title"),
        ("张小姐", "surname_title"),
        ("刘老师", "surname_title"),
        ("陈总", "surname_title"),
        ("欧阳先生", "surname_title"),
        ("王 先生", "surname_title"),
        ("黃先生", "surname_title"),
        ("张某", "surname_title"),
        ("Mr. Smith", "surname_title"),
        ("Mrs Wang", "surname_title"),
        ("Ms. Li", "surname_title"),
        ("tb_12345678", "nickname"),
        ("jd_8848abc", "nickname"),
        ("buyer123", "nickname"),
        ("小王", "nickname"),
        ("老李", "nickname"),
        ("阿强", "nickname"),
        ("小鱼儿", "nickname"),
        ("快乐的小鱼儿", "nickname"),
        ("宝宝", "nickname"),
        ("亲爱的", "nickname"),
        ("小明Tom", "nickname"),
        ("张三123", "nickname"),
        ("😀", "nickname"),
        ("john_doe", "nickname"),
        ("王", "unknown"),
        ("先生", "unknown"),
        ("john", "unknown"),
        ("Mr.", "unknown"),
        ("", "unknown"),
        ("   ", "unknown"),
        ("nan", "unknown"),
        ("甲乙", "unknown"),  # no known surname: could be rare, so not 'full'
    ],
)
def test_name_kind(name: str, kind: str) -> None:
    assert name_kind(name) == kind


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
@example("'\u0301a")
@example("张 '")
@example('= "张"')
@example("·张·")
@example("a\u3000 b")
@example("张 . 三")
def test_idempotent_and_never_raises(raw: str) -> None:
    once = normalize_name(raw)
    if once is not None:
        assert once == once.strip() and once
        assert normalize_name(once) == once
    assert name_kind(raw) in {"full", "surname_title", "nickname", "unknown"}


cjk_name = st.text(alphabet="王李欧阳小老阿先生女士 ·.'\"=\u3000\u200b", max_size=10)


@settings(max_examples=300, deadline=None)
@given(cjk_name)
def test_idempotent_on_chinese_like_text(raw: str) -> None:
    once = normalize_name(raw)
    if once is not None:
        assert normalize_name(once) == once
        assert name_kind(once) == name_kind(raw)
