"""``shopcrm loyalty …`` end to end on a temporary home (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.loyalty.conftest import add_customer
from typer.testing import CliRunner

from shopcrm.cli.main import app
from shopcrm.context import build_context
from shopcrm.settings import Settings


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHOPCRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    context = build_context(Settings(home=tmp_path / "home"))
    with context.sessions.begin() as session:
        for customer in (1, 2):
            add_customer(session, customer, datetime(2026, 1, 1, tzinfo=UTC))
    context.close()
    return CliRunner()


def test_opening_balances_adjust_expire_report(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,points\n1,100\n2,1.5\n", encoding="utf-8")
    refused = runner.invoke(app, ["loyalty", "import-balances", str(bad), "--reference", "old"])
    assert refused.exit_code == 2 and "line 3" in refused.output
    good = tmp_path / "good.csv"
    good.write_text("customer_id,points,expires_at\n1,100,2027-01-01\n2,40,never\n",
                    encoding="utf-8")
    first = runner.invoke(app, ["loyalty", "import-balances", str(good), "--reference", "old"])
    assert first.exit_code == 0 and "imported 2" in first.output, first.output
    again = runner.invoke(app, ["loyalty", "import-balances", str(good), "--reference", "old"])
    assert "imported 0 opening balances, 2 already there" in again.output
    no_reason = runner.invoke(app, ["loyalty", "adjust", "1", "--", "-30", "--reason", " ",
                                    "--key", "k1"])
    assert no_reason.exit_code == 2
    adjusted = runner.invoke(app, ["loyalty", "adjust", "1", "--reason", "typo", "--key", "k1",
                                   "--", "-30"])
    assert adjusted.exit_code == 0 and "balance 70" in adjusted.output, adjusted.output
    expired = runner.invoke(app, ["loyalty", "expire", "--at", "2027-01-02"])
    assert "expired 70 points of 1 customers" in expired.output
    card = runner.invoke(app, ["loyalty", "balance", "2"])
    assert "40 points" in card.output and "never" in card.output
    assert runner.invoke(app, ["loyalty", "balance", "9"]).exit_code == 2
    report = runner.invoke(app, ["loyalty", "report"])
    assert report.exit_code == 0 and "outstanding: 40 points" in report.output, report.output
    earn = runner.invoke(app, ["loyalty", "earn"])
    assert earn.exit_code == 0 and "earned 0 points" in earn.output, earn.output
