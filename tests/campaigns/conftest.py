"""Campaign test helpers: customers with phones, e-mails and consents in the store,
campaign plans, a dispatcher wired to loopback providers or a file sink, and the
channel fakes of ``tests/channels/fakes`` (a real SMTP server and SMS gateway)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).parent.parent / "channels"))

from fakes.sms_gateway import FakeSmsGateway
from fakes.smtp import SmtpServer

from shopcrm.accounts import audit
from shopcrm.campaigns import service
from shopcrm.campaigns.config import CampaignSettings, ChannelSet, load_settings
from shopcrm.campaigns.dispatch import Dispatcher
from shopcrm.campaigns.specs import CampaignSpec
from shopcrm.channels.base import ChannelAdapter
from shopcrm.channels.filesink import FileSinkChannel
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.store.models import Consent, Customer

MARKETER = audit.Actor(1, "marketer")


def phone_of(customer_id: int) -> str:
    return f"+86139{customer_id:08d}"


def email_of(customer_id: int) -> str:
    return f"c{customer_id}@example.com"


def add_people(context: AppContext, ids: range | list[int], *, consent: tuple[str, ...] = (
        "sms", "email"), name: str = "王小明", status: str = "active") -> list[int]:
    """Customers with a phone, an e-mail and granted marketing consent per channel."""
    now = context.clock.now()
    people = list(ids)
    with context.sessions.begin() as session:
        session.execute(insert(Customer), [
            {"id": i, "status": status, "name": name, "phone": phone_of(i), "email": email_of(i),
             "city": "杭州", "province": "浙江省", "created_at": now, "updated_at": now}
            for i in people])
        rows = [{"customer_id": i, "channel": ch, "purpose": "marketing", "status": "granted",
                 "source": "api", "at": now - timedelta(days=30), "actor": "test"}
                for i in people for ch in consent]
        if rows:
            session.execute(insert(Consent), rows)
    return people


def sms_plan(customer_ids: list[int], **changes: Any) -> CampaignSpec:
    data: dict[str, Any] = {
        "name": "双11预热", "channel": "sms",
        "audience": {"kind": "list", "customer_ids": customer_ids},
        "content": {"variants": [
            {"name": "A", "body": "{{ customer.name }}，双11会员专享券已到账"},
            {"name": "B", "body": "{{ customer.surname }}先生/女士，双11大促开始啦"}]},
        "experiment": {"holdout_share": 0.1}}
    data.update(changes)
    return CampaignSpec.model_validate(data)


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., CampaignSettings]:
    def make(context: AppContext, **overrides: Any) -> CampaignSettings:
        base: dict[str, Any] = {"public_url": "https://crm.example.cn", "shop_name": "好物小店",
                                "secret": "test-secret", "batch_size": 50,
                                "retry": {"max_attempts": 3, "base_seconds": 10,
                                          "cap_seconds": 60}}
        base.update(overrides)
        return load_settings(context.settings, base)

    return make


@pytest.fixture
def sink_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox" / "messages.jsonl"


def sink_channels(path: Path, *kinds: str) -> ChannelSet:
    from shopcrm.channels.base import ChannelKind

    factories: dict[str, Callable[[], ChannelAdapter]] = {}
    for kind in kinds or ("sms", "email", "file", "push", "inbox", "wechat", "webhook"):
        factories[kind] = (lambda k=kind: FileSinkChannel(path, kind=ChannelKind(k)))
    return ChannelSet(factories)


def launch(context: AppContext, spec: CampaignSpec) -> int:
    with context.sessions.begin() as session:
        campaign = service.create_campaign(session, spec=spec, actor=MARKETER,
                                           now=context.clock.now())
        campaign_id = campaign.id
    service.launch(context, campaign_id=campaign_id, actor=MARKETER)
    return campaign_id


def dispatcher(context: AppContext, config: CampaignSettings, channels: ChannelSet,
               **kwargs: Any) -> Dispatcher:
    clock = context.clock
    assert isinstance(clock, FakeClock)
    return Dispatcher(context, channels=channels, config=config,
                      sleep=lambda s: clock.advance(timedelta(seconds=s)), **kwargs)


def counts(context: AppContext, campaign_id: int) -> dict[str, int]:
    with context.sessions() as session:
        return service.counts(session, campaign_id=campaign_id,
                              now=context.clock.now()).as_dict()


@pytest.fixture
def sms_gateway() -> Iterator[FakeSmsGateway]:
    gateway = FakeSmsGateway().start()
    yield gateway
    gateway.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


_BATCH = iter(range(700_000, 800_000))


def write_facts(context: AppContext, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Publish fact rows (one batch) the way an import does: Parquet files and a
    manifest; columns not given are NULL, ``day`` defaults to the date of
    ``created_at``."""
    import duckdb
    import pyarrow as pa

    from shopcrm.warehouse.engine import arrow_schema
    from shopcrm.warehouse.tables import FACT_TABLES

    table = FACT_TABLES[table_name]
    schema = arrow_schema(table)
    batch_id = next(_BATCH)
    filled = []
    for row in rows:
        row = dict(row)
        if "day" in table.column_names and row.get("day") is None and row.get("created_at"):
            row["day"] = row["created_at"].date()
        row.setdefault("batch_id", batch_id)
        row.setdefault("row_hash", str(hash(tuple(sorted(map(str, row.items()))))))
        if "identity_id" in table.column_names:
            row.setdefault("identity_id", row.get("customer_id"))
        filled.append(row)
    data = pa.table({f.name: [r.get(f.name) for r in filled] for f in schema}, schema=schema)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("incoming", data)
    context.facts.ensure()
    with context.facts.writer_lock():
        writer = context.facts.begin(batch_id)
        writer.write(con, table, f"SELECT {', '.join(table.column_names)} FROM incoming")
        writer.prepare()
        writer.publish()
    con.close()
