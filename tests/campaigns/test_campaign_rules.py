"""The pure campaign rules: holdout and variants, caps, quiet hours, SMS text and length,
unsubscribe replies, retry backoff, and the composed send decision."""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopcrm.campaigns.rules import (
    ASCII_UNSUBSCRIBE,
    DEFAULT_CAPS,
    DEFAULT_QUIET_HOURS,
    HOLDOUT,
    Action,
    ArmAssigner,
    FrequencyCap,
    QuietHours,
    RateLimit,
    RetryPolicy,
    SentRecord,
    SmsEncoding,
    UnsubscribeRequest,
    assemble_sms,
    assign_arm,
    assign_variant,
    cap_release_time,
    decide_send,
    in_holdout,
    is_unsubscribe,
    next_send_time,
    read_unsubscribe_token,
    retry_delay,
    retry_schedule,
    sms_length,
    sms_segments,
    take_token,
    unsubscribe_token,
    within_caps,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def local(year: int, month: int, day: int, hour: int, minute: int = 0,
          zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


# --------------------------------------------------------------------------- experiments


def test_holdout_share_and_determinism() -> None:
    held = [c for c in range(20_000) if in_holdout(42, c)]
    # 10% ± 4 standard deviations of Binomial(20000, 0.1)
    assert abs(len(held) - 2000) < 4 * (20_000 * 0.1 * 0.9) ** 0.5
    assert held == [c for c in range(20_000) if in_holdout(42, c)]
    assert held == [c for c in range(20_000) if in_holdout("42", str(c))]
    other = {c for c in range(20_000) if in_holdout(43, c)}
    # Independent across campaigns: overlap near 10% of 10%.
    assert abs(len(other & set(held)) - 200) < 4 * (20_000 * 0.01 * 0.99) ** 0.5
    assert not any(in_holdout(1, c, share=0.0) for c in range(1000))


@settings(deadline=None)  # timing under a loaded CI machine is not the point
@given(st.integers(min_value=1), st.integers(min_value=1),
       st.floats(min_value=0.0, max_value=0.5), st.floats(min_value=0.5, max_value=0.99))
def test_holdout_is_monotone_in_share(campaign: int, customer: int, small: float,
                                      large: float) -> None:
    # Growing the holdout only adds customers: a customer held out at 5% is held out at 10%.
    if in_holdout(campaign, customer, share=small):
        assert in_holdout(campaign, customer, share=large)


def test_variants_follow_weights() -> None:
    counts = Counter(assign_variant(7, c, {"A": 1, "B": 1, "C": 2}) for c in range(40_000))
    for name, expected in (("A", 10_000), ("B", 10_000), ("C", 20_000)):
        assert abs(counts[name] - expected) < 4 * (40_000 * expected / 40_000 *
                                                  (1 - expected / 40_000)) ** 0.5
    arms = Counter(assign_arm(7, c, weights=[("A", 1), ("B", 1)]) for c in range(40_000))
    assert abs(arms[HOLDOUT] - 4000) < 250
    assert abs(arms["A"] - arms["B"]) < 500


def test_assigner_agrees_with_the_functions() -> None:
    assigner = ArmAssigner(11, {"A": 3, "B": 1}, holdout_share=0.2)
    for customer in range(3000):
        expected = (HOLDOUT if in_holdout(11, customer, share=0.2)
                    else assign_variant(11, customer, {"A": 3, "B": 1}))
        assert assigner.arm(customer) == expected
    # The documented scheme, recomputed here: the hash is part of the data (a change
    # would reshuffle the arms of every past campaign).
    def unit(salt: str, customer: int) -> float:
        digest = hashlib.sha256(f"{salt}\x1f1\x1f{customer}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2 ** 64

    expected = [HOLDOUT if unit("holdout", c) < 0.1 else "A" if unit("variant", c) < 0.5
                else "B" for c in range(200)]
    assert [assign_arm(1, c, weights={"A": 1, "B": 1}) for c in range(200)] == expected


def test_variant_independent_of_holdout() -> None:
    # Among held-out and treated customers the variant split is the same (another salt).
    held = [assign_variant(9, c, [("A", 1), ("B", 1)]) for c in range(30_000)
            if in_holdout(9, c)]
    share_a = held.count("A") / len(held)
    assert 0.45 < share_a < 0.55


@pytest.mark.parametrize("weights", [{}, {"A": 0}, {"A": -1, "B": 2}, [("A", 1), ("A", 2)]])
def test_bad_variants(weights: object) -> None:
    with pytest.raises(ValueError):
        assign_variant(1, 1, weights)  # type: ignore[arg-type]


def test_holdout_is_a_reserved_variant_name_and_share_bounded() -> None:
    with pytest.raises(ValueError, match="reserved"):
        assign_arm(1, 1, weights={"holdout": 1}, holdout_share=0.0)
    for share in (-0.1, 1.0):
        with pytest.raises(ValueError):
            in_holdout(1, 1, share=share)


# --------------------------------------------------------------------------- caps


def sms(days_ago: float, channel: str = "sms", purpose: str = "marketing") -> SentRecord:
    return SentRecord(at=NOW - timedelta(days=days_ago), channel=channel, purpose=purpose)


def test_two_sms_per_seven_days() -> None:
    kw = {"channel": "sms", "purpose": "marketing", "caps": DEFAULT_CAPS, "now": NOW}
    assert within_caps([], **kw)
    assert within_caps([sms(1)], **kw)
    assert not within_caps([sms(1), sms(3)], **kw)
    # Released when the older of the two leaves the window (half-open window).
    assert cap_release_time([sms(1), sms(3)], **kw) == NOW + timedelta(days=4)
    assert within_caps([sms(1), sms(7)], **kw)
    # Other channels, service messages don't count toward the marketing SMS cap.
    assert within_caps([sms(1), sms(2, channel="email"), sms(2, purpose="service")], **kw)
    # Email has no default cap.
    assert within_caps([sms(0.1, "email")] * 10, channel="email", purpose="marketing",
                       caps=DEFAULT_CAPS, now=NOW)


def test_any_channel_cap_and_zero_limit() -> None:
    caps = [FrequencyCap(channel="any", limit=3, window=timedelta(days=1))]
    history = [sms(0.1, "email"), sms(0.2, "push"), sms(0.5, "sms")]
    assert cap_release_time(history, channel="wechat", purpose="marketing", caps=caps,
                            now=NOW) == NOW + timedelta(days=0.5)
    never = [FrequencyCap(channel="sms", limit=0, window=timedelta(days=1))]
    assert cap_release_time([], channel="sms", purpose="marketing", caps=never,
                            now=NOW) is None


@settings(deadline=None)  # timing under a loaded CI machine is not the point
@given(st.lists(st.floats(min_value=-1, max_value=20), max_size=12),
       st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=10))
def test_sending_at_release_respects_the_cap(days_ago: list[float], limit: int,
                                             window_days: int) -> None:
    cap = FrequencyCap(channel="sms", limit=limit, window=timedelta(days=window_days))
    history = [sms(d) for d in days_ago]
    release = cap_release_time(history, channel="sms", purpose="marketing", caps=[cap], now=NOW)
    assert release is not None and release >= NOW
    # At the release time one more message fits; just before it (if held), it does not.
    assert within_caps(history, channel="sms", purpose="marketing", caps=[cap], now=release)
    if release > NOW:
        assert not within_caps(history, channel="sms", purpose="marketing", caps=[cap],
                               now=release - timedelta(seconds=1))


# --------------------------------------------------------------------------- quiet hours

QUIET = DEFAULT_QUIET_HOURS["sms"]


@pytest.mark.parametrize(("moment", "expected"), [
    (local(2026, 11, 20, 10), local(2026, 11, 20, 10)),       # daytime: now
    (local(2026, 11, 20, 20, 59), local(2026, 11, 20, 20, 59)),
    (local(2026, 11, 20, 21), local(2026, 11, 21, 8)),         # evening: tomorrow 08:00
    (local(2026, 11, 20, 23, 30), local(2026, 11, 21, 8)),
    (local(2026, 11, 21, 0, 15), local(2026, 11, 21, 8)),      # after midnight: today 08:00
    (local(2026, 11, 21, 7, 59), local(2026, 11, 21, 8)),
    (local(2026, 11, 21, 8), local(2026, 11, 21, 8)),          # end is exclusive
])
def test_quiet_hours_in_shanghai(moment: datetime, expected: datetime) -> None:
    assert next_send_time(moment, timezone="Asia/Shanghai", quiet=QUIET) == expected


def test_quiet_hours_follow_the_customers_zone() -> None:
    # 10:00 in Shanghai is 03:00 in Paris (quiet), released at 08:00 Paris time.
    paris = ZoneInfo("Europe/Paris")
    assert next_send_time(NOW, timezone=paris, quiet=QUIET) == local(2026, 11, 20, 8, zone=paris)
    # A daytime window (e.g. lunch break 12:00-13:30) that does not cross midnight.
    lunch = QuietHours(start=time(12), end=time(13, 30))
    assert next_send_time(local(2026, 11, 20, 12, 10), timezone=SHANGHAI,
                          quiet=lunch) == local(2026, 11, 20, 13, 30)
    assert next_send_time(NOW, timezone=SHANGHAI, quiet=None) == NOW


def test_quiet_hours_end_inside_a_dst_gap() -> None:
    # New York springs forward at 02:00 on 2026-03-08: a window ending 02:30 releases at
    # 03:30 EDT (the first instant after the gap), never before now.
    ny = ZoneInfo("America/New_York")
    quiet = QuietHours(start=time(22), end=time(2, 30))
    moment = datetime(2026, 3, 8, 1, 0, tzinfo=ny).astimezone(UTC)
    released = next_send_time(moment, timezone=ny, quiet=quiet)
    assert released.astimezone(ny).hour == 3 and released > moment
    assert not quiet.is_quiet(released.astimezone(ny).time())


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                    timezones=st.just(UTC)),
       st.sampled_from(["Asia/Shanghai", "Europe/London", "America/New_York",
                        "Australia/Sydney", "Asia/Kolkata"]),
       st.times(), st.times())
def test_release_is_never_quiet_and_never_early(moment: datetime, zone: str, start: time,
                                                 end: time) -> None:
    if start == end:
        return
    quiet = QuietHours(start=start, end=end)
    released = next_send_time(moment, timezone=zone, quiet=quiet)
    assert released >= moment
    assert not quiet.is_quiet(released.astimezone(ZoneInfo(zone)).time())
    assert released - moment <= timedelta(hours=25)  # held, never dropped


def test_bad_quiet_hours() -> None:
    with pytest.raises(ValueError):
        QuietHours(start=time(8), end=time(8))


# --------------------------------------------------------------------------- rate limits


def test_token_bucket_bursts_then_paces() -> None:
    limit = RateLimit(per_second=10, burst=3)
    state, times = None, []
    for _ in range(6):
        state, at = take_token(state, limit=limit, now=NOW)
        times.append(at)
    ms = [round((t - NOW).total_seconds() * 1000) for t in times]
    assert ms == [0, 0, 0, 100, 200, 300]
    # After a pause the bucket refills, but never beyond the burst.
    state, at = take_token(state, limit=limit, now=NOW + timedelta(seconds=60))
    assert at == NOW + timedelta(seconds=60) and state.tokens == 2
    with pytest.raises(ValueError):
        RateLimit(per_second=0)


@settings(deadline=None)  # timing under a loaded CI machine is not the point
@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60),
       st.floats(min_value=0.5, max_value=50), st.integers(min_value=1, max_value=5))
def test_token_bucket_never_exceeds_the_rate(gaps: list[float], rate: float,
                                             burst: int) -> None:
    limit = RateLimit(per_second=rate, burst=burst)
    state, now, sends = None, NOW, []
    for gap in gaps:
        now += timedelta(seconds=gap)
        state, at = take_token(state, limit=limit, now=now)
        assert at >= now
        sends.append(at)
    # In any window [s, s + T] at most burst + rate·T sends (slack: times are whole µs).
    for i, start in enumerate(sends):
        for j in range(i, len(sends)):
            span = (sends[j] - start).total_seconds()
            assert j - i + 1 <= burst + rate * (span + 2e-6)


# --------------------------------------------------------------------------- SMS text


def test_assemble_sms_adds_signature_and_opt_out_once() -> None:
    text = assemble_sms("双11预售开启，会员专享8折", signature="好物小店")
    assert text == "【好物小店】双11预售开启，会员专享8折，回T退订"
    assert assemble_sms(text, signature="【好物小店】") == text
    assert assemble_sms("Your coupon is ready!", signature="Goods", language="en") == (
        "【Goods】Your coupon is ready! Reply TD to unsubscribe")
    assert assemble_sms("Hi", signature="Goods", language="en", opt_out="STOP to end") == (
        "【Goods】Hi. STOP to end")
    for bad in ({"body": " ", "signature": "x"}, {"body": "x", "signature": "【】"},
                {"body": "x", "signature": "a【b"},
                {"body": "x", "signature": "s", "language": "fr"}):
        with pytest.raises(ValueError):
            assemble_sms(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "units", "encoding", "segments"), [
    ("", 0, SmsEncoding.GSM7, 0),
    ("a" * 160, 160, SmsEncoding.GSM7, 1),
    ("a" * 161, 161, SmsEncoding.GSM7, 2),
    ("a" * 306, 306, SmsEncoding.GSM7, 2),
    ("a" * 307, 307, SmsEncoding.GSM7, 3),
    ("€" * 80, 160, SmsEncoding.GSM7, 1),     # extension characters take two septets
    ("{" * 81, 162, SmsEncoding.GSM7, 2),
    ("中" * 70, 70, SmsEncoding.UCS2, 1),
    ("中" * 71, 71, SmsEncoding.UCS2, 2),
    ("中" * 134, 134, SmsEncoding.UCS2, 2),
    ("中" * 135, 135, SmsEncoding.UCS2, 3),
    ("a" * 69 + "ç", 70, SmsEncoding.UCS2, 1),  # ç is not GSM-7 (Ç is)
    ("😀" * 35, 70, SmsEncoding.UCS2, 1),       # astral: two UTF-16 units each
    ("😀" * 36, 72, SmsEncoding.UCS2, 2),
])
def test_sms_length(text: str, units: int, encoding: SmsEncoding, segments: int) -> None:
    length = sms_length(text)
    assert (length.units, length.encoding, length.segments) == (units, encoding, segments)
    assert sms_segments(text) == segments


@settings(deadline=None)  # timing under a loaded CI machine is not the point
@given(st.text(max_size=400))
def test_segments_hold_the_text(text: str) -> None:
    length = sms_length(text)
    assert sms_segments(text) == length.segments  # dispatch's shortcut agrees
    assert length.segments * length.per_segment >= length.units
    assert length.segments == 0 or (length.segments - 1) * length.per_segment < length.units \
        or length.segments == 1


# --------------------------------------------------------------------------- replies


@pytest.mark.parametrize("reply", [
    "T", "t", "TD", "td", " TD ", "ＴＤ", "ｔ", "N", "退订", "退订。", "我要退订", "请帮我退订短信",
    "取消订阅", "STOP", "Stop please", "unsubscribe", "UNSUBSCRIBE!", "td 谢谢", "T。",
    "TD谢谢", "「TD」",
])
def test_unsubscribe_replies(reply: str) -> None:
    assert is_unsubscribe(reply)


@pytest.mark.parametrize("reply", [
    "", "   ", "Thanks", "thank you", "TDK", "stopwatch", "tomorrow", "No thanks", "ok",
    "不要退订", "别退订我", "I will not stop buying", "好的", "1", "Yes", "NT", "要优惠券",
    "T-shirt还有货吗", "T恤", "N/A", "t1", "Ｔｈａｎｋｓ", "endless", "stopover",
])
def test_not_unsubscribe(reply: str) -> None:
    assert not is_unsubscribe(reply)


FULL_WIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


@settings(deadline=None)  # timing under a loaded CI machine is not the point
@given(st.sampled_from(sorted(ASCII_UNSUBSCRIBE)), st.booleans(), st.booleans(),
       st.sampled_from(["", " ", "。", "!", " please", "  谢谢"]))
def test_keywords_in_any_width_and_case(keyword: str, upper: bool, wide: bool,
                                        tail: str) -> None:
    word = keyword.upper() if upper else keyword
    if wide:
        word = "".join(FULL_WIDTH.get(c, c) for c in word)
    assert is_unsubscribe(f" {word}{tail}")


@settings(deadline=None)  # timing under a loaded CI machine is not the point
@given(st.sampled_from(sorted(ASCII_UNSUBSCRIBE)),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz-/0123456789", min_size=1, max_size=6))
def test_longer_words_are_not_keywords(keyword: str, rest: str) -> None:
    word = keyword + rest
    if word in ASCII_UNSUBSCRIBE:
        return
    assert not is_unsubscribe(word)


# --------------------------------------------------------------------------- unsubscribe links


@settings(deadline=None)  # timing under a loaded CI machine is not the point
@given(st.integers(min_value=1, max_value=2 ** 63 - 1),
       st.sampled_from(["email", "sms", "push", "wechat"]),
       st.one_of(st.none(), st.integers(min_value=1, max_value=2 ** 31)))
def test_unsubscribe_token_round_trip(customer: int, channel: str,
                                      campaign: int | None) -> None:
    token = unsubscribe_token("s3cret", customer_id=customer, channel=channel,
                              campaign_id=campaign)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)  # safe in a URL path and a mail subject
    assert read_unsubscribe_token("s3cret", token) == UnsubscribeRequest(customer, channel,
                                                                         campaign)
    assert read_unsubscribe_token(["new-secret", "s3cret"], token).customer_id == customer


def test_unsubscribe_token_refuses_forgeries() -> None:
    token = unsubscribe_token("s3cret", customer_id=42, channel="email", campaign_id=7)
    payload, tag = token.split(".")
    other = unsubscribe_token("s3cret", customer_id=43, channel="email", campaign_id=7)
    for bad in (token.replace(payload, other.split(".")[0]),   # someone else's ID, my tag
                payload + "." + tag[::-1], "", "abc", token + "x", "a.b.c",
                unsubscribe_token("other", customer_id=42, channel="email")):
        with pytest.raises(ValueError):
            read_unsubscribe_token("s3cret", bad)
    with pytest.raises(ValueError):
        unsubscribe_token("", customer_id=1, channel="email")
    with pytest.raises(ValueError):
        unsubscribe_token("k", customer_id=1, channel="e:mail")


# --------------------------------------------------------------------------- retries


def test_backoff_is_jittered_capped_and_reproducible() -> None:
    policy = RetryPolicy(max_attempts=8, base=timedelta(seconds=10), cap=timedelta(minutes=5))
    first = retry_schedule(policy, random.Random(1))
    assert first == retry_schedule(policy, random.Random(1))
    assert first != retry_schedule(policy, random.Random(2))
    assert len(first) == 7
    for attempt, delay in enumerate(first, start=1):
        assert timedelta(0) <= delay <= min(timedelta(minutes=5),
                                            timedelta(seconds=10 * 2 ** (attempt - 1)))
    assert retry_delay(8, policy=policy, rng=random.Random(1)) is None


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy()
    delay = retry_delay(1, policy=policy, rng=random.Random(3),
                        retry_after=timedelta(minutes=10))
    assert delay == timedelta(minutes=10)
    with pytest.raises(ValueError):
        retry_delay(0, policy=policy, rng=random.Random(3))
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


# --------------------------------------------------------------------------- decision


def test_decide_send() -> None:
    base = {"channel": "sms", "purpose": "marketing", "timezone": "Asia/Shanghai"}
    sent = decide_send(now=NOW, consent_allowed=True, suppressed=False, history=[], **base)
    assert sent.action is Action.SEND and sent.at == NOW
    assert decide_send(now=NOW, consent_allowed=True, suppressed=True, history=[],
                       **base).action is Action.SKIP
    skipped = decide_send(now=NOW, consent_allowed=False, suppressed=False, history=[], **base)
    assert skipped.action is Action.SKIP and "consent" in skipped.reason
    night = local(2026, 11, 20, 22)
    held = decide_send(now=night, consent_allowed=True, suppressed=False, history=[], **base)
    assert (held.action, held.at, held.reason) == (Action.HOLD, local(2026, 11, 21, 8),
                                                   "quiet hours")
    # Capped until 22:00 local in three days, then quiet hours push it to 08:00 next day.
    history = [SentRecord(at=local(2026, 11, 16, 22), channel="sms"),
               SentRecord(at=local(2026, 11, 19, 9), channel="sms")]
    capped = decide_send(now=local(2026, 11, 20, 10), consent_allowed=True, suppressed=False,
                         history=history, **base)
    assert capped.action is Action.HOLD
    assert capped.at == local(2026, 11, 24, 8)
    assert capped.reason == "frequency cap, then quiet hours"
    # Service messages ignore marketing caps and quiet hours.
    service = decide_send(now=night, consent_allowed=True, suppressed=False, history=history,
                          channel="sms", purpose="service")
    assert service.action is Action.SEND
