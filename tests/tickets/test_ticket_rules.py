"""Ticket rules on hand-made timelines: priority, transitions, both SLA clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shopcrm.tickets.rules import (
    ClockState,
    Priority,
    SlaPolicy,
    SlaTarget,
    TicketKind,
    TicketRuleError,
    TicketStatus,
    TicketTimes,
    check_rating,
    check_transition,
    first_response_clock,
    pause_added,
    priority_for,
    resolution_clock,
)

T0 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)
POLICY = SlaPolicy()  # normal: first response 8 h, resolution 72 h; at risk from 80 %


def times(**changes: object) -> TicketTimes:
    base: dict[str, object] = {
        "created_at": T0, "priority": Priority.NORMAL, "status": TicketStatus.OPEN,
        "first_response_at": None, "resolved_at": None, "paused": timedelta(0),
        "pending_since": None}
    base.update(changes)
    return TicketTimes(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "level", "expected"), [
    (TicketKind.CONSULTATION, None, Priority.NORMAL),
    (TicketKind.CONSULTATION, "standard", Priority.NORMAL),
    (TicketKind.CONSULTATION, "priority", Priority.HIGH),
    (TicketKind.CONSULTATION, "dedicated", Priority.URGENT),
    (TicketKind.COMPLAINT, None, Priority.HIGH),
    (TicketKind.COMPLAINT, "priority", Priority.URGENT),
    (TicketKind.COMPLAINT, "dedicated", Priority.URGENT),  # capped, not past the top
    (TicketKind.AFTER_SALES, "unknown-level", Priority.NORMAL),
])
def test_priority_follows_kind_and_member_service_level(kind: TicketKind, level: str | None,
                                                        expected: Priority) -> None:
    assert priority_for(kind, level) is expected


@pytest.mark.parametrize(("current", "target"), [
    (TicketStatus.OPEN, TicketStatus.PENDING), (TicketStatus.PENDING, TicketStatus.OPEN),
    (TicketStatus.OPEN, TicketStatus.RESOLVED), (TicketStatus.RESOLVED, TicketStatus.OPEN),
    (TicketStatus.RESOLVED, TicketStatus.CLOSED), (TicketStatus.PENDING, TicketStatus.CLOSED),
])
def test_allowed_transitions(current: TicketStatus, target: TicketStatus) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [
    (TicketStatus.CLOSED, TicketStatus.OPEN), (TicketStatus.CLOSED, TicketStatus.RESOLVED),
    (TicketStatus.RESOLVED, TicketStatus.PENDING), (TicketStatus.OPEN, TicketStatus.OPEN),
])
def test_refused_transitions(current: TicketStatus, target: TicketStatus) -> None:
    with pytest.raises(TicketRuleError):
        check_transition(current, target)


def test_first_response_clock_running_at_risk_breached_met_missed() -> None:
    clock = first_response_clock(times(), POLICY, T0 + timedelta(hours=1))
    assert clock.state is ClockState.RUNNING and clock.due == T0 + timedelta(hours=8)
    # 80 % of 8 h = 6 h 24 min
    assert first_response_clock(times(), POLICY, T0 + timedelta(hours=6, minutes=24)).state \
        is ClockState.AT_RISK
    assert first_response_clock(times(), POLICY, T0 + timedelta(hours=8, seconds=1)).state \
        is ClockState.BREACHED
    answered = times(first_response_at=T0 + timedelta(hours=8))
    assert first_response_clock(answered, POLICY, T0 + timedelta(days=5)).state \
        is ClockState.MET  # exactly on the due time counts as met
    late = times(first_response_at=T0 + timedelta(hours=9))
    assert first_response_clock(late, POLICY, T0 + timedelta(days=5)).state \
        is ClockState.MISSED


def test_resolution_clock_stops_while_pending() -> None:
    # open 10 h, pending 50 h (customer silent), open again: 10 h used, not 60 h
    pending = times(status=TicketStatus.PENDING, pending_since=T0 + timedelta(hours=10))
    during = resolution_clock(pending, POLICY, T0 + timedelta(hours=60))
    assert during.state is ClockState.PAUSED and during.due is None
    assert during.used == timedelta(hours=10)
    resumed_at = T0 + timedelta(hours=60)
    paused = pause_added(pending, resumed_at)
    assert paused == timedelta(hours=50)
    again = times(paused=paused)
    clock = resolution_clock(again, POLICY, resumed_at + timedelta(hours=1))
    assert clock.used == timedelta(hours=11)
    assert clock.due == T0 + timedelta(hours=50 + 72)
    assert clock.state is ClockState.RUNNING


def test_a_pending_ticket_past_its_target_is_still_breached() -> None:
    pending = times(status=TicketStatus.PENDING, pending_since=T0 + timedelta(hours=80))
    assert resolution_clock(pending, POLICY, T0 + timedelta(hours=90)).state \
        is ClockState.BREACHED


def test_resolved_clock_is_met_or_missed_for_ever() -> None:
    done = times(status=TicketStatus.RESOLVED, resolved_at=T0 + timedelta(hours=70))
    assert resolution_clock(done, POLICY, T0 + timedelta(days=30)).state is ClockState.MET
    late = times(status=TicketStatus.CLOSED, resolved_at=T0 + timedelta(hours=73))
    assert resolution_clock(late, POLICY, T0 + timedelta(days=30)).state is ClockState.MISSED


def test_urgent_targets_are_shorter() -> None:
    urgent = first_response_clock(times(priority=Priority.URGENT), POLICY, T0)
    assert urgent.target == timedelta(minutes=30)


def test_policy_refuses_a_higher_priority_with_a_longer_target() -> None:
    with pytest.raises(ValidationError, match="higher priority"):
        SlaPolicy(urgent=SlaTarget(first_response_minutes=600, resolution_hours=4))


def test_rating_only_after_resolution_and_in_range() -> None:
    check_rating(TicketStatus.RESOLVED, 5)
    check_rating(TicketStatus.CLOSED, 1)
    with pytest.raises(TicketRuleError, match="after it is resolved"):
        check_rating(TicketStatus.OPEN, 4)
    with pytest.raises(TicketRuleError, match="1 to 5"):
        check_rating(TicketStatus.RESOLVED, 6)
