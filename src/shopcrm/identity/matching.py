"""Probabilistic record matching (Fellegi–Sunter, with Splink on DuckDB).

Records without a shared exact key — a Pinduoduo receiver with a masked phone, a
Taobao buyer whose phone the export hid — are compared field by field: name, phone
or its visible pattern (``138****1234``), address, city. Splink estimates from the
shop's own data how much each level of agreement weighs (u by random sampling, m by
expectation–maximisation on blocks that leave the trained fields free to vary), and
scores candidate pairs found by blocking rules. The trained model is stored as JSON
so incremental runs score new records exactly as a full run would.

Splink builds its SQL from the settings; DuckDB runs it. The same settings run on
Spark with Splink's Spark API.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

logging.getLogger("splink").setLevel(logging.WARNING)


class TrainingError(Exception):
    """The records give the model nothing to learn from (yet)."""


@dataclass(frozen=True)
class MatchSpec:
    """What a probabilistic model compares, how it blocks and how it is trained."""

    comparisons: tuple[Any, ...]
    blocking: tuple[Any, ...]
    training_blocks: tuple[Any, ...]
    link_type: str = "dedupe_only"
    deterministic: tuple[str, ...] = ()
    """SQL conditions of pairs that surely match, for the prior match probability."""
    expected_recall: float = 0.8
    max_pairs_for_u: float = 2e6
    retain: tuple[str, ...] = field(default_factory=tuple)


def shop_spec() -> MatchSpec:
    """The model for shop customers: names, phones (full or masked), addresses."""
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name"),
            cll.CustomLevel(
                "name_surname_l = name_surname_r AND (name_title_l OR name_title_r)",
                label_for_charts="same surname, one a title (王女士)"),
            cll.JaroWinklerLevel("name", 0.9),
            cll.ElseLevel(),
        ],
    )
    phone = cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone_pattern"),
            cll.CustomLevel("phone_l = phone_r", label_for_charts="same full number"),
            cll.ExactMatchLevel("phone_pattern").configure(label_for_charts="same masked pattern"),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("address_key"),
            cll.ExactMatchLevel("address_key"),
            cll.JaroWinklerLevel("address_key", 0.92),
            cll.ExactMatchLevel("address_street").configure(
                label_for_charts="same street and number (a locker or office there)"),
            cll.JaroWinklerLevel("address_key", 0.8),
            cll.ElseLevel(),
        ],
    )
    place = cl.CustomComparison(
        output_column_name="place",
        comparison_levels=[
            cll.NullLevel("city"),
            cll.CustomLevel("city_l = city_r AND district_l = district_r",
                            label_for_charts="same city and district"),
            cll.ExactMatchLevel("city"),
            cll.ElseLevel(),
        ],
    )
    return MatchSpec(
        comparisons=(name, phone, address, place),
        blocking=(block_on("phone_pattern"), block_on("name", "city"),
                  block_on("address_street")),
        training_blocks=(block_on("phone_pattern"), block_on("name", "city")),
        deterministic=("l.phone = r.phone AND l.name = r.name",),
        retain=("source",),
    )


@dataclass(frozen=True)
class ScoredPair:
    left: int
    right: int
    probability: float
    weights: dict[str, Any]


def _settings(spec: MatchSpec) -> SettingsCreator:
    return SettingsCreator(
        link_type=spec.link_type,  # type: ignore[arg-type]
        comparisons=list(spec.comparisons),
        blocking_rules_to_generate_predictions=list(spec.blocking),
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=list(spec.retain),
        max_iterations=40,
    )


def train(records: pa.Table | list[pa.Table], spec: MatchSpec, *, seed: int = 42) -> dict[str, Any]:
    """Estimate the model on these records; returns the settings JSON to store."""
    linker = _linker(records, _settings(spec))
    if spec.deterministic:
        linker.training.estimate_probability_two_random_records_match(
            list(spec.deterministic), recall=spec.expected_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.max_pairs_for_u, seed=seed)
    trained = 0
    problems: list[str] = []
    for rule in spec.training_blocks:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
            trained += 1
        except Exception as exc:  # Splink raises its own types, ValueError, math errors
            # EM degenerates on data without variety (one source, every pair in a
            # block identical): that block teaches nothing; another may.
            problems.append(f"{rule}: {exc}")
    if not trained:
        raise TrainingError("the match model could not be trained on these records: "
                            + "; ".join(problems))
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return model


def _linker(records: pa.Table | list[pa.Table], settings: SettingsCreator | dict[str, Any],
            ) -> Linker:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar=false")
    db_api = DuckDBAPI(con)
    tables = records if isinstance(records, list) else [records]
    frames = [db_api.register(t, table_name=f"records_{i}") for i, t in enumerate(tables)]
    # Linker sets the "splink" logger to the level it is given (INFO by default).
    return Linker(frames if len(frames) > 1 else frames[0], settings,
                  log_level=logging.WARNING)


def predict(records: pa.Table | list[pa.Table], model: dict[str, Any], *,
            threshold: float) -> list[ScoredPair]:
    """Every blocked pair at or above ``threshold`` match probability."""
    linker = _linker(records, model)
    result = linker.inference.predict(threshold_match_probability=threshold)
    return _pairs(_frame(result), model)


def predict_new(everyone: pa.Table, new: pa.Table, model: dict[str, Any], *,
                threshold: float) -> list[ScoredPair]:
    """Pairs between the ``new`` records and ``everyone`` (which holds the new ones too,
    so new records meet each other), each pair once."""
    everyone = _candidates(everyone, new, model)
    linker = _linker(everyone, model)
    db_api = linker._db_api
    # Unique names: a Spark session keeps its views from one call to the next.
    suffix = uuid.uuid4().hex[:8]
    left = db_api.register(new, table_name=f"new_records_{suffix}")
    right = db_api.register(everyone, table_name=f"all_records_{suffix}")
    result = linker.inference.predict_between(left, right,
                                              threshold_match_probability=threshold)
    seen: set[tuple[int, int]] = set()
    pairs: list[ScoredPair] = []
    for pair in _pairs(_frame(result), model):
        # Two new records meet twice (a–b and b–a) with the same score.
        if pair.left != pair.right and (pair.left, pair.right) not in seen:
            seen.add((pair.left, pair.right))
            pairs.append(pair)
    return pairs


def _candidates(everyone: pa.Table, new: pa.Table, model: dict[str, Any]) -> pa.Table:
    """The records some blocking rule pairs with a new record — the only ones the
    comparison can reach (scores depend on the pair alone: no term frequencies), so
    Splink works on thousands of rows instead of the whole shop."""
    rules = model.get("blocking_rules_to_generate_predictions", [])
    if not rules or any(isinstance(r, dict) and r.get("arrays_to_explode") for r in rules):
        return everyone
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar=false")
        con.register("new_records", new)
        con.register("all_records", everyone)
        joins = " UNION ".join(
            "SELECT r.unique_id FROM new_records AS l JOIN all_records AS r ON "
            f"({r['blocking_rule'] if isinstance(r, dict) else r})" for r in rules)
        # The rules are the model's own SQL (trained by shopcrm), never a user's text.
        reached = con.sql(f"SELECT * FROM all_records WHERE unique_id IN ({joins})")
        table: pa.Table = reached.to_arrow_table()
        return table
    finally:
        con.close()


def _frame(result: Any) -> Any:
    return result.as_pandas_dataframe()


def level_weights(model: dict[str, Any]) -> dict[str, dict[int, tuple[str, float]]]:
    """Per comparison, per agreement level (Splink's gamma): its label and match weight
    (log2 of m/u) — what the review queue shows for each field."""
    import math

    table: dict[str, dict[int, tuple[str, float]]] = {}
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        found: dict[int, tuple[str, float]] = {}
        for index, level in enumerate(levels):
            m, u = level.get("m_probability"), level.get("u_probability")
            ratio = m / u if m and u else 0.0
            weight = math.log2(ratio) if ratio > 0 else (-99.0 if u else 0.0)
            label = level.get("label_for_charts") or level.get("sql_condition", "")
            found[len(levels) - 1 - index] = (str(label), round(weight, 3))
        found[-1] = ("missing", 0.0)
        table[comparison["output_column_name"]] = found
    return table


def _pairs(frame: Any, model: dict[str, Any]) -> list[ScoredPair]:
    """Scored pairs from Splink's output, column by column (a full run scores close to a
    million pairs: no per-row dictionaries)."""
    levels = level_weights(model)
    names = [c["output_column_name"] for c in model["comparisons"]
             if f"gamma_{c['output_column_name']}" in frame.columns]
    gammas = [[int(g) for g in frame[f"gamma_{n}"].tolist()] for n in names]
    # One read-only dictionary per (field, level), shared by every pair at that level.
    described = {
        (n, gamma): {"level": gamma, "label": label, "weight": weight}
        for n in names for gamma, (label, weight) in levels[n].items()}
    pairs: list[ScoredPair] = []
    for index, (a, b, probability) in enumerate(zip(
            frame["unique_id_l"].tolist(), frame["unique_id_r"].tolist(),
            frame["match_probability"].tolist(), strict=True)):
        weights = {}
        for n, column in zip(names, gammas, strict=True):
            gamma = column[index]
            weights[n] = described.get((n, gamma)) or {"level": gamma, "label": "",
                                                       "weight": 0.0}
        a, b = int(a), int(b)
        pairs.append(ScoredPair(min(a, b), max(a, b), float(probability), weights))
    return pairs
