"""What a caller may see of a customer: PII masked unless they hold view-PII."""

from __future__ import annotations

import re
from dataclasses import replace

from shopcrm.accounts.masking import mask_address, mask_email, mask_name, mask_phone
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.customers.profile import (
    SLOT_MASKS,
    AttributeSource,
    CustomerProfile,
    IdentityRow,
)
from shopcrm.customers.queries import CustomerRow

_PHONE_LIKE = re.compile(r"^\+?\d{7,15}$")


def present_row(row: CustomerRow, principal: Principal) -> CustomerRow:
    if principal.can(Permission.VIEW_PII):
        return row
    return replace(row, name=mask_name(row.name), phone=mask_phone(row.phone),
                   email=mask_email(row.email))


def mask_external_id(value: str) -> str:
    """Identity keys that are themselves personal data (``email:<address>``, a bare
    e-mail address or phone number) are masked like the values they carry; platform
    buyer IDs and receiver hashes are kept, people search by them."""
    if value.startswith("email:"):
        return "email:" + (mask_email(value[6:]) or "")
    if "@" in value:
        return mask_email(value) or ""
    if _PHONE_LIKE.match(value.replace(" ", "")):
        return mask_phone(value.replace(" ", "")) or ""
    return value


def present_identity(identity: IdentityRow, principal: Principal) -> IdentityRow:
    if principal.can(Permission.VIEW_PII):
        return identity
    return replace(identity, external_id=mask_external_id(identity.external_id),
                   name=mask_name(identity.name), phone=mask_phone(identity.phone),
                   email=mask_email(identity.email),
                   address_detail=mask_address(identity.address_detail))


def present_customer(profile: CustomerProfile, principal: Principal) -> CustomerProfile:
    """The profile with names, phones, e-mails, addresses and personal identity keys
    masked for callers without view-PII (the same masks as lists and the API)."""
    if principal.can(Permission.VIEW_PII):
        return profile
    slots = {name: (SLOT_MASKS[name](value) if name in SLOT_MASKS and value is not None
                    else value) for name, value in profile.slots.items()}
    return replace(profile, name=mask_name(profile.name), phone=mask_phone(profile.phone),
                   email=mask_email(profile.email), birthday=None,
                   identities=[present_identity(i, principal) for i in profile.identities],
                   attribute_sources=[_masked_source(a) for a in profile.attribute_sources],
                   slots=slots)


_MASKS = {"name": mask_name, "phone": mask_phone, "email": mask_email}


def _masked_source(attribute: AttributeSource) -> AttributeSource:
    mask = _MASKS.get(attribute.field)
    return replace(attribute, value=mask(attribute.value) if mask else attribute.value,
                   external_id=mask_external_id(attribute.external_id))
