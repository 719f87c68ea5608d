"""Privacy (PIPL / GDPR): consent records, data-subject export, erasure.

- :mod:`~shopcrm.privacy.rules` — pure consent rules (may we contact? merge keeps the
  stricter consent; Shopify flags to consents).
- :mod:`~shopcrm.privacy.consents` — the append-only consent history in the store.
- :mod:`~shopcrm.privacy.export` — everything held about one customer as one document.
- :mod:`~shopcrm.privacy.erasure` — removing a customer's personal data.

Personal data lives only in the operational store (customers, source identities); the
warehouse facts carry pseudonymous IDs, so export reads both and erasure touches only
the store. The errors below carry messages that are safe to show to the caller.
"""

from __future__ import annotations


class PrivacyError(Exception):
    """A privacy request that cannot be done as asked; the message says why."""


class CustomerNotFound(PrivacyError):
    """No customer with that ID (the API answers 404)."""

    def __init__(self, customer_id: int) -> None:
        super().__init__(f"no customer {customer_id}")
        self.customer_id = customer_id


class ConsentRefused(PrivacyError):
    """A consent change that may not be recorded (e.g. a grant for an erased customer)."""


class ErasureRefused(PrivacyError):
    """An erasure request that is incomplete (a reason is mandatory)."""
