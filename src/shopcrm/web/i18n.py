"""Languages: Babel catalogues (``locales/<lang>/LC_MESSAGES/messages.po``) compiled in
memory at start-up, the user's choice from a cookie or Accept-Language, and
locale-aware number, money and date formatting."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent / "locales"
SUPPORTED = ("zh_CN", "en")
DEFAULT = "zh_CN"


@cache
def translations(lang: str) -> Translations:
    po = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return Translations()
    with open(po, "rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The remembered choice, else the browser's preference, else Chinese."""
    if cookie in SUPPORTED:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_").lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


class Formatter:
    """Numbers, money and dates for one locale and shop currency."""

    def __init__(self, lang: str, currency: str) -> None:
        self.locale = Locale.parse(lang)
        self.currency = currency

    def number(self, value: int | Decimal | float | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def money(self, value: Decimal | int | None) -> str:
        if value is None:
            return ""
        return format_currency(value, self.currency, locale=self.locale)

    def date(self, value: date | None) -> str:
        return "" if value is None else format_date(value, format="medium", locale=self.locale)
