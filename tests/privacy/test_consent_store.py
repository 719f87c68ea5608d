"""The consent history in the store (SQLite and PostgreSQL): append-only records, the
current state, decisions, Shopify flags turned into consents idempotently, and the
migration matching the model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from shopcrm.accounts import audit
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.ingest.service import import_file
from shopcrm.privacy import CustomerNotFound
from shopcrm.privacy.consents import (
    consent_history,
    contact_decision,
    current_consent_rows,
    record_consent,
    records_by_customer,
    sync_identity_consents,
)
from shopcrm.privacy.rules import Channel, Purpose, Status, may_contact
from shopcrm.store import migrate
from shopcrm.store.models import Consent
from shopcrm.store.schema import Base

FIXTURES = Path(__file__).parent.parent / "fixtures"
CustomerOf = Callable[[AppContext, str, str], int]

CLERK = audit.Actor(user_id=None, label="clerk")
MING_SHOPIFY = ("shopify", "email:ming.wang@example.com")
FANG_SHOPIFY = ("shopify", "email:li.fang@example.com")


def _record(context: AppContext, customer_id: int, channel: Channel, status: Status,
            purpose: Purpose = Purpose.MARKETING, source: str = "api") -> None:
    with context.sessions.begin() as session:
        record_consent(session, customer_id=customer_id, channel=channel, purpose=purpose,
                       status=status, source=source, actor=CLERK, now=context.clock.now())


def test_history_is_append_only_and_newest_is_current(
        shop: AppContext, customer_of: CustomerOf, clock: FakeClock) -> None:
    ming = customer_of(shop, "taobao", "tb_小明_1988")
    _record(shop, ming, Channel.SMS, Status.GRANTED, source="web")
    clock.advance(timedelta(days=1))
    _record(shop, ming, Channel.EMAIL, Status.GRANTED)
    clock.advance(timedelta(days=1))
    _record(shop, ming, Channel.SMS, Status.WITHDRAWN, source="sms-reply")
    _record(shop, ming, Channel.SMS, Status.GRANTED)  # same instant: written last wins
    _record(shop, ming, Channel.SMS, Status.WITHDRAWN, source="sms-reply")
    now = clock.now()
    with shop.sessions() as session:
        history = consent_history(session, customer_id=ming)
        assert [(r.channel, r.status, r.source) for r in history] == [
            ("sms", "granted", "web"), ("email", "granted", "api"),
            ("sms", "withdrawn", "sms-reply"), ("sms", "granted", "api"),
            ("sms", "withdrawn", "sms-reply")]
        assert {r.actor for r in history} == {"clerk"}
        current = current_consent_rows(session, customer_id=ming, now=now)
        assert [(r.channel, r.status) for r in current] == [
            ("email", "granted"), ("sms", "withdrawn")]
        assert current[1].id == history[-1].id
        assert not contact_decision(session, customer_id=ming, channel=Channel.SMS,
                                    purpose=Purpose.MARKETING, now=now).allowed
        assert contact_decision(session, customer_id=ming, channel=Channel.EMAIL,
                                purpose=Purpose.MARKETING, now=now).allowed
        # As of yesterday only the first two records were in force.
        yesterday = [(r.channel, r.status) for r in current_consent_rows(
            session, customer_id=ming, now=now - timedelta(hours=12))]
        assert yesterday == [("email", "granted"), ("sms", "granted")]
        assert session.scalar(select(func.count()).select_from(Consent)) == 5


def test_any_channel_withdrawal_in_the_store(shop: AppContext, customer_of: CustomerOf,
                                             clock: FakeClock) -> None:
    zhang = customer_of(shop, "taobao", "zhang_san")
    other = customer_of(shop, "taobao", "李女士88")
    _record(shop, zhang, Channel.WECHAT, Status.GRANTED)
    _record(shop, other, Channel.WECHAT, Status.GRANTED)
    clock.advance(timedelta(minutes=1))
    _record(shop, zhang, Channel.ANY, Status.WITHDRAWN)
    with shop.sessions() as session:
        histories = records_by_customer(session, customer_ids=[zhang, other, 999_999])
    assert histories[999_999] == []
    assert not may_contact(histories[zhang], channel=Channel.WECHAT, purpose=Purpose.MARKETING,
                           now=clock.now())
    assert may_contact(histories[other], channel=Channel.WECHAT, purpose=Purpose.MARKETING,
                       now=clock.now())
    assert may_contact(histories[zhang], channel=Channel.WECHAT, purpose=Purpose.SERVICE,
                       now=clock.now())


def test_unknown_customer_and_bad_source(shop: AppContext, customer_of: CustomerOf) -> None:
    with shop.sessions() as session, pytest.raises(CustomerNotFound, match="no customer 424242"):
        consent_history(session, customer_id=424242)
    with shop.sessions() as session, pytest.raises(CustomerNotFound):
        record_consent(session, customer_id=424242, channel=Channel.SMS,
                       purpose=Purpose.MARKETING, status=Status.GRANTED, source="api",
                       actor=CLERK, now=shop.clock.now())
    ming = customer_of(shop, "taobao", "tb_小明_1988")
    with shop.sessions() as session, pytest.raises(ValueError, match="consent source"):
        record_consent(session, customer_id=ming, channel=Channel.SMS,
                       purpose=Purpose.MARKETING, status=Status.GRANTED, source="Bad Source",
                       actor=CLERK, now=shop.clock.now())


def _sync(context: AppContext, customer_id: int) -> list[tuple[str, str, str]]:
    with context.sessions.begin() as session:
        added = sync_identity_consents(session, customer_id=customer_id,
                                       now=context.clock.now())
        return [(r.channel, r.purpose, r.status) for r in added]


def test_shopify_flags_become_consents_once(shop: AppContext, customer_of: CustomerOf,
                                            clock: FakeClock) -> None:
    ming = customer_of(shop, *MING_SHOPIFY)
    fang = customer_of(shop, *FANG_SHOPIFY)
    assert _sync(shop, ming) == [("email", "marketing", "granted"),
                                 ("sms", "marketing", "withdrawn")]
    assert _sync(shop, fang) == [("email", "marketing", "withdrawn"),
                                 ("sms", "marketing", "granted")]
    clock.advance(timedelta(hours=1))
    assert _sync(shop, ming) == []  # running twice adds nothing
    import_file(shop, "shopify-customers", FIXTURES / "shopify_customers.csv",
                resolve_identities=False)
    assert _sync(shop, ming) == []  # nor does importing the same export again
    with shop.sessions() as session:
        rows = consent_history(session, customer_id=ming)
        assert {r.source for r in rows} == {"import:shopify-customers"}
        assert len(rows) == 2
        # Customers without Shopify flags get nothing.
        taobao = customer_of(shop, "taobao", "tb_小明_1988")
        assert sync_identity_consents(session, customer_id=taobao, now=clock.now()) == []


def test_later_withdrawal_survives_a_resync_and_changed_flags_are_recorded(
        shop: AppContext, customer_of: CustomerOf, clock: FakeClock, tmp_path: Path) -> None:
    ming = customer_of(shop, *MING_SHOPIFY)
    _sync(shop, ming)
    clock.advance(timedelta(days=1))
    _record(shop, ming, Channel.EMAIL, Status.WITHDRAWN, source="email-reply")
    clock.advance(timedelta(days=1))
    assert _sync(shop, ming) == []  # the old export does not grant again
    with shop.sessions() as session:
        assert not contact_decision(session, customer_id=ming, channel=Channel.EMAIL,
                                    purpose=Purpose.MARKETING, now=clock.now()).allowed
    # A newer export in which Ming accepts SMS marketing is a real change.
    text = (FIXTURES / "shopify_customers.csv").read_text(encoding="utf-8")
    changed = tmp_path / "customers-later.csv"
    changed.write_text(text.replace("+8613812345678,no,", "+8613812345678,yes,"),
                       encoding="utf-8")
    report = import_file(shop, "shopify-customers", changed, resolve_identities=False)
    assert report.identities_updated == 1, report
    clock.advance(timedelta(days=1))
    assert _sync(shop, ming) == [("sms", "marketing", "granted")]
    assert _sync(shop, ming) == []
    with shop.sessions() as session:
        assert contact_decision(session, customer_id=ming, channel=Channel.SMS,
                                purpose=Purpose.MARKETING, now=clock.now()).allowed


def test_migration_matches_the_model(context: AppContext) -> None:
    with context.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "consents" in repr(d)] == []
    migrate.downgrade(context.engine, "0002")
    assert "consents" not in inspect(context.engine).get_table_names()
    migrate.upgrade(context.engine)
    assert "consents" in inspect(context.engine).get_table_names()
    assert {i["name"] for i in inspect(context.engine).get_indexes("consents")} == {
        "ix_consents_customer_key"}
