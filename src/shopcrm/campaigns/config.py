"""Campaign settings: how messages leave (channels), what they cost, how fast they may
go, the respect rules' parameters, and the secret that signs links.

Read from ``<home>/campaigns.toml`` (or the file ``SHOPCRM_CAMPAIGNS_FILE`` names).
Without a file every channel writes JSON lines to ``<home>/outbox/<channel>.jsonl``
(the demo needs no provider). The signing secret comes from the file or is generated
once into ``<home>/campaign-secret`` (mode 0600), so unsubscribe links keep working
across restarts. Example::

    public_url = "https://crm.example-shop.cn"
    shop_name = "好物小店"

    [sms]
    base_url = "https://sms.example.com"
    signature = "好物小店"
    access_key_id = "…"
    access_key_secret = "…"
    rate_per_second = 200

    [email]
    host = "smtp.example.com"
    sender = "news@example-shop.cn"

    [prices]
    sms = "0.045"      # per billed segment
    email = "0.001"

    [[caps]]
    channel = "sms"
    limit = 2
    days = 7
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shopcrm.campaigns.rules import (
    DEFAULT_CAPS,
    DEFAULT_QUIET_HOURS,
    FrequencyCap,
    QuietHours,
    RateLimit,
    RetryPolicy,
)
from shopcrm.channels.base import ChannelAdapter, ChannelKind
from shopcrm.settings import Settings

SECRET_FILE = "campaign-secret"
CONFIG_FILE = "campaigns.toml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SmsConfig(_Model):
    base_url: str
    signature: str
    profile: str = "generic"
    auth: Literal["none", "bearer", "hmac-sha256"] = "hmac-sha256"
    access_key_id: str = ""
    access_key_secret: str = ""
    template_id: str | None = None
    batch_size: int = Field(default=100, ge=1, le=1000)
    timeout: float = 10.0


class EmailConfig(_Model):
    host: str
    port: int = 587
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = "shop@example.com"
    sender_name: str | None = None
    unsubscribe_mailbox: str | None = None
    bounce_address: str | None = None


class CapConfig(_Model):
    channel: str
    limit: int = Field(ge=0)
    days: float = Field(gt=0)
    purpose: str = "marketing"


class QuietConfig(_Model):
    start: time
    end: time


class RetryConfig(_Model):
    max_attempts: int = Field(default=6, ge=1, le=50)
    base_seconds: float = Field(default=30, gt=0)
    cap_seconds: float = Field(default=3600, gt=0)


class CampaignSettings(_Model):
    public_url: str = "http://127.0.0.1:8000"
    """Where tracking links, the open pixel and unsubscribe pages are served from."""
    secret: str | None = None
    previous_secrets: list[str] = Field(default_factory=list)
    shop_name: str = "shopcrm"
    timezone: str | None = None
    """Customers' default time zone for quiet hours (default: the shop's)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        """A zone the zone database has (a typo would stop every batch at send time)."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value
    sms: SmsConfig | None = None
    email: EmailConfig | None = None
    outbox: Path | None = None
    prices: dict[str, Decimal] = Field(default_factory=lambda: {
        "sms": Decimal("0.045"), "email": Decimal("0.001")})
    rate_limits: dict[str, float] = Field(default_factory=dict)
    """Messages per second per channel (the provider's limit)."""
    caps: list[CapConfig] | None = None
    quiet_hours: dict[str, QuietConfig] | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    batch_size: int = Field(default=500, ge=1, le=20_000)
    lease_seconds: float = Field(default=600, gt=0)
    """A claim older than this is taken as abandoned by a crashed dispatcher."""
    broker_url: str | None = None
    """``redis://…`` to dispatch on dramatiq worker processes; default in-process."""
    broker_namespace: str = "shopcrm"
    """Redis key prefix (several installations can share one Redis)."""

    # -- the rules' forms ------------------------------------------------------------

    def frequency_caps(self) -> tuple[FrequencyCap, ...]:
        if self.caps is None:
            return DEFAULT_CAPS
        return tuple(FrequencyCap(channel=c.channel, limit=c.limit,
                                  window=timedelta(days=c.days), purpose=c.purpose)
                     for c in self.caps)

    def quiet(self) -> dict[str, QuietHours]:
        if self.quiet_hours is None:
            return dict(DEFAULT_QUIET_HOURS)
        return {k: QuietHours(v.start, v.end) for k, v in self.quiet_hours.items()}

    def retry_policy(self) -> RetryPolicy:
        r = self.retry
        return RetryPolicy(max_attempts=r.max_attempts, base=timedelta(seconds=r.base_seconds),
                           cap=timedelta(seconds=max(r.cap_seconds, r.base_seconds)))

    def rate_limit(self, channel: str) -> RateLimit | None:
        rate = self.rate_limits.get(channel)
        return RateLimit(per_second=rate, burst=max(1, int(rate))) if rate else None

    def price(self, channel: str) -> Decimal:
        return self.prices.get(channel, Decimal("0"))

    def signature(self) -> str:
        return self.sms.signature if self.sms else self.shop_name

    def secrets(self) -> list[str]:
        assert self.secret, "load_settings fills the secret"
        return [self.secret, *self.previous_secrets]


def _secret(home: Path) -> str:
    path = home / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
    return value


def config_path(settings: Settings) -> Path:
    named = os.environ.get("SHOPCRM_CAMPAIGNS_FILE")
    return Path(named) if named else settings.home / CONFIG_FILE


def load_settings(settings: Settings, overrides: dict[str, Any] | None = None
                  ) -> CampaignSettings:
    """The campaign settings of this installation (file, then ``overrides``)."""
    data: dict[str, Any] = {}
    path = config_path(settings)
    if path.exists():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.update(overrides or {})
    loaded = CampaignSettings.model_validate(data)
    if not loaded.secret:
        try:
            loaded.secret = _secret(settings.home)
        except FileExistsError:  # another process wrote it a moment ago
            loaded.secret = (settings.home / SECRET_FILE).read_text(encoding="utf-8").strip()
    if loaded.outbox is None:
        loaded.outbox = settings.home / "outbox"
    if loaded.timezone is None:
        loaded.timezone = settings.timezone
    return loaded


class ChannelSet:
    """The adapters a dispatcher sends through, built on first use and closed together.

    Tests and benchmarks pass their own factories (a loopback gateway, a sink path).
    """

    def __init__(self, factories: dict[str, Callable[[], ChannelAdapter]]) -> None:
        self._factories = dict(factories)
        self._open: dict[str, ChannelAdapter] = {}

    def get(self, channel: str) -> ChannelAdapter:
        if channel not in self._open:
            factory = self._factories.get(channel)
            if factory is None:
                raise LookupError(f"no channel configured for {channel!r}")
            self._open[channel] = factory()
        return self._open[channel]

    def has(self, channel: str) -> bool:
        return channel in self._factories

    def close(self) -> None:
        for adapter in self._open.values():
            adapter.close()
        self._open.clear()

    def __enter__(self) -> ChannelSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def channels_from_settings(config: CampaignSettings) -> ChannelSet:
    """SMS and e-mail through their providers when configured; every other channel
    (and those two when not configured) to a JSON-lines file in the outbox."""
    from shopcrm.channels.filesink import FileSinkChannel

    outbox = config.outbox or Path("outbox")
    factories: dict[str, Callable[[], ChannelAdapter]] = {}
    def sink(kind: ChannelKind) -> Callable[[], ChannelAdapter]:
        return lambda: FileSinkChannel(outbox / f"{kind.value}.jsonl", kind=kind)

    for kind in ChannelKind:
        factories[kind.value] = sink(kind)
    if config.sms is not None:
        sms = config.sms

        def make_sms() -> ChannelAdapter:
            from shopcrm.channels.sms import HttpSmsChannel, SmsGatewaySettings

            return HttpSmsChannel(SmsGatewaySettings(
                base_url=sms.base_url, signature=sms.signature, profile=sms.profile,
                auth=sms.auth, access_key_id=sms.access_key_id,
                access_key_secret=sms.access_key_secret, template_id=sms.template_id,
                timeout=sms.timeout))

        factories["sms"] = make_sms
    if config.email is not None:
        email = config.email

        def make_email() -> ChannelAdapter:
            from shopcrm.channels.email import SmtpEmailChannel, SmtpSettings

            return SmtpEmailChannel(SmtpSettings(**email.model_dump()))

        factories["email"] = make_email
    return ChannelSet(factories)


_CACHE: dict[tuple[str, float], CampaignSettings] = {}


def cached_settings(settings: Settings) -> CampaignSettings:
    """:func:`load_settings`, read again only when the file changes (for the server)."""
    path = config_path(settings)
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        stamp = 0.0
    key = (str(path), stamp)
    found = _CACHE.get(key)
    if found is None:
        found = load_settings(settings)
        _CACHE.clear()
        _CACHE[key] = found
    return found
