"""Erasure (SQLite and PostgreSQL): every personal column of the customer and their
identities is NULL afterwards, identity keys are hashed, consents are withdrawn and
kept, the warehouse figures are unchanged, the erasure is audited with its reason, a
missing reason is refused and a second erasure says so."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, or_, select

from shopcrm.accounts import audit
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.customers.queries import list_customers, order_figures
from shopcrm.ingest.service import import_file
from shopcrm.privacy import ConsentRefused, ErasureRefused
from shopcrm.privacy.consents import (
    consent_history,
    erased_identity_keys,
    record_consent,
    sync_identity_consents,
    to_record,
)
from shopcrm.privacy.erasure import (
    CUSTOMER_PII_COLUMNS,
    IDENTITY_PII_COLUMNS,
    ErasureResult,
    erase_customer,
)
from shopcrm.privacy.export import export_customer
from shopcrm.privacy.rules import CONCRETE_CHANNELS, Channel, Purpose, Status, may_contact
from shopcrm.store.models import AuditEntry, Consent, Customer, SourceIdentity

CustomerOf = Callable[[AppContext, str, str], int]
FIXTURES = Path(__file__).parent.parent / "fixtures"
DPO = audit.Actor(user_id=None, label="dpo", ip="10.0.0.7")
MING_KEY = "email:ming.wang@example.com"
REASON = "DSR-2026-0042: customer asked to be forgotten (email of 2026-11-18)"


def _erase(context: AppContext, customer_id: int, reason: str = REASON) -> ErasureResult:
    with context.sessions.begin() as session:
        return erase_customer(session, customer_id=customer_id, reason=reason, actor=DPO,
                              now=context.clock.now())


def _warehouse_figures(context: AppContext) -> dict[str, Any]:
    orders = context.warehouse.table("orders")
    items = context.warehouse.table("order_items")
    return {
        "orders": orders.count().to_pyarrow().as_py(),
        "per_customer": orders.group_by("customer_id").aggregate(n=orders.count(),
                                                                 paid=orders.paid_amount.sum())
        .order_by("customer_id").to_pyarrow().to_pylist(),
        "items": items.count().to_pyarrow().as_py(),
        "events": context.warehouse.table("events").count().to_pyarrow().as_py(),
    }


@pytest.fixture
def ming(shop: AppContext, customer_of: CustomerOf, clock: FakeClock) -> int:
    """Ming's Shopify customer with every personal column filled, consents from the
    Shopify flags and a WeChat service consent."""
    customer_id = customer_of(shop, "shopify", MING_KEY)
    with shop.sessions.begin() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.gender, customer.birthday = "m", date(1988, 3, 9)  # no importer sets these
        sync_identity_consents(session, customer_id=customer_id, now=clock.now())
        record_consent(session, customer_id=customer_id, channel=Channel.WECHAT,
                       purpose=Purpose.SERVICE, status=Status.GRANTED, source="web",
                       actor=DPO, now=clock.now())
    clock.advance(timedelta(days=1))
    return customer_id


def test_erasure_removes_every_personal_column(shop: AppContext, ming: int) -> None:
    with shop.sessions() as session:
        before = session.scalars(select(SourceIdentity).where(
            SourceIdentity.customer_id == ming)).all()
        old_keys = [i.external_id for i in before]
    result = _erase(shop, ming)
    assert result.erased and result.identities == 1
    assert "erased" in result.message

    with shop.sessions() as session:
        customer_pii = [getattr(Customer, c) for c in CUSTOMER_PII_COLUMNS]
        identity_pii = [getattr(SourceIdentity, c) for c in IDENTITY_PII_COLUMNS]
        # SQL NULL, checked in SQL (a JSON 'null' or an empty string would not pass).
        assert session.scalar(select(func.count()).select_from(Customer).where(
            Customer.id == ming, or_(*[c.is_not(None) for c in customer_pii]))) == 0
        assert session.scalar(select(func.count()).select_from(SourceIdentity).where(
            SourceIdentity.customer_id == ming, or_(*[c.is_not(None) for c in identity_pii]))
        ) == 0
        row = session.execute(select(*customer_pii, Customer.status).where(
            Customer.id == ming)).one()
        assert tuple(row) == (None,) * len(customer_pii) + ("erased",)
        for values in session.execute(select(*identity_pii).where(
                SourceIdentity.customer_id == ming)):
            assert tuple(values) == (None,) * len(identity_pii)
        keys = list(session.scalars(select(SourceIdentity.external_id).where(
            SourceIdentity.customer_id == ming)))
        assert keys == ["erased:" + hashlib.sha256(k.encode()).hexdigest() for k in old_keys]
        # Nothing of Ming is left in any text column of the customer or their identities.
        leftovers = [
            *session.execute(select(Customer).where(Customer.id == ming)).scalars(),
            *session.execute(select(SourceIdentity).where(
                SourceIdentity.customer_id == ming)).scalars()]
        text = " ".join(str(getattr(r, a.key)) for r in leftovers
                        for a in inspect(r).mapper.column_attrs)
        for trace in ("王小明", "ming.wang", "13812345678", "文三路", "310012", "7210448301122",
                      "1988-03-09", "VIP"):
            assert trace not in text
        # Other customers keep theirs; the erased one leaves the customer list.
        assert session.scalar(select(func.count()).select_from(Customer).where(
            Customer.name == "王小明")) == 1  # Ming's separate Taobao customer
        page = list_customers(session, shop.warehouse, size=100)
        assert ming not in {c.id for c in page.items}


def test_warehouse_facts_and_figures_survive(shop: AppContext, ming: int) -> None:
    before = _warehouse_figures(shop)
    figures_before = order_figures(shop.warehouse, [ming])
    assert figures_before[ming][0] == 1
    _erase(shop, ming)
    assert _warehouse_figures(shop) == before
    assert order_figures(shop.warehouse, [ming]) == figures_before


def test_consents_are_withdrawn_and_kept(shop: AppContext, ming: int,
                                         clock: FakeClock) -> None:
    with shop.sessions() as session:
        kept = [r.id for r in consent_history(session, customer_id=ming)]
    result = _erase(shop, ming)
    with shop.sessions() as session:
        history = consent_history(session, customer_id=ming)
        assert [r.id for r in history][:len(kept)] == kept  # the old history is untouched
        added = history[len(kept):]
        assert result.consents_withdrawn == len(added)
        assert {(r.status, r.source, r.actor) for r in added} == {
            ("withdrawn", "erasure", "dpo")}
        assert {(r.channel, r.purpose) for r in added} == {
            ("any", p.value) for p in Purpose} | {("email", "marketing"),
                                                 ("wechat", "service")}
        records = [to_record(r) for r in history]
        for channel in CONCRETE_CHANNELS:
            for purpose in Purpose:
                assert not may_contact(records, channel=channel, purpose=purpose,
                                       now=clock.now())
        with pytest.raises(ConsentRefused, match="erased"):
            record_consent(session, customer_id=ming, channel=Channel.SMS,
                           purpose=Purpose.MARKETING, status=Status.GRANTED, source="api",
                           actor=DPO, now=clock.now())


def test_erasure_is_audited_with_who_when_why(shop: AppContext, ming: int,
                                              clock: FakeClock) -> None:
    _erase(shop, ming)
    with shop.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "privacy.erase")).one()
    assert (entry.actor, entry.ip, entry.target_type, entry.target_id, entry.outcome) == (
        "dpo", "10.0.0.7", "customer", str(ming), "ok")
    assert entry.at.replace(tzinfo=None) == clock.now().replace(tzinfo=None)
    assert entry.details is not None and entry.details["reason"] == REASON


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_erasure_without_a_reason_is_refused(shop: AppContext, ming: int, reason: str) -> None:
    with pytest.raises(ErasureRefused, match="reason is required"):
        _erase(shop, ming, reason)
    with shop.sessions() as session:
        customer = session.get(Customer, ming)
        assert customer is not None
        assert (customer.status, customer.name) == ("active", "王小明")
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_second_erasure_is_a_noop_that_says_so(shop: AppContext, ming: int,
                                               clock: FakeClock) -> None:
    _erase(shop, ming)
    with shop.sessions() as session:
        consents = session.scalar(select(func.count()).select_from(Consent))
    clock.advance(timedelta(days=3))
    again = _erase(shop, ming, "asked again by phone")
    assert not again.erased
    assert f"customer {ming} was already erased on 2026-11-21" in again.message
    assert "nothing was changed" in again.message
    with shop.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == consents
        outcomes = list(session.scalars(select(AuditEntry.outcome).where(
            AuditEntry.action == "privacy.erase").order_by(AuditEntry.id)))
    assert outcomes == ["ok", "noop"]


def test_export_after_erasure_holds_no_personal_data(shop: AppContext, ming: int) -> None:
    _erase(shop, ming)
    with shop.sessions.begin() as session:
        document = export_customer(session, warehouse=shop.warehouse, customer_id=ming,
                                   actor=DPO, now=shop.clock.now())
    assert document["customer"]["status"] == "erased"
    assert document["customer"]["name"] is None
    assert all(i["email"] is None for i in document["source_identities"])
    assert [o["order_id"] for o in document["orders"]] == ["#1001"]


def test_reimport_after_erasure_is_recognised(shop: AppContext, ming: int,
                                              customer_of: CustomerOf, clock: FakeClock
                                              ) -> None:
    """What happens when an old export is imported again (documented in architecture.md):
    the person comes back as a *new* customer, their old orders stay with the erased ID,
    the returning key is recognisable, and their old flags grant no marketing."""
    _erase(shop, ming)
    clock.advance(timedelta(days=1))
    import_file(shop, "shopify-customers", FIXTURES / "shopify_customers.csv",
                resolve_identities=False)
    report = import_file(shop, "shopify-orders", FIXTURES / "shopify_orders.csv",
                         resolve_identities=False)
    assert report.imported == 0  # the orders are duplicates: facts keep the erased ID
    returning = customer_of(shop, "shopify", MING_KEY)
    assert returning != ming
    with shop.sessions.begin() as session:
        assert erased_identity_keys(session, source="shopify",
                                    external_ids=[MING_KEY, "email:li.fang@example.com"]
                                    ) == {MING_KEY}
        added = sync_identity_consents(session, customer_id=returning, now=clock.now())
        assert [(r.channel, r.status) for r in added] == [("sms", "withdrawn")]
        records = [to_record(r) for r in consent_history(session, customer_id=returning)]
    assert not may_contact(records, channel=Channel.EMAIL, purpose=Purpose.MARKETING,
                           now=clock.now())
    assert order_figures(shop.warehouse, [ming])[ming][0] == 1
    assert returning not in order_figures(shop.warehouse, [returning])
