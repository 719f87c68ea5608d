"""The tag library: tags as data, computed into memberships with history.

A tag has a key, a name, a category (static / dynamic / behavioural / lifecycle), an
owner, a schedule (``on_compute``: after every features run; ``daily``: at most once a
day, at the first features run or on-demand compute after 24 hours; ``manual``: only
when asked) and either a *rule* in the segment language (a computed tag) or none (a
manual tag: members are added and removed by hand or by upload).

Memberships are stays (:class:`~shopcrm.segments.library_models.TagMembership`): a
computed tag compares its rule's members with the open stays it made and closes the
stays of those who left and opens stays for those who entered, at the clock's ``now``.
Nothing is rewritten, so a customer's tag history — when they entered and left each tag
— is always there. Manual changes and uploads are audited. Stays follow identity merges
(:mod:`~shopcrm.segments.tag_hooks`).

Tags may use other tags in their rules; they are computed in dependency order, and a
cycle between tags is refused like a cycle between segments.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.context import AppContext
from shopcrm.segments.library_models import SavedSegment, Tag, TagMembership
from shopcrm.segments.rules import (
    Problem,
    Rule,
    RuleError,
    dump_rule,
    parse_rule,
    referenced_tags,
)
from shopcrm.store.models import Customer, SourceIdentity

log = logging.getLogger("shopcrm.tags")

CATEGORIES = ("static", "dynamic", "behavioural", "lifecycle")
SCHEDULES = ("on_compute", "daily", "manual")
KEY_PATTERN = r"^[a-z0-9_][a-z0-9_\-]{0,63}$"
MAX_UPLOAD_ROWS = 100_000
INSERT_CHUNK = 5_000


class TagError(ValueError):
    """A refused change (the message says why)."""


class TagNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ComputeOutcome:
    key: str
    members: int
    entered: int
    left: int
    seconds: float
    error: str | None = None


@dataclass
class UploadReport:
    rows: int = 0
    added: int = 0
    already: int = 0
    customers: list[int] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    """(line, reason) of every row that named no customer."""


# --- the library ----------------------------------------------------------------------

def list_tags(session: Session) -> list[Tag]:
    return list(session.scalars(select(Tag).order_by(Tag.category, Tag.name)))


def get_tag(session: Session, key: str) -> Tag:
    tag = session.scalars(select(Tag).where(Tag.key == key)).first()
    if tag is None:
        raise TagNotFound(f"no tag {key!r}")
    return tag


def tag_rules(session: Session) -> dict[str, Rule | None]:
    return {t.key: parse_rule(t.rule) if t.rule else None for t in session.scalars(select(Tag))}


def tag_cycle(key: str, rule: Rule, rules: dict[str, Rule | None]) -> list[str] | None:
    """A chain of tag keys from ``key`` through ``rule``'s tag references back to a tag
    already on it; None when there is none."""
    def visit(current: str, current_rule: Rule | None, trail: list[str]) -> list[str] | None:
        if current in trail:
            return [*trail, current]
        if current_rule is None:
            return None
        for ref in sorted(referenced_tags(current_rule)):
            found = visit(ref, rules.get(ref), [*trail, current])
            if found:
                return found
        return None

    return visit(key, rule, [])


def check_rule(context: AppContext, session: Session, data: Any, *, key: str) -> Rule:
    from shopcrm.segments.audience import check_definition

    rule = check_definition(context, session, data)
    cycle = tag_cycle(key, rule, tag_rules(session))
    if cycle:
        raise RuleError([Problem("rule", "cyclic tag reference: " + " → ".join(cycle))])
    return rule


def _check_fields(category: str, schedule: str) -> None:
    if category not in CATEGORIES:
        raise TagError(f"category must be one of {', '.join(CATEGORIES)}")
    if schedule not in SCHEDULES:
        raise TagError(f"schedule must be one of {', '.join(SCHEDULES)}")


def create_tag(context: AppContext, session: Session, *, key: str, name: str, category: str,
               rule: Any | None, description: str | None = None,
               schedule: str = "on_compute", actor: audit.Actor) -> Tag:
    if not re.match(KEY_PATTERN, key):
        raise TagError("a key is lower-case letters, digits, '_' or '-' (at most 64)")
    if session.scalars(select(Tag.id).where(Tag.key == key)).first() is not None:
        raise TagError(f"a tag {key!r} exists already")
    _check_fields(category, schedule)
    now = context.clock.now()
    checked = dump_rule(check_rule(context, session, rule, key=key)) if rule else None
    tag = Tag(key=key, name=name.strip() or key, description=description, category=category,
              rule=checked, owner=actor.label[:100], schedule=schedule, active=True,
              seeded=False, created_at=now, updated_at=now, members=0)
    session.add(tag)
    session.flush()
    audit.record(session, actor, "tag.create", at=now, target_type="tag", target_id=key)
    return tag


def update_tag(context: AppContext, session: Session, key: str, *, actor: audit.Actor,
               name: str | None = None, description: str | None = None,
               category: str | None = None, schedule: str | None = None,
               rule: Any | None = None, active: bool | None = None) -> Tag:
    """Change a tag. A computed tag keeps being computed (its rule can change, not go
    away); a manual tag cannot get a rule (its members were chosen by people)."""
    tag = get_tag(session, key)
    _check_fields(category or tag.category, schedule or tag.schedule)
    if rule is not None:
        if tag.rule is None:
            raise TagError(f"{key} is a manual tag: make a new tag for a rule")
        tag.rule = dump_rule(check_rule(context, session, rule, key=key))
    for name_, value in (("name", name), ("description", description), ("category", category),
                         ("schedule", schedule), ("active", active)):
        if value is not None:
            setattr(tag, name_, value)
    tag.updated_at = context.clock.now()
    audit.record(session, actor, "tag.update", at=tag.updated_at, target_type="tag",
                 target_id=key)
    return tag


def delete_tag(context: AppContext, session: Session, key: str, *,
               actor: audit.Actor) -> None:
    """Delete a tag (and its history) that no segment or other tag uses."""
    tag = get_tag(session, key)
    users = [t.key for t in session.scalars(select(Tag).where(Tag.rule.is_not(None)))
             if t.key != key and t.rule and key in referenced_tags(parse_rule(t.rule))]
    users += [s.name for s in session.scalars(select(SavedSegment))
              if key in referenced_tags(parse_rule(s.definition))]
    if users:
        raise TagError(f"tag {key} is used by {', '.join(users)}")
    session.execute(delete(TagMembership).where(TagMembership.tag_id == tag.id))
    audit.record(session, actor, "tag.delete", at=context.clock.now(), target_type="tag",
                 target_id=key, details={"members": tag.members})
    session.delete(tag)


# --- computing ----------------------------------------------------------------------

def _due(tag: Tag, trigger: str, now: datetime) -> bool:
    if not tag.active or tag.rule is None:
        return False
    if trigger == "demand":
        return True
    if tag.schedule == "on_compute":
        return True
    if tag.schedule == "daily":
        return tag.computed_at is None or now - tag.computed_at >= timedelta(hours=24)
    return False


def dependency_order(rules: dict[str, Rule | None], keys: Iterable[str]) -> list[str]:
    """``keys`` ordered so a tag comes after the tags its rule uses (ties by key)."""
    wanted = set(keys)
    done: list[str] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        rule = rules.get(key)
        if rule is not None:
            for ref in sorted(referenced_tags(rule)):
                if ref in wanted:
                    visit(ref)
        done.append(key)

    for key in sorted(wanted):
        visit(key)
    return done


def compute_tags(context: AppContext, *, trigger: str = "demand",
                 keys: Iterable[str] | None = None,
                 actor: audit.Actor | None = None) -> list[ComputeOutcome]:
    """Compute the due tags (``trigger``: ``compute`` after a features run — tags whose
    schedule says so; ``demand`` — every computed tag, or ``keys``). A tag whose rule no
    longer fits the shop is reported with its error and left as it was."""
    from shopcrm.segments.audience import check_definition, members_expr

    who = actor or audit.SYSTEM
    now = context.clock.now()
    with context.sessions() as session:
        tags = list(session.scalars(select(Tag)))
        rules = {t.key: parse_rule(t.rule) if t.rule else None for t in tags}
        chosen = {t.key for t in tags if _due(t, trigger, now)
                  and (keys is None or t.key in set(keys))}
    if keys is not None:
        missing = set(keys) - {t.key for t in tags}
        if missing:
            raise TagNotFound(f"no tag {', '.join(sorted(missing))}")
    outcomes = []
    for key in dependency_order(rules, chosen):
        started = time.perf_counter()
        try:
            with context.sessions() as session:
                rule = check_definition(context, session, dump_rule(rules[key]))  # type: ignore[arg-type]
                data = context.warehouse.execute_here(
                    members_expr(context, session, rule).order_by("customer_id"))
            members = [int(i) for i in data.column("customer_id").to_pylist()]
            with context.sessions.begin() as session:
                entered, left = apply_members(session, get_tag(session, key), members,
                                              now=now, by=f"compute:{who.label}"[:100])
        except Exception as exc:  # one bad tag must not stop the others
            log.warning("tag %s not computed: %s", key, exc)
            outcomes.append(ComputeOutcome(key, 0, 0, 0, time.perf_counter() - started,
                                           error=str(exc)))
            continue
        outcomes.append(ComputeOutcome(key, len(members), entered, left,
                                       time.perf_counter() - started))
    return outcomes


def apply_members(session: Session, tag: Tag, members: list[int], *, now: datetime,
                  by: str) -> tuple[int, int]:
    """Make ``members`` the tag's computed members: close the stays of those who left,
    open stays for those who entered. Returns (entered, left)."""
    open_rows = {int(cid): int(row_id) for cid, row_id in session.execute(
        select(TagMembership.customer_id, TagMembership.id).where(
            TagMembership.tag_id == tag.id, TagMembership.until.is_(None),
            TagMembership.source == "rule"))}
    wanted = set(members)
    left = [row_id for cid, row_id in open_rows.items() if cid not in wanted]
    entered = sorted(wanted - set(open_rows))
    for start in range(0, len(left), INSERT_CHUNK):
        session.execute(update(TagMembership).where(
            TagMembership.id.in_(left[start:start + INSERT_CHUNK])).values(
            until=now, closed_by=by))
    for start in range(0, len(entered), INSERT_CHUNK):
        session.execute(insert(TagMembership), [
            {"tag_id": tag.id, "customer_id": cid, "source": "rule", "since": now,
             "until": None, "opened_by": by, "closed_by": None}
            for cid in entered[start:start + INSERT_CHUNK]])
    tag.computed_at = now
    tag.members = len(wanted)
    return len(entered), len(left)


# --- manual tags ----------------------------------------------------------------------

def _manual(tag: Tag) -> None:
    if tag.rule is not None:
        raise TagError(f"{tag.key} is computed from its rule: change the rule, not members")


def _current(session: Session, tag: Tag, customer_ids: Iterable[int]) -> set[int]:
    ids = list(customer_ids)
    found: set[int] = set()
    for start in range(0, len(ids), INSERT_CHUNK):
        found.update(session.scalars(select(TagMembership.customer_id).where(
            TagMembership.tag_id == tag.id, TagMembership.until.is_(None),
            TagMembership.customer_id.in_(ids[start:start + INSERT_CHUNK]))))
    return found


def _count(session: Session, tag: Tag) -> int:
    return int(session.scalar(select(func.count(func.distinct(TagMembership.customer_id)))
                              .where(TagMembership.tag_id == tag.id,
                                     TagMembership.until.is_(None))) or 0)


def add_members(context: AppContext, session: Session, key: str, customer_ids: list[int], *,
                actor: audit.Actor, source: str = "manual") -> int:
    """Tag customers by hand (or by upload); returns how many were not tagged yet."""
    tag = get_tag(session, key)
    _manual(tag)
    ids = sorted(set(customer_ids))
    known = set(session.scalars(select(Customer.id).where(Customer.id.in_(ids)))) if len(
        ids) <= INSERT_CHUNK else _known_ids(session, ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise TagError(f"no customer {', '.join(map(str, unknown[:10]))}")
    new = [i for i in ids if i not in _current(session, tag, ids)]
    now = context.clock.now()
    for start in range(0, len(new), INSERT_CHUNK):
        session.execute(insert(TagMembership), [
            {"tag_id": tag.id, "customer_id": cid, "source": source, "since": now,
             "until": None, "opened_by": actor.label[:100], "closed_by": None}
            for cid in new[start:start + INSERT_CHUNK]])
    tag.members = _count(session, tag)
    audit.record(session, actor, f"tag.{'upload' if source == 'upload' else 'add'}", at=now,
                 target_type="tag", target_id=key,
                 details={"customers": new[:100], "added": len(new)})
    return len(new)


def _known_ids(session: Session, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ids), INSERT_CHUNK):
        found.update(session.scalars(select(Customer.id).where(
            Customer.id.in_(ids[start:start + INSERT_CHUNK]))))
    return found


def remove_members(context: AppContext, session: Session, key: str, customer_ids: list[int],
                   *, actor: audit.Actor) -> int:
    """Untag customers by hand; returns how many were tagged."""
    tag = get_tag(session, key)
    _manual(tag)
    ids = sorted(set(customer_ids))
    now = context.clock.now()
    result = session.execute(update(TagMembership).where(
        TagMembership.tag_id == tag.id, TagMembership.until.is_(None),
        TagMembership.customer_id.in_(ids)).values(
        until=now, closed_by=actor.label[:100]))
    closed = cast(CursorResult[Any], result).rowcount
    tag.members = _count(session, tag)
    audit.record(session, actor, "tag.remove", at=now, target_type="tag", target_id=key,
                 details={"customers": ids[:100], "removed": int(closed or 0)})
    return int(closed or 0)


# --- bulk upload -----------------------------------------------------------------------

_HEADERS = {"customer_id": "id", "customer": "id", "id": "id", "客户id": "id", "客户编号": "id",
            "phone": "phone", "mobile": "phone", "手机": "phone", "手机号": "phone",
            "电话": "phone", "email": "email", "e-mail": "email", "邮箱": "email"}


def parse_upload(text: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """Rows of an upload as (line, kind, value) — kind ``id``, ``phone`` or ``email`` —
    and (line, reason) for rows that cannot name anyone. Pure.

    One value per row: the first column, or the column a header names (``customer_id``,
    ``phone``/``手机``, ``email``/``邮箱``). Without a header a value is an e-mail if it
    has an ``@``, a phone if it looks like one (11 digits starting with 1, or ``+``),
    else a customer ID.
    """
    rows = list(csv.reader(io.StringIO(text)))
    found: list[tuple[int, str, str]] = []
    bad: list[tuple[int, str]] = []
    column, kind = 0, None
    start = 0
    if rows and rows[0]:
        header = [c.strip().lower().lstrip("\ufeff") for c in rows[0]]
        for i, name in enumerate(header):
            if name in _HEADERS:
                column, kind, start = i, _HEADERS[name], 1
                break
    if len(rows) - start > MAX_UPLOAD_ROWS:
        raise TagError(f"at most {MAX_UPLOAD_ROWS:,} rows per upload")
    for index in range(start, len(rows)):
        line = index + 1
        row = rows[index]
        value = row[column].strip() if len(row) > column else ""
        if not value:
            if any(c.strip() for c in row):
                bad.append((line, "empty value"))
            continue
        found.append((line, kind or _guess(value), value))
    return found, bad


def _guess(value: str) -> str:
    if "@" in value:
        return "email"
    digits = value.replace(" ", "").replace("-", "")
    if digits.startswith("+") or (len(digits) == 11 and digits.startswith("1")
                                  and digits.isdigit()):
        return "phone"
    return "id"


def resolve_upload(session: Session, rows: list[tuple[int, str, str]]
                   ) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
    """(line, customer ID) for rows naming exactly one active customer; (line, reason)
    for the others. Merged customers resolve to the customer they were merged into."""
    from shopcrm.ingest.normalize import normalize_email, normalize_phone

    resolved: list[tuple[int, int]] = []
    bad: list[tuple[int, str]] = []
    for line, kind, value in rows:
        candidates: set[int]
        if kind == "id":
            if not value.isdigit() or len(value) > 18:
                bad.append((line, f"not a customer ID: {value[:40]!r}"))
                continue
            candidates = {int(value)}
        elif kind == "phone":
            phone = normalize_phone(value)
            if phone.kind != "e164" or not phone.value:
                bad.append((line, f"not a usable phone number ({phone.reason or phone.kind})"))
                continue
            candidates = set(session.scalars(select(Customer.id).where(
                Customer.phone == phone.value))) | set(session.scalars(
                select(SourceIdentity.customer_id).where(SourceIdentity.phone == phone.value)))
        else:
            email = normalize_email(value)
            if email.value is None:
                bad.append((line, f"not a usable e-mail address ({email.reason})"))
                continue
            candidates = set(session.scalars(select(Customer.id).where(
                Customer.email == email.value))) | set(session.scalars(
                select(SourceIdentity.customer_id).where(SourceIdentity.email == email.value)))
        people = _active(session, {c for c in candidates if c is not None})
        if not people:
            bad.append((line, f"no customer with this {'ID' if kind == 'id' else kind}"))
        elif len(people) > 1:
            bad.append((line, f"{kind} belongs to {len(people)} customers: "
                              f"{', '.join(map(str, sorted(people)[:5]))}"))
        else:
            resolved.append((line, people.pop()))
    return resolved, bad


def _active(session: Session, ids: set[int]) -> set[int]:
    out: set[int] = set()
    for customer in session.scalars(select(Customer).where(Customer.id.in_(ids))):
        if customer.status == "active":
            out.add(customer.id)
        elif customer.status == "merged" and customer.merged_into:
            out |= _active(session, {customer.merged_into})
    return out


def upload_members(context: AppContext, session: Session, key: str, data: bytes, *,
                   actor: audit.Actor) -> UploadReport:
    """Tag the customers a CSV names (IDs, phones or e-mails); bad rows come back with
    their line and the reason, the good ones are tagged."""
    tag = get_tag(session, key)
    _manual(tag)
    text = _decode(data)
    rows, bad = parse_upload(text)
    resolved, unresolved = resolve_upload(session, rows)
    report = UploadReport(rows=len(rows) + len(bad))
    report.bad = sorted(bad + unresolved)
    report.customers = sorted({cid for _, cid in resolved})
    before = _current(session, tag, report.customers)
    report.already = len(before)
    if report.customers:
        report.added = add_members(context, session, key, report.customers, actor=actor,
                                   source="upload")
    return report


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TagError("the file is neither UTF-8 nor GB18030 text")


# --- reading ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Stay:
    tag_key: str
    tag_name: str
    category: str
    customer_id: int
    source: str
    since: datetime
    until: datetime | None
    opened_by: str
    closed_by: str | None


def _stays(session: Session, query: Any) -> list[Stay]:
    return [Stay(t.key, t.name, t.category, m.customer_id, m.source, m.since, m.until,
                 m.opened_by, m.closed_by) for m, t in session.execute(query)]


def customer_tags(session: Session, customer_id: int, *, history: bool = False) -> list[Stay]:
    """A customer's current tags (or every stay, newest first, with ``history``)."""
    query = select(TagMembership, Tag).join(Tag, Tag.id == TagMembership.tag_id).where(
        TagMembership.customer_id == customer_id)
    if not history:
        query = query.where(TagMembership.until.is_(None))
    return _stays(session, query.order_by(TagMembership.since.desc(), TagMembership.id.desc()))


def tag_members(session: Session, key: str, *, page: int = 1, size: int = 50,
                history: bool = False) -> tuple[list[Stay], int]:
    """A page of a tag's current members (or of all its stays), newest first."""
    tag = get_tag(session, key)
    where = [TagMembership.tag_id == tag.id]
    if not history:
        where.append(TagMembership.until.is_(None))
    total = int(session.scalar(select(func.count()).select_from(TagMembership).where(*where))
                or 0)
    query = (select(TagMembership, Tag).join(Tag, Tag.id == TagMembership.tag_id).where(*where)
             .order_by(TagMembership.since.desc(), TagMembership.id.desc())
             .offset((max(page, 1) - 1) * size).limit(size))
    return _stays(session, query), total

