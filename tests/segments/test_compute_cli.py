"""``shopcrm compute``: runs the job over imported facts and prints a summary."""

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


def test_compute_summarises_and_keeps_snapshots(runner: CliRunner, tmp_path: Path) -> None:
    imported = runner.invoke(app, ["import", "taobao-orders",
                                   str(FIXTURES / "taobao_orders_gbk.csv")])
    assert imported.exit_code == 0, imported.output
    first = runner.invoke(app, ["compute"])
    assert first.exit_code == 0, first.output
    assert "lifecycle stage" in first.output and "buyers" in first.output
    second = runner.invoke(app, ["compute", "--json"])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output)
    assert summary["customers"] >= summary["buyers"] > 0
    assert sum(summary["stages"].values()) == summary["customers"]
    assert sum(summary["tiers"].values()) == summary["buyers"]
    snapshots = list((tmp_path / "home" / "warehouse" / "_features").glob("*.parquet"))
    assert len(snapshots) == 2


def test_invalid_settings_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    settings = tmp_path / "home" / "settings" / "segments.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"tiers": {"tiers": [{"name": "a", "share": 0.3}]}}', encoding="utf-8")
    result = runner.invoke(app, ["compute"])
    assert result.exit_code == 2
    assert "add up to 1" in result.output
    assert not (tmp_path / "home" / "warehouse" / "_features").exists()
