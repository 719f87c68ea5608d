"""Customer clusters: k-means on standardised features, a profile and a name per cluster.

A marketer does not want "cluster 3"; they want "high spend, frequent, recent — 1,204
customers". So each cluster gets a profile (size, mean of each feature, and how far that
mean lies from the whole shop's, in standard deviations) and a suggested English and
Chinese name built from the features that set it apart most.

Choices, and why:

* Features are standardised (z-scores) so spend in yuan does not drown order counts.
  Heavy-tailed features (spend, order counts) can be log-scaled first (``log_scale``),
  otherwise a handful of whales become a cluster of their own and everyone else one blob.
* k is chosen by the silhouette score over a small range (2–8 by default), computed on a
  fixed random sample for large shops, so it stays fast and deterministic.
* Everything is seeded: the same features give the same clusters, labels and names.
  Labels are renumbered by cluster size (0 = largest) so they do not depend on the
  order k-means happened to find them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

FloatArray = npt.NDArray[np.float64]

DISTINCT_Z = 0.5
"""A feature describes a cluster when its mean lies at least this many standard
deviations from the shop's mean."""
NAME_FEATURES = 3
"""At most this many features go into a suggested name."""
N_INIT = 4
"""k-means++ restarts per k; the best (lowest inertia) is kept."""
SILHOUETTE_SAMPLE = 10_000
"""Customers the silhouette of each k is scored on (it is quadratic in their number)."""
FIT_SAMPLE = 100_000
"""Customers k-means learns centroids from; everyone is then assigned to the nearest."""


@dataclass(frozen=True)
class FeatureWords:
    """How to say that a cluster is high or low on a feature, in English and Chinese."""

    high_en: str
    low_en: str
    high_zh: str
    low_zh: str


FEATURE_WORDS: Mapping[str, FeatureWords] = {
    # "recency" here is RFM's: days since the last purchase, so *low* means recent.
    "recency_days": FeatureWords("lapsed", "recent", "久未购买", "近期购买"),
    "recency": FeatureWords("lapsed", "recent", "久未购买", "近期购买"),
    "frequency": FeatureWords("frequent", "infrequent", "高频", "低频"),
    "orders": FeatureWords("many orders", "few orders", "订单多", "订单少"),
    "monetary": FeatureWords("high spend", "low spend", "高消费", "低消费"),
    "spend": FeatureWords("high spend", "low spend", "高消费", "低消费"),
    "aov": FeatureWords("large baskets", "small baskets", "高客单价", "低客单价"),
    "unit_price": FeatureWords("premium", "budget", "高单价", "低单价"),
    "promo_share": FeatureWords("deal-driven", "full-price", "促销敏感", "少用促销"),
    "new_arrival_share": FeatureWords("new-arrival fans", "few new arrivals", "偏爱新品",
                                      "少买新品"),
    "tenure_days": FeatureWords("long-standing", "newcomers", "老客", "新客"),
    "interpurchase_days": FeatureWords("slow repeaters", "quick repeaters", "复购慢", "复购快"),
    "p_alive": FeatureWords("likely active", "likely gone", "大概率活跃", "大概率流失"),
    "clv": FeatureWords("high future value", "low future value", "未来价值高", "未来价值低"),
}


@dataclass(frozen=True)
class FeatureDeviation:
    feature: str
    mean: float
    z: float
    """(cluster mean − shop mean) / shop standard deviation, on the (log-)scaled feature."""


@dataclass(frozen=True)
class ClusterProfile:
    label: int
    size: int
    share: float
    features: tuple[FeatureDeviation, ...]
    """Every feature, ordered by how strongly it sets the cluster apart (|z| descending)."""
    name_en: str
    name_zh: str

    @property
    def distinctive(self) -> tuple[FeatureDeviation, ...]:
        return tuple(f for f in self.features if abs(f.z) >= DISTINCT_Z)

    def describe(self, language: str = "en") -> str:
        """One line for a report or the CLI, e.g. ``#0 high spend, frequent — 300
        customers (16.7%): monetary 3,012.40 (z +1.92), frequency 12.10 (z +1.75)``."""
        shown = self.distinctive or self.features[:1]
        figures = ", ".join(f"{f.feature} {f.mean:,.2f} (z {f.z:+.2f})" for f in shown)
        if language.startswith("zh"):
            return f"#{self.label} {self.name_zh} — {self.size:,} 人（{self.share:.1%}）：{figures}"
        head = f"#{self.label} {self.name_en} — {self.size:,} customers ({self.share:.1%})"
        return f"{head}: {figures}"


@dataclass(frozen=True)
class Clustering:
    k: int
    silhouette_by_k: Mapping[int, float]
    labels: npt.NDArray[np.int64]
    customer_id: npt.NDArray[Any]
    profiles: tuple[ClusterProfile, ...]
    features: tuple[str, ...]
    dropped: tuple[str, ...]
    """Features left out because they are the same for every customer."""

    def table(self) -> pa.Table:
        """One row per customer: ``customer_id``, ``cluster``, ``cluster_name_en/_zh``."""
        names_en = np.array([p.name_en for p in self.profiles], dtype=object)
        names_zh = np.array([p.name_zh for p in self.profiles], dtype=object)
        return pa.table({
            "customer_id": self.customer_id,
            "cluster": self.labels,
            "cluster_name_en": names_en[self.labels].tolist(),
            "cluster_name_zh": names_zh[self.labels].tolist(),
        })


def _words(feature: str, words: Mapping[str, FeatureWords]) -> FeatureWords:
    found = words.get(feature)
    if found is not None:
        return found
    label = feature.replace("_", " ")
    return FeatureWords(f"high {label}", f"low {label}", f"{label}高", f"{label}低")


def suggest_name(
    deviations: Sequence[FeatureDeviation], words: Mapping[str, FeatureWords] = FEATURE_WORDS
) -> tuple[str, str]:
    """An English and a Chinese name from the most distinctive features (|z| ≥ 0.5)."""
    chosen = [d for d in sorted(deviations, key=lambda d: -abs(d.z)) if abs(d.z) >= DISTINCT_Z]
    chosen = chosen[:NAME_FEATURES]
    if not chosen:
        return "typical customers", "普通客户"
    english = [(_words(d.feature, words).high_en if d.z > 0 else _words(d.feature, words).low_en)
               for d in chosen]
    chinese = [(_words(d.feature, words).high_zh if d.z > 0 else _words(d.feature, words).low_zh)
               for d in chosen]
    return ", ".join(english), "、".join(chinese) + "客户"


def _matrix(table: Any, features: Sequence[str]) -> FloatArray:
    columns = []
    for name in features:
        try:
            column = table[name]
        except (KeyError, IndexError) as exc:
            raise ValueError(f"the feature table has no column {name!r}") from exc
        if isinstance(column, pa.ChunkedArray | pa.Array):
            column = column.to_numpy(zero_copy_only=False)
        try:
            values = np.asarray(column, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"feature {name!r}: values must be numbers") from exc
        columns.append(values)
    return np.column_stack(columns) if columns else np.empty((0, 0))


def cluster_customers(
    table: Any, *, features: Sequence[str], id_column: str = "customer_id",
    k_values: Sequence[int] = range(2, 9), log_scale: Sequence[str] = (), seed: int = 0,
    words: Mapping[str, FeatureWords] = FEATURE_WORDS,
) -> Clustering:
    """Cluster customers on ``features`` of ``table`` (pyarrow, pandas or a mapping).

    Raises ``ValueError`` naming the feature and customer for missing or infinite
    values, negative values in a ``log_scale`` feature, or too few customers for the
    smallest k.
    """
    if not features:
        raise ValueError("give at least one feature to cluster on")
    unknown = sorted(set(log_scale) - set(features))
    if unknown:
        raise ValueError(f"log_scale names features that are not clustered on: {unknown}")
    ks = sorted({int(k) for k in k_values})
    if not ks or ks[0] < 2:
        raise ValueError("k_values must be whole numbers ≥ 2")
    try:
        ids = np.asarray(table[id_column])
    except (KeyError, IndexError) as exc:
        raise ValueError(f"the feature table has no column {id_column!r}") from exc
    raw = _matrix(table, features)
    n = raw.shape[0]
    for j, name in enumerate(features):
        bad = ~np.isfinite(raw[:, j])
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"feature {name!r} is missing or not finite for customer "
                             f"{_plain(ids[first])!r} ({int(bad.sum())} in all)")
        if name in log_scale and (raw[:, j] < 0).any():
            first = int(np.flatnonzero(raw[:, j] < 0)[0])
            raise ValueError(f"feature {name!r} is log-scaled but negative for customer "
                             f"{_plain(ids[first])!r}")
    if n < max(ks[0] * 5, 10):
        raise ValueError(f"{n} customers are too few to find {ks[0]} or more clusters")
    ks = [k for k in ks if k * 5 <= n]
    scaled = raw.copy()
    for j, name in enumerate(features):
        if name in log_scale:
            scaled[:, j] = np.log1p(scaled[:, j])
    spread = scaled.std(axis=0)
    keep = spread > 1e-12 * np.maximum(1.0, np.abs(scaled).max(axis=0))
    dropped = tuple(name for name, kept in zip(features, keep, strict=True) if not kept)
    if not keep.any():
        raise ValueError("every feature is the same for all customers: nothing to cluster on")
    kept = tuple(name for name, k in zip(features, keep, strict=True) if k)
    z = (scaled[:, keep] - scaled[:, keep].mean(axis=0)) / spread[keep]

    rng = np.random.default_rng(seed)
    # k-means learns centroids on a seeded sample of a large shop, then every customer
    # goes to the nearest centroid; the silhouette is scored on a smaller sample.
    training = np.sort(rng.choice(n, FIT_SAMPLE, replace=False)) if n > FIT_SAMPLE else None
    scored = (np.sort(rng.choice(n, SILHOUETTE_SAMPLE, replace=False))
              if n > SILHOUETTE_SAMPLE else np.arange(n))
    scores: dict[int, float] = {}
    models: dict[int, KMeans] = {}
    for k in ks:
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(
            z if training is None else z[training])
        models[k] = model
        labels = np.asarray(model.predict(z[scored]), dtype=np.int64)
        if np.count_nonzero(np.bincount(labels)) < 2:
            scores[k] = -1.0
            continue
        with config_context(working_memory=64):  # MB per chunk of the distance matrix
            scores[k] = float(silhouette_score(z[scored], labels))
    best = max(ks, key=lambda k: (round(scores[k], 6), -k))
    labels = _by_size(np.asarray(models[best].predict(z), dtype=np.int64))

    raw_kept = raw[:, keep]
    profiles = []
    used: set[str] = set()
    for label in range(best):
        members = labels == label
        mean_z = z[members].mean(axis=0)
        deviations = sorted(
            (FeatureDeviation(name, float(raw_kept[members, j].mean()), float(mean_z[j]))
             for j, name in enumerate(kept)), key=lambda d: -abs(d.z))
        name_en, name_zh = suggest_name(deviations, words)
        if name_en in used:  # two clusters alike on their top features: keep names apart
            name_en, name_zh = f"{name_en} (group {label + 1})", f"{name_zh}（第{label + 1}群）"
        used.add(name_en)
        profiles.append(ClusterProfile(label, int(members.sum()), float(members.mean()),
                                       tuple(deviations), name_en, name_zh))
    return Clustering(best, scores, labels, ids, tuple(profiles), kept, dropped)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _by_size(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Renumber clusters 0 = largest (ties: the one holding the earliest customer first)."""
    counts = np.bincount(labels)
    present = [k for k in range(len(counts)) if counts[k]]
    first = {k: int(np.argmax(labels == k)) for k in present}
    order = sorted(present, key=lambda k: (-counts[k], first[k]))
    mapping = np.zeros(len(counts), dtype=np.int64)
    for new, old in enumerate(order):
        mapping[old] = new
    result: npt.NDArray[np.int64] = mapping[labels]
    return result
