"""The demo shop's export files: formats, encodings, headers, money and ground truth.

One small shop (300 customers) is generated once per module; each test reads the files
back the way an importer would, so a change that breaks a real-export quirk fails here.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from shopcrm.demo import DemoManifest, generate_demo_shop
from shopcrm.demo.writers import (
    GROUND_TRUTH_HEADER,
    JD_ORDERS_HEADER,
    PDD_ORDERS_HEADER,
    PRODUCTS_HEADER,
    SHOPIFY_CUSTOMERS_HEADER,
    SHOPIFY_LINE_COLUMNS,
    SHOPIFY_ORDERS_HEADER,
    TAOBAO_ITEMS_HEADER,
    TAOBAO_ORDERS_HEADER,
)

TODAY = date(2026, 11, 20)
MONEY = re.compile(r"^\d+\.\d{2}(元)?$")
ENCODINGS = {
    "products": "utf-8-sig",
    "shopify-customers": "utf-8",
    "taobao-orders": "gb18030",
    "taobao-items": "gbk",
    "jd-orders": "gbk",
    "shopify-orders": "utf-8",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    """A 300-customer shop, generated once for the module."""
    return generate_demo_shop(tmp_path_factory.mktemp("shop"), customers=300, seed=7,
                              today=TODAY)


def _path(shop: DemoManifest, fmt: str) -> Path:
    return next(f.path for f in shop.files if f.format == fmt)


def _rows(shop: DemoManifest, fmt: str) -> list[list[str]]:
    with _path(shop, fmt).open(encoding=ENCODINGS[fmt], newline="") as f:
        return list(csv.reader(f))


def _pdd_rows(shop: DemoManifest) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(_path(shop, "pdd-orders"), read_only=True)
    try:
        return [tuple(r) for r in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _unguard(value: str) -> str:
    """``="123"`` → ``123``: the Excel guard Taobao puts around order numbers."""
    assert value.startswith('="') and value.endswith('"'), value
    return value[2:-1]


def _amount(value: str) -> Decimal:
    return Decimal(value.removesuffix("元"))


def test_manifest_lists_every_file_in_import_order(shop: DemoManifest) -> None:
    assert [f.format for f in shop.files] == [
        "products", "shopify-customers", "taobao-orders", "taobao-items", "jd-orders",
        "pdd-orders", "shopify-orders", "events",
    ]
    assert shop.persons == 300
    assert shop.ground_truth.name == "ground_truth.csv"
    for f in shop.files:
        assert f.path.is_file()
        assert f.rows > 0, f.format
    spool_left = [p for p in _path(shop, "products").parent.iterdir() if p.name.startswith(".")]
    assert spool_left == []


def test_row_counts_match_the_manifest(shop: DemoManifest) -> None:
    for fmt in ENCODINGS:
        rows = _rows(shop, fmt)
        assert len(rows) - 1 == next(f.rows for f in shop.files if f.format == fmt), fmt
    assert len(_pdd_rows(shop)) - 1 == next(f.rows for f in shop.files if f.format == "pdd-orders")
    events = _path(shop, "events").read_text(encoding="utf-8").splitlines()
    assert len(events) == next(f.rows for f in shop.files if f.format == "events")


@pytest.mark.parametrize(
    ("fmt", "header"),
    [
        ("products", PRODUCTS_HEADER),
        ("shopify-customers", SHOPIFY_CUSTOMERS_HEADER),
        ("taobao-orders", TAOBAO_ORDERS_HEADER),
        ("taobao-items", TAOBAO_ITEMS_HEADER),
        ("jd-orders", JD_ORDERS_HEADER),
        ("shopify-orders", SHOPIFY_ORDERS_HEADER),
    ],
)
def test_csv_headers_are_the_platform_headers(
    shop: DemoManifest, fmt: str, header: tuple[str, ...]
) -> None:
    assert tuple(_rows(shop, fmt)[0]) == header


def test_headers_keep_taobao_trailing_spaces() -> None:
    assert "收货地址 " in TAOBAO_ORDERS_HEADER
    assert "联系电话 " in TAOBAO_ORDERS_HEADER
    assert "宝贝标题 " in TAOBAO_ORDERS_HEADER
    assert len(TAOBAO_ORDERS_HEADER) == 30
    assert len(SHOPIFY_ORDERS_HEADER) == 46


def test_encodings(shop: DemoManifest) -> None:
    taobao = _path(shop, "taobao-orders").read_bytes()
    text = taobao.decode("gb18030")
    assert "交易成功" in text
    with pytest.raises(UnicodeDecodeError):
        taobao.decode("utf-8")
    for fmt in ("taobao-items", "jd-orders"):
        data = _path(shop, fmt).read_bytes()
        data.decode("gbk")
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    assert _path(shop, "products").read_bytes().startswith(b"\xef\xbb\xbf")
    for fmt in ("shopify-customers", "shopify-orders", "events"):
        assert not _path(shop, fmt).read_bytes().startswith(b"\xef\xbb\xbf")
        _path(shop, fmt).read_bytes().decode("utf-8")


def test_pdd_workbook_is_readable_with_numbers_and_text_times(shop: DemoManifest) -> None:
    rows = _pdd_rows(shop)
    assert rows[0] == PDD_ORDERS_HEADER
    header = rows[0]
    statuses = {"已签收", "已发货，待签收", "待发货", "已取消"}
    after_sales = {"无售后或售后取消", "退款成功", "退款中"}
    for row in rows[1:]:
        record = dict(zip(header, row, strict=True))
        assert record["订单状态"] in statuses
        assert record["售后状态"] in after_sales
        for column in ("商品总价(元)", "店铺优惠折扣(元)", "平台优惠折扣(元)", "邮费(元)",
                       "用户实付金额(元)", "商家实收金额(元)"):
            value = record[column]
            assert isinstance(value, (int, float)), (column, value)
            assert round(float(value), 2) == value
        assert isinstance(record["商品数量(件)"], int)
        created = record["订单创建时间"]
        assert isinstance(created, str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", created)
        assert re.fullmatch(r"\d{6}-\d{15}", str(record["订单号"]))
        if record["订单状态"] != "已取消":
            goods = Decimal(str(record["商品总价(元)"]))
            paid = (goods + Decimal(str(record["邮费(元)"]))
                    - Decimal(str(record["店铺优惠折扣(元)"]))
                    - Decimal(str(record["平台优惠折扣(元)"])))
            assert Decimal(str(record["用户实付金额(元)"])) == paid


def test_pdd_file_is_byte_stable_zip(shop: DemoManifest) -> None:
    import zipfile

    with zipfile.ZipFile(_path(shop, "pdd-orders")) as archive:
        assert {i.date_time[:3] for i in archive.infolist()} == {(2026, 11, 20)}
        core = archive.read("docProps/core.xml").decode()
        assert "2026-11-20T00:00:00Z" in core


def test_taobao_orders_look_like_real_exports(shop: DemoManifest) -> None:
    rows = _rows(shop, "taobao-orders")
    h = rows[0]
    data = rows[1:]
    statuses = Counter(r[h.index("订单状态")] for r in data)
    assert set(statuses) <= {"交易成功", "交易关闭", "卖家已发货，等待买家确认",
                             "买家已付款，等待卖家发货", "等待买家付款"}
    assert statuses["交易成功"] > len(data) * 0.7
    raw = _path(shop, "taobao-orders").read_text(encoding="gb18030")
    assert re.search(r'^="\d{19}",', raw.splitlines()[1])
    for r in data:
        _unguard(r[0])
        address = r[h.index("收货地址 ")]
        assert re.search(r"\(\d{6}\)$", address), address
        parts = address.split(" ")
        assert parts[1].endswith("市") and parts[2].endswith(("区", "新区")), address
        for column in ("买家应付货款", "买家应付邮费", "总金额", "买家实际支付金额", "退款金额"):
            assert MONEY.match(r[h.index(column)]), (column, r[h.index(column)])
        created = r[h.index("订单创建时间")]
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d\d", created
        ), created
    mobiles = [r[h.index("联系手机")] for r in data]
    assert 0.35 < sum(m.startswith("'") for m in mobiles) / len(mobiles) < 0.65
    masked = [m.lstrip("'") for m in mobiles if "*" in m]
    assert masked and all(re.fullmatch(r"1\d{2}\*{4}\d{4}", m) for m in masked)
    assert any(r[3].endswith("元") for r in data)
    assert any("/" in r[h.index("订单创建时间")] for r in data)
    assert any(r[h.index("买家留言")] for r in data)


def test_taobao_items_add_up_to_the_order_goods_amount(shop: DemoManifest) -> None:
    orders = _rows(shop, "taobao-orders")
    h = orders[0]
    goods = {r[0]: _amount(r[h.index("买家应付货款")]) for r in orders[1:]}
    quantity = {r[0]: int(r[h.index("宝贝总数量")]) for r in orders[1:]}
    summed: dict[str, Decimal] = defaultdict(Decimal)
    pieces: Counter[str] = Counter()
    skus = {r[0] for r in _rows(shop, "products")[1:]}
    for r in _rows(shop, "taobao-items")[1:]:
        assert MONEY.match(r[2])
        summed[r[0]] += Decimal(r[2]) * int(r[3])
        pieces[r[0]] += int(r[3])
        assert r[9] in skus
    assert summed == goods
    assert pieces == quantity
    for r in orders[1:]:
        total = _amount(r[h.index("总金额")])
        assert total == goods[r[0]] + _amount(r[h.index("买家应付邮费")])
        assert _amount(r[h.index("买家实际支付金额")]) <= total


def test_jd_rows_repeat_order_fields_and_add_up(shop: DemoManifest) -> None:
    rows = _rows(shop, "jd-orders")
    h = rows[0]
    by_order: dict[str, list[list[str]]] = defaultdict(list)
    for r in rows[1:]:
        by_order[r[0]].append(r)
        for column in ("京东价", "订单金额", "结算金额", "余额支付", "应付金额", "运费金额"):
            assert MONEY.match(r[h.index(column)]), (column, r[h.index(column)])
        assert r[h.index("订单状态")] in {"完成", "已取消", "等待出库", "等待确认收货",
                                          "(删除)锁定"}
        assert " " not in r[h.index("客户地址")]
    order_columns = [h.index(c) for c in ("订单金额", "下单帐号", "客户姓名", "下单时间")]
    for lines in by_order.values():
        assert len({tuple(r[i] for i in order_columns) for r in lines}) == 1
        goods = sum((Decimal(r[h.index("京东价")]) * int(r[h.index("订购数量")]) for r in lines),
                    Decimal(0))
        first = lines[0]
        assert goods == Decimal(first[h.index("订单金额")]) - Decimal(first[h.index("运费金额")])


def test_shopify_continuation_rows_leave_order_fields_blank(shop: DemoManifest) -> None:
    rows = _rows(shop, "shopify-orders")
    h = rows[0]
    order_level = [i for i, name in enumerate(h) if name not in SHOPIFY_LINE_COLUMNS]
    seen: set[str] = set()
    continuation = 0
    for r in rows[1:]:
        assert re.fullmatch(r"#\d{4,}", r[0])
        if r[0] in seen:
            continuation += 1
            assert all(r[i] == "" for i in order_level), r
            assert r[h.index("Lineitem sku")]
        else:
            seen.add(r[0])
            assert r[h.index("Currency")] == "CNY"
            assert r[h.index("Financial Status")] in {
                "paid", "refunded", "partially_refunded", "pending", "voided"}
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0800",
                                r[h.index("Created at")])
    assert continuation > 0
    names = [int(r[0][1:]) for r in rows[1:] if r[2]]
    assert names == list(range(1001, 1001 + len(names)))


def test_shopify_order_amounts_add_up(shop: DemoManifest) -> None:
    rows = _rows(shop, "shopify-orders")
    h = rows[0]
    lines: dict[str, Decimal] = defaultdict(Decimal)
    firsts = {}
    for r in rows[1:]:
        assert MONEY.match(r[h.index("Lineitem price")])
        lines[r[0]] += Decimal(r[h.index("Lineitem price")]) * int(r[h.index("Lineitem quantity")])
        if r[h.index("Financial Status")]:
            firsts[r[0]] = r
    for name, r in firsts.items():
        for column in ("Subtotal", "Shipping", "Taxes", "Total", "Discount Amount",
                       "Refunded Amount"):
            assert MONEY.match(r[h.index(column)]), (column, r[h.index(column)])
        subtotal = Decimal(r[h.index("Subtotal")])
        assert lines[name] - Decimal(r[h.index("Discount Amount")]) == subtotal
        assert subtotal + Decimal(r[h.index("Shipping")]) + Decimal(r[h.index("Taxes")]) == \
            Decimal(r[h.index("Total")])


def test_shopify_customers(shop: DemoManifest) -> None:
    rows = _rows(shop, "shopify-customers")
    h = rows[0]
    for r in rows[1:]:
        assert re.fullmatch(r"'\d{13}", r[0])
        assert "@" in r[h.index("Email")]
        assert r[h.index("Accepts Email Marketing")] in {"yes", "no"}
        assert r[h.index("Default Address Country Code")] == "CN"
        assert re.fullmatch(r"[A-Z]{2}", r[h.index("Default Address Province Code")])
        phone = r[h.index("Phone")]
        assert phone == "" or re.fullmatch(r"\+861[3-9]\d{9}", phone)
        assert MONEY.match(r[h.index("Total Spent")])


def test_products(shop: DemoManifest) -> None:
    rows = _rows(shop, "products")[1:]
    assert 250 <= len(rows) <= 350
    assert len({r[0] for r in rows}) == len(rows)
    categories = {r[2] for r in rows}
    assert categories == {"女装", "男装", "童装", "母婴", "美妆", "个护", "食品", "家居",
                          "数码配件", "运动户外"}
    assert any("婴儿推车" in r[1] for r in rows)
    for r in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", r[4])
        assert MONEY.match(r[5]) and not r[5].endswith("元")
    launches = Counter(r[4][:7] for r in rows if r[4] >= "2024-01")
    assert len(launches) >= 30  # new arrivals nearly every month


def test_events(shop: DemoManifest) -> None:
    orders = {r[0] for r in _rows(shop, "shopify-orders")[1:]}
    customers = {r[0].lstrip("'") for r in _rows(shop, "shopify-customers")[1:]}
    allowed = {"event_id", "event_type", "occurred_at", "source", "buyer_id", "email",
               "device_id", "sku", "category", "query", "order_id"}
    kinds: Counter[str] = Counter()
    previous = ""
    ids = set()
    for line in _path(shop, "events").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        assert set(event) <= allowed
        assert event["occurred_at"] >= previous  # written in time order
        previous = event["occurred_at"]
        assert datetime.fromisoformat(event["occurred_at"]).date() < TODAY
        kinds[event["event_type"]] += 1
        ids.add(event["event_id"])
        assert event["source"] in {"own", "taobao"}
        if event["source"] == "own":
            assert event["buyer_id"] in customers
        if event["event_type"] == "purchase":
            assert event["order_id"] in orders
        else:
            assert "order_id" not in event
        if event["event_type"] == "search":
            assert event["query"]
    assert set(kinds) == {"view", "favourite", "add_to_cart", "search", "click", "purchase"}
    assert len(ids) == sum(kinds.values())


def test_ground_truth_covers_every_order_and_account(shop: DemoManifest) -> None:
    with shop.ground_truth.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == GROUND_TRUTH_HEADER
    truth = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert len(truth) == len(rows) - 1  # keys are unique
    expected = {("taobao", "order", _unguard(r[0])) for r in _rows(shop, "taobao-orders")[1:]}
    expected |= {("jd", "order", r[0]) for r in _rows(shop, "jd-orders")[1:]}
    expected |= {("pdd", "order", str(r[1])) for r in _pdd_rows(shop)[1:]}
    expected |= {("shopify", "order", r[0]) for r in _rows(shop, "shopify-orders")[1:]}
    expected |= {("shopify", "customer", r[0].lstrip("'"))
                 for r in _rows(shop, "shopify-customers")[1:]}
    expected |= {("taobao", "account", r[1]) for r in _rows(shop, "taobao-orders")[1:]}
    expected |= {("jd", "account", r[13]) for r in _rows(shop, "jd-orders")[1:]}
    assert set(truth) == expected
    assert len({r[3] for r in rows[1:]}) == 300
    assert {r[4] for r in rows[1:]} <= {"regular", "price_sensitive", "new_arrival",
                                        "campaign", "high_end"}


def test_nothing_happens_on_or_after_today(shop: DemoManifest) -> None:
    stamp = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T]\d")
    for fmt in ("taobao-orders", "jd-orders", "shopify-orders", "events"):
        text = _path(shop, fmt).read_text(encoding=ENCODINGS.get(fmt, "utf-8"))
        days = {date(int(y), int(m), int(d)) for y, m, d in stamp.findall(text)}
        assert days and max(days) < TODAY, fmt
