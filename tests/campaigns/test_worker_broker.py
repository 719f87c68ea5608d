"""Dispatch on dramatiq worker processes over the real Redis on this machine: two
worker processes share one campaign (two messages queued in parallel) and every
treated customer gets exactly one message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.campaigns.conftest import add_people, counts, launch, sms_plan

from shopcrm.campaigns.config import load_settings
from shopcrm.campaigns.models import Campaign
from shopcrm.context import AppContext
from shopcrm.store.models import AuditEntry

REDIS_URL = os.environ.get("SHOPCRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is required in CI: {exc}")
        pytest.skip(f"Redis not reachable ({exc})")
    namespace = f"shopcrm-test-{uuid.uuid4().hex[:10]}"
    yield namespace
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()


@pytest.mark.slow
def test_two_worker_processes_send_each_message_once(context: AppContext,
                                                     redis_namespace: str) -> None:
    home = context.settings.home
    home.mkdir(parents=True, exist_ok=True)
    (home / "campaigns.toml").write_text(
        f'secret = "w"\nquiet_hours = {{}}\nbatch_size = 20\nbroker_url = "{REDIS_URL}"\n'
        f'broker_namespace = "{redis_namespace}"\n', encoding="utf-8")
    people = add_people(context, range(1, 301))
    campaign_id = launch(context, sms_plan(people))
    env = {**os.environ, "PYTHONPATH": str(SRC), "SHOPCRM_HOME": str(home),
           "SHOPCRM_DATABASE_URL": context.settings.resolved_database_url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "shopcrm.campaigns.worker", "--processes", "2",
         "--threads", "1"], env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        from shopcrm.campaigns.worker import enqueue

        config = load_settings(context.settings)
        assert enqueue(context, config, campaign_id=campaign_id, parallel=2) == 1
        deadline = time.monotonic() + 180
        while True:
            with context.sessions() as session:
                campaign = session.get(Campaign, campaign_id)
                assert campaign is not None
                status = campaign.status
            if status == "done":
                break
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"workers ended or stalled ({status}): "
                            f"{worker.stdout.read().decode() if worker.stdout else ''}")
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    lines = (home / "outbox" / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    found = counts(context, campaign_id)
    assert len(keys) == len(set(keys)) == found["sent"] == found["audience"] - found["holdout"]
    with context.sessions() as session:
        workers = {entry.details["worker"] for entry in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "campaign.dispatch",
            AuditEntry.target_id == str(campaign_id)))}
    assert workers  # which processes took part (both, usually) is not asserted
