"""RFM scores and classes, value tiers, lifecycle stages and the value × activity quadrant.

Pure definitions over the features table (Ibis expressions, so DuckDB and Spark give the
same answer). Only buyers are scored; every window is partitioned by "is a buyer", so
prospects (events but no purchase) neither get a score nor shift anyone else's.

The R-direction trap: a *recent* buyer has *few* days since the last purchase and must
get R = 5. Ranking recency ascending by days, as F and M are ranked by value, flips R;
here R ranks by days *descending* (more days = worse) and the tests pin it with
hand-computed cases.
"""

from __future__ import annotations

from fractions import Fraction

import ibis
import ibis.expr.types as ir

from shopcrm.segments.settings import LifecycleSettings, RfmSettings, Thresholds, TierSettings

CN_CLASSES: dict[tuple[bool, bool, bool], str] = {
    # (R high, F high, M high) → class; R high means *recent*.
    (True, True, True): "重要价值客户",
    (True, False, True): "重要发展客户",
    (False, True, True): "重要保持客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (True, False, False): "一般发展客户",
    (False, True, False): "一般保持客户",
    (False, False, False): "一般挽留客户",
}

# The R × F segment grid (rows R 1–5, columns F 1–5), the map widely used for the English
# RFM segments; "Lost" (R 1, F 1) is split from Hibernating to give the 11-class map.
_EN = {
    1: ("Lost", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Loyal"),
    5: ("New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"),
}
EN_CLASSES: dict[tuple[int, int], str] = {
    (r, f): name for r, row in _EN.items() for f, name in enumerate(row, start=1)
}
STAGES = ("prospect", "new", "active", "sleeping", "pre_churn", "churned")
QUADRANTS = ("high_value_active", "high_value_inactive", "low_value_active",
             "low_value_inactive")


def _buyer(t: ir.Table) -> ir.BooleanValue:
    return t.frequency > 0


def _quintile(t: ir.Table, value: ir.Column, *, higher_is_better: bool,
              ties: str) -> ir.IntegerValue:
    """1 + ⌊5 × position / buyers⌋, position counting buyers with a worse value."""
    part = _buyer(t)
    order = value if higher_is_better else ibis.desc(value)
    if ties == "shared":
        position = ibis.rank().over(group_by=part, order_by=order)
    else:
        position = ibis.row_number().over(group_by=part, order_by=[order, t.customer_id])
    n = t.customer_id.count().over(group_by=part)
    return ((position * 5).cast("float64") / n).floor().cast("int32") + 1


def _by_thresholds(value: ir.NumericValue, cuts: Thresholds, *,
                   higher_is_better: bool) -> ir.IntegerValue:
    c = cuts.cuts
    if higher_is_better:
        return ibis.cases((value >= c[3], 5), (value >= c[2], 4), (value >= c[1], 3),
                          (value >= c[0], 2), else_=1).cast("int32")
    return ibis.cases((value <= c[0], 5), (value <= c[1], 4), (value <= c[2], 3),
                      (value <= c[3], 2), else_=1).cast("int32")


def rfm_scores(t: ir.Table, settings: RfmSettings) -> ir.Table:
    """Add ``r_score``, ``f_score``, ``m_score`` (1–5, null for non-buyers) and ``rfm``."""
    money = t.monetary.cast("float64")
    if settings.method == "quintile":
        r = _quintile(t, t.recency_days, higher_is_better=False, ties=settings.ties)
        f = _quintile(t, t.frequency, higher_is_better=True, ties=settings.ties)
        m = _quintile(t, money, higher_is_better=True, ties=settings.ties)
    else:
        r = _by_thresholds(t.recency_days, settings.recency, higher_is_better=False)
        f = _by_thresholds(t.frequency, settings.frequency, higher_is_better=True)
        m = _by_thresholds(money, settings.monetary, higher_is_better=True)
    buyer = _buyer(t)
    none = ibis.null("int32")
    scored = t.mutate(r_score=ibis.ifelse(buyer, r, none), f_score=ibis.ifelse(buyer, f, none),
                      m_score=ibis.ifelse(buyer, m, none))
    return scored.mutate(rfm=scored.r_score.cast("string") + scored.f_score.cast("string")
                         + scored.m_score.cast("string"))


def rfm_classes(t: ir.Table, settings: RfmSettings) -> ir.Table:
    """Add ``rfm_cn`` (Chinese 8-class map) and ``rfm_en`` (English 11-class map)."""
    buyer = _buyer(t)
    if settings.cn_basis == "mean":
        money = t.monetary.cast("float64")
        mean_r = t.recency_days.cast("float64").mean().over(group_by=buyer)
        mean_f = t.frequency.cast("float64").mean().over(group_by=buyer)
        mean_m = money.mean().over(group_by=buyer)
        r_high = t.recency_days.cast("float64") < mean_r  # fewer days than average = recent
        f_high = t.frequency.cast("float64") > mean_f
        m_high = money > mean_m
    else:
        cut = settings.cn_high_from
        r_high, f_high, m_high = t.r_score >= cut, t.f_score >= cut, t.m_score >= cut
    cn = ibis.cases(*[((r_high == rh) & (f_high == fh) & (m_high == mh), name)
                      for (rh, fh, mh), name in CN_CLASSES.items()], else_=ibis.null("string"))
    cell = t.r_score * 10 + t.f_score
    en = ibis.cases(*[(cell == r * 10 + f, name) for (r, f), name in EN_CLASSES.items()],
                    else_=ibis.null("string"))
    return t.mutate(rfm_cn=ibis.ifelse(buyer, cn, ibis.null("string")), rfm_en=en)


def value_tiers(t: ir.Table, settings: TierSettings) -> ir.Table:
    """Add ``tier`` (by rank of net spend; ties by customer ID) and ``spend_rank`` (1 = top).

    Position p (0-based) of n buyers falls in the first tier whose cumulative share c has
    p < c × n; compared as integers (p × 10⁶ < c × 10⁶ × n) so no float edge moves.
    """
    buyer = _buyer(t)
    position = ibis.row_number().over(
        group_by=buyer, order_by=[ibis.desc(t.monetary.cast("float64")), t.customer_id])
    n = t.customer_id.count().over(group_by=buyer)
    cases = []
    cumulative = Fraction(0)
    for tier in settings.tiers:
        cumulative += Fraction(tier.share).limit_denominator(1_000_000)
        ppm = min(1_000_000, round(cumulative * 1_000_000))
        cases.append((position * 1_000_000 < n * ppm, tier.name))
    tier_name = ibis.cases(*cases, else_=settings.tiers[-1].name)
    return t.mutate(tier=ibis.ifelse(buyer, tier_name, ibis.null("string")),
                    spend_rank=ibis.ifelse(buyer, position + 1, ibis.null("int64")))


def lifecycle(t: ir.Table, settings: LifecycleSettings, *, as_of_day: object) -> ir.Table:
    """Add ``stage`` and ``quadrant`` (value × activity)."""
    first_age = ibis.literal(as_of_day).delta(t.first_purchase_day, unit="day")
    stage = ibis.cases(
        (t.frequency == 0, "prospect"),
        (first_age < settings.new_days, "new"),
        (t.recency_days < settings.active_days, "active"),
        (t.recency_days < settings.sleeping_days, "sleeping"),
        (t.recency_days < settings.churn_days, "pre_churn"),
        else_="churned",
    )
    staged = t.mutate(stage=stage)
    active = staged.stage.isin(("new", "active"))
    high = staged.m_score >= settings.high_value_from
    quadrant = ibis.cases(
        (staged.frequency == 0, ibis.null("string")),
        (high & active, "high_value_active"),
        (high, "high_value_inactive"),
        (active, "low_value_active"),
        else_="low_value_inactive",
    )
    return staged.mutate(quadrant=quadrant)
