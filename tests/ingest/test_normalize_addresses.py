"""split_cn_address, normalize_province, address_from_parts and the region table."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopcrm.ingest.normalize import (
    Address,
    address_from_parts,
    join_cn_address,
    normalize_province,
    split_cn_address,
)
from shopcrm.ingest.normalize.addresses import _parse_regions, _parse_tokens, _prepare
from shopcrm.ingest.normalize.cn_regions import MUNICIPALITIES, PREFECTURE_ALIASES, PROVINCES

A = Address


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Taobao / Tmall: space-separated levels, postcode in brackets
        (
            "浙江省 杭州市 西湖区 文三路 188号(310012)",
            A("浙江省", "杭州市", "西湖区", "文三路 188号", "310012"),
        ),
        (
            "浙江省 杭州市 余杭区 五常街道文一西路969号（311121）",
            A("浙江省", "杭州市", "余杭区", "五常街道文一西路969号", "311121"),
        ),
        (
            "江苏省 苏州市 昆山市 玉山镇前进路1号",
            A("江苏省", "苏州市", "昆山市", "玉山镇前进路1号", None),
        ),
        ("广东省 深圳市 南山区 科技园 310012", A("广东省", "深圳市", "南山区", "科技园", "310012")),
        (
            "浙江省 杭州市 西湖区 文三路1号(000000)",
            A("浙江省", "杭州市", "西湖区", "文三路1号", None),
        ),
        (
            "浙江省 杭州市 西湖区 浙江省杭州市西湖区文三路188号",  # detail repeats the levels
            A("浙江省", "杭州市", "西湖区", "文三路188号", None),
        ),
        ("中国 浙江省 杭州市 西湖区 文三路1号", A("浙江省", "杭州市", "西湖区", "文三路1号", None)),
        ("浙江省 杭州市 其它区 文三路1号", A("浙江省", "杭州市", None, "文三路1号", None)),
        ("广东省 东莞市 长安镇振安路1号", A("广东省", "东莞市", None, "长安镇振安路1号", None)),
        ("浙江省 杭州市", A("浙江省", "杭州市", None, None, None)),
        # municipalities: the city is the municipality
        (
            "北京 北京市 朝阳区 建国路1号(100000)",
            A("北京市", "北京市", "朝阳区", "建国路1号", "100000"),
        ),
        (
            "上海 上海市 浦东新区 世纪大道100号",
            A("上海市", "上海市", "浦东新区", "世纪大道100号", None),
        ),
        ("天津 天津市 和平区 南京路1号", A("天津市", "天津市", "和平区", "南京路1号", None)),
        ("重庆 重庆市 渝中区 解放碑1号", A("重庆市", "重庆市", "渝中区", "解放碑1号", None)),
        ("重庆 县 城口县 葛城街道1号", A("重庆市", "重庆市", "城口县", "葛城街道1号", None)),
        ("北京市 市辖区 朝阳区 建国路1号", A("北京市", "北京市", "朝阳区", "建国路1号", None)),
        ("上海市浦东新区世纪大道100号", A("上海市", "上海市", "浦东新区", "世纪大道100号", None)),
        # autonomous regions and prefectures
        (
            "广西壮族自治区 南宁市 青秀区 民族大道1号",
            A("广西壮族自治区", "南宁市", "青秀区", "民族大道1号", None),
        ),
        (
            "内蒙古自治区 呼和浩特市 新城区 中山路1号",
            A("内蒙古自治区", "呼和浩特市", "新城区", "中山路1号", None),
        ),
        (
            "内蒙古 锡林郭勒盟 锡林浩特市 x路1号",
            A("内蒙古自治区", "锡林郭勒盟", "锡林浩特市", "x路1号", None),
        ),
        (
            "黑龙江省 大兴安岭地区 漠河市 x路1号",
            A("黑龙江省", "大兴安岭地区", "漠河市", "x路1号", None),
        ),
        (
            "吉林省 延边朝鲜族自治州 延吉市 x街1号",
            A("吉林省", "延边朝鲜族自治州", "延吉市", "x街1号", None),
        ),
        ("湖北省 恩施州 利川市 x路", A("湖北省", "恩施土家族苗族自治州", "利川市", "x路", None)),
        (
            "新疆 伊犁州 伊宁市 x路",
            A("新疆维吾尔自治区", "伊犁哈萨克自治州", "伊宁市", "x路", None),
        ),
        ("新疆 乌鲁木齐市 新市区 x路", A("新疆维吾尔自治区", "乌鲁木齐市", "新市区", "x路", None)),
        ("宁夏 银川市 兴庆区 x路", A("宁夏回族自治区", "银川市", "兴庆区", "x路", None)),
        ("西藏 拉萨市 城关区 x路", A("西藏自治区", "拉萨市", "城关区", "x路", None)),
        ("湖北省 荆州市 沙市区 x路", A("湖北省", "荆州市", "沙市区", "x路", None)),
        ("山东省 济南市 市中区 x路", A("山东省", "济南市", "市中区", "x路", None)),
        (
            "湖北省 宜昌市 长阳土家族自治县 x路",
            A("湖北省", "宜昌市", "长阳土家族自治县", "x路", None),
        ),
        (
            "内蒙古 呼伦贝尔市 鄂伦春自治旗 x路",
            A("内蒙古自治区", "呼伦贝尔市", "鄂伦春自治旗", "x路", None),
        ),
        # directly administered county-level units sit at the city level
        ("海南省 省直辖县级行政区划 文昌市 x路", A("海南省", "文昌市", None, "x路", None)),
        ("湖北省 仙桃市 x路", A("湖北省", "仙桃市", None, "x路", None)),
        ("河南省 济源市 x路", A("河南省", "济源市", None, "x路", None)),
        # old names
        ("山东省 莱芜市 莱城区 x路", A("山东省", "济南市", "莱城区", "x路", None)),
        ("湖北省 襄樊市 樊城区 x路", A("湖北省", "襄阳市", "樊城区", "x路", None)),
        ("贵州省 毕节地区 七星关区 x路", A("贵州省", "毕节市", "七星关区", "x路", None)),
        # HK, Macau, Taiwan
        (
            "香港特别行政区 九龙 油尖旺区 弥敦道1号",
            A("香港特别行政区", "九龙", "油尖旺区", "弥敦道1号", None),
        ),
        ("香港 中西区 德辅道1号", A("香港特别行政区", None, "中西区", "德辅道1号", None)),
        ("台湾 台北市 大安区 x路", A("台湾省", "台北市", "大安区", "x路", None)),
        # JD: unspaced, often short names
        ("江苏南京市玄武区中山路100号", A("江苏省", "南京市", "玄武区", "中山路100号", None)),
        (
            "北京朝阳区三环到四环之间建国路1号",
            A("北京市", "北京市", "朝阳区", "三环到四环之间建国路1号", None),
        ),
        ("浙江杭州西湖区文三路1号", A("浙江省", "杭州市", "西湖区", "文三路1号", None)),
        ("浙江省杭州市西湖区文三路1号", A("浙江省", "杭州市", "西湖区", "文三路1号", None)),
        ("广西北海市海城区x路", A("广西壮族自治区", "北海市", "海城区", "x路", None)),
        ("云南大理市下关镇x路", A("云南省", "大理白族自治州", "大理市", "下关镇x路", None)),
        ("湖北恩施市x路", A("湖北省", "恩施土家族苗族自治州", "恩施市", "x路", None)),
        ("浙江义乌市稠州北路1号", A("浙江省", None, "义乌市", "稠州北路1号", None)),
        ("吉林吉林市船营区x路", A("吉林省", "吉林市", "船营区", "x路", None)),
        # no province: a city unique in China gives it
        ("杭州市西湖区文三路1号", A("浙江省", "杭州市", "西湖区", "文三路1号", None)),
        ("杭州西湖区文三路1号", A("浙江省", "杭州市", "西湖区", "文三路1号", None)),
        ("吉林市船营区x路", A("吉林省", "吉林市", "船营区", "x路", None)),
        ("海南藏族自治州共和县x路", A("青海省", "海南藏族自治州", "共和县", "x路", None)),
        ("杭州市阳光小区3幢", A("浙江省", "杭州市", None, "阳光小区3幢", None)),
        # full-width and decorations
        ("'浙江省 杭州市 西湖区 文三路1号", A("浙江省", "杭州市", "西湖区", "文三路1号", None)),
        (
            "浙江省　杭州市　西湖区　文三路１号（３１００１２）",
            A("浙江省", "杭州市", "西湖区", "文三路1号", "310012"),
        ),
        (
            "浙江省 杭州市 西湖区 文三路1号 邮编:310012",
            A("浙江省", "杭州市", "西湖区", "文三路1号", "310012"),
        ),
    ],
)
def test_split(raw: str, expected: Address) -> None:
    assert split_cn_address(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "北京东路100号",  # streets named after places are not regions
        "南京路步行街",
        "西藏中路100号",
        "浙江中路1号",
        "四川北路1号",
        "中山大道1号",
        "广东中山大道1号",
        "济南路8号",
        "asdf qwer",
        "Room 5, 12 Main St, Springfield",
        "文三路188号(310012)",
        "12345",
        "某某小区",
        "  hello   world  ",
    ],
)
def test_unrecognised_stays_whole_in_detail(raw: str) -> None:
    assert split_cn_address(raw) == A(None, None, None, raw.strip(), None)


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_empty(raw: str | None) -> None:
    assert split_cn_address(raw) == A(None, None, None, None, None)


def test_municipality_city_equals_province() -> None:
    for raw in [
        "北京 北京市 朝阳区 x",
        "北京朝阳区x",
        "上海 浦东新区 x",
        "重庆市万州区x",
        "天津 天津市 x",
    ]:
        address = split_cn_address(raw)
        assert address.province in MUNICIPALITIES
        assert address.city == address.province


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("浙江", "浙江省"),
        ("浙江省", "浙江省"),
        (" 浙江省 ", "浙江省"),
        ("浙", "浙江省"),
        ("ZJ", "浙江省"),
        ("zj", "浙江省"),
        ("CN-ZJ", "浙江省"),
        ("33", "浙江省"),
        ("330000", "浙江省"),
        ("CN-33", "浙江省"),
        ("Zhejiang", "浙江省"),
        ("ZHEJIANG", "浙江省"),
        ("Zhejiang Sheng", "浙江省"),
        ("Zhejiang Province", "浙江省"),
        ("北京", "北京市"),
        ("Beijing", "北京市"),
        ("Beijing Shi", "北京市"),
        ("BJ", "北京市"),
        ("上海", "上海市"),
        ("广西", "广西壮族自治区"),
        ("广西省", "广西壮族自治区"),
        ("廣西", "广西壮族自治区"),
        ("Guangxi Zhuang Autonomous Region", "广西壮族自治区"),
        ("GX", "广西壮族自治区"),
        ("内蒙古", "内蒙古自治区"),
        ("内蒙", "内蒙古自治区"),
        ("Inner Mongolia", "内蒙古自治区"),
        ("Nei Mongol", "内蒙古自治区"),
        ("NM", "内蒙古自治区"),
        ("新疆", "新疆维吾尔自治区"),
        ("Xinjiang Uygur Autonomous Region", "新疆维吾尔自治区"),
        ("西藏", "西藏自治区"),
        ("Tibet", "西藏自治区"),
        ("XZ", "西藏自治区"),
        ("YZ", "西藏自治区"),  # Shopify's code for Xizang
        ("宁夏", "宁夏回族自治区"),
        ("Ningxia Hui Autonomous Region", "宁夏回族自治区"),
        ("Shaanxi", "陕西省"),
        ("SN", "陕西省"),
        ("Shanxi", "山西省"),
        ("SX", "山西省"),
        ("陝西", "陕西省"),
        ("廣東", "广东省"),
        ("Guangdong", "广东省"),
        ("香港", "香港特别行政区"),
        ("Hong Kong", "香港特别行政区"),
        ("Hong Kong S.A.R.", "香港特别行政区"),
        ("HK", "香港特别行政区"),
        ("澳門", "澳门特别行政区"),
        ("Macau", "澳门特别行政区"),
        ("Macao SAR", "澳门特别行政区"),
        ("台湾", "台湾省"),
        ("Taiwan", "台湾省"),
        ("黑龙江", "黑龙江省"),
        ("Heilongjiang", "黑龙江省"),
        ("HL", "黑龙江省"),
        ("HI", "海南省"),
        ("HA", "河南省"),
        ("HE", "河北省"),
        ("HB", "湖北省"),
        ("HN", "湖南省"),
    ],
)
def test_normalize_province(raw: str, expected: str) -> None:
    assert normalize_province(raw) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "  ", "杭州", "浙江省杭州市", "ZZ", "99", "Atlantis", "CN", "x" * 500]
)
def test_normalize_province_unknown_is_none(raw: str | None) -> None:
    assert normalize_province(raw) is None


def test_every_province_normalises_from_each_of_its_names() -> None:
    for p in PROVINCES:
        for name in (p.name, p.short, *p.aliases, *p.latin, p.iso, f"CN-{p.iso}", p.gb):
            assert normalize_province(name) == p.name, name


def test_address_from_parts_pdd_columns() -> None:
    assert address_from_parts("浙江", "杭州", "西湖区", "文三路1号") == A(
        "浙江省", "杭州市", "西湖区", "文三路1号", None
    )
    assert address_from_parts("浙江省", "杭州市", "西湖区", " 文三路1号 ", "310012") == A(
        "浙江省", "杭州市", "西湖区", "文三路1号", "310012"
    )
    assert address_from_parts("北京", "市辖区", "朝阳区") == A(
        "北京市", "北京市", "朝阳区", None, None
    )
    assert address_from_parts("上海", None, "浦东新区") == A(
        "上海市", "上海市", "浦东新区", None, None
    )
    assert address_from_parts("湖北", "恩施州", "恩施市") == A(
        "湖北省", "恩施土家族苗族自治州", "恩施市", None, None
    )
    assert address_from_parts(None, "杭州市", "西湖区") == A(
        "浙江省", "杭州市", "西湖区", None, None
    )
    # unknown values pass through cleaned, never dropped
    assert address_from_parts("火星", "奥林匹斯市", "其它区", "x", "000000") == A(
        None, "奥林匹斯市", None, "x", None
    )
    assert address_from_parts(None, None, None) == A(None, None, None, None, None)


def test_region_table() -> None:
    assert len(PROVINCES) == 34
    mainland = [p for p in PROVINCES if p.iso not in {"HK", "MO", "TW"}]
    prefectures = [c for p in mainland for c in p.cities]
    assert len(prefectures) == 333
    assert sum(c.endswith("市") for c in prefectures) == 293
    assert sum(c.endswith("自治州") for c in prefectures) == 30
    assert sum(c.endswith("地区") for c in prefectures) == 7
    assert sum(c.endswith("盟") for c in prefectures) == 3
    all_cities = [c for p in PROVINCES for c in (*p.cities, *p.direct)]
    assert len(all_cities) == len(set(all_cities))
    assert set(PREFECTURE_ALIASES) <= set(all_cities)
    for field in ("name", "short", "iso", "gb"):
        values = [getattr(p, field) for p in PROVINCES]
        assert len(values) == len(set(values)), field
    cities = {p.name: set(p.cities) | set(p.direct) for p in PROVINCES}
    for province, city in [
        ("浙江省", "杭州市"), ("浙江省", "台州市"), ("江苏省", "苏州市"), ("江苏省", "泰州市"),
        ("安徽省", "宿州市"), ("安徽省", "亳州市"), ("广东省", "东莞市"), ("广东省", "中山市"),
        ("辽宁省", "朝阳市"), ("吉林省", "吉林市"), ("湖北省", "襄阳市"), ("湖北省", "神农架林区"),
        ("海南省", "儋州市"), ("海南省", "三沙市"), ("贵州省", "毕节市"), ("云南省", "普洱市"),
        ("青海省", "海东市"), ("青海省", "海南藏族自治州"), ("西藏自治区", "那曲市"),
        ("新疆维吾尔自治区", "吐鲁番市"), ("新疆维吾尔自治区", "哈密市"), ("四川省", "资阳市"),
        ("甘肃省", "嘉峪关市"), ("宁夏回族自治区", "中卫市"), ("河南省", "济源市"),
        ("内蒙古自治区", "鄂尔多斯市"), ("黑龙江省", "七台河市"), ("山东省", "济南市"),
    ]:  # fmt: skip
        assert city in cities[province], (province, city)
    assert "莱芜市" not in cities["山东省"]  # merged into Jinan in 2019
    assert "巢湖市" not in cities["安徽省"]  # county-level since 2011
    for p in PROVINCES:
        if p.kind == "municipality":
            assert p.name in MUNICIPALITIES and not p.cities


def _check(address: Address) -> None:
    assert isinstance(address, Address)
    if address.province is not None:
        assert address.province in {p.name for p in PROVINCES}
    if address.province in MUNICIPALITIES:
        assert address.city == address.province
    if address.postcode is not None:
        assert len(address.postcode) == 6 and address.postcode.isdigit()
    if address.detail is not None:
        assert address.detail == address.detail.strip() and address.detail


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
@example("浙江省" * 30)
@example("(")
@example("浙江省 (")
@example("吉林 吉林 船营区 x")
@example("中国")
@example("中国 ")
def test_any_text_gives_an_address_and_never_raises(raw: str) -> None:
    address = split_cn_address(raw)
    _check(address)
    assert split_cn_address(join_cn_address(address)) == address


REGION_WORDS = [
    "浙江省", "浙江", "北京", "北京市", "上海市", "吉林", "吉林市", "海南", "海南州", "内蒙古",
    "广西壮族自治区", "杭州市", "杭州", "西湖区", "昆山市", "苏州市", "朝阳区", "延边州", "恩施",
    "大理", "市", "区", "县", "路", "东路", "大道", "小区", "市辖区", "其它区", "县 ", "市场",
    "省直辖县级行政区划", "文昌市", "沙市", "中国", "文三路", "188号", "(310012)", "(000000)",
    " 310012", "邮编:", "000000", " ", " ", "，", "-", "　",
]  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(REGION_WORDS), max_size=8))
def test_recomposition_is_idempotent(words: list[str]) -> None:
    """split(join(split(x))) == split(x), also on adversarial region-like text."""
    address = split_cn_address("".join(words))
    _check(address)
    assert split_cn_address(join_cn_address(address)) == address


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(REGION_WORDS), max_size=8))
def test_token_fast_path_agrees_with_the_general_parser(words: list[str]) -> None:
    text = _prepare("".join(words))
    fast = _parse_tokens(text)
    if fast is not None:
        assert fast == _parse_regions(text)


def test_token_fast_path_agrees_on_every_city() -> None:
    for p in PROVINCES:
        for city in (*p.cities, *p.direct):
            for prov in (p.name, p.short):
                text = f"{prov} {city} 西湖区 文三路1号"
                fast = _parse_tokens(text)
                assert fast is not None and fast == _parse_regions(text), text
