"""Contact-point test helpers: registering openids and tokens straight through the
service, and the loopback WeChat API and push service of ``tests/channels/fakes``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "channels"))

from fakes.receiver import Receiver
from fakes.wechat import FakeWeChatApi
from tests.campaigns.conftest import settings_for  # noqa: F401  (a fixture)

from shopcrm.accounts import audit
from shopcrm.contacts.models import ContactPoint
from shopcrm.contacts.rules import validate
from shopcrm.contacts.service import register
from shopcrm.context import AppContext

SITE = audit.Actor(None, "site")


def add_contact(context: AppContext, customer_id: int, *, kind: str, app_id: str,
                address: str, platform: str | None = None,
                at: datetime | None = None) -> int:
    item = validate(kind=kind, app_id=app_id, address=address, platform=platform)
    with context.sessions.begin() as session:
        done = register(session, customer_id=customer_id, item=item, source="test",
                        now=at or context.clock.now(), actor=SITE)
        return done.contact.id


def contact_status(context: AppContext, contact_id: int) -> tuple[str, str | None]:
    with context.sessions() as session:
        row = session.get(ContactPoint, contact_id)
        assert row is not None
        return row.status, row.disabled_reason


@pytest.fixture
def wechat_api() -> Iterator[FakeWeChatApi]:
    api = FakeWeChatApi(followers={"oFollowerAAAA1", "oFollowerBBBB2", "oOtherAppCCC3"})
    api.start()
    yield api
    api.stop()


@pytest.fixture
def push_service() -> Iterator[Receiver]:
    service = Receiver(bearer="push-secret").start()
    yield service
    service.stop()
