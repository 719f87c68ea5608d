"""Reference table of China's provincial- and prefecture-level divisions.

Shop exports name regions in many spellings: Taobao writes ``浙江省``, JD ``浙江``,
Shopify ``ZJ`` or ``Zhejiang``, and old exports keep names that were renamed since
(``襄樊市``, ``毕节地区``). Address splitting and province normalisation need one
canonical spelling per division so that customers in the same place group together,
so this module lists them once, compactly, and derives the lookup tables from that.

Data as of 2024 (GB/T 2260 with the changes up to then): 34 provincial-level divisions
and 333 prefecture-level divisions (293 cities, 30 autonomous prefectures, 7 地区,
3 盟), plus the county-level units that report directly to their province (Taobao and
JD show those at the city level too). Districts and counties are deliberately not
listed: they are recognised by their suffix, which keeps this file small and avoids
a table that goes stale with every county-level reform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ProvinceKind = Literal["province", "municipality", "autonomous_region", "sar"]


@dataclass(frozen=True, slots=True)
class Province:
    """One provincial-level division and the names it goes by."""

    gb: str  # two-digit GB/T 2260 code, '33'
    iso: str  # ISO 3166-2:CN suffix, also Shopify's province code, 'ZJ'
    name: str  # canonical full name, '浙江省'
    short: str  # the name without its suffix, '浙江'
    kind: ProvinceKind
    latin: tuple[str, ...]  # pinyin and English names, lower case, without spaces
    aliases: tuple[str, ...]  # other Chinese spellings (traditional, wrong suffix)
    cities: tuple[str, ...]  # prefecture-level divisions, canonical full names
    direct: tuple[str, ...]  # county-level units directly under the province


def _c(text: str) -> tuple[str, ...]:
    """Split a space-separated list; keeps the table below one line per province."""
    return tuple(text.split())


# fmt: off
PROVINCES: Final[tuple[Province, ...]] = (
    Province("11", "BJ", "北京市", "北京", "municipality", ("beijing", "peking"), (), (), ()),
    Province("12", "TJ", "天津市", "天津", "municipality", ("tianjin",), (), (), ()),
    Province("13", "HE", "河北省", "河北", "province", ("hebei",), (), _c(
        "石家庄市 唐山市 秦皇岛市 邯郸市 邢台市 保定市 张家口市 承德市 沧州市 廊坊市 衡水市"), ()),
    Province("14", "SX", "山西省", "山西", "province", ("shanxi",), (), _c(
        "太原市 大同市 阳泉市 长治市 晋城市 朔州市 晋中市 运城市 忻州市 临汾市 吕梁市"), ()),
    Province("15", "NM", "内蒙古自治区", "内蒙古", "autonomous_region",
             ("neimenggu", "neimongol", "innermongolia"),
             ("内蒙", "內蒙古", "內蒙古自治區", "内蒙古省"), _c(
        "呼和浩特市 包头市 乌海市 赤峰市 通辽市 鄂尔多斯市 呼伦贝尔市 巴彦淖尔市 乌兰察布市"
        " 兴安盟 锡林郭勒盟 阿拉善盟"), ()),
    Province("21", "LN", "辽宁省", "辽宁", "province", ("liaoning",), ("遼寧", "遼寧省"), _c(
        "沈阳市 大连市 鞍山市 抚顺市 本溪市 丹东市 锦州市 营口市 阜新市 辽阳市 盘锦市 铁岭市"
        " 朝阳市 葫芦岛市"), ()),
    Province("22", "JL", "吉林省", "吉林", "province", ("jilin",), (), _c(
        "长春市 吉林市 四平市 辽源市 通化市 白山市 松原市 白城市 延边朝鲜族自治州"), ()),
    Province("23", "HL", "黑龙江省", "黑龙江", "province", ("heilongjiang",),
             ("黑龍江", "黑龍江省"), _c(
        "哈尔滨市 齐齐哈尔市 鸡西市 鹤岗市 双鸭山市 大庆市 伊春市 佳木斯市 七台河市 牡丹江市"
        " 黑河市 绥化市 大兴安岭地区"), ()),
    Province("31", "SH", "上海市", "上海", "municipality", ("shanghai",), (), (), ()),
    Province("32", "JS", "江苏省", "江苏", "province", ("jiangsu",), ("江蘇", "江蘇省"), _c(
        "南京市 无锡市 徐州市 常州市 苏州市 南通市 连云港市 淮安市 盐城市 扬州市 镇江市 泰州市"
        " 宿迁市"), ()),
    Province("33", "ZJ", "浙江省", "浙江", "province", ("zhejiang",), (), _c(
        "杭州市 宁波市 温州市 嘉兴市 湖州市 绍兴市 金华市 衢州市 舟山市 台州市 丽水市"), ()),
    Province("34", "AH", "安徽省", "安徽", "province", ("anhui",), (), _c(
        "合肥市 芜湖市 蚌埠市 淮南市 马鞍山市 淮北市 铜陵市 安庆市 黄山市 滁州市 阜阳市 宿州市"
        " 六安市 亳州市 池州市 宣城市"), ()),
    Province("35", "FJ", "福建省", "福建", "province", ("fujian",), (), _c(
        "福州市 厦门市 莆田市 三明市 泉州市 漳州市 南平市 龙岩市 宁德市"), ()),
    Province("36", "JX", "江西省", "江西", "province", ("jiangxi",), (), _c(
        "南昌市 景德镇市 萍乡市 九江市 新余市 鹰潭市 赣州市 吉安市 宜春市 抚州市 上饶市"), ()),
    Province("37", "SD", "山东省", "山东", "province", ("shandong",), ("山東", "山東省"), _c(
        "济南市 青岛市 淄博市 枣庄市 东营市 烟台市 潍坊市 济宁市 泰安市 威海市 日照市 临沂市"
        " 德州市 聊城市 滨州市 菏泽市"), ()),
    Province("41", "HA", "河南省", "河南", "province", ("henan",), (), _c(
        "郑州市 开封市 洛阳市 平顶山市 安阳市 鹤壁市 新乡市 焦作市 濮阳市 许昌市 漯河市"
        " 三门峡市 南阳市 商丘市 信阳市 周口市 驻马店市"), _c("济源市")),
    Province("42", "HB", "湖北省", "湖北", "province", ("hubei",), (), _c(
        "武汉市 黄石市 十堰市 宜昌市 襄阳市 鄂州市 荆门市 孝感市 荆州市 黄冈市 咸宁市 随州市"
        " 恩施土家族苗族自治州"), _c("仙桃市 潜江市 天门市 神农架林区")),
    Province("43", "HN", "湖南省", "湖南", "province", ("hunan",), (), _c(
        "长沙市 株洲市 湘潭市 衡阳市 邵阳市 岳阳市 常德市 张家界市 益阳市 郴州市 永州市"
        " 怀化市 娄底市 湘西土家族苗族自治州"), ()),
    Province("44", "GD", "广东省", "广东", "province", ("guangdong",),
             ("廣東", "廣東省"), _c(
        "广州市 韶关市 深圳市 珠海市 汕头市 佛山市 江门市 湛江市 茂名市 肇庆市 惠州市 梅州市"
        " 汕尾市 河源市 阳江市 清远市 东莞市 中山市 潮州市 揭阳市 云浮市"), ()),
    Province("45", "GX", "广西壮族自治区", "广西", "autonomous_region", ("guangxi",),
             ("广西自治区", "广西省", "廣西", "廣西壯族自治區"), _c(
        "南宁市 柳州市 桂林市 梧州市 北海市 防城港市 钦州市 贵港市 玉林市 百色市 贺州市"
        " 河池市 来宾市 崇左市"), ()),
    Province("46", "HI", "海南省", "海南", "province", ("hainan",), (), _c(
        "海口市 三亚市 三沙市 儋州市"), _c(
        "五指山市 文昌市 琼海市 万宁市 东方市 定安县 屯昌县 澄迈县 临高县 白沙黎族自治县"
        " 昌江黎族自治县 乐东黎族自治县 陵水黎族自治县 保亭黎族苗族自治县 琼中黎族苗族自治县")),
    Province("50", "CQ", "重庆市", "重庆", "municipality", ("chongqing", "chungking"),
             ("重慶", "重慶市"), (), ()),
    Province("51", "SC", "四川省", "四川", "province", ("sichuan", "szechuan"), (), _c(
        "成都市 自贡市 攀枝花市 泸州市 德阳市 绵阳市 广元市 遂宁市 内江市 乐山市 南充市 眉山市"
        " 宜宾市 广安市 达州市 雅安市 巴中市 资阳市 阿坝藏族羌族自治州 甘孜藏族自治州"
        " 凉山彝族自治州"), ()),
    Province("52", "GZ", "贵州省", "贵州", "province", ("guizhou",), ("貴州", "貴州省"), _c(
        "贵阳市 六盘水市 遵义市 安顺市 毕节市 铜仁市 黔西南布依族苗族自治州"
        " 黔东南苗族侗族自治州 黔南布依族苗族自治州"), ()),
    Province("53", "YN", "云南省", "云南", "province", ("yunnan",), ("雲南", "雲南省"), _c(
        "昆明市 曲靖市 玉溪市 保山市 昭通市 丽江市 普洱市 临沧市 楚雄彝族自治州"
        " 红河哈尼族彝族自治州 文山壮族苗族自治州 西双版纳傣族自治州 大理白族自治州"
        " 德宏傣族景颇族自治州 怒江傈僳族自治州 迪庆藏族自治州"), ()),
    Province("54", "XZ", "西藏自治区", "西藏", "autonomous_region", ("xizang", "tibet"),
             ("西藏自治區", "西藏省"), _c(
        "拉萨市 日喀则市 昌都市 林芝市 山南市 那曲市 阿里地区"), ()),
    Province("61", "SN", "陕西省", "陕西", "province", ("shaanxi",), ("陝西", "陝西省"), _c(
        "西安市 铜川市 宝鸡市 咸阳市 渭南市 延安市 汉中市 榆林市 安康市 商洛市"), ()),
    Province("62", "GS", "甘肃省", "甘肃", "province", ("gansu",), ("甘肅", "甘肅省"), _c(
        "兰州市 嘉峪关市 金昌市 白银市 天水市 武威市 张掖市 平凉市 酒泉市 庆阳市 定西市 陇南市"
        " 临夏回族自治州 甘南藏族自治州"), ()),
    Province("63", "QH", "青海省", "青海", "province", ("qinghai",), (), _c(
        "西宁市 海东市 海北藏族自治州 黄南藏族自治州 海南藏族自治州 果洛藏族自治州"
        " 玉树藏族自治州 海西蒙古族藏族自治州"), ()),
    Province("64", "NX", "宁夏回族自治区", "宁夏", "autonomous_region", ("ningxia",),
             ("宁夏自治区", "宁夏省", "寧夏", "寧夏回族自治區"), _c(
        "银川市 石嘴山市 吴忠市 固原市 中卫市"), ()),
    Province("65", "XJ", "新疆维吾尔自治区", "新疆", "autonomous_region", ("xinjiang",),
             ("新疆自治区", "新疆省", "新疆維吾爾自治區"), _c(
        "乌鲁木齐市 克拉玛依市 吐鲁番市 哈密市 昌吉回族自治州 博尔塔拉蒙古自治州"
        " 巴音郭楞蒙古自治州 阿克苏地区 克孜勒苏柯尔克孜自治州 喀什地区 和田地区"
        " 伊犁哈萨克自治州 塔城地区 阿勒泰地区"), _c(
        "石河子市 阿拉尔市 图木舒克市 五家渠市 北屯市 铁门关市 双河市 可克达拉市 昆玉市"
        " 胡杨河市 新星市 白杨市")),
    Province("71", "TW", "台湾省", "台湾", "province", ("taiwan",),
             ("臺灣", "台灣", "臺灣省", "台灣省"), _c(
        "台北市 新北市 桃园市 台中市 台南市 高雄市 基隆市 新竹市 嘉义市 新竹县 苗栗县 彰化县"
        " 南投县 云林县 嘉义县 屏东县 宜兰县 花莲县 台东县 澎湖县 金门县 连江县"), ()),
    Province("81", "HK", "香港特别行政区", "香港", "sar", ("hongkong", "xianggang", "hksar"),
             ("香港特区", "香港特區", "香港特別行政區"), _c("香港岛 九龙 新界"), ()),
    Province("82", "MO", "澳门特别行政区", "澳门", "sar", ("macau", "macao", "aomen"),
             ("澳門", "澳门特区", "澳門特區", "澳門特別行政區"), _c("澳门半岛 氹仔岛 路环岛"), ()),
)
# fmt: on

#: Province codes that are not the ISO 3166-2 ones: Shopify has long used 'YZ' for
#: Xizang, and some exports write the two-digit GB code or its six-digit form.
EXTRA_CODES: Final[dict[str, str]] = {"YZ": "XZ"}

#: Short names of autonomous prefectures. They cannot be derived by stripping a
#: suffix (the ethnic part sits in the middle), and writers use '恩施州' or just '恩施'.
#: '海南' alone is deliberately absent: it means the province.
PREFECTURE_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "延边朝鲜族自治州": ("延边州", "延边"),
    "恩施土家族苗族自治州": ("恩施州", "恩施", "恩施自治州"),
    "湘西土家族苗族自治州": ("湘西州", "湘西", "湘西自治州"),
    "阿坝藏族羌族自治州": ("阿坝州", "阿坝"),
    "甘孜藏族自治州": ("甘孜州", "甘孜"),
    "凉山彝族自治州": ("凉山州", "凉山"),
    "黔西南布依族苗族自治州": ("黔西南州", "黔西南"),
    "黔东南苗族侗族自治州": ("黔东南州", "黔东南"),
    "黔南布依族苗族自治州": ("黔南州", "黔南"),
    "楚雄彝族自治州": ("楚雄州", "楚雄"),
    "红河哈尼族彝族自治州": ("红河州", "红河"),
    "文山壮族苗族自治州": ("文山州", "文山"),
    "西双版纳傣族自治州": ("西双版纳州", "西双版纳", "版纳"),
    "大理白族自治州": ("大理州", "大理"),
    "德宏傣族景颇族自治州": ("德宏州", "德宏"),
    "怒江傈僳族自治州": ("怒江州", "怒江"),
    "迪庆藏族自治州": ("迪庆州", "迪庆"),
    "临夏回族自治州": ("临夏州", "临夏"),
    "甘南藏族自治州": ("甘南州", "甘南"),
    "海北藏族自治州": ("海北州", "海北"),
    "黄南藏族自治州": ("黄南州", "黄南"),
    "海南藏族自治州": ("海南州",),
    "果洛藏族自治州": ("果洛州", "果洛"),
    "玉树藏族自治州": ("玉树州", "玉树"),
    "海西蒙古族藏族自治州": ("海西州", "海西"),
    "昌吉回族自治州": ("昌吉州", "昌吉"),
    "博尔塔拉蒙古自治州": ("博尔塔拉州", "博州", "博尔塔拉"),
    "巴音郭楞蒙古自治州": ("巴音郭楞州", "巴州", "巴音郭楞"),
    "克孜勒苏柯尔克孜自治州": ("克孜勒苏州", "克州", "克孜勒苏"),
    "伊犁哈萨克自治州": ("伊犁州", "伊犁"),
}

#: Other spellings of cities: former names of renamed or merged prefectures (old
#: addresses still carry them), traditional characters, and HK/Macau variants.
CITY_ALIASES: Final[dict[str, str]] = {
    "襄樊市": "襄阳市",
    "思茅市": "普洱市",
    "莱芜市": "济南市",  # merged into Jinan in 2019
    "毕节地区": "毕节市",
    "铜仁地区": "铜仁市",
    "日喀则地区": "日喀则市",
    "昌都地区": "昌都市",
    "林芝地区": "林芝市",
    "山南地区": "山南市",
    "那曲地区": "那曲市",
    "吐鲁番地区": "吐鲁番市",
    "哈密地区": "哈密市",
    "海东地区": "海东市",
    "港岛": "香港岛",
    "香港島": "香港岛",
    "九龍": "九龙",
    "澳門半島": "澳门半岛",
    "氹仔": "氹仔岛",
    "路环": "路环岛",
    "路環": "路环岛",
    "臺北市": "台北市",
    "臺中市": "台中市",
    "臺南市": "台南市",
    "桃園市": "桃园市",
    "嘉義市": "嘉义市",
    "新竹縣": "新竹县",
    "苗栗縣": "苗栗县",
    "彰化縣": "彰化县",
    "南投縣": "南投县",
    "雲林縣": "云林县",
    "嘉義縣": "嘉义县",
    "屏東縣": "屏东县",
    "宜蘭縣": "宜兰县",
    "花蓮縣": "花莲县",
    "臺東縣": "台东县",
    "台東縣": "台东县",
    "澎湖縣": "澎湖县",
    "金門縣": "金门县",
    "連江縣": "连江县",
}

#: Tokens some exports put at the city or district level that name no place:
#: national-statistics placeholders for municipalities and directly administered
#: counties, and Taobao's 'other district'.
PLACEHOLDERS: Final[tuple[str, ...]] = (
    "省直辖县级行政区划",
    "自治区直辖县级行政区划",
    "省直辖县级行政单位",
    "自治区直辖县级行政单位",
    "省直辖行政单位",
    "直辖县级",
    "市辖区",
    "其它区",
    "其他区",
    "其它",
    "其他",
)

MUNICIPALITIES: Final[frozenset[str]] = frozenset(
    p.name for p in PROVINCES if p.kind == "municipality"
)
