"""Clusters on synthetic shops with planted groups: found, profiled, named, deterministic."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from shopcrm.segments.clusters import (
    FeatureDeviation,
    cluster_customers,
    suggest_name,
)

FEATURES = ("recency_days", "frequency", "monetary")


def _planted(seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    """Three planted groups: big recent frequent spenders; lapsed one-off low spenders;
    a middle group. Sizes 300 / 900 / 600."""
    rng = np.random.default_rng(seed)
    groups = [  # (size, recency days, orders, spend)
        (300, 10, 12, 3000),
        (900, 300, 1, 80),
        (600, 90, 4, 600),
    ]
    columns: dict[str, list[np.ndarray]] = {name: [] for name in FEATURES}
    truth = []
    for g, (size, recency, orders, spend) in enumerate(groups):
        columns["recency_days"].append(rng.normal(recency, recency * 0.1, size).clip(0))
        columns["frequency"].append(rng.normal(orders, orders * 0.1, size).clip(1))
        columns["monetary"].append(rng.normal(spend, spend * 0.1, size).clip(1))
        truth.append(np.full(size, g))
    order = rng.permutation(1800)
    table = pa.table({
        "customer_id": np.arange(1800) + 1000,
        **{name: np.concatenate(values)[order] for name, values in columns.items()},
        "constant": np.ones(1800),
    })
    return table, np.concatenate(truth)[order]


def _agreement(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of customers in the found cluster's majority true group."""
    hits = 0
    for label in np.unique(found):
        members = truth[found == label]
        hits += np.bincount(members).max()
    return hits / len(truth)


def test_planted_clusters_are_found_and_named() -> None:
    table, truth = _planted()
    result = cluster_customers(table, features=FEATURES, log_scale=("frequency", "monetary"))
    assert result.k == 3
    assert max(result.silhouette_by_k, key=lambda k: result.silhouette_by_k[k]) == 3
    assert _agreement(result.labels, truth) > 0.99
    sizes = [p.size for p in result.profiles]
    assert sizes == [900, 600, 300]  # labels numbered by size
    top = result.profiles[2]  # the 300 big spenders
    assert top.features[0].z != 0
    zs = {f.feature: f.z for f in top.features}
    assert zs["monetary"] > 1 and zs["frequency"] > 1 and zs["recency_days"] < -0.5
    assert "high spend" in top.name_en and "frequent" in top.name_en and "recent" in top.name_en
    assert "高消费" in top.name_zh and "高频" in top.name_zh and top.name_zh.endswith("客户")
    lapsed = result.profiles[0]
    assert "lapsed" in lapsed.name_en and "久未购买" in lapsed.name_zh
    assert lapsed.features[0].mean == pytest.approx(
        float(np.mean(table[lapsed.features[0].feature].to_numpy()[result.labels == 0])))


def test_constant_features_are_dropped_and_reported() -> None:
    table, _ = _planted()
    result = cluster_customers(table, features=(*FEATURES, "constant"), k_values=[3])
    assert result.dropped == ("constant",)
    assert "constant" not in result.features


def test_same_input_same_clusters() -> None:
    table, _ = _planted(seed=5)
    first = cluster_customers(table, features=FEATURES, seed=1)
    second = cluster_customers(table, features=FEATURES, seed=1)
    assert np.array_equal(first.labels, second.labels)
    assert [p.name_en for p in first.profiles] == [p.name_en for p in second.profiles]


def test_membership_table() -> None:
    table, _ = _planted()
    result = cluster_customers(table, features=FEATURES, k_values=[3])
    out = result.table()
    assert out.column_names == ["customer_id", "cluster", "cluster_name_en", "cluster_name_zh"]
    assert out["customer_id"].to_pylist() == table["customer_id"].to_pylist()
    names = {p.label: p.name_en for p in result.profiles}
    assert all(names[c] == n for c, n in zip(out["cluster"].to_pylist(),
                                             out["cluster_name_en"].to_pylist(), strict=True))


def test_names_from_deviations() -> None:
    en, zh = suggest_name([FeatureDeviation("monetary", 3000, 2.1),
                           FeatureDeviation("recency_days", 10, -1.2),
                           FeatureDeviation("aov", 200, 0.1)])
    assert (en, zh) == ("high spend, recent", "高消费、近期购买客户")
    assert suggest_name([FeatureDeviation("monetary", 1, 0.2)]) == ("typical customers", "普通客户")
    en, zh = suggest_name([FeatureDeviation("coupon_uses", 5, 1.0)])
    assert (en, zh) == ("high coupon uses", "coupon uses高客户")


def test_bad_input_is_refused_with_the_customer() -> None:
    table, _ = _planted()
    spend = table["monetary"].to_numpy().copy()
    spend[7] = np.nan
    broken = table.set_column(table.column_names.index("monetary"), "monetary", pa.array(spend))
    bad_id = table["customer_id"][7].as_py()
    with pytest.raises(ValueError, match=f"'monetary' is missing.*customer {bad_id}"):
        cluster_customers(broken, features=FEATURES)
    with pytest.raises(ValueError, match="no column 'age'"):
        cluster_customers(table, features=("age",))
    with pytest.raises(ValueError, match="too few"):
        cluster_customers(table.slice(0, 8), features=FEATURES)
    with pytest.raises(ValueError, match="log_scale"):
        cluster_customers(table, features=FEATURES, log_scale=("age",))
    with pytest.raises(ValueError, match="k_values"):
        cluster_customers(table, features=FEATURES, k_values=[1])


def test_profiles_read_as_one_line_each() -> None:
    table, _ = _planted()
    result = cluster_customers(table, features=FEATURES, k_values=[3],
                               log_scale=("frequency", "monetary"))
    line = result.profiles[2].describe()
    assert line.startswith("#2 ") and "300 customers (16.7%)" in line and "monetary" in line
    assert "z +" in line
    assert "300 人（16.7%）" in result.profiles[2].describe("zh_CN")


def test_a_large_shop_is_fitted_on_a_sample_and_everyone_assigned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shopcrm.segments.clusters as clusters

    monkeypatch.setattr(clusters, "FIT_SAMPLE", 500)
    monkeypatch.setattr(clusters, "SILHOUETTE_SAMPLE", 400)
    table, truth = _planted()
    result = cluster_customers(table, features=FEATURES, k_values=[2, 3, 4],
                               log_scale=("frequency", "monetary"))
    assert result.k == 3 and len(result.labels) == 1800
    assert _agreement(result.labels, truth) > 0.99
