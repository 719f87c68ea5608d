"""CLV models checked against an independent route, and predictions end to end.

The closed forms (hypergeometric functions, Euler's transformation, log-differences)
are compared with brute-force integration over the models' own mixing distributions:
a Gauss-Legendre grid over the quantiles of λ and p (BG/NBD) or λ and μ (Pareto/NBD).
Parameter recovery on simulated shops checks the fits beyond the one published data set.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from shopcrm.segments.clv import ClvSettings, CustomerSummary, fit_models, predict
from shopcrm.segments.clv_models import BgNbd, GammaGamma, ParetoNbd
from shopcrm.segments.clv_simulate import (
    simulate_bgnbd,
    simulate_pareto_nbd,
    simulate_shop,
    simulate_spend,
)

BG = BgNbd(0.243, 4.414, 0.793, 2.426)
PARETO = ParetoNbd(0.553, 10.578, 0.606, 11.669)
GG = GammaGamma(6.25, 3.74, 15.44)
CUSTOMERS = [  # (x, t_x, T, horizon t)
    (2, 30.43, 38.86, 39.0), (0, 0.0, 38.86, 39.0), (7, 35.0, 38.86, 20.0),
    (1, 2.0, 10.0, 52.0), (3, 38.86, 38.86, 10.0), (25, 30.0, 38.86, 52.0),
]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(1500)
"""Many nodes: a customer with 25 purchases puts the mass far in the tail of λ."""


def _quantile_grid(first: stats.rv_continuous, second: stats.rv_continuous
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = (_NODES + 1) / 2
    w = _WEIGHTS / 2
    return first.ppf(u)[:, None], second.ppf(u)[None, :], w[:, None] * w[None, :]


@pytest.mark.parametrize(("x", "t_x", "T", "t"), CUSTOMERS)
def test_bgnbd_closed_forms_equal_brute_force_integration(
    x: float, t_x: float, T: float, t: float
) -> None:
    lam, p, w = _quantile_grid(stats.gamma(BG.r, scale=1 / BG.alpha), stats.beta(BG.a, BG.b))
    alive = (1 - p) ** x * lam ** x * np.exp(-lam * T)
    likelihood = alive + (x > 0) * p * (1 - p) ** max(x - 1, 0) * lam ** x * np.exp(-lam * t_x)
    marginal = (w * likelihood).sum()
    params = [BG.r, BG.alpha, BG.a, BG.b]
    assert BG.individual_log_likelihood(params, x, t_x, T)[()] == pytest.approx(
        np.log(marginal), abs=1e-5)
    assert BG.p_alive(x, t_x, T)[()] == pytest.approx((w * alive).sum() / marginal, rel=1e-5)
    # alive with (λ, p): expected purchases in t are (1 − e^(−λpt)) / p
    future = (w * alive * (1 - np.exp(-lam * p * t)) / p).sum() / marginal
    assert BG.expected_purchases(t, x, t_x, T)[()] == pytest.approx(future, rel=1e-5)


@pytest.mark.parametrize(("x", "t_x", "T", "t"), CUSTOMERS)
def test_pareto_nbd_closed_forms_equal_brute_force_integration(
    x: float, t_x: float, T: float, t: float
) -> None:
    lam, mu, w = _quantile_grid(stats.gamma(PARETO.r, scale=1 / PARETO.alpha),
                                stats.gamma(PARETO.s, scale=1 / PARETO.beta))
    alive = lam ** x * np.exp(-(lam + mu) * T)
    likelihood = alive + lam ** x * mu / (lam + mu) * (
        np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * T))
    marginal = (w * likelihood).sum()
    params = [PARETO.r, PARETO.alpha, PARETO.s, PARETO.beta]
    assert PARETO.individual_log_likelihood(params, x, t_x, T)[()] == pytest.approx(
        np.log(marginal), abs=1e-5)
    assert PARETO.p_alive(x, t_x, T)[()] == pytest.approx((w * alive).sum() / marginal,
                                                         rel=1e-5)
    future = (w * alive * lam / mu * (1 - np.exp(-mu * t))).sum() / marginal
    assert PARETO.expected_purchases(t, x, t_x, T)[()] == pytest.approx(future, rel=1e-5)


def test_pareto_nbd_likelihood_with_beta_above_alpha() -> None:
    """The other branch of the likelihood (β > α) against integration as well."""
    model = ParetoNbd(0.8, 5.0, 0.7, 20.0)
    lam, mu, w = _quantile_grid(stats.gamma(model.r, scale=1 / model.alpha),
                                stats.gamma(model.s, scale=1 / model.beta))
    x, t_x, T = 4, 20.0, 30.0
    likelihood = lam ** x * np.exp(-(lam + mu) * T) + lam ** x * mu / (lam + mu) * (
        np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * T))
    ll = model.individual_log_likelihood([0.8, 5.0, 0.7, 20.0], x, t_x, T)[()]
    assert ll == pytest.approx(np.log((w * likelihood).sum()), abs=1e-5)


def test_expectations_for_many_purchases_stay_finite() -> None:
    """A customer with hundreds of purchases: naive 2F1 terms would overflow."""
    x = np.array([300.0, 1000.0])
    for model in (BG, PARETO):
        e = model.expected_purchases(52, x, np.array([300.0, 360.0]), np.array([365.0, 365.0]))
        assert np.all(np.isfinite(e)) and np.all(e > 0)
        assert np.all(np.isfinite(model.p_alive(x, np.array([300.0, 360.0]), 365.0)))


def test_p_alive_falls_as_the_last_purchase_recedes() -> None:
    t_x = np.linspace(1, 38, 20)
    for model in (BG, PARETO):
        alive = model.p_alive(3, t_x, 38.86)
        assert np.all(np.diff(alive) > 0)  # later last purchase → more likely alive
        assert np.all((alive > 0) & (alive <= 1))


def test_bgnbd_one_off_buyers_are_alive_and_pareto_ones_fade() -> None:
    assert BG.p_alive(0, 0, [1.0, 100.0]).tolist() == [1.0, 1.0]
    fading = PARETO.p_alive(0, 0, [1.0, 100.0])
    assert fading[0] > fading[1]


def test_gamma_gamma_expected_spend_by_hand() -> None:
    # p(γ + x·m) / (p·x + q − 1) = 6.25 (15.44 + 3·40) / (18.75 + 2.74)
    assert GG.expected_spend(3, 40.0)[()] == pytest.approx(6.25 * 135.44 / 21.49)
    # more purchases → closer to the customer's own mean
    assert abs(GG.expected_spend(30, 40.0)[()] - 40) < abs(GG.expected_spend(3, 40.0)[()] - 40)


def test_bgnbd_and_spend_fits_recover_the_parameters_of_a_simulated_shop() -> None:
    truth = BgNbd(0.5, 6.0, 1.2, 2.5)
    spend_truth = GammaGamma(4.0, 5.0, 60.0)
    shop = simulate_shop(40_000, purchases=truth, spend=spend_truth, max_T=52, seed=7,
                         whole_days=False)
    fitted = BgNbd.fit(shop.frequency, shop.recency, shop.T)
    for name, value in truth.params.items():
        assert fitted.params[name] == pytest.approx(value, rel=0.15), name
    repeat = shop.frequency > 0
    spend = GammaGamma.fit(shop.frequency[repeat], shop.monetary_value[repeat])
    assert spend.p == pytest.approx(4.0, rel=0.15)
    assert spend.p * spend.gamma / (spend.q - 1) == pytest.approx(
        spend_truth.p * spend_truth.gamma / (spend_truth.q - 1), rel=0.05)


def test_pareto_nbd_fit_recovers_simulated_parameters() -> None:
    truth = ParetoNbd(0.7, 8.0, 0.9, 12.0)
    rng = np.random.default_rng(3)
    T = rng.uniform(10, 60, 30_000)
    x, t_x = simulate_pareto_nbd(truth, T, rng)
    fitted = ParetoNbd.fit(x, t_x, T)
    for name, value in truth.params.items():
        assert fitted.params[name] == pytest.approx(value, rel=0.2), name


def _shop_summary(n: int = 3000, seed: int = 1) -> CustomerSummary:
    shop = simulate_shop(n, purchases=BgNbd(0.5, 6.0, 1.2, 2.5),
                         spend=GammaGamma(4.0, 5.0, 60.0), max_T=365, seed=seed)
    return CustomerSummary.of(customer_id=np.arange(1, n + 1), frequency=shop.frequency,
                              recency=shop.recency, T=shop.T,
                              monetary_value=shop.monetary_value)


def test_predict_returns_one_row_per_customer_in_input_order() -> None:
    summary = _shop_summary()
    result = predict(summary, settings=ClvSettings(periods=12, period_length=30))
    table = result.table
    assert table.column_names == ["customer_id", "p_alive", "expected_purchases",
                                  "expected_spend", "expected_revenue", "clv"]
    assert table["customer_id"].to_pylist() == list(range(1, 3001))
    for column in table.column_names[1:]:
        values = table[column].to_numpy()
        assert np.all(np.isfinite(values)) and np.all(values >= 0), column
    assert set(result.params) == {"purchases", "spend"}


def test_clv_without_discount_is_the_expected_revenue() -> None:
    summary = _shop_summary()
    purchase, spend, _ = fit_models(summary)
    plain = predict(summary, settings=ClvSettings(discount_rate=0.0), purchase_model=purchase,
                    spend_model=spend).table
    assert plain["clv"].to_numpy() == pytest.approx(plain["expected_revenue"].to_numpy())
    discounted = predict(summary, settings=ClvSettings(discount_rate=0.02, margin=0.3),
                         purchase_model=purchase, spend_model=spend).table
    assert np.all(discounted["clv"].to_numpy() < 0.3 * plain["clv"].to_numpy())


def test_clv_of_one_period_by_hand() -> None:
    summary = CustomerSummary.of(customer_id=["a"], frequency=[2], recency=[30.43], T=[38.86],
                                 monetary_value=[50.0])
    settings = ClvSettings(unit="weeks", periods=1, period_length=39, discount_rate=0.1)
    table = predict(summary, settings=settings, purchase_model=BG, spend_model=GG).table
    purchases = BG.expected_purchases(39, 2, 30.43, 38.86)[()]
    spend = 6.25 * (15.44 + 2 * 50) / (6.25 * 2 + 3.74 - 1)
    assert table["expected_purchases"][0].as_py() == pytest.approx(purchases)
    assert table["expected_spend"][0].as_py() == pytest.approx(spend)
    assert table["clv"][0].as_py() == pytest.approx(purchases * spend / 1.1)


def test_predict_accepts_a_pyarrow_table_and_pareto_nbd() -> None:
    summary = _shop_summary(1500, seed=4)
    table = pa.table({"customer_id": summary.customer_id, "frequency": summary.frequency,
                      "recency": summary.recency, "T": summary.T,
                      "monetary_value": summary.monetary_value, "other": summary.T})
    result = predict(table, settings=ClvSettings(model="pareto_nbd"))
    assert isinstance(result.purchase_model, ParetoNbd)
    assert result.table.num_rows == 1500


def test_simulators_agree_with_the_models_population_expectations() -> None:
    """E[X(T)] over simulated customers matches the closed form (a check of both)."""
    rng = np.random.default_rng(11)
    T = np.full(200_000, 30.0)
    model = BgNbd(0.5, 6.0, 1.2, 2.5)
    x, _ = simulate_bgnbd(model, T, rng)
    assert x.mean() == pytest.approx(model.expected_purchases_new_customer(30.0)[()], rel=0.02)
    pareto = ParetoNbd(0.7, 8.0, 0.9, 12.0)
    x, _ = simulate_pareto_nbd(pareto, T, rng)
    assert x.mean() == pytest.approx(pareto.expected_purchases_new_customer(30.0)[()],
                                     rel=0.02)
    spend = simulate_spend(GG, np.full(100_000, 1.0), rng)
    assert spend.mean() == pytest.approx(GG.expected_spend(0, 0)[()], rel=0.02)


def test_analytic_bgnbd_gradient_equals_finite_differences() -> None:
    from scipy import optimize

    rng = np.random.default_rng(2)
    T = rng.uniform(5, 50, 500)
    x, t_x = simulate_bgnbd(BgNbd(0.5, 6.0, 1.2, 2.5), T, rng)
    weights = rng.integers(1, 4, 500).astype(float)
    params = np.array([0.4, 7.0, 0.9, 2.0])
    _, gradient = BgNbd._value_and_gradient(params, x, t_x, T, weights)

    def value(theta: np.ndarray) -> float:
        return BgNbd._value_and_gradient(np.exp(theta), x, t_x, T, weights)[0]

    numeric = optimize.approx_fprime(np.log(params), value, 1e-7)
    assert gradient == pytest.approx(numeric, rel=1e-4)
    total = (weights * BgNbd.individual_log_likelihood(params, x, t_x, T)).sum()
    assert value(np.log(params)) == pytest.approx(total)


def test_distinct_rows_counts_and_maps_back() -> None:
    from shopcrm.segments.clv_models import distinct_rows

    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    t = np.array([2.0, 0.0, 2.0, 3.0, 0.0])
    (dx, dt), counts, inverse = distinct_rows(x, t)
    assert dx.tolist() == [0.0, 1.0, 1.0] and dt.tolist() == [0.0, 2.0, 3.0]
    assert counts.tolist() == [2.0, 2.0, 1.0]
    assert dx[inverse].tolist() == x.tolist() and dt[inverse].tolist() == t.tolist()


def test_analytic_gamma_gamma_gradient_equals_finite_differences() -> None:
    from scipy import optimize

    rng = np.random.default_rng(5)
    x = rng.integers(1, 12, 400).astype(float)
    m = simulate_spend(GammaGamma(4.0, 5.0, 60.0), x, rng)
    weights = rng.integers(1, 4, 400).astype(float)
    params = np.array([3.0, 4.0, 40.0])
    _, gradient = GammaGamma._value_and_gradient(params, x, m, weights)

    def value(theta: np.ndarray) -> float:
        return GammaGamma._value_and_gradient(np.exp(theta), x, m, weights)[0]

    assert gradient == pytest.approx(optimize.approx_fprime(np.log(params), value, 1e-7),
                                     rel=1e-4)


def test_spend_that_grows_with_frequency_is_noted() -> None:
    summary = _shop_summary(2000, seed=9)
    skewed = CustomerSummary.of(
        customer_id=summary.customer_id, frequency=summary.frequency,
        recency=summary.recency, T=summary.T,
        # each customer's spend scale grows with how often they buy
        monetary_value=summary.monetary_value * (1 + summary.frequency))
    assert not any("correlate" in note for note in fit_models(summary)[2])
    assert any("correlate" in note for note in fit_models(skewed)[2])


def test_hypergeometric_guard_covers_scipy_gaps() -> None:
    """scipy gives inf for 2F1(1, 1; 101; 0.95); the guarded version sums the series."""
    from shopcrm.segments.clv_models import _hyp2f1

    value = _hyp2f1(1.0, 1.0, 101.0, np.array([0.5, 0.95]))
    # neighbours scipy does compute bracket the true value
    assert value[0] == pytest.approx(1.00499975, rel=1e-8)
    assert 1.0095861 < value[1] < 1.0095863
    model = BgNbd(1.0, 1.0, 2.0, 1.0)
    near, far = model.expected_purchases([10.0, 20.0], 99.0, 1.0, 1.0)
    assert 0 < near < far < np.inf
