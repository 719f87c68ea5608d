"""Shared fixtures: a fresh application context per test on SQLite or PostgreSQL.

Store tests take the ``store_url`` fixture, parametrised over both databases. The
PostgreSQL side gets a database of its own per test (created from the server at
``SHOPCRM_TEST_POSTGRES_URL``). In CI an unreachable server is a failure; on a
developer's machine without PostgreSQL those tests are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext, build_context
from shopcrm.settings import Settings

POSTGRES_URL = os.environ.get(
    "SHOPCRM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FIXTURES = Path(__file__).parent / "fixtures"


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any driver error means "not reachable"
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {problem}")
        pytest.skip(f"PostgreSQL not reachable ({problem})")
    return POSTGRES_URL




@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new empty operational store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"shopcrm_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


@pytest.fixture
def make_context(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., AppContext]]:
    """Build contexts over a temporary home; all are closed after the test."""
    made: list[AppContext] = []

    def factory(database_url: str | None = None, home: Path | None = None) -> AppContext:
        settings = Settings(home=home or tmp_path / "home", database_url=database_url)
        context = build_context(settings, clock=clock)
        made.append(context)
        return context

    yield factory
    for context in made:
        context.close()


@pytest.fixture
def context(make_context: Callable[..., AppContext], store_url: str) -> AppContext:
    """An application context on the parametrised store (SQLite and PostgreSQL)."""
    return make_context(store_url)


@pytest.fixture
def sqlite_context(make_context: Callable[..., AppContext]) -> AppContext:
    """An application context on SQLite only (for tests of pure ingest behaviour)."""
    return make_context()


TEST_PASSWORD = "correct horse battery"


@pytest.fixture
def role_client() -> Callable[..., object]:
    """``role_client(context, role)``: a TestClient authenticated by an API key carrying
    all of the role's permissions; the role's user (password ``TEST_PASSWORD``) is
    created on first use — password hashing is deliberately slow."""
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from shopcrm.accounts import audit
    from shopcrm.accounts.permissions import BUILTIN_ROLES
    from shopcrm.accounts.service import create_api_key, create_user
    from shopcrm.api.app import create_app
    from shopcrm.store.models import User

    def make(context: AppContext, role: str) -> TestClient:
        with context.sessions.begin() as session:
            user = session.scalars(select(User).where(User.username == role)).one_or_none()
            if user is None:
                user = create_user(session, username=role, password=TEST_PASSWORD, role=role,
                                   now=context.clock.now())
            key = create_api_key(session, user_id=user.id, name="tests",
                                 scopes=sorted(p.value for p in BUILTIN_ROLES[role]),
                                 now=context.clock.now(), actor=audit.SYSTEM).key
        client = TestClient(create_app(context), raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {key}"
        return client

    return make
