"""'What does customer X get now?' — the answer a checkout or a service desk asks for.

Two primary-key reads (customer, account) and the programme settings: milliseconds. A
customer who never joined gets the lowest tier's benefits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from shopcrm.loyalty import CustomerNotFound
from shopcrm.loyalty.ledger import get_config
from shopcrm.loyalty.models import LoyaltyAccount
from shopcrm.loyalty.rules import Benefits, ProgramConfig
from shopcrm.store.models import Customer


@dataclass(frozen=True)
class CustomerBenefits:
    customer_id: int
    tier: str
    tier_name: str
    balance: int
    benefits: Benefits


def benefits_for(session: Session, *, customer_id: int,
                 config: ProgramConfig | None = None) -> CustomerBenefits:
    if session.get(Customer, customer_id) is None:
        raise CustomerNotFound(customer_id)
    config = config or get_config(session)
    account = session.get(LoyaltyAccount, customer_id)
    tier = config.tier(account.tier if account else None)
    return CustomerBenefits(customer_id=customer_id, tier=tier.code, tier_name=tier.name,
                            balance=account.balance if account else 0,
                            benefits=tier.benefits)
