"""Data-subject export (SQLite and PostgreSQL): the customer row, identities with their
personal data, consents, audit entries about the customer, and their orders, order
lines and events from the warehouse — one JSON document, audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from shopcrm.accounts import audit
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.privacy import CustomerNotFound
from shopcrm.privacy.consents import sync_identity_consents
from shopcrm.privacy.export import EXPORT_FORMAT, export_customer
from shopcrm.store.models import AuditEntry

CustomerOf = Callable[[AppContext, str, str], int]
DPO = audit.Actor(user_id=None, label="dpo", ip="10.0.0.7")


def _export(context: AppContext, customer_id: int) -> dict[str, object]:
    with context.sessions.begin() as session:
        document = export_customer(session, warehouse=context.warehouse,
                                   customer_id=customer_id, actor=DPO,
                                   now=context.clock.now())
    # One JSON document: it must survive a round trip unchanged.
    assert json.loads(json.dumps(document, ensure_ascii=False)) == document
    return document


def test_export_holds_identities_consents_and_warehouse_facts(
        shop: AppContext, customer_of: CustomerOf, clock: FakeClock) -> None:
    ming = customer_of(shop, "shopify", "email:ming.wang@example.com")
    with shop.sessions.begin() as session:
        sync_identity_consents(session, customer_id=ming, now=clock.now())
        audit.record(session, audit.SYSTEM, "customer.note", at=clock.now(),
                     target_type="customer", target_id=str(ming), details={"note": "vip"})
        audit.record(session, audit.SYSTEM, "customer.note", at=clock.now(),
                     target_type="customer", target_id=str(ming + 1000))
    clock.advance(timedelta(minutes=5))
    document = _export(shop, ming)

    assert document["format"] == EXPORT_FORMAT
    assert document["customer_id"] == ming
    customer = document["customer"]
    assert isinstance(customer, dict)
    assert (customer["id"], customer["name"], customer["email"], customer["phone"]) == (
        ming, "王小明", "ming.wang@example.com", "+8613812345678")

    identities = document["source_identities"]
    assert isinstance(identities, list)
    assert [(i["source"], i["external_id"]) for i in identities] == [
        ("shopify", "email:ming.wang@example.com")]
    assert identities[0]["address_detail"] and identities[0]["postcode"] == "310012"
    assert identities[0]["attributes"]["accepts_email"] is True

    assert [(c["channel"], c["status"], c["source"]) for c in document["consents"]] == [
        ("email", "granted", "import:shopify-customers"),
        ("sms", "withdrawn", "import:shopify-customers")]
    assert [a["action"] for a in document["audit"]] == ["customer.note"]

    orders = document["orders"]
    assert [(o["source"], o["order_id"], o["paid_amount"]) for o in orders] == [
        ("shopify", "#1001", "290.00")]
    assert orders[0]["created_at"].endswith("+00:00")
    assert "row_hash" not in orders[0]
    assert [(i["order_id"], i["line_no"], i["sku"]) for i in document["order_items"]] == [
        ("#1001", 1, "SKU-ROMPER"), ("#1001", 2, "SKU-HAT")]
    assert document["events"] == []
    assert {b["format"] for b in document["imports"]} == {"shopify-customers",
                                                          "shopify-orders"}


def test_export_holds_events_and_nobody_elses_data(shop: AppContext,
                                                   customer_of: CustomerOf) -> None:
    ming = customer_of(shop, "taobao", "tb_小明_1988")
    document = _export(shop, ming)
    assert [e["event_id"] for e in document["events"]] == ["e3"]
    assert [o["order_id"] for o in document["orders"]] == [
        "3012345678901234501", "3012345678901234502"]
    assert {o["customer_id"] for o in document["orders"]} == {ming}
    text = json.dumps(document, ensure_ascii=False)
    assert "张三" not in text and "li.fang" not in text


def test_export_is_audited(shop: AppContext, customer_of: CustomerOf) -> None:
    ming = customer_of(shop, "taobao", "tb_小明_1988")
    first = _export(shop, ming)
    assert first["audit"] == []  # this export's own entry is not in it …
    with shop.sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "privacy.export")))
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor, entry.ip, entry.target_type, entry.target_id, entry.outcome) == (
        "dpo", "10.0.0.7", "customer", str(ming), "ok")
    assert entry.details == {"identities": 1, "consents": 0, "orders": 2, "order_items": 0,
                             "events": 1}
    second = _export(shop, ming)
    assert [a["action"] for a in second["audit"]] == ["privacy.export"]  # … but in the next


def test_export_of_unknown_customer(shop: AppContext) -> None:
    with shop.sessions() as session, pytest.raises(CustomerNotFound):
        export_customer(session, warehouse=shop.warehouse, customer_id=987654, actor=DPO,
                        now=shop.clock.now())


def test_export_of_a_unified_customer_holds_every_channel(context: AppContext,
                                                          customer_of: CustomerOf) -> None:
    from tests.privacy.conftest import import_shop

    shop = import_shop(context, resolve_identities=True)
    ming = customer_of(shop, "shopify", "email:ming.wang@example.com")
    assert customer_of(shop, "taobao", "tb_小明_1988") == ming
    document = _export(shop, ming)
    assert sorted((i["source"], i["external_id"]) for i in document["source_identities"]) == [
        ("own", "7210448301122"), ("own", "email:ming.wang@example.com"),
        ("shopify", "email:ming.wang@example.com"), ("taobao", "tb_小明_1988")]
    assert {(k["kind"], k["value"]) for k in document["identity_keys"]} >= {
        ("phone", "+8613812345678"), ("email", "ming.wang@example.com")}
    assert sorted(o["order_id"] for o in document["orders"]) == [
        "#1001", "3012345678901234501", "3012345678901234502"]
    assert {o["customer_id"] for o in document["orders"]} == {ming}
    text = json.dumps(document, ensure_ascii=False)
    assert "张三" not in text and "li.fang" not in text
