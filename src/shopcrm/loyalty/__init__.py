"""Loyalty: a points ledger that never loses a point, member tiers and their benefits.

- :mod:`~shopcrm.loyalty.rules` — pure rules: expiry dates, FIFO lot consumption,
  points for an order, proportional reversal, tier qualification and review, settings.
- :mod:`~shopcrm.loyalty.models` — accounts, lots, ledger entries, bonus rules, tier
  history, customer moves (merges).
- :mod:`~shopcrm.loyalty.ledger` — earn, redeem, expire, reverse, adjust, import,
  move a merged customer (services over a ``Session``; callers own the transaction).
- :mod:`~shopcrm.loyalty.tiers` / :mod:`~shopcrm.loyalty.benefits` — the ladder, its
  scheduled review and "what does customer X get now?".
- :mod:`~shopcrm.loyalty.earning` — batch earning from the warehouse's completed orders.
- :mod:`~shopcrm.loyalty.reports` — issued / redeemed / expired / liability, budgets.

The balance is the sum of the ledger (the account row caches it, and tests prove the
two agree); points live in lots with their own expiry date. Errors carry messages safe
to show to the caller.
"""

from __future__ import annotations


class LoyaltyError(Exception):
    """A loyalty request that cannot be done as asked; the message says why (422)."""


class CustomerNotFound(LoyaltyError):
    """No customer with that ID (the API answers 404)."""

    def __init__(self, customer_id: int) -> None:
        super().__init__(f"no customer {customer_id}")
        self.customer_id = customer_id


class OrderNotFound(LoyaltyError):
    """No points were ever earned for that order (the API answers 404)."""


class RuleNotFound(LoyaltyError):
    """No bonus rule with that code (the API answers 404)."""


class InsufficientPoints(LoyaltyError):
    """A redemption or deduction larger than the spendable balance (409)."""


class IdempotencyConflict(LoyaltyError):
    """The idempotency key was used before for a different request (409)."""


class BudgetExhausted(LoyaltyError):
    """The bonus rule's budget cannot pay for these points (409)."""
