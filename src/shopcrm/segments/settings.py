"""RFM, value-tier and lifecycle settings: validated pydantic models, one JSON file per shop.

Why a file in ``SHOPCRM_HOME`` and not a table: the settings are one small document that
the features job reads once per run, an operator may want to edit or version it by hand,
and every engine (DuckDB or Spark) runs the job from the same document. The file is
``<home>/settings/segments.json``; a missing file means the defaults. Writes are atomic
(temporary file, then rename), so a running job never reads half a document.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SETTINGS_FILE = "segments.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Thresholds(_Frozen):
    """Four ascending cut points that split a dimension into scores 1–5.

    Recency (days since the last purchase, lower is better): ``days <= cuts[0]`` scores 5,
    ``<= cuts[1]`` 4, ``<= cuts[2]`` 3, ``<= cuts[3]`` 2, else 1. Frequency and monetary
    (higher is better): ``value >= cuts[3]`` scores 5, ``>= cuts[2]`` 4, ``>= cuts[1]`` 3,
    ``>= cuts[0]`` 2, else 1.
    """

    cuts: tuple[float, float, float, float]

    @model_validator(mode="after")
    def _ascending(self) -> Thresholds:
        if any(b <= a for a, b in zip(self.cuts, self.cuts[1:], strict=False)):
            raise ValueError(f"cut points must be strictly ascending, got {list(self.cuts)}")
        if self.cuts[0] < 0:
            raise ValueError("cut points cannot be negative")
        return self


class RfmSettings(_Frozen):
    """How R, F and M become scores 1–5 and how scores become the Chinese 8-class map."""

    method: Literal["quintile", "thresholds"] = "quintile"
    ties: Literal["shared", "customer_id"] = "shared"
    """Quintiles: ``shared`` gives equal values the same score (the score is 1 + ⌊5 × share
    of buyers with a strictly worse value⌋), so an edge never cuts through a tie and a
    customer's score changes only when values change; ``customer_id`` breaks ties by
    customer ID (exact fifths, deterministic, but equal values may score differently)."""
    recency: Thresholds = Thresholds(cuts=(30, 90, 180, 365))
    frequency: Thresholds = Thresholds(cuts=(2, 3, 5, 10))
    monetary: Thresholds = Thresholds(cuts=(100, 300, 1000, 3000))
    cn_basis: Literal["mean", "score"] = "mean"
    """The Chinese map's high/low per dimension: ``mean`` compares the raw value with the
    buyers' mean (recency: *fewer* days than the mean is high); ``score`` calls a score
    ``>= cn_high_from`` high."""
    cn_high_from: int = Field(default=4, ge=2, le=5)


class Tier(_Frozen):
    name: str = Field(min_length=1, max_length=64)
    share: float = Field(gt=0, le=1)
    """This tier's share of buyers, by rank of net spend (the first tier is the top)."""


class TierSettings(_Frozen):
    """Value tiers by rank of net spend: top 10 % / next 15 % / next 25 % / last 50 %."""

    tiers: tuple[Tier, ...] = (
        Tier(name="platinum", share=0.10),
        Tier(name="gold", share=0.15),
        Tier(name="silver", share=0.25),
        Tier(name="bronze", share=0.50),
    )

    @model_validator(mode="after")
    def _shares(self) -> TierSettings:
        if not self.tiers:
            raise ValueError("at least one tier is needed")
        total = sum(t.share for t in self.tiers)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"tier shares must add up to 1, they add up to {total:g}")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique: {names}")
        return self


class LifecycleSettings(_Frozen):
    """Stages by days since the last purchase, and "new" by days since the first.

    new: first purchase at most ``new_days`` ago; active: last purchase less than
    ``active_days`` ago; sleeping: up to ``sleeping_days``; pre-churn: up to
    ``churn_days``; churned: longer. A customer with events but no purchase is a
    prospect.
    """

    new_days: int = Field(default=30, ge=1)
    active_days: int = Field(default=90, ge=1)
    sleeping_days: int = Field(default=180, ge=1)
    churn_days: int = Field(default=365, ge=1)
    high_value_from: int = Field(default=4, ge=1, le=5)
    """The value × activity quadrant calls an M score at or above this high value."""

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if not (self.new_days <= self.active_days < self.sleeping_days < self.churn_days):
            raise ValueError("need new_days <= active_days < sleeping_days < churn_days")
        return self


class SegmentSettings(_Frozen):
    """Everything the features job needs to know about a shop's choices."""

    rfm: RfmSettings = RfmSettings()
    tiers: TierSettings = TierSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    windows: tuple[int, ...] = Field(default=(7, 30, 90), min_length=1, max_length=6)
    """Behaviour windows in days for the event and order counts."""
    new_arrival_days: int = Field(default=30, ge=1, le=3650)
    """A purchase within this many days of the product's launch is a new-arrival buy."""

    @model_validator(mode="after")
    def _windows(self) -> SegmentSettings:
        if any(w < 1 or w > 3650 for w in self.windows) or len(set(self.windows)) != len(
                self.windows):
            raise ValueError("windows must be distinct day counts between 1 and 3650")
        return self


def settings_path(home: Path) -> Path:
    return home / "settings" / SETTINGS_FILE


def load_settings(home: Path) -> SegmentSettings:
    """The shop's settings, or the defaults when none were saved."""
    path = settings_path(home)
    if not path.exists():
        return SegmentSettings()
    return SegmentSettings.model_validate_json(path.read_text(encoding="utf-8"))


def save_settings(home: Path, settings: SegmentSettings) -> Path:
    """Write the settings atomically (a reader sees the old or the new document)."""
    path = settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".segments-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(settings.model_dump(mode="json"), handle, ensure_ascii=False, indent=2)
    os.replace(tmp, path)
    return path
