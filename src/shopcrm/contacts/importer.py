"""CSV import of contact points (``shopcrm campaign contacts import FILE``).

Columns (header names, any order): ``customer_id``, ``kind`` (wechat / push),
``app_id``, ``address`` (the openid or device token; ``openid`` and ``token`` are
accepted as names), ``platform`` (push: ios / android / harmony), ``unionid``
(WeChat, optional). UTF-8 with or without BOM, or GB18030/GBK (sniffed as shop
exports are). Every rejected row is reported with its physical line and reason; the
good rows are registered in one transaction — a file refused as a whole (unreadable,
no header) or an error while writing leaves the store untouched, and ``strict``
turns any reject into a refusal. Registration is idempotent, so importing the same
file again changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.contacts import ContactError
from shopcrm.contacts.rules import ContactInput, validate
from shopcrm.contacts.service import register
from shopcrm.ingest.errors import ImportFileError
from shopcrm.ingest.sources import sniff
from shopcrm.store.models import Customer

ALIASES = {"customer_id": "customer_id", "customer": "customer_id", "客户id": "customer_id",
           "kind": "kind", "channel": "kind", "app_id": "app_id", "appid": "app_id",
           "address": "address", "openid": "address", "token": "address",
           "device_token": "address", "platform": "platform", "unionid": "unionid"}
REQUIRED = ("customer_id", "kind", "app_id", "address")
MAX_BYTES = 200 << 20


@dataclass
class ImportResult:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    """(physical line, reason) of every row not imported."""
    written: bool = False


class ContactImportRefused(ContactError):
    """The file as a whole cannot be imported; nothing was written."""

    def __init__(self, message: str, rejects: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.rejects = rejects or []


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(first physical line, row by canonical column) of each data row."""
    try:
        encoding = sniff(path).encoding
    except ImportFileError as exc:
        raise ContactImportRefused(str(exc)) from exc
    if encoding in ("xlsx", "utf-16"):
        raise ContactImportRefused("contact points are imported from CSV (UTF-8 or GB18030)")
    if path.stat().st_size > MAX_BYTES:
        raise ContactImportRefused(f"the file is larger than {MAX_BYTES >> 20} MB")
    text = path.read_bytes().decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ContactImportRefused("the file is empty") from None
    names = [ALIASES.get(h.strip().lower().replace(" ", "_")) for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ContactImportRefused(
            f"line 1: the header lacks {', '.join(missing)} (found: {', '.join(header)})")
    line = reader.line_num + 1
    for values in reader:
        start, line = line, reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield start, {"_error": f"{len(values)} fields where the header has "
                                    f"{len(header)}"}
            continue
        yield start, {n: v for n, v in zip(names, values, strict=True) if n is not None}


def import_contacts(session: Session, path: Path, *, now: datetime, actor: audit.Actor,
                    strict: bool = False) -> ImportResult:
    """Validate every row, then register the good ones (caller commits; on an
    exception the caller's rollback leaves nothing written)."""
    result = ImportResult()
    good: list[tuple[int, int, ContactInput]] = []
    seen: dict[tuple[str, str, str], tuple[int, int]] = {}
    for line, row in read_rows(path):
        result.rows += 1
        reason = row.get("_error")
        if reason is None and any("\ufffd" in v for v in row.values()):
            reason = "undecodable bytes (the file is neither UTF-8 nor GB18030 here)"
        if reason is None:
            raw_id = row.get("customer_id", "").strip()
            if not raw_id.isdigit() or not 0 < int(raw_id) < 2**63:
                reason = f"customer_id {raw_id!r} is not a customer ID"
        if reason is None:
            try:
                item = validate(kind=row.get("kind", ""), app_id=row.get("app_id", ""),
                                address=row.get("address", ""),
                                platform=row.get("platform"), unionid=row.get("unionid"))
            except ValueError as exc:
                reason = str(exc)
        if reason is None:
            key = (item.kind.value, item.app_id, item.address)
            earlier = seen.get(key)
            if earlier is not None and earlier[1] != int(raw_id):
                reason = (f"the same {item.kind.value} address is on line {earlier[0]} for "
                          f"customer {earlier[1]}")
            elif earlier is None:
                seen[key] = (line, int(raw_id))
                good.append((line, int(raw_id), item))
            else:
                result.unchanged += 1  # the same registration twice in the file
        if reason is not None:
            result.rejects.append((line, reason))
    known = _existing(session, {cid for _, cid, _ in good})
    for line, cid, item in good:
        if cid not in known:
            result.rejects.append((line, f"customer {cid} does not exist"))
            continue
        try:
            # register refuses before it writes anything, so no savepoint is needed (and
            # on SQLite a SAVEPOINT opened before the first write would be the outermost
            # transaction: its RELEASE would commit what a strict refusal must undo)
            done = register(session, customer_id=cid, item=item, source="import",
                            now=now, actor=actor, audit_each=False)
        except ContactError as exc:
            result.rejects.append((line, str(exc)))
            continue
        if done.created:
            result.added += 1
        elif done.changed:
            result.updated += 1
        else:
            result.unchanged += 1
    result.rejects.sort()
    if strict and result.rejects:
        raise ContactImportRefused(f"{len(result.rejects)} row(s) rejected; nothing was "
                                   "imported (strict)", result.rejects)
    result.written = bool(result.added or result.updated)
    audit.record(session, actor, "contact.import", at=now, target_type="file",
                 target_id=path.name[:100],
                 details={"rows": result.rows, "added": result.added,
                          "updated": result.updated, "unchanged": result.unchanged,
                          "rejected": len(result.rejects)})
    return result


def _existing(session: Session, ids: set[int]) -> set[int]:
    found: set[int] = set()
    wanted = sorted(ids)
    for start in range(0, len(wanted), 2000):
        found.update(int(cid) for cid in session.scalars(select(Customer.id).where(
            Customer.id.in_(wanted[start:start + 2000]))))
    return found
