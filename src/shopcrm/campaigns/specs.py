"""What a marketer decides about a campaign, as validated data.

The same models read a campaign file (``shopcrm campaign create plan.toml``), an API
body and the editor's form, and are stored as JSON on the campaign row. Validation
here is structural (shapes, ranges, unique variant names, template syntax is checked
by :mod:`shopcrm.campaigns.content`); whether a coupon pool or points rule exists is
checked against the store when the campaign is saved or launched.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopcrm.campaigns.rules import DEFAULT_HOLDOUT_SHARE, HOLDOUT
from shopcrm.channels.base import ChannelKind

CHANNELS = tuple(kind.value for kind in ChannelKind)
LANGUAGES = ("zh", "en")
MAX_AUDIENCE_LIST = 5_000_000
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListAudience(_Strict):
    """An explicit (uploaded) list of customer IDs."""

    kind: Literal["list"] = "list"
    customer_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        max_length=MAX_AUDIENCE_LIST)


class SegmentAudience(_Strict):
    """A saved segment, snapshotted when the campaign is launched."""

    kind: Literal["segment"] = "segment"
    segment_id: int = Field(ge=1, le=2**63 - 1)


AudienceSpec = Annotated[ListAudience | SegmentAudience, Field(discriminator="kind")]


class Text(_Strict):
    """One language's words of a variant (Jinja2 templates, sandboxed)."""

    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(min_length=1, max_length=20_000)
    html: str | None = Field(default=None, max_length=200_000)


class Variant(_Strict):
    """An A/B/n arm: its share of the treated customers and its content."""

    name: str = Field(default="A", pattern=NAME_PATTERN)
    weight: float = Field(default=1.0, gt=0, le=1000)
    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(min_length=1, max_length=20_000)
    html: str | None = Field(default=None, max_length=200_000)
    template_id: str | None = Field(default=None, max_length=64)
    """A provider's pre-approved template (SMS clouds, WeChat); parameters come from
    ``params``."""
    params: dict[str, str] = Field(default_factory=dict, max_length=20)
    """Provider template parameters, each a Jinja2 template:
    ``{"code": "{{ coupon.code }}"}``."""
    url: str | None = Field(default=None, max_length=2000)
    """Where a tap leads (push, WeChat, inbox); tracked as a click."""
    translations: dict[Literal["zh", "en"], Text] = Field(default_factory=dict)
    """The same variant in other languages, chosen per customer."""

    @field_validator("name")
    @classmethod
    def _not_holdout(cls, value: str) -> str:
        if value == HOLDOUT:
            raise ValueError(f"{HOLDOUT!r} is reserved for the control group")
        return value


class Content(_Strict):
    variants: list[Variant] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _unique(self) -> Content:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        return self


class Offer(_Strict):
    """What the message gives: nothing, a coupon from a pool, points, or a gift."""

    kind: Literal["none", "coupon", "points", "gift"] = "none"
    pool_id: int | None = Field(default=None, ge=1)
    points: int | None = Field(default=None, gt=0, le=10**9)
    rule: str = Field(default="campaign", pattern=r"^[a-z0-9_-]{1,32}$")
    """The loyalty bonus rule (kind ``campaign``) that pays the points, with its budget."""
    gift: str | None = Field(default=None, max_length=200)
    gift_cost: Decimal = Field(default=Decimal("0"), ge=0, max_digits=18, decimal_places=2)

    @model_validator(mode="after")
    def _complete(self) -> Offer:
        if self.kind == "coupon" and self.pool_id is None:
            raise ValueError("a coupon offer needs pool_id")
        if self.kind == "points" and self.points is None:
            raise ValueError("a points offer needs points")
        if self.kind == "gift" and not self.gift:
            raise ValueError("a gift offer needs gift (what is given)")
        return self


class Wave(_Strict):
    """One send of a multi-wave campaign to its own share of the audience."""

    at: datetime
    share: float = Field(gt=0, le=1000)

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("wave times need a time zone (e.g. 2026-11-08T20:00:00+08:00)")
        return value


class Schedule(_Strict):
    """Send now, at a time, or in waves to sub-audiences; throttled per channel."""

    kind: Literal["now", "at", "waves"] = "now"
    at: datetime | None = None
    waves: list[Wave] = Field(default_factory=list, max_length=20)
    rate_per_second: float | None = Field(default=None, gt=0, le=1_000_000)
    """This campaign's own ceiling; the channel's provider limit applies as well."""

    @model_validator(mode="after")
    def _complete(self) -> Schedule:
        if self.kind == "at":
            if self.at is None:
                raise ValueError("schedule 'at' needs at")
            if self.at.tzinfo is None:
                raise ValueError("the send time needs a time zone")
        if self.kind == "waves" and len(self.waves) < 2:
            raise ValueError("schedule 'waves' needs at least two waves")
        return self


class Experiment(_Strict):
    holdout_share: float = Field(default=DEFAULT_HOLDOUT_SHARE, ge=0.0, lt=1.0)
    attribution_days: int = Field(default=7, ge=1, le=90)


class CampaignSpec(_Strict):
    """A whole campaign plan (file, API body)."""

    name: str = Field(min_length=1, max_length=200)
    channel: Literal["email", "sms", "push", "inbox", "wechat", "webhook", "file"]
    purpose: Literal["marketing", "service"] = "marketing"
    language: Literal["zh", "en"] = "zh"
    audience: AudienceSpec
    content: Content
    offer: Offer = Field(default_factory=Offer)
    schedule: Schedule = Field(default_factory=Schedule)
    experiment: Experiment = Field(default_factory=Experiment)
    cost_per_message: Decimal | None = Field(default=None, ge=0, max_digits=12,
                                             decimal_places=4)
    """Default: the channel's price from the campaign settings."""


class CampaignUpdate(_Strict):
    """A draft's editable parts (anything left out stays)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    channel: Literal["email", "sms", "push", "inbox", "wechat", "webhook", "file"] | None = None
    purpose: Literal["marketing", "service"] | None = None
    language: Literal["zh", "en"] | None = None
    audience: AudienceSpec | None = None
    content: Content | None = None
    offer: Offer | None = None
    schedule: Schedule | None = None
    experiment: Experiment | None = None
    cost_per_message: Decimal | None = Field(default=None, ge=0, max_digits=12,
                                             decimal_places=4)
