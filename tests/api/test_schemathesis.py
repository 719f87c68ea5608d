"""schemathesis against the app's own OpenAPI schema: whatever it sends, with an admin's
API key, the API never answers 5xx (errors are problem+json 4xx).

The number of examples per operation is bounded (``SHOPCRM_SCHEMATHESIS_EXAMPLES``,
default 25) to keep the suite quick; raise it for a deeper run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from pydantic import TypeAdapter, ValidationError
from schemathesis.checks import not_a_server_error

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import create_api_key, create_user
from shopcrm.api.app import create_app
from shopcrm.clock import FakeClock
from shopcrm.context import build_context
from shopcrm.ingest.service import import_file
from shopcrm.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXAMPLES = int(os.environ.get("SHOPCRM_SCHEMATHESIS_EXAMPLES", "25"))
SCHEMA = schemathesis.openapi.from_dict(create_app().openapi())
INT = TypeAdapter(int)


@dataclass
class Api:
    app: FastAPI
    headers: dict[str, str]
    key_id: int


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("schemathesis") / "home"
    context = build_context(Settings(home=home),
                            clock=FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
    import_file(context, "shopify-customers", FIXTURES / "shopify_customers.csv")
    with context.sessions.begin() as session:
        user = create_user(session, username="admin", password="correct horse battery",
                           role="admin", now=context.clock.now())
        created = create_api_key(session, user_id=user.id, name="schemathesis",
                                 scopes=sorted(p.value for p in Permission),
                                 now=context.clock.now(), actor=audit.SYSTEM)
        key, key_id = created.key, created.record.id
    yield Api(create_app(context), {"X-API-Key": key}, key_id)
    context.close()


def _as_id(value: object) -> int | None:
    """The ID FastAPI would read from a path value (it parses "1", " 1", "1.0"…)."""
    try:
        return INT.validate_python(value)
    except ValidationError:
        return None


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
def test_no_server_errors(case: schemathesis.Case[Any], api: Api) -> None:
    if case.path_parameters and _as_id(case.path_parameters.get("key_id")) == api.key_id:
        # revoking the key the run signs in with would turn the rest into 401s
        case.path_parameters["key_id"] = api.key_id + 1_000_000
    response = case.call_and_validate(app=api.app, headers=api.headers,
                                      checks=[not_a_server_error])
    assert response.status_code != 401, "the run's API key stopped working"


def test_out_of_range_ids_are_refused_not_crashed(api: Api) -> None:
    """Integer path parameters past the 64-bit range the stores hold (schemathesis finds
    these only sometimes; here every time)."""
    from fastapi.testclient import TestClient

    client = TestClient(api.app, raise_server_exceptions=False)
    client.headers.update(api.headers)
    failures = []
    for path, operations in create_app().openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path" or parameter["schema"].get("type") != "integer":
                    continue
                for value in (2**63, 2**64 + 1, -(2**63) - 1):
                    url = path.replace("{" + parameter["name"] + "}", str(value))
                    response = client.request(method.upper(), url, json={})
                    if response.status_code >= 500:
                        failures.append(f"{method.upper()} {url}: {response.status_code}")
    assert failures == []
