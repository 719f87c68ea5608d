"""``shopcrm campaign …``: a plan file becomes a draft, is launched, dispatched to the
outbox and reported; refusals exit with code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.campaigns.conftest import add_people
from typer.testing import CliRunner

from shopcrm.cli.main import app
from shopcrm.context import build_context
from shopcrm.settings import Settings

PLAN = """
name = "会员日"
channel = "sms"

[audience]
kind = "list"
customer_ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

[[content.variants]]
name = "A"
body = "{{ customer.name }}，会员日快乐"

[experiment]
holdout_share = 0.2
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SHOPCRM_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    home.mkdir()
    (home / "campaigns.toml").write_text('secret = "cli"\nquiet_hours = {}\n', encoding="utf-8")
    context = build_context(Settings(home=home))
    add_people(context, range(1, 11))
    context.close()
    return home


def test_create_launch_dispatch_report(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    created = runner.invoke(app, ["campaign", "create", str(plan)])
    assert created.exit_code == 0, created.output
    campaign_id = created.output.strip().splitlines()[-1]
    launched = runner.invoke(app, ["campaign", "launch", campaign_id])
    assert launched.exit_code == 0 and "10 customers" in launched.output
    sent = runner.invoke(app, ["campaign", "dispatch", campaign_id])
    assert sent.exit_code == 0, sent.output
    lines = (home / "outbox" / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert f"sent {len(lines)}," in sent.output and len(lines) > 0
    listing = runner.invoke(app, ["campaign", "list"])
    assert "会员日" in listing.output and "done" in listing.output
    report = runner.invoke(app, ["campaign", "report", campaign_id, "--json"])
    assert report.exit_code == 0
    data = json.loads(report.output)
    assert data["counts"]["sent"] == len(lines) and data["arms"][0]["name"] == "treated"
    again = runner.invoke(app, ["campaign", "launch", campaign_id])
    assert again.exit_code == 2 and "cannot become scheduled" in again.output


def test_a_bad_plan_is_refused(home: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"name": "x", "channel": "fax", "audience": {"kind": "list",
                                "customer_ids": [1]}, "content": {"variants": [{"body": "b"}]}}))
    refused = CliRunner().invoke(app, ["campaign", "create", str(plan)])
    assert refused.exit_code == 2 and "channel" in refused.output


def test_coupon_pool_commands(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["campaign", "coupons", "create", "双11", "--value", "20",
                               "--valid-until", "2026-12-31T23:59:59+08:00", "--generate", "5"])
    assert made.exit_code == 0, made.output
    pool_id = made.output.strip().splitlines()[-1]
    codes = tmp_path / "codes.txt"
    codes.write_text("VIP-1\nvip-2\nVIP-1\n", encoding="utf-8")
    imported = runner.invoke(app, ["campaign", "coupons", "import", pool_id, str(codes)])
    assert "added 2, already known 1" in imported.output
