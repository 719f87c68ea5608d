"""Contact points: where WeChat and app push messages can reach a customer, and the
in-site inbox.

WeChat addresses people by an *openid* that exists per official account / mini-program
app id; app push addresses devices by *device tokens* per app; the in-site inbox is a
table the shop's site reads through the API. All three are personal data of the
operational store: they follow customer merges and are exported and erased with the
customer.

Modules: ``rules`` (pure: validation, which address to use), ``models`` (migration
0080), ``service`` (register, disable, set-wise lookup), ``importer`` (CSV import),
``inbox`` (the inbox channel and the site's reads), ``merge`` (follows merges),
``privacy`` (export and erasure parts).
"""

from __future__ import annotations


class ContactError(ValueError):
    """A contact point request that cannot be honoured (422 unless a subclass says)."""


class UnknownCustomer(ContactError):
    """No such customer (404)."""


class ContactConflict(ContactError):
    """The address belongs to someone else (409)."""


class UnknownMessage(ContactError):
    """No such inbox message for this customer (404)."""
