"""The demo shop's product catalogue: ~300 SKUs with brands, list prices and launch dates.

Products launch every month so that "new-arrival buyers" (who buy a style within two
weeks of its launch, at full price) can be told apart from price-driven buyers; the
mother-and-baby category holds strollers (婴儿推车) so that the "bought a stroller → baby
products" journey exists in the data.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate

CATEGORIES: tuple[str, ...] = (
    "女装", "男装", "童装", "母婴", "美妆", "个护", "食品", "家居", "数码配件", "运动户外",
)
BABY_CATEGORY = "母婴"
STROLLER = "婴儿推车"

_CATEGORY_CODES = {
    "女装": "NZ", "男装": "MZ", "童装": "TZ", "母婴": "MY", "美妆": "MK",
    "个护": "GH", "食品": "SP", "家居": "JJ", "数码配件": "SM", "运动户外": "YD",
}

_COLOURS = ("黑色", "白色", "杏色", "藏青色", "酒红色", "燕麦色", "浅灰色", "雾霾蓝")
_SIZES = ("S", "M", "L", "XL", "XXL")
_KID_HEIGHTS = ("90cm", "100cm", "110cm", "120cm", "130cm", "140cm")

_APPAREL_VARIANTS = (("颜色分类", _COLOURS), ("尺码", _SIZES))
_KIDS_VARIANTS = (("颜色分类", _COLOURS), ("参考身高", _KID_HEIGHTS))
_SPEC = (("规格", ("标准装", "两件装", "家庭装", "礼盒装")),)
_FLAVOUR = (("口味", ("原味", "混合装", "经典款", "礼盒装")),)
_SHADE = (("色号/规格", ("#01", "#02", "#03", "正装", "旅行装")),)
_COLOUR_ONLY = (("颜色分类", _COLOURS),)

Variants = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class _Kind:
    category: str
    noun: str
    low: int
    high: int
    brands: tuple[str, ...]
    variants: Variants
    consumable: bool = False


_WOMEN = ("江南布衣", "太平鸟", "乐町", "伊芙丽", "茵曼", "歌莉娅", "ONLY", "VERO MODA", "欧时力")
_MEN = ("海澜之家", "七匹狼", "劲霸", "GXG", "杰克琼斯", "雅戈尔", "森马", "利郎")
_KIDS = ("巴拉巴拉", "安奈儿", "小猪班纳", "英氏", "戴维贝拉")
_BEAUTY = (
    "完美日记", "花西子", "珀莱雅", "薇诺娜", "自然堂", "百雀羚", "兰蔻", "雅诗兰黛", "欧莱雅",
)
_CARE = ("海飞丝", "舒肤佳", "云南白药", "飞利浦", "力士", "清扬", "多芬", "欧乐B")
_FOOD = ("三只松鼠", "良品铺子", "百草味", "来伊份", "三顿半", "永璞", "张一元", "西域美农")
_HOME = ("罗莱", "富安娜", "水星家纺", "网易严选", "无印良品", "洁丽雅", "梦洁")
_DIGITAL = ("绿联", "倍思", "小米", "安克", "罗技", "漫步者", "公牛")
_SPORT = ("李宁", "安踏", "特步", "361度", "鸿星尔克", "骆驼", "探路者", "Keep")

_KINDS: tuple[_Kind, ...] = (
    _Kind("女装", "连衣裙", 159, 599, _WOMEN, _APPAREL_VARIANTS),
    _Kind("女装", "针织开衫", 129, 399, _WOMEN, _APPAREL_VARIANTS),
    _Kind("女装", "羊毛大衣", 599, 1599, _WOMEN, _APPAREL_VARIANTS),
    _Kind("女装", "牛仔裤", 129, 359, _WOMEN, _APPAREL_VARIANTS),
    _Kind("女装", "半身裙", 99, 299, _WOMEN, _APPAREL_VARIANTS),
    _Kind("女装", "羽绒服", 399, 1299, _WOMEN, _APPAREL_VARIANTS),
    _Kind("女装", "雪纺衬衫", 99, 299, _WOMEN, _APPAREL_VARIANTS),
    _Kind("女装", "T恤", 59, 169, _WOMEN, _APPAREL_VARIANTS),
    _Kind("男装", "商务衬衫", 129, 399, _MEN, _APPAREL_VARIANTS),
    _Kind("男装", "休闲夹克", 259, 799, _MEN, _APPAREL_VARIANTS),
    _Kind("男装", "休闲裤", 159, 399, _MEN, _APPAREL_VARIANTS),
    _Kind("男装", "POLO衫", 99, 299, _MEN, _APPAREL_VARIANTS),
    _Kind("男装", "羽绒服", 399, 1299, _MEN, _APPAREL_VARIANTS),
    _Kind("男装", "连帽卫衣", 129, 329, _MEN, _APPAREL_VARIANTS),
    _Kind("童装", "儿童卫衣", 79, 199, _KIDS, _KIDS_VARIANTS),
    _Kind("童装", "童装套装", 99, 299, _KIDS, _KIDS_VARIANTS),
    _Kind("童装", "儿童羽绒服", 199, 599, _KIDS, _KIDS_VARIANTS),
    _Kind("童装", "婴儿连体衣", 59, 159, _KIDS, _KIDS_VARIANTS),
    _Kind("童装", "儿童运动鞋", 129, 359, _KIDS, _KIDS_VARIANTS),
    _Kind("母婴", STROLLER, 699, 3999, ("好孩子", "小龙哈彼", "宝宝好", "Babycare"), _COLOUR_ONLY),
    _Kind(
        "母婴", "婴幼儿奶粉", 199, 499, ("飞鹤", "君乐宝", "伊利金领冠", "爱他美", "美赞臣"),
        (("段数", ("1段", "2段", "3段")),), consumable=True,
    ),
    _Kind(
        "母婴", "纸尿裤", 89, 229, ("帮宝适", "花王", "好奇", "大王", "尤妮佳"),
        (("尺码", ("NB", "S", "M", "L", "XL")),), consumable=True,
    ),
    _Kind("母婴", "婴儿湿巾", 29, 69, ("全棉时代", "Babycare", "可优比"), _SPEC, consumable=True),
    _Kind("母婴", "宽口径奶瓶", 59, 199, ("贝亲", "布朗博士", "Babycare"), _SPEC),
    _Kind("母婴", "儿童安全座椅", 899, 2999, ("好孩子", "宝得适", "惠尔顿"), _COLOUR_ONLY),
    _Kind("美妆", "丝绒口红", 89, 399, _BEAUTY, _SHADE),
    _Kind("美妆", "持妆粉底液", 149, 599, _BEAUTY, _SHADE),
    _Kind("美妆", "修护精华液", 199, 1299, _BEAUTY, _SHADE),
    _Kind("美妆", "保湿面霜", 129, 999, _BEAUTY, _SHADE),
    _Kind("美妆", "眼影盘", 89, 399, _BEAUTY, _SHADE),
    _Kind("美妆", "补水面膜", 79, 199, _BEAUTY, _SHADE, consumable=True),
    _Kind("美妆", "清爽防晒霜", 79, 299, _BEAUTY, _SHADE),
    _Kind("个护", "去屑洗发水", 39, 129, _CARE, _SPEC, consumable=True),
    _Kind("个护", "香氛沐浴露", 39, 119, _CARE, _SPEC, consumable=True),
    _Kind("个护", "美白牙膏", 19, 69, _CARE, _SPEC, consumable=True),
    _Kind("个护", "声波电动牙刷", 149, 699, _CARE, _COLOUR_ONLY),
    _Kind("个护", "保湿身体乳", 49, 159, _CARE, _SPEC, consumable=True),
    _Kind("食品", "每日坚果", 69, 199, _FOOD, _FLAVOUR, consumable=True),
    _Kind("食品", "牛肉干", 39, 129, _FOOD, _FLAVOUR, consumable=True),
    _Kind("食品", "冻干咖啡", 59, 199, _FOOD, _FLAVOUR, consumable=True),
    _Kind("食品", "明前龙井茶", 99, 599, _FOOD, _FLAVOUR, consumable=True),
    _Kind("食品", "零食大礼包", 59, 199, _FOOD, _FLAVOUR, consumable=True),
    _Kind("食品", "五常大米", 59, 169, _FOOD, _FLAVOUR, consumable=True),
    _Kind("家居", "纯棉四件套", 199, 899, _HOME, _COLOUR_ONLY),
    _Kind("家居", "乳胶枕", 129, 499, _HOME, _SPEC),
    _Kind("家居", "收纳箱", 39, 159, _HOME, _SPEC),
    _Kind("家居", "香薰蜡烛", 49, 199, _HOME, _SPEC, consumable=True),
    _Kind("家居", "纯棉毛巾", 29, 89, _HOME, _SPEC, consumable=True),
    _Kind("家居", "蚕丝被", 399, 1999, _HOME, _SPEC),
    _Kind("数码配件", "充电宝", 99, 299, _DIGITAL, _COLOUR_ONLY),
    _Kind("数码配件", "蓝牙耳机", 129, 899, _DIGITAL, _COLOUR_ONLY),
    _Kind("数码配件", "快充数据线", 19, 69, _DIGITAL, _SPEC),
    _Kind("数码配件", "手机壳", 29, 99, _DIGITAL, _COLOUR_ONLY),
    _Kind("数码配件", "氮化镓充电器", 79, 259, _DIGITAL, _COLOUR_ONLY),
    _Kind("数码配件", "无线鼠标", 59, 299, _DIGITAL, _COLOUR_ONLY),
    _Kind("运动户外", "跑步鞋", 299, 899, _SPORT, _APPAREL_VARIANTS),
    _Kind("运动户外", "瑜伽垫", 59, 199, _SPORT, _COLOUR_ONLY),
    _Kind("运动户外", "冲锋衣", 399, 1599, _SPORT, _APPAREL_VARIANTS),
    _Kind("运动户外", "速干T恤", 69, 199, _SPORT, _APPAREL_VARIANTS),
    _Kind("运动户外", "登山包", 159, 599, _SPORT, _COLOUR_ONLY),
    _Kind("运动户外", "跳绳", 29, 99, _SPORT, _SPEC),
)

_APPAREL = frozenset({"女装", "男装", "童装", "运动户外"})
_STYLE_WORDS = ("法式", "简约", "宽松", "修身", "复古", "百搭", "高级感", "小香风", "休闲", "通勤")
_QUALITY_WORDS = ("正品", "官方旗舰", "新品", "热销", "升级款", "经典款", "大容量", "便携")
_SEASONS = {1: "冬季", 2: "春季", 3: "春季", 4: "春季", 5: "夏季", 6: "夏季", 7: "夏季",
            8: "秋季", 9: "秋季", 10: "秋季", 11: "冬季", 12: "冬季"}

# How often new styles of a category launch, relative to each other.
_LAUNCH_SHARE = {
    "女装": 6.0, "男装": 3.0, "童装": 2.0, "母婴": 1.5, "美妆": 3.0,
    "个护": 1.5, "食品": 2.0, "家居": 1.5, "数码配件": 1.5, "运动户外": 2.0,
}


@dataclass(frozen=True, slots=True)
class Product:
    """One SKU of the shop, with the IDs the marketplaces gave it."""

    sku: str
    name: str
    category: str
    kind: str
    brand: str
    list_price: Decimal
    launch_date: date
    variants: Variants
    consumable: bool
    jd_item_id: str
    pdd_goods_id: str


def _price(rng: random.Random, low: int, high: int) -> Decimal:
    """A shelf price such as 199.00, 1299.00 or 39.90: prices end in 9."""
    raw = rng.uniform(low, high)
    if raw < 60 and rng.random() < 0.5:
        return Decimal(f"{int(raw)}.90")
    return Decimal(f"{max(int(raw / 10) * 10 + 9, 9)}.00")


def _title(kind: _Kind, brand: str, launch: date, rng: random.Random) -> str:
    if kind.category in _APPAREL:
        return (
            f"{brand} {launch.year}{_SEASONS[launch.month]}新款 "
            f"{rng.choice(_STYLE_WORDS)}{kind.noun}"
        )
    return f"{brand} {rng.choice(_QUALITY_WORDS)}{kind.noun}"


class Catalog:
    """The product list plus fast look-ups by category, launch date and price.

    ``available(category, day)`` is asked for every order line, so products are kept per
    category in launch order with running weight sums: a pick is one bisect.
    """

    def __init__(self, products: list[Product]) -> None:
        self.products: tuple[Product, ...] = tuple(products)
        self.by_sku: dict[str, Product] = {p.sku: p for p in products}
        self._by_cat: dict[str, list[Product]] = {c: [] for c in CATEGORIES}
        for p in sorted(products, key=lambda p: (p.launch_date, p.sku)):
            if p.kind != STROLLER:
                self._by_cat[p.category].append(p)
        self._launch: dict[str, list[date]] = {
            c: [p.launch_date for p in ps] for c, ps in self._by_cat.items()
        }
        self._cum: dict[str, dict[str, list[float]]] = {}
        for c, ps in self._by_cat.items():
            self._cum[c] = {
                "cheap": list(accumulate(1.0 / float(p.list_price) for p in ps)),
                "even": list(accumulate(1.0 for _ in ps)),
                "premium": list(accumulate(float(p.list_price) ** 2 for p in ps)),
            }
        self.strollers: list[Product] = sorted(
            (p for p in products if p.kind == STROLLER), key=lambda p: p.launch_date
        )
        self._all_by_launch = sorted(products, key=lambda p: (p.launch_date, p.sku))
        self._all_launch = [p.launch_date for p in self._all_by_launch]

    def pick(self, category: str, day: date, taste: str, rng: random.Random) -> Product | None:
        """A product of ``category`` on sale on ``day``, weighted by price ``taste``.

        ``taste`` is ``cheap`` (price-sensitive buyers), ``premium`` (high-end buyers) or
        ``even``.  Strollers are left out: only mother-and-baby journeys buy them.
        """
        n = bisect_right(self._launch[category], day)
        if n == 0:
            return None
        cum = self._cum[category][taste]
        x = rng.random() * cum[n - 1]
        return self._by_cat[category][min(bisect_right(cum, x, 0, n), n - 1)]

    def launched_between(self, first: date, last: date) -> list[Product]:
        """Products (strollers included) whose launch date is in ``[first, last]``."""
        lo = bisect_left(self._all_launch, first)
        hi = bisect_right(self._all_launch, last)
        return self._all_by_launch[lo:hi]

    def stroller(self, day: date, rng: random.Random) -> Product:
        """A stroller on sale on ``day`` (the oldest one if none launched yet)."""
        on_sale = [p for p in self.strollers if p.launch_date <= day] or self.strollers[:1]
        return rng.choice(on_sale)


def build_catalog(
    rng: random.Random, history_start: date, today: date, size: int = 300
) -> Catalog:
    """About ``size`` SKUs: a standing range from before the history, then monthly launches.

    Every kind of product exists before the history starts (so any order can be filled);
    the rest launch on random days of every month up to ``today``, most of them apparel.
    """
    legacy_start = history_start - timedelta(days=700)
    plan: list[tuple[_Kind, date]] = []
    for kind in _KINDS:
        plan.append((kind, legacy_start + timedelta(days=rng.randrange(690))))
    legacy_extra = max(size // 3 - len(plan), 0)
    for _ in range(legacy_extra):
        plan.append((rng.choice(_KINDS), legacy_start + timedelta(days=rng.randrange(690))))
    monthly = size - len(plan)
    months: list[date] = []
    month = date(history_start.year, history_start.month, 1)
    while month <= today:
        months.append(month)
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    shares = [_LAUNCH_SHARE[k.category] / sum(1 for q in _KINDS if q.category == k.category)
              for k in _KINDS]
    for i in range(monthly):
        day = months[i * len(months) // monthly] + timedelta(days=rng.randrange(28))
        if day >= today:
            day = today - timedelta(days=1 + rng.randrange(10))
        plan.append((rng.choices(_KINDS, weights=shares)[0], max(day, history_start)))
    products: list[Product] = []
    for seq, (kind, launch) in enumerate(sorted(plan, key=lambda kd: kd[1]), start=1):
        brand = rng.choice(kind.brands)
        sku = f"{_CATEGORY_CODES[kind.category]}{launch:%y%m}{seq:03d}"
        products.append(
            Product(
                sku=sku,
                name=_title(kind, brand, launch, rng),
                category=kind.category,
                kind=kind.noun,
                brand=brand,
                list_price=_price(rng, kind.low, kind.high),
                launch_date=launch,
                variants=kind.variants,
                consumable=kind.consumable,
                jd_item_id=str(100_000_000_000 + rng.randrange(10**11)),
                pdd_goods_id=str(500_000_000_000 + rng.randrange(10**11)),
            )
        )
    return Catalog(products)

