"""The Chinese e-commerce calendar: big campaigns, flash sales and the hours people shop.

Order volume in a real shop is not flat: it peaks in 年货节 (the weeks before Spring
Festival), 38女王节, 618 and 双11 and it has a daily rhythm with a late-evening high and a
midnight rush when a campaign opens.  Campaign-buyer and price-sensitive tags are only
testable if the demo data carries those peaks, so every order date is drawn through this
calendar.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import accumulate

# Spring Festival (Lunar New Year's day); 年货节 ends about a week before it.
SPRING_FESTIVAL: dict[int, date] = {
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
}

NEW_YEAR_FAIR = "年货节"
QUEENS_DAY = "38女王节"
MID_YEAR = "618"
DOUBLE_ELEVEN = "双11"
FLASH_SALE = "聚划算"

CAMPAIGNS: tuple[str, ...] = (NEW_YEAR_FAIR, QUEENS_DAY, MID_YEAR, DOUBLE_ELEVEN)

# Discount codes the own web shop (Shopify) hands out in each promotion.
DISCOUNT_CODES: dict[str, str] = {
    NEW_YEAR_FAIR: "CNY",
    QUEENS_DAY: "QUEEN38",
    MID_YEAR: "618SALE",
    DOUBLE_ELEVEN: "DOUBLE11",
    FLASH_SALE: "FLASH",
}

# Relative order volume per hour of day (Beijing time) on an ordinary day.
_HOUR_WEIGHTS = (
    1.0, 0.6, 0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 2.2,
    2.5, 2.0, 1.8, 1.8, 1.8, 1.7, 1.8, 2.5, 3.2, 3.5, 3.2, 2.0,
)
_HOUR_CUM = list(accumulate(_HOUR_WEIGHTS))
_HOURS = tuple(range(24))


@dataclass(frozen=True, slots=True)
class Promotion:
    """One occurrence of a promotion: a window of days with its busiest days."""

    name: str
    start: date
    end: date
    peaks: tuple[date, ...]

    @property
    def discount_code(self) -> str:
        """The code an own-shop buyer types at checkout during this promotion."""
        return f"{DISCOUNT_CODES[self.name]}{self.start.year % 100:02d}"

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls inside the window."""
        return self.start <= day <= self.end

    def pick_day(self, rng: random.Random) -> date:
        """A purchase day in the window: about 40% land on the peak days."""
        if self.peaks and rng.random() < 0.4:
            return rng.choice(self.peaks)
        return self.start + timedelta(days=rng.randrange((self.end - self.start).days + 1))


def _campaigns_of_year(year: int) -> list[Promotion]:
    festival = SPRING_FESTIVAL.get(year, date(year, 2, 1))
    fair_end = festival - timedelta(days=8)
    fair_start = festival - timedelta(days=28)
    fair_peaks = (fair_start, fair_end - timedelta(days=3))
    queens_peaks = (date(year, 3, 7), date(year, 3, 8))
    mid_peaks = (date(year, 6, 1), date(year, 6, 18))
    eleven_peaks = (date(year, 10, 31), date(year, 11, 1), date(year, 11, 11))
    return [
        Promotion(NEW_YEAR_FAIR, fair_start, fair_end, fair_peaks),
        Promotion(QUEENS_DAY, date(year, 3, 1), date(year, 3, 8), queens_peaks),
        Promotion(MID_YEAR, date(year, 6, 1), date(year, 6, 18), mid_peaks),
        Promotion(DOUBLE_ELEVEN, date(year, 10, 20), date(year, 11, 11), eleven_peaks),
    ]


class PromotionCalendar:
    """All campaigns and flash-sale days between ``start`` and ``end`` (inclusive).

    Flash-sale days (聚划算) are drawn from ``rng`` once, so every buyer of one run sees
    the same sale days, as in a real shop.
    """

    def __init__(self, start: date, end: date, rng: random.Random) -> None:
        self.start = start
        self.end = end
        self.campaigns: list[Promotion] = [
            p
            for year in range(start.year - 1, end.year + 2)
            for p in _campaigns_of_year(year)
            if p.end >= start and p.start <= end
        ]
        self.campaigns.sort(key=lambda p: p.start)
        self._campaign_starts = [p.start for p in self.campaigns]
        self._by_day: dict[date, Promotion] = {}
        for promo in self.campaigns:
            day = promo.start
            while day <= promo.end:
                self._by_day[day] = promo
                day += timedelta(days=1)
        flash: list[date] = []
        month = date(start.year, start.month, 1)
        while month <= end:
            days_in_month = (_add_month(month) - month).days
            for day_of_month in sorted(rng.sample(range(days_in_month), 3)):
                day = month + timedelta(days=day_of_month)
                if start <= day <= end and day not in self._by_day:
                    flash.append(day)
            month = _add_month(month)
        self.flash_days: list[date] = flash
        for day in flash:
            self._by_day[day] = Promotion(FLASH_SALE, day, day, (day,))

    def on(self, day: date) -> Promotion | None:
        """The campaign or flash sale running on ``day``, if any."""
        return self._by_day.get(day)

    def occurrences(self, names: tuple[str, ...] | frozenset[str]) -> list[Promotion]:
        """Campaign occurrences with one of ``names``, in date order."""
        return [p for p in self.campaigns if p.name in names]

    def campaign_from(self, day: date) -> Promotion | None:
        """The campaign running on ``day`` or the next one to start after it."""
        promo = self._by_day.get(day)
        if promo is not None and promo.name != FLASH_SALE:
            return promo
        i = bisect_right(self._campaign_starts, day)
        return self.campaigns[i] if i < len(self.campaigns) else None

    def nearest_flash(self, day: date) -> date | None:
        """The flash-sale day closest to ``day``."""
        i = bisect_left(self.flash_days, day)
        best: date | None = None
        for j in (i - 1, i):
            if 0 <= j < len(self.flash_days):
                cand = self.flash_days[j]
                if best is None or abs((cand - day).days) < abs((best - day).days):
                    best = cand
        return best


def _add_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def pick_time(day: date, promo: Promotion | None, rng: random.Random) -> datetime:
    """A time of day for an order: evening peak, and a midnight rush on campaign peaks."""
    if promo is not None and promo.name in (MID_YEAR, DOUBLE_ELEVEN) and day in promo.peaks:
        if rng.random() < 0.35:
            hour = rng.choice((0, 0, 0, 1, 20, 21))
        else:
            hour = rng.choices(_HOURS, cum_weights=_HOUR_CUM)[0]
    else:
        hour = rng.choices(_HOURS, cum_weights=_HOUR_CUM)[0]
    return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)))
