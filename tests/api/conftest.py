"""API test helpers: users of each role with API keys, and signed-in browsers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shopcrm.accounts.permissions import BUILTIN_ROLES
from shopcrm.accounts.service import create_user
from shopcrm.api.app import create_app
from shopcrm.clock import FakeClock
from shopcrm.context import AppContext, build_context
from shopcrm.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def app_context(sqlite_context: AppContext) -> AppContext:
    with sqlite_context.sessions.begin() as session:
        now = sqlite_context.clock.now()
        for role in BUILTIN_ROLES:
            create_user(session, username=role, password=PASSWORD, role=role, now=now)
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


@pytest.fixture
def admin(client_for: Callable[[str], TestClient]) -> TestClient:
    return client_for("admin")


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    response = client.post("/login", data={"username": username, "password": password},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


@pytest.fixture
def browser_login() -> Callable[..., None]:
    """Sign a TestClient in through the login form (session cookie)."""
    return sign_in


@pytest.fixture(scope="module")
def shared_app_context(tmp_path_factory: pytest.TempPathFactory,
                       sqlite_template: Path) -> Iterator[AppContext]:
    """One store with a user per role, for a module's generated access checks: hundreds
    of requests refused before any handler runs, so nothing one leaves can change the
    next. A store per check cost ~1.4 s each, mostly the deliberately slow hashing of
    the users' passwords."""
    home = tmp_path_factory.mktemp("shared-app")
    shutil.copyfile(sqlite_template, home / "shopcrm.sqlite")
    context = build_context(Settings(home=home),
                            clock=FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    with context.sessions.begin() as session:
        for role in BUILTIN_ROLES:
            create_user(session, username=role, password=PASSWORD, role=role,
                        now=context.clock.now())
    yield context
    context.close()


@pytest.fixture(scope="module")
def shared_anonymous(shared_app_context: AppContext) -> TestClient:
    return TestClient(create_app(shared_app_context), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def shared_client_for(shared_app_context: AppContext,
                      role_client: Callable[[AppContext, str], TestClient]
                      ) -> Callable[[str], TestClient]:
    """Like ``client_for``, over the shared store; one client per role."""
    made: dict[str, TestClient] = {}

    def client(role: str) -> TestClient:
        if role not in made:
            made[role] = role_client(shared_app_context, role)
        return made[role]

    return client
