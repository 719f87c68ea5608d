"""Real Chinese places and street addresses for the demo shop.

Faker's zh_CN address provider invents cities ("云市") and streets ("宋街") that do not
exist, and picks province, city and district independently, so a generated address would
never pass the address normaliser the importers are built around.  This module keeps a
small table of real province → city → district triples (with their postcodes and the
province codes Shopify uses) and builds street details that look like what buyers type:
road and house number, residential compound, building, unit and room.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True, slots=True)
class Region:
    """One real district, with everything an export needs to spell it.

    ``province_short`` is the form JD and Taobao use for municipalities and in run-on
    addresses (``江苏南京市…``); ``province_code`` is Shopify's code for the province.
    """

    province: str
    province_short: str
    province_code: str
    city: str
    district: str
    postcode: str
    weight: float
    remote: bool = False

    @property
    def municipality(self) -> bool:
        """Beijing, Shanghai, Tianjin and Chongqing: the province is also the city."""
        return self.province == self.city


# (province, short, Shopify code, city, district, postcode, share of buyers, remote)
_REGION_ROWS: tuple[tuple[str, str, str, str, str, str, float, bool], ...] = (
    ("北京市", "北京", "BJ", "北京市", "朝阳区", "100020", 5.0, False),
    ("北京市", "北京", "BJ", "北京市", "海淀区", "100080", 4.0, False),
    ("上海市", "上海", "SH", "上海市", "浦东新区", "200120", 5.0, False),
    ("上海市", "上海", "SH", "上海市", "徐汇区", "200030", 3.0, False),
    ("天津市", "天津", "TJ", "天津市", "南开区", "300100", 2.0, False),
    ("重庆市", "重庆", "CQ", "重庆市", "渝北区", "401120", 2.0, False),
    ("广东省", "广东", "GD", "广州市", "天河区", "510630", 5.0, False),
    ("广东省", "广东", "GD", "广州市", "海珠区", "510220", 2.0, False),
    ("广东省", "广东", "GD", "深圳市", "南山区", "518052", 5.0, False),
    ("广东省", "广东", "GD", "深圳市", "福田区", "518048", 3.0, False),
    ("广东省", "广东", "GD", "佛山市", "南海区", "528200", 2.0, False),
    ("浙江省", "浙江", "ZJ", "杭州市", "西湖区", "310012", 4.0, False),
    ("浙江省", "浙江", "ZJ", "杭州市", "余杭区", "311100", 3.0, False),
    ("浙江省", "浙江", "ZJ", "宁波市", "鄞州区", "315100", 2.0, False),
    ("浙江省", "浙江", "ZJ", "温州市", "鹿城区", "325000", 2.0, False),
    ("江苏省", "江苏", "JS", "南京市", "玄武区", "210018", 3.0, False),
    ("江苏省", "江苏", "JS", "南京市", "鼓楼区", "210008", 2.0, False),
    ("江苏省", "江苏", "JS", "苏州市", "姑苏区", "215000", 3.0, False),
    ("江苏省", "江苏", "JS", "无锡市", "梁溪区", "214000", 2.0, False),
    ("四川省", "四川", "SC", "成都市", "武侯区", "610041", 3.0, False),
    ("四川省", "四川", "SC", "成都市", "锦江区", "610021", 2.0, False),
    ("湖北省", "湖北", "HB", "武汉市", "洪山区", "430070", 3.0, False),
    ("湖南省", "湖南", "HN", "长沙市", "岳麓区", "410006", 2.0, False),
    ("福建省", "福建", "FJ", "厦门市", "思明区", "361000", 2.0, False),
    ("福建省", "福建", "FJ", "福州市", "鼓楼区", "350001", 2.0, False),
    ("山东省", "山东", "SD", "青岛市", "市南区", "266001", 2.0, False),
    ("山东省", "山东", "SD", "济南市", "历下区", "250014", 2.0, False),
    ("河南省", "河南", "HA", "郑州市", "金水区", "450008", 2.0, False),
    ("陕西省", "陕西", "SN", "西安市", "雁塔区", "710061", 2.0, False),
    ("安徽省", "安徽", "AH", "合肥市", "蜀山区", "230031", 2.0, False),
    ("河北省", "河北", "HE", "石家庄市", "长安区", "050011", 1.0, False),
    ("辽宁省", "辽宁", "LN", "沈阳市", "和平区", "110001", 1.0, False),
    ("辽宁省", "辽宁", "LN", "大连市", "中山区", "116001", 1.0, False),
    ("云南省", "云南", "YN", "昆明市", "五华区", "650021", 1.0, False),
    ("江西省", "江西", "JX", "南昌市", "东湖区", "330006", 1.0, False),
    ("广西壮族自治区", "广西", "GX", "南宁市", "青秀区", "530022", 1.0, False),
    ("黑龙江省", "黑龙江", "HL", "哈尔滨市", "南岗区", "150001", 1.0, False),
    ("吉林省", "吉林", "JL", "长春市", "朝阳区", "130012", 1.0, False),
    ("山西省", "山西", "SX", "太原市", "小店区", "030032", 1.0, False),
    ("贵州省", "贵州", "GZ", "贵阳市", "南明区", "550001", 1.0, False),
    ("海南省", "海南", "HI", "海口市", "美兰区", "570203", 1.0, True),
    ("内蒙古自治区", "内蒙古", "NM", "呼和浩特市", "新城区", "010050", 0.5, True),
    ("新疆维吾尔自治区", "新疆", "XJ", "乌鲁木齐市", "天山区", "830002", 0.5, True),
)

REGIONS: tuple[Region, ...] = tuple(Region(*row) for row in _REGION_ROWS)
_REGION_CUM = list(accumulate(r.weight for r in REGIONS))

_ROADS = (
    "中山路", "人民路", "解放路", "建设路", "和平路", "新华路", "胜利路", "长江路", "黄河路",
    "青年路", "文化路", "学府路", "滨江路", "湖滨路", "东风路", "光明路", "幸福路", "朝阳路",
    "北京路", "南京路", "延安路", "淮海路", "文三路", "科技路", "创业路", "迎宾大道", "世纪大道",
    "金桥路", "丽水路", "望江路", "桂花路", "香樟路", "银杏路", "五一路", "八一路", "团结路",
)
_ROAD_SUFFIX = ("", "", "", "东", "西", "南", "北", "中")
_COMPOUND_A = (
    "阳光", "锦绣", "金色", "翠苑", "华府", "绿城", "万科", "碧桂园", "保利", "龙湖", "中海",
    "世纪", "幸福", "和谐", "东方", "滨江", "紫金", "御景", "香榭", "金地", "融创", "名仕",
)
_COMPOUND_B = ("花园", "小区", "家园", "公寓", "苑", "新城", "名都", "华庭", "雅苑", "城")
_TOWER_A = ("国贸", "环球", "金融", "科技", "创新", "世贸", "时代", "财富", "银泰", "中心")
_TOWER_B = ("大厦", "中心", "广场", "科技园", "商务楼")
_LOCKERS = ("菜鸟驿站", "丰巢快递柜", "妈妈驿站", "快递超市")


def pick_region(rng: random.Random) -> Region:
    """A district weighted by how many online buyers live there."""
    return rng.choices(REGIONS, cum_weights=_REGION_CUM)[0]


def neighbour_region(region: Region, rng: random.Random) -> Region:
    """Another district of the same city (for an office), or the same one."""
    same_city = [r for r in REGIONS if r.city == region.city and r.province == region.province]
    return rng.choice(same_city)


@dataclass(frozen=True, slots=True)
class Address:
    """A street address as one buyer typed it on one platform.

    The same home is typed differently on different platforms (``3栋2单元501室`` on one,
    ``3-2-501`` on another), which is exactly the fuzzy evidence identity resolution must
    weigh; ``kind`` says whether this is the buyer's home, an office or a parcel locker.
    """

    region: Region
    road: str
    number: str
    detail: str
    postcode: str
    kind: str = "home"

    @property
    def street(self) -> str:
        """Road, house number and detail run together, as most platforms store it."""
        return f"{self.road}{self.number}{self.detail}"


@dataclass(frozen=True, slots=True)
class Home:
    """A home with the few spellings its occupants use for it.

    Family members share a home; each of them (and each platform account) picks one of
    ``forms`` for the detail part, the first being the tidy canonical one.
    """

    region: Region
    road: str
    number: str
    forms: tuple[str, ...]

    def address(self, form: int = 0) -> Address:
        """The address written with the given detail spelling."""
        return Address(self.region, self.road, self.number, self.forms[form], self.region.postcode)


def _road(rng: random.Random) -> str:
    road = rng.choice(_ROADS)
    suffix = rng.choice(_ROAD_SUFFIX)
    if suffix and road.endswith("路"):
        road = f"{road[:-1]}{suffix}路"
    return road


def make_home(rng: random.Random, region: Region | None = None) -> Home:
    """A residential address in ``region`` (or a random one) with its spelling variants."""
    region = region or pick_region(rng)
    compound = rng.choice(_COMPOUND_A) + rng.choice(_COMPOUND_B)
    building = rng.randint(1, 32)
    unit = rng.randint(1, 6)
    room = rng.randint(1, 33) * 100 + rng.randint(1, 6)
    forms = (
        f"{compound}{building}栋{unit}单元{room}室",
        f"{compound}{building}幢{unit}单元{room}",
        f"{compound}{building}-{unit}-{room}",
        f"{compound}{building}号楼{unit}单元{room}",
        f"{building}栋{unit}单元{room}室",
    )
    return Home(region, _road(rng), f"{rng.randint(1, 999)}号", forms)


def make_office(rng: random.Random, home: Region, company: str | None) -> Address:
    """A workplace in the same city as ``home`` (orders shipped to the office)."""
    region = neighbour_region(home, rng)
    tower = rng.choice(_TOWER_A) + rng.choice(_TOWER_B)
    floor = rng.randint(2, 38)
    detail = f"{tower}{floor}楼"
    if rng.random() < 0.5:
        detail = f"{tower}{rng.choice('ABC')}座{floor}{rng.randint(1, 20):02d}室"
    if company:
        detail = f"{detail}{company}"
    number = f"{rng.randint(1, 999)}号"
    return Address(region, _road(rng), number, detail, region.postcode, "office")


def make_locker(rng: random.Random, home: Address) -> Address:
    """The parcel station near a home: same road, a pick-up point instead of a flat."""
    station = rng.choice(_LOCKERS)
    return Address(home.region, home.road, home.number, station, home.postcode, "locker")
