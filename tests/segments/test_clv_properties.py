"""Properties that must hold for any valid customer and any sensible parameters."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopcrm.segments.clv_models import BgNbd, ParetoNbd

positive = st.floats(min_value=0.05, max_value=50.0)


@st.composite
def customers(draw: st.DrawFn) -> tuple[float, float, float]:
    T = draw(st.floats(min_value=0.5, max_value=400.0))
    x = draw(st.integers(min_value=0, max_value=200))
    t_x = 0.0 if x == 0 else draw(st.floats(min_value=0.01, max_value=1.0)) * T
    return float(x), t_x, T


@settings(max_examples=150, deadline=None)
@given(r=positive, alpha=positive, a=st.floats(0.05, 20.0).filter(lambda v: abs(v - 1) > 1e-3),
       b=positive, customer=customers(), horizon=st.floats(0.1, 400.0))
def test_bgnbd_predictions_are_probabilities_and_grow_with_the_horizon(
    r: float, alpha: float, a: float, b: float, customer: tuple[float, float, float],
    horizon: float,
) -> None:
    model = BgNbd(r, alpha, a, b)
    x, t_x, T = customer
    alive = model.p_alive(x, t_x, T)[()]
    assert 0 <= alive <= 1
    near, far = model.expected_purchases([horizon, 2 * horizon], x, t_x, T)
    assert np.isfinite(near) and np.isfinite(far)
    assert -1e-9 <= near <= far * (1 + 1e-9) + 1e-12
    assert np.isfinite(model.individual_log_likelihood([r, alpha, a, b], x, t_x, T)[()])


@settings(max_examples=150, deadline=None)
@given(r=positive, alpha=positive, s=st.floats(0.05, 20.0), beta=positive,
       customer=customers(), horizon=st.floats(0.1, 400.0))
def test_pareto_nbd_predictions_are_probabilities_and_grow_with_the_horizon(
    r: float, alpha: float, s: float, beta: float, customer: tuple[float, float, float],
    horizon: float,
) -> None:
    model = ParetoNbd(r, alpha, s, beta)
    x, t_x, T = customer
    alive = model.p_alive(x, t_x, T)[()]
    assert 0 <= alive <= 1
    near, far = model.expected_purchases([horizon, 2 * horizon], x, t_x, T)
    assert -1e-9 <= near <= far * (1 + 1e-9) + 1e-12
    assert np.isfinite(model.individual_log_likelihood([r, alpha, s, beta], x, t_x, T)[()])
