"""Who a campaign goes to: an audience spec resolved to a fixed list of customer IDs.

Launching snapshots the audience once; the list becomes the campaign's delivery rows,
so what was decided at launch is what is sent, counted and measured — a segment that
changes tomorrow does not change a running campaign. Sources sit behind one small
protocol:

- :class:`ListAudienceSource` — an explicit or uploaded list of customer IDs;
- :class:`SegmentAudienceSource` — a saved segment, through
  ``shopcrm.segments.audience.snapshot_members(context, segment_id, *, reason)``
  (the segments capability's own snapshot, with its ID for the audit trail), when that
  module is installed.

Both hand back current, contactable customer IDs: a merged-away ID is replaced by the
customer it was merged into (once), unknown and erased customers are left out and
counted.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shopcrm.campaigns.specs import ListAudience, SegmentAudience
from shopcrm.store.models import Customer

if TYPE_CHECKING:
    from shopcrm.context import AppContext

_CHUNK = 2000
SEGMENTS_MODULE = "shopcrm.segments.audience"


class AudienceUnavailable(RuntimeError):
    """The audience cannot be resolved (e.g. segments are not installed) (422)."""


@dataclass(frozen=True)
class Audience:
    """A resolved audience: the snapshot's ID, the customers, what was left out."""

    snapshot_id: str
    customer_ids: list[int]
    left_out: dict[str, int] = field(default_factory=dict)
    """Reason → count (``unknown``, ``erased``, ``duplicate``)."""


class AudienceSource(Protocol):
    """Turns one kind of audience spec into customer IDs (at launch, once)."""

    def resolve(self, context: AppContext, spec: Any, *, reason: str) -> Audience: ...


def list_digest(customer_ids: Sequence[int]) -> str:
    """A short, stable name for a list snapshot (same IDs, same name)."""
    digest = hashlib.sha256(",".join(map(str, sorted(customer_ids))).encode()).hexdigest()
    return f"list:{digest[:16]}"


def current_customers(session: Session, customer_ids: Iterable[int]) -> Audience:
    """Map IDs to the current customers: merged IDs to their survivor, unknown and
    erased ones left out, duplicates (after mapping) kept once, first-seen order."""
    wanted = list(customer_ids)
    distinct = sorted(set(wanted))
    rows: dict[int, tuple[str, int | None]] = {}
    c = Customer.__table__.c
    query = select(c.id, c.status, c.merged_into).where(
        c.id.in_(bindparam("ids", expanding=True)))
    for start in range(0, len(distinct), _CHUNK):
        for cid, status, merged_into in session.execute(
                query, {"ids": distinct[start:start + _CHUNK]}):
            rows[int(cid)] = (str(status), merged_into)
    # Survivors of merges that are not in the list themselves.
    survivors = sorted({m for s, m in rows.values() if s == "merged" and m and m not in rows})
    for start in range(0, len(survivors), _CHUNK):
        for cid, status, merged_into in session.execute(
                query, {"ids": survivors[start:start + _CHUNK]}):
            rows[int(cid)] = (str(status), merged_into)
    left_out: dict[str, int] = {}
    seen: set[int] = set()
    result: list[int] = []
    for cid in wanted:
        target: int | None = cid
        for _ in range(8):  # merge chains are short; a cycle would be a bug elsewhere
            found = rows.get(target) if target is not None else None
            if found is None or found[0] != "merged" or not found[1]:
                break
            target = found[1]
        found = rows.get(target) if target is not None else None
        reason = None
        if found is None:
            reason = "unknown"
        elif found[0] == "erased":
            reason = "erased"
        elif found[0] == "merged":
            reason = "unknown"
        elif target in seen:
            reason = "duplicate"
        if reason:
            left_out[reason] = left_out.get(reason, 0) + 1
            continue
        assert target is not None
        seen.add(target)
        result.append(target)
    return Audience(snapshot_id=list_digest(result), customer_ids=result, left_out=left_out)


class ListAudienceSource:
    """An explicit list of customer IDs (typed in, uploaded, or from an API call)."""

    def resolve(self, context: AppContext, spec: Any, *, reason: str) -> Audience:
        if not isinstance(spec, ListAudience):
            raise TypeError("ListAudienceSource resolves list audiences only")
        with context.sessions() as session:
            return current_customers(session, spec.customer_ids)


class SegmentAudienceSource:
    """A saved segment, snapshotted by the segments capability."""

    def resolve(self, context: AppContext, spec: Any, *, reason: str) -> Audience:
        if not isinstance(spec, SegmentAudience):
            raise TypeError("SegmentAudienceSource resolves segment audiences only")
        try:
            module: Any = importlib.import_module(SEGMENTS_MODULE)
        except ImportError as exc:
            raise AudienceUnavailable(
                "saved segments are not available in this installation; use a list of "
                "customer IDs") from exc
        try:
            snapshot_id, members = module.snapshot_members(context, spec.segment_id,
                                                           reason=reason)
        except (LookupError, ValueError) as exc:  # no such segment, or it cannot run now
            raise AudienceUnavailable(f"the audience cannot be drawn: {exc}") from exc
        with context.sessions() as session:
            found = current_customers(session, members)
        return Audience(snapshot_id=f"segment:{snapshot_id}"[:64],
                        customer_ids=found.customer_ids, left_out=found.left_out)


SOURCES: dict[str, AudienceSource] = {"list": ListAudienceSource(),
                                      "segment": SegmentAudienceSource()}


def resolve_audience(context: AppContext, spec: ListAudience | SegmentAudience, *,
                     reason: str, sources: dict[str, AudienceSource] | None = None) -> Audience:
    """The audience of ``spec`` through the source registered for its kind."""
    source = (sources or SOURCES).get(spec.kind)
    if source is None:
        raise AudienceUnavailable(f"no audience source for {spec.kind!r}")
    return source.resolve(context, spec, reason=reason)
