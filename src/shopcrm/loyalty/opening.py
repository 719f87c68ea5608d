"""Opening balances carried over from another loyalty system (CSV).

Columns: ``customer_id,points`` and optionally ``expires_at`` (ISO date or time, UTC;
empty = the programme's expiry policy; ``never`` = no expiry). The whole file is
validated first — any bad line refuses the file with its line number and nothing is
written; then each line becomes one ``import`` entry keyed by the file's reference and
the customer, so importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.loyalty import LoyaltyError
from shopcrm.loyalty.ledger import import_opening_balance
from shopcrm.loyalty.rules import MAX_POINTS
from shopcrm.store.models import Customer


@dataclass(frozen=True)
class OpeningBalance:
    line: int
    customer_id: int
    points: int
    expires: datetime | str | None


def _expiry(text: str, line: int) -> datetime | str | None:
    text = text.strip()
    if not text:
        return "policy"
    if text.lower() == "never":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise LoyaltyError(f"line {line}: expires_at {text!r} is not an ISO date") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_balances(path: Path) -> list[OpeningBalance]:
    """Parse and validate the whole file (UTF-8, with or without BOM)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoyaltyError(f"cannot read {path.name}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"customer_id", "points"} <= set(reader.fieldnames):
        raise LoyaltyError("the file needs the columns customer_id and points")
    rows: list[OpeningBalance] = []
    seen: set[int] = set()
    for line, record in enumerate(reader, start=2):
        try:
            customer_id = int(str(record.get("customer_id") or "").strip())
            points = int(str(record.get("points") or "").strip())
        except ValueError as exc:
            raise LoyaltyError(f"line {line}: customer_id and points must be whole "
                               "numbers") from exc
        if customer_id <= 0 or not 0 < points <= MAX_POINTS:
            raise LoyaltyError(f"line {line}: points must be positive (got {points})")
        if customer_id in seen:
            raise LoyaltyError(f"line {line}: customer {customer_id} appears twice")
        seen.add(customer_id)
        rows.append(OpeningBalance(line, customer_id, points,
                                   _expiry(record.get("expires_at") or "", line)))
    return rows


def import_balances(session: Session, *, rows: list[OpeningBalance], reference: str,
                    now: datetime, actor: audit.Actor) -> tuple[int, int]:
    """Write the balances (all or nothing: the caller's transaction); returns
    (imported, already imported before)."""
    ids = [r.customer_id for r in rows]
    known: set[int] = set()
    for start in range(0, len(ids), 900):
        known.update(session.scalars(select(Customer.id).where(
            Customer.id.in_(ids[start:start + 900]))))
    unknown = [r for r in rows if r.customer_id not in known]
    if unknown:
        raise LoyaltyError(f"line {unknown[0].line}: no customer {unknown[0].customer_id}"
                           f" ({len(unknown)} unknown in all)")
    imported = replayed = 0
    for row in rows:
        movement = import_opening_balance(session, customer_id=row.customer_id,
                                          points=row.points, reference=reference, now=now,
                                          expires=row.expires, actor=actor)
        replayed += movement.replayed
        imported += not movement.replayed
    audit.record(session, actor, "loyalty.import", at=now, target_type="loyalty",
                 target_id=reference, details={"imported": imported, "replayed": replayed})
    return imported, replayed
