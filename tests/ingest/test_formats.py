"""Each platform format on fixtures shaped like its real export."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from shopcrm.context import AppContext
from shopcrm.ingest.errors import ImportFileError
from shopcrm.ingest.service import import_file
from shopcrm.store.models import SourceIdentity

FIXTURES = Path(__file__).parent.parent / "fixtures"


def table(context: AppContext, name: str) -> list[dict[str, object]]:
    return context.warehouse.table(name).order_by("batch_id").to_pyarrow().to_pylist()


def identities(context: AppContext, source: str) -> dict[str, SourceIdentity]:
    with context.sessions() as session:
        rows = session.scalars(select(SourceIdentity).where(SourceIdentity.source == source))
        return {i.external_id: i for i in rows}


def test_jd_one_row_per_sku(context: AppContext) -> None:
    report = import_file(context, "jd-orders", FIXTURES / "jd_orders_gbk.csv")

    assert (report.rows_read, report.imported, report.rejected) == (4, 3, 0)
    orders = {o["order_id"]: o for o in table(context, "orders")}
    big = orders["281234567890"]
    assert big["paid_amount"] == Decimal("949.00")
    assert big["status"] == "completed"
    assert big["item_count"] == 2
    assert (big["province"], big["city"], big["district"]) == ("浙江省", "杭州市", "西湖区")
    assert orders["281234567891"]["status"] == "paid"
    assert orders["281234567892"]["status"] == "cancelled"
    lines = [i for i in table(context, "order_items") if i["order_id"] == "281234567890"]
    assert sorted((i["line_no"], i["sku"]) for i in lines) == [
        (1, "SKU-STROLLER-1"), (2, "SKU-COVER-1")]
    ming = identities(context, "jd")["jd_wangming"]
    assert ming.phone == "+8613812345678"


@pytest.mark.parametrize("fixture", ["pdd_orders.xlsx", "pdd_orders.csv"])
def test_pdd_xlsx_and_csv(sqlite_context: AppContext, fixture: str) -> None:
    report = import_file(sqlite_context, "pdd-orders", FIXTURES / fixture)

    assert (report.imported, report.rejected) == (3, 0)
    orders = {o["order_id"]: o for o in table(sqlite_context, "orders")}
    first = orders["250301-123456789012345"]
    assert first["paid_amount"] == Decimal("104.00")
    assert first["status"] == "completed"
    assert first["province"] == "浙江省"
    refunded = orders["250302-123456789012346"]
    assert refunded["status"] == "refunded"
    assert refunded["refund_amount"] == Decimal("39.90")
    items = table(sqlite_context, "order_items")
    assert {i["sku"] for i in items} == {"SKU-DIAPER-L", "SKU-WIPES", "SKU-BOTTLE"}
    # No buyer ID on Pinduoduo: the receiver is the identity; masked and virtual numbers
    # are kept masked, never turned into a phone.
    pdd = identities(sqlite_context, "pdd")
    assert all(key.startswith("rcv:") for key in pdd)
    assert all(i.phone is None for i in pdd.values())


def test_pdd_xlsx_and_csv_are_the_same_orders(sqlite_context: AppContext) -> None:
    import_file(sqlite_context, "pdd-orders", FIXTURES / "pdd_orders.xlsx")
    again = import_file(sqlite_context, "pdd-orders", FIXTURES / "pdd_orders.csv")
    assert (again.imported, again.updated, again.duplicates) == (0, 0, 3)


def test_shopify_orders_fill_order_fields_from_the_first_row(context: AppContext) -> None:
    report = import_file(context, "shopify-orders", FIXTURES / "shopify_orders.csv")

    assert (report.rows_read, report.imported, report.rejected) == (5, 3, 0)
    orders = {o["order_id"]: o for o in table(context, "orders")}
    assert orders["#1001"]["paid_amount"] == Decimal("290.00")
    assert orders["#1001"]["status"] == "completed"
    assert orders["#1001"]["item_count"] == 3
    assert orders["#1001"]["promo_type"] == "618SALE"
    assert orders["#1001"]["province"] == "浙江省"
    assert orders["#1001"]["created_at"].hour == 12  # 20:14 +0800
    assert orders["#1002"]["status"] == "refunded"
    assert orders["#1003"]["status"] == "completed"
    assert orders["#1003"]["refund_amount"] == Decimal("50.00")
    lines = [i for i in table(context, "order_items") if i["order_id"] == "#1001"]
    assert sorted(i["sku"] for i in lines) == ["SKU-HAT", "SKU-ROMPER"]
    assert all(i["status"] == "completed" for i in lines)
    shop = identities(context, "shopify")
    assert set(shop) == {"email:ming.wang@example.com", "email:li.fang@example.com"}


def test_shopify_customers_then_orders_share_the_identity(context: AppContext) -> None:
    customers = import_file(context, "shopify-customers", FIXTURES / "shopify_customers.csv")
    orders = import_file(context, "shopify-orders", FIXTURES / "shopify_orders.csv")

    assert (customers.imported, customers.rejected) == (2, 1)
    assert "accepts_sms: not yes/no" in customers.sample_rejects[0][1]
    assert orders.identities_new == 0
    shop = identities(context, "shopify")
    ming = shop["email:ming.wang@example.com"]
    assert ming.phone == "+8613812345678"
    assert ming.province == "浙江省"
    assert ming.attributes and ming.attributes["customer_id"] == "7210448301122"
    assert ming.attributes["accepts_email"] is True
    assert shop["email:li.fang@example.com"].phone == "+8613900001111"


def test_woocommerce(context: AppContext) -> None:
    report = import_file(context, "woocommerce-orders", FIXTURES / "woocommerce_orders.csv")
    assert (report.imported, report.rejected) == (2, 0)
    orders = {o["order_id"]: o for o in table(context, "orders")}
    assert orders["501"]["status"] == "completed"
    assert orders["502"]["status"] == "paid"
    woo = identities(context, "woocommerce")
    assert set(woo) == {"user:12", "email:guest@example.com"}
    assert woo["user:12"].name == "Wei Zhang"


def test_taobao_items_join_their_orders(sqlite_context: AppContext) -> None:
    import_file(sqlite_context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    report = import_file(sqlite_context, "taobao-items", FIXTURES / "taobao_items_gbk.csv")

    assert (report.unit, report.imported, report.rejected) == ("lines", 4, 1)
    assert "unit_price: not an amount" in report.sample_rejects[0][1]
    items = {i["order_id"]: i for i in table(sqlite_context, "order_items")}
    dress = items["3012345678901234501"]
    assert dress["sku"] == "SKU-DRESS" and dress["amount"] == Decimal("128.50")
    assert dress["customer_id"] is not None
    assert str(dress["day"]) == "2024-05-23"
    orphan = items["3012345678909999999"]  # order not imported (yet): kept, not dropped
    assert orphan["customer_id"] is None


def test_products_and_events(sqlite_context: AppContext) -> None:
    products = import_file(sqlite_context, "products", FIXTURES / "products.csv")
    assert products.imported == 3
    catalogue = {p["sku"]: p for p in table(sqlite_context, "products")}
    assert catalogue["SKU-STROLLER-1"]["list_price"] == Decimal("999.00")
    assert str(catalogue["SKU-ROMPER"]["launched_on"]) == "2025-06-01"

    events = import_file(sqlite_context, "events", FIXTURES / "events.jsonl")

    assert events.unit == "events"
    assert (events.imported, events.duplicates) == (4, 1)
    reasons = dict(events.sample_rejects)
    assert 'unknown event type "teleport"' in reasons[5]
    assert "occurred_at: not a date/time" in reasons[6]
    assert "not valid JSON" in reasons[8]
    assert "JSON object" in reasons[9]
    stored = {e["event_id"]: e for e in table(sqlite_context, "events")}
    assert stored["e2"]["event_type"] == "add_to_cart"
    assert stored["e3"]["identity_id"] is not None
    assert "identity_key" not in stored["e3"]  # platform keys can be e-mails: not in facts
    assert stored["e6"]["identity_id"] is None and stored["e6"]["device_id"] == "d-anon"


def test_generic_mapping(sqlite_context: AppContext) -> None:
    report = import_file(sqlite_context, "generic", FIXTURES / "generic_orders.csv",
                         mapping=FIXTURES / "generic_mapping.toml")
    assert (report.imported, report.rejected) == (3, 0)
    assert report.unused_columns == ["备注"]
    orders = {o["order_id"]: o for o in table(sqlite_context, "orders")}
    assert orders["M001"]["source"] == "miniapp"
    assert orders["M001"]["province"] == "浙江省"
    assert orders["M002"]["paid_amount"] == Decimal("12.50")
    assert orders["M002"]["status"] == "refunded"
    assert orders["M003"]["paid_amount"] == Decimal("1288.00")
    assert str(orders["M001"]["day"]) == "2025-03-01"


def test_generic_mapping_errors_point_at_the_key(sqlite_context: AppContext,
                                                 tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "orders"\n[columns]\norder_no = "单号"\n[status]\nx = "done"\n')
    with pytest.raises(ImportFileError, match=r"columns: .*unknown field.*order_no"):
        import_file(sqlite_context, "generic", FIXTURES / "generic_orders.csv", mapping=bad)
    with pytest.raises(ImportFileError, match="needs a column mapping"):
        import_file(sqlite_context, "generic", FIXTURES / "generic_orders.csv")


def test_changed_consent_flag_updates_the_identity(sqlite_context: AppContext,
                                                   tmp_path: Path) -> None:
    import_file(sqlite_context, "shopify-customers", FIXTURES / "shopify_customers.csv")
    text = (FIXTURES / "shopify_customers.csv").read_text(encoding="utf-8")
    changed = tmp_path / "customers_later.csv"
    changed.write_text(text.replace("ming.wang@example.com,yes", "ming.wang@example.com,no"),
                       encoding="utf-8")

    report = import_file(sqlite_context, "shopify-customers", changed)

    assert (report.updated, report.duplicates) == (1, 1)
    ming = identities(sqlite_context, "shopify")["email:ming.wang@example.com"]
    assert ming.attributes and ming.attributes["accepts_email"] is False


def test_generic_xlsx_and_jsonl(sqlite_context: AppContext, tmp_path: Path) -> None:
    from openpyxl import Workbook

    mapping = tmp_path / "customers.json"
    mapping.write_text(
        '{"kind": "customers", "source": "crm-old", "address": "parts",'
        ' "columns": {"customer_id": "会员号", "name": "姓名", "phone": "手机",'
        ' "province": "省", "birthday": "生日"}}', encoding="utf-8")
    book = Workbook()
    sheet = book.active
    sheet.append(["会员号", "姓名", "手机", "省", "生日"])
    sheet.append([10001, "孙七", 13800000001, "四川", "1990-02-03"])
    sheet.append([10002, "周八", "138****0002", "上海", "not a date"])
    workbook = tmp_path / "members.xlsx"
    book.save(workbook)

    report = import_file(sqlite_context, "generic", workbook, mapping=mapping)

    assert (report.imported, report.rejected) == (1, 1)
    assert report.sample_rejects[0][0] == 3  # the Excel row number
    members = identities(sqlite_context, "crm-old")
    sun = next(iter(members.values()))
    assert (sun.name, sun.phone, sun.province) == ("孙七", "+8613800000001", "四川省")

    events_mapping = tmp_path / "events.toml"
    events_mapping.write_text(
        'kind = "events"\nsource = "app"\n[columns]\nevent_type = "action"\n'
        'occurred_at = "at"\nbuyer_id = "uid"\nsku = "item"\n', encoding="utf-8")
    lines = tmp_path / "app_events.jsonl"
    lines.write_text(
        '{"action": "浏览", "at": "2025-01-01 10:00:00", "uid": "u1", "item": "SKU-1"}\n'
        '{"action": "加购", "at": "2025-01-01 10:01:00", "uid": "u1", "item": "SKU-1"}\n',
        encoding="utf-8")
    events = import_file(sqlite_context, "generic", lines, mapping=events_mapping)
    assert events.imported == 2
    stored = sorted(e["event_type"] for e in table(sqlite_context, "events"))
    assert stored == ["add_to_cart", "view"]
