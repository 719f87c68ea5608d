"""Page-test helpers: one small shop per test module (the Taobao and Shopify fixture
files imported through the real importers) and signed-in browsers (TestClient with a
session cookie) per user. Users and imports are made once per module: argon2 hashing
and DuckDB imports are what makes these tests slow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shopcrm.accounts.service import create_role, create_user, ensure_builtin_roles
from shopcrm.api.app import create_app
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext, build_context
from shopcrm.ingest.service import import_file
from shopcrm.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
PASSWORD = "correct horse battery"
USERS = {"admin": "admin", "agent": "agent", "analyst": "analyst", "auditor": "auditor"}
"""username → role; ``auditor`` is a custom role holding only view_audit."""


@dataclass
class Shop:
    context: AppContext
    clients: dict[str, TestClient] = field(default_factory=dict)

    def client(self, username: str, *, lang: str = "zh_CN") -> TestClient:
        """A browser signed in as ``username`` (one per user and language)."""
        key = f"{username}:{lang}"
        if key not in self.clients:
            client = TestClient(create_app(self.context), raise_server_exceptions=False)
            client.cookies.set("lang", lang)
            response = client.post("/login", data={"username": username,
                                                   "password": PASSWORD},
                                   follow_redirects=False)
            assert response.status_code == 303, response.text
            self.clients[key] = client
        return self.clients[key]

    def anonymous(self) -> TestClient:
        return TestClient(create_app(self.context), raise_server_exceptions=False)

    def customer_id(self, name: str, source: str) -> int:
        from sqlalchemy import select

        from shopcrm.store.models import Customer, SourceIdentity

        with self.context.sessions() as session:
            found = session.scalars(
                select(Customer.id).join(SourceIdentity, SourceIdentity.customer_id == Customer.id)
                .where(Customer.name == name, SourceIdentity.source == source)).first()
        assert found is not None, (name, source)
        return int(found)


def make_shop(home: Path) -> AppContext:
    context = build_context(Settings(home=home),
                            clock=FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    import_file(context, "shopify-customers", FIXTURES / "shopify_customers.csv")
    now = context.clock.now()
    with context.sessions.begin() as session:
        ensure_builtin_roles(session, now=now)
        create_role(session, name="auditor", permissions=["view_audit"], now=now)
        for username, role in USERS.items():
            create_user(session, username=username, password=PASSWORD, role=role, now=now)
    return context


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    context = make_shop(tmp_path_factory.mktemp("shop") / "home")
    yield Shop(context)
    context.close()


@pytest.fixture
def signed_in(shop: Shop) -> Callable[..., TestClient]:
    return shop.client
