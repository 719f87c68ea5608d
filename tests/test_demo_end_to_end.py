"""The demo shop goes through the real importers: nothing rejected, nothing lost, and a
second import of every file changes nothing."""

from __future__ import annotations

import csv
from pathlib import Path

from shopcrm.analytics.kpis import monthly_kpis, shop_totals
from shopcrm.context import AppContext
from shopcrm.demo import generate_demo_shop
from shopcrm.ingest.service import import_file


def test_demo_shop_imports_cleanly_and_idempotently(sqlite_context: AppContext,
                                                    tmp_path: Path) -> None:
    manifest = generate_demo_shop(tmp_path / "demo", customers=300, seed=7)
    reports = [import_file(sqlite_context, f.format, f.path) for f in manifest.files]

    for demo_file, report in zip(manifest.files, reports, strict=True):
        assert report.rejected == 0, (demo_file.format, report.sample_rejects)
        assert report.rows_read == demo_file.rows, demo_file.format
    orders = sqlite_context.warehouse.table("orders")
    stored = sqlite_context.warehouse.execute(orders.count()).as_py()
    with open(manifest.ground_truth, encoding="utf-8") as handle:
        truth_orders = sum(1 for row in csv.DictReader(handle) if row["record_type"] == "order")
    assert stored == truth_orders
    assert shop_totals(sqlite_context.warehouse).orders > 0
    assert len(monthly_kpis(sqlite_context.warehouse)) >= 24

    again = [import_file(sqlite_context, f.format, f.path) for f in manifest.files]
    for report in again:
        assert (report.imported, report.updated, report.rejected) == (0, 0, 0), report.format
        assert report.identities_new == 0 and report.identities_updated == 0, report.format
    assert sqlite_context.warehouse.execute(orders.count()).as_py() == stored
