"""Shared fixtures: a fresh application context per test on SQLite or PostgreSQL.

Store tests take the ``store_url`` fixture, parametrised over both databases. The
PostgreSQL side gets a database of its own per test (created from the server at
``SHOPCRM_TEST_POSTGRES_URL``). In CI an unreachable server is a failure; on a
developer's machine without PostgreSQL those tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext, build_context
from shopcrm.settings import Settings
from shopcrm.store import migrate
from shopcrm.store.db import make_engine

# pytest-xdist gives its workers COLUMNS=80; the CLI's Rich consoles, created when the
# test modules import the CLI, would keep that width for good and cut table cells. The
# CLI tests set the width they want per test.
os.environ.pop("COLUMNS", None)

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




def _migrated(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session. Each test's store is a copy: running
    the migrations costs ~0.3 s a store, copying the file a few milliseconds. (The
    migrations from an empty database still run here, once, and ``test_schema``
    compares their result with the models.)"""
    path = tmp_path_factory.mktemp("template") / "store.sqlite"
    _migrated(f"sqlite:///{path}")  # the last connection to close folds the WAL in
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL database migrated once per session, the template each test's
    database is created from (``CREATE DATABASE … TEMPLATE``: ~0.2 s, where migrating
    a new database takes ~1 s)."""
    name = f"shopcrm_tpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _migrated(make_url(postgres_server).set(database=name)
                  .render_as_string(hide_password=False))
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path,
              sqlite_template: Path) -> Iterator[str]:
    """A brand-new operational store at the newest schema, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name = f"shopcrm_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
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
def make_context(tmp_path: Path, clock: FakeClock,
                 sqlite_template: Path) -> Iterator[Callable[..., AppContext]]:
    """Build contexts over a temporary home; all are closed after the test. A home's
    default SQLite store starts as a copy of the session's migrated template."""
    made: list[AppContext] = []

    def factory(database_url: str | None = None, home: Path | None = None) -> AppContext:
        settings = Settings(home=home or tmp_path / "home", database_url=database_url)
        default_store = settings.home / "shopcrm.sqlite"
        if database_url is None and not default_store.exists():
            default_store.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sqlite_template, default_store)
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


def make_role_client(context: AppContext, role: str) -> object:
    """A TestClient authenticated by an API key carrying all of the role's permissions;
    the role's user (password ``TEST_PASSWORD``) is created on first use — password
    hashing is deliberately slow."""
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from shopcrm.accounts import audit
    from shopcrm.accounts.permissions import BUILTIN_ROLES
    from shopcrm.accounts.service import create_api_key, create_user
    from shopcrm.api.app import create_app
    from shopcrm.store.models import User

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


@pytest.fixture(scope="session")
def role_client() -> Callable[..., object]:
    """``role_client(context, role)``: see ``make_role_client``."""
    return make_role_client


XDIST_GROUPS = {
    "browser": lambda item: "/browser/" in str(item.path),
    "spark": lambda item: "spark_session" in getattr(item, "fixturenames", ())
    or "spark" in getattr(item, "fixturenames", ()),
}
"""Tests that share an expensive per-process resource (a served shop and Chromium; a
local Spark JVM) run on one worker under ``pytest -n`` (``--dist loadgroup``), so the
resource starts once, not once per worker."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    name_duplicate_node_ids(items)
    for item in items:
        for group, belongs in XDIST_GROUPS.items():
            if belongs(item):
                item.add_marker(pytest.mark.xdist_group(group))
                break


def name_duplicate_node_ids(items: list[pytest.Item]) -> None:
    """Give tests that share a node ID one built from their own name.

    schemathesis (4.32) hands pytest 9 its per-operation tests with ``originalname`` set,
    and pytest 9.2 builds the node ID from that, so all 106 API operations come out as
    ``test_no_server_errors``. Run serially that only blurs the report; pytest-xdist
    schedules by node ID and would run one of them. The names carry the operation
    (``test_no_server_errors[GET /health]``), so they make the IDs unique again.
    """
    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1 and item.name.endswith("]") and "[" in item.name:
            params = item.name[item.name.index("[") + 1:-1]
            item._id = item._id.with_params(params)
