"""API test helpers: users of each role with API keys, and signed-in browsers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from shopcrm.accounts.permissions import BUILTIN_ROLES
from shopcrm.accounts.service import create_user
from shopcrm.api.app import create_app
from shopcrm.context import AppContext

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
