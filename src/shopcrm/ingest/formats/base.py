"""What a format is: header aliases onto canonical fields, a grain, and a few rules.

Adding a platform is mostly writing one of these. The shared machinery
(:mod:`shopcrm.ingest.clean`, :mod:`shopcrm.ingest.assemble`) does the rest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Grain(StrEnum):
    """What one row of the export is."""

    ORDERS = "orders"  # one row per order (may carry its single item, e.g. Pinduoduo)
    LINES = "lines"  # one row per order line; order fields repeated or only on the first row
    ITEMS = "items"  # order lines only, joined to orders by order number (Taobao item export)
    CUSTOMERS = "customers"  # customer records
    EVENTS = "events"  # behaviour events
    PRODUCTS = "products"  # the product catalogue


@dataclass(frozen=True)
class FormatSpec:
    name: str
    title: str
    source: str
    """Channel label stored on facts and identities: taobao, jd, pdd, shopify, …"""
    grain: Grain
    columns: Mapping[str, tuple[str, ...]]
    """Canonical field → header names seen in real exports (first one is the usual)."""
    required: frozenset[str] = frozenset()
    status_map: Mapping[str, str] = field(default_factory=dict)
    """Raw status text → canonical status; compared after :func:`status_key`."""
    file_kinds: tuple[str, ...] = ("csv",)
    address_mode: str = "full"
    """'full': one address string split into province/city/district; 'parts': columns."""
    default_currency: str = "CNY"
    status_sql: str | None = None
    """Optional SQL over clean columns giving the canonical status (several columns)."""
    refund_sql: str | None = None
    """Optional SQL over clean columns giving the refund amount when no column has it."""
    identity_sql: str | None = None
    """Optional SQL giving the identity key; default buyer ID, then e-mail, then receiver."""
    description: str = ""


_SPACE = re.compile(r"\s+")


def header_key(name: str) -> str:
    """Compare headers the way a person would: width, case, spaces and BOM ignored."""
    text = unicodedata.normalize("NFKC", name).replace("\ufeff", "")
    return _SPACE.sub("", text).strip().lower()


def status_key(raw: str) -> str:
    """Status text compared without spaces and with half-width punctuation."""
    return header_key(raw)


@dataclass(frozen=True)
class HeaderMatch:
    """Which file column feeds each canonical field; what was required but missing."""

    columns: dict[str, str]
    missing: list[str]
    unused: list[str]


def match_headers(spec: FormatSpec, headers: list[str]) -> HeaderMatch:
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(header_key(header), header)
    mapped: dict[str, str] = {}
    for canonical, aliases in spec.columns.items():
        for alias in aliases:
            found = by_key.get(header_key(alias))
            if found is not None and found not in mapped.values():
                mapped[canonical] = found
                break
    missing = [f for f in sorted(spec.required) if f not in mapped]
    unused = [h for h in headers if h not in mapped.values()]
    return HeaderMatch(mapped, missing, unused)
