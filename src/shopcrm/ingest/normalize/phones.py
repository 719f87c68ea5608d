"""Phone numbers from shop exports, normalised to E.164 or classified as unusable.

The phone is an exact matching key for identity resolution: two orders with the same
E.164 value are taken to be the same person. So this module is deliberately
conservative. A value becomes ``e164`` only when it is certainly a real, dialable
personal number; platform-masked values (``138****1234``) and privacy relay numbers
(PDD's ``17012345678-1234``) are kept apart as ``masked`` so that they never merge
unrelated customers; anything doubtful is ``invalid`` with a short English reason.

It runs over the distinct values of a column (a million or more), so the common plain
CN mobile takes a regex fast path, and CN validity is checked against phonenumbers'
own CN metadata patterns compiled once at import instead of a full ``parse`` per
value. Other countries go through phonenumbers itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

PhoneKind = Literal["e164", "masked", "invalid", "empty"]


@dataclass(frozen=True, slots=True)
class Phone:
    """A cleaned phone value.

    ``value`` is the E.164 string for ``e164``; for ``masked`` the masked digits with
    ``*`` (``138****1234``), or for a privacy relay number ``<number>-<extension>``;
    ``None`` otherwise. ``reason`` says why a value is not usable (``invalid``), that a
    masked value is a relay (``'virtual number'``), or notes an extension dropped from
    a landline; it is ``None`` when there is nothing to say.
    """

    kind: PhoneKind
    value: str | None
    reason: str | None


_EMPTY: Final = Phone("empty", None, None)

# --- CN validity from phonenumbers' metadata -------------------------------------------

_CnType = Literal["mobile", "fixed", "service"]


def _desc_matcher(desc: object) -> tuple[frozenset[int], re.Pattern[str]] | None:
    """Compile one metadata number description, as phonenumbers would match it.

    ASCII-only matching matters: ``\\d`` would otherwise accept Arabic-Indic and other
    Unicode digits, which must never end up inside an E.164 string.
    """
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    lengths = frozenset(getattr(desc, "possible_length", None) or ())
    return lengths, re.compile(pattern, re.ASCII)


def _matches(nsn: str, matcher: tuple[frozenset[int], re.Pattern[str]] | None) -> bool:
    if matcher is None:
        return False
    lengths, pattern = matcher
    if lengths and len(nsn) not in lengths:
        return False
    return pattern.fullmatch(nsn) is not None


def _cn_metadata() -> PhoneMetadata:
    metadata = PhoneMetadata.metadata_for_region("CN")
    if metadata is None:  # pragma: no cover - phonenumbers always ships CN
        raise RuntimeError("phonenumbers has no metadata for CN")
    return metadata


_CN_META: Final = _cn_metadata()
_CN_GENERAL: Final = _desc_matcher(_CN_META.general_desc)
_CN_SERVICE: Final = tuple(
    _desc_matcher(d)
    for d in (
        _CN_META.premium_rate,
        _CN_META.toll_free,
        _CN_META.shared_cost,
        _CN_META.voip,
        _CN_META.personal_number,
        _CN_META.pager,
        _CN_META.uan,
        _CN_META.voicemail,
    )
)
_CN_FIXED: Final = _desc_matcher(_CN_META.fixed_line)
_CN_MOBILE: Final = _desc_matcher(_CN_META.mobile)
assert _CN_MOBILE is not None
#: Exactly the mobile pattern phonenumbers uses; fullmatch on an 11-char string.
_CN_MOBILE_RE: Final = _CN_MOBILE[1]
CN_MOBILE_PATTERN: Final = _CN_MOBILE_RE.pattern
"""A valid mainland mobile number (national digits), for SQL engines' fast paths."""


def _cn_type(nsn: str) -> _CnType | None:
    """Classify a CN national significant number the way ``phonenumbers`` does.

    Mirrors ``phonenumberutil._number_type_helper`` for region CN (a test checks it
    agrees with ``is_valid_number``), but without building a PhoneNumber per value.
    Service types (premium, toll-free, 400 shared-cost…) are told apart because they
    belong to businesses, not to a customer.
    """
    if len(nsn) == 11 and nsn[0] == "1" and nsn[1] != "0":
        # Shortcut for the mobile range: no other CN type has 11 digits starting 11-19
        # (the agreement test in the suite re-checks this against phonenumbers).
        return "mobile" if _CN_MOBILE_RE.fullmatch(nsn) else None
    if not _matches(nsn, _CN_GENERAL):
        return None
    for matcher in _CN_SERVICE:
        if _matches(nsn, matcher):
            return "service"
    if _matches(nsn, _CN_FIXED):
        return "fixed"
    if _matches(nsn, _CN_MOBILE):
        return "mobile"
    return None


_PERSONAL_TYPES: Final = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.VOIP,
        PhoneNumberType.PAGER,
    }
)


@lru_cache(maxsize=65536)
def _parse_with_phonenumbers(number: str, region: str | None) -> tuple[str | None, str | None]:
    """E.164 (or a reason) for a non-CN number, via phonenumbers.

    Cached because decorated variants of one number reduce to the same digits, and a
    full parse costs tens of microseconds.
    """
    try:
        parsed = phonenumbers.parse(number, region)
        if not phonenumbers.is_valid_number(parsed):
            return None, "not a valid number"
        if phonenumbers.number_type(parsed) not in _PERSONAL_TYPES:
            return None, "service number, not personal"
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None
    except Exception:  # phonenumbers raises on odd input; never let that escape
        return None, "not a valid number"


# --- cleaning ---------------------------------------------------------------------------

_MAX_LEN: Final = 80
_NULLS: Final = frozenset(
    {"-", "--", "---", "null", "none", "nan", "n/a", "na", "#n/a", "无", "暂无", "undefined", "nil"}
)
_INVISIBLE_RE: Final = re.compile("[\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_QUOTES: Final = "'\"`‘’“”"
_EXCEL_FORMULA_RE: Final = re.compile(r'=\s*"(.*)"|=\s*(\+?[\d\s\-]+)', re.S)
_LABEL_RE: Final = re.compile(
    r"(?:telephone|tel\.?|phone|mobile|mob\.?|cell|手机号码|手机号|手机|联系电话|电话号码|电话"
    r"|联系方式)\s*[:：]?\s*",
    re.I,
)
_SPACED_CN_MOBILE_RE: Final = re.compile(
    r"(?:\+86|0086|86)?[ -]?(1\d\d)[ -]?(\d{4})[ -]?(\d{4})", re.ASCII
)
_PLAIN_START: Final = frozenset("0123456789+(")
_EXT_MARKER_RE: Final = re.compile(r"[转分xX#,;~]|ext", re.I)
_EXCEL_FLOAT_RE: Final = re.compile(r"(\+?\d+)\.0+", re.ASCII)
_SCI_RE: Final = re.compile(r"([1-9])\.(\d+)[eE]\+?(\d{1,2})", re.ASCII)
_VIRTUAL_RE: Final = re.compile(
    r"(?:虚拟|隐私|中间|转接)(?:号码|号|电话|手机号)?\s*[:：]?|virtual\s*(?:number|no\.?|phone)?\s*:?",
    re.I,
)
_MASK_RE: Final = re.compile(r"[*●•∗○◦■□]|[xX]{2,}")
_MASK_SUB_RE: Final = re.compile(r"[*●•∗○◦■□xX]")
#: An extension after an explicit marker (转, ext, x, #, ','); the head must end in a
#: digit or a mask star so that the x's of '138xxxx1234' are not taken for a marker.
_EXPLICIT_EXT_RE: Final = re.compile(
    r"(.*?[\d*●•∗○◦■□])\s*(?:转|分机号?|ext\.?|extension|x|#|,|;|~)\s*(\d{1,6})\s*#?",
    re.I | re.S,
)
#: A short tail after the last dash: an extension only if the whole is no number but
#: the head is one ('010-12345678-123', '17012345678-1234'), unlike '138-1234-5678'.
_DASH_EXT_RE: Final = re.compile(r"(.*[\d*●•∗○◦■□])\s*[-_]\s*(\d{1,6})", re.S)
_MULTI_SPLIT_RE: Final = re.compile(r"[/,;|、\s]+|(?<=\d)\s*(?:或|和|or)\s*(?=\+?\d)", re.I)
_SEPARATORS_RE: Final = re.compile(r"[\s\-–—_.()\[\]/]+")
_CORE_RE: Final = re.compile(r"\+?\d+", re.ASCII)
_MASKED_CORE_RE: Final = re.compile(r"[\d*]{3,20}", re.ASCII)
_DIGIT_RUN_RE: Final = re.compile(r"\d")


def _invalid(reason: str) -> Phone:
    return Phone("invalid", None, reason)


def _clean(raw: str) -> str:
    """Remove what spreadsheets and exports wrap around a number, nothing more.

    Handles full-width characters (NFKC), invisible characters, the leading
    apostrophe that forces text in Excel, ``="…"`` formulas, surrounding quotes and a
    leading label such as ``手机：``. It loops because exports stack these.
    """
    s = raw
    if not s.isascii():
        s = _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", s))
    elif s[:1] in _PLAIN_START and s[-1:].isdigit():
        return s  # nothing wrapped around it: skip the loop (most values)
    for _ in range(4):
        before = s
        s = s.strip()
        if s.startswith("="):
            m = _EXCEL_FORMULA_RE.fullmatch(s)
            if m:
                s = m.group(1) if m.group(1) is not None else m.group(2)
        s = s.strip(_QUOTES).strip()
        if s[:1] not in _PLAIN_START:
            if s[:4].lower() == "tel:":
                s = s[4:]
            m = _LABEL_RE.match(s)
            if m:
                s = s[m.end() :]
        if s == before:
            break
    return s


def _spreadsheet_number(s: str) -> tuple[str, str | None]:
    """Undo Excel turning a phone into a number: '13812345678.0' or '1.3812345678E+10'.

    Scientific notation is only trusted when it still carries every digit; Excel's
    short form ('1.38123E+10') has lost the tail and must not become a phone.
    """
    m = _EXCEL_FLOAT_RE.fullmatch(s)
    if m:
        return m.group(1), None
    m = _SCI_RE.fullmatch(s)
    if m:
        head, frac, exp = m.group(1), m.group(2), int(m.group(3))
        if len(frac) == exp:
            return head + frac, None
        return s, "digits lost to scientific notation"
    return s, None


def _classify_digits(core: str, region: str) -> tuple[str | None, str | None, bool]:
    """Turn a separator-free ``+?digits`` string into (E.164, reason, is CN mobile).

    The CN rules are stricter than phonenumbers' parser on purpose: it accepts a
    landline written without its leading 0 ('57187654321'), which in practice is as
    often a mistyped or truncated number as a real one, so that is rejected here.
    """
    if core.startswith("+"):
        digits = core[1:]
    elif region != "CN":
        # phonenumbers knows each region's own international prefix (00, 011, …).
        e164, reason = _parse_with_phonenumbers(core, region)
        return e164, reason, False
    elif core.startswith("00"):
        digits = core[2:]
    else:
        return _classify_cn_national(core)
    if digits.startswith("86"):
        nsn = digits[2:]
        if nsn.startswith("0"):  # '+86 (0)571 …': the trunk 0 written after the code
            nsn = nsn[1:]
        return _cn_result(nsn, "not a valid CN number")
    if not digits:
        return None, "no digits", False
    e164, reason = _parse_with_phonenumbers("+" + digits, None)
    return e164, reason, False


def _cn_result(nsn: str, reason: str) -> tuple[str | None, str | None, bool]:
    kind = _cn_type(nsn)
    if kind == "mobile" or kind == "fixed":
        return "+86" + nsn, None, kind == "mobile"
    if kind == "service":
        return None, "service number, not personal", False
    return None, reason, False


def _classify_cn_national(core: str) -> tuple[str | None, str | None, bool]:
    n = len(core)
    first = core[0]
    if first == "1":
        if n == 11:
            return _cn_result(core, "not a valid CN mobile number")
        if n < 11:
            return None, "too short for a CN mobile", False
        return None, "too long for a CN mobile", False
    if first == "0":
        return _cn_result(core[1:], "not a valid CN landline number")
    if core.startswith("86") and n > 11:
        nsn = core[2:]
        if nsn.startswith("0"):
            nsn = nsn[1:]
        return _cn_result(nsn, "not a valid CN number")
    if _cn_type(core) == "service":
        return None, "service number, not personal", False
    if n == 11:
        return None, "11 digits not starting with 1: not a CN mobile", False
    if n in (7, 8):
        return None, "landline without area code", False
    if n < 7:
        return None, "too short for a phone number", False
    return None, "not a valid CN number", False


def _mask_canonical(s: str) -> str:
    """Masked digits with '*' only, no separators and no +86 prefix."""
    t = _MASK_SUB_RE.sub("*", _SEPARATORS_RE.sub("", s))
    if t.startswith("+86"):
        return t[3:]
    if t.startswith("0086"):
        return t[4:]
    if t.startswith("86") and len(t) == 13:
        return t[2:]
    return t


def _masked(s: str, virtual: bool, ext: str | None, dash: re.Match[str] | None) -> Phone:
    """A masked value, or a masked relay number when an extension follows a mobile.

    Only a mobile-shaped head (11 characters starting with 1) keeps its extension,
    as ``170****5678-1234``; elsewhere an explicit extension is dropped and a dash is
    just a separator, so that normalising the value again gives the same value.
    """
    head, tail = s, ext
    if ext is None and dash is not None:
        head, tail = dash.group(1), dash.group(2)
    if tail is not None:
        t = _mask_canonical(head)
        if len(t) == 11 and t[0] == "1" and _MASKED_CORE_RE.fullmatch(t):
            return Phone("masked", f"{t}-{tail}", "virtual number")
    t = _mask_canonical(s)
    if not _MASKED_CORE_RE.fullmatch(t):
        return _invalid("not a phone number")
    return Phone("masked", t, "virtual number" if virtual else None)


def _count_long_chunks(s: str) -> int:
    """How many separate runs of text carry a full phone's worth (7+) of digits."""
    count = 0
    for chunk in _MULTI_SPLIT_RE.split(s):
        if len(chunk) >= 7 and len(_DIGIT_RUN_RE.findall(chunk)) >= 7:
            count += 1
    return count


def normalize_phone(raw: str | None, default_region: str = "CN") -> Phone:
    """Normalise one phone value from an export; pure, and never raises.

    ``default_region`` is the country assumed for numbers written without a country
    code (ISO 3166-1 alpha-2, as phonenumbers uses it).
    """
    if raw is None:
        return _EMPTY
    if raw.__class__ is not str:
        raw = _coerce(raw)
    # Fast paths: a bare (or +86) valid CN mobile is most of a Chinese shop's export.
    n = len(raw)
    if default_region == "CN" and n == 11 and _CN_MOBILE_RE.fullmatch(raw):
        return Phone("e164", "+86" + raw, None)
    if n == 14 and raw.startswith("+86") and _CN_MOBILE_RE.fullmatch(raw, 3):
        return Phone("e164", raw, None)
    try:
        return _normalize(raw, default_region.upper())
    except Exception:  # defensive: a bug here must not stop an import
        return _invalid("unparseable")


def _coerce(raw: object) -> str:
    """Accept the ints and floats a careless caller may pass instead of text."""
    if isinstance(raw, bool):
        return ""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def _normalize(raw: str, region: str) -> Phone:
    if len(raw) > _MAX_LEN * 4:
        return _invalid("too long for a phone number")
    s = _clean(raw)
    if not s or s.lower() in _NULLS:
        return _EMPTY
    if len(s) > _MAX_LEN:
        return _invalid("too long for a phone number")
    if region == "CN":
        if len(s) == 11 and _CN_MOBILE_RE.fullmatch(s):
            return Phone("e164", "+86" + s, None)
        # '+86 138 1234 5678', '0086-13812345678', '138-1234-5678': the general path
        # below gives the same answer for these, only slower.
        m = _SPACED_CN_MOBILE_RE.fullmatch(s)
        if m is not None:
            national = m.group(1) + m.group(2) + m.group(3)
            if _CN_MOBILE_RE.fullmatch(national):
                return Phone("e164", "+86" + national, None)

    # Each step below is guarded by a cheap test, so that the common decorated
    # forms ('+86 138 1234 5678', '138-1234-5678') skip the regexes that cannot apply.
    ascii_only = s.isascii()
    if "." in s or "e" in s or "E" in s:
        s, reason = _spreadsheet_number(s)
        if reason:
            return _invalid(reason)

    virtual = False
    if (not ascii_only or "v" in s or "V" in s) and _VIRTUAL_RE.search(s):
        virtual = True
        s = _VIRTUAL_RE.sub(" ", s).strip()
        if not s:
            return _invalid("virtual number without digits")

    ext: str | None = None
    dash: re.Match[str] | None = None
    m = _EXPLICIT_EXT_RE.fullmatch(s) if _EXT_MARKER_RE.search(s) else None
    if m:
        s, ext = m.group(1).strip(), m.group(2)
    elif "-" in s or "_" in s:
        dash = _DASH_EXT_RE.fullmatch(s)

    if (not ascii_only or "*" in s or "x" in s or "X" in s) and _MASK_RE.search(s):
        return _masked(s, virtual, ext, dash)

    core = _SEPARATORS_RE.sub("", s)
    if len(core) - core.startswith("+") >= 14 and _count_long_chunks(s) >= 2:
        return _invalid("multiple numbers")
    if not _CORE_RE.fullmatch(core):
        if not any(c.isdigit() for c in core):
            return _invalid("no digits")
        return _invalid("not a phone number")

    e164, reason, mobile = _classify_digits(core, region)
    if e164 is None and dash is not None:
        head = _SEPARATORS_RE.sub("", dash.group(1))
        if _CORE_RE.fullmatch(head):
            head_e164, _, head_mobile = _classify_digits(head, region)
            if head_e164 is not None:
                e164, reason, mobile, ext = head_e164, None, head_mobile, dash.group(2)
    if e164 is None:
        return _invalid(reason or "not a valid number")
    if mobile and (ext is not None or virtual):
        # Mobiles have no extensions: 'mobile-1234' is a platform's privacy relay,
        # reachable for a while after the order but not the person's own number.
        national = e164[3:]
        return Phone("masked", f"{national}-{ext}" if ext else national, "virtual number")
    if virtual:  # a relay landline: keep the digits as written, never an E.164 form
        return Phone("masked", core.lstrip("+"), "virtual number")
    if ext is not None:
        return Phone("e164", e164, f"extension {ext} dropped")
    return Phone("e164", e164, None)
