"""Crash safety: a dispatcher killed with SIGKILL in the middle of sending, then
restarted, leaves no customer without their message and none with two.

The dispatcher runs as a real ``shopcrm campaign dispatch`` process (throttled so that
it is certainly mid-send when killed) against the file sink and against the loopback
SMS gateway; it is killed three times at different points and restarted with
``--take-over`` each time. A deterministic test covers the narrowest window —
messages handed to the channel but the process dead before recording them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.campaigns.conftest import (
    add_people,
    counts,
    dispatcher,
    launch,
    sink_channels,
    sms_plan,
)
from tests.channels.fakes.sms_gateway import FakeSmsGateway

from shopcrm.campaigns.config import CampaignSettings
from shopcrm.campaigns.dispatch import Dispatcher
from shopcrm.campaigns.models import Campaign, Delivery
from shopcrm.campaigns.respect import delivery_key
from shopcrm.context import AppContext

SRC = Path(__file__).resolve().parents[2] / "src"
PEOPLE = 400


def _write_config(home: Path, extra: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "campaigns.toml").write_text(
        'public_url = "https://crm.example.cn"\nshop_name = "好物小店"\n'
        'secret = "kill-test-secret"\nbatch_size = 25\nquiet_hours = {}\n'
        '[rate_limits]\nsms = 250\n' + extra, encoding="utf-8")


def _dispatch_process(context: AppContext, campaign_id: int, *take_over: str
                      ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "SHOPCRM_HOME": str(context.settings.home),
           "SHOPCRM_DATABASE_URL": context.settings.resolved_database_url}
    return subprocess.Popen(
        [sys.executable, "-c", "from shopcrm.cli.main import app; app()", "campaign",
         "dispatch", str(campaign_id), *take_over],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_when(process: subprocess.Popen[bytes], progress: Callable[[], int],
               at_least: int) -> None:
    deadline = time.monotonic() + 120
    while progress() < at_least:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the dispatcher ended before it was killed: {out!r} {err!r}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the dispatcher made no progress")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _run_to_the_end(context: AppContext, campaign_id: int) -> None:
    process = _dispatch_process(context, campaign_id, "--take-over")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, (out, err)


def _treated(context: AppContext, campaign_id: int) -> set[str]:
    with context.sessions() as session:
        rows = session.execute(select(Delivery.step, Delivery.customer_id).where(
            Delivery.campaign_id == campaign_id, Delivery.arm != "holdout")).all()
    return {delivery_key(campaign_id, step, customer) for step, customer in rows}


def _sink_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_send_to_the_file_sink(context: AppContext) -> None:
    home = context.settings.home
    _write_config(home)
    add_people(context, range(1, PEOPLE + 1))
    campaign_id = launch(context, sms_plan(list(range(1, PEOPLE + 1))))
    sink = home / "outbox" / "sms.jsonl"

    def lines_while_a_batch_is_claimed() -> int:
        # The kill follows a look at the store that saw a claimed batch: between batches
        # (the rate limit's pauses) a busy machine's polling lag would otherwise land
        # every kill after a batch's commit.
        with context.sessions() as session:
            claimed = session.scalar(select(Delivery.id).where(
                Delivery.campaign_id == campaign_id, Delivery.status == "sending").limit(1))
        return _sink_lines(sink) if claimed is not None else 0

    mid_batch = 0
    for share in (0.15, 0.4, 0.7):
        _kill_when(_dispatch_process(context, campaign_id, "--take-over"),
                   lines_while_a_batch_is_claimed, int(PEOPLE * share))
        with context.sessions() as session:
            mid_batch += session.scalar(select(Delivery.id).where(
                Delivery.campaign_id == campaign_id, Delivery.status == "sending").limit(1)
            ) is not None
    assert mid_batch > 0  # it really died in the middle of a batch (at least once)
    _run_to_the_end(context, campaign_id)
    keys = [json.loads(line)["key"] for line in sink.read_text(encoding="utf-8").splitlines()]
    expected = _treated(context, campaign_id)
    assert len(keys) == len(set(keys)), "a customer got the message twice"
    assert set(keys) == expected, "a customer never got the message"
    found = counts(context, campaign_id)
    assert found["sent"] == len(expected) and found["pending"] + found["sending"] == 0
    with context.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "done"


@pytest.mark.slow
def test_sigkill_mid_send_to_the_sms_gateway(context: AppContext,
                                            sms_gateway: FakeSmsGateway) -> None:
    home = context.settings.home
    _write_config(home, f'[sms]\nbase_url = "{sms_gateway.url}"\nsignature = "好物小店"\n'
                        f'access_key_id = "{sms_gateway.access_key_id}"\n'
                        f'access_key_secret = "{sms_gateway.access_key_secret}"\n'
                        'batch_size = 5\n')
    add_people(context, range(1, PEOPLE + 1))
    campaign_id = launch(context, sms_plan(list(range(1, PEOPLE + 1))))
    for share in (0.2, 0.5, 0.8):
        _kill_when(_dispatch_process(context, campaign_id, "--take-over"),
                   lambda: len(sms_gateway.sent), int(PEOPLE * share))
    _run_to_the_end(context, campaign_id)
    expected = _treated(context, campaign_id)
    out_ids = [item["out_id"] for item in sms_gateway.sent]
    assert len(out_ids) == len(set(out_ids)) == len(expected)
    assert set(out_ids) == expected
    by_out_id = {item["out_id"]: item["message_id"] for item in sms_gateway.sent}
    with context.sessions() as session:
        rows = session.execute(select(Delivery.step, Delivery.customer_id, Delivery.status,
                                      Delivery.provider_message_id).where(
            Delivery.campaign_id == campaign_id, Delivery.arm != "holdout")).all()
    assert {r.status for r in rows} == {"sent"}
    # the ID on record is the gateway's for that very message
    assert all(by_out_id[delivery_key(campaign_id, r.step, r.customer_id)]
               == r.provider_message_id for r in rows)


class _DiesBeforeRecording(Dispatcher):
    """Hands a batch to the channel, then 'dies' before the record transaction."""

    def _outcome(self, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed between send and record")


def test_messages_handed_over_before_a_crash_are_not_sent_again(
        context: AppContext, settings_for: Callable[..., CampaignSettings],
        sink_path: Path) -> None:
    people = add_people(context, range(1, 61))
    campaign_id = launch(context, sms_plan(people))
    config = settings_for(context, batch_size=20)
    with sink_channels(sink_path) as channels, pytest.raises(KeyboardInterrupt):
        _DiesBeforeRecording(context, channels=channels, config=config).run()
    assert counts(context, campaign_id)["sending"] > 0
    with sink_channels(sink_path) as channels:
        # within the lease nobody takes the claims over …
        early = dispatcher(context, config, channels).run(campaign_id=campaign_id,
                                                          max_batches=0)
        assert early.total.recovered_sent == 0
        # … an operator who knows the old process is dead does
        report = dispatcher(context, config, channels).run(take_over=True)
    assert report.total.recovered_sent == 20 and report.total.recovered_pending == 0
    keys = [json.loads(line)["key"] for line in sink_path.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == counts(context, campaign_id)["sent"]
    assert set(keys) == _treated(context, campaign_id)
