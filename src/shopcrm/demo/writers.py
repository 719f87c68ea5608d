"""Writers that put the simulated shop into the marketplaces' real export formats.

Each writer owns one output file and formats :mod:`shopcrm.demo.model` dataclasses the way
that platform's back office exports them — its header (trailing spaces included), its
encoding (GB18030/GBK for the Chinese marketplaces), its status words, and its quirks:
Taobao's ``="…"`` Excel guard around order numbers, apostrophe-prefixed phones, ``元``
after some amounts, two date styles; Shopify's order fields only on the first line item;
Pinduoduo's .xlsx with numbers as numbers and times as text.  The importers are built
against these files, so the quirks are the point.

Cosmetic choices (which rows get an apostrophe, ``元`` or the short date style) come
from a :class:`random.Random` seeded per file, and rows are written in a fixed order, so
the same shop always gives byte-identical files.
"""

from __future__ import annotations

import csv
import json
import random
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO

from openpyxl import Workbook

from shopcrm.demo.catalog import Product
from shopcrm.demo.geo import Address
from shopcrm.demo.model import (
    Channel,
    Event,
    Order,
    OrderState,
    Person,
    Refund,
)

PRODUCTS_HEADER = ("商家编码", "商品名称", "类目", "品牌", "上新日期", "吊牌价")
TAOBAO_ORDERS_HEADER = (
    "订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "买家支付积分",
    "总金额", "返点积分", "买家实际支付金额", "买家实际支付积分", "订单状态", "买家留言",
    "收货人姓名", "收货地址 ", "运送方式", "联系电话 ", "联系手机", "订单创建时间",
    "订单付款时间 ", "宝贝标题 ", "宝贝种类 ", "物流单号 ", "物流公司", "订单备注",
    "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "退款金额", "确认收货时间",
)
TAOBAO_ITEMS_HEADER = (
    "订单编号", "标题", "价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", "备注",
    "订单状态", "商家编码",
)
JD_ORDERS_HEADER = (
    "订单号", "商品ID", "商品名称", "订购数量", "支付方式", "下单时间", "京东价", "订单金额",
    "结算金额", "余额支付", "应付金额", "订单状态", "订单类型", "下单帐号", "客户姓名",
    "客户地址", "联系电话", "订单备注", "运费金额", "付款确认时间", "订单完成时间", "商家SKUID",
)
PDD_ORDERS_HEADER = (
    "商品", "订单号", "订单状态", "商品总价(元)", "店铺优惠折扣(元)", "平台优惠折扣(元)",
    "邮费(元)", "用户实付金额(元)", "商家实收金额(元)", "商品数量(件)", "收货人", "手机", "省",
    "市", "区", "街道", "支付时间", "拼单成功时间", "订单创建时间", "商品id", "商品规格",
    "商家编码-SKU维度", "售后状态", "确认收货时间",
)
SHOPIFY_CUSTOMERS_HEADER = (
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
    "Default Address Company", "Default Address Address1", "Default Address Address2",
    "Default Address City", "Default Address Province Code", "Default Address Country Code",
    "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
)
SHOPIFY_ORDERS_HEADER = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code",
    "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping",
    "Lineitem taxable", "Lineitem fulfillment status", "Billing Name", "Billing Street",
    "Billing City", "Billing Zip", "Billing Province", "Billing Country", "Billing Phone",
    "Shipping Name", "Shipping Street", "Shipping City", "Shipping Zip", "Shipping Province",
    "Shipping Country", "Shipping Phone", "Cancelled at", "Payment Method", "Refunded Amount",
    "Vendor", "Id", "Tags", "Source", "Phone",
)
# Columns a Shopify export repeats on every line-item row of an order; all others are
# order-level and only filled on the order's first row.
SHOPIFY_LINE_COLUMNS = frozenset(
    {"Name", "Email", "Vendor"} | {h for h in SHOPIFY_ORDERS_HEADER if h.startswith("Lineitem")}
)
GROUND_TRUTH_HEADER = ("source", "record_type", "record_key", "person_id", "buyer_type", "cycle")
EVENT_KEYS = ("event_id", "event_type", "occurred_at", "source", "buyer_id", "email",
              "device_id", "sku", "category", "query", "order_id")

TAOBAO_SHOP_NAME = "悦家优选旗舰店"


def money(value: Decimal) -> str:
    """``128.50``: two decimals, no thousands separator."""
    return f"{value:.2f}"


def timestamp(value: datetime | None) -> str:
    """``2024-05-23 22:02:11`` (empty when the moment had not come yet)."""
    return "" if value is None else value.isoformat(" ", "seconds")


def _short_timestamp(value: datetime | None) -> str:
    """``2024/5/23 22:02``: how Excel re-saves a Taobao export."""
    if value is None:
        return ""
    return f"{value.year}/{value.month}/{value.day} {value.hour}:{value.minute:02d}"


def _shopify_time(value: datetime | None) -> str:
    return "" if value is None else f"{value.isoformat(' ', 'seconds')} +0800"


def _quote(field: str) -> str:
    """CSV quoting as Excel does it: only when the field needs it."""
    if "," in field or '"' in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def _excel_guard(number: str) -> str:
    """``="3012345678901234567"``: stops Excel turning a long number into 3.01E+18.

    Taobao writes it unquoted, so a CSV reader hands the importer the literal text.
    """
    return f'="{number}"'


def _province(address: Address) -> str:
    region = address.region
    return region.province_short if region.municipality else region.province


def taobao_address(address: Address, postcode: str) -> str:
    """``浙江省 杭州市 西湖区 文三路 188号…(310012)``.

    Municipalities repeat themselves: ``北京 北京市 朝阳区 …``.
    """
    region = address.region
    return (
        f"{_province(address)} {region.city} {region.district} "
        f"{address.road} {address.number}{address.detail}({postcode})"
    )


def jd_address(address: Address) -> str:
    """``江苏南京市玄武区中山路100号…``: province without 省, no spaces."""
    region = address.region
    city = "" if region.municipality else region.city
    return f"{region.province_short}{city}{region.district}{address.street}"


def spec_text(product: Product, variant: Sequence[str], *, named: bool) -> str:
    """``颜色分类：黑色;尺码：M`` (Taobao) or ``黑色,M`` (Pinduoduo)."""
    if named:
        return ";".join(
            f"{name}：{value}" for (name, _), value in zip(product.variants, variant, strict=True)
        )
    return ",".join(variant)


class _TextFile:
    """A text output file that counts its data rows."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.path = path
        self.rows = 0
        self.handle: IO[str] = path.open("w", encoding=encoding, newline="")

    def close(self) -> None:
        """Flush and close the file."""
        self.handle.close()


class _CsvFile(_TextFile):
    def __init__(
        self, path: Path, encoding: str, header: Sequence[str], lineterminator: str = "\r\n"
    ) -> None:
        super().__init__(path, encoding)
        self.writer = csv.writer(self.handle, lineterminator=lineterminator)
        self.writer.writerow(header)

    def row(self, values: Sequence[object]) -> None:
        self.writer.writerow(values)
        self.rows += 1


def write_products(path: Path, products: Iterable[Product]) -> int:
    """``products.csv`` — UTF-8 with BOM, as Excel-friendly product lists are."""
    out = _CsvFile(path, "utf-8-sig", PRODUCTS_HEADER)
    try:
        for p in products:
            out.row((p.sku, p.name, p.category, p.brand, f"{p.launch_date:%Y-%m-%d}",
                     money(p.list_price)))
    finally:
        out.close()
    return out.rows


def _taobao_status(order: Order) -> str:
    if order.state is OrderState.UNPAID:
        return "等待买家付款"
    if order.state is OrderState.CANCELLED or order.refund is Refund.FULL:
        return "交易关闭"
    if order.state is OrderState.PAID:
        return "买家已付款，等待卖家发货"
    if order.state is OrderState.SHIPPED:
        return "卖家已发货，等待买家确认"
    return "交易成功"


class TaobaoWriter:
    """``taobao_orders.csv`` (GB18030, one row per order) and ``taobao_items.csv`` (GBK)."""

    def __init__(self, orders_path: Path, items_path: Path, *, seed: int, catalog:
                 dict[str, Product], shop_id: str) -> None:
        self.orders = _TextFile(orders_path, "gb18030")
        self.items = _TextFile(items_path, "gbk")
        self.orders.handle.write(",".join(TAOBAO_ORDERS_HEADER) + "\r\n")
        self.items.handle.write(",".join(TAOBAO_ITEMS_HEADER) + "\r\n")
        self.rng = random.Random(f"taobao:{seed}")
        self.catalog = catalog
        self.shop_id = shop_id

    def write(self, order: Order) -> None:
        """One order row plus one item row per order line."""
        rng = self.rng
        status = _taobao_status(order)
        when = _short_timestamp if rng.random() < 0.05 else timestamp
        yuan = "元" if rng.random() < 0.05 else ""
        phone = f"'{order.phone}" if rng.random() < 0.5 else order.phone
        postcode = "000000" if rng.random() < 0.05 else order.address.postcode
        products = [self.catalog[line.sku] for line in order.lines]
        goods = order.goods_amount
        refund = order.refund_amount if order.refund in (Refund.FULL, Refund.PARTIAL) else None
        fields = (
            order.buyer_id,
            order.alipay_account,
            money(goods) + yuan,
            money(order.shipping_fee) + yuan,
            "0",
            money(goods + order.shipping_fee) + yuan,
            "0",
            money(order.paid_amount) + yuan,
            "0",
            status,
            order.buyer_message,
            order.recipient,
            taobao_address(order.address, postcode),
            "快递",
            "",
            phone,
            when(order.created_at),
            when(order.paid_at),
            "，".join(p.name for p in products),
            str(len(order.lines)),
            f"No:{order.tracking_no}" if order.tracking_no else "",
            order.carrier,
            order.seller_memo,
            str(order.quantity),
            self.shop_id,
            TAOBAO_SHOP_NAME,
            order.close_reason or "订单未关闭",
            money(refund) + yuan if refund is not None else "0.00",
            when(order.completed_at),
        )
        guard = _excel_guard(order.order_no)
        self.orders.handle.write(guard + "," + ",".join(_quote(f) for f in fields) + "\r\n")
        self.orders.rows += 1
        for line, product in zip(order.lines, products, strict=True):
            item = (
                product.name,
                money(line.unit_price),
                str(line.quantity),
                "",
                spec_text(product, line.variant, named=True),
                "",
                "",
                status,
                line.sku,
            )
            self.items.handle.write(guard + "," + ",".join(_quote(f) for f in item) + "\r\n")
            self.items.rows += 1

    def close(self) -> None:
        """Close both files."""
        self.orders.close()
        self.items.close()


def _jd_status(order: Order, rng: random.Random) -> str:
    if order.state is OrderState.UNPAID:
        return "已取消"
    if order.state is OrderState.CANCELLED:
        return "(删除)锁定" if rng.random() < 0.2 else "已取消"
    if order.refund is Refund.FULL:
        return "(删除)锁定" if rng.random() < 0.3 else "已取消"
    if order.state is OrderState.PAID:
        return "等待出库"
    if order.state is OrderState.SHIPPED:
        return "等待确认收货"
    return "完成"


class JdWriter:
    """``jd_orders.csv`` — GBK, one row per SKU with the order fields repeated."""

    def __init__(self, path: Path, *, seed: int, catalog: dict[str, Product]) -> None:
        self.out = _CsvFile(path, "gbk", JD_ORDERS_HEADER)
        self.rng = random.Random(f"jd:{seed}")
        self.catalog = catalog

    @property
    def rows(self) -> int:
        """Data rows written."""
        return self.out.rows

    def write(self, order: Order) -> None:
        """One row per order line."""
        status = _jd_status(order, self.rng)
        paid = order.paid_at is not None
        settled = order.paid_amount - order.refund_amount if paid else Decimal(0)
        payable = order.total_due - order.balance_paid
        kind = "预售订单" if order.promotion == "双11" and self.rng.random() < 0.2 else "普通订单"
        for line in order.lines:
            product = self.catalog[line.sku]
            self.out.row((
                order.order_no,
                product.jd_item_id,
                product.name,
                line.quantity,
                order.payment_method,
                timestamp(order.created_at),
                money(line.unit_price),
                money(order.goods_amount + order.shipping_fee),
                money(settled),
                money(order.balance_paid),
                money(payable),
                status,
                kind,
                order.buyer_id,
                order.recipient,
                jd_address(order.address),
                order.phone,
                order.seller_memo,
                money(order.shipping_fee),
                timestamp(order.paid_at),
                timestamp(order.completed_at),
                line.sku,
            ))

    def close(self) -> None:
        """Close the file."""
        self.out.close()


def _pdd_status(order: Order) -> tuple[str, str]:
    never_sent = order.refund is Refund.FULL and order.shipped_at is None
    if order.state in (OrderState.UNPAID, OrderState.CANCELLED) or never_sent:
        status = "已取消"
    elif order.state is OrderState.PAID:
        status = "待发货"
    elif order.state is OrderState.SHIPPED:
        status = "已发货，待签收"
    else:
        status = "已签收"
    after_sale = {
        Refund.NONE: "无售后或售后取消",
        Refund.REQUESTED: "退款中",
        Refund.FULL: "退款成功",
        Refund.PARTIAL: "退款成功",
    }[order.refund]
    return status, after_sale


_XLSX_STAMP = re.compile(rb"<dcterms:(created|modified)([^>]*)>[^<]*</dcterms:\1>")
_XLSX_COLUMNS = [chr(ord("A") + i) for i in range(len(PDD_ORDERS_HEADER))]
_SHEET_PATH = "xl/worksheets/sheet1.xml"


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class PddWriter:
    """``pdd_orders.xlsx`` — one sheet, one row per order (one SKU per order).

    openpyxl (write-only mode) builds the workbook: package parts, styles, the sheet and
    its header row.  The data rows are streamed to a scratch file as the same SpreadsheetML
    openpyxl writes (inline strings, numbers as numbers), because openpyxl without lxml
    spends about a millisecond per row — most of the run time for a big shop.  On close
    the archive is assembled with the rows spliced into the sheet and with ``stamp`` (the
    end of the history) as every timestamp, so the file is byte-identical across runs.
    """

    def __init__(self, path: Path, *, catalog: dict[str, Product], stamp: datetime) -> None:
        self.path = path
        self.rows = 0
        self.catalog = catalog
        self.stamp = stamp
        self.workbook = Workbook(write_only=True)
        self.workbook.properties.creator = "pinduoduo"
        self.sheet = self.workbook.create_sheet("订单列表")
        self.sheet.append(list(PDD_ORDERS_HEADER))
        self.scratch = path.with_name(f".{path.name}.rows")
        self.handle: IO[str] = self.scratch.open("w", encoding="utf-8", newline="")

    def write(self, order: Order) -> None:
        """One row; amounts as numbers, times as text."""
        line = order.lines[0]
        product = self.catalog[line.sku]
        status, after_sale = _pdd_status(order)
        paid = order.paid_at is not None
        region = order.address.region
        group_time = None
        if order.paid_at is not None:
            group_time = order.paid_at.replace(second=min(order.paid_at.second + 7, 59))
        merchant = order.goods_amount + order.shipping_fee - order.shop_discount
        values: tuple[str | Decimal | int, ...] = (
            product.name,
            order.order_no,
            status,
            order.goods_amount,
            order.shop_discount,
            order.platform_discount,
            order.shipping_fee,
            order.paid_amount,
            merchant if paid else Decimal("0.00"),
            line.quantity,
            order.recipient,
            order.phone,
            region.province,
            region.city,
            region.district,
            order.address.street,
            timestamp(order.paid_at),
            timestamp(group_time),
            timestamp(order.created_at),
            product.pdd_goods_id,
            spec_text(product, line.variant, named=False),
            line.sku,
            after_sale,
            timestamp(order.completed_at),
        )
        self.rows += 1
        r = self.rows + 1
        cells = []
        for column, value in zip(_XLSX_COLUMNS, values, strict=True):
            if isinstance(value, str):
                if value:
                    cells.append(
                        f'<c r="{column}{r}" t="inlineStr"><is><t>{_xml_text(value)}</t></is></c>'
                    )
            else:
                cells.append(f'<c r="{column}{r}" t="n"><v>{value}</v></c>')
        self.handle.write(f'<row r="{r}">{"".join(cells)}</row>')

    def close(self) -> None:
        """Save the workbook, splice in the rows, fix every timestamp."""
        self.handle.close()
        raw = self.path.with_name(f".{self.path.name}.raw")
        self.workbook.save(raw)
        stamp = f"{self.stamp:%Y-%m-%dT%H:%M:%SZ}".encode()
        date_time = (self.stamp.year, self.stamp.month, self.stamp.day,
                     self.stamp.hour, self.stamp.minute, self.stamp.second)
        try:
            with zipfile.ZipFile(raw) as src, zipfile.ZipFile(self.path, "w") as dst:
                for info in src.infolist():
                    entry = zipfile.ZipInfo(info.filename, date_time=date_time)
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    entry.external_attr = 0o600 << 16
                    data = src.read(info)
                    if info.filename == "docProps/core.xml":
                        data = _XLSX_STAMP.sub(
                            lambda m: b"<dcterms:" + m.group(1) + m.group(2) + b">" + stamp
                            + b"</dcterms:" + m.group(1) + b">",
                            data,
                        )
                    if info.filename != _SHEET_PATH:
                        dst.writestr(entry, data)
                        continue
                    head, tail = data.split(b"</sheetData>", 1)
                    # Excel writes the used range; openpyxl's read-only mode needs it to
                    # pad rows whose last cells are empty.
                    last = f"{_XLSX_COLUMNS[-1]}{self.rows + 1}"
                    head = head.replace(
                        b"<sheetViews>", f'<dimension ref="A1:{last}" /><sheetViews>'.encode(), 1
                    )
                    with dst.open(entry, "w") as out, self.scratch.open("rb") as rows:
                        out.write(head)
                        while chunk := rows.read(1 << 20):
                            out.write(chunk)
                        out.write(b"</sheetData>" + tail)
        finally:
            raw.unlink(missing_ok=True)
            self.scratch.unlink(missing_ok=True)


def _shopify_status(order: Order) -> str:
    if order.state is OrderState.UNPAID:
        return "pending"
    if order.state is OrderState.CANCELLED:
        return "voided"
    if order.refund is Refund.FULL:
        return "refunded"
    if order.refund is Refund.PARTIAL:
        return "partially_refunded"
    return "paid"


def _intl(phone: str) -> str:
    return f"+86{phone}" if phone and "*" not in phone else phone


def _shopify_street(address: Address) -> str:
    return f"{address.region.district}{address.street}"


class ShopifyOrdersWriter:
    """``shopify_orders.csv`` — UTF-8, one row per line item, order fields on the first."""

    def __init__(self, path: Path, *, catalog: dict[str, Product]) -> None:
        self.out = _CsvFile(path, "utf-8", SHOPIFY_ORDERS_HEADER, lineterminator="\n")
        self.catalog = catalog
        self._line_index = [i for i, h in enumerate(SHOPIFY_ORDERS_HEADER)
                            if h in SHOPIFY_LINE_COLUMNS]

    @property
    def rows(self) -> int:
        """Data rows written (line items)."""
        return self.out.rows

    def write(self, order: Order) -> None:
        """First line item with every order field, further ones with line fields only."""
        fulfilled = order.shipped_at is not None
        address = order.address
        region = address.region
        phone = _intl(order.phone)
        subtotal = order.goods_amount - order.shop_discount
        for n, line in enumerate(order.lines):
            product = self.catalog[line.sku]
            row: list[str] = [
                order.order_no,
                order.email or "",
                _shopify_status(order),
                _shopify_time(order.paid_at),
                "fulfilled" if fulfilled else "unfulfilled",
                _shopify_time(order.shipped_at),
                "yes" if order.accepts_marketing else "no",
                "CNY",
                money(subtotal),
                money(order.shipping_fee),
                "0.00",
                money(subtotal + order.shipping_fee),
                order.discount_code,
                money(order.shop_discount),
                "顺丰速运" if order.shipping_fee == 0 else "标准快递",
                _shopify_time(order.created_at),
                str(line.quantity),
                f"{product.name} - {' / '.join(line.variant)}",
                money(line.unit_price),
                money(line.list_price) if line.list_price > line.unit_price else "",
                line.sku,
                "true",
                "false",
                "fulfilled" if fulfilled else "pending",
                order.recipient,
                _shopify_street(address),
                region.city,
                address.postcode,
                region.province_code,
                "CN",
                phone,
                order.recipient,
                _shopify_street(address),
                region.city,
                address.postcode,
                region.province_code,
                "CN",
                phone,
                _shopify_time(order.closed_at),
                order.payment_method,
                money(order.refund_amount),
                product.brand,
                order.platform_id,
                "",
                "web",
                phone,
            ]
            if n:
                row = [row[i] if i in self._line_index else "" for i in range(len(row))]
            self.out.row(row)

    def close(self) -> None:
        """Close the file."""
        self.out.close()


class ShopifyCustomersWriter:
    """``shopify_customers.csv`` — UTF-8, one row per own-shop customer."""

    def __init__(self, path: Path, *, seed: int) -> None:
        self.out = _CsvFile(path, "utf-8", SHOPIFY_CUSTOMERS_HEADER, lineterminator="\n")
        self.rng = random.Random(f"shopify-customers:{seed}")

    @property
    def rows(self) -> int:
        """Data rows written."""
        return self.out.rows

    def write(self, person: Person, spent: Decimal, orders: int) -> None:
        """One customer with their lifetime totals as Shopify computes them."""
        rng = self.rng
        address = person.addresses[Channel.SHOPIFY]
        region = address.region
        first, last = person.given_name, person.surname
        if rng.random() < 0.05:
            first, last = person.name, ""
        default_phone = f"+86{person.phone}" if rng.random() < 0.5 else person.phone
        company = person.company if person.company and rng.random() < 0.3 else ""
        self.out.row((
            f"'{person.shopify_id}",
            first,
            last,
            person.email or "",
            "yes" if person.accepts_email_marketing else "no",
            company,
            f"{region.district}{address.road}{address.number}",
            address.detail,
            region.city,
            region.province_code,
            "CN",
            address.postcode,
            default_phone,
            f"+86{person.phone}" if rng.random() < 0.85 else "",
            "yes" if person.accepts_sms_marketing else "no",
            money(spent),
            str(orders),
            person.shopify_note,
            "no",
            person.shopify_tags,
        ))

    def close(self) -> None:
        """Close the file."""
        self.out.close()


def _json(value: str) -> str:
    """A JSON string literal; the common case (nothing to escape) skips the encoder."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


class EventsWriter:
    """``events.jsonl`` — one JSON object per line, optional keys left out."""

    def __init__(self, path: Path) -> None:
        self.out = _TextFile(path, "utf-8")

    @property
    def rows(self) -> int:
        """Events written."""
        return self.out.rows

    def write(self, event: Event, order_id: str | None) -> None:
        """One event; ``order_id`` is the order number of a purchase."""
        fields = [
            f'{{"event_id": {_json(event.event_id)}',
            f'"event_type": {_json(event.event_type)}',
            f'"occurred_at": "{event.occurred_at.isoformat("T", "seconds")}+08:00"',
            f'"source": {_json(event.source)}',
            f'"buyer_id": {_json(event.buyer_id)}',
        ]
        if event.email:
            fields.append(f'"email": {_json(event.email)}')
        fields.append(f'"device_id": {_json(event.device_id)}')
        if event.sku:
            fields.append(f'"sku": {_json(event.sku)}')
        if event.category:
            fields.append(f'"category": {_json(event.category)}')
        if event.query:
            fields.append(f'"query": {_json(event.query)}')
        if order_id:
            fields.append(f'"order_id": {_json(order_id)}')
        self.out.handle.write(", ".join(fields) + "}\n")
        self.out.rows += 1

    def close(self) -> None:
        """Close the file."""
        self.out.close()


class GroundTruthWriter:
    """``ground_truth.csv`` — which person is behind every order, customer and account."""

    def __init__(self, path: Path) -> None:
        self.out = _CsvFile(path, "utf-8", GROUND_TRUTH_HEADER, lineterminator="\n")

    @property
    def path(self) -> Path:
        """Where the file is."""
        return self.out.path

    def person(self, person: Person) -> None:
        """The platform records that identify ``person``."""
        truth = (person.person_id, person.buyer_type.value, person.cycle.value)
        if person.shopify_id:
            self.out.row(("shopify", "customer", person.shopify_id, *truth))
        if person.taobao_nick:
            self.out.row(("taobao", "account", person.taobao_nick, *truth))
        if person.jd_account:
            self.out.row(("jd", "account", person.jd_account, *truth))

    def order(self, order: Order) -> None:
        """The person behind one order (key as written, without the Excel guard)."""
        self.out.row((order.channel.value, "order", order.order_no, order.person_id,
                      order.buyer_type.value, order.cycle.value))

    def close(self) -> None:
        """Close the file."""
        self.out.close()
