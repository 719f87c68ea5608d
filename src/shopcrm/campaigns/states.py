"""The campaign's life and its delivery counts: pure rules, no I/O.

::

    draft ──launch──► scheduled ──first claim──► sending ──nothing left──► done
                        │  ▲                       │  ▲
                        ▼  │ resume                ▼  │ resume
                        paused ◄───────────────────┘
    draft / scheduled / sending / paused ──cancel──► cancelled

A campaign is *done* only when every delivery is accounted for: no row is ``pending``
(due or held) and none is ``sending`` (claimed, in flight). A cancelled campaign turns
its pending rows into ``cancelled``; rows already in flight finish and are counted as
what they became.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

from shopcrm.campaigns import CampaignConflict


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    HOLDOUT = "holdout"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


OPEN = frozenset({DeliveryStatus.PENDING, DeliveryStatus.SENDING})
"""Deliveries not yet accounted for."""
ACCEPTED = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
                      DeliveryStatus.UNDELIVERED})
"""The provider took the message (a receipt may say more later)."""

TRANSITIONS: Mapping[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED}),
    CampaignStatus.SCHEDULED: frozenset({CampaignStatus.SENDING, CampaignStatus.PAUSED,
                                         CampaignStatus.CANCELLED, CampaignStatus.DONE}),
    CampaignStatus.SENDING: frozenset({CampaignStatus.PAUSED, CampaignStatus.CANCELLED,
                                       CampaignStatus.DONE}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING,
                                      CampaignStatus.CANCELLED}),
    CampaignStatus.DONE: frozenset(),
    CampaignStatus.CANCELLED: frozenset(),
}

DISPATCHABLE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING})
EDITABLE = frozenset({CampaignStatus.DRAFT})


class TransitionRefused(CampaignConflict):
    """The campaign cannot go from its status to the one asked for (409)."""


def check_transition(current: str, target: str) -> CampaignStatus:
    """``target`` as a status, or :class:`TransitionRefused` naming what is allowed."""
    source, goal = CampaignStatus(current), CampaignStatus(target)
    if goal not in TRANSITIONS[source]:
        allowed = ", ".join(sorted(TRANSITIONS[source])) or "nothing (it is final)"
        raise TransitionRefused(f"a {source} campaign cannot become {goal}; "
                                f"allowed: {allowed}")
    return goal


@dataclass(frozen=True)
class Counts:
    """Deliveries of one campaign by status; ``audience`` is their total.

    ``held`` is the part of ``pending`` waiting for a later moment (quiet hours, a
    frequency cap, a retry backoff, a later wave) — shown apart, still open.
    """

    audience: int = 0
    holdout: int = 0
    pending: int = 0
    held: int = 0
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0

    @classmethod
    def from_statuses(cls, by_status: Mapping[str, int], *, held: int = 0) -> Counts:
        """From ``{status: rows}``; an unknown status is an error, never dropped."""
        unknown = set(by_status) - {s.value for s in DeliveryStatus}
        if unknown:
            raise ValueError(f"unknown delivery status(es): {sorted(unknown)}")
        values = {s.value: int(by_status.get(s.value, 0)) for s in DeliveryStatus}
        return cls(audience=sum(values.values()), held=held, **values)

    @property
    def open(self) -> int:
        """Not yet accounted for (pending or in flight)."""
        return self.pending + self.sending

    @property
    def accepted(self) -> int:
        return self.sent + self.delivered + self.undelivered

    @property
    def treated(self) -> int:
        return self.audience - self.holdout

    @property
    def balanced(self) -> bool:
        """Every audience member is in exactly one bucket."""
        parts: int = sum(int(getattr(self, f.name)) for f in fields(self)
                         if f.name not in ("audience", "held"))
        return self.audience == parts

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def may_finish(counts: Counts) -> bool:
    """Whether a campaign with these counts may be marked done (or stay cancelled
    without anything in flight): nothing pending, nothing being sent."""
    return counts.open == 0 and counts.balanced
