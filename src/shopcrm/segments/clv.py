"""Customer lifetime value: per-customer summaries in, per-customer predictions out.

The features job calls :func:`summarise_orders` (an Ibis expression, so it runs on DuckDB
or Spark) to turn orders into one row per customer, then :func:`predict` to fit the
models (:mod:`shopcrm.segments.clv_models`) and predict, per customer, the probability of
still being a customer, the expected number of purchases and the expected spend over a
horizon, and the discounted CLV. Everything here is a pure function of its inputs (the
end of the observation period is given, never read from a clock).

Input columns (:data:`SUMMARY_COLUMNS`), one row per customer, in one time unit (days
or weeks — say which in :class:`ClvSettings`; the horizon and period use the same unit):

``customer_id``
    any hashable ID (kept as given in the output).
``frequency``
    number of *repeat* purchase occasions: distinct purchase days after the first one
    (several orders on one day are one occasion). A one-off buyer has 0.
``recency``
    time from the customer's *first* purchase to their *last* purchase (0 for one-off
    buyers). Not "time since last purchase" — that is RFM's recency, the other way round.
``T``
    time from the first purchase to the end of the observation period (≥ recency).
``monetary_value``
    mean value of the *repeat* purchase occasions (the first purchase excluded, as the
    Gamma-Gamma model assumes); 0 for one-off buyers. Net of refunds if the caller wants
    net CLV. Repeat buyers with 0 are left out of the spend fit (the model needs a
    positive mean) but still get a prediction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopcrm.segments.clv_models import (
    BgNbd,
    FloatArray,
    GammaGamma,
    ParetoNbd,
    distinct_rows,
)

SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")

MIN_CUSTOMERS = 20
"""Fewer customers than this cannot identify four parameters (and a shop this small does
not need a model to know its customers)."""
MIN_REPEAT_BUYERS = 10
"""The dropout and spend parts are learned from repeat buyers only."""

SPEND_CORRELATION_WARNING = 0.3
"""Gamma-Gamma assumes spend per purchase is independent of how often one buys (Fader,
Hardie & Lee 2005 check this on CDNOW: 0.11). Above this |correlation| a note says so."""

Model = Literal["bgnbd", "pareto_nbd"]


class ClvInputError(ValueError):
    """A summary value is impossible; the message names the field and the customer."""


class NotEnoughCustomers(ValueError):
    """Too few customers (or repeat buyers) to fit the models."""


@dataclass(frozen=True)
class CustomerSummary:
    """Validated per-customer summaries as NumPy arrays (see the module docstring)."""

    customer_id: npt.NDArray[Any]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray

    def __len__(self) -> int:
        return int(self.frequency.shape[0])

    @classmethod
    def from_table(cls, table: Any) -> CustomerSummary:
        """Read the five columns from a pyarrow Table, a pandas DataFrame or a mapping of
        column name → array, and validate them (:func:`validate`)."""
        columns: dict[str, npt.NDArray[Any]] = {}
        for name in SUMMARY_COLUMNS:
            try:
                column = table[name]
            except (KeyError, IndexError) as exc:
                raise ClvInputError(f"the summary has no column {name!r}") from exc
            except TypeError as exc:
                raise ClvInputError(
                    "the summary must be a table or a mapping of column name to values") from exc
            if isinstance(column, pa.ChunkedArray | pa.Array):
                columns[name] = np.asarray(column.to_numpy(zero_copy_only=False))
            else:
                columns[name] = np.asarray(column)
        return cls.of(**columns)

    @classmethod
    def of(
        cls, *, customer_id: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike,
        T: npt.ArrayLike, monetary_value: npt.ArrayLike,
    ) -> CustomerSummary:
        ids = np.asarray(customer_id)
        numbers = {}
        for name, values in (("frequency", frequency), ("recency", recency), ("T", T),
                             ("monetary_value", monetary_value)):
            try:
                numbers[name] = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ClvInputError(f"{name}: values must be numbers ({exc})") from exc
        summary = cls(customer_id=ids, **numbers)
        validate(summary)
        return summary


def _first_bad(summary: CustomerSummary, mask: npt.NDArray[np.bool_]) -> str:
    index = int(np.flatnonzero(mask)[0])
    count = int(mask.sum())
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"customer {_plain(summary.customer_id[index])!r}{more}"


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for messages: 'c1', not np.str_('c1'))."""
    return value.item() if isinstance(value, np.generic) else value


def validate(summary: CustomerSummary) -> None:
    """Reject impossible summaries with a message naming the field and the customer.

    The checks are vectorised; the message names the first offending customer and how
    many more there are, so a bad features run is fixed at the source in one go.
    """
    n = len(summary)
    for name in ("customer_id", "recency", "T", "monetary_value"):
        if getattr(summary, name).shape != (n,):
            raise ClvInputError(
                f"{name}: expected {n} values (one per customer), got shape "
                f"{getattr(summary, name).shape}")
    checks: list[tuple[str, npt.NDArray[np.bool_], str]] = []
    for name in ("frequency", "recency", "T", "monetary_value"):
        values = getattr(summary, name)
        checks.append((name, ~np.isfinite(values), "is missing or not finite"))
        checks.append((name, values < 0, "is negative"))
    f, r, t = summary.frequency, summary.recency, summary.T
    checks += [
        ("frequency", np.isfinite(f) & (f != np.floor(f)), "is not a whole number"),
        ("recency", r > t * (1 + 1e-9) + 1e-12, "is greater than T (the customer's last "
         "purchase would be after the end of the observation period)"),
        ("recency", (f == 0) & (r > 0), "is > 0 while frequency is 0 (recency is measured "
         "from the first purchase, so a one-off buyer has recency 0)"),
        ("recency", (f > 0) & (r == 0), "is 0 while frequency > 0 (repeat purchases are on "
         "later days than the first)"),
    ]
    for name, mask, what in checks:
        if mask.any():
            raise ClvInputError(f"{name} {what}: {_first_bad(summary, mask)}")
    try:
        ordered = np.sort(summary.customer_id)  # (np.unique is several times slower here)
    except TypeError as exc:
        raise ClvInputError("customer_id: IDs must all be of one kind (all numbers or all "
                            "text, none missing)") from exc
    repeated = ordered[1:] == ordered[:-1]
    if repeated.any():
        twice = _plain(ordered[1:][repeated][0])
        raise ClvInputError(f"customer_id: customer {twice!r} appears more than once")


# ------------------------------------------------------------------ orders → summary


def summarise_orders(
    orders: ir.Table, *, end: date, unit_days: float = 1.0, customer: str = "customer_id",
    day: str = "day", amount: str = "amount",
) -> ir.Table:
    """Per-customer summary (:data:`SUMMARY_COLUMNS`) of the orders up to ``end``.

    Same-day orders are one purchase occasion (their amounts add up). Orders after
    ``end`` are ignored; customers whose first order is after ``end`` do not appear.
    ``unit_days`` = 7 gives weeks (the published CDNOW figures); 1 gives days. T is
    measured to ``end`` itself: a first purchase on ``end`` gives T = 0. An Ibis
    expression, so the features job runs it on DuckDB or Spark; the caller filters the
    orders it counts (paid, not cancelled) and chooses the amount (net of refunds or not).
    A repeat buyer whose refunds outweigh their repeat purchases gets a mean spend of 0,
    not a negative one (the spend model has no meaning for negative spend).
    """
    if unit_days <= 0:
        raise ValueError("unit_days must be positive")
    within = orders.filter(orders[day] <= ibis.literal(end), orders[customer].notnull())
    days = within.group_by([within[customer].name("customer_id"), within[day].name("day")]
                           ).aggregate(value=within[amount].sum())
    per = days.group_by("customer_id").aggregate(
        first=days.day.min(), last=days.day.max(), occasions=days.day.count(),
        total=days.value.sum(), first_value=days.value.argmin(days.day))
    end_value = ibis.literal(end)
    frequency = per.occasions - 1
    return per.select(
        "customer_id",
        frequency=frequency.cast("float64"),
        recency=per["last"].delta(per["first"], unit="day").cast("float64") / unit_days,
        T=end_value.delta(per["first"], unit="day").cast("float64") / unit_days,
        monetary_value=ibis.ifelse(
            frequency > 0,
            ibis.greatest(
                (per.total - per.first_value).cast("float64") / frequency.cast("float64"), 0.0),
            0.0),
    ).order_by("customer_id")


# ----------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class ClvSettings:
    """How far ahead to look and how to discount.

    The horizon is ``periods`` periods of ``period_length`` time units each (the unit of
    the summary). ``discount_rate`` is per period: 12 periods of 30 days with 0.01 is a
    year discounted at 1 % a month. ``margin`` turns revenue into profit (1 = revenue).
    """

    model: Model = "bgnbd"
    unit: Literal["days", "weeks"] = "days"
    periods: int = 12
    period_length: float = 30.0
    discount_rate: float = 0.01
    margin: float = 1.0

    def __post_init__(self) -> None:
        if self.model not in ("bgnbd", "pareto_nbd"):
            raise ValueError(f"model must be 'bgnbd' or 'pareto_nbd', not {self.model!r}")
        if self.unit not in ("days", "weeks"):
            raise ValueError(f"unit must be 'days' or 'weeks', not {self.unit!r}")
        if not 1 <= self.periods <= 1200:
            raise ValueError("periods must be between 1 and 1200")
        if not (np.isfinite(self.period_length) and self.period_length > 0):
            raise ValueError("period_length must be a positive number of time units")
        if not (np.isfinite(self.discount_rate) and 0 <= self.discount_rate < 1):
            raise ValueError("discount_rate must be in [0, 1) per period")
        if not (np.isfinite(self.margin) and 0 < self.margin <= 1):
            raise ValueError("margin must be in (0, 1]")

    @property
    def horizon(self) -> float:
        return self.periods * self.period_length


@dataclass(frozen=True)
class ClvPrediction:
    """Fitted models and one row per customer (columns: :data:`PREDICTION_COLUMNS`)."""

    settings: ClvSettings
    purchase_model: BgNbd | ParetoNbd
    spend_model: GammaGamma
    table: pa.Table
    notes: tuple[str, ...] = field(default=())

    @property
    def params(self) -> dict[str, dict[str, float]]:
        return {"purchases": self.purchase_model.params, "spend": self.spend_model.params}


PREDICTION_COLUMNS = ("customer_id", "p_alive", "expected_purchases", "expected_spend",
                      "expected_revenue", "clv")


def fit_models(
    summary: CustomerSummary, *, model: Model = "bgnbd"
) -> tuple[BgNbd | ParetoNbd, GammaGamma, tuple[str, ...]]:
    """Fit the purchase model on every customer and Gamma-Gamma on repeat buyers."""
    if len(summary) < MIN_CUSTOMERS:
        raise NotEnoughCustomers(
            f"{len(summary)} customers: at least {MIN_CUSTOMERS} are needed to fit a CLV model")
    repeat = summary.frequency > 0
    if int(repeat.sum()) < MIN_REPEAT_BUYERS:
        raise NotEnoughCustomers(
            f"{int(repeat.sum())} repeat buyers: at least {MIN_REPEAT_BUYERS} are needed to "
            "learn how customers drop out and what they spend")
    purchase: BgNbd | ParetoNbd
    if model == "bgnbd":
        purchase = BgNbd.fit(summary.frequency, summary.recency, summary.T)
    else:
        purchase = ParetoNbd.fit(summary.frequency, summary.recency, summary.T)
    spenders = repeat & (summary.monetary_value > 0)
    notes: list[str] = []
    if int((repeat & ~spenders).sum()):
        notes.append(f"{int((repeat & ~spenders).sum())} repeat buyers with a mean spend of 0 "
                     "were left out of the spend fit")
    if int(spenders.sum()) < MIN_REPEAT_BUYERS:
        raise NotEnoughCustomers(
            f"{int(spenders.sum())} repeat buyers with a positive spend: at least "
            f"{MIN_REPEAT_BUYERS} are needed to fit the spend model")
    spend = GammaGamma.fit(summary.frequency[spenders], summary.monetary_value[spenders])
    correlation = float(np.corrcoef(summary.frequency[spenders],
                                    summary.monetary_value[spenders])[0, 1])
    if abs(correlation) > SPEND_CORRELATION_WARNING:
        notes.append(
            f"frequency and mean spend of repeat buyers correlate ({correlation:+.2f}); "
            "Gamma-Gamma assumes they are independent, so expected spend is less reliable")
    return purchase, spend, tuple(notes)


def forecast_purchases(
    purchase_model: BgNbd | ParetoNbd, x: FloatArray, t_x: FloatArray, T: FloatArray,
    settings: ClvSettings,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """P(alive), expected purchases over the horizon, and discounted expected purchases.

    Discounted purchases are Σ over periods i of (E[Y(i·L)] − E[Y((i−1)·L)]) / (1 + d)^i
    — discounting at the end of each period, the usual discrete approximation. Computed
    once per distinct (x, t_x, T): in a shop summarised in days many customers share one.
    """
    (ux, ut, uT), _, inverse = distinct_rows(x, t_x, T)
    alive = purchase_model.p_alive(ux, ut, uT)
    discounted = np.zeros(ux.shape[0])
    previous = np.zeros(ux.shape[0])
    for i in range(1, settings.periods + 1):
        cumulative = purchase_model.expected_purchases(i * settings.period_length, ux, ut, uT)
        discounted += (cumulative - previous) / (1 + settings.discount_rate) ** i
        previous = cumulative
    return alive[inverse], previous[inverse], discounted[inverse]


def predict(
    summary: CustomerSummary | Mapping[str, Any] | Any, *, settings: ClvSettings | None = None,
    purchase_model: BgNbd | ParetoNbd | None = None, spend_model: GammaGamma | None = None,
) -> ClvPrediction:
    """Fit (unless models are given) and predict per customer.

    Output columns: ``p_alive``; ``expected_purchases`` over the whole horizon;
    ``expected_spend`` per purchase (Gamma-Gamma, shrunk towards the shop's mean for
    customers with few purchases); ``expected_revenue`` = purchases × spend, undiscounted;
    ``clv`` = discounted, times the margin.
    """
    settings = settings or ClvSettings()
    if not isinstance(summary, CustomerSummary):
        summary = CustomerSummary.from_table(summary)
    notes: tuple[str, ...] = ()
    if purchase_model is None or spend_model is None:
        fitted_purchase, fitted_spend, notes = fit_models(summary, model=settings.model)
        purchase_model = purchase_model or fitted_purchase
        spend_model = spend_model or fitted_spend
    p_alive, purchases, discounted = forecast_purchases(
        purchase_model, summary.frequency, summary.recency, summary.T, settings)
    spend = spend_model.expected_spend(summary.frequency, summary.monetary_value)
    clv = discounted * spend * settings.margin
    table = pa.table({
        "customer_id": summary.customer_id,
        "p_alive": p_alive,
        "expected_purchases": purchases,
        "expected_spend": spend,
        "expected_revenue": purchases * spend,
        "clv": clv,
    })
    return ClvPrediction(settings, purchase_model, spend_model, table, notes)


def predict_from_orders(
    orders: ir.Table, *, end: date, settings: ClvSettings | None = None,
    customer: str = "customer_id", day: str = "day", amount: str = "amount",
) -> ClvPrediction:
    """Summarise ``orders`` on their own engine, then fit and predict in NumPy.

    The summary's time unit follows ``settings.unit``, so the two can never disagree.
    """
    settings = settings or ClvSettings()
    unit_days = 7.0 if settings.unit == "weeks" else 1.0
    summary = summarise_orders(orders, end=end, unit_days=unit_days, customer=customer,
                               day=day, amount=amount).to_pyarrow()
    return predict(summary, settings=settings)
