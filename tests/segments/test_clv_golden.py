"""Golden tests on the CDNOW sample (Fader, Hardie & Lee 2005): summaries, fits, expectations.

The data live in ``../shared/data`` beside the repository (see its README). They are not
optional: in CI a missing file fails the suite; on a developer's machine without the
shared folder the tests are skipped with the reason.
"""

from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shopcrm.segments.clv import (
    ClvSettings,
    CustomerSummary,
    fit_models,
    predict_from_orders,
    summarise_orders,
)
from shopcrm.segments.clv_models import BgNbd, GammaGamma, ParetoNbd

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LOG = DATA / "CDNOW_sample.txt"
SUMMARY = DATA / "cdnow_customers_summary_with_transactions.csv"
CALIBRATION_END = date(1997, 9, 30)


def _require(path: Path) -> Path:
    if not path.exists():
        message = f"CDNOW golden data missing: {path} (see ../shared/data/README.md)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def published_summary() -> dict[str, np.ndarray]:
    with _require(SUMMARY).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "customer_id": np.array([int(r["ID"]) for r in rows]),
        "x": np.array([float(r["x"]) for r in rows]),
        "t_x": np.array([float(r["t_x"]) for r in rows]),
        "T": np.array([float(r["T"]) for r in rows]),
        "zbar": np.array([float(r["zbar"]) for r in rows]),
    }


@pytest.fixture(scope="module")
def derived() -> CustomerSummary:
    """The summary our own Ibis expression derives from the raw purchase log (DuckDB)."""
    ids, days, amounts = [], [], []
    with _require(LOG).open(encoding="ascii") as handle:
        for line in handle:
            _, customer, day, _cds, dollars = line.split()
            ids.append(int(customer))
            days.append(date(int(day[:4]), int(day[4:6]), int(day[6:])))
            amounts.append(float(dollars))
    log = pa.table({"customer_id": ids, "day": pa.array(days, pa.date32()), "amount": amounts})
    expr = summarise_orders(ibis.memtable(log), end=CALIBRATION_END, unit_days=7)
    table = ibis.duckdb.connect().to_pyarrow(expr).rename_columns(
        ["customer_id", "frequency", "recency", "T", "monetary_value"])
    return CustomerSummary.from_table(table)


def test_summary_from_the_log_matches_the_published_summary(
    derived: CustomerSummary, published_summary: dict[str, np.ndarray]
) -> None:
    assert len(derived) == 2357
    assert derived.customer_id.tolist() == published_summary["customer_id"].tolist()
    assert np.array_equal(derived.frequency, published_summary["x"])
    # the published file rounds to two decimals
    assert np.abs(derived.recency - published_summary["t_x"]).max() <= 0.005
    assert np.abs(derived.T - published_summary["T"]).max() <= 0.005
    assert np.abs(derived.monetary_value - published_summary["zbar"]).max() <= 0.005 + 1e-9
    assert int((derived.frequency > 0).sum()) == 946


def _within_1_percent(fitted: dict[str, float], published: dict[str, float]) -> None:
    for name, value in published.items():
        assert fitted[name] == pytest.approx(value, rel=0.01), name


def test_bgnbd_fit_matches_fhl_2005(derived: CustomerSummary) -> None:
    model = BgNbd.fit(derived.frequency, derived.recency, derived.T)
    _within_1_percent(model.params, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    assert model.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_pareto_nbd_fit_matches_the_published_fit(derived: CustomerSummary) -> None:
    # FHL 2005 (Marketing Science 24(2)) report the Pareto/NBD fit on the same data next
    # to the BG/NBD one: r 0.553, α 10.578, s 0.606, β 11.669, LL −9595.0.
    model = ParetoNbd.fit(derived.frequency, derived.recency, derived.T)
    _within_1_percent(model.params, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
    assert model.log_likelihood == pytest.approx(-9595.0, abs=0.1)


def test_gamma_gamma_fit_matches_the_published_fit(derived: CustomerSummary) -> None:
    repeat = derived.frequency > 0
    model = GammaGamma.fit(derived.frequency[repeat], derived.monetary_value[repeat])
    _within_1_percent(model.params, {"p": 6.25, "q": 3.74, "gamma": 15.44})
    # the population mean spend per transaction pγ/(q−1) ≈ $35.2
    assert model.expected_spend(0, 0)[()] == pytest.approx(35.17, abs=0.05)


def test_fits_on_the_published_summary_agree(published_summary: dict[str, np.ndarray]) -> None:
    model = BgNbd.fit(published_summary["x"], published_summary["t_x"], published_summary["T"])
    _within_1_percent(model.params, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})


def test_published_bgnbd_expectations_hold(derived: CustomerSummary) -> None:
    model = BgNbd.fit(derived.frequency, derived.recency, derived.T)
    # a customer with 2 repeat purchases, the last at week 30.43, observed 38.86 weeks
    assert model.expected_purchases(39, 2, 30.43, 38.86)[()] == pytest.approx(1.226, abs=1e-3)
    expected = model.expected_purchases_new_customer([0.1429, 1, 3, 31.8571, 32, 78])
    published = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    assert expected == pytest.approx(published, abs=5e-4)
    assert model.probability_of_purchases(39, 0) == pytest.approx(0.5738, abs=1e-3)
    rounded = BgNbd(0.243, 4.414, 0.793, 2.426)
    assert rounded.probability_of_purchases(39, 0) == pytest.approx(0.5738, abs=1e-4)


def test_cdnow_spend_is_nearly_independent_of_frequency(derived: CustomerSummary) -> None:
    """The Gamma-Gamma assumption holds on CDNOW (correlation 0.11): no warning note."""
    repeat = derived.frequency > 0
    correlation = np.corrcoef(derived.frequency[repeat], derived.monetary_value[repeat])[0, 1]
    assert correlation == pytest.approx(0.11, abs=0.01)
    _, _, notes = fit_models(derived)
    assert notes == ()


def test_predictions_straight_from_the_orders(derived: CustomerSummary) -> None:
    """The features job's path: orders (on their engine) → summary → fit → predictions."""
    ids, days, amounts = [], [], []
    with LOG.open(encoding="ascii") as handle:
        for line in handle:
            _, customer, day, _cds, dollars = line.split()
            ids.append(int(customer))
            days.append(date(int(day[:4]), int(day[4:6]), int(day[6:])))
            amounts.append(float(dollars))
    orders = ibis.memtable(pa.table({"customer_id": ids, "day": pa.array(days, pa.date32()),
                                     "amount": amounts}))
    settings = ClvSettings(unit="weeks", periods=1, period_length=39, discount_rate=0.0)
    result = predict_from_orders(orders, end=CALIBRATION_END, settings=settings)
    _within_1_percent(result.purchase_model.params,
                      {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    _within_1_percent(result.spend_model.params, {"p": 6.25, "q": 3.74, "gamma": 15.44})
    table = result.table
    first = table.filter(pc.equal(table["customer_id"], 1))  # x=2, t_x 30.43, T 38.86
    assert first["expected_purchases"][0].as_py() == pytest.approx(1.226, abs=2e-3)
    assert table.num_rows == 2357
