"""Golden test: the lift computation on Kevin Hillstrom's real e-mail experiment.

64,000 customers randomly split into Mens E-Mail, Womens E-Mail and No E-Mail (the
holdout). The per-arm rates must be the published ones (MineThatData, 2008) and every
interval must equal the standard formula as computed independently by statsmodels and
scipy from the raw rows. The data file is required: a missing file fails, never skips.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from shopcrm.campaigns.lift import Arm, Proportion, Sample, lift_report, rate_lift

ROOT = Path(__file__).resolve().parents[2]
HILLSTROM = Path(os.environ.get("SHOPCRM_HILLSTROM_CSV",
                                ROOT.parent / "shared" / "data" / "hillstrom.csv"))
HOLDOUT = "No E-Mail"


@dataclass
class RawArm:
    visit: np.ndarray
    conversion: np.ndarray
    spend: np.ndarray


@pytest.fixture(scope="module")
def arms() -> dict[str, RawArm]:
    if not HILLSTROM.is_file():
        # As the CDNOW golden tests: CI must have the data; a clone elsewhere skips.
        message = (f"the Hillstrom data set is required at {HILLSTROM} "
                   "(set SHOPCRM_HILLSTROM_CSV to its path; see ../shared/data/README.md)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    columns: dict[str, dict[str, list[float]]] = {}
    with HILLSTROM.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            arm = columns.setdefault(row["segment"], {"visit": [], "conversion": [],
                                                      "spend": []})
            for name in ("visit", "conversion", "spend"):
                arm[name].append(float(row[name]))
    return {name: RawArm(*(np.asarray(c[k]) for k in ("visit", "conversion", "spend")))
            for name, c in columns.items()}


def to_arm(name: str, raw: RawArm) -> Arm:
    return Arm(name, len(raw.spend), int(raw.conversion.sum()),
               Sample.from_values(raw.spend.tolist()))


def test_arms_and_published_rates(arms: dict[str, RawArm]) -> None:
    assert {name: len(raw.spend) for name, raw in arms.items()} == {
        "Mens E-Mail": 21_307, "Womens E-Mail": 21_387, "No E-Mail": 21_306}
    # Hillstrom's published results: visit rate, conversion rate, spend per customer.
    published = {"Mens E-Mail": (0.1828, 0.0125, 1.42),
                 "Womens E-Mail": (0.1514, 0.0088, 1.08),
                 "No E-Mail": (0.1062, 0.0057, 0.65)}
    for name, (visit, conversion, spend) in published.items():
        arm = to_arm(name, arms[name])
        visits = Proportion(int(arms[name].visit.sum()), arm.customers)
        assert round(visits.rate, 4) == visit
        assert round(arm.conversion_rate, 4) == conversion
        assert round(arm.revenue.mean, 2) == spend


@pytest.mark.parametrize("treated", ["Mens E-Mail", "Womens E-Mail"])
@pytest.mark.parametrize("metric", ["visit", "conversion"])
def test_rate_intervals_match_statsmodels(arms: dict[str, RawArm], treated: str,
                                          metric: str) -> None:
    t, c = getattr(arms[treated], metric), getattr(arms[HOLDOUT], metric)
    x1, n1, x0, n0 = int(t.sum()), len(t), int(c.sum()), len(c)
    lift = rate_lift(Proportion(x1, n1), Proportion(x0, n0))
    assert lift.absolute == pytest.approx(t.mean() - c.mean(), rel=1e-12)
    for method, ours in (("newcomb", lift.ci), ("wald", lift.wald_ci)):
        low, high = confint_proportions_2indep(x1, n1, x0, n0, method=method, compare="diff")
        assert (ours.low, ours.high) == pytest.approx((low, high), rel=1e-9)
    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="log", compare="ratio")
    assert lift.relative_ci is not None and lift.relative is not None
    assert (lift.relative_ci.low, lift.relative_ci.high) == pytest.approx(
        (low - 1, high - 1), rel=1e-9)
    z_stat, p_value = proportions_ztest([x1, x0], [n1, n0])
    assert lift.z == pytest.approx(z_stat, rel=1e-9)
    assert lift.p_value == pytest.approx(p_value, rel=1e-6, abs=1e-300)
    # Both e-mails lifted visits and conversions beyond doubt in the real experiment.
    assert lift.significant and lift.verdict == "significant"


@pytest.mark.parametrize("treated", ["Mens E-Mail", "Womens E-Mail"])
def test_revenue_interval_matches_welch(arms: dict[str, RawArm], treated: str) -> None:
    t, c = arms[treated].spend, arms[HOLDOUT].spend
    report = lift_report(to_arm(treated, arms[treated]), to_arm(HOLDOUT, arms[HOLDOUT]))
    revenue = report.revenue_per_customer
    welch = stats.ttest_ind(t, c, equal_var=False)
    assert revenue.t == pytest.approx(welch.statistic, rel=1e-9)
    assert revenue.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert revenue.df == pytest.approx(welch.df, rel=1e-9)
    scipy_ci = welch.confidence_interval(0.95)
    assert (revenue.ci.low, revenue.ci.high) == pytest.approx(
        (scipy_ci.low, scipy_ci.high), rel=1e-9)
    sm_low, sm_high = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(
        usevar="unequal")
    assert (revenue.ci.low, revenue.ci.high) == pytest.approx((sm_low, sm_high), rel=1e-9)
    assert report.incremental_revenue == pytest.approx((t.mean() - c.mean()) * len(t))
    assert report.incremental_revenue_ci.low == pytest.approx(scipy_ci.low * len(t))


def test_mens_revenue_lift_is_significant_and_womens_conversion_too(
        arms: dict[str, RawArm]) -> None:
    holdout = to_arm(HOLDOUT, arms[HOLDOUT])
    mens = lift_report(to_arm("Mens E-Mail", arms["Mens E-Mail"]), holdout)
    assert mens.revenue_per_customer.significant
    assert mens.verdict == "conversion: significant; revenue per customer: significant"
    # Women's e-mail: spend lift +0.42 per customer, interval clear of zero as well.
    womens = lift_report(to_arm("Womens E-Mail", arms["Womens E-Mail"]), holdout)
    assert womens.revenue_per_customer.absolute == pytest.approx(0.4249, abs=1e-3)


def test_sums_and_values_agree(arms: dict[str, RawArm]) -> None:
    spend = arms["Mens E-Mail"].spend
    from_sums = Sample.from_sums(len(spend), float(spend.sum()), float((spend ** 2).sum()))
    from_values = Sample.from_values(spend.tolist())
    assert from_sums.mean == pytest.approx(from_values.mean, rel=1e-12)
    assert from_sums.variance == pytest.approx(from_values.variance, rel=1e-9)
