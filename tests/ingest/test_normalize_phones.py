"""normalize_phone: exact E.164 for real numbers, and never a key from a doubtful one."""

from __future__ import annotations

import random
import re
from typing import Any

import phonenumbers
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from shopcrm.ingest.normalize import Phone, normalize_phone
from shopcrm.ingest.normalize.phones import _cn_type

E164_RE = re.compile(r"\+[1-9]\d{6,14}")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("'13812345678", "+8613812345678"),
        ('="13812345678"', "+8613812345678"),
        ("=13812345678", "+8613812345678"),
        ('"13812345678"', "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("+86-138-1234-5678", "+8613812345678"),
        ("(+86)13812345678", "+8613812345678"),
        ("0086-13812345678", "+8613812345678"),
        ("0086 13812345678", "+8613812345678"),
        ("86 13812345678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("138-1234-5678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),
        ("＋８６ １３８１２３４５６７８", "+8613812345678"),
        ("13812345678.0", "+8613812345678"),
        ("13812345678.00", "+8613812345678"),
        ("1.3812345678E+10", "+8613812345678"),
        ("\t13812345678", "+8613812345678"),
        (" 13812345678 ", "+8613812345678"),
        ("13812345678\u200b", "+8613812345678"),
        ("'+8613812345678", "+8613812345678"),
        ("+8613812345678", "+8613812345678"),
        ("tel:+8613812345678", "+8613812345678"),
        ("手机：13812345678", "+8613812345678"),
        ("Tel: 13812345678", "+8613812345678"),
        ("013812345678", "+8613812345678"),
        ("19912345678", "+8619912345678"),
        ("16612345678", "+8616612345678"),
        ("17012345678", "+8617012345678"),  # a 170 number without extension is a phone
        # landlines: area code with its trunk 0, or after +86
        ("010-12345678", "+861012345678"),
        ("01012345678", "+861012345678"),
        ("(010)12345678", "+861012345678"),
        ("0571-87654321", "+8657187654321"),
        ("0571 8765 4321", "+8657187654321"),
        ("(0571)87654321", "+8657187654321"),
        ("021-62345678", "+862162345678"),
        ("+86 571 8765 4321", "+8657187654321"),
        ("+86 (0)571 8765 4321", "+8657187654321"),
        ("0086 571 87654321", "+8657187654321"),
        ("86-571-87654321", "+8657187654321"),
        ("+861012345678", "+861012345678"),
        # other countries, through phonenumbers
        ("+1 415 555 2671", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+852 9123 4567", "+85291234567"),
        ("00852 9123 4567", "+85291234567"),
        ("+81 90-1234-5678", "+819012345678"),
    ],
)
def test_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == Phone("e164", expected, None)


@pytest.mark.parametrize(
    ("raw", "expected", "ext"),
    [
        ("010-12345678-123", "+861012345678", "123"),
        ("0571-87654321转8001", "+8657187654321", "8001"),
        ("0571-87654321 ext. 8001", "+8657187654321", "8001"),
        ("0571-87654321#8001", "+8657187654321", "8001"),
        ("0571-87654321分机8001", "+8657187654321", "8001"),
        ("+1 415 555 2671 x12", "+14155552671", "12"),
        ("+1 415-555-2671 ext 12", "+14155552671", "12"),
    ],
)
def test_landline_extension_is_dropped_with_a_note(raw: str, expected: str, ext: str) -> None:
    assert normalize_phone(raw) == Phone("e164", expected, f"extension {ext} dropped")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("138****1234", "138****1234"),
        ("138****1234 ", "138****1234"),
        ("  138****1234", "138****1234"),
        ("1**********", "1**********"),
        ("*******1234", "*******1234"),
        ("138xxxx1234", "138****1234"),
        ("138XXXX1234", "138****1234"),
        ("138＊＊＊＊1234", "138****1234"),
        ("138●●●●1234", "138****1234"),
        ("138-****-1234", "138****1234"),
        ("138 **** 1234", "138****1234"),
        ("+86 138****1234", "138****1234"),
        ("+86-138****1234", "138****1234"),
        ("'138****1234", "138****1234"),
        ('="138****1234"', "138****1234"),
        ("***********", "***********"),
        ("0571-****4321", "0571****4321"),
    ],
)
def test_masked_is_never_e164(raw: str, value: str) -> None:
    assert normalize_phone(raw) == Phone("masked", value, None)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("17012345678-1234", "17012345678-1234"),
        ("17012345678_1234", "17012345678-1234"),
        ("17012345678,1234", "17012345678-1234"),
        ("17012345678转1234", "17012345678-1234"),
        ("虚拟号 17012345678转1234", "17012345678-1234"),
        ("虚拟号码：17012345678-1234", "17012345678-1234"),
        ("隐私号 17012345678 转 1234", "17012345678-1234"),
        ("+86 17012345678-1234", "17012345678-1234"),
        ("13812345678-1234", "13812345678-1234"),  # mobiles have no extensions
        ("13812345678-1", "13812345678-1"),
        ("170****5678-1234", "170****5678-1234"),
        ("虚拟号 17012345678", "17012345678"),
        ("virtual number 17012345678", "17012345678"),
    ],
)
def test_virtual_numbers_are_masked(raw: str, value: str) -> None:
    assert normalize_phone(raw) == Phone("masked", value, "virtual number")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("23812345678", "11 digits not starting with 1: not a CN mobile"),
        ("57187654321", "11 digits not starting with 1: not a CN mobile"),  # trunk 0 missing
        ("98765432101", "11 digits not starting with 1: not a CN mobile"),
        ("1381234567", "too short for a CN mobile"),
        ("138123456789", "too long for a CN mobile"),
        ("12345678901", "not a valid CN mobile number"),
        ("14012345678", "not a valid CN mobile number"),
        ("10012345678", "not a valid CN mobile number"),
        ("87654321", "landline without area code"),
        ("12345", "too short for a CN mobile"),
        ("95588", "too short for a phone number"),
        ("4008123123", "service number, not personal"),
        ("400-812-3123", "service number, not personal"),
        ("8008123123", "service number, not personal"),
        ("+86 400 812 3123", "service number, not personal"),
        ("13812345678/13912345678", "multiple numbers"),
        ("13812345678 13912345678", "multiple numbers"),
        ("13812345678或13912345678", "multiple numbers"),
        ("0571-87654321, 13812345678", "multiple numbers"),
        ("1.38123E+10", "digits lost to scientific notation"),
        ("abc", "no digits"),
        ("无号码", "no digits"),
        ("138 1234 5678 (mobile)", "not a phone number"),
        ("13812345678a", "not a phone number"),
        ("١٣٨١٢٣٤٥٦٧٨", "not a phone number"),  # Arabic-Indic digits are not taken
        ("+86 23812345678", "not a valid CN number"),
        ("+1 123 456 7890", "not a valid number"),
        ("0", "not a valid CN landline number"),
        ("1" * 500, "too long for a phone number"),
    ],
)
def test_invalid(raw: str, reason: str) -> None:
    assert normalize_phone(raw) == Phone("invalid", None, reason)


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "\t", "nan", "NaN", "None", "null", "-", "--", "无", "N/A", "'", '=""']
)
def test_empty(raw: str | None) -> None:
    assert normalize_phone(raw) == Phone("empty", None, None)


def test_default_region() -> None:
    assert normalize_phone("(415) 555-2671", "US").value == "+14155552671"
    assert normalize_phone("020 7946 0958", "GB").value == "+442079460958"
    assert normalize_phone("0044 20 7946 0958", "DE").value == "+442079460958"
    # +86 numbers are found whatever the default region
    assert normalize_phone("+86 138 1234 5678", "US").value == "+8613812345678"
    # a CN mobile written nationally is not a US number
    assert normalize_phone("13812345678", "US").kind == "invalid"
    assert normalize_phone("123", "XX").kind == "invalid"
    assert normalize_phone("13812345678", "cn").value == "+8613812345678"


def test_non_string_input_from_a_careless_caller() -> None:
    careless: list[Any] = [13812345678, 13812345678.0, True]
    assert normalize_phone(careless[0]).value == "+8613812345678"
    assert normalize_phone(careless[1]).value == "+8613812345678"
    assert normalize_phone(careless[2]).kind == "empty"


def _valid_cn_mobiles() -> list[str]:
    rng = random.Random(7)
    out: list[str] = []
    while len(out) < 200:
        candidate = f"1{rng.randrange(30, 100)}{rng.randrange(10**8):08d}"
        number = phonenumbers.parse(candidate, "CN")
        if phonenumbers.is_valid_number(number):
            out.append(candidate)
    return out


VALID_MOBILES = _valid_cn_mobiles()
DECORATIONS = [
    "{}",
    "'{}",
    '="{}"',
    "{}.0",
    "+86{}",
    "+86 {}",
    "+86-{}",
    "0086{}",
    "0086 {}",
    "86 {}",
    "86{}",
    "(+86) {}",
    " {} ",
    "\t{}",
    "'+86{}",
    "手机:{}",
]


def _dashed(m: str) -> str:
    return f"{m[:3]}-{m[3:7]}-{m[7:]}"


def _spaced(m: str) -> str:
    return f"{m[:3]} {m[3:7]} {m[7:]}"


def _fullwidth(m: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in m)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(VALID_MOBILES),
    st.sampled_from(DECORATIONS),
    st.sampled_from([str, _dashed, _spaced, _fullwidth]),
)
def test_a_valid_cn_mobile_in_any_decoration_gives_one_e164(
    mobile: str, decoration: str, shape: object
) -> None:
    assert callable(shape)
    # Excel's float artefact only ever follows bare digits.
    assume(decoration != "{}.0" or shape in (str, _fullwidth))
    raw = decoration.format(shape(mobile))
    assert normalize_phone(raw) == Phone("e164", "+86" + mobile, None)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VALID_MOBILES), st.integers(3, 8), st.sampled_from(["*", "x", "●"]))
def test_a_masked_mobile_never_becomes_e164(mobile: str, hidden: int, mask: str) -> None:
    raw = mobile[:3] + mask * hidden + mobile[3 + hidden :]
    result = normalize_phone(raw)
    assert result.kind == "masked"
    assert result.value == mobile[:3] + "*" * hidden + mobile[3 + hidden :]


def _check_invariants(result: Phone) -> None:
    assert isinstance(result, Phone)
    if result.kind == "e164":
        assert result.value is not None and E164_RE.fullmatch(result.value)
        assert result.reason is None or result.reason.startswith("extension")
    elif result.kind == "masked":
        assert result.value is not None and not result.value.startswith("+")
        assert "*" in result.value or result.reason == "virtual number"
    elif result.kind == "invalid":
        assert result.value is None and result.reason
    else:
        assert result.kind == "empty" and result.value is None


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
@example("+")
@example("++86")
@example("+86")
@example("00")
@example("=")
@example('="')
@example("1e+99")
@example("1.0e+10")
@example("-1234")
@example("转1234")
@example("x" * 100)
@example("\x00\x85\u2028")
def test_any_text_gives_a_phone_and_never_raises(raw: str) -> None:
    _check_invariants(normalize_phone(raw))
    _check_invariants(normalize_phone(raw, "US"))


phone_like = st.text(alphabet="0123456789+-() *x转#.'\t", max_size=24)


@settings(max_examples=500, deadline=None)
@given(phone_like | st.sampled_from(VALID_MOBILES))
def test_normalisation_is_idempotent(raw: str) -> None:
    result = normalize_phone(raw)
    _check_invariants(result)
    if result.kind == "e164":
        assert result.value is not None
        assert normalize_phone(result.value) == Phone("e164", result.value, None)
    if result.kind == "masked":
        again = normalize_phone(result.value)
        assert (again.kind, again.value) == ("masked", result.value)


def test_cn_validity_agrees_with_phonenumbers() -> None:
    """The metadata mirror (and its mobile shortcut) says what is_valid_number says."""
    rng = random.Random(11)
    samples = [f"{p}{rng.randrange(10**8):08d}" for p in range(100, 200) for _ in range(30)]
    for length in range(5, 13):
        samples += [str(rng.randrange(10 ** (length - 1), 10**length)) for _ in range(600)]
    for nsn in samples:
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(nsn))
        valid = phonenumbers.is_valid_number(number)
        kind = _cn_type(nsn)
        assert (kind is not None) == valid, nsn
        if kind == "mobile":
            assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
