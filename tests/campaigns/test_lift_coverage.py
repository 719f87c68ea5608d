"""Simulated campaigns with a known true effect: the 95% intervals must cover it about
95% of the time (seeded; asserted within a binomial tolerance), plus the edge cases of
the lift formulas."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from shopcrm.campaigns.lift import (
    Arm,
    Interval,
    Proportion,
    Sample,
    funnel,
    lift_report,
    mean_lift,
    rate_lift,
)

REPS = 2000


def within_binomial_tolerance(hits: int, reps: int, p: float = 0.95) -> bool:
    """Hits of a Binomial(reps, p) within 3.5 standard deviations (fails ~1 in 2000 if the
    intervals are right; seeded, so the outcome is fixed anyway)."""
    return abs(hits - reps * p) <= 3.5 * math.sqrt(reps * p * (1 - p))


@pytest.mark.parametrize(("p0", "p1", "n"), [(0.02, 0.026, 5000), (0.10, 0.10, 2000),
                                              (0.006, 0.0125, 20000)])
def test_rate_interval_covers_true_difference(p0: float, p1: float, n: int) -> None:
    rng = np.random.default_rng(20261123)
    treated = rng.binomial(n, p1, REPS)
    control = rng.binomial(n, p0, REPS)
    newcombe = wald = 0
    for x1, x0 in zip(treated, control, strict=True):
        lift = rate_lift(Proportion(int(x1), n), Proportion(int(x0), n))
        newcombe += lift.ci.covers(p1 - p0)
        wald += lift.wald_ci.covers(p1 - p0)
    assert within_binomial_tolerance(newcombe, REPS), newcombe / REPS
    assert within_binomial_tolerance(wald, REPS), wald / REPS


def test_revenue_interval_covers_true_difference() -> None:
    # Revenue per customer: most spend nothing; buyers' baskets are gamma distributed.
    rng = np.random.default_rng(7)
    n1, n0 = 3000, 1000  # a 25% holdout: unequal arms, unequal variances
    p1, p0, basket1, basket0 = 0.20, 0.15, 120.0, 100.0
    true_diff = p1 * basket1 - p0 * basket0
    covered = significant = 0
    for _ in range(REPS):
        t = rng.binomial(1, p1, n1) * rng.gamma(2.0, basket1 / 2.0, n1)
        c = rng.binomial(1, p0, n0) * rng.gamma(2.0, basket0 / 2.0, n0)
        lift = mean_lift(Sample.from_values(t), Sample.from_values(c))
        covered += lift.ci.covers(true_diff)
        significant += lift.significant
    assert within_binomial_tolerance(covered, REPS), covered / REPS
    assert significant > 0.9 * REPS  # a real effect of this size is found most times


def test_no_effect_is_mostly_not_significant() -> None:
    rng = np.random.default_rng(11)
    verdicts = [rate_lift(Proportion(int(rng.binomial(4000, 0.05)), 4000),
                          Proportion(int(rng.binomial(400, 0.05)), 400)).verdict
                for _ in range(REPS)]
    assert within_binomial_tolerance(verdicts.count("not significant"), REPS)


def test_small_holdout_edge_cases() -> None:
    # No conversion in the holdout: relative lift is undefined, absolute still has an
    # interval (Newcombe never leaves [-1, 1], unlike Wald at zero counts).
    lift = rate_lift(Proportion(3, 100), Proportion(0, 10))
    assert lift.relative is None and lift.relative_ci is None
    assert -1 <= lift.ci.low < 0 < lift.ci.high <= 1
    assert lift.verdict == "not significant"
    assert lift.wald_ci.low == pytest.approx(lift.wald_ci.high - 2 * 1.959964 * math.sqrt(
        0.03 * 0.97 / 100), rel=1e-6)
    nothing = rate_lift(Proportion(0, 50), Proportion(0, 50))
    assert nothing.p_value == 1.0 and nothing.absolute == 0.0


def test_constant_revenue_has_no_uncertainty() -> None:
    lift = mean_lift(Sample(10, 5.0, 0.0), Sample(10, 5.0, 0.0))
    assert lift.ci == Interval(0.0, 0.0) and lift.p_value == 1.0 and not lift.significant


def test_report_roi_and_verdict() -> None:
    treated = Arm.from_outcomes("A", [(True, Decimal("100.00"))] * 30 + [(False, 0)] * 70)
    holdout = Arm.from_outcomes("holdout", [(True, Decimal("100.00"))] * 10
                                + [(False, 0)] * 90)
    report = lift_report(treated, holdout, cost=Decimal("500"))
    assert report.incremental_revenue == pytest.approx(2000.0)
    assert report.roi == pytest.approx(3.0)
    assert report.roi_ci is not None and report.roi_ci.covers(3.0)
    assert report.conversion.relative == pytest.approx(2.0)
    assert report.verdict == "conversion: significant; revenue per customer: significant"
    assert lift_report(treated, holdout).roi is None
    assert lift_report(treated, holdout, cost=Decimal(0)).roi is None


@pytest.mark.parametrize("bad", [
    lambda: Proportion(5, 0), lambda: Proportion(-1, 10), lambda: Proportion(11, 10),
    lambda: Sample(1, 0.0, 0.0), lambda: Sample.from_values([1.0]),
    lambda: Sample(5, 1.0, -1.0),
    lambda: rate_lift(Proportion(1, 10), Proportion(1, 10), confidence=1.0),
    lambda: Arm("x", 3, 1, Sample(4, 1.0, 1.0)),
    lambda: lift_report(Arm.from_outcomes("a", [(True, 1), (False, 0)]),
                        Arm.from_outcomes("b", [(True, 1), (False, 0)]), cost=Decimal(-1)),
])
def test_bad_input_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


def test_funnel() -> None:
    steps = funnel([("sent", 1000), ("delivered", 950), ("opened", 190), ("clicked", 38),
                    ("converted", 0), ("revenue orders", 0)])
    assert [s.of_previous for s in steps] == [None, 0.95, 0.2, 0.2, 0.0, None]
    assert [s.of_first for s in steps] == [None, 0.95, 0.19, 0.038, 0.0, 0.0]
    assert funnel([]) == []
    assert funnel([("sent", 0), ("delivered", 0)])[1].of_first is None
    with pytest.raises(ValueError):
        funnel([("sent", -1)])
