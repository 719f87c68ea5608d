"""Campaign rules: pure functions of their inputs and an injected ``now`` or RNG.

Who is held out, which variant a customer gets, whether a frequency cap or quiet hours
hold a message back and until when, how an SMS is assembled and how many billed
segments it costs, whether a reply means "unsubscribe", and when a failed send is
retried. No I/O here: dispatch loads histories in bulk and calls these per customer,
and every rule is unit-tested with plain values.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import hmac
import math
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

# --------------------------------------------------------------------------- experiments

DEFAULT_HOLDOUT_SHARE = 0.10
HOLDOUT = "holdout"


def _unit_hash(salt: str, campaign_id: int | str, customer_id: int | str) -> float:
    """A uniform number in [0, 1) fixed by its inputs (SHA-256, first 64 bits).

    Stable across processes, machines and Python versions (unlike ``hash()``), so a
    re-run of a campaign, a resumed dispatch and the lift report all agree on who was
    held out.
    """
    digest = hashlib.sha256(f"{salt}\x1f{campaign_id}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 18446744073709551616.0  # 2**64


def _check_share(share: float) -> None:
    if not 0.0 <= share < 1.0:
        raise ValueError(f"holdout share must be in [0, 1), got {share}")


def in_holdout(campaign_id: int | str, customer_id: int | str, *,
               share: float = DEFAULT_HOLDOUT_SHARE) -> bool:
    """Whether the customer belongs to the campaign's holdout (receives nothing).

    Deterministic in (campaign, customer); different campaigns hold out independent
    groups, so nobody is starved of every campaign.
    """
    _check_share(share)
    return _unit_hash("holdout", campaign_id, customer_id) < share


Weights = Mapping[str, float] | Sequence[tuple[str, float]]


def _thresholds(weights: Weights) -> tuple[tuple[str, ...], tuple[float, ...]]:
    items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
    if not items:
        raise ValueError("at least one variant is needed")
    names = tuple(name for name, _ in items)
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique, got {list(names)}")
    if any(not w > 0 for _, w in items):
        raise ValueError("variant weights must be positive")
    total = sum(w for _, w in items)
    cumulative, bounds = 0.0, []
    for _, weight in items:
        cumulative += weight
        bounds.append(cumulative / total)
    bounds[-1] = 1.0  # rounding at the very top of the range
    return names, tuple(bounds)


def bucket(salt: str, campaign_id: int | str, customer_id: int | str,
           weights: Weights) -> str:
    """A deterministic weighted choice for (campaign, customer) under its own ``salt``.

    Different salts give independent draws: waves of a campaign (salt ``"wave"``) do not
    line up with its variants (``"variant"``) or its holdout (``"holdout"``).
    """
    names, bounds = _thresholds(weights)
    return names[bisect.bisect_right(bounds, _unit_hash(salt, campaign_id, customer_id))]


def assign_variant(campaign_id: int | str, customer_id: int | str, weights: Weights) -> str:
    """The A/B/n variant for a customer, with probability proportional to its weight.

    Hashed independently of the holdout (another salt), so variant shares among the
    treated equal the weights. Variants are taken in the order given; weights must be
    positive.
    """
    names, bounds = _thresholds(weights)
    return names[bisect.bisect_right(bounds, _unit_hash("variant", campaign_id, customer_id))]


@dataclass(frozen=True)
class ArmAssigner:
    """Holdout and variant assignment for one campaign, validated once — the form
    dispatch uses for a million customers (same answers as :func:`assign_arm`)."""

    campaign_id: int | str
    weights: Weights = (("A", 1.0),)
    holdout_share: float = DEFAULT_HOLDOUT_SHARE
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _bounds: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_share(self.holdout_share)
        names, bounds = _thresholds(self.weights)
        if HOLDOUT in names:
            raise ValueError(f"{HOLDOUT!r} is reserved and cannot name a variant")
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_bounds", bounds)

    def arm(self, customer_id: int | str) -> str:
        """``"holdout"`` or the customer's variant name."""
        if _unit_hash("holdout", self.campaign_id, customer_id) < self.holdout_share:
            return HOLDOUT
        return self._names[bisect.bisect_right(
            self._bounds, _unit_hash("variant", self.campaign_id, customer_id))]


def assign_arm(campaign_id: int | str, customer_id: int | str, *,
               weights: Weights = (("A", 1.0),),
               holdout_share: float = DEFAULT_HOLDOUT_SHARE) -> str:
    """``"holdout"`` or the customer's variant name."""
    return ArmAssigner(campaign_id, weights, holdout_share).arm(customer_id)


# --------------------------------------------------------------------------- frequency caps


@dataclass(frozen=True)
class SentRecord:
    """One earlier message to the customer, from any campaign."""

    at: datetime
    channel: str
    purpose: str = "marketing"


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``limit`` messages of ``purpose`` on ``channel`` within ``window``.

    ``channel="any"`` counts every channel together.
    """

    channel: str
    limit: int
    window: timedelta
    purpose: str = "marketing"

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"a frequency cap limit cannot be negative, got {self.limit}")
        if self.window <= timedelta(0):
            raise ValueError("a frequency cap window must be positive")

    def applies_to(self, channel: str, purpose: str) -> bool:
        return self.purpose == purpose and self.channel in ("any", channel)


DEFAULT_CAPS: tuple[FrequencyCap, ...] = (
    FrequencyCap(channel="sms", limit=2, window=timedelta(days=7)),
)
"""≤ 2 marketing SMS per customer per 7 days, across campaigns."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cap_release_time(history: Iterable[SentRecord], *, channel: str, purpose: str,
                     caps: Iterable[FrequencyCap], now: datetime) -> datetime | None:
    """When a new message may go out under the caps: ``now`` if it may go now, the
    moment enough earlier messages leave a window otherwise, None if a cap forbids
    every message (limit 0).

    A window is half-open ``(t - window, t]``: a message sent exactly ``window`` ago no
    longer counts. Messages dated after ``now`` (clock skew) count from their own time.
    """
    now = _aware(now)
    records = [r for r in history]
    release = now
    for cap in caps:
        if not cap.applies_to(channel, purpose):
            continue
        if cap.limit == 0:
            return None
        times = sorted(
            (_aware(r.at) for r in records
             if r.purpose == cap.purpose and cap.channel in ("any", r.channel)),
            reverse=True)
        counted = [t for t in times if t > now - cap.window]
        if len(counted) >= cap.limit:
            # The (limit)-th newest must leave the window before one more fits.
            oldest_that_blocks = counted[cap.limit - 1]
            release = max(release, oldest_that_blocks + cap.window)
    return release


def within_caps(history: Iterable[SentRecord], *, channel: str, purpose: str,
                caps: Iterable[FrequencyCap], now: datetime) -> bool:
    """Whether one more message may go out now."""
    return cap_release_time(history, channel=channel, purpose=purpose, caps=caps,
                            now=now) == _aware(now)


# --------------------------------------------------------------------------- quiet hours


@dataclass(frozen=True)
class QuietHours:
    """Local times when a channel stays silent: ``start`` (inclusive) to ``end``
    (exclusive), crossing midnight when ``start > end``."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours need different start and end times")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times, without a zone")

    def is_quiet(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


DEFAULT_QUIET_HOURS: Mapping[str, QuietHours] = {
    "sms": QuietHours(start=time(21, 0), end=time(8, 0)),
}
"""No marketing SMS between 21:00 and 08:00 in the customer's time zone."""


def next_send_time(now: datetime, *, timezone: str | ZoneInfo,
                   quiet: QuietHours | None) -> datetime:
    """``now`` if the customer's local time is outside quiet hours, else the end of the
    quiet period (in UTC): held messages go out in the next window, never dropped.

    Wall-clock ends that a daylight-saving jump skips are taken at the first instant
    after the jump.
    """
    now = _aware(now).astimezone(UTC)
    if quiet is None:
        return now
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    local = now.astimezone(zone)
    if not quiet.is_quiet(local.time().replace(tzinfo=None)):
        return now
    day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) >= quiet.start:
        day += timedelta(days=1)  # evening part: the quiet period ends tomorrow morning
    release = datetime.combine(day, quiet.end, tzinfo=zone).astimezone(UTC)
    # A wall-clock time inside a DST gap maps to an instant whose round trip differs;
    # every instant from the mapped one on is outside quiet hours, so it is the answer.
    return max(release, now)


# --------------------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class RateLimit:
    """A provider's (or our own) sending rate: ``per_second`` on average, bursts of up
    to ``burst`` messages."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not self.per_second > 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst ≥ 1")


@dataclass(frozen=True)
class BucketState:
    """Tokens left at a moment; negative while sends are reserved ahead of time."""

    tokens: float
    at: datetime


def take_token(state: BucketState | None, *, limit: RateLimit,
               now: datetime) -> tuple[BucketState, datetime]:
    """Reserve one send under a token bucket: the new state and when the send may go
    (``now``, or later when the bucket is empty — throttling is waiting, not failing).

    Callers keep the returned state per channel and pass it back; reserving ahead lets
    a dispatcher schedule a whole batch at once. Time never runs backwards for the
    bucket: a ``now`` before the state's moment is taken as the state's moment.
    """
    now = _aware(now)
    if state is None:
        tokens, at = float(limit.burst), now
    else:
        at = max(now, state.at)
        elapsed = (at - state.at).total_seconds()
        tokens = min(float(limit.burst), state.tokens + elapsed * limit.per_second)
    tokens -= 1.0
    if tokens >= 0:
        return BucketState(tokens, at), at
    # Rounded up to the microsecond: never a hair early.
    wait = timedelta(microseconds=math.ceil(-tokens / limit.per_second * 1_000_000))
    return BucketState(tokens, at), at + wait


# --------------------------------------------------------------------------- SMS text

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
"""Characters of the GSM 03.38 extension table: two septets each (escape + char)."""
_GSM7 = GSM7_BASIC | GSM7_EXTENSION


class SmsEncoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsLength:
    """What an SMS costs: characters as the network counts them, the encoding and the
    number of billed segments (160/153 septets in GSM-7, 70/67 UTF-16 units in UCS-2,
    the Chinese providers' 70/67)."""

    units: int
    encoding: SmsEncoding
    segments: int
    per_segment: int

    @property
    def remaining_in_segment(self) -> int:
        """Units left before another segment is billed (for the editor)."""
        return self.segments * self.per_segment - self.units if self.units else self.per_segment


def _units(text: str) -> tuple[int, bool]:
    """(units as the network counts them, whether GSM-7 carries the text)."""
    if all(c in _GSM7 for c in text):  # stops at the first character GSM-7 lacks
        return len(text) + sum(text.count(c) for c in GSM7_EXTENSION if c in text), True
    return len(text.encode("utf-16-le")) // 2, False  # astral characters take two units


def sms_length(text: str) -> SmsLength:
    """Length, encoding and segment count of ``text`` as sent."""
    units, gsm = _units(text)
    single, multi, encoding = (160, 153, SmsEncoding.GSM7) if gsm else (
        70, 67, SmsEncoding.UCS2)
    if units <= single:
        return SmsLength(units, encoding, 1 if units else 0, single)
    return SmsLength(units, encoding, -(-units // multi), multi)


def sms_segments(text: str) -> int:
    """``sms_length(text).segments`` without building the description (dispatch asks
    it for every message)."""
    units, gsm = _units(text)
    single, multi = (160, 153) if gsm else (70, 67)
    return (1 if units else 0) if units <= single else -(-units // multi)


OPT_OUT_SUFFIX = {"zh": "回T退订", "en": "Reply TD to unsubscribe"}


@functools.cache
def _shop_signature(signature: str) -> str:
    name = signature.strip().strip("【】[]").strip()
    if not name:
        raise ValueError("an SMS needs the shop's signature (the registered 签名)")
    if any(c in name for c in "【】"):
        raise ValueError(f"signature {signature!r} cannot contain 【 or 】")
    return f"【{name}】"


def assemble_sms(body: str, *, signature: str, language: str = "zh",
                 opt_out: str | None = None) -> str:
    """The text as the customer receives it: ``【signature】body opt-out``.

    Chinese carriers require the registered signature in 【】 at the start and a way to
    opt out in marketing texts; a body that already carries them is not doubled.
    """
    text = body.strip()
    if not text:
        raise ValueError("an SMS needs a body")
    tag = _shop_signature(signature)
    if text.startswith(tag):
        text = text[len(tag):].lstrip()
    suffix = opt_out if opt_out is not None else OPT_OUT_SUFFIX.get(language)
    if suffix is None:
        raise ValueError(f"no opt-out text for language {language!r}; pass opt_out=")
    if suffix and not text.endswith(suffix):
        separator = "" if language == "zh" else " "
        if text[-1] not in "。.!！?？,，;；":
            separator = "，" if language == "zh" else ". "
        text = f"{text}{separator}{suffix}"
    return f"{tag}{text}"


# --------------------------------------------------------------------------- replies

ASCII_UNSUBSCRIBE = frozenset({"td", "t", "n", "unsubscribe", "stop", "stopall", "cancel",
                               "end", "quit", "optout"})
CJK_UNSUBSCRIBE = ("退订", "取消订阅", "退定")
_NEGATIONS = "不别勿没莫"
_END_OF_WORD = r"(?=$|[\s.!,;:?。、！，；：？~…\"')）】」』])"
_FIRST_WORD = re.compile(
    r"^[\s\W_]*(?:(?:" + "|".join(sorted(ASCII_UNSUBSCRIBE, key=len, reverse=True)) + r")"
    + _END_OF_WORD + r"|(?:" + "|".join(k for k in ASCII_UNSUBSCRIBE if len(k) > 1)
    + r")(?=[\u3400-\u9fff]))")
"""A keyword as the reply's first word: followed by the end, a space or sentence
punctuation — not by more letters (``Thanks``), a hyphen (``T-shirt``), a slash
(``N/A``) or digits. Chinese may follow a keyword of two letters or more (``TD谢谢``)
but not a single letter (``T恤`` is a T-shirt)."""
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")


def is_unsubscribe(reply: str) -> bool:
    """Whether an SMS reply asks to stop marketing messages.

    Width- and case-insensitive (NFKC folds ``ＴＤ`` to ``TD``): the reply's first word is
    one of the opt-out keywords (``T``, ``TD``, ``N``, ``STOP``, ``unsubscribe`` ...) or
    its Chinese words contain 退订 / 取消订阅 without a negation in the two characters
    before (不要退订 and 别退订 are not requests). Longer words (``Thanks``, ``TDK``,
    ``T-shirt``, ``T恤``) and keywords later in a sentence (``I will not stop``) are not
    requests.
    """
    text = unicodedata.normalize("NFKC", reply).casefold()
    if _FIRST_WORD.match(text):
        return True
    for run in _CJK_RUN.findall(text):
        for keyword in CJK_UNSUBSCRIBE:
            start = run.find(keyword)
            while start >= 0:
                if not any(c in _NEGATIONS for c in run[max(0, start - 2):start]):
                    return True
                start = run.find(keyword, start + 1)
    return False


# --------------------------------------------------------------------------- unsubscribe links


@dataclass(frozen=True)
class UnsubscribeRequest:
    """Who asked to stop what, as carried by a signed link or mailto subject."""

    customer_id: int
    channel: str
    campaign_id: int | None


_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsubscribe_token(secret: str, *, customer_id: int, channel: str,
                      campaign_id: int | None = None) -> str:
    """A URL-safe token for the e-mail link, the ``List-Unsubscribe`` mailto subject and
    the one-click POST: ``payload.mac`` with a 128-bit HMAC-SHA256 tag.

    It does not expire — an unsubscribe link must work years later — and names only
    pseudonymous IDs, so a forwarded mail leaks nothing personal. Forging one for
    another customer needs the secret.
    """
    if not secret:
        raise ValueError("an unsubscribe secret is required")
    if not re.fullmatch(r"[a-z]+", channel):
        raise ValueError(f"channel {channel!r} must be a lower-case word")
    payload = f"{customer_id}:{channel}:{'' if campaign_id is None else campaign_id}"
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:16]
    return f"{_b64(payload.encode())}.{_b64(mac)}"


def read_unsubscribe_token(secrets: str | Sequence[str], token: str) -> UnsubscribeRequest:
    """The request a token carries, or ValueError when it is malformed or not signed by
    one of ``secrets`` (the current one first, then retired ones during a rotation)."""
    token = token.strip()
    if not _TOKEN_SHAPE.match(token):
        raise ValueError("not an unsubscribe token")
    encoded, tag = token.split(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        customer, channel, campaign = payload.split(":")
        request = UnsubscribeRequest(int(customer), channel,
                                     int(campaign) if campaign else None)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not an unsubscribe token") from exc
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    for key in keys:
        expected = _b64(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()[:16])
        if hmac.compare_digest(expected, tag):
            return request
    raise ValueError("unsubscribe token signature does not match")


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, honouring a provider's Retry-After."""

    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base <= timedelta(0) or self.cap < self.base or self.factor < 1.0:
            raise ValueError("backoff needs base > 0, cap ≥ base and factor ≥ 1")


def retry_delay(attempt: int, *, policy: RetryPolicy, rng: random.Random,
                retry_after: timedelta | None = None) -> timedelta | None:
    """How long to wait after failed attempt number ``attempt`` (1-based) before the
    next, or None when the attempts are used up (the message becomes a dead letter).

    Full jitter (a uniform draw in ``[0, min(cap, base·factor^(attempt-1))]``) spreads a
    throttled burst instead of retrying it in lockstep; a provider's ``Retry-After`` is
    a floor, never shortened.
    """
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if attempt >= policy.max_attempts:
        return None
    ceiling = min(policy.cap.total_seconds(),
                  policy.base.total_seconds() * policy.factor ** (attempt - 1))
    delay = timedelta(seconds=rng.uniform(0.0, ceiling))
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay


def retry_schedule(policy: RetryPolicy, rng: random.Random) -> list[timedelta]:
    """Every delay a message that always fails transiently would wait (for display)."""
    delays: list[timedelta] = []
    attempt = 1
    while (delay := retry_delay(attempt, policy=policy, rng=rng)) is not None:
        delays.append(delay)
        attempt += 1
    return delays


# --------------------------------------------------------------------------- send decision


class Action(StrEnum):
    SEND = "send"
    HOLD = "hold"
    SKIP = "skip"


@dataclass(frozen=True)
class SendDecision:
    """What dispatch does with one message now: send, hold until ``at``, or skip with a
    reason (skips are counted, never silent)."""

    action: Action
    reason: str
    at: datetime | None = None


def decide_send(*, now: datetime, channel: str, purpose: str, consent_allowed: bool,
                suppressed: bool, history: Iterable[SentRecord],
                caps: Iterable[FrequencyCap] = DEFAULT_CAPS,
                timezone: str | ZoneInfo = "Asia/Shanghai",
                quiet_hours: Mapping[str, QuietHours] = DEFAULT_QUIET_HOURS) -> SendDecision:
    """Compose the respect rules for one message at send time.

    Order matters: suppression and consent skip (asking later will not change them
    without the customer acting); a frequency cap or quiet hours hold the message until
    the later of the two release times, so it goes out in the next allowed window.
    Service messages (order updates) are not subject to marketing caps.
    """
    now = _aware(now).astimezone(UTC)
    if suppressed:
        return SendDecision(Action.SKIP, "suppressed")
    if not consent_allowed:
        return SendDecision(Action.SKIP, f"no {purpose} consent for {channel}")
    at = now
    reason = ""
    released = cap_release_time(history, channel=channel, purpose=purpose, caps=caps, now=now)
    if released is None:
        return SendDecision(Action.SKIP, f"frequency cap forbids {channel} {purpose}")
    if released > at:
        at, reason = released, "frequency cap"
    quiet = quiet_hours.get(channel) if purpose == "marketing" else None
    # Quiet hours apply at the moment it would be sent; a cap release at night moves on.
    after_quiet = next_send_time(at, timezone=timezone, quiet=quiet)
    if after_quiet > at:
        at = after_quiet
        reason = "quiet hours" if not reason else f"{reason}, then quiet hours"
    if at == now:
        return SendDecision(Action.SEND, "allowed", now)
    return SendDecision(Action.HOLD, reason, at)
