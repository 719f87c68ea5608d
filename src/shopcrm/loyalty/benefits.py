"""'What does customer X get now?' — the answer a checkout or a service desk asks for.

Two primary-key reads (customer, account) and the programme settings: milliseconds. A
customer who never joined gets the lowest tier's benefits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shopcrm.loyalty import CustomerNotFound
from shopcrm.loyalty.ledger import get_config, history, open_lots
from shopcrm.loyalty.models import LedgerEntry, LoyaltyAccount, PointLot, TierChange
from shopcrm.loyalty.rules import Benefits, ProgramConfig, TierDef, TierMetrics
from shopcrm.loyalty.tiers import Progress, metrics_of, progress, tier_history
from shopcrm.store.models import Customer
from shopcrm.warehouse.engine import Warehouse


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


@dataclass(frozen=True)
class MemberCard:
    """Everything the customer profile shows about membership."""

    customer_id: int
    balance: int
    tier: TierDef
    tier_since: datetime | None
    metrics: TierMetrics
    progress: Progress
    lots: list[PointLot]
    entries: list[LedgerEntry]
    history: list[TierChange]


def member_card(session: Session, *, warehouse: Warehouse, customer_id: int,
                now: datetime, entries: int = 50) -> MemberCard:
    if session.get(Customer, customer_id) is None:
        raise CustomerNotFound(customer_id)
    config = get_config(session)
    account = session.get(LoyaltyAccount, customer_id)
    tier = account.tier if account else None
    metrics = metrics_of(session, warehouse=warehouse, customer_id=customer_id, now=now)
    return MemberCard(
        customer_id=customer_id, balance=account.balance if account else 0,
        tier=config.tier(tier), tier_since=account.tier_since if account else None,
        metrics=metrics, progress=progress(config, tier=tier, metrics=metrics),
        lots=open_lots(session, customer_id=customer_id),
        entries=history(session, customer_id=customer_id, limit=entries),
        history=tier_history(session, customer_id=customer_id))
