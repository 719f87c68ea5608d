"""Cleaning of personal-data values (phones, e-mails, names, addresses) from shop exports.

Each function is pure and deterministic and never raises on any string, because it is
applied to the distinct values of an imported column; the results feed the store and
identity resolution (phone and e-mail are exact matching keys, so they are
normalised conservatively: a doubtful value never becomes a key).
"""

from shopcrm.ingest.normalize.addresses import (
    Address,
    address_from_parts,
    join_cn_address,
    normalize_province,
    split_cn_address,
)
from shopcrm.ingest.normalize.emails import Email, EmailKind, normalize_email
from shopcrm.ingest.normalize.names import NameKind, name_kind, normalize_name
from shopcrm.ingest.normalize.phones import Phone, PhoneKind, normalize_phone

__all__ = [
    "Address",
    "Email",
    "EmailKind",
    "NameKind",
    "Phone",
    "PhoneKind",
    "address_from_parts",
    "join_cn_address",
    "name_kind",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
    "normalize_province",
    "split_cn_address",
]
