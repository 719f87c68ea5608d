"""What a caller may see of a customer: PII masked unless they hold view-PII."""

from __future__ import annotations

from dataclasses import replace

from shopcrm.accounts.masking import mask_email, mask_name, mask_phone
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.customers.queries import CustomerRow


def present_row(row: CustomerRow, principal: Principal) -> CustomerRow:
    if principal.can(Permission.VIEW_PII):
        return row
    return replace(row, name=mask_name(row.name), phone=mask_phone(row.phone),
                   email=mask_email(row.email))
