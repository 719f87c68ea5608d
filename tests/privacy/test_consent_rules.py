"""The pure consent rules: may we contact, any-channel withdrawals, defaults, merges,
Shopify flags — plain values, no store."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopcrm.privacy.rules import (
    CONCRETE_CHANNELS,
    Channel,
    ConsentChange,
    ConsentRecord,
    Purpose,
    Status,
    consents_from_identity_attributes,
    current_consents,
    decide,
    erased_external_id,
    may_contact,
    merge_consents,
    stricter_changes,
    validate_source,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
GRANTED, WITHDRAWN = Status.GRANTED, Status.WITHDRAWN
SMS, EMAIL, ANY = Channel.SMS, Channel.EMAIL, Channel.ANY
MARKETING, SERVICE = Purpose.MARKETING, Purpose.SERVICE


def rec(channel: Channel, purpose: Purpose, status: Status, day: int, seq: int = 0,
        source: str = "api") -> ConsentRecord:
    return ConsentRecord(channel=channel, purpose=purpose, status=status,
                         at=T0 + timedelta(days=day), source=source, seq=seq)


def test_no_record_means_no_marketing_but_service() -> None:
    for channel in CONCRETE_CHANNELS:
        assert may_contact([], channel=channel, purpose=MARKETING, now=NOW) is False
        assert may_contact([], channel=channel, purpose=SERVICE, now=NOW) is True
    assert may_contact([], channel=SMS, purpose=Purpose.PROFILING, now=NOW) is False
    assert may_contact([], channel=SMS, purpose=Purpose.ANALYTICS, now=NOW) is True
    assert "no consent record" in decide([], channel=SMS, purpose=MARKETING, now=NOW).reason


def test_newest_record_of_a_channel_wins() -> None:
    granted_then_withdrawn = [rec(SMS, MARKETING, GRANTED, 1), rec(SMS, MARKETING, WITHDRAWN, 2)]
    assert not may_contact(granted_then_withdrawn, channel=SMS, purpose=MARKETING, now=NOW)
    withdrawn_then_granted = [rec(SMS, MARKETING, WITHDRAWN, 1), rec(SMS, MARKETING, GRANTED, 2)]
    assert may_contact(withdrawn_then_granted, channel=SMS, purpose=MARKETING, now=NOW)
    # A grant on one channel says nothing about another, nor about another purpose.
    assert not may_contact(withdrawn_then_granted, channel=EMAIL, purpose=MARKETING, now=NOW)
    assert may_contact([rec(SMS, SERVICE, WITHDRAWN, 1)], channel=EMAIL, purpose=SERVICE,
                       now=NOW)
    assert not may_contact([rec(SMS, SERVICE, WITHDRAWN, 1)], channel=SMS, purpose=SERVICE,
                           now=NOW)


def test_same_moment_is_ordered_by_sequence() -> None:
    records = [rec(SMS, MARKETING, WITHDRAWN, 1, seq=8), rec(SMS, MARKETING, GRANTED, 1, seq=7)]
    assert not may_contact(records, channel=SMS, purpose=MARKETING, now=NOW)
    assert current_consents(records)[(SMS, MARKETING)].seq == 8


def test_any_channel_withdrawal_covers_every_channel() -> None:
    records = [rec(SMS, MARKETING, GRANTED, 1), rec(EMAIL, MARKETING, GRANTED, 1),
               rec(ANY, MARKETING, WITHDRAWN, 2)]
    for channel in CONCRETE_CHANNELS:
        decision = decide(records, channel=channel, purpose=MARKETING, now=NOW)
        assert not decision.allowed
        assert decision.basis is not None and decision.basis.channel is ANY


def test_withdrawn_beats_granted_across_any_and_channel() -> None:
    # A later grant on SMS does not lift an earlier withdrawal for every channel …
    later_sms = [rec(ANY, MARKETING, WITHDRAWN, 1), rec(SMS, MARKETING, GRANTED, 5)]
    assert not may_contact(later_sms, channel=SMS, purpose=MARKETING, now=NOW)
    # … and a later grant for every channel does not lift an SMS withdrawal.
    later_any = [rec(SMS, MARKETING, WITHDRAWN, 1), rec(ANY, MARKETING, GRANTED, 5)]
    assert not may_contact(later_any, channel=SMS, purpose=MARKETING, now=NOW)
    assert may_contact(later_any, channel=EMAIL, purpose=MARKETING, now=NOW)
    # Granting again where it was withdrawn does.
    regranted = [*later_sms, rec(ANY, MARKETING, GRANTED, 6)]
    assert may_contact(regranted, channel=SMS, purpose=MARKETING, now=NOW)


def test_records_after_now_are_not_yet_in_force() -> None:
    records = [rec(SMS, MARKETING, GRANTED, 1), rec(SMS, MARKETING, WITHDRAWN, 60)]
    assert may_contact(records, channel=SMS, purpose=MARKETING, now=NOW)
    assert not may_contact(records, channel=SMS, purpose=MARKETING, now=NOW + timedelta(days=60))


def test_naive_times_are_utc_and_any_is_not_a_question() -> None:
    naive = ConsentRecord(SMS, MARKETING, GRANTED, at=datetime(2026, 1, 2))
    assert naive.at.tzinfo is UTC
    assert may_contact([naive], channel=SMS, purpose=MARKETING, now=NOW)
    with pytest.raises(ValueError, match="concrete channel"):
        decide([], channel=ANY, purpose=MARKETING, now=NOW)
    with pytest.raises(ValueError):
        ConsentRecord("fax", MARKETING, GRANTED, at=T0)  # type: ignore[arg-type]


def test_merge_keeps_the_stricter_consent_per_key() -> None:
    a = [rec(SMS, MARKETING, WITHDRAWN, 1), rec(EMAIL, MARKETING, GRANTED, 1),
         rec(EMAIL, SERVICE, GRANTED, 1)]
    b = [rec(SMS, MARKETING, GRANTED, 9), rec(EMAIL, MARKETING, GRANTED, 4),
         rec(ANY, MARKETING, GRANTED, 2)]
    merged = {r.key: r for r in merge_consents(a, b)}
    assert merged[(SMS, MARKETING)].status is WITHDRAWN  # older withdrawal beats newer grant
    assert merged[(EMAIL, MARKETING)].at == T0 + timedelta(days=4)  # both granted: newer
    assert merged[(EMAIL, SERVICE)].status is GRANTED  # only one side spoke
    assert merged[(ANY, MARKETING)].status is GRANTED
    assert set(merged) == {(SMS, MARKETING), (EMAIL, MARKETING), (EMAIL, SERVICE),
                           (ANY, MARKETING)}
    assert not may_contact(list(merged.values()), channel=SMS, purpose=MARKETING, now=NOW)
    # The outcome does not depend on which customer survives.
    assert merge_consents(a, b) == merge_consents(b, a)


def test_merge_of_two_withdrawals_keeps_the_newest_and_uses_current_state() -> None:
    a = [rec(SMS, MARKETING, GRANTED, 1), rec(SMS, MARKETING, WITHDRAWN, 3)]
    b = [rec(SMS, MARKETING, WITHDRAWN, 2), rec(SMS, MARKETING, GRANTED, 8)]
    merged = merge_consents(a, b)
    assert [(r.status, r.at) for r in merged] == [(WITHDRAWN, T0 + timedelta(days=3))]
    assert merge_consents([], []) == []


_records = st.lists(st.builds(
    rec, st.sampled_from(list(Channel)), st.sampled_from(list(Purpose)),
    st.sampled_from(list(Status)), st.integers(0, 20), st.integers(0, 5)), max_size=12)


@given(_records, _records)
def test_merge_never_allows_what_either_side_withdrew(a: list[ConsentRecord],
                                                      b: list[ConsentRecord]) -> None:
    merged = merge_consents(a, b)
    for side in (a, b):
        for channel in CONCRETE_CHANNELS:
            for purpose in Purpose:
                own = decide(side, channel=channel, purpose=purpose, now=NOW)
                if not own.allowed and own.basis is not None:  # an explicit withdrawal
                    assert not may_contact(merged, channel=channel, purpose=purpose, now=NOW)


def test_consents_from_shopify_flags() -> None:
    assert consents_from_identity_attributes({"accepts_email": True, "accepts_sms": False,
                                              "tags": "VIP"}) == [
        ConsentChange(EMAIL, MARKETING, GRANTED), ConsentChange(SMS, MARKETING, WITHDRAWN)]
    assert consents_from_identity_attributes({"accepts_sms": True}) == [
        ConsentChange(SMS, MARKETING, GRANTED)]
    assert consents_from_identity_attributes({"accepts_email": "maybe"}) == []
    assert consents_from_identity_attributes({}) == []
    assert consents_from_identity_attributes(None) == []


def test_stricter_changes_prefer_withdrawal() -> None:
    changes = [ConsentChange(EMAIL, MARKETING, GRANTED), ConsentChange(EMAIL, MARKETING,
                                                                       WITHDRAWN),
               ConsentChange(EMAIL, MARKETING, GRANTED), ConsentChange(SMS, MARKETING, GRANTED)]
    assert stricter_changes(changes) == [ConsentChange(EMAIL, MARKETING, WITHDRAWN),
                                         ConsentChange(SMS, MARKETING, GRANTED)]


@pytest.mark.parametrize("source", ["api", "web", "sms-reply", "import:shopify-customers",
                                    "erasure", "merge:123"])
def test_valid_sources(source: str) -> None:
    assert validate_source(source) == source


@pytest.mark.parametrize("source", ["", "API", "sms reply", "import:", ":x", "a" * 65,
                                    "web;drop table"])
def test_invalid_sources(source: str) -> None:
    with pytest.raises(ValueError, match="consent source"):
        validate_source(source)


def test_erased_external_id_is_a_stable_hash() -> None:
    key = "email:ming.wang@example.com"
    erased = erased_external_id(key)
    assert erased == "erased:" + hashlib.sha256(key.encode()).hexdigest()
    assert erased_external_id(erased) == erased
    assert key not in erased
