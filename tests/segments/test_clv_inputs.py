"""Bad CLV input: a clear ValueError naming the field and the customer, nothing computed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shopcrm.segments.clv import (
    MIN_CUSTOMERS,
    ClvInputError,
    ClvSettings,
    CustomerSummary,
    NotEnoughCustomers,
    fit_models,
    predict,
)
from shopcrm.segments.clv_models import BgNbd, GammaGamma


def _rows(**changes: Any) -> dict[str, list[Any]]:
    base: dict[str, list[Any]] = {
        "customer_id": ["c1", "c2", "c3", "c4"],
        "frequency": [0, 2, 1, 5],
        "recency": [0.0, 30.0, 4.0, 60.0],
        "T": [10.0, 40.0, 20.0, 90.0],
        "monetary_value": [0.0, 25.0, 10.0, 42.5],
    }
    for name, (index, value) in changes.items():
        base[name][index] = value
    return base


def test_a_good_summary_is_accepted() -> None:
    summary = CustomerSummary.from_table(_rows())
    assert len(summary) == 4
    assert summary.frequency.dtype == np.float64


@pytest.mark.parametrize(("change", "field", "customer", "words"), [
    ({"frequency": (1, -1)}, "frequency", "c2", "negative"),
    ({"recency": (2, -0.5)}, "recency", "c3", "negative"),
    ({"T": (0, -3.0)}, "T", "c1", "negative"),
    ({"monetary_value": (3, -1.0)}, "monetary_value", "c4", "negative"),
    ({"recency": (1, 41.0)}, "recency", "c2", "greater than T"),
    ({"recency": (0, 2.0)}, "recency", "c1", "frequency is 0"),
    ({"recency": (3, 0.0)}, "recency", "c4", "frequency > 0"),
    ({"frequency": (2, 1.5)}, "frequency", "c3", "whole number"),
    ({"T": (3, float("nan"))}, "T", "c4", "missing"),
    ({"frequency": (0, float("inf"))}, "frequency", "c1", "not finite"),
    ({"monetary_value": (1, None)}, "monetary_value", "c2", "missing"),
])
def test_impossible_values_name_the_field_and_the_customer(
    change: dict[str, tuple[int, Any]], field: str, customer: str, words: str
) -> None:
    with pytest.raises(ClvInputError) as caught:
        CustomerSummary.from_table(_rows(**change))
    message = str(caught.value)
    assert message.startswith(field), message
    assert f"customer {customer!r}" in message and words in message


def test_the_message_counts_further_offenders() -> None:
    rows = _rows()
    rows["T"] = [-1.0, -2.0, 20.0, -4.0]
    with pytest.raises(ClvInputError, match=r"customer 'c1' \(and 2 more\)"):
        CustomerSummary.from_table(rows)


def test_missing_column_duplicate_ids_and_text_values() -> None:
    rows = _rows()
    del rows["T"]
    with pytest.raises(ClvInputError, match="no column 'T'"):
        CustomerSummary.from_table(rows)
    with pytest.raises(ClvInputError, match="one kind"):
        CustomerSummary.from_table(_rows(customer_id=(1, None)))
    with pytest.raises(ClvInputError, match="customer 'c1' appears more than once"):
        CustomerSummary.from_table(_rows(customer_id=(1, "c1")))
    with pytest.raises(ClvInputError, match="frequency: values must be numbers"):
        CustomerSummary.from_table(_rows(frequency=(0, "three")))
    with pytest.raises(ClvInputError, match="mapping of column name"):
        CustomerSummary.from_table(42)


def test_pandas_frames_are_read_too() -> None:
    pd = pytest.importorskip("pandas")
    summary = CustomerSummary.from_table(pd.DataFrame(_rows()))
    assert summary.customer_id.tolist() == ["c1", "c2", "c3", "c4"]


def _many(n: int, repeaters: int) -> CustomerSummary:
    freq = np.zeros(n)
    freq[:repeaters] = 2
    recency = np.where(freq > 0, 5.0, 0.0)
    return CustomerSummary.of(customer_id=np.arange(n), frequency=freq, recency=recency,
                              T=np.full(n, 10.0), monetary_value=np.where(freq > 0, 9.0, 0.0))


def test_too_few_customers_or_repeat_buyers_cannot_be_fitted() -> None:
    with pytest.raises(NotEnoughCustomers, match=f"at least {MIN_CUSTOMERS}"):
        predict(_many(MIN_CUSTOMERS - 1, 10))
    with pytest.raises(NotEnoughCustomers, match="repeat buyers"):
        fit_models(_many(100, 3))


def test_given_models_predict_for_a_single_customer() -> None:
    """Too few to fit is not too few to predict with a model fitted elsewhere."""
    summary = CustomerSummary.from_table(_rows())
    result = predict(summary, purchase_model=BgNbd(0.243, 4.414, 0.793, 2.426),
                     spend_model=GammaGamma(6.25, 3.74, 15.44))
    assert result.table.num_rows == 4


@pytest.mark.parametrize("settings", [
    {"model": "magic"}, {"unit": "months"}, {"periods": 0}, {"period_length": -1.0},
    {"discount_rate": 1.5}, {"discount_rate": float("nan")}, {"margin": 0.0},
])
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings))):
        ClvSettings(**settings)


def test_spend_expectation_needs_q_above_one() -> None:
    with pytest.raises(ValueError, match="q"):
        GammaGamma(2.0, 0.9, 10.0).expected_spend(1, 10.0)


def test_data_that_do_not_identify_the_model_are_refused() -> None:
    """Everyone bought again right at the end: nobody ever lapses, so the dropout
    parameters run off instead of converging."""
    from shopcrm.segments.clv_models import FitError

    rng = np.random.default_rng(1)
    T = rng.uniform(10, 50, 500)
    x = rng.integers(1, 5, 500).astype(float)
    with pytest.raises(FitError, match=r"BG/NBD: .* ran off"):
        BgNbd.fit(x, T, T)
    with pytest.raises(FitError, match=r"Gamma-Gamma: .* ran off"):
        GammaGamma.fit(np.full(100, 3.0), np.full(100, 20.0))  # no spread in spend at all
