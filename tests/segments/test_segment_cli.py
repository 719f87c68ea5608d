"""``shopcrm segment …`` and ``shopcrm tag …`` over a fixture import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopcrm.cli.main import app

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHOPCRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_segment_and_tag_commands(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["import", "taobao-orders",
                               str(FIXTURES / "taobao_orders_gbk.csv")]).exit_code == 0
    computed = runner.invoke(app, ["compute", "--json"])
    assert computed.exit_code == 0, computed.output
    assert "price_sensitive" in json.loads(computed.output)["tags"]

    rule = json.dumps({"kind": "feature", "field": "frequency", "op": "gte", "value": 1})
    guess = runner.invoke(app, ["segment", "estimate", rule])
    assert guess.exit_code == 0 and " of " in guess.output, guess.output
    bad = runner.invoke(app, ["segment", "estimate", json.dumps(
        {"kind": "not", "child": {"kind": "feature", "field": "nope", "op": "eq", "value": 1}})])
    assert bad.exit_code == 2 and "rule.child.field" in bad.output
    made = runner.invoke(app, ["segment", "create", "buyers", rule])
    assert made.exit_code == 0 and "#1" in made.output, made.output
    assert "buyers" in runner.invoke(app, ["segment", "list"]).output
    assert runner.invoke(app, ["segment", "snapshot", "1", "--reason", "test"]).exit_code == 0
    assert runner.invoke(app, ["segment", "snapshot", "1"]).exit_code == 0
    assert "stayed" in runner.invoke(app, ["segment", "diff", "1", "2"]).output
    out = tmp_path / "buyers.csv"
    exported = runner.invoke(app, ["segment", "export", "1", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert out.read_text(encoding="utf-8").startswith("\ufeffid,name,phone")
    shown = runner.invoke(app, ["segment", "show", "1"])
    assert "members now" in shown.output and "snapshot #2" in shown.output
    assert runner.invoke(app, ["segment", "show", "9"]).exit_code == 2

    listed = runner.invoke(app, ["tag", "list"])
    assert "price_sensitive" in listed.output and "weekly_buyer" in listed.output
    again = runner.invoke(app, ["tag", "compute", "--key", "weekly_buyer"])
    assert again.exit_code == 0 and "weekly_buyer" in again.output, again.output
    assert runner.invoke(app, ["tag", "add", "weekly_buyer", "1"]).exit_code == 2
    assert "promo_type" in runner.invoke(app, ["tag", "show", "campaign_buyer"]).output
