"""``shopcrm campaign contacts import``: UTF-8 with BOM and GB18030 files, every
rejected row with its line and reason, re-import changes nothing, a refused file
(or --strict with rejects) writes nothing. SQLite and PostgreSQL through the
service, the command on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.campaigns.conftest import add_people
from typer.testing import CliRunner

from shopcrm.accounts import audit
from shopcrm.cli.main import app
from shopcrm.contacts.importer import ContactImportRefused, import_contacts
from shopcrm.contacts.models import ContactPoint
from shopcrm.context import AppContext, build_context
from shopcrm.settings import Settings

CLI = audit.Actor(None, "test")
GOOD_AND_BAD = (
    "客户ID,kind,app_id,openid,platform,unionid\n"
    "301,wechat,wx1234567890,oOpenIdOfThreeZeroOne,,uUnion301abc\n"   # 2 ok
    "302,push,com.shop.app,tok-302-abcdefgh,android,\n"                 # 3 ok
    "303,push,com.shop.app,tok-303-abcdefgh,nokia,\n"                   # 4 bad platform
    "999,wechat,wx1234567890,oNobodyHasThisOne,,\n"                     # 5 unknown customer
    "abc,wechat,wx1234567890,oNotANumberCust,,\n"                       # 6 bad customer id
    "\n"
    "302,wechat,wx1234567890,oOpenIdOfThreeZeroOne,,\n"                 # 8 openid of line 2's
    "303,push,com.shop.app\n"                                           # 9 too few fields
    '303,push,com.shop.app,"tok-303\nsplit",ios,\n'                     # 10-11 token with a newline
    "303,push,com.shop.app,tok-303-abcdefgh,harmony,\n"                 # 12 ok
)
EXPECTED_REJECTS = [4, 5, 6, 8, 9, 10]


def count(context: AppContext) -> int:
    with context.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ContactPoint)) or 0)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_import_reports_every_reject_and_is_idempotent(context: AppContext, tmp_path: Path,
                                                       encoding: str) -> None:
    add_people(context, [301, 302, 303])
    path = tmp_path / "contacts.csv"
    path.write_bytes(GOOD_AND_BAD.encode(encoding))
    with context.sessions.begin() as session:
        first = import_contacts(session, path, now=context.clock.now(), actor=CLI)
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    assert [line for line, _ in first.rejects] == EXPECTED_REJECTS
    reasons = dict(first.rejects)
    assert "nokia" in reasons[4] and "customer 999 does not exist" in reasons[5]
    assert "line 2" in reasons[8] and "fields" in reasons[9]
    with context.sessions() as session:
        unionids = set(session.scalars(select(ContactPoint.unionid)))
    assert "uUnion301abc" in unionids  # the GB18030 header 客户ID was understood too
    with context.sessions.begin() as session:
        second = import_contacts(session, path, now=context.clock.now(), actor=CLI)
    assert (second.added, second.updated, second.unchanged) == (0, 0, 3)
    assert second.rejects == first.rejects
    assert count(context) == 3


def test_a_refused_or_strict_import_writes_nothing(context: AppContext,
                                                   tmp_path: Path) -> None:
    add_people(context, [301, 302, 303])
    no_header = tmp_path / "no_header.csv"
    no_header.write_text("customer_id,app_id\n301,wx1\n", encoding="utf-8")
    with (pytest.raises(ContactImportRefused, match="line 1: the header lacks kind, address"),
          context.sessions.begin() as session):
        import_contacts(session, no_header, now=context.clock.now(), actor=CLI)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(GOOD_AND_BAD.encode("utf-8-sig"))
    with pytest.raises(ContactImportRefused) as refused, context.sessions.begin() as session:
        import_contacts(session, mixed, now=context.clock.now(), actor=CLI, strict=True)
    assert [line for line, _ in refused.value.rejects] == EXPECTED_REJECTS
    assert count(context) == 0


def test_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SHOPCRM_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    context = build_context(Settings(home=home))
    add_people(context, [301, 302, 303])
    context.close()
    path = tmp_path / "contacts.csv"
    path.write_bytes(GOOD_AND_BAD.encode("gb18030"))
    runner = CliRunner()
    result = runner.invoke(app, ["campaign", "contacts", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert "line 4: unknown platform 'nokia'" in result.output
    assert "added 3" in result.output and "rejected 6" in result.output
    again = runner.invoke(app, ["campaign", "contacts", "import", str(path)])
    assert "added 0" in again.output and "unchanged 3" in again.output
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01\x02")
    refused = runner.invoke(app, ["campaign", "contacts", "import", str(binary)])
    assert refused.exit_code == 2 and "binary" in refused.output
