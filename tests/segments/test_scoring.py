"""RFM, tiers and lifecycle on hand-computed cases (DuckDB; Spark parity elsewhere)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from factrows import Rows, event, order
from pydantic import ValidationError

from shopcrm.segments.features import Facts
from shopcrm.segments.job import features_table
from shopcrm.segments.scoring import CN_CLASSES, EN_CLASSES
from shopcrm.segments.settings import (
    LifecycleSettings,
    RfmSettings,
    SegmentSettings,
    Thresholds,
    Tier,
    TierSettings,
)

AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 11, 20)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def buyer(cid: int, *, last_age: int, freq: int = 1, net: int = 100) -> list[dict[str, Any]]:
    """``freq`` orders, the newest ``last_age`` days ago, net spend ``net`` in total."""
    amounts = [net - (freq - 1)] + [1] * (freq - 1)
    return [order(cid, f"o{cid}-{k}", ago(last_age + k), str(a)) for k, a in enumerate(amounts)]


def scored(duck: Callable[[Rows], Facts], orders: list[dict[str, Any]],
           settings: SegmentSettings | None = None,
           events: list[dict[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    facts = duck({"orders": orders, "events": events or []})
    table = features_table(facts, settings or SegmentSettings(), as_of=AS_OF,
                           timezone="Asia/Shanghai")
    return {row["customer_id"]: row for row in table.to_pyarrow().to_pylist()}


def test_most_recent_buyer_gets_r5_not_r1(duck: Callable[[Rows], Facts]) -> None:
    # The R-direction trap: 1 day ago is the best recency, 400 days ago the worst.
    rows = [o for cid, age in ((1, 1), (2, 10), (3, 50), (4, 100), (5, 400))
            for o in buyer(cid, last_age=age)]
    got = scored(duck, rows)
    assert {cid: got[cid]["r_score"] for cid in got} == {1: 5, 2: 4, 3: 3, 4: 2, 5: 1}
    assert got[1]["recency_days"] == 1 and got[5]["recency_days"] == 400


def test_r_thresholds_recent_is_high(duck: Callable[[Rows], Facts]) -> None:
    rows = [o for cid, age in ((1, 1), (2, 30), (3, 31), (4, 100), (5, 365), (6, 366))
            for o in buyer(cid, last_age=age)]
    settings = SegmentSettings(rfm=RfmSettings(method="thresholds"))
    got = scored(duck, rows, settings)
    # cuts 30/90/180/365 days: ≤30 → 5, ≤90 → 4, ≤180 → 3, ≤365 → 2, else 1
    assert {cid: got[cid]["r_score"] for cid in got} == {1: 5, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1}


def test_f_and_m_thresholds(duck: Callable[[Rows], Facts]) -> None:
    rows = [*buyer(1, last_age=5, freq=1, net=99), *buyer(2, last_age=5, freq=2, net=100),
            *buyer(3, last_age=5, freq=10, net=3000), *buyer(4, last_age=5, freq=4, net=999)]
    got = scored(duck, rows, SegmentSettings(rfm=RfmSettings(method="thresholds")))
    # F cuts 2/3/5/10 (≥): 1 → 1, 2 → 2, 10 → 5, 4 → 3; M cuts 100/300/1000/3000
    assert [got[c]["f_score"] for c in (1, 2, 3, 4)] == [1, 2, 5, 3]
    assert [got[c]["m_score"] for c in (1, 2, 3, 4)] == [1, 2, 5, 3]


def test_quintile_ties_share_a_score(duck: Callable[[Rows], Facts]) -> None:
    freqs = {1: 1, 2: 1, 3: 2, 4: 3, 5: 5}
    rows = [o for cid, f in freqs.items() for o in buyer(cid, last_age=3, freq=f, net=10 * cid)]
    got = scored(duck, rows)
    # shared ties: score = 1 + ⌊5 × (buyers with fewer orders) / 5⌋
    assert [got[c]["f_score"] for c in freqs] == [1, 1, 3, 4, 5]
    # everyone bought 3 days ago: one tie, everyone scores the same R
    assert {got[c]["r_score"] for c in freqs} == {1}
    by_id = scored(duck, rows, SegmentSettings(rfm=RfmSettings(ties="customer_id")))
    assert [by_id[c]["f_score"] for c in freqs] == [1, 2, 3, 4, 5]
    assert [by_id[c]["r_score"] for c in freqs] == [1, 2, 3, 4, 5]


def test_monetary_is_net_of_refunds(duck: Callable[[Rows], Facts]) -> None:
    rows = [order(1, "a", ago(5), "1000", refund="900"), order(2, "b", ago(5), "200"),
            order(3, "c", ago(5), "500", status="refunded", refund="500"),
            order(3, "d", ago(6), "50")]
    got = scored(duck, rows)
    assert str(got[1]["monetary"]) == "100.00" and str(got[1]["gross"]) == "1000.00"
    assert str(got[3]["monetary"]) == "50.00" and got[3]["frequency"] == 1
    assert got[2]["m_score"] > got[1]["m_score"] > got[3]["m_score"]


EIGHT = {  # customer: (last purchase days ago, orders, net spend) — means 295.1 d, 2.5, 485.6
    1: (1, 5, 1000), 2: (10, 1, 900), 3: (50, 3, 50), 4: (100, 1, 20),
    5: (400, 2, 1200), 6: (500, 4, 700), 7: (600, 3, 10), 8: (700, 1, 5),
}


def test_chinese_eight_classes_against_the_mean(duck: Callable[[Rows], Facts]) -> None:
    rows = [o for cid, (age, f, m) in EIGHT.items()
            for o in buyer(cid, last_age=age, freq=f, net=m)]
    got = scored(duck, rows)
    assert {cid: got[cid]["rfm_cn"] for cid in EIGHT} == {
        1: "重要价值客户", 2: "重要发展客户", 3: "一般价值客户", 4: "一般发展客户",
        5: "重要挽留客户", 6: "重要保持客户", 7: "一般保持客户", 8: "一般挽留客户"}


def test_chinese_classes_by_score_cut(duck: Callable[[Rows], Facts]) -> None:
    rows = [o for cid, (age, f, m) in EIGHT.items()
            for o in buyer(cid, last_age=age, freq=f, net=m)]
    settings = SegmentSettings(rfm=RfmSettings(cn_basis="score", cn_high_from=4))
    got = scored(duck, rows, settings)
    for row in got.values():
        key = (row["r_score"] >= 4, row["f_score"] >= 4, row["m_score"] >= 4)
        assert row["rfm_cn"] == CN_CLASSES[key]
    # the most recent buyer is R-high; the oldest is R-low
    assert got[1]["rfm_cn"].startswith("重要价值") and got[8]["rfm_cn"] == "一般挽留客户"


def test_english_map_is_a_complete_grid() -> None:
    assert set(EN_CLASSES) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert len(set(EN_CLASSES.values())) == 11
    assert EN_CLASSES[(5, 5)] == "Champions" and EN_CLASSES[(5, 1)] == "New"
    assert EN_CLASSES[(1, 5)] == "Can't Lose Them" and EN_CLASSES[(1, 1)] == "Lost"
    assert EN_CLASSES[(4, 1)] == "Promising" and EN_CLASSES[(3, 3)] == "Need Attention"


def test_english_classes_from_scores(duck: Callable[[Rows], Facts]) -> None:
    rows = [o for cid, (age, f, m) in EIGHT.items()
            for o in buyer(cid, last_age=age, freq=f, net=m)]
    got = scored(duck, rows)
    for row in got.values():
        assert row["rfm_en"] == EN_CLASSES[(row["r_score"], row["f_score"])]
    assert got[1]["rfm_en"] == "Champions"  # newest and most frequent
    assert got[8]["rfm_en"] == "Lost"  # oldest, one order


def test_value_tiers_by_rank_share(duck: Callable[[Rows], Facts]) -> None:
    rows = [order(cid, f"o{cid}", ago(5), str(cid * 10)) for cid in range(1, 21)]
    got = scored(duck, rows)
    tiers = {cid: got[cid]["tier"] for cid in got}
    assert [c for c in tiers if tiers[c] == "platinum"] == [19, 20]
    assert sorted(c for c in tiers if tiers[c] == "gold") == [16, 17, 18]
    assert sorted(c for c in tiers if tiers[c] == "silver") == [11, 12, 13, 14, 15]
    assert sorted(c for c in tiers if tiers[c] == "bronze") == list(range(1, 11))
    assert got[20]["spend_rank"] == 1


def test_tier_ties_broken_by_customer_id_and_names_configurable(
        duck: Callable[[Rows], Facts]) -> None:
    rows = [order(1, "a", ago(5), "50"), order(2, "b", ago(5), "50"),
            order(3, "c", ago(5), "10"), order(4, "d", ago(5), "90")]
    settings = SegmentSettings(tiers=TierSettings(tiers=(Tier(name="金卡", share=0.5),
                                                         Tier(name="普通", share=0.5))))
    got = scored(duck, rows, settings)
    assert {c: got[c]["tier"] for c in got} == {4: "金卡", 1: "金卡", 2: "普通", 3: "普通"}


@pytest.mark.parametrize(("first_age", "last_age", "stage"), [
    (0, 0, "new"), (29, 29, "new"), (30, 30, "active"), (200, 10, "active"),
    (89, 89, "active"), (90, 90, "sleeping"), (179, 179, "sleeping"),
    (180, 180, "pre_churn"), (364, 364, "pre_churn"), (365, 365, "churned"),
    (900, 800, "churned"),
])
def test_lifecycle_stage_boundaries(duck: Callable[[Rows], Facts], first_age: int,
                                    last_age: int, stage: str) -> None:
    rows = [order(1, "last", ago(last_age), "10", hour=1)]
    if first_age != last_age:
        rows.append(order(1, "first", ago(first_age), "10"))
    assert scored(duck, rows)[1]["stage"] == stage


def test_prospects_and_custom_thresholds(duck: Callable[[Rows], Facts]) -> None:
    rows = [order(1, "a", ago(45), "10"), order(2, "b", ago(3), "10", status="pending")]
    got = scored(duck, rows, events=[event(3, "e1", "view", ago(1))])
    assert got[2]["stage"] == "prospect" and got[3]["stage"] == "prospect"
    assert got[2]["r_score"] is None and got[3]["tier"] is None
    assert got[1]["r_score"] == 1  # the only buyer: prospects do not take part in ranks
    tight = SegmentSettings(lifecycle=LifecycleSettings(new_days=7, active_days=30,
                                                        sleeping_days=40, churn_days=60))
    assert scored(duck, rows, tight)[1]["stage"] == "pre_churn"


def test_value_activity_quadrant(duck: Callable[[Rows], Facts]) -> None:
    rows = [order(1, "a", ago(5), "1000"), order(2, "b", ago(400), "900"),
            order(3, "c", ago(5), "10"), order(4, "d", ago(400), "5"),
            order(5, "e", ago(100), "300")]
    got = scored(duck, rows)
    assert got[1]["quadrant"] == "high_value_active"
    assert got[2]["quadrant"] == "high_value_inactive"
    assert got[3]["quadrant"] == "low_value_active"
    assert got[4]["quadrant"] == "low_value_inactive"


def test_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match="ascending"):
        Thresholds(cuts=(30, 20, 40, 50))
    with pytest.raises(ValidationError, match="add up to 1"):
        TierSettings(tiers=(Tier(name="a", share=0.5), Tier(name="b", share=0.4)))
    with pytest.raises(ValidationError, match="unique"):
        TierSettings(tiers=(Tier(name="a", share=0.5), Tier(name="a", share=0.5)))
    with pytest.raises(ValidationError, match="active_days"):
        LifecycleSettings(active_days=200, sleeping_days=100)
    with pytest.raises(ValidationError):
        SegmentSettings.model_validate({"rfm": {"method": "deciles"}})
    with pytest.raises(ValidationError, match="windows"):
        SegmentSettings(windows=(7, 7))
