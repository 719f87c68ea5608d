"""Chinese postal addresses: split into province / city / district / detail / postcode.

Exports write the same address in several shapes: Taobao/Tmall as space-separated
levels with the postcode in brackets (``浙江省 杭州市 西湖区 文三路 188号(310012)``),
JD unspaced and often with short names (``江苏南京市玄武区中山路100号``), PDD in separate
columns. Segmentation, reporting by region and address-based identity hints all need
the levels apart and spelled one way, so this module recognises provinces and
prefecture-level cities from the table in :mod:`cn_regions` and districts by their
suffix (区/县/市/旗) right after a known city.

The parser is deliberately cautious with short names, because Chinese streets are
named after places: ``北京东路``, ``南京路``, ``西藏中路`` are streets, not regions. A
short name only counts when what follows it confirms it (a known city, a district, a
space or the end); otherwise the value is left whole in ``detail``. Every step is a
prefix lookup in a dict keyed by the first character or one anchored regex, and
Taobao's space-separated layout has a cached fast path, so a million distinct
addresses take a few seconds of one core.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

from shopcrm.ingest.normalize.cn_regions import (
    CITY_ALIASES,
    EXTRA_CODES,
    PLACEHOLDERS,
    PREFECTURE_ALIASES,
    PROVINCES,
    Province,
)


@dataclass(frozen=True, slots=True)
class Address:
    """A split Chinese address; every part is optional.

    ``province`` and ``city`` are canonical full names ('浙江省', '杭州市'; for the four
    municipalities the city equals the province). ``district`` is the county-level
    name as written ('西湖区', '昆山市'). ``detail`` is the rest, trimmed. ``postcode`` is
    six digits when the address ended with one (Taobao's placeholder ``000000`` is
    dropped).
    """

    province: str | None
    city: str | None
    district: str | None
    detail: str | None
    postcode: str | None


_EMPTY: Final = Address(None, None, None, None, None)

# --- lookup tables ----------------------------------------------------------------------


class _Alias(NamedTuple):
    text: str
    canonical: str
    province: Province
    full: bool  # needs no confirmation by what follows


_FULL_SUFFIXES: Final = ("省", "市", "区", "區", "盟", "地区", "自治州", "特区")


def _by_first_char(aliases: list[_Alias]) -> dict[str, tuple[_Alias, ...]]:
    """Index aliases by first character, longest first, for prefix matching."""
    index: dict[str, list[_Alias]] = {}
    for alias in sorted(aliases, key=lambda a: len(a.text), reverse=True):
        index.setdefault(alias.text[0], []).append(alias)
    return {k: tuple(v) for k, v in index.items()}


def _province_aliases() -> list[_Alias]:
    out: list[_Alias] = []
    for p in PROVINCES:
        for text in (p.name, p.short, *p.aliases):
            out.append(_Alias(text, p.name, p, text.endswith(_FULL_SUFFIXES)))
    return out


def _city_aliases(p: Province) -> list[_Alias]:
    """Every spelling of each city of one province, dropping ambiguous short forms."""
    out: list[_Alias] = []
    if p.kind == "municipality":
        for text in (p.name, p.short, *p.aliases):
            out.append(_Alias(text, p.name, p, text.endswith("市")))
        return out
    for city in p.cities + p.direct:
        out.append(_Alias(city, city, p, True))
        if city in p.cities:
            if city.endswith("市") and len(city) >= 3:
                out.append(_Alias(city[:-1], city, p, False))
            elif city.endswith("地区"):
                out.append(_Alias(city[:-2], city, p, False))
            elif city.endswith("盟"):
                out.append(_Alias(city[:-1], city, p, False))
        for short in PREFECTURE_ALIASES.get(city, ()):
            out.append(_Alias(short, city, p, False))
    for old, new in CITY_ALIASES.items():
        if new in p.cities or new in p.direct:
            out.append(_Alias(old, new, p, True))
            if old.endswith("地区"):
                out.append(_Alias(old[:-2], new, p, False))
    seen: dict[str, set[str]] = {}
    for a in out:
        seen.setdefault(a.text, set()).add(a.canonical)
    return [a for a in out if len(seen[a.text]) == 1]


_PROVINCE_INDEX: Final = _by_first_char(_province_aliases())
_CITY_INDEX: Final = {p.name: _by_first_char(_city_aliases(p)) for p in PROVINCES}


def _global_city_aliases() -> list[_Alias]:
    """City spellings usable without a province: those naming one city nationwide."""
    aliases = [a for p in PROVINCES if p.kind != "municipality" for a in _city_aliases(p)]
    owners: dict[str, set[str]] = {}
    for a in aliases:
        owners.setdefault(a.text, set()).add(a.canonical)
    province_texts = {a.text for a in _province_aliases()}
    return [a for a in aliases if len(owners[a.text]) == 1 and a.text not in province_texts]


_GLOBAL_CITY_INDEX: Final = _by_first_char(_global_city_aliases())
_BY_NAME: Final = {p.name: p for p in PROVINCES}
_REGION_NAMES: Final = frozenset(
    {a.text for a in _province_aliases()} | {c for p in PROVINCES for c in p.cities}
)

# --- regexes ----------------------------------------------------------------------------

_INVISIBLE_RE: Final = re.compile("[\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_QUOTES: Final = "'\"`‘’“”"
_FORMULA_RE: Final = re.compile(r'=\s*"(.*)"', re.S)
_HAS_CJK_RE: Final = re.compile("[\u3400-\u9fff]")
_CONTROL_RE: Final = re.compile("[\u0000-\u001f\u007f-\u009f]")
_POSTCODE_INNER_RE: Final = re.compile(r"\s*(?:(?:邮编|邮政编码)\s*[:：]?\s*)?(\d{6})\s*", re.ASCII)
_POSTCODE_LAST: Final = frozenset("0123456789)]")
_POSTCODE_LABELS: Final = ("邮编", "邮政编码")
_POSTCODE_LEAD: Final = frozenset(" ,，;；")
_COUNTRY_RE: Final = re.compile(
    r"(?:中华人民共和国|中華人民共和國|中国大陆|中國大陸|中国|中國)[\s,，]*"
)
_COUNTRY_FIRST: Final = frozenset("中")
_SEP_CHARS: Final = " ,，、;；:：-—/|"
#: A county-level name right at this point: CJK characters ending in 区/县/市/旗, with
#: no street, building or village character in it ('西湖区', '昆山市', '长阳土家族自治县').
_DISTRICT_RE: Final = re.compile(
    "(?:(?![路街巷弄号村镇乡楼栋幢室层省])[\u3400-\u9fff]){1,14}?[区县市旗區縣]"
)
_DISTRICT_BAD_ENDINGS: Final = (
    "小区", "社区", "校区", "景区", "厂区", "街区", "商区", "住宅区", "生活区", "办公区",
    "服务区",
)  # fmt: skip
_MARKET_CITY: Final = "场"  # '黄山市场' is a market, not 黄山市
_SHORT_BLOCKERS: Final = frozenset("区县旗镇乡村路街道巷弄号里桥湾區縣")
_SHORT_BLOCKER_PAIRS: Final = ("大道", "大学", "大街", "大厦", "大桥", "大楼", "大院", "大酒店")
_PLACEHOLDER_RE: Final = re.compile(
    "(?:" + "|".join(sorted(PLACEHOLDERS, key=len, reverse=True)) + r")(?=[ ,，、;；:：\-—/|]|$)"
    r"|市辖区|其它区|其他区|县(?= )"
)
_PLACEHOLDER_FIRST: Final = frozenset(p[0] for p in (*PLACEHOLDERS, "市辖区", "县"))
_DISTRICT_PLACEHOLDERS: Final = frozenset({"其它区", "其他区", "市辖区"})
_MUNICIPAL_START_OK: Final = frozenset({"市中区", "市北区", "市南区"})


def _prepare(raw: str) -> str:
    """NFKC, no invisible characters or spreadsheet wrapping, whitespace collapsed."""
    s = raw
    if not s.isprintable():  # invisible (Cf) and control characters are not printable
        s = _CONTROL_RE.sub(" ", _INVISIBLE_RE.sub("", s))
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    s = " ".join(s.split())
    if s[:1] == "=":
        m = _FORMULA_RE.fullmatch(s)
        if m:
            s = " ".join(m.group(1).split())
    if s[:1] in _QUOTES:  # Excel's leading apostrophe, or quotes around the whole
        s = s.strip(_QUOTES).strip()
    return s


def _trailing_postcode(text: str, start_is_boundary: bool = False) -> tuple[int, str] | None:
    """(start, code) of a postcode closing the text: '(310012)', ' 310012', '邮编:310012'."""
    last = text[-1:]
    if not ("0" <= last <= "9" or last == ")" or last == "]"):
        return None
    if last == ")" or last == "]":
        j = text.rfind("(" if last == ")" else "[", max(0, len(text) - 20))
        if j < 0:
            return None
        inner = text[j + 1 : -1]
        if len(inner) == 6 and inner.isascii() and inner.isdigit():
            return j, inner
        m = _POSTCODE_INNER_RE.fullmatch(inner)
        return (j, m.group(1)) if m else None
    code = text[-6:]
    if len(code) < 6 or not (code.isascii() and code.isdigit()):
        return None
    j = len(text) - 6
    if j == 0:
        return (0, code) if start_is_boundary else None
    if text[j - 1].isdigit():
        return None  # part of a longer number
    before = text[:j].rstrip(" :：")
    for label in _POSTCODE_LABELS:
        if before.endswith(label):
            return len(before) - len(label), code
    if text[j - 1] in _POSTCODE_LEAD:
        return j, code
    return None


def _take_postcode(
    text: str, postcode: str | None = None, start_is_boundary: bool = False
) -> tuple[str, str | None]:
    """Remove trailing postcodes; keep the last real one (not the 000000 filler).

    Run again on the detail alone (whose start then counts as a boundary), so that
    '浙江省000000' gives no detail, just as its joined form '浙江省 000000' does.
    """
    if len(text) > 8 and text[-1] == ")" and text[-8] == "(":  # Taobao's '(310012)'
        code = text[-7:-1]
        if code.isascii() and code.isdigit():
            text = text[:-8].rstrip(_SEP_CHARS)
            if postcode is None and code != "000000":
                postcode = code
            if text[-1:] not in _POSTCODE_LAST:
                return text, postcode
    for _ in range(3):
        found = _trailing_postcode(text, start_is_boundary)
        if found is None:
            break
        start, code = found
        if postcode is None and code != "000000":
            postcode = code
        text = text[:start].rstrip(_SEP_CHARS)
    return text, postcode


def _skip_sep(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _SEP_CHARS:
        i += 1
    return i


def _skip_placeholders(text: str, i: int) -> int:
    while True:
        i = _skip_sep(text, i)
        if text[i : i + 1] not in _PLACEHOLDER_FIRST:
            return i
        m = _PLACEHOLDER_RE.match(text, i)
        if m is None:
            return i
        i = m.end()


def _district(text: str, i: int) -> tuple[str | None, int] | None:
    """A county-level name at ``i``: (name or None for a placeholder, end) or None."""
    m = _DISTRICT_RE.match(text, i)
    if m is None:
        return None
    name, end = m.group(0), m.end()
    if name[-1] == "市" and end < len(text) and text[end] in "区县":
        name, end = name + text[end], end + 1  # 沙市区, 新市区
    if name in _DISTRICT_PLACEHOLDERS:
        return None, end
    if name in _REGION_NAMES:
        return None  # '北京市', '杭州市': a province or city again, not a district
    n = len(name)
    if n < 2 or name[0] in "区县旗區縣" or (name[0] == "市" and name not in _MUNICIPAL_START_OK):
        return None
    if name.endswith(_DISTRICT_BAD_ENDINGS) or "大道" in name:
        return None
    if name.endswith("园区") and not name.endswith("工业园区"):
        return None
    last = name[-1]
    if last == "市" and (n > 6 or (n > 3 and name.endswith("城市"))):
        return None  # county-level cities are short; '万科城市' is an estate
    if last in "区區" and n > 12:
        return None
    return name, end


def _boundary(text: str, i: int) -> bool:
    return i >= len(text) or text[i] in _SEP_CHARS


def _city_at(
    text: str, i: int, index: dict[str, tuple[_Alias, ...]], strict: bool
) -> tuple[_Alias, int, int] | None:
    """Match a city alias at ``i``: (alias, where the district search starts, end).

    A short alias must be confirmed by what follows: in ``strict`` mode (no province
    before it) by a boundary or a district; otherwise it only must not run on into a
    street or place word. ``大理市`` after a short alias of 大理白族自治州 is that
    prefecture's county-level city, so the district search starts at the alias.
    """
    if i >= len(text):
        return None
    for alias in index.get(text[i], ()):
        if not text.startswith(alias.text, i):
            continue
        end = i + len(alias.text)
        nxt = text[end : end + 1]
        if alias.full:
            if alias.text[-1] == "市" and nxt == _MARKET_CITY:
                continue
            return alias, end, end
        if nxt == "市":
            return alias, i, end
        if strict:
            if _boundary(text, end) or _district(text, _skip_sep(text, end)) is not None:
                return alias, end, end
            continue
        if nxt in _SHORT_BLOCKERS or text.startswith(_SHORT_BLOCKER_PAIRS, end):
            continue
        return alias, end, end
    return None


class _Parse(NamedTuple):
    province: Province
    city: str | None
    district: str | None
    end: int


def _after_city(text: str, province: Province, city: str | None, i: int) -> _Parse:
    i = _skip_placeholders(text, i)
    found = _district(text, i)
    if found is None:
        return _Parse(province, city, None, i)
    return _Parse(province, city, found[0], found[1])


def _after_province(text: str, alias: _Alias, end: int) -> _Parse | None:
    province = alias.province
    i = _skip_placeholders(text, end)
    # '浙江省浙江省杭州市…': a repeated province name. (A municipality's repeat is its
    # city, which the city step below takes exactly once.)
    while province.kind != "municipality":
        for again in (province.name, alias.text):
            after = i + len(again)
            if text.startswith(again, i) and (again == province.name or _boundary(text, after)):
                i = _skip_placeholders(text, after)
                break
        else:
            break
    index = _CITY_INDEX[province.name]
    if province.kind == "municipality":
        found = _city_at(text, i, index, strict=False)
        if found is not None:
            i = found[2]
        result = _after_city(text, province, province.name, i)
        if alias.full or result.district is not None or _boundary(text, end):
            return result
        return None
    found = _city_at(text, i, index, strict=False)
    if found is not None:
        return _after_city(text, province, found[0].canonical, found[1])
    result = _after_city(text, province, None, i)
    if alias.full or result.district is not None or _boundary(text, end):
        return result
    return None


_PROVINCE_TOKENS: Final = {a.text: a for a in _province_aliases()}
_CITY_TOKENS: Final = {p.name: {a.text: a for a in _city_aliases(p)} for p in PROVINCES}


def _parse_tokens(text: str) -> _Parse | None:
    """Fast path for Taobao's 'province city district …' layout, or None to fall back.

    It only answers when the first two tokens are exactly a province and one of its
    cities and the third is no placeholder; in that case ``_parse_regions`` would
    reach the same result (tests compare the two), only slower. The answer depends on
    the three tokens alone, and those repeat across a column, so it is cached.
    """
    sp1 = text.find(" ")
    if sp1 <= 0:
        return None
    sp2 = text.find(" ", sp1 + 1)
    if sp2 <= sp1 + 1:
        return None
    start = sp2 + 1
    token_end = text.find(" ", start)
    t2 = text[start:] if token_end < 0 else text[start:token_end]
    found = _parse_three(text[:sp1], text[sp1 + 1 : sp2], t2)
    if found is None:
        return None
    province, city, district, offset = found
    return _Parse(province, city, district, start + offset)


@lru_cache(maxsize=65536)
def _parse_three(t0: str, t1: str, t2: str) -> tuple[Province, str, str | None, int] | None:
    alias = _PROVINCE_TOKENS.get(t0)
    if alias is None:
        return None
    province = alias.province
    city = _CITY_TOKENS[province.name].get(t1)
    if city is None:
        return None
    if province.kind != "municipality" and (t1 == alias.text or t1.startswith(province.name)):
        return None  # the general parser would take t1 for a repeat of the province
    if not t2 or t2[0] in _PLACEHOLDER_FIRST:
        return None
    found = _district(t2, 0)
    if found is None:
        return province, city.canonical, None, 0
    return province, city.canonical, found[0], found[1]


def _parse_regions(text: str) -> _Parse | None:
    fallback: _Parse | None = None
    for alias in _PROVINCE_INDEX.get(text[:1], ()):
        if text.startswith(alias.text):
            result = _after_province(text, alias, len(alias.text))
            if result is not None:
                if result.city is not None:
                    return result
                if fallback is None:
                    fallback = result
    found = _city_at(text, 0, _GLOBAL_CITY_INDEX, strict=True)
    if found is not None:
        alias = found[0]
        return _after_city(text, alias.province, alias.canonical, found[1])
    return fallback


def _detail(text: str, parse: _Parse) -> tuple[str | None, str | None]:
    """The rest after the regions, without a repeat of them: (district, detail).

    Buyers often type the whole address into Taobao's detail field, so the detail
    starts again with '浙江省杭州市西湖区'. Dropping that repeat (and finding the
    district in it when the levels lacked one) keeps the detail comparable and makes
    re-splitting a joined address give the same parts.
    """
    district = parse.district
    i = _skip_sep(text, parse.end)
    first = text[i : i + 1]
    if (
        district is not None
        and first not in _PLACEHOLDER_FIRST
        and first != parse.province.name[0]
        and first != district[0]
        and (parse.city is None or first != parse.city[0])
    ):  # the usual case: nothing repeated, nothing to look for
        rest = text[i:].rstrip(_SEP_CHARS)
        return district, rest or None
    names = [parse.province.name]
    if parse.city is not None and parse.city != parse.province.name:
        names.append(parse.city)
    if district is not None:
        names.append(district)
    while True:
        i = _skip_placeholders(text, i)
        for name in names:
            if text.startswith(name, i) and text[i + len(name) : i + len(name) + 1] != "场":
                i += len(name)
                break
        else:
            if district is None:
                found = _district(text, i)
                if found is not None and found[0] is not None:
                    district, i = found[0], found[1]
                    names.append(found[0])
                    continue
            break
    rest = text[i:].strip(_SEP_CHARS)
    return district, rest or None


def split_cn_address(raw: str | None) -> Address:
    """Split one Chinese address into its levels; pure, and never raises.

    A value in which no province or city is recognised comes back whole (trimmed) in
    ``detail`` with every other part ``None``, so nothing typed is ever lost.
    """
    if raw is None:
        return _EMPTY
    if raw.__class__ is not str:
        raw = "" if isinstance(raw, bool) else str(raw)
    try:
        return _split(raw)
    except Exception:  # defensive: a bug here must not stop an import
        stripped = raw.strip()
        return Address(None, None, None, stripped or None, None)


def _split(raw: str) -> Address:
    stripped = raw.strip()
    if not stripped:
        return _EMPTY
    if stripped.isascii() or len(stripped) > 2000 or not _HAS_CJK_RE.search(stripped):
        return Address(None, None, None, stripped, None)
    text = _prepare(stripped)
    postcode: str | None = None
    if text[-1:] in _POSTCODE_LAST:
        text, postcode = _take_postcode(text)
    if text[:1] in _COUNTRY_FIRST:
        m = _COUNTRY_RE.match(text)
        if m:
            text = text[m.end() :]
    parse = _parse_tokens(text) or _parse_regions(text)
    if parse is None:
        return Address(None, None, None, stripped, None)
    district, detail = _detail(text, parse)
    if detail is not None and detail[-1] in _POSTCODE_LAST:
        rest, postcode = _take_postcode(detail, postcode, start_is_boundary=True)
        detail = rest or None
    return Address(parse.province.name, parse.city, district, detail, postcode)


def join_cn_address(address: Address) -> str:
    """Recompose an address in Taobao's layout: '浙江省 杭州市 西湖区 文三路188号(310012)'.

    ``split_cn_address(join_cn_address(a)) == a`` for any ``a`` that came out of
    ``split_cn_address``; the tests hold it to that.
    """
    parts = [p for p in (address.province, address.city, address.district, address.detail) if p]
    text = " ".join(parts)
    if address.postcode:
        text += f"({address.postcode})"
    return text


# --- provinces and split columns ---------------------------------------------------------

_PROVINCE_EXACT: Final[dict[str, str]] = {
    text: p.name for p in PROVINCES for text in (p.name, p.short, *p.aliases)
}
_PROVINCE_EXACT.update(
    {
        abbr: _BY_NAME[name].name
        for abbr, name in {
            "京": "北京市", "津": "天津市", "冀": "河北省", "晋": "山西省", "蒙": "内蒙古自治区",
            "辽": "辽宁省", "吉": "吉林省", "黑": "黑龙江省", "沪": "上海市", "苏": "江苏省",
            "浙": "浙江省", "皖": "安徽省", "闽": "福建省", "赣": "江西省", "鲁": "山东省",
            "豫": "河南省", "鄂": "湖北省", "湘": "湖南省", "粤": "广东省", "桂": "广西壮族自治区",
            "琼": "海南省", "渝": "重庆市", "川": "四川省", "蜀": "四川省", "贵": "贵州省",
            "黔": "贵州省", "云": "云南省", "滇": "云南省", "藏": "西藏自治区", "陕": "陕西省",
            "秦": "陕西省", "甘": "甘肃省", "陇": "甘肃省", "青": "青海省", "宁": "宁夏回族自治区",
            "新": "新疆维吾尔自治区", "台": "台湾省", "港": "香港特别行政区",
            "澳": "澳门特别行政区",
        }.items()
    }
)  # fmt: skip
_PROVINCE_CODES: Final[dict[str, str]] = {
    **{p.iso: p.name for p in PROVINCES},
    **{p.gb: p.name for p in PROVINCES},
    **{
        code: _BY_NAME[n].name
        for code, iso in EXTRA_CODES.items()
        for n in [next(p.name for p in PROVINCES if p.iso == iso)]
    },
}
_PROVINCE_LATIN: Final[dict[str, str]] = {latin: p.name for p in PROVINCES for latin in p.latin}
_CODE_RE: Final = re.compile(r"(?:CN[-_ ]?)?([A-Z]{2}|\d{2})(?:0000)?", re.ASCII)
_LATIN_DROP: Final = frozenset(
    {
        "province", "sheng", "shi", "city", "municipality", "autonomous", "region", "zizhiqu",
        "special", "administrative", "sar", "zhuang", "hui", "uygur", "uyghur", "uighur",
        "weiwuer", "huizu", "zhuangzu", "of", "the", "china", "prc", "tebie", "xingzhengqu",
    }
)  # fmt: skip
_NON_ALNUM_RE: Final = re.compile(r"[^a-z0-9]+")


def normalize_province(raw: str | None) -> str | None:
    """Canonical full name of a provincial-level division, or ``None`` if unknown.

    Accepts Chinese full, short, one-character and traditional names ('浙江', '浙',
    '廣東'), ISO/Shopify codes ('ZJ', 'CN-ZJ', Shopify's 'YZ' for Xizang), GB codes
    ('33', '330000') and pinyin/English ('Zhejiang', 'Inner Mongolia', 'Hong Kong SAR').
    An unknown value gives ``None`` rather than a guess; the caller keeps the raw text.
    """
    if raw is None:
        return None
    if raw.__class__ is not str:
        raw = "" if isinstance(raw, bool) else str(raw)
    if len(raw) > 100:
        return None
    s = raw.strip()
    if not s.isascii():
        s = unicodedata.normalize("NFKC", _INVISIBLE_RE.sub("", s)).strip()
    s = s.strip(_QUOTES).strip()
    if not s:
        return None
    found = _PROVINCE_EXACT.get(s)
    if found is not None:
        return found
    if not s.isascii():
        return None
    m = _CODE_RE.fullmatch(s.upper())
    if m:
        found = _PROVINCE_CODES.get(m.group(1))
        if found is not None:
            return found
    words = _NON_ALNUM_RE.split(s.lower().replace(".", "").replace("'", ""))
    key = "".join(w for w in words if w and w not in _LATIN_DROP)
    return _PROVINCE_LATIN.get(key)


def address_from_parts(
    province: str | None,
    city: str | None,
    district: str | None,
    detail: str | None = None,
    postcode: str | None = None,
) -> Address:
    """Build an :class:`Address` from an export that already splits the levels (PDD).

    The province is normalised; a city is put in its canonical spelling when it is a
    known city of that province (or, without a province, a city unique in China,
    which then also gives the province); municipalities' placeholder cities
    ('市辖区', '县') become the municipality. Unknown values pass through cleaned,
    never dropped.
    """
    prov_name = normalize_province(province)
    city_text = _clean_part(city)
    district_text = _clean_part(district)
    if district_text in _DISTRICT_PLACEHOLDERS or district_text in PLACEHOLDERS:
        district_text = None
    canonical_city: str | None = city_text
    if prov_name is not None:
        p = _BY_NAME[prov_name]
        if p.kind == "municipality" and (
            city_text is None or city_text in PLACEHOLDERS or city_text == "县"
        ):
            canonical_city = p.name
        elif city_text is not None:
            canonical_city = _exact_city(city_text, _CITY_INDEX[p.name]) or city_text
    elif city_text is not None:
        for alias in _GLOBAL_CITY_INDEX.get(city_text[0], ()):
            if alias.text == city_text:
                prov_name, canonical_city = alias.province.name, alias.canonical
                break
    if canonical_city in PLACEHOLDERS:
        canonical_city = None
    code = _clean_part(postcode)
    if code is not None and (
        not (code.isascii() and code.isdigit() and len(code) == 6) or code == "000000"
    ):
        code = None
    return Address(prov_name, canonical_city, district_text, _clean_part(detail), code)


def _clean_part(value: str | None) -> str | None:
    if value is None:
        return None
    if value.__class__ is not str:
        value = str(value)
    s = _prepare(value)
    if not s or s.lower() in {"null", "none", "nan", "-", "--", "n/a"}:
        return None
    return s


def _exact_city(text: str, index: dict[str, tuple[_Alias, ...]]) -> str | None:
    for alias in index.get(text[0], ()):
        if alias.text == text:
            return alias.canonical
    return None
