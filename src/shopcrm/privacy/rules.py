"""Privacy rules: pure functions of consent records, a moment in time, identity keys.

No I/O here, so the campaign capability can ask "may we contact this customer?" for a
million customers without touching the store, and every rule is unit-tested with plain
values. The store layer (:mod:`shopcrm.privacy.consents`) turns rows into
:class:`ConsentRecord` values and back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    """How a customer is reached; ``any`` stands for every channel at once."""

    SMS = "sms"
    EMAIL = "email"
    PUSH = "push"
    WECHAT = "wechat"
    PHONE = "phone"
    ANY = "any"


class Purpose(StrEnum):
    """Why a customer is contacted or their data processed."""

    MARKETING = "marketing"
    SERVICE = "service"
    ANALYTICS = "analytics"
    PROFILING = "profiling"


class Status(StrEnum):
    """A consent is given or taken back; "never asked" is the absence of a record."""

    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


CONCRETE_CHANNELS: tuple[Channel, ...] = tuple(c for c in Channel if c is not Channel.ANY)

DEFAULT_WITHOUT_RECORD: Mapping[Purpose, bool] = {
    Purpose.MARKETING: False,
    Purpose.SERVICE: True,
    Purpose.ANALYTICS: True,
    Purpose.PROFILING: False,
}
"""The answer when a customer never said anything for a purpose. Marketing and
profiling (PIPL art. 24 automated decisions, GDPR art. 21/22) need an explicit grant;
service messages about the customer's own orders and aggregate analytics of the shop's
own records rest on the contract and legitimate interest, so they are allowed until
withdrawn."""

SOURCE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*(:[a-z0-9][a-z0-9._-]*)?$")
"""``api``, ``web``, ``sms-reply``, ``import:shopify-customers``, ``erasure``,
``merge:123``: a lower-case word, optionally ``kind:detail``."""

ERASURE_SOURCE = "erasure"


@dataclass(frozen=True)
class ConsentRecord:
    """One consent change as the rules see it (no database identity needed).

    ``seq`` breaks ties between records made at the same moment (the row ID), so the
    record written last is the newest even within one transaction.
    """

    channel: Channel
    purpose: Purpose
    status: Status
    at: datetime
    source: str = "api"
    actor: str = "system"
    seq: int = 0

    def __post_init__(self) -> None:
        # SQLite hands back naive datetimes; everything in shopcrm is stored as UTC.
        if self.at.tzinfo is None:
            object.__setattr__(self, "at", self.at.replace(tzinfo=UTC))
        object.__setattr__(self, "channel", Channel(self.channel))
        object.__setattr__(self, "purpose", Purpose(self.purpose))
        object.__setattr__(self, "status", Status(self.status))

    @property
    def key(self) -> tuple[Channel, Purpose]:
        return (self.channel, self.purpose)

    @property
    def order(self) -> tuple[datetime, int]:
        """Sort key: later ``at`` is newer; equal times fall back to ``seq``."""
        return (self.at, self.seq)


@dataclass(frozen=True)
class ContactDecision:
    """The answer to "may we contact?" with the reason, for logs and the UI."""

    allowed: bool
    reason: str
    basis: ConsentRecord | None = None


def validate_source(source: str) -> str:
    """The source unchanged if it is well-formed, else ValueError (it is shown in exports)."""
    if len(source) > 64 or not SOURCE_PATTERN.match(source):
        raise ValueError(f"consent source {source!r} must look like 'api', 'web', "
                         "'sms-reply' or 'import:<format>' (lower case, at most 64 characters)")
    return source


def current_consents(
    records: Iterable[ConsentRecord], *, now: datetime | None = None
) -> dict[tuple[Channel, Purpose], ConsentRecord]:
    """The newest record per (channel, purpose); records after ``now`` are not yet in force."""
    current: dict[tuple[Channel, Purpose], ConsentRecord] = {}
    for record in records:
        if now is not None and record.at > _utc(now):
            continue
        held = current.get(record.key)
        if held is None or record.order > held.order:
            current[record.key] = record
    return current


def decide(
    records: Iterable[ConsentRecord], *, channel: Channel, purpose: Purpose, now: datetime
) -> ContactDecision:
    """May we contact the customer on ``channel`` for ``purpose`` at ``now``?

    The current records for the channel itself and for ``any`` both apply: a withdrawal
    in either beats a grant in the other (the customer's "no" is never overridden by a
    broader or narrower "yes"). With no record at all, :data:`DEFAULT_WITHOUT_RECORD`.
    """
    channel, purpose = Channel(channel), Purpose(purpose)
    if channel is Channel.ANY:
        raise ValueError("ask about a concrete channel (sms, email, push, wechat, phone)")
    current = current_consents(records, now=now)
    applicable = [r for r in (current.get((channel, purpose)), current.get((Channel.ANY, purpose)))
                  if r is not None]
    withdrawn = [r for r in applicable if r.status is Status.WITHDRAWN]
    if withdrawn:
        basis = max(withdrawn, key=lambda r: r.order)
        return ContactDecision(False, f"withdrawn for {basis.channel}/{purpose} "
                                      f"({basis.source}, {basis.at.isoformat()})", basis)
    if applicable:
        basis = max(applicable, key=lambda r: r.order)
        return ContactDecision(True, f"granted for {basis.channel}/{purpose} "
                                     f"({basis.source}, {basis.at.isoformat()})", basis)
    allowed = DEFAULT_WITHOUT_RECORD[purpose]
    return ContactDecision(allowed, f"no consent record for {purpose}: "
                                    f"{'allowed' if allowed else 'not allowed'} by default")


def may_contact(
    records: Iterable[ConsentRecord], *, channel: Channel, purpose: Purpose, now: datetime
) -> bool:
    """Shorthand for ``decide(...).allowed`` — what a campaign filter needs."""
    return decide(records, channel=channel, purpose=purpose, now=now).allowed


def merge_consents(
    records_a: Iterable[ConsentRecord], records_b: Iterable[ConsentRecord]
) -> list[ConsentRecord]:
    """The current consents two merged customers keep: the stricter one per key.

    Per (channel, purpose) a withdrawal on either side wins over a grant on the other
    (the newest withdrawal if both withdrew); when both granted, the newer grant. So a
    merge can never widen what either person allowed (Mautic #5495). The identity
    capability writes the result as new records of the surviving customer at merge
    time (source ``merge:<other id>``), keeping both histories.
    """
    current_a, current_b = current_consents(records_a), current_consents(records_b)
    merged: list[ConsentRecord] = []
    for key in sorted(set(current_a) | set(current_b)):
        candidates = [r for r in (current_a.get(key), current_b.get(key)) if r is not None]
        withdrawn = [r for r in candidates if r.status is Status.WITHDRAWN]
        merged.append(max(withdrawn or candidates, key=lambda r: r.order))
    return merged


@dataclass(frozen=True)
class ConsentChange:
    """A consent a source states: what should be recorded for (channel, purpose)."""

    channel: Channel
    purpose: Purpose
    status: Status


IDENTITY_FLAGS: Mapping[str, Channel] = {"accepts_email": Channel.EMAIL,
                                         "accepts_sms": Channel.SMS}
"""Identity attributes (from Shopify customers exports) that carry a marketing consent."""


def consents_from_identity_attributes(
    attributes: Mapping[str, Any] | None,
) -> list[ConsentChange]:
    """Marketing consents stated by an identity's ``accepts_email`` / ``accepts_sms``.

    ``True`` is a grant; ``False`` is recorded as a withdrawal (the shop cannot tell
    "never subscribed" from "unsubscribed", and both mean no marketing); a missing or
    unreadable flag states nothing.
    """
    changes: list[ConsentChange] = []
    for flag, channel in IDENTITY_FLAGS.items():
        value = (attributes or {}).get(flag)
        if isinstance(value, bool):
            changes.append(ConsentChange(channel, Purpose.MARKETING,
                                         Status.GRANTED if value else Status.WITHDRAWN))
    return changes


def stricter_changes(changes: Iterable[ConsentChange]) -> list[ConsentChange]:
    """One change per (channel, purpose), a withdrawal winning — for a customer whose
    several identities state different flags, so re-running a sync stays a no-op."""
    by_key: dict[tuple[Channel, Purpose], ConsentChange] = {}
    for change in changes:
        held = by_key.get((change.channel, change.purpose))
        if held is None or change.status is Status.WITHDRAWN:
            by_key[(change.channel, change.purpose)] = change
    return [by_key[key] for key in sorted(by_key)]


ERASED_PREFIX = "erased:"


def erased_external_id(external_id: str) -> str:
    """What an erased identity's external ID becomes: ``erased:<sha256 of the old one>``.

    The old key (a buyer nickname, ``email:<address>``) is personal data and must go,
    but keeping its hash lets a later import recognise the same key (hash it, look it
    up) instead of silently bringing the person back as if nothing had happened. The
    hash is a pseudonym, not anonymity: whoever holds the original key can match it,
    which is exactly what the re-import check needs and nothing more.
    """
    if external_id.startswith(ERASED_PREFIX):
        return external_id
    return ERASED_PREFIX + hashlib.sha256(external_id.encode("utf-8")).hexdigest()


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
