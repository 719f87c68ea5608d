"""The command line: thin commands, clear output, exit code 2 for refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopcrm.cli.main import app

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHOPCRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_import_prints_the_summary_and_is_idempotent(runner: CliRunner) -> None:
    first = runner.invoke(app, ["import", "taobao-orders", str(FIXTURES / "taobao_orders_gbk.csv")])
    assert first.exit_code == 0, first.output
    assert "imported 5" in first.output and "rejected 0" in first.output
    again = runner.invoke(app, ["import", "taobao-orders",
                                str(FIXTURES / "taobao_orders_gbk.csv")])
    assert "imported 0" in again.output and "duplicate 5" in again.output
    history = runner.invoke(app, ["imports"])
    assert history.exit_code == 0 and "committed" in history.output


def test_refused_file_exits_2_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["import", "taobao-orders", str(empty)])
    assert result.exit_code == 2
    assert "the file is empty" in result.output
    unknown = runner.invoke(app, ["import", "nope", str(FIXTURES / "products.csv")])
    assert unknown.exit_code == 2 and "unknown format" in unknown.output


def test_rejects_are_listed(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "taobao-items", str(FIXTURES / "taobao_items_gbk.csv")])
    assert "line 6" in result.output and "unit_price: not an amount" in result.output
    assert "rejects.csv" in result.output


def test_users_and_keys(runner: CliRunner) -> None:
    created = runner.invoke(app, ["user", "create", "boss", "--password", "long password"])
    assert created.exit_code == 0, created.output
    duplicate = runner.invoke(app, ["user", "create", "boss", "--password", "long password"])
    assert duplicate.exit_code == 2 and "exists already" in duplicate.output
    short = runner.invoke(app, ["user", "create", "x", "--password", "short"])
    assert short.exit_code == 2 and "at least 8" in short.output
    key = runner.invoke(app, ["user", "api-key", "boss", "--name", "bi",
                              "--scope", "view_analytics"])
    assert key.exit_code == 0 and "shk_" in key.output
    listing = runner.invoke(app, ["user", "list"])
    assert "boss" in listing.output and "admin" in listing.output


def test_db_upgrade_and_formats(runner: CliRunner) -> None:
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and "revision" in upgraded.output
    formats = runner.invoke(app, ["formats"])
    assert "taobao-orders" in formats.output and "generic" in formats.output
