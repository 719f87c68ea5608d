"""One Warehouse serves every request thread: concurrent queries must not collide."""

from __future__ import annotations

import threading
from pathlib import Path

from shopcrm.analytics.kpis import monthly_kpis, shop_totals
from shopcrm.context import AppContext
from shopcrm.customers.queries import order_figures
from shopcrm.ingest.service import import_file

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_concurrent_queries(sqlite_context: AppContext) -> None:
    import_file(sqlite_context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(15):
            try:
                monthly_kpis(sqlite_context.warehouse)
                shop_totals(sqlite_context.warehouse)
                order_figures(sqlite_context.warehouse, [1, 2, 3])
            except BaseException as exc:  # collected, then asserted in the main thread
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
