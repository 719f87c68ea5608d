"""Buy-till-you-die models by maximum likelihood: BG/NBD, Pareto/NBD and Gamma-Gamma.

Our own vectorised NumPy/SciPy implementation (docs/clv.md says why we did not take
``lifetimes`` or ``pymc-marketing``). Every function works on whole arrays of customers
at once; nothing loops over customers in Python.

Notation (Fader, Hardie & Lee 2005), per customer, in one time unit of the caller's
choice (days or weeks — predictions come back in the same unit):

* ``x`` — number of *repeat* purchases (purchase occasions after the first),
* ``t_x`` — time of the last purchase, measured from the first purchase (0 if ``x`` = 0),
* ``T`` — time from the first purchase to the end of the observation period,
* ``m`` — mean value of the repeat purchases (Gamma-Gamma only).

Fits maximise the log-likelihood in log-parameter space (all parameters are positive),
with identical customer rows collapsed into weights first: real shops summarised in
days have many identical rows (all one-off buyers of the same day, for a start), so a
million customers often become a few hundred thousand distinct rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


class FitError(ValueError):
    """The optimiser did not find a usable maximum (too little or degenerate data)."""


def _f(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def distinct_rows(
    *columns: FloatArray,
) -> tuple[list[FloatArray], FloatArray, npt.NDArray[np.intp]]:
    """Distinct rows of the given columns, how often each occurs, and for each input row
    the index of its distinct row. A lexicographic sort and one pass — several times
    faster than ``np.unique(axis=0)`` on a million rows."""
    n = columns[0].shape[0]
    if n == 0:
        return list(columns), np.zeros(0), np.zeros(0, dtype=np.intp)
    order = np.lexsort(columns[::-1])
    ordered = [column[order] for column in columns]
    changed = np.zeros(n, dtype=bool)
    changed[0] = True
    for column in ordered:
        changed[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(changed)
    counts = np.diff(np.append(starts, n)).astype(np.float64)
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(changed) - 1
    return [column[starts] for column in ordered], counts, inverse


def _collapse(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Distinct rows of the given columns and how often each occurs."""
    distinct, counts, _ = distinct_rows(*columns)
    return distinct, counts


Objective = Callable[[FloatArray], float]
ObjectiveWithGradient = Callable[[FloatArray], tuple[float, FloatArray]]


SHAPE_LIMITS = (1e-4, 1e4)
"""Plausible range of a fitted shape parameter (r, a, b, s, p, q); outside it the optimiser
has wandered along a ridge of an unidentified model rather than found a maximum."""
SCALE_LIMITS = (1e-6, 1e9)
"""Scale parameters (α, β, γ) carry the data's units (days, yuan or cents): wider."""


def _maximise(
    neg_mean_ll: Objective, start: FloatArray, what: str, names: tuple[str, ...],
    shapes: frozenset[str], with_gradient: ObjectiveWithGradient | None = None,
) -> FloatArray:
    """Minimise a negative mean log-likelihood over log-parameters; return the parameters.

    With an analytic gradient (BG/NBD, Gamma-Gamma) L-BFGS-B alone converges tightly and
    fast — what makes a million customers affordable. Without one (Pareto/NBD) a
    Nelder-Mead polish from L-BFGS-B's answer makes the result insensitive to the
    finite-difference gradient near flat optima.
    """

    def safe(theta: FloatArray) -> float:
        if np.any(np.abs(theta) > 30):
            return 1e10
        with np.errstate(all="ignore"):
            value = neg_mean_ll(theta)
        return value if np.isfinite(value) else 1e10

    best: optimize.OptimizeResult
    if with_gradient is not None:
        gradient = with_gradient

        def safe_with_gradient(theta: FloatArray) -> tuple[float, FloatArray]:
            if np.any(np.abs(theta) > 30):
                return 1e10, -np.sign(theta)
            with np.errstate(all="ignore"):
                value, grad = gradient(theta)
            if not (np.isfinite(value) and np.all(np.isfinite(grad))):
                return 1e10, -np.sign(theta)
            return value, grad

        best = optimize.minimize(
            safe_with_gradient, start, jac=True, method="L-BFGS-B",
            options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 2000})
        if not best.success:
            polished = optimize.minimize(safe, best.x, method="Nelder-Mead",
                                         options={"xatol": 1e-8, "fatol": 1e-12})
            best = polished if polished.fun <= best.fun else best
    else:
        first = optimize.minimize(safe, start, method="L-BFGS-B")
        polished = optimize.minimize(
            safe, first.x, method="Nelder-Mead",
            options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000, "maxfev": 8000})
        best = polished if polished.fun <= first.fun else first
    if not np.isfinite(best.fun) or best.fun >= 1e10:
        raise FitError(f"{what}: the likelihood could not be evaluated at any parameter value")
    fitted: FloatArray = np.exp(best.x)
    limits = [SHAPE_LIMITS if name in shapes else SCALE_LIMITS for name in names]
    for name, value, (low, high) in zip(names, fitted, limits, strict=True):
        if not low <= value <= high:
            raise FitError(
                f"{what}: {name} ran off to {value:.4g} — the data do not identify the model "
                "(too few customers, almost no repeat purchases, or nobody ever lapses)")
    return fitted


def _hyp2f1(a: ArrayLike, b: ArrayLike, c: ArrayLike, z: ArrayLike) -> FloatArray:
    """Gauss's 2F1 for 0 ≤ z < 1, guarded.

    SciPy's ``hyp2f1`` returns inf for some exactly-integer parameter sets near z = 1
    (e.g. 2F1(1, 1; 101; 0.95), whose true value is ≈ 1.0096). Such entries are
    recomputed by summing the series directly, which converges for |z| < 1.
    """
    a, b, c, z = np.broadcast_arrays(_f(a), _f(b), _f(c), _f(z))
    value: FloatArray = np.asarray(special.hyp2f1(a, b, c, z), dtype=np.float64)
    bad = ~np.isfinite(value) & (z < 1)
    if bad.any():
        value = value.copy()
        value[bad] = _hyp2f1_series(a[bad], b[bad], c[bad], z[bad])
    return value


def _hyp2f1_series(a: FloatArray, b: FloatArray, c: FloatArray, z: FloatArray,
                   max_terms: int = 200_000) -> FloatArray:
    total = np.ones_like(z)
    term = np.ones_like(z)
    for n in range(max_terms):
        term = term * (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total = total + term
        if n > 10 and np.all(np.abs(term) <= 1e-17 * np.abs(total)):
            break
    return total


# --------------------------------------------------------------------------- BG/NBD


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD (Fader, Hardie & Lee 2005): purchases at rate λ ~ Gamma(r, α) while alive;
    after each purchase the customer drops out with probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    """Total log-likelihood at the fitted values (NaN when the parameters were given)."""

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    @staticmethod
    def individual_log_likelihood(
        params: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Log-likelihood of each customer's (x, t_x, T) under parameters (r, α, a, b)."""
        r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=np.float64))
        x, t_x, T = _f(x), _f(t_x), _f(T)
        a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        a2 = special.betaln(a, b + x) - special.betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        safe_x = np.where(repeat, x, 1.0)
        a4 = np.where(
            repeat,
            np.log(a) - np.log(b + safe_x - 1) - (r + x) * np.log(alpha + t_x),
            -np.inf)
        result: FloatArray = a1 + a2 + np.logaddexp(a3, a4)
        return result

    @staticmethod
    def _value_and_gradient(
        params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray
    ) -> tuple[float, FloatArray]:
        """Weighted total log-likelihood and its gradient in (log r, log α, log a, log b)."""
        r, alpha, a, b = (float(v) for v in params)
        repeat = x > 0
        safe_x = np.where(repeat, x, 1.0)
        a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        a2 = special.betaln(a, b + x) - special.betaln(a, b)
        log_alive_t = np.log(alpha + T)
        log_alive_tx = np.log(alpha + t_x)
        a3 = -(r + x) * log_alive_t
        a4 = np.where(repeat, np.log(a) - np.log(b + safe_x - 1) - (r + x) * log_alive_tx,
                      -np.inf)
        mix = np.logaddexp(a3, a4)
        ll = a1 + a2 + mix
        w4 = np.exp(a4 - mix)  # share of the "dropped out after the last purchase" branch
        w3 = 1.0 - w4
        psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + x)
        d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - (
            w3 * log_alive_t + w4 * log_alive_tx)
        d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
        d_a = psi_ab - psi_abx + w4 / a
        d_b = (special.digamma(b + x) - special.digamma(b) + psi_ab - psi_abx
               - w4 / (b + safe_x - 1))
        grad = np.array([r * (weights * d_r).sum(), alpha * (weights * d_alpha).sum(),
                         a * (weights * d_a).sum(), b * (weights * d_b).sum()])
        return float((weights * ll).sum()), grad

    @classmethod
    def fit(cls, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BgNbd:
        """Maximum-likelihood fit on arrays of (x, t_x, T)."""
        (ux, ut, uT), weights = _collapse(_f(x), _f(t_x), _f(T))
        total = float(weights.sum())

        def neg(theta: FloatArray) -> float:
            ll = cls.individual_log_likelihood(np.exp(theta), ux, ut, uT)
            return float(-(weights * ll).sum() / total)

        def neg_with_gradient(theta: FloatArray) -> tuple[float, FloatArray]:
            value, grad = cls._value_and_gradient(np.exp(theta), ux, ut, uT, weights)
            return -value / total, -grad / total

        start = np.log([1.0, max(float(np.mean(uT)), 1e-3), 1.0, 1.0])
        r, alpha, a, b = _maximise(neg, start, "BG/NBD", ("r", "alpha", "a", "b"),
                                  frozenset({"r", "a", "b"}), neg_with_gradient)
        ll = float((weights * cls.individual_log_likelihood([r, alpha, a, b], ux, ut, uT)).sum())
        return cls(float(r), float(alpha), float(a), float(b), ll)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(still a customer at T | x, t_x, T). One-off buyers are alive by assumption
        (BG/NBD lets customers drop out only right after a repeat purchase)."""
        x, t_x, T = _f(x), _f(t_x), _f(T)
        result: FloatArray = special.expit(-self._log_odds_dead(x, t_x, T))
        return result

    def _log_odds_dead(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """log P(dropped out after the last purchase) / P(alive); −∞ for one-off buyers."""
        repeat = x > 0
        safe_x = np.where(repeat, x, 1.0)
        log_odds = (np.log(self.a) - np.log(self.b + safe_x - 1)
                    + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x)))
        result: FloatArray = np.where(repeat, log_odds, -np.inf)
        return result

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T] — the conditional expectation.

        Written with Euler's transformation of the hypergeometric function,
        2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; a+b+x-1; z), so
        the huge 2F1 of a customer with many purchases never appears: the remaining
        series has small parameters and converges fast.
        """
        t, x, t_x, T = _f(t), _f(x), _f(t_x), _f(T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        hyp = _hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        bracket = 1.0 - np.power((alpha + T) / (alpha + T + t), a - 1) * hyp
        result: FloatArray = (a + b + x - 1) / (a - 1) * bracket * self.p_alive(x, t_x, T)
        return result

    def expected_purchases_new_customer(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: expected purchases in (0, t] of a customer just arrived (unconditional)."""
        t = _f(t)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = _hyp2f1(r, b, a + b - 1, t / (alpha + t))
        result: FloatArray = (a + b - 1) / (a - 1) * (1 - np.power(alpha / (alpha + t), r) * hyp)
        return result

    def probability_of_purchases(self, t: float, n: int) -> float:
        """P(X(t) = n) for a customer just arrived (FHL 2005, eq. 8)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        log_q = np.log(alpha / (alpha + t))
        log_p = np.log(t / (alpha + t)) if t > 0 else -np.inf

        def log_nb(j: int) -> float:
            return float(special.gammaln(r + j) - special.gammaln(r) - special.gammaln(j + 1)
                         + r * log_q + (j * log_p if j else 0.0))

        first = np.exp(special.betaln(a, b + n) - special.betaln(a, b) + log_nb(n))
        if n == 0:
            return float(first)
        cumulative = sum(np.exp(log_nb(j)) for j in range(n))
        second = np.exp(special.betaln(a + 1, b + n - 1) - special.betaln(a, b)) * (
            1 - cumulative)
        return float(first + second)


# ----------------------------------------------------------------------- Pareto/NBD


@dataclass(frozen=True)
class ParetoNbd:
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases at rate λ ~ Gamma(r, α)
    while alive; lifetime exponential with rate μ ~ Gamma(s, β), so a customer can drop
    out at any moment, not only after a purchase."""

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    @staticmethod
    def _log_a0(
        r: float, alpha: float, s: float, beta: float,
        x: FloatArray, t_x: FloatArray, T: FloatArray,
    ) -> FloatArray:
        """log A0 of Fader & Hardie's note on implementing the Pareto/NBD likelihood.

        A0 is a difference of two 2F1 terms (at t_x and at T); it is computed as a
        log-difference so customers with many purchases do not overflow. A0 = 0 (log
        −∞) when t_x = T.
        """
        big: FloatArray = r + s + x
        shape: float | FloatArray
        if alpha >= beta:
            high, low, shape = alpha, beta, s + 1
        else:
            high, low, shape = beta, alpha, r + x

        def term(t: FloatArray) -> FloatArray:
            # log[2F1(A, B; A+1; z) / (high + t)^A] with A = r+s+x, B = shape,
            # z = (high − low)/(high + t). Euler's transformation
            # 2F1(A, B; A+1; z) = (1−z)^(1−B) 2F1(1, A+1−B; A+1; z) leaves a series bounded
            # by 1/(1−z), where the raw 2F1 overflows for customers with many purchases.
            log_1mz = np.log(low + t) - np.log(high + t)
            z = (high - low) / (high + t)
            result: FloatArray = ((1 - shape) * log_1mz
                                  + np.log(_hyp2f1(1.0, big + 1 - shape, big + 1, z))
                                  - big * np.log(high + t))
            return result

        term1, term2 = term(t_x), term(T)
        with np.errstate(divide="ignore"):
            result: FloatArray = term1 + np.log1p(-np.exp(np.minimum(term2 - term1, 0.0)))
        return result

    @classmethod
    def individual_log_likelihood(
        cls, params: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r, alpha, s, beta = (float(v) for v in np.asarray(params, dtype=np.float64))
        x, t_x, T = _f(x), _f(t_x), _f(T)
        common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(
            beta)
        alive_term = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        dead_term = np.log(s / (r + s + x)) + cls._log_a0(r, alpha, s, beta, x, t_x, T)
        result: FloatArray = common + np.logaddexp(alive_term, dead_term)
        return result

    @classmethod
    def fit(cls, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> ParetoNbd:
        (ux, ut, uT), weights = _collapse(_f(x), _f(t_x), _f(T))
        total = float(weights.sum())

        def neg(theta: FloatArray) -> float:
            ll = cls.individual_log_likelihood(np.exp(theta), ux, ut, uT)
            return float(-(weights * ll).sum() / total)

        mean_T = max(float(np.mean(uT)), 1e-3)
        start = np.log([1.0, mean_T, 1.0, mean_T])
        r, alpha, s, beta = _maximise(neg, start, "Pareto/NBD", ("r", "alpha", "s", "beta"),
                                     frozenset({"r", "s"}))
        ll = float((weights * cls.individual_log_likelihood(
            [r, alpha, s, beta], ux, ut, uT)).sum())
        return cls(float(r), float(alpha), float(s), float(beta), ll)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        x, t_x, T = _f(x), _f(t_x), _f(T)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        log_odds = (np.log(s / (r + s + x)) + (r + x) * np.log(alpha + T)
                    + s * np.log(beta + T) + self._log_a0(r, alpha, s, beta, x, t_x, T))
        result: FloatArray = special.expit(-log_odds)
        return result

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T]."""
        t, x, t_x, T = _f(t), _f(x), _f(t_x), _f(T)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        if abs(s - 1) < 1e-9:
            horizon = np.log((beta + T + t) / (beta + T))
        else:
            horizon = (1 - np.power((beta + T) / (beta + T + t), s - 1)) / (s - 1)
        result: FloatArray = (r + x) * (beta + T) / (alpha + T) * horizon * self.p_alive(
            x, t_x, T)
        return result

    def expected_purchases_new_customer(self, t: ArrayLike) -> FloatArray:
        t = _f(t)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        if abs(s - 1) < 1e-9:
            horizon = np.log((beta + t) / beta)
        else:
            horizon = (1 - np.power(beta / (beta + t), s - 1)) / (s - 1)
        result: FloatArray = r * beta / alpha * horizon
        return result


# ---------------------------------------------------------------------- Gamma-Gamma


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Colombo & Jiang 1999): each
    transaction's value ~ Gamma(p, ν), with ν ~ Gamma(q, γ) across customers; spend is
    assumed independent of the purchase process. Fitted on repeat buyers only."""

    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @staticmethod
    def individual_log_likelihood(
        params: ArrayLike, x: ArrayLike, m: ArrayLike
    ) -> FloatArray:
        """Log density of each repeat buyer's mean spend ``m`` over ``x`` (> 0) purchases."""
        p, q, gamma = (float(v) for v in np.asarray(params, dtype=np.float64))
        x, m = _f(x), _f(m)
        px = p * x
        result: FloatArray = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
                              + q * np.log(gamma) + (px - 1) * np.log(m) + px * np.log(x)
                              - (px + q) * np.log(gamma + x * m))
        return result

    @classmethod
    def _value_and_gradient(
        cls, params: FloatArray, x: FloatArray, m: FloatArray, weights: FloatArray
    ) -> tuple[float, FloatArray]:
        """Weighted total log-likelihood and its gradient in (log p, log q, log γ)."""
        p, q, gamma = (float(v) for v in params)
        px = p * x
        log_total = np.log(gamma + x * m)
        psi_sum = special.digamma(px + q)
        ll = cls.individual_log_likelihood([p, q, gamma], x, m)
        d_p = x * (psi_sum - special.digamma(px) + np.log(m) + np.log(x) - log_total)
        d_q = psi_sum - special.digamma(q) + np.log(gamma) - log_total
        d_gamma = q / gamma - (px + q) / (gamma + x * m)
        grad = np.array([p * (weights * d_p).sum(), q * (weights * d_q).sum(),
                         gamma * (weights * d_gamma).sum()])
        return float((weights * ll).sum()), grad

    @classmethod
    def fit(cls, x: ArrayLike, m: ArrayLike) -> GammaGamma:
        """Fit on repeat buyers: ``x`` > 0 repeat purchases with mean value ``m`` > 0."""
        x, m = _f(x), _f(m)
        if np.any(x <= 0) or np.any(m <= 0):
            raise ValueError("Gamma-Gamma is fitted on repeat buyers with a positive mean spend")
        (ux, um), weights = _collapse(x, m)
        total = float(weights.sum())

        def neg(theta: FloatArray) -> float:
            ll = cls.individual_log_likelihood(np.exp(theta), ux, um)
            return float(-(weights * ll).sum() / total)

        def neg_with_gradient(theta: FloatArray) -> tuple[float, FloatArray]:
            value, grad = cls._value_and_gradient(np.exp(theta), ux, um, weights)
            return -value / total, -grad / total

        start = np.log([1.0, 1.0, max(float(np.mean(um)), 1e-3)])
        p, q, gamma = _maximise(neg, start, "Gamma-Gamma", ("p", "q", "gamma"),
                                  frozenset({"p", "q"}), neg_with_gradient)
        ll = float((weights * cls.individual_log_likelihood([p, q, gamma], ux, um)).sum())
        return cls(float(p), float(q), float(gamma), ll)

    def expected_spend(self, x: ArrayLike, m: ArrayLike) -> FloatArray:
        """E[value of a future transaction | x, m]: a weighted average of the population
        mean pγ/(q−1) and the customer's own mean ``m``; with ``x`` = 0 it is the
        population mean. Needs q > 1 (otherwise the population mean is infinite)."""
        if self.q <= 1:
            raise FitError(
                f"Gamma-Gamma q = {self.q:.4g} ≤ 1: the mean spend is unbounded; "
                "expected spend is undefined")
        x, m = _f(x), _f(m)
        result: FloatArray = self.p * (self.gamma + x * m) / (self.p * x + self.q - 1)
        return result
