"""Bad files and bad rows: a clear message naming the line, nothing half-imported,
nothing valid dropped."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shopcrm.context import AppContext
from shopcrm.ingest.errors import ImportFileError
from shopcrm.ingest.service import import_file
from shopcrm.store.models import ImportBatch, SourceIdentity

HEADER = ["订单编号", "买家会员名", "买家实际支付金额", "订单状态", "订单创建时间", "收货人姓名",
          "收货地址 ", "联系手机"]


def good_row(n: int, **changes: str) -> list[str]:
    row = {
        "订单编号": f"9{n:05d}", "买家会员名": f"buyer{n}", "买家实际支付金额": "10.00",
        "订单状态": "交易成功", "订单创建时间": "2025-01-02 03:04:05", "收货人姓名": "赵六",
        "收货地址 ": "江苏省 南京市 玄武区 中山路 1号(210000)", "联系手机": "13900000000",
    }
    row.update(changes)
    return [row[h] for h in HEADER]


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "gb18030",
              header: list[str] | None = None) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header or HEADER)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def nothing_imported(context: AppContext) -> None:
    assert context.warehouse.table("orders").count().to_pyarrow().as_py() == 0
    with context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SourceIdentity)) == 0


def last_batch(context: AppContext) -> ImportBatch:
    with context.sessions() as session:
        return session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()  # type: ignore[return-value]


def test_bad_rows_are_rejected_with_line_and_reason(sqlite_context: AppContext,
                                                    tmp_path: Path) -> None:
    rows = [
        good_row(1),
        good_row(2, 订单创建时间="2025-13-45 99:00:00"),
        good_row(3, 买家实际支付金额="-5.00"),
        good_row(4, 买家实际支付金额="abc"),
        good_row(5, 订单状态="神秘状态"),
        good_row(1, 买家会员名="someone_else"),
        good_row(6, 买家会员名=""),
        good_row(7),
    ]
    path = write_csv(tmp_path / "bad_rows.csv", rows)

    report = import_file(sqlite_context, "taobao-orders", path)

    assert (report.rows_read, report.imported, report.rejected) == (8, 2, 6)
    reasons = dict(report.sample_rejects)
    assert "created_at: not a date/time" in reasons[3]
    assert "paid_amount: negative amount" in reasons[4]
    assert 'paid_amount: not an amount: "abc"' in reasons[5]
    assert 'unknown order status "神秘状态"' in reasons[6]
    assert "duplicate order number 900001 (first on line 2)" in reasons[7]
    assert "buyer_id: missing" in reasons[8]
    assert report.rejects_path is not None
    with open(report.rejects_path, encoding="utf-8-sig", newline="") as handle:
        rejected = list(csv.reader(handle))
    assert rejected[0][:2] == ["line", "reason"]
    assert [r[0] for r in rejected[1:]] == ["3", "4", "5", "6", "7", "8"]
    assert rejected[1][2] == "900002"  # the row as it was read follows the reason


def test_truncated_file_rejects_the_broken_last_row(sqlite_context: AppContext,
                                                    tmp_path: Path) -> None:
    path = write_csv(tmp_path / "full.csv", [good_row(1), good_row(2), good_row(3)])
    data = path.read_bytes()
    cut = tmp_path / "truncated.csv"
    cut.write_bytes(data[: len(data) - 40])

    report = import_file(sqlite_context, "taobao-orders", cut)

    assert report.imported == 2
    assert report.rejected == 1
    line, reason = report.sample_rejects[0]
    assert line == 4
    assert "too few columns" in reason


def test_missing_required_column_refuses_the_file(sqlite_context: AppContext,
                                                  tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "买家实际支付金额"]
    rows = [[v for h, v in zip(HEADER, good_row(1), strict=True) if h != "买家实际支付金额"]]
    path = write_csv(tmp_path / "no_amount.csv", rows, header=header)

    with pytest.raises(ImportFileError,
                       match=r"missing required column.*paid_amount.*买家实际支付金额"):
        import_file(sqlite_context, "taobao-orders", path)

    nothing_imported(sqlite_context)
    batch = last_batch(sqlite_context)
    assert batch.status == "failed" and "paid_amount" in (batch.message or "")
    # The checksum, computed on a thread while the file loads, is kept on failure too.
    assert batch.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_empty_file(sqlite_context: AppContext, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ImportFileError, match="empty"):
        import_file(sqlite_context, "taobao-orders", path)
    header_only = write_csv(tmp_path / "header_only.csv", [])
    with pytest.raises(ImportFileError, match="no data rows"):
        import_file(sqlite_context, "taobao-orders", header_only)
    nothing_imported(sqlite_context)


def test_wrong_encoding_and_binary_files(sqlite_context: AppContext, tmp_path: Path) -> None:
    utf16 = write_csv(tmp_path / "utf16.csv", [good_row(1)], encoding="utf-16")
    report = import_file(sqlite_context, "taobao-orders", utf16)
    assert report.imported == 1  # UTF-16 with BOM is read, not refused

    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    with pytest.raises(ImportFileError, match="binary"):
        import_file(sqlite_context, "taobao-orders", binary)

    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(ImportFileError, match=r"\.xls"):
        import_file(sqlite_context, "taobao-orders", xls)


def test_a_damaged_byte_rejects_only_its_row(sqlite_context: AppContext, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ok.csv", [good_row(1), good_row(2), good_row(3)])
    data = bytearray(path.read_bytes())
    third_line = data.split(b"\n")[2]
    position = data.index(third_line) + third_line.index("赵".encode("gb18030"))
    data[position] = 0xFF  # not a valid GB18030 lead byte here
    path.write_bytes(bytes(data))

    report = import_file(sqlite_context, "taobao-orders", path)

    assert (report.imported, report.rejected) == (2, 1)
    assert report.sample_rejects[0][0] == 3
    assert "not valid in the file's encoding" in report.sample_rejects[0][1]


def test_failure_half_way_leaves_nothing(sqlite_context: AppContext, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from shopcrm.warehouse import facts

    path = write_csv(tmp_path / "ok.csv", [good_row(1), good_row(2)])
    original = facts.BatchWriter.prepare

    def crash(self: facts.BatchWriter) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(facts.BatchWriter, "prepare", crash)
    with pytest.raises(OSError, match="disk full"):
        import_file(sqlite_context, "taobao-orders", path)
    monkeypatch.setattr(facts.BatchWriter, "prepare", original)

    nothing_imported(sqlite_context)
    assert list(sqlite_context.facts.root.rglob("*.parquet")) == []
    assert last_batch(sqlite_context).status == "failed"
    report = import_file(sqlite_context, "taobao-orders", path)
    assert report.imported == 2


def test_crash_between_commit_and_publish_is_finished_on_restart(
        make_context: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shopcrm.warehouse import facts

    home = tmp_path / "crash-home"
    context = make_context(home=home)  # type: ignore[operator]
    path = write_csv(tmp_path / "ok.csv", [good_row(1), good_row(2)])
    monkeypatch.setattr(facts.BatchWriter, "publish", lambda self: None)
    import_file(context, "taobao-orders", path)
    assert context.warehouse.table("orders").count().to_pyarrow().as_py() == 0
    monkeypatch.undo()

    restarted = make_context(home=home)  # type: ignore[operator]

    assert restarted.warehouse.table("orders").count().to_pyarrow().as_py() == 2


def test_huge_sparse_file_is_refused_quickly(sqlite_context: AppContext, tmp_path: Path) -> None:
    """A 2 GB file that is not an export is refused from its first bytes, not read whole."""
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:
        handle.write(",".join(HEADER).encode("gb18030") + b"\n")
        handle.truncate(2 * 1024**3)  # sparse: NUL bytes, no disk used
    with pytest.raises(ImportFileError, match="binary"):
        import_file(sqlite_context, "taobao-orders", path)


def test_unknown_format(sqlite_context: AppContext, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [good_row(1)])
    with pytest.raises(KeyError, match="unknown format 'taobao'"):
        import_file(sqlite_context, "taobao", path)
