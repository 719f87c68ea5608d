"""Privacy test helpers: a small shop imported from the fixtures, customer look-ups,
and API clients per built-in role (the pattern of ``tests/api/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shopcrm.api.app import create_app
from shopcrm.context import AppContext
from shopcrm.ingest.service import import_file
from shopcrm.store.models import SourceIdentity

FIXTURES = Path(__file__).parent.parent / "fixtures"
SHOP_FILES = (
    ("taobao-orders", "taobao_orders_gbk.csv"),
    ("shopify-customers", "shopify_customers.csv"),
    ("shopify-orders", "shopify_orders.csv"),
    ("events", "events.jsonl"),
)
PASSWORD = "correct horse battery"

CustomerOf = Callable[[AppContext, str, str], int]


def import_shop(context: AppContext, *, resolve_identities: bool = False) -> AppContext:
    """Taobao orders, Shopify customers and orders, behaviour events.

    王小明 is in both the Taobao and the Shopify export; by default the shop is left
    unresolved (one customer per source record) so each privacy rule is seen on one
    record; ``resolve_identities`` unifies him as a real import does."""
    for format_name, name in SHOP_FILES:
        report = import_file(context, format_name, FIXTURES / name,
                             resolve_identities=resolve_identities)
        assert report.status == "committed", report
    return context


@pytest.fixture
def shop(context: AppContext) -> AppContext:
    """The fixture shop on the parametrised store (SQLite and PostgreSQL)."""
    return import_shop(context)


@pytest.fixture
def customer_of() -> CustomerOf:
    """The customer ID of a source identity: ``customer_of(context, source, key)``."""

    def find(context: AppContext, source: str, external_id: str) -> int:
        with context.sessions() as session:
            found = session.scalar(select(SourceIdentity.customer_id).where(
                SourceIdentity.source == source, SourceIdentity.external_id == external_id))
        assert found is not None, (source, external_id)
        return int(found)

    return find


@pytest.fixture
def app_context(sqlite_context: AppContext) -> AppContext:
    """SQLite with the Shopify part of the shop (what the API tests look at)."""
    for format_name, name in SHOP_FILES[1:3]:
        assert import_file(sqlite_context, format_name, FIXTURES / name).ok
    return sqlite_context


@pytest.fixture
def anonymous(app_context: AppContext) -> TestClient:
    return TestClient(create_app(app_context), raise_server_exceptions=False)


@pytest.fixture
def client_for(app_context: AppContext,
               role_client: Callable[[AppContext, str], TestClient]
               ) -> Callable[[str], TestClient]:
    """A client authenticated by an API key carrying all of the role's permissions."""
    return lambda role: role_client(app_context, role)
