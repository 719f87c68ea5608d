"""Customers drawn from the models' own stories, for parameter-recovery tests and benchmarks.

If a fit cannot find the parameters that generated the data, it is wrong whatever it
does on one published data set; and a million simulated customers is the honest way to
time a fit without a million real ones. Vectorised; seeded by the caller's generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopcrm.segments.clv_models import BgNbd, FloatArray, GammaGamma, ParetoNbd


@dataclass(frozen=True)
class Simulated:
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray


def _last_purchase(rng: np.random.Generator, x: FloatArray, n: FloatArray,
                   window: FloatArray) -> FloatArray:
    """Time of the x-th of n uniform purchase times in (0, window]: Beta(x, n − x + 1)."""
    t_x = np.zeros_like(window)
    repeat = x > 0
    t_x[repeat] = window[repeat] * rng.beta(x[repeat], n[repeat] - x[repeat] + 1)
    return t_x


def simulate_bgnbd(
    model: BgNbd, T: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """(x, t_x) for customers observed for T: Poisson purchases at λ ~ Gamma(r, α); after
    each repeat purchase the customer leaves with probability p ~ Beta(a, b)."""
    n_customers = T.shape[0]
    lam = rng.gamma(model.r, 1 / model.alpha, n_customers)
    p = rng.beta(model.a, model.b, n_customers)
    purchases = rng.poisson(lam * T).astype(np.float64)
    before_dropout = rng.geometric(np.clip(p, 1e-12, 1.0)).astype(np.float64)
    x = np.minimum(purchases, before_dropout)
    return x, _last_purchase(rng, x, purchases, T)


def simulate_pareto_nbd(
    model: ParetoNbd, T: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """(x, t_x): Poisson purchases at λ ~ Gamma(r, α) during an exponential lifetime of
    rate μ ~ Gamma(s, β)."""
    n_customers = T.shape[0]
    lam = rng.gamma(model.r, 1 / model.alpha, n_customers)
    mu = rng.gamma(model.s, 1 / model.beta, n_customers)
    active = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * active).astype(np.float64)
    return x, _last_purchase(rng, x, x, active)


def simulate_spend(
    model: GammaGamma, x: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Mean of x transaction values, each ~ Gamma(p, ν), ν ~ Gamma(q, γ); 0 when x = 0."""
    nu = rng.gamma(model.q, 1 / model.gamma, x.shape[0])
    total = rng.gamma(np.maximum(model.p * x, 1e-12), 1 / nu)
    result: FloatArray = np.where(x > 0, total / np.maximum(x, 1), 0.0)
    return result


def simulate_shop(
    n: int, *, purchases: BgNbd, spend: GammaGamma, max_T: float = 365.0, seed: int = 0,
    whole_days: bool = True,
) -> Simulated:
    """A shop of ``n`` customers who arrived uniformly over the last ``max_T`` days.

    With ``whole_days`` times are rounded up to whole days, as a summary computed from
    order dates is (and a repeat purchase is at least one day after the first).
    """
    rng = np.random.default_rng(seed)
    T = rng.uniform(0, max_T, n)
    if whole_days:
        T = np.ceil(T)
    x, t_x = simulate_bgnbd(purchases, T, rng)
    if whole_days:
        t_x = np.where(x > 0, np.clip(np.ceil(t_x), 1, T), 0.0)
        x = np.where(T >= 1, x, 0.0)
        t_x = np.where(T >= 1, t_x, 0.0)
    return Simulated(x, t_x, T, simulate_spend(spend, x, rng))
