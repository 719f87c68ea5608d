"""Pure, seeded simulation of an online shop's customers, orders and behaviour events.

Nothing here touches files or the clock: :class:`ShopSimulator` turns a seed, a customer
count and the last day of the history into a stream of :class:`PersonHistory` objects
(one person with every order they placed on every channel and their click-stream).  The
writers format those plain dataclasses as the marketplaces' own export files.

The point of the data is realism for later features, so each person carries a hidden
truth (buyer type, purchase cycle, channels, household) and leaves only the traces a real
shop would see: different IDs per platform, masked phones, addresses typed differently,
shared parcel-locker phones, families at one address, orders clustered in campaigns.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import accumulate
from math import gcd
from typing import TypeVar

from faker import Faker

from shopcrm.demo.catalog import (
    BABY_CATEGORY,
    CATEGORIES,
    STROLLER,
    Catalog,
    Product,
    build_catalog,
)
from shopcrm.demo.geo import Address, Home, make_home, make_locker, make_office
from shopcrm.demo.promotions import (
    CAMPAIGNS,
    DOUBLE_ELEVEN,
    FLASH_SALE,
    MID_YEAR,
    NEW_YEAR_FAIR,
    QUEENS_DAY,
    Promotion,
    PromotionCalendar,
    pick_time,
)

_K = TypeVar("_K")

CENT = Decimal("0.01")
_DIME = Decimal("0.1")
ZERO = Decimal("0.00")


class Channel(StrEnum):
    """Where an order was placed (the ground-truth ``source`` of its row)."""

    TAOBAO = "taobao"
    JD = "jd"
    PDD = "pdd"
    SHOPIFY = "shopify"


class BuyerType(StrEnum):
    """A person's main buying motive, as the seeds' tag examples describe them."""

    REGULAR = "regular"
    PRICE_SENSITIVE = "price_sensitive"
    NEW_ARRIVAL = "new_arrival"
    CAMPAIGN = "campaign"
    HIGH_END = "high_end"


class Cycle(StrEnum):
    """How often a person comes back to buy."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    SEASONAL = "seasonal"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"
    ONE_OFF = "one_off"


class OrderState(StrEnum):
    """How far an order got by the end of the history (refunds are kept apart)."""

    UNPAID = "unpaid"
    CANCELLED = "cancelled"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"


class Refund(StrEnum):
    """After-sales state: a refund requested but not done yet, or done fully or partly."""

    NONE = "none"
    REQUESTED = "requested"
    FULL = "full"
    PARTIAL = "partial"


# Shares of buyer types; the cycle is drawn per type (price hunters come back often,
# campaign buyers come back when a campaign does).
BUYER_TYPE_SHARES: dict[BuyerType, float] = {
    BuyerType.REGULAR: 0.40,
    BuyerType.PRICE_SENSITIVE: 0.22,
    BuyerType.NEW_ARRIVAL: 0.13,
    BuyerType.CAMPAIGN: 0.17,
    BuyerType.HIGH_END: 0.08,
}
_CYCLES_BY_TYPE: dict[BuyerType, dict[Cycle, float]] = {
    BuyerType.REGULAR: {
        Cycle.WEEKLY: 0.04, Cycle.MONTHLY: 0.22, Cycle.SEASONAL: 0.28,
        Cycle.HALF_YEARLY: 0.18, Cycle.YEARLY: 0.10, Cycle.ONE_OFF: 0.18,
    },
    BuyerType.PRICE_SENSITIVE: {
        Cycle.WEEKLY: 0.05, Cycle.MONTHLY: 0.30, Cycle.SEASONAL: 0.30,
        Cycle.HALF_YEARLY: 0.12, Cycle.YEARLY: 0.05, Cycle.ONE_OFF: 0.18,
    },
    BuyerType.NEW_ARRIVAL: {
        Cycle.MONTHLY: 0.40, Cycle.SEASONAL: 0.35, Cycle.HALF_YEARLY: 0.15, Cycle.ONE_OFF: 0.10,
    },
    BuyerType.CAMPAIGN: {
        Cycle.SEASONAL: 0.30, Cycle.HALF_YEARLY: 0.35, Cycle.YEARLY: 0.20, Cycle.ONE_OFF: 0.15,
    },
    BuyerType.HIGH_END: {
        Cycle.SEASONAL: 0.25, Cycle.HALF_YEARLY: 0.40, Cycle.YEARLY: 0.25, Cycle.ONE_OFF: 0.10,
    },
}
# Which campaigns a campaign buyer of each cycle waits for.
_CAMPAIGNS_BY_CYCLE: dict[Cycle, frozenset[str]] = {
    Cycle.SEASONAL: frozenset(CAMPAIGNS),
    Cycle.HALF_YEARLY: frozenset({MID_YEAR, DOUBLE_ELEVEN}),
    Cycle.YEARLY: frozenset({DOUBLE_ELEVEN}),
    Cycle.ONE_OFF: frozenset(CAMPAIGNS),
}
_INTERVAL_DAYS: dict[Cycle, float] = {
    Cycle.WEEKLY: 7.0, Cycle.MONTHLY: 30.0, Cycle.SEASONAL: 91.0,
    Cycle.HALF_YEARLY: 182.0, Cycle.YEARLY: 365.0, Cycle.ONE_OFF: 10_000.0,
}
# Mean days a person keeps buying before they drift away (if they ever do).
_SPAN_DAYS: dict[Cycle, float] = {
    Cycle.WEEKLY: 240.0, Cycle.MONTHLY: 360.0, Cycle.SEASONAL: 480.0,
    Cycle.HALF_YEARLY: 600.0, Cycle.YEARLY: 900.0, Cycle.ONE_OFF: 0.0,
}
_LOYAL_SHARE = 0.35

# Shares of persons buying on one, two or three channels.
CHANNEL_COUNT_SHARES: dict[int, float] = {1: 0.55, 2: 0.35, 3: 0.10}
_CHANNEL_WEIGHTS: dict[BuyerType, dict[Channel, float]] = {
    BuyerType.REGULAR: {Channel.TAOBAO: 0.40, Channel.JD: 0.25, Channel.PDD: 0.20,
                        Channel.SHOPIFY: 0.15},
    BuyerType.PRICE_SENSITIVE: {Channel.TAOBAO: 0.30, Channel.JD: 0.10, Channel.PDD: 0.50,
                                Channel.SHOPIFY: 0.10},
    BuyerType.NEW_ARRIVAL: {Channel.TAOBAO: 0.40, Channel.JD: 0.10, Channel.PDD: 0.05,
                            Channel.SHOPIFY: 0.45},
    BuyerType.CAMPAIGN: {Channel.TAOBAO: 0.45, Channel.JD: 0.30, Channel.PDD: 0.10,
                         Channel.SHOPIFY: 0.15},
    BuyerType.HIGH_END: {Channel.TAOBAO: 0.35, Channel.JD: 0.30, Channel.PDD: 0.02,
                         Channel.SHOPIFY: 0.33},
}

_FEMALE_TASTE = {"女装": 26, "美妆": 18, "个护": 12, "食品": 12, "家居": 10, "童装": 5,
                 "母婴": 3, "数码配件": 5, "运动户外": 5, "男装": 4}
_MALE_TASTE = {"男装": 25, "数码配件": 20, "运动户外": 15, "食品": 14, "个护": 10, "家居": 6,
               "美妆": 4, "女装": 3, "童装": 3, "母婴": 1}
_BABY_TASTE = {"母婴": 55, "童装": 20, "食品": 6, "个护": 5, "家居": 5, "女装": 4, "美妆": 2,
               "男装": 1, "数码配件": 1, "运动户外": 1}

_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177",
    "178", "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "198",
    "199",
)
_MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "gmail.com", "hotmail.com",
                 "outlook.com", "foxmail.com", "icloud.com")
_MAIL_CUM = list(accumulate((35, 25, 10, 5, 8, 5, 5, 4, 3)))
_NICK_SUFFIXES = ("爱购物", "的小窝", "宝贝", "小仙女", "酱", "2016", "大人", "爱吃鱼", "同学")

_BUYER_MESSAGES = (
    "请尽快发货，谢谢",
    "发顺丰",
    "不要放快递柜，送货上门",
    "送人的，不要放价格单",
    "颜色要和图片一样",
    "麻烦检查一下再发货,谢谢",
    '要"大号"的，别发错了',
    "周末不在家\n请放门卫室",
    "急用，今天能发吗？",
    "备注：送礼，帮忙包装一下😊",
)
_SELLER_MEMOS = ("已备注加急", "赠品：小样×2", "老客户，优先发货", "改地址已处理", "补发赠品")
_JD_MEMOS = ("请工作日送货", "送货前电话联系", "放前台即可")

_CARRIERS = {
    "中通快递": ("7", 14), "圆通速递": ("YT", 13), "韵达快递": ("43", 13),
    "申通快递": ("77", 13), "极兔速递": ("JT", 13), "顺丰速运": ("SF", 13),
    "邮政快递包裹": ("98", 11), "京东物流": ("JD", 13),
}
_MARKET_CARRIERS = ("中通快递", "圆通速递", "韵达快递", "申通快递", "极兔速递", "顺丰速运",
                    "邮政快递包裹")

_QUERY_WORDS = ("新款", "正品", "女", "男", "夏季", "冬季", "显瘦", "平价", "旗舰店", "包邮")


def _pick(rng: random.Random, weights: dict[_K, float]) -> _K:
    """One key of ``weights``, drawn with probability proportional to its value."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


@dataclass(slots=True)
class Person:
    """One real human being: the hidden truth behind several platform accounts.

    ``phone`` is the mobile this person puts on orders (in a household sharing one phone,
    the head's); ``addresses`` is the home as typed on each platform's address book.
    """

    person_id: str
    surname: str
    given_name: str
    gender: str
    birthday: date
    phone: str
    email: str | None
    home: Home
    addresses: dict[Channel, Address]
    buyer_type: BuyerType
    cycle: Cycle
    channels: tuple[Channel, ...]
    acquired: date
    active_until: date
    household: str | None = None
    company: str | None = None
    taobao_nick: str | None = None
    alipay_account: str = ""
    jd_account: str | None = None
    shopify_id: str | None = None
    accepts_email_marketing: bool = False
    accepts_sms_marketing: bool = False
    baby_journey: bool = False
    own_devices: tuple[str, ...] = ()
    taobao_device: str = ""
    shopify_note: str = ""
    shopify_tags: str = ""
    # Running sums of category weights, in CATEGORIES order, ready for rng.choices.
    taste: list[float] = field(default_factory=list)
    office: Address | None = None

    @property
    def name(self) -> str:
        """Full name, surname first."""
        return f"{self.surname}{self.given_name}"


@dataclass(slots=True)
class OrderLine:
    """One SKU of an order; ``unit_price`` is what the buyer paid per piece."""

    sku: str
    quantity: int
    unit_price: Decimal
    list_price: Decimal
    variant: tuple[str, ...]

    @property
    def amount(self) -> Decimal:
        """Price times quantity."""
        return self.unit_price * self.quantity


@dataclass(slots=True)
class Order:
    """One order as the platform recorded it, plus the truth behind it.

    Times that lie after the end of the history are ``None``: the export only knows what
    had happened by then.  ``order_no`` of an own-shop order is its Shopify name
    (``#1001``), given when the export is written in date order.
    """

    seq: int
    channel: Channel
    order_no: str
    platform_id: str
    person_id: str
    buyer_type: BuyerType
    cycle: Cycle
    buyer_id: str
    email: str | None
    recipient: str
    phone: str
    address: Address
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    refunded_at: datetime | None
    state: OrderState
    refund: Refund
    lines: list[OrderLine]
    shipping_fee: Decimal
    shop_discount: Decimal
    platform_discount: Decimal
    refund_amount: Decimal
    balance_paid: Decimal
    promotion: str
    discount_code: str
    buyer_message: str
    seller_memo: str
    carrier: str
    tracking_no: str
    payment_method: str
    close_reason: str
    accepts_marketing: bool
    alipay_account: str = ""

    @property
    def goods_amount(self) -> Decimal:
        """Sum of the lines: what the goods cost before order-level discounts."""
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def total_due(self) -> Decimal:
        """Goods plus shipping minus the shop's and the platform's discounts."""
        return self.goods_amount + self.shipping_fee - self.shop_discount - self.platform_discount

    @property
    def paid_amount(self) -> Decimal:
        """What the buyer actually paid (zero if the order was never paid)."""
        return self.total_due if self.paid_at is not None else ZERO

    @property
    def quantity(self) -> int:
        """Number of pieces in the order."""
        return sum(line.quantity for line in self.lines)


@dataclass(slots=True)
class Event:
    """One behaviour event (埋点) from the own web shop or Taobao.

    A purchase event refers to its order by ``order_seq``; the writer turns that into the
    order number once the Shopify names are known.
    """

    event_id: str
    event_type: str
    occurred_at: datetime
    source: str
    buyer_id: str
    email: str | None
    device_id: str
    sku: str | None = None
    category: str | None = None
    query: str | None = None
    order_seq: int | None = None


@dataclass(slots=True)
class PersonHistory:
    """A person with everything they did; the unit the simulator streams."""

    person: Person
    orders: list[Order]
    events: list[Event]


@dataclass(frozen=True, slots=True)
class IdPermutation:
    """A bijection of ``0..modulus-1`` used to mint unique, random-looking IDs.

    Counting 0, 1, 2 … through it gives order numbers that never collide (no set of used
    IDs to keep in memory, so two million orders cost nothing) yet look unordered.
    """

    modulus: int
    mult: int
    offset: int

    @classmethod
    def make(cls, rng: random.Random, modulus: int) -> IdPermutation:
        """A permutation with multiplier and offset drawn from ``rng``."""
        mult = rng.randrange(modulus // 3, modulus)
        while gcd(mult, modulus) != 1:
            mult += 1
        return cls(modulus, mult, rng.randrange(modulus))

    def __call__(self, n: int) -> int:
        return (n * self.mult + self.offset) % self.modulus


def _mask(phone: str) -> str:
    """``138****1234``: how Taobao and Pinduoduo hide a buyer's mobile."""
    return f"{phone[:3]}****{phone[-4:]}"


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _factor(rng: random.Random, low: float, high: float) -> Decimal:
    """A price factor in per-mille steps, so amounts stay in Decimal arithmetic."""
    return Decimal(rng.randint(int(low * 1000), int(high * 1000))) / 1000


class ShopSimulator:
    """Seeded generator of the demo shop.

    Every random choice comes from one :class:`random.Random` (and one seeded Faker for
    names, user names and company names), consumed in a fixed order, so the same seed,
    customer count and ``today`` give the same shop.  ``today`` is the end of the history:
    nothing happens on or after it.
    """

    def __init__(self, *, customers: int, seed: int, today: date) -> None:
        self.customers = customers
        self.seed = seed
        self.today = today
        self.now = datetime.combine(today, time())
        self.last_day = today - timedelta(days=1)
        try:
            self.start = today.replace(year=today.year - 3)
        except ValueError:  # 29 February
            self.start = today.replace(year=today.year - 3, day=28)
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.calendar = PromotionCalendar(self.start, self.last_day, self.rng)
        self.catalog: Catalog = build_catalog(self.rng, self.start, today)
        self._used_phones: set[str] = set()
        self.locker_phone = self._mobile()
        self._used_phones.add(self.locker_phone)
        self.taobao_shop_id = str(self.rng.randrange(10_000_000, 99_999_999))
        self._ids = {
            name: IdPermutation.make(self.rng, modulus)
            for name, modulus in (
                ("taobao", 10**18), ("jd", 10**11), ("pdd", 10**15),
                ("shopify_order", 10**12), ("shopify_customer", 10**12),
            )
        }
        self._counters = {"taobao": 0, "jd": 0, "pdd": 0, "shopify_order": 0,
                          "shopify_customer": 0}
        self._used_handles: set[str] = set()
        self._order_seq = 0
        self._household_seq = 0
        one_off = sum(
            share * _CYCLES_BY_TYPE[t].get(Cycle.ONE_OFF, 0.0)
            for t, share in BUYER_TYPE_SHARES.items()
        )
        # One-off buyers can only use one channel: the others are drawn so that the
        # overall mix still matches CHANNEL_COUNT_SHARES.
        self._multi_counts = {
            k: (share - (one_off if k == 1 else 0.0)) / (1.0 - one_off)
            for k, share in CHANNEL_COUNT_SHARES.items()
        }
        taste_f = [float(_FEMALE_TASTE[c]) for c in CATEGORIES]
        taste_m = [float(_MALE_TASTE[c]) for c in CATEGORIES]
        self._base_taste = {"F": taste_f, "M": taste_m}
        self._baby_cum = list(accumulate(float(_BABY_TASTE[c]) for c in CATEGORIES))

    # ------------------------------------------------------------------ persons

    def _mobile(self) -> str:
        while True:
            phone = self.rng.choice(_MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if phone not in self._used_phones:
                return phone

    def _unique(self, handle: str) -> str:
        while handle in self._used_handles:
            handle = f"{handle}{self.rng.randrange(10)}"
        self._used_handles.add(handle)
        return handle

    def _email(self, birthday: date) -> str:
        domain = self.rng.choices(_MAIL_DOMAINS, cum_weights=_MAIL_CUM)[0]
        if domain == "qq.com" and self.rng.random() < 0.7:
            local = str(self.rng.randrange(10_000_000, 3_999_999_999))
        else:
            local = self.fake.user_name()
            if self.rng.random() < 0.5:
                local = f"{local}{birthday.year % 100:02d}"
        return self._unique(f"{local}@{domain}")

    def _taobao_nick(self, given: str, birthday: date) -> str:
        r = self.rng.random()
        if r < 0.25:
            nick = f"tb_{given}_{birthday.year}"
        elif r < 0.5:
            nick = f"tb{self.rng.randrange(10**8, 10**10)}"
        elif r < 0.8:
            nick = f"{self.fake.user_name()}{self.rng.randrange(100)}"
        else:
            nick = f"{given}{self.rng.choice(_NICK_SUFFIXES)}"
        return self._unique(nick)

    def _jd_account(self, given: str) -> str:
        r = self.rng.random()
        if r < 0.4:
            account = f"jd_{self.rng.getrandbits(52):013x}"
        elif r < 0.7:
            account = f"{self.fake.user_name()}{self.rng.randrange(1000)}"
        elif r < 0.85:
            account = f"{given}{self.rng.randrange(100, 10000)}"
        else:
            account = f"jd{self.rng.randrange(10**9, 10**11)}"
        return self._unique(account)

    def _alipay(self, phone: str, email: str | None) -> str:
        r = self.rng.random()
        if r < 0.5:
            return ""
        if r < 0.8 or email is None:
            return _mask(phone)
        local, domain = email.split("@")
        return f"{local[:3]}***@{domain}"

    def _birthday(self, low: int, high: int) -> date:
        age = self.rng.randint(low, high)
        return self.last_day - timedelta(days=age * 365 + self.rng.randrange(365))

    def _acquisition(self, buyer_type: BuyerType) -> date:
        days = (self.last_day - self.start).days
        # Density grows linearly (the shop gains customers faster every year).
        x = -1.0 + (1.0 + 3.0 * self.rng.random()) ** 0.5
        day = self.start + timedelta(days=min(int(x * (days + 1)), days))
        if buyer_type in (BuyerType.CAMPAIGN, BuyerType.HIGH_END) or self.rng.random() < 0.2:
            promo = self.calendar.campaign_from(day)
            if promo is None or promo.start > self.last_day:
                promo = next(
                    (p for p in reversed(self.calendar.campaigns) if p.start <= self.last_day),
                    None,
                )
            if promo is not None and (
                buyer_type in (BuyerType.CAMPAIGN, BuyerType.HIGH_END)
                or (promo.start - day).days <= 30
            ):
                day = min(max(promo.pick_day(self.rng), self.start), self.last_day)
        return day

    def _person(
        self,
        index: int,
        home: Home,
        *,
        gender: str | None = None,
        surname: str | None = None,
        ages: tuple[int, int] = (18, 60),
        phone: str | None = None,
        household: str | None = None,
    ) -> Person:
        rng = self.rng
        gender = gender or ("F" if rng.random() < 0.62 else "M")
        surname = surname or self.fake.last_name()
        given = self.fake.first_name_female() if gender == "F" else self.fake.first_name_male()
        if ages == (18, 60):
            band = rng.choices(((18, 24), (25, 34), (35, 44), (45, 60)), (20, 40, 25, 15))[0]
            ages = band
        birthday = self._birthday(*ages)
        buyer_type = _pick(rng, BUYER_TYPE_SHARES)
        cycle = _pick(rng, _CYCLES_BY_TYPE[buyer_type])
        count = 1 if cycle is Cycle.ONE_OFF else _pick(rng, self._multi_counts)
        weights = dict(_CHANNEL_WEIGHTS[buyer_type])
        channels: list[Channel] = []
        for _ in range(count):
            ch = _pick(rng, weights)
            channels.append(ch)
            del weights[ch]
        if phone is None:
            phone = self._mobile()
            self._used_phones.add(phone)
        wants_mail = Channel.SHOPIFY in channels or rng.random() < 0.3
        email = self._email(birthday) if wants_mail else None
        acquired = self._acquisition(buyer_type)
        if cycle is Cycle.ONE_OFF:
            active_until = acquired
        elif rng.random() < _LOYAL_SHARE:
            active_until = self.last_day
        else:
            span = max(rng.expovariate(1.0 / _SPAN_DAYS[cycle]), 1.6 * _INTERVAL_DAYS[cycle])
            active_until = min(acquired + timedelta(days=int(span)), self.last_day)
        addresses = {
            ch: home.address(0 if rng.random() < 0.8 else rng.randrange(1, len(home.forms)))
            for ch in channels
        }
        age = (self.last_day - birthday).days // 365
        baby = (
            cycle in (Cycle.WEEKLY, Cycle.MONTHLY, Cycle.SEASONAL)
            and 22 <= age <= 40
            and rng.random() < 0.25
        )
        base = self._base_taste[gender]
        favourites = rng.choices(range(len(CATEGORIES)), weights=base, k=3)
        taste = [w * 0.15 / sum(base) for w in base]
        for rank, boost in zip(favourites, (0.5, 0.25, 0.1), strict=True):
            taste[rank] += boost
        if cycle is Cycle.WEEKLY and not baby:
            taste[CATEGORIES.index(rng.choice(("食品", "个护")))] += 1.0
        person = Person(
            person_id=f"P{index + 1:07d}",
            surname=surname,
            given_name=given,
            gender=gender,
            birthday=birthday,
            phone=phone,
            email=email,
            home=home,
            addresses=addresses,
            buyer_type=buyer_type,
            cycle=cycle,
            channels=tuple(channels),
            acquired=acquired,
            active_until=active_until,
            household=household,
            baby_journey=baby,
            taste=list(accumulate(taste)),
        )
        if rng.random() < 0.3:
            person.company = self.fake.company()
        if Channel.TAOBAO in channels:
            person.taobao_nick = self._taobao_nick(given, birthday)
            person.alipay_account = self._alipay(phone, email)
            person.taobao_device = f"{rng.getrandbits(64):016x}"
        if Channel.JD in channels:
            person.jd_account = self._jd_account(given)
        if Channel.SHOPIFY in channels:
            n = self._counters["shopify_customer"]
            self._counters["shopify_customer"] = n + 1
            person.shopify_id = str(7 * 10**12 + self._ids["shopify_customer"](n))
            person.accepts_email_marketing = rng.random() < 0.4
            person.accepts_sms_marketing = rng.random() < 0.25
            person.own_devices = tuple(
                f"{rng.getrandbits(64):016x}" for _ in range(rng.choice((1, 1, 2)))
            )
            if rng.random() < 0.05:
                person.shopify_note = rng.choice(("老客户，喜欢素色", "要开发票", "只收顺丰"))
            if rng.random() < 0.08:
                person.shopify_tags = rng.choice(("VIP", "newsletter", "会员, VIP"))
        return person

    def _household(self, first_index: int, remaining: int) -> list[Person]:
        """One person, or (≈2% of persons) a family of 2–3 sharing a home."""
        rng = self.rng
        home = make_home(rng)
        if remaining < 2 or rng.random() >= 0.0082:
            return [self._person(first_index, home)]
        self._household_seq += 1
        hid = f"H{self._household_seq:06d}"
        size = min(remaining, 2 if rng.random() < 0.6 else 3)
        head = self._person(first_index, home, ages=(26, 50), household=hid)
        shared = head.phone if rng.random() < 0.35 else None
        head_age = (self.last_day - head.birthday).days // 365
        spouse_gender = "M" if head.gender == "F" else "F"
        members = [head]
        members.append(
            self._person(
                first_index + 1, home, gender=spouse_gender,
                ages=(max(head_age - 4, 20), head_age + 4), phone=shared, household=hid,
            )
        )
        if size == 3:
            husband = head if head.gender == "M" else members[1]
            if head_age >= 45:
                third = self._person(
                    first_index + 2, home, surname=husband.surname, ages=(18, 24),
                    phone=shared, household=hid,
                )
            else:
                third = self._person(
                    first_index + 2, home, ages=(head_age + 24, min(head_age + 32, 80)),
                    phone=shared, household=hid,
                )
            members.append(third)
        return members

    # ------------------------------------------------------------------- orders

    def _schedule(self, p: Person) -> list[tuple[date, Promotion | None, Product | None]]:
        """The days a person buys on, with the promotion or new product behind each."""
        rng = self.rng
        cal = self.calendar
        plan: list[tuple[date, Promotion | None, Product | None]] = []
        if p.cycle is Cycle.ONE_OFF:
            plan.append((p.acquired, cal.on(p.acquired), None))
        elif p.buyer_type in (BuyerType.CAMPAIGN, BuyerType.HIGH_END):
            plan.append((p.acquired, cal.on(p.acquired), None))
            names = _CAMPAIGNS_BY_CYCLE[p.cycle]
            if p.cycle is Cycle.YEARLY and rng.random() < 0.35:
                names = frozenset({NEW_YEAR_FAIR})  # stocks up for Spring Festival only
            for promo in cal.occurrences(names):
                if promo.start <= p.acquired or promo.start > p.active_until:
                    continue
                if rng.random() < 0.82:
                    day = min(promo.pick_day(rng), self.last_day)
                    plan.append((day, promo, None))
        else:
            interval = _INTERVAL_DAYS[p.cycle]
            day = p.acquired
            while day <= p.active_until:
                plan.append(self._shape_day(p, day))
                step = max(1, round(interval * rng.lognormvariate(0.0, 0.25)))
                day += timedelta(days=step)
        plan.sort(key=lambda item: item[0])
        return plan

    def _shape_day(self, p: Person, day: date) -> tuple[date, Promotion | None, Product | None]:
        """Move a nominal purchase day to where this buyer type really buys."""
        rng = self.rng
        cal = self.calendar
        if p.buyer_type is BuyerType.PRICE_SENSITIVE and rng.random() < 0.75:
            promo = cal.on(day)
            if promo is None:
                flash = cal.nearest_flash(day)
                if flash is not None and abs((flash - day).days) <= 12 and flash >= p.acquired:
                    day = flash
                    promo = cal.on(day)
            return day, promo, None
        if p.buyer_type is BuyerType.NEW_ARRIVAL and rng.random() < 0.85:
            fresh = self.catalog.launched_between(day - timedelta(days=30), day)
            fresh = [x for x in fresh if x.kind != STROLLER]
            if fresh:
                liked = [x for x in fresh if self._likes(p, x.category)]
                product = rng.choice(liked or fresh)
                new_day = product.launch_date + timedelta(days=rng.randrange(14))
                if p.acquired <= new_day <= self.last_day:
                    return new_day, cal.on(new_day), product
                if (day - product.launch_date).days <= 14:
                    return day, cal.on(day), product
            return day, cal.on(day), None
        promo = cal.on(day)
        if promo is None and rng.random() < 0.45:
            upcoming = cal.campaign_from(day)
            if upcoming is not None and (upcoming.start - day).days <= 25:
                moved = upcoming.pick_day(rng)
                if moved <= self.last_day:
                    return moved, upcoming, None
        return day, promo, None

    def _likes(self, p: Person, category: str) -> bool:
        i = CATEGORIES.index(category)
        low = p.taste[i - 1] if i else 0.0
        return p.taste[i] - low >= 0.1

    def _plan_channels(self, p: Person, n: int) -> list[Channel]:
        """A channel per order: mostly the primary one, every channel at least once."""
        rng = self.rng
        k = len(p.channels)
        if k == 1:
            return [p.channels[0]] * n
        weights = [0.65] + [0.35 / (k - 1)] * (k - 1)
        chosen = rng.choices(p.channels, weights=weights, k=n)
        for ch in p.channels:
            if ch in chosen:
                continue
            crowded = [i for i, c in enumerate(chosen) if chosen.count(c) > 1]
            chosen[rng.choice(crowded)] = ch
        return chosen

    def _orders(self, p: Person) -> list[Order]:
        rng = self.rng
        plan = self._schedule(p)
        while len(plan) < len(p.channels):
            end = min(self.last_day, max(p.active_until, p.acquired + timedelta(days=60)))
            day = p.acquired + timedelta(days=rng.randrange((end - p.acquired).days + 1))
            plan.append((day, self.calendar.on(day), None))
            plan.sort(key=lambda item: item[0])
        channels = self._plan_channels(p, len(plan))
        stroller_at = -1
        if p.baby_journey:
            stroller_at = 0 if rng.random() < 0.4 else rng.randrange(max(1, len(plan) // 2))
        orders: list[Order] = []
        first_own = True
        for i, ((day, promo, product), channel) in enumerate(zip(plan, channels, strict=True)):
            lines = self._lines(p, day, promo, product, channel, i, stroller_at)
            at = pick_time(day, promo, rng)
            if orders and at <= orders[-1].created_at:
                # Two purchases on one day keep the planned order (stroller first, …).
                at = min(orders[-1].created_at + self._minutes(5, 120),
                         self.now - timedelta(seconds=1))
            order = self._order(p, channel, day, promo, lines, at=at, welcome=first_own)
            if channel is Channel.SHOPIFY:
                first_own = False
            orders.append(order)
            if order.state is OrderState.CANCELLED and rng.random() < 0.5:
                again = order.created_at + timedelta(minutes=rng.randint(3, 90))
                if again < self.now:
                    orders.append(
                        self._order(p, channel, again.date(), promo, lines, at=again,
                                    fate="normal")
                    )
        return orders

    def _lines(
        self,
        p: Person,
        day: date,
        promo: Promotion | None,
        new_product: Product | None,
        channel: Channel,
        index: int,
        stroller_at: int,
    ) -> list[OrderLine]:
        rng = self.rng
        if channel is Channel.PDD:
            n = 1
        elif p.buyer_type is BuyerType.HIGH_END:
            n = rng.choice((1, 1, 2))
        else:
            n = rng.choices((1, 2, 3, 4, 5), (55, 25, 12, 5, 3))[0]
            if promo is not None and promo.name != FLASH_SALE and n < 5 and rng.random() < 0.4:
                n += 1
        taste = {
            BuyerType.PRICE_SENSITIVE: "cheap", BuyerType.HIGH_END: "premium",
        }.get(p.buyer_type, "even")
        products: list[Product] = []
        expecting = p.baby_journey and index <= stroller_at
        if new_product is not None and not (expecting and new_product.category == BABY_CATEGORY):
            products.append(new_product)
        if index == stroller_at:
            products.insert(0, self.catalog.stroller(day, rng))
        cum = self._baby_cum if (p.baby_journey and 0 <= stroller_at < index) else p.taste
        tries = 0
        while len(products) < n and tries < 3 * n:
            tries += 1
            category = rng.choices(CATEGORIES, cum_weights=cum)[0]
            if promo is not None and promo.name == NEW_YEAR_FAIR and rng.random() < 0.4:
                category = "食品"  # 年货: snacks, tea and rice as Spring Festival gifts
            if category == BABY_CATEGORY and expecting:
                continue
            found = self.catalog.pick(category, day, taste, rng)
            if found is not None and all(found.sku != x.sku for x in products):
                products.append(found)
        if not products:
            fallback = self.catalog.pick("食品", day, taste, rng)
            assert fallback is not None, "every category has products before the history"
            products.append(fallback)
        products = products[:n] if channel is Channel.PDD else products
        lines: list[OrderLine] = []
        for product in products:
            if product.consumable:
                qty = rng.choices((1, 2, 3), (60, 25, 15))[0]
            else:
                qty = 1 if rng.random() < 0.92 else 2
            lines.append(
                OrderLine(
                    sku=product.sku,
                    quantity=qty,
                    unit_price=self._unit_price(p, product, day, promo, channel),
                    list_price=product.list_price,
                    variant=tuple(rng.choice(values) for _, values in product.variants),
                )
            )
        return lines

    def _unit_price(
        self, p: Person, product: Product, day: date, promo: Promotion | None, channel: Channel
    ) -> Decimal:
        rng = self.rng
        if p.buyer_type is BuyerType.NEW_ARRIVAL and (day - product.launch_date).days <= 14:
            return product.list_price
        if promo is not None and promo.name == FLASH_SALE:
            if p.buyer_type is BuyerType.PRICE_SENSITIVE:
                factor = _factor(rng, 0.45, 0.65)
            else:
                factor = _factor(rng, 0.80, 0.92)
        elif promo is not None:
            if p.buyer_type is BuyerType.HIGH_END:
                factor = _factor(rng, 0.82, 0.92)
            else:
                factor = _factor(rng, 0.70, 0.88)
        elif rng.random() < 0.55:
            factor = Decimal(1)
        else:
            factor = _factor(rng, 0.88, 0.98)
        if channel is Channel.PDD:
            factor *= Decimal("0.92")
        price = (product.list_price * factor).quantize(_DIME, rounding=ROUND_HALF_UP)
        return max(price, _DIME).quantize(CENT)

    def _discounts(
        self, p: Person, channel: Channel, promo: Promotion | None, goods: Decimal, welcome: bool
    ) -> tuple[Decimal, Decimal, str]:
        """Shop coupon / 满减, platform subsidy and the own-shop discount code."""
        rng = self.rng
        shop = ZERO
        code = ""
        if promo is not None and promo.name != FLASH_SALE:
            step = {DOUBLE_ELEVEN: 50, MID_YEAR: 40, NEW_YEAR_FAIR: 30, QUEENS_DAY: 30}[promo.name]
            shop = Decimal(int(goods // 300) * step)
            if shop == 0 and goods >= 99 and rng.random() < 0.4:
                shop = Decimal(10)
            if shop:
                code = promo.discount_code
        elif channel is Channel.SHOPIFY and welcome and goods >= 99 and rng.random() < 0.3:
            shop = Decimal(10)
            code = "WELCOME10"
        elif promo is None:
            chance = 0.4 if p.buyer_type is BuyerType.PRICE_SENSITIVE else 0.15
            if rng.random() < chance:
                coupon = Decimal(rng.choice((5, 10, 20)))
                if goods >= coupon * 6:
                    shop = coupon
                    code = f"COUPON{coupon}"
        platform = ZERO
        if channel is Channel.PDD and rng.random() < 0.3:
            platform = Decimal(rng.randint(2, 20))
        elif channel is Channel.TAOBAO and rng.random() < 0.1:
            platform = Decimal(rng.randint(3, 15))
        room = goods - Decimal("0.01")
        shop = min(shop, room).quantize(CENT)
        platform = min(platform, room - shop).quantize(CENT) if room > shop else ZERO
        return shop, platform, code if channel is Channel.SHOPIFY else ""

    def _shipping(self, p: Person, channel: Channel, goods: Decimal, address: Address) -> Decimal:
        rng = self.rng
        remote = address.region.remote
        if channel is Channel.TAOBAO:
            if remote and rng.random() < 0.7:
                return Decimal("15.00")
            return Decimal(f"{rng.choice((6, 8, 10))}.00") if rng.random() < 0.08 else ZERO
        if channel is Channel.JD:
            if goods >= 99:
                return ZERO
            return Decimal("12.00") if remote else Decimal("6.00")
        if channel is Channel.PDD:
            return Decimal("10.00") if remote and rng.random() < 0.5 else ZERO
        if goods >= 199:
            return ZERO
        return Decimal("20.00") if remote else Decimal("10.00")

    def _minutes(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=int(self.rng.uniform(low, high) * 60))

    def _order(
        self,
        p: Person,
        channel: Channel,
        day: date,
        promo: Promotion | None,
        lines: list[OrderLine],
        *,
        at: datetime | None = None,
        fate: str | None = None,
        welcome: bool = False,
    ) -> Order:
        rng = self.rng
        now = self.now
        created = at or pick_time(day, promo, rng)
        seq = self._order_seq
        self._order_seq += 1

        # Who, where, which phone — with the noise real exports carry.
        recipient = p.name
        if rng.random() < 0.03:
            recipient = p.surname + ("女士" if p.gender == "F" else "先生")
        address = p.addresses[channel]
        phone = p.phone
        r = rng.random()
        if r < 0.05:
            if p.office is None:
                p.office = make_office(rng, p.home.region, p.company)
            address = p.office
        if rng.random() < 0.01:
            phone = self.locker_phone
            address = make_locker(rng, address)
        else:
            masking = {Channel.TAOBAO: 0.25, Channel.PDD: 0.60}.get(channel, 0.0)
            if masking and rng.random() < masking:
                phone = _mask(phone)

        goods = sum((line.amount for line in lines), ZERO)
        shipping = self._shipping(p, channel, goods, address)
        shop_discount, platform_discount, code = self._discounts(
            p, channel, promo, goods, welcome
        )
        total = goods + shipping - shop_discount - platform_discount

        # What happened to it, and what of that had happened by the end of the history.
        if fate is None:
            r = rng.random()
            fate = ("cancel" if r < 0.03 else "full" if r < 0.07 else "partial" if r < 0.10
                    else "normal")
        paid_at = shipped_at = completed_at = closed_at = refunded_at = None
        refund = Refund.NONE
        refund_amount = ZERO
        close_reason = ""
        if fate == "cancel":
            limit = 30.0 if channel is Channel.JD else 24 * 60.0
            closing = created + self._minutes(5, limit)
            if closing < now:
                state = OrderState.CANCELLED
                closed_at = closing
                close_reason = rng.choice(("买家未付款", "买家不想买了", "拍错了/重新拍"))
            else:
                state = OrderState.UNPAID
        else:
            paying = created + timedelta(seconds=int(rng.lognormvariate(4.0, 1.2)) + 3)
            if paying >= now:
                state = OrderState.UNPAID
            else:
                paid_at = paying
                ship_hours = (1, 24) if channel is Channel.JD else (2, 60)
                shipping_at = paying + self._minutes(ship_hours[0] * 60, ship_hours[1] * 60)
                delivered = shipping_at + self._minutes(20 * 60, 96 * 60)
                if channel is Channel.JD:
                    completing = delivered + self._minutes(1, 120)
                elif channel is Channel.SHOPIFY:
                    completing = delivered
                else:
                    completing = min(delivered + self._minutes(0, 8 * 24 * 60),
                                     shipping_at + timedelta(days=10))
                if fate == "full" and rng.random() < 0.45:
                    asked = paying + self._minutes(10, 600)
                    done = asked + self._minutes(30, 36 * 60)
                    shipping_at = delivered = completing = done + timedelta(days=3650)
                elif fate in ("full", "partial"):
                    asked = delivered + self._minutes(60, 7 * 24 * 60)
                    done = asked + self._minutes(60, 3 * 24 * 60)
                    if fate == "full":
                        completing = done + timedelta(days=3650)
                else:
                    asked = done = now + timedelta(days=3650)
                shipped_at = shipping_at if shipping_at < now else None
                completed_at = completing if completing < now else None
                state = (
                    OrderState.COMPLETED if completed_at else
                    OrderState.SHIPPED if shipped_at else OrderState.PAID
                )
                if done < now:
                    refunded_at = done
                    if fate == "full":
                        refund = Refund.FULL
                        refund_amount = total
                        close_reason = "退款"
                    else:
                        refund = Refund.PARTIAL
                        refund_amount = self._partial_refund(lines, total)
                elif asked < now:
                    refund = Refund.REQUESTED

        carrier = tracking = ""
        if shipped_at is not None:
            if channel is Channel.JD:
                carrier = "京东物流"
            elif channel is Channel.SHOPIFY:
                carrier = rng.choice(("顺丰速运", "顺丰速运", "中通快递"))
            else:
                carrier = rng.choice(_MARKET_CARRIERS)
            prefix, digits = _CARRIERS[carrier]
            tracking = f"{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}"

        message = memo = ""
        if channel is Channel.TAOBAO:
            if rng.random() < 0.08:
                message = rng.choice(_BUYER_MESSAGES)
            if rng.random() < 0.03:
                memo = rng.choice(_SELLER_MEMOS)
        elif channel is Channel.JD and rng.random() < 0.03:
            memo = rng.choice(_JD_MEMOS)

        balance = ZERO
        payment = ""
        if channel is Channel.SHOPIFY:
            payment = rng.choices(("Alipay", "WeChat Pay", "UnionPay"), (50, 35, 15))[0]
        elif channel is Channel.JD:
            payment = "货到付款" if rng.random() < 0.03 else "在线支付"
            if paid_at is not None and rng.random() < 0.05:
                balance = min(Decimal(rng.randint(1, 50)), total).quantize(CENT)

        order_no, platform_id, buyer_id = self._numbers(p, channel, created)
        return Order(
            seq=seq,
            channel=channel,
            order_no=order_no,
            platform_id=platform_id,
            person_id=p.person_id,
            buyer_type=p.buyer_type,
            cycle=p.cycle,
            buyer_id=buyer_id,
            email=p.email,
            recipient=recipient,
            phone=phone,
            address=address,
            created_at=created,
            paid_at=paid_at,
            shipped_at=shipped_at,
            completed_at=completed_at,
            closed_at=closed_at,
            refunded_at=refunded_at,
            state=state,
            refund=refund,
            lines=lines,
            shipping_fee=shipping,
            shop_discount=shop_discount,
            platform_discount=platform_discount,
            refund_amount=refund_amount,
            balance_paid=balance,
            promotion=promo.name if promo is not None else "",
            discount_code=code,
            buyer_message=message,
            seller_memo=memo,
            carrier=carrier,
            tracking_no=tracking,
            payment_method=payment,
            close_reason=close_reason,
            accepts_marketing=p.accepts_email_marketing,
            alipay_account=p.alipay_account if channel is Channel.TAOBAO else "",
        )

    def _partial_refund(self, lines: list[OrderLine], total: Decimal) -> Decimal:
        """One piece returned, or a price-protection refund on a single-piece order."""
        rng = self.rng
        line = rng.choice(lines)
        if len(lines) > 1 or line.quantity > 1:
            amount = line.unit_price
        else:
            amount = _money(line.unit_price * _factor(rng, 0.1, 0.4))
        return max(min(amount, total - Decimal("0.01")), Decimal("0.01"))

    def _numbers(self, p: Person, channel: Channel, created: datetime) -> tuple[str, str, str]:
        """Order number, platform-internal ID and the buyer ID the platform shows."""
        key = {Channel.TAOBAO: "taobao", Channel.JD: "jd", Channel.PDD: "pdd",
               Channel.SHOPIFY: "shopify_order"}[channel]
        n = self._counters[key]
        self._counters[key] = n + 1
        number = self._ids[key](n)
        if channel is Channel.TAOBAO:
            return str(3 * 10**18 + number), "", p.taobao_nick or ""
        if channel is Channel.JD:
            return str(2 * 10**11 + number), "", p.jd_account or ""
        if channel is Channel.PDD:
            return f"{created:%y%m%d}-{number:015d}", "", ""
        return "", str(5 * 10**12 + number), p.shopify_id or ""

    # ------------------------------------------------------------------- events

    def _event(
        self,
        kind: str,
        at: datetime,
        source: str,
        p: Person,
        product: Product | None,
        query: str | None = None,
        order_seq: int | None = None,
    ) -> Event:
        rng = self.rng
        if source == "own":
            buyer = p.shopify_id or ""
            email = p.email if (kind == "purchase" or rng.random() < 0.7) else None
            device = rng.choice(p.own_devices)
        else:
            buyer = p.taobao_nick or ""
            email = None
            device = p.taobao_device
        return Event(
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            event_type=kind,
            occurred_at=at,
            source=source,
            buyer_id=buyer,
            email=email,
            device_id=device,
            sku=product.sku if product is not None else None,
            category=product.category if product is not None else None,
            query=query,
            order_seq=order_seq,
        )

    def _query(self, product: Product) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            return product.kind
        if r < 0.6:
            return f"{product.kind} {rng.choice(_QUERY_WORDS)}"
        if r < 0.8:
            return product.brand
        return f"{product.brand} {product.kind}"

    def _session(
        self, p: Person, source: str, end: datetime, focus: Product, cart_chance: float
    ) -> list[Event]:
        """A browsing session leading up to ``end``: search, views, maybe the cart.

        Sessions before a purchase put the item in the cart (always on the own shop,
        often on Taobao where "buy now" skips it); plain browsing rarely does, and a
        session marked as an abandoned cart always does without an order following.
        """
        rng = self.rng
        steps: list[tuple[str, Product | None, str | None]] = []
        if rng.random() < 0.5:
            steps.append(("search", None, self._query(focus)))
        for _ in range(rng.randint(0, 2)):
            other = self.catalog.pick(focus.category, end.date(), "even", rng)
            if other is not None:
                steps.append(("view", other, None))
        steps.append(("view", focus, None))
        if rng.random() < 0.3:
            steps.append(("click", focus, None))
        if rng.random() < 0.25:
            steps.append(("favourite", focus, None))
        if rng.random() < cart_chance:
            steps.append(("add_to_cart", focus, None))
        span = rng.uniform(2, 60)
        start = end - timedelta(minutes=span)
        floor = datetime.combine(self.start, time())
        events = []
        for i, (kind, product, query) in enumerate(steps):
            at = start + timedelta(seconds=int(span * 60 * i / len(steps)))
            if floor <= at < self.now:
                events.append(self._event(kind, at, source, p, product, query))
        return events

    def _events(self, p: Person, orders: list[Order]) -> list[Event]:
        """Click-stream of a person who buys on the own shop or Taobao.

        Every paid own-shop order is mirrored by purchase events (one per line, as a
        tracker reports them); on top come 10–30 browsing events: sessions leading up to
        some of the person's orders, then free browsing around their active time, about
        a third of people starting with an abandoned cart (often a recent one, so
        cart-abandonment journeys have someone to talk to).
        """
        rng = self.rng
        sources = []
        if p.shopify_id:
            sources.append("own")
        if p.taobao_nick:
            sources.append("taobao")
        if not sources:
            return []
        catalog = self.catalog.by_sku
        events: list[Event] = []
        for o in orders:
            if o.channel is Channel.SHOPIFY and o.paid_at is not None:
                for line in o.lines:
                    events.append(
                        self._event("purchase", o.created_at, "own", p, catalog[line.sku],
                                    order_seq=o.seq)
                    )
        budget = rng.randint(10, 30)
        anchored = [o for o in orders if o.channel in (Channel.SHOPIFY, Channel.TAOBAO)]
        rng.shuffle(anchored)
        for o in anchored:
            if budget <= 4:
                break
            source = "own" if o.channel is Channel.SHOPIFY else "taobao"
            ahead = timedelta(minutes=rng.randint(1, 30)) if rng.random() < 0.7 else \
                timedelta(hours=rng.randint(1, 72))
            cart = 1.0 if source == "own" else 0.6
            new = self._session(p, source, o.created_at - ahead, catalog[o.lines[0].sku], cart)
            events.extend(new)
            budget -= len(new)
        last = max(o.created_at for o in orders)
        window_start = datetime.combine(max(self.start, p.acquired - timedelta(days=20)), time())
        window_end = min(self.now - timedelta(minutes=5), last + timedelta(days=120))
        seconds = int((window_end - window_start).total_seconds())
        abandoned = rng.random() < 0.35
        while budget > 0 and seconds > 0:
            at = window_start + timedelta(seconds=rng.randrange(seconds))
            if abandoned and seconds > 14 * 86400 and rng.random() < 0.4:
                at = window_end - timedelta(seconds=rng.randrange(14 * 86400))
            category = rng.choices(CATEGORIES, cum_weights=p.taste)[0]
            focus = self.catalog.pick(category, at.date(), "even", rng)
            if focus is None:
                break
            new = self._session(p, rng.choice(sources), at, focus, 1.0 if abandoned else 0.12)
            abandoned = False
            if not new:
                break
            events.extend(new)
            budget -= len(new)
        return events

    # ---------------------------------------------------------------- the stream

    def histories(self) -> Iterator[PersonHistory]:
        """Every person with their orders and events, households kept together."""
        index = 0
        while index < self.customers:
            for person in self._household(index, self.customers - index):
                orders = self._orders(person)
                yield PersonHistory(person, orders, self._events(person, orders))
                index += 1
