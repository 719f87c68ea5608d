"""What a caller may see of a ticket: the customer's name and phone and a free-text
contact are personal data, masked for roles without ``view_pii`` — in pages and the API
alike (the same masks as everywhere: 138****1234, z***@example.com, 王**)."""

from __future__ import annotations

import re

from shopcrm.accounts.masking import mask_email, mask_name, mask_phone
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal

_PHONEISH = re.compile(r"\+?\d[\d\s-]{5,}\d")
_EMAILISH = re.compile(r"\S+@\S+")


def mask_contact(value: str | None) -> str | None:
    """A contact is free text ("微信 wangfang88", "13812345678", "a@b.cn"): mask what in
    it looks like a phone or an e-mail, and anything else as a name."""
    if not value:
        return value
    masked = _EMAILISH.sub(lambda m: mask_email(m.group(0)) or "***", value)
    masked = _PHONEISH.sub(lambda m: mask_phone(re.sub(r"[\s-]", "", m.group(0))) or "****",
                           masked)
    return masked if masked != value else mask_name(value)


def visible(principal: Principal, *, name: str | None, phone: str | None,
            contact: str | None) -> tuple[str | None, str | None, str | None]:
    if principal.can(Permission.VIEW_PII):
        return name, phone, contact
    return mask_name(name), mask_phone(phone), mask_contact(contact)
