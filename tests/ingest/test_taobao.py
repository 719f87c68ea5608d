"""Taobao order export end to end, on SQLite and PostgreSQL: decorated values, GBK,
header aliases, identities, idempotent re-import and updates as new versions."""

from __future__ import annotations

import hashlib
import shutil
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from shopcrm.context import AppContext
from shopcrm.ingest.service import import_file
from shopcrm.store.models import Customer, ImportBatch, SourceIdentity

FIXTURES = Path(__file__).parent.parent / "fixtures"
GBK = FIXTURES / "taobao_orders_gbk.csv"
UTF8 = FIXTURES / "taobao_orders_utf8bom.csv"


def orders(context: AppContext) -> dict[str, dict[str, object]]:
    rows = context.warehouse.table("orders").to_pyarrow().to_pylist()
    return {r["order_id"]: r for r in rows}


def test_gbk_export_with_decorations(context: AppContext) -> None:
    report = import_file(context, "taobao-orders", GBK)

    assert report.ok
    assert report.encoding == "gb18030"
    assert (report.rows_read, report.imported, report.rejected) == (5, 5, 0)
    assert report.identities_new == 3
    facts = orders(context)
    assert set(facts) == {f"30123456789012345{n:02d}" for n in range(1, 6)}
    first = facts["3012345678901234501"]
    assert first["paid_amount"] == Decimal("138.50")
    assert first["goods_amount"] == Decimal("128.50")
    assert first["status"] == "completed"
    assert (first["province"], first["city"], first["district"]) == ("浙江省", "杭州市", "西湖区")
    # 交易关闭 with the full amount refunded is a refund, not a cancellation.
    assert facts["3012345678901234502"]["status"] == "refunded"
    assert facts["3012345678901234502"]["paid_amount"] == Decimal("99.00")
    assert facts["3012345678901234503"]["status"] == "shipped"
    assert facts["3012345678901234504"]["status"] == "paid"
    assert facts["3012345678901234505"]["status"] == "pending"
    # 2024/6/18 0:15 in Asia/Shanghai is 2024-06-17 16:15 UTC, but the shop's day is 06-18.
    assert str(facts["3012345678901234502"]["day"]) == "2024-06-18"
    assert facts["3012345678901234502"]["created_at"].hour == 16


def test_identities_keep_the_real_phone_and_no_pii_in_facts(context: AppContext) -> None:
    import_file(context, "taobao-orders", GBK)
    with context.sessions() as session:
        ming = session.scalars(select(SourceIdentity).where(
            SourceIdentity.external_id == "tb_小明_1988")).one()
        assert ming.phone == "+8613812345678"  # newest order showed it masked
        assert ming.name == "王小明"
        assert ming.province == "浙江省"
        assert ming.postcode == "310012"
        customer = session.get(Customer, ming.customer_id)
        assert customer is not None and customer.phone == "+8613812345678"
        assert session.scalar(select(func.count()).select_from(Customer)) == 3
    columns = set(context.warehouse.table("orders").columns)
    assert not columns & {"name", "phone", "email", "address", "address_detail", "identity_key"}


def test_reimport_changes_nothing(context: AppContext) -> None:
    import_file(context, "taobao-orders", GBK)
    files_before = sorted(context.facts.root.rglob("*.parquet"))
    with context.sessions() as session:
        identities_before = [
            (i.id, i.updated_at, i.last_batch_id)
            for i in session.scalars(select(SourceIdentity).order_by(SourceIdentity.id))]

    again = import_file(context, "taobao-orders", GBK)

    assert (again.imported, again.updated, again.duplicates) == (0, 0, 5)
    assert (again.identities_new, again.identities_updated) == (0, 0)
    assert sorted(context.facts.root.rglob("*.parquet")) == files_before
    with context.sessions() as session:
        identities_after = [
            (i.id, i.updated_at, i.last_batch_id)
            for i in session.scalars(select(SourceIdentity).order_by(SourceIdentity.id))]
        assert identities_after == identities_before
        statuses = session.scalars(select(ImportBatch.status).order_by(ImportBatch.id)).all()
        digests = set(session.scalars(select(ImportBatch.file_sha256)).all())
        assert statuses == ["committed", "committed"]
        assert digests == {hashlib.sha256(GBK.read_bytes()).hexdigest()}
    assert len(orders(context)) == 5


def test_renamed_columns_and_utf8_bom_are_the_same_orders(context: AppContext) -> None:
    import_file(context, "taobao-orders", GBK)
    report = import_file(context, "taobao-orders", UTF8)
    assert report.encoding == "utf-8-sig"
    assert (report.imported, report.updated, report.duplicates) == (0, 0, 5)


def test_changed_order_is_a_new_version(context: AppContext, tmp_path: Path) -> None:
    import_file(context, "taobao-orders", GBK)
    text = GBK.read_bytes().decode("gb18030").replace(
        "卖家已发货，等待买家确认", "交易成功")
    changed = tmp_path / "later_export.csv"
    changed.write_bytes(text.encode("gb18030"))

    report = import_file(context, "taobao-orders", changed)

    assert (report.imported, report.updated, report.duplicates) == (0, 1, 4)
    facts = orders(context)
    assert len(facts) == 5
    assert facts["3012345678901234503"]["status"] == "completed"
    all_versions = context.warehouse.all_versions("orders").count().to_pyarrow().as_py()
    assert all_versions == 6


def test_overlapping_file_imports_only_the_new_orders(context: AppContext,
                                                      tmp_path: Path) -> None:
    lines = GBK.read_bytes().decode("gb18030").split("\r\n")
    first_part = tmp_path / "part1.csv"
    # header + orders 1 and 2 (order 2's note holds a bare LF, the file ends lines with CRLF)
    first_part.write_bytes("\r\n".join([*lines[:3], ""]).encode("gb18030"))
    shutil.copy(GBK, tmp_path / "all.csv")

    one = import_file(context, "taobao-orders", first_part)
    two = import_file(context, "taobao-orders", tmp_path / "all.csv")

    assert one.imported == 2
    assert (two.imported, two.duplicates) == (3, 2)
