"""Every UI string is in both catalogues, and zh_CN translates it (keeping placeholders)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po

from shopcrm.web import routes
from shopcrm.web.i18n import LOCALES_DIR, SUPPORTED

TEMPLATES = Path(routes.__file__).parent / "templates"
UNTRANSLATED = {"shopcrm", "Shopify", "WooCommerce"}
"""Brand names that read the same in Chinese."""


def used_messages() -> set[str]:
    found: set[str] = set()
    for template in sorted(TEMPLATES.glob("*.html")):
        with open(template, "rb") as handle:
            for _line, message, _comments, _context in extract(
                    "jinja2.ext:babel_extract", handle,
                    keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
                    options={"extensions": "jinja2.ext.i18n"}):
                found.add(message if isinstance(message, str) else message[0])
    # labels the templates translate through a variable (the navigation)
    admin_like = type("P", (), {"can": lambda self, permission: True})()
    found |= {label for _key, _path, label in routes.navigation(admin_like)}
    return found


def catalogue(lang: str) -> Catalog:
    with open(LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=lang)


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\([a-z_]+\)s", text))


@pytest.mark.parametrize("lang", SUPPORTED)
def test_every_ui_string_is_in_the_catalogue(lang: str) -> None:
    messages = used_messages()
    assert len(messages) > 100
    known = {m.id: m.string for m in catalogue(lang) if m.id}
    missing = sorted(messages - set(known))
    assert missing == []
    empty = sorted(m for m in messages if not known[m])
    assert empty == []
    broken = sorted(m for m in messages if placeholders(m) != placeholders(str(known[m])))
    assert broken == []


def test_chinese_catalogue_translates() -> None:
    known = {m.id: m.string for m in catalogue("zh_CN") if m.id}
    same = sorted(m for m in used_messages() if known[m] == m and m not in UNTRANSLATED)
    assert same == []
    for text in known.values():
        assert re.search(r"[\u4e00-\u9fff]", str(text)) or text in UNTRANSLATED or "GMV" in str(
            text), text
