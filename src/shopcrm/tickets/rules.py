"""Service-ticket rules: kinds, channels, the status machine, priority and SLA clocks.

Pure — no I/O — so every rule is unit-tested on hand-made timelines.

Why these rules:
- **Priority follows the member.** A complaint outranks a question, and a customer whose
  loyalty tier promises ``priority`` or ``dedicated`` service (``Benefits.service_level``)
  is raised one or two steps: the tier's promise is kept by the queue, not by an agent's
  memory. An agent may still set the priority by hand (recorded as an override).
- **Two SLA clocks.** *First response* runs from creation to the first reply the customer
  sees (an internal note does not count). *Resolution* runs from creation to resolved and
  stops while the ticket waits on the customer (``pending``), as commercial help desks do:
  an agent is not late because a buyer has not sent the photo of the broken item yet.
  Calendar time, not business hours: Chinese shops' service desks run every day, and a
  shop that keeps office hours sets longer targets.
- **Closed is final.** A resolved ticket can be reopened (the customer writes again); a
  closed one cannot — a new ticket is opened, so closed figures never change.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TicketKind(StrEnum):
    CONSULTATION = "consultation"
    """售前/售中咨询: a question about a product, an order, delivery."""
    COMPLAINT = "complaint"
    """投诉."""
    AFTER_SALES = "after_sales"
    """售后: return, refund, exchange, repair."""


class TicketChannel(StrEnum):
    PHONE = "phone"
    WECHAT = "wechat"
    WANGWANG = "wangwang"
    """Taobao/Tmall 旺旺 (千牛)."""
    JD_DONGDONG = "jd_dongdong"
    """JD 咚咚."""
    PDD = "pdd"
    EMAIL = "email"
    WEB = "web"
    APP = "app"
    OTHER = "other"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    """Waiting on the customer: the resolution clock stops."""
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_ORDER: tuple[Priority, ...] = (Priority.LOW, Priority.NORMAL, Priority.HIGH,
                                        Priority.URGENT)

TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.RESOLVED,
                                  TicketStatus.CLOSED}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.RESOLVED,
                                     TicketStatus.CLOSED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}

BASE_PRIORITY: dict[TicketKind, Priority] = {
    TicketKind.CONSULTATION: Priority.NORMAL,
    TicketKind.AFTER_SALES: Priority.NORMAL,
    TicketKind.COMPLAINT: Priority.HIGH,
}

SERVICE_LEVEL_STEPS: dict[str, int] = {"standard": 0, "priority": 1, "dedicated": 2}
"""How many steps a loyalty tier's ``service_level`` raises a ticket."""


class TicketRuleError(ValueError):
    """A change the rules refuse (a closed ticket reopened, a rating before resolution)."""


def check_transition(current: TicketStatus, target: TicketStatus) -> None:
    if target == current:
        raise TicketRuleError(f"the ticket is already {current.value}")
    if target not in TRANSITIONS[current]:
        raise TicketRuleError(f"a {current.value} ticket cannot become {target.value}")


def priority_for(kind: TicketKind, service_level: str | None) -> Priority:
    """The starting priority: the kind's base, raised by the member's service level."""
    steps = SERVICE_LEVEL_STEPS.get(service_level or "standard", 0)
    index = PRIORITY_ORDER.index(BASE_PRIORITY[kind]) + steps
    return PRIORITY_ORDER[min(index, len(PRIORITY_ORDER) - 1)]


class SlaTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_response_minutes: int = Field(ge=1, le=60 * 24 * 30)
    resolution_hours: int = Field(ge=1, le=24 * 90)


class SlaPolicy(BaseModel):
    """Targets per priority; ``at_risk_share`` of a target used = at risk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urgent: SlaTarget = SlaTarget(first_response_minutes=30, resolution_hours=4)
    high: SlaTarget = SlaTarget(first_response_minutes=120, resolution_hours=24)
    normal: SlaTarget = SlaTarget(first_response_minutes=480, resolution_hours=72)
    low: SlaTarget = SlaTarget(first_response_minutes=1440, resolution_hours=120)
    at_risk_share: float = Field(default=0.8, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> SlaPolicy:
        ladder = [self.low, self.normal, self.high, self.urgent]
        for lower, higher in itertools.pairwise(ladder):
            if (higher.first_response_minutes > lower.first_response_minutes
                    or higher.resolution_hours > lower.resolution_hours):
                raise ValueError("a higher priority cannot have a longer target "
                                 "than a lower one")
        return self

    def target(self, priority: Priority) -> SlaTarget:
        target: SlaTarget = getattr(self, priority.value)
        return target


class ClockState(StrEnum):
    RUNNING = "running"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"
    MISSED = "missed"
    """Stopped, but after the due time."""


@dataclass(frozen=True)
class Clock:
    state: ClockState
    due: datetime | None
    """When the clock reaches its target (None while paused: it moves on resume)."""
    used: timedelta
    target: timedelta


@dataclass(frozen=True)
class TicketTimes:
    """What the clocks need to know about one ticket."""

    created_at: datetime
    priority: Priority
    status: TicketStatus
    first_response_at: datetime | None
    resolved_at: datetime | None
    paused: timedelta
    """Time spent pending before the current pending spell (if any)."""
    pending_since: datetime | None


def _state(used: timedelta, target: timedelta, share: float, *, stopped: bool,
           paused: bool) -> ClockState:
    if stopped:
        return ClockState.MET if used <= target else ClockState.MISSED
    if used > target:
        return ClockState.BREACHED
    if paused:
        return ClockState.PAUSED
    return ClockState.AT_RISK if used >= target * share else ClockState.RUNNING


def first_response_clock(times: TicketTimes, policy: SlaPolicy, now: datetime) -> Clock:
    target = timedelta(minutes=policy.target(times.priority).first_response_minutes)
    end = times.first_response_at or times.resolved_at
    stopped = end is not None
    used = (end or now) - times.created_at
    return Clock(_state(used, target, policy.at_risk_share, stopped=stopped, paused=False),
                 times.created_at + target, used, target)


def resolution_clock(times: TicketTimes, policy: SlaPolicy, now: datetime) -> Clock:
    target = timedelta(hours=policy.target(times.priority).resolution_hours)
    stopped = times.resolved_at is not None and times.status in (TicketStatus.RESOLVED,
                                                                 TicketStatus.CLOSED)
    paused_now = times.pending_since is not None and not stopped
    end = times.resolved_at if stopped else (times.pending_since if paused_now else now)
    assert end is not None
    used = end - times.created_at - times.paused
    due = None if paused_now else times.created_at + times.paused + target
    return Clock(_state(used, target, policy.at_risk_share, stopped=stopped,
                        paused=paused_now), due, used, target)


def pause_added(times: TicketTimes, now: datetime) -> timedelta:
    """The paused time after a pending spell ends at ``now``."""
    if times.pending_since is None:
        return times.paused
    return times.paused + max(now - times.pending_since, timedelta(0))


def check_rating(status: TicketStatus, score: int) -> None:
    if status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise TicketRuleError("a ticket is rated after it is resolved")
    if not 1 <= score <= 5:
        raise TicketRuleError("satisfaction is a score from 1 to 5")
