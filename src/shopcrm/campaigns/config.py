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
    unsubscribe_mailbox = "unsubscribe@example-shop.cn"
    bounce_address = "unsubscribe@example-shop.cn"   # VERP: unsubscribe+…@
    imap_host = "imap.exmail.qq.com"                  # read by `shopcrm campaign mailbox`
    imap_user = "unsubscribe@example-shop.cn"
    imap_password = "…"

    [wechat]              # template messages of an official account (or "subscribe")
    appid = "wx1234567890abcdef"
    secret = "…"
    kind = "template"

    [push]                # the shop's push service (or a relay to JPush / Getui …)
    url = "https://push.example-shop.cn/send"
    api_token = "…"
    app_id = "com.example.shop"

    [prices]
    sms = "0.045"      # per billed segment
    email = "0.001"

    [[caps]]
    channel = "sms"
    limit = 2
    days = 7
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tomllib
from collections.abc import Callable
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.orm import Session, sessionmaker

from shopcrm.campaigns.rules import (
    DEFAULT_CAPS,
    DEFAULT_QUIET_HOURS,
    FrequencyCap,
    QuietHours,
    RateLimit,
    RetryPolicy,
)
from shopcrm.channels.base import ChannelAdapter, ChannelKind
from shopcrm.clock import Clock
from shopcrm.settings import Settings

SECRET_FILE = "campaign-secret"
CONFIG_FILE = "campaigns.toml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SmsConfig(_Model):
    """``provider = "gateway"`` (default): an HTTP gateway at ``base_url`` speaking the
    flat JSON of :mod:`shopcrm.channels.sms`. ``"tencent"`` / ``"aliyun"``: the cloud's
    own API (``base_url`` then overrides its endpoint); ``access_key_id`` /
    ``access_key_secret`` are the SecretId/SecretKey or AccessKey pair, ``signature``
    the approved 签名, ``template_id`` the approved template; Tencent also needs
    ``sdk_app_id``. Their receipts and replies come to the callback URLs
    ``shopcrm campaign callback-urls`` prints."""

    provider: Literal["gateway", "tencent", "aliyun"] = "gateway"
    base_url: str | None = None
    signature: str
    profile: str = "generic"
    auth: Literal["none", "bearer", "hmac-sha256"] = "hmac-sha256"
    access_key_id: str = ""
    access_key_secret: str = ""
    template_id: str | None = None
    sdk_app_id: str | None = None
    region: str = "ap-guangzhou"
    callback_token: str | None = Field(default=None, min_length=16)
    """The secret in the cloud callback URLs (default: derived from the signing secret)."""
    batch_size: int = Field(default=100, ge=1, le=1000)
    timeout: float = 10.0

    @model_validator(mode="after")
    def _complete(self) -> SmsConfig:
        if self.provider == "gateway" and not self.base_url:
            raise ValueError("[sms] base_url is required for provider = \"gateway\"")
        if self.provider != "gateway" and not (self.access_key_id and self.access_key_secret):
            raise ValueError(f"[sms] provider = \"{self.provider}\" needs access_key_id "
                             "and access_key_secret")
        if self.provider == "tencent" and not self.sdk_app_id:
            raise ValueError("[sms] provider = \"tencent\" needs sdk_app_id")
        return self


class EmailConfig(_Model):
    """SMTP for sending; IMAP (``imap_*``) for reading the mailbox that receives the
    ``mailto:`` unsubscribe requests, bounces and complaints (``shopcrm campaign
    mailbox``). With ``bounce_address`` set, each message's envelope sender is its
    signed VERP form, so the mailbox of ``bounce_address`` must accept
    ``local+anything@`` (Exmail, Aliyun mail and Postfix do)."""

    host: str
    port: int = 587
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = "shop@example.com"
    sender_name: str | None = None
    unsubscribe_mailbox: str | None = None
    bounce_address: str | None = None
    imap_host: str | None = None
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    """Default 993 with ``imap_security = "ssl"``, else 143."""
    imap_security: Literal["none", "starttls", "ssl"] = "ssl"
    imap_user: str | None = None
    """Default the SMTP ``username``."""
    imap_password: str | None = None
    """Default the SMTP ``password``."""
    folder: str = "INBOX"
    processed_folder: str | None = None
    """Move handled mail there (created when missing) instead of only marking it seen."""
    imap_timeout: float = Field(default=30.0, gt=0)

    def smtp_fields(self) -> dict[str, Any]:
        """The fields :class:`~shopcrm.channels.email.SmtpSettings` takes."""
        return self.model_dump(include={"host", "port", "security", "username", "password",
                                        "sender", "sender_name", "unsubscribe_mailbox",
                                        "bounce_address"})


class WeChatConfig(_Model):
    """One official account (``kind = "template"``) or mini program (``"subscribe"``):
    messages go to the customer's openid *of this app id*."""

    appid: str
    secret: str
    kind: Literal["template", "subscribe"] = "template"
    api_base: str = "https://api.weixin.qq.com"
    miniprogram_state: Literal["developer", "trial", "formal"] | None = None
    timeout: float = Field(default=10.0, gt=0)


class PushConfig(_Model):
    """The push service; messages go to the newest active device token of ``app_id``."""

    url: str
    api_token: str
    app_id: str
    timeout: float = Field(default=10.0, gt=0)


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
    wechat: WeChatConfig | None = None
    push: PushConfig | None = None
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

    def contact_app_id(self, channel: str) -> str | None:
        """The app id whose contact points a channel sends to (None: not configured,
        any app's — the outbox file sink)."""
        if channel == "wechat" and self.wechat is not None:
            return self.wechat.appid
        if channel == "push" and self.push is not None:
            return self.push.app_id
        return None

    def signature(self) -> str:
        return self.sms.signature if self.sms else self.shop_name

    def secrets(self) -> list[str]:
        assert self.secret, "load_settings fills the secret"
        return [self.secret, *self.previous_secrets]

    def callback_token(self) -> str:
        """The secret path segment of the SMS clouds' callback URLs: set in ``[sms]``,
        or derived from the signing secret (stable across restarts, changes with it)."""
        if self.sms is not None and self.sms.callback_token:
            return self.sms.callback_token
        assert self.secret, "load_settings fills the secret"
        return hmac.new(self.secret.encode(), b"sms-callback", hashlib.sha256).hexdigest()[:32]

    def callback_urls(self) -> dict[str, str]:
        """Where the configured SMS cloud must push status reports and replies."""
        if self.sms is None or self.sms.provider == "gateway":
            return {}
        base = f"{self.public_url.rstrip('/')}/api/v1/track/sms/{self.sms.provider}"
        token = self.callback_token()
        return {"receipts": f"{base}/receipts/{token}", "replies": f"{base}/replies/{token}"}


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


def sms_adapter(sms: SmsConfig) -> ChannelAdapter:
    """The SMS adapter of the configured provider."""
    if sms.provider == "tencent":
        from shopcrm.channels.sms_tencent import TencentSmsChannel, TencentSmsSettings

        return TencentSmsChannel(TencentSmsSettings(
            secret_id=sms.access_key_id, secret_key=sms.access_key_secret,
            sdk_app_id=sms.sdk_app_id or "", sign_name=sms.signature,
            template_id=sms.template_id, region=sms.region, timeout=sms.timeout,
            **({"endpoint": sms.base_url} if sms.base_url else {})))
    if sms.provider == "aliyun":
        from shopcrm.channels.sms_aliyun import AliyunSmsChannel, AliyunSmsSettings

        return AliyunSmsChannel(AliyunSmsSettings(
            access_key_id=sms.access_key_id, access_key_secret=sms.access_key_secret,
            sign_name=sms.signature, template_code=sms.template_id, timeout=sms.timeout,
            **({"endpoint": sms.base_url} if sms.base_url else {})))
    from shopcrm.channels.sms import HttpSmsChannel, SmsGatewaySettings

    return HttpSmsChannel(SmsGatewaySettings(
        base_url=sms.base_url or "", signature=sms.signature, profile=sms.profile,
        auth=sms.auth, access_key_id=sms.access_key_id,
        access_key_secret=sms.access_key_secret, template_id=sms.template_id,
        timeout=sms.timeout))


def channels_from_settings(config: CampaignSettings, *,
                           sessions: sessionmaker[Session] | None = None,
                           clock: Clock | None = None) -> ChannelSet:
    """SMS, e-mail, WeChat and push through their providers when configured; the inbox
    into the operational store when ``sessions`` is given; every other channel (and
    those when not configured) to a JSON-lines file in the outbox."""
    from shopcrm.channels.filesink import FileSinkChannel

    outbox = config.outbox or Path("outbox")
    factories: dict[str, Callable[[], ChannelAdapter]] = {}
    def sink(kind: ChannelKind) -> Callable[[], ChannelAdapter]:
        return lambda: FileSinkChannel(outbox / f"{kind.value}.jsonl", kind=kind)

    for kind in ChannelKind:
        factories[kind.value] = sink(kind)
    if config.sms is not None:
        sms = config.sms

        factories["sms"] = lambda: sms_adapter(sms)
    if config.email is not None:
        email = config.email

        def make_email() -> ChannelAdapter:
            from shopcrm.channels.email import SmtpEmailChannel, SmtpSettings

            return SmtpEmailChannel(SmtpSettings(**email.smtp_fields(),
                                                 verp_secret=config.secret))

        factories["email"] = make_email
    if config.wechat is not None:
        wechat = config.wechat

        def make_wechat() -> ChannelAdapter:
            from shopcrm.channels.wechat import WeChatChannel, WeChatSettings

            return WeChatChannel(WeChatSettings(**wechat.model_dump()), clock=clock)

        factories["wechat"] = make_wechat
    if config.push is not None:
        push = config.push

        def make_push() -> ChannelAdapter:
            from shopcrm.channels.push import HttpPushChannel, PushSettings

            return HttpPushChannel(PushSettings(url=push.url, api_token=push.api_token,
                                                timeout=push.timeout))

        factories["push"] = make_push
    if sessions is not None:
        store = sessions

        def make_inbox() -> ChannelAdapter:
            from shopcrm.clock import SystemClock
            from shopcrm.contacts.inbox import StoreInboxChannel

            return StoreInboxChannel(store, clock=clock or SystemClock())

        factories["inbox"] = make_inbox
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
