"""Coupon pools: unique codes, generated or imported, assigned to messages, matched to
orders.

A code is assigned to a delivery in the same transaction that claims the delivery for
sending, so the code in the message is the code on record even if the dispatcher
crashes right after sending. Redemptions come from the orders themselves: the
importers keep a platform's discount / coupon code in ``orders.promo_type`` (Shopify
"Discount Code", WooCommerce "Coupon Code"), and :func:`sync_redemptions` counts the
orders carrying each code within the pool's validity through Ibis.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import ibis
import pyarrow as pa
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.campaigns import CampaignError, CampaignNotFound
from shopcrm.campaigns.models import CouponCode, CouponPool

if TYPE_CHECKING:
    from shopcrm.warehouse.engine import Warehouse

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/I: codes are read off phones and typed in."""
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")
MAX_GENERATE = 2_000_000
_CHUNK = 500


def get_pool(session: Session, pool_id: int) -> CouponPool:
    pool = session.get(CouponPool, pool_id)
    if pool is None:
        raise CampaignNotFound(f"no coupon pool {pool_id}")
    return pool


def create_pool(session: Session, *, name: str, kind: str, value: Decimal,
                valid_from: datetime, valid_until: datetime, uses_per_code: int = 1,
                min_spend: Decimal | None = None, cost_per_redemption: Decimal | None = None,
                actor: audit.Actor, now: datetime) -> CouponPool:
    if kind not in ("amount", "percent"):
        raise CampaignError("a coupon is an 'amount' off or a 'percent' off")
    if value <= 0 or (kind == "percent" and value >= 100):
        raise CampaignError("the value must be positive (and below 100 for a percentage)")
    if valid_until <= valid_from:
        raise CampaignError("valid_until must be after valid_from")
    if uses_per_code < 1:
        raise CampaignError("each code must be usable at least once")
    cost = cost_per_redemption if cost_per_redemption is not None else (
        value if kind == "amount" else Decimal("0"))
    pool = CouponPool(name=name, kind=kind, value=value, min_spend=min_spend,
                      cost_per_redemption=cost, valid_from=valid_from,
                      valid_until=valid_until, uses_per_code=uses_per_code, created_at=now,
                      created_by=actor.label[:100])
    session.add(pool)
    session.flush()
    audit.record(session, actor, "coupon_pool.create", at=now, target_type="coupon_pool",
                 target_id=str(pool.id), details={"name": name, "kind": kind,
                                                  "value": str(value)})
    return pool


def _existing(session: Session, codes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(codes), _CHUNK):
        found.update(session.scalars(select(CouponCode.code).where(
            CouponCode.code.in_(codes[start:start + _CHUNK]))))
    return found


def generate_codes(session: Session, *, pool_id: int, count: int, prefix: str = "",
                   length: int = 10, actor: audit.Actor, now: datetime) -> int:
    """Add ``count`` new random unique codes (``prefix`` + ``length`` characters of
    :data:`ALPHABET`, 32^10 ≈ 10^15 possibilities): a guess is hopeless, a collision
    with an existing code is drawn again."""
    get_pool(session, pool_id)
    if not 1 <= count <= MAX_GENERATE:
        raise CampaignError(f"generate between 1 and {MAX_GENERATE:,} codes at a time")
    if prefix and not re.fullmatch(r"[A-Z0-9]{1,16}", prefix):
        raise CampaignError("a prefix is up to 16 capital letters and digits")
    if not 6 <= length <= 32:
        raise CampaignError("codes are 6 to 32 characters long (plus the prefix)")
    made = 0
    while made < count:
        want = min(10_000, count - made)
        batch = list({prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))
                      for _ in range(want)})
        fresh = sorted(set(batch) - _existing(session, batch))
        if fresh:
            session.execute(insert(CouponCode), [
                {"pool_id": pool_id, "code": code, "redemptions": 0} for code in fresh])
            made += len(fresh)
    audit.record(session, actor, "coupon_pool.generate", at=now, target_type="coupon_pool",
                 target_id=str(pool_id), details={"count": count, "prefix": prefix})
    return made


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int
    invalid: list[str]


def import_codes(session: Session, *, pool_id: int, codes: Iterable[str],
                 actor: audit.Actor, now: datetime) -> ImportResult:
    """Add codes made elsewhere (a platform's coupon export): trimmed, upper-cased;
    malformed ones are listed, ones already known (here or in another pool) skipped."""
    get_pool(session, pool_id)
    cleaned: list[str] = []
    invalid: list[str] = []
    for raw in codes:
        code = raw.strip().upper()
        if not code:
            continue
        (cleaned if CODE_PATTERN.match(code) else invalid).append(code)
    unique = sorted(set(cleaned))
    known = _existing(session, unique)
    fresh = [c for c in unique if c not in known]
    for start in range(0, len(fresh), 10_000):
        session.execute(insert(CouponCode), [{"pool_id": pool_id, "code": c, "redemptions": 0}
                                             for c in fresh[start:start + 10_000]])
    audit.record(session, actor, "coupon_pool.import", at=now, target_type="coupon_pool",
                 target_id=str(pool_id), details={"added": len(fresh),
                                                  "duplicates": len(cleaned) - len(fresh),
                                                  "invalid": len(invalid)})
    return ImportResult(len(fresh), len(cleaned) - len(fresh), invalid[:100])


def assign_codes(session: Session, *, pool_id: int, campaign_id: int,
                 customer_ids: Sequence[int], now: datetime) -> dict[int, str]:
    """Give each customer a free code of the pool (fewer when the pool runs dry).

    On PostgreSQL the free codes are taken ``FOR UPDATE SKIP LOCKED`` so dispatchers on
    several workers never take the same code; SQLite serialises writers anyway.
    """
    if not customer_ids:
        return {}
    query = (select(CouponCode.id, CouponCode.code)
             .where(CouponCode.pool_id == pool_id, CouponCode.customer_id.is_(None))
             .order_by(CouponCode.id).limit(len(customer_ids)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    free = session.execute(query).all()
    given: dict[int, str] = {}
    params = []
    for (code_id, code), customer_id in zip(free, customer_ids, strict=False):
        given[customer_id] = str(code)
        params.append({"b_id": code_id, "b_customer": customer_id})
    if params:
        from sqlalchemy import bindparam

        table: Table = CouponCode.__table__  # type: ignore[assignment]
        session.connection().execute(
            update(table).where(table.c.id == bindparam("b_id"), table.c.customer_id.is_(None))
            .values(customer_id=bindparam("b_customer"), campaign_id=campaign_id,
                    assigned_at=now), params)
    return given


def pool_stats(session: Session, pool_id: int) -> dict[str, int]:
    total, assigned, redeemed, uses = session.execute(
        select(func.count(), func.count(CouponCode.customer_id),
               func.count().filter(CouponCode.redemptions > 0),
               func.coalesce(func.sum(CouponCode.redemptions), 0))
        .where(CouponCode.pool_id == pool_id)).one()
    return {"codes": int(total), "assigned": int(assigned), "free": int(total) - int(assigned),
            "redeemed": int(redeemed), "redemptions": int(uses)}


def sync_redemptions(session: Session, warehouse: Warehouse, *, pool_id: int) -> int:
    """Count, per code of the pool, the purchases carrying it within the pool's validity
    (orders from the warehouse, current versions); returns the codes whose count
    changed. Uses beyond ``uses_per_code`` are counted too — the pool page shows them
    as over the limit rather than hiding an abuse."""
    from shopcrm.segments.features import PURCHASE_STATUSES

    pool = get_pool(session, pool_id)
    codes = list(session.execute(select(CouponCode.id, CouponCode.code, CouponCode.redemptions)
                                 .where(CouponCode.pool_id == pool_id)))
    if not codes:
        return 0
    wanted = ibis.memtable(pa.table({"code": pa.array([c for _, c, _ in codes], pa.string())}))
    orders = warehouse.table("orders")
    used = orders.filter(orders.status.isin(PURCHASE_STATUSES),
                         orders.promo_type.notnull(),
                         orders.created_at >= pool.valid_from,
                         orders.created_at <= pool.valid_until)
    used = used.mutate(code=used.promo_type.strip().upper())
    joined = used.join(wanted, "code")
    counts = joined.group_by("code").aggregate(n=joined.count(), first=joined.created_at.min(),
                                               last_order=joined.order_id.max())
    found = {row["code"]: row for row in warehouse.execute(counts).to_pylist()}
    changed = 0
    for code_id, code, before in codes:
        row = found.get(code)
        n = int(row["n"]) if row else 0
        if n != before:
            session.execute(update(CouponCode).where(CouponCode.id == code_id).values(
                redemptions=n, first_redeemed_at=row["first"] if row else None,
                last_order_ref=row["last_order"] if row else None)
                .execution_options(synchronize_session=False))
            changed += 1
    return changed
