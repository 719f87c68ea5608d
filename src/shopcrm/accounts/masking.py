"""Masking personal data for people without the view-PII permission.

The same functions serve pages, API responses and exports, so a masked value looks the
same everywhere: 138****1234, z***@example.com, 王**, 浙江省杭州市****.
"""

from __future__ import annotations


def mask_phone(value: str | None) -> str | None:
    if not value:
        return value
    digits = value[3:] if value.startswith("+86") else value.lstrip("+")
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****"


def mask_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return "***" if value else value
    local, domain = value.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_name(value: str | None) -> str | None:
    if not value:
        return value
    text = value.strip()
    if not text:
        return text
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return text[0] + "*" * max(1, len(text) - 1)
    parts = text.split()
    return " ".join(p[:1] + "***" for p in parts)


def mask_address(value: str | None) -> str | None:
    """Keep nothing of the street; regions are not masked (they are not identifying)."""
    return "****" if value else value
