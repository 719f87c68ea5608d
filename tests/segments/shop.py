"""A tiny shop for the segment and tag tests: orders of named members imported through the
real generic importer (so customers, identities and facts are what production makes)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shopcrm.context import AppContext
from shopcrm.ingest.service import import_file

MAPPING = """kind = "orders"
source = "miniapp"
address = "parts"
[columns]
order_id = "order"
buyer_id = "member"
created_at = "created"
paid_amount = "paid"
status = "status"
promo_type = "promo"
phone = "phone"
email = "email"
name = "name"
province = "province"
city = "city"
[status]
"done" = "completed"
"unpaid" = "pending"
"""
COLUMNS = ("order", "member", "created", "paid", "status", "promo", "phone", "email", "name",
           "province", "city")
PEOPLE: dict[str, dict[str, str]] = {
    "alice": {"phone": "13800138001", "email": "alice@example.com", "name": "王丽",
              "province": "浙江省", "city": "杭州市"},
    "bob": {"phone": "13800138002", "email": "bob@example.com", "name": "李强",
            "province": "上海市", "city": "上海市"},
    "carol": {"phone": "13800138003", "email": "carol@example.com", "name": "张敏",
              "province": "浙江省", "city": "宁波市"},
    "dave": {"phone": "13800138004", "email": "dave@example.com", "name": "刘洋",
             "province": "广东省", "city": "广州市"},
}


def order(order_id: str, member: str, created: str, paid: str, *, status: str = "done",
          promo: str = "") -> dict[str, Any]:
    return {"order": order_id, "member": member, "created": created, "paid": paid,
            "status": status, "promo": promo, **PEOPLE[member]}


def import_orders(context: AppContext, folder: Path, name: str,
                  rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mapping = folder / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    data = folder / f"{name}.csv"
    with open(data, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    report = import_file(context, "generic", data, mapping=mapping)
    assert report.rejected == 0, report.sample_rejects


def customer_ids(context: AppContext) -> dict[str, int]:
    """Member number → customer ID."""
    from shopcrm.store.models import SourceIdentity

    with context.sessions() as session:
        rows = session.execute(select(SourceIdentity.external_id, SourceIdentity.customer_id))
        return {str(e): int(c) for e, c in rows if c is not None}
