"""Lift over the holdout: how much did a campaign add, and how sure are we?

The seeds' hardest question is what CRM revenue was *incremental*. Every campaign keeps
a random holdout that receives nothing; comparing treated and holdout customers over
the same attribution window answers it, and a confidence interval says how much of the
difference could be chance. Pure functions of per-arm summaries (counts, means,
variances), so the same code serves an SQL aggregate over a million deliveries, the
Hillstrom experiment and a simulation.

Formulas (two-sided, 95% by default; ``z`` and ``t`` quantiles from the normal and
Student distributions):

* **Rates** (converted, visited, ...): difference of two independent proportions.
  The interval reported as ``ci`` is **Newcombe's hybrid score interval** (Newcombe
  1998, method 10: Wilson intervals of each arm combined) because campaign conversion
  rates are often around 1% where the Wald interval under-covers; the **Wald** interval
  ``p1 - p0 ± z·√(p1(1-p1)/n1 + p0(1-p0)/n0)`` is reported beside it. The p-value is
  the pooled two-proportion z-test. Relative lift ``p1/p0 - 1`` has the log (Katz)
  interval of the risk ratio, ``exp(ln RR ± z·√(1/x1 - 1/n1 + 1/x0 - 1/n0)) - 1``.
* **Revenue per customer** (every customer, zero for non-buyers): **Welch's t**
  interval of the difference of means with Welch–Satterthwaite degrees of freedom; the
  relative lift of the means has a delta-method interval on the log ratio.
* **Incremental revenue** is the difference of means times the treated customers (its
  interval scaled the same way); **ROI** is ``(incremental revenue - cost) / cost``.

A result is "significant" when its interval excludes 0, else the report says plainly
"not significant" (the interval is what the verdict rests on; the p-value is shown for
readers who expect one, and the pooled z-test and Newcombe interval can disagree at the
very edge).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist

from scipy import stats

SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "not significant"


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


@dataclass(frozen=True)
class Interval:
    """A closed interval ``[low, high]``."""

    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def scaled(self, factor: float, shift: float = 0.0) -> Interval:
        """``factor·x + shift`` for both ends (``factor`` > 0)."""
        return Interval(self.low * factor + shift, self.high * factor + shift)


@dataclass(frozen=True)
class Proportion:
    """How many of ``n`` customers did something (converted, visited, clicked)."""

    successes: int
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError(f"an arm needs at least one customer, got n={self.n}")
        if not 0 <= self.successes <= self.n:
            raise ValueError(f"successes must be between 0 and n={self.n}, got {self.successes}")

    @property
    def rate(self) -> float:
        return self.successes / self.n

    def wilson(self, confidence: float = 0.95) -> Interval:
        """Wilson score interval of the rate (no continuity correction)."""
        z = _z(confidence)
        p, n = self.rate, self.n
        denominator = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return Interval(max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Sample:
    """Mean and sample variance (``ddof=1``) of a per-customer value over ``n`` customers."""

    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        if self.n < 2:
            raise ValueError(f"a mean comparison needs at least two customers, got n={self.n}")
        if self.variance < 0 or math.isnan(self.variance) or math.isnan(self.mean):
            raise ValueError("variance must be a non-negative number")

    @classmethod
    def from_values(cls, values: Iterable[float | Decimal]) -> Sample:
        """Two-pass mean and variance (accurate even for large sums)."""
        data = [float(v) for v in values]
        n = len(data)
        if n < 2:
            raise ValueError(f"a mean comparison needs at least two customers, got n={n}")
        mean = math.fsum(data) / n
        variance = math.fsum((x - mean) ** 2 for x in data) / (n - 1)
        return cls(n, mean, variance)

    @classmethod
    def from_sums(cls, n: int, total: float | Decimal, sum_squares: float | Decimal) -> Sample:
        """From ``COUNT``, ``SUM(x)`` and ``SUM(x*x)`` as an SQL aggregate gives them."""
        if n < 2:
            raise ValueError(f"a mean comparison needs at least two customers, got n={n}")
        total_f, squares_f = float(total), float(sum_squares)
        mean = total_f / n
        variance = max(0.0, (squares_f - total_f * total_f / n) / (n - 1))
        return cls(n, mean, variance)

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance / self.n)


@dataclass(frozen=True)
class RateLift:
    """Treated against holdout for a rate."""

    treated_rate: float
    control_rate: float
    absolute: float
    ci: Interval
    """Newcombe hybrid score interval of ``absolute``."""
    wald_ci: Interval
    relative: float | None
    """``treated/control - 1``; None when the holdout rate is 0."""
    relative_ci: Interval | None
    z: float
    p_value: float
    confidence: float

    @property
    def significant(self) -> bool:
        return not self.ci.covers(0.0)

    @property
    def verdict(self) -> str:
        return SIGNIFICANT if self.significant else NOT_SIGNIFICANT


@dataclass(frozen=True)
class MeanLift:
    """Treated against holdout for a per-customer mean (revenue per customer)."""

    treated_mean: float
    control_mean: float
    absolute: float
    ci: Interval
    """Welch interval of ``absolute``."""
    standard_error: float
    df: float
    t: float
    p_value: float
    relative: float | None
    relative_ci: Interval | None
    confidence: float

    @property
    def significant(self) -> bool:
        return not self.ci.covers(0.0)

    @property
    def verdict(self) -> str:
        return SIGNIFICANT if self.significant else NOT_SIGNIFICANT


def rate_lift(treated: Proportion, control: Proportion, *,
              confidence: float = 0.95) -> RateLift:
    """Difference of two independent proportions, treated minus control."""
    z = _z(confidence)
    p1, p0 = treated.rate, control.rate
    diff = p1 - p0
    w1, w0 = treated.wilson(confidence), control.wilson(confidence)
    newcombe = Interval(diff - math.sqrt((p1 - w1.low) ** 2 + (w0.high - p0) ** 2),
                        diff + math.sqrt((w1.high - p1) ** 2 + (p0 - w0.low) ** 2))
    wald_se = math.sqrt(p1 * (1 - p1) / treated.n + p0 * (1 - p0) / control.n)
    wald = Interval(diff - z * wald_se, diff + z * wald_se)
    pooled = (treated.successes + control.successes) / (treated.n + control.n)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / treated.n + 1 / control.n))
    if pooled_se == 0.0:
        z_stat, p_value = 0.0, 1.0
    else:
        z_stat = diff / pooled_se
        p_value = math.erfc(abs(z_stat) / math.sqrt(2.0))  # accurate in the far tail
    relative: float | None = None
    relative_ci: Interval | None = None
    if control.successes > 0:
        relative = p1 / p0 - 1.0
        if treated.successes > 0:
            log_rr = math.log(p1 / p0)
            se = math.sqrt(1 / treated.successes - 1 / treated.n
                           + 1 / control.successes - 1 / control.n)
            relative_ci = Interval(math.exp(log_rr - z * se) - 1.0,
                                   math.exp(log_rr + z * se) - 1.0)
    return RateLift(p1, p0, diff, newcombe, wald, relative, relative_ci, z_stat, p_value,
                    confidence)


def mean_lift(treated: Sample, control: Sample, *, confidence: float = 0.95) -> MeanLift:
    """Welch's t interval of the difference of means, treated minus control."""
    _z(confidence)
    a, b = treated.variance / treated.n, control.variance / control.n
    se = math.sqrt(a + b)
    diff = treated.mean - control.mean
    if se == 0.0:
        # Both arms constant: no uncertainty left to estimate.
        df, t_stat = math.inf, 0.0
        ci = Interval(diff, diff)
        p_value = 1.0 if diff == 0.0 else 0.0
    else:
        df = (a + b) ** 2 / (a * a / (treated.n - 1) + b * b / (control.n - 1))
        quantile = float(stats.t.ppf(0.5 + confidence / 2.0, df))
        ci = Interval(diff - quantile * se, diff + quantile * se)
        t_stat = diff / se
        p_value = float(2.0 * stats.t.sf(abs(t_stat), df))
    relative: float | None = None
    relative_ci: Interval | None = None
    if control.mean > 0:
        relative = treated.mean / control.mean - 1.0
        if treated.mean > 0:
            z = _z(confidence)
            log_se = math.sqrt(a / treated.mean ** 2 + b / control.mean ** 2)
            log_ratio = math.log(treated.mean / control.mean)
            relative_ci = Interval(math.exp(log_ratio - z * log_se) - 1.0,
                                   math.exp(log_ratio + z * log_se) - 1.0)
    return MeanLift(treated.mean, control.mean, diff, ci, se, df, t_stat, p_value, relative,
                    relative_ci, confidence)


@dataclass(frozen=True)
class Arm:
    """What one arm (a variant, or all treated, or the holdout) did in the window."""

    name: str
    customers: int
    converted: int
    revenue: Sample
    """Revenue per customer, zero for those who bought nothing."""

    def __post_init__(self) -> None:
        if self.revenue.n != self.customers:
            raise ValueError(f"arm {self.name!r}: revenue sample covers {self.revenue.n} "
                             f"customers, the arm has {self.customers}")
        Proportion(self.converted, self.customers)

    @property
    def conversion(self) -> Proportion:
        return Proportion(self.converted, self.customers)

    @property
    def conversion_rate(self) -> float:
        return self.converted / self.customers

    @property
    def revenue_total(self) -> float:
        return self.revenue.mean * self.customers

    @classmethod
    def from_outcomes(cls, name: str,
                      outcomes: Iterable[tuple[bool, float | Decimal]]) -> Arm:
        """From one ``(converted, revenue)`` pair per customer."""
        pairs = list(outcomes)
        return cls(name, len(pairs), sum(1 for converted, _ in pairs if converted),
                   Sample.from_values(revenue for _, revenue in pairs))


@dataclass(frozen=True)
class LiftReport:
    """A treated arm against the holdout: the campaign page's numbers."""

    treated: Arm
    holdout: Arm
    conversion: RateLift
    revenue_per_customer: MeanLift
    incremental_revenue: float
    incremental_revenue_ci: Interval
    cost: Decimal | None
    roi: float | None
    """``(incremental revenue - cost) / cost``; None without a positive cost."""
    roi_ci: Interval | None

    @property
    def verdict(self) -> str:
        """Plain words for the page: is there evidence of extra conversions or revenue?"""
        parts = []
        for label, lift in (("conversion", self.conversion),
                            ("revenue per customer", self.revenue_per_customer)):
            parts.append(f"{label}: {lift.verdict}")
        return "; ".join(parts)


def lift_report(treated: Arm, holdout: Arm, *, cost: Decimal | None = None,
                confidence: float = 0.95) -> LiftReport:
    """Conversion and revenue lift of ``treated`` over ``holdout``, incremental revenue
    and ROI given the campaign's ``cost`` (messages plus offers)."""
    conversion = rate_lift(treated.conversion, holdout.conversion, confidence=confidence)
    revenue = mean_lift(treated.revenue, holdout.revenue, confidence=confidence)
    incremental = revenue.absolute * treated.customers
    incremental_ci = revenue.ci.scaled(treated.customers)
    roi: float | None = None
    roi_ci: Interval | None = None
    if cost is not None:
        if cost < 0:
            raise ValueError(f"cost cannot be negative, got {cost}")
        if cost > 0:
            c = float(cost)
            roi = (incremental - c) / c
            roi_ci = incremental_ci.scaled(1.0 / c, -1.0)
    return LiftReport(treated, holdout, conversion, revenue, incremental, incremental_ci,
                      cost, roi, roi_ci)


@dataclass(frozen=True)
class FunnelStep:
    """One step of sent → delivered → opened → clicked → converted."""

    name: str
    count: int
    of_previous: float | None
    """Share of the previous step (None for the first step or after an empty one)."""
    of_first: float | None


def funnel(steps: Iterable[tuple[str, int]]) -> list[FunnelStep]:
    """Step-to-step and overall rates of a funnel of distinct-customer counts.

    Counts need not shrink (a pixel can report an open for a mail whose delivery receipt
    never came); rates above 1 are shown as they are rather than clipped.
    """
    result: list[FunnelStep] = []
    first: int | None = None
    previous: int | None = None
    for name, count in steps:
        if count < 0:
            raise ValueError(f"funnel step {name!r} has a negative count {count}")
        if first is None:
            first = count
        result.append(FunnelStep(
            name, count,
            None if not previous else count / previous,
            None if not first or not result else count / first))
        previous = count
    return result
