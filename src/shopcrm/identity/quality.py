"""Pairwise linkage quality: how two clusterings of the same records agree.

Precision is the share of record pairs put together that truly belong together;
recall the share of true pairs put together. Counting is done on the contingency
table (cluster × truth), so a million records cost one pass, not all pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True)
class PairwiseScores:
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_scores(predicted: Mapping[R, Hashable], truth: Mapping[R, Hashable]
                    ) -> PairwiseScores:
    """Scores over the records present in ``truth`` (each must be in ``predicted``)."""
    clusters: Counter[Hashable] = Counter()
    people: Counter[Hashable] = Counter()
    cells: Counter[tuple[Hashable, Hashable]] = Counter()
    for record, person in truth.items():
        cluster = predicted[record]
        clusters[cluster] += 1
        people[person] += 1
        cells[(cluster, person)] += 1
    return PairwiseScores(
        records=len(truth),
        true_pairs=sum(_pairs(n) for n in people.values()),
        predicted_pairs=sum(_pairs(n) for n in clusters.values()),
        correct_pairs=sum(_pairs(n) for n in cells.values()),
    )
