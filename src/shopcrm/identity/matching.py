"""Probabilistic record matching (Fellegi–Sunter, with Splink on DuckDB).

Records without a shared exact key — a Pinduoduo receiver with a masked phone, a
Taobao buyer whose phone the export hid — are compared field by field: name, phone
or its visible pattern (``138****1234``), address, city. Splink estimates from the
shop's own data how much each level of agreement weighs (u by random sampling, m by
expectation–maximisation on blocks that leave the trained fields free to vary), and
scores candidate pairs found by blocking rules. The trained model is stored as JSON
so incremental runs score new records exactly as a full run would.

Splink builds its SQL from the settings; DuckDB runs it. The same trained model runs on
Spark (Splink's Spark API, for shops too big for one machine): :func:`spark_model`
rewrites its SQL for Spark so that every pair scores exactly as on DuckDB.
"""

from __future__ import annotations

import copy
import functools
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
import splink.comparison_library as cl
import sqlglot
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from sqlglot import exp

from shopcrm.identity import blocks

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


def _tables(records: pa.Table | list[pa.Table]) -> list[pa.Table]:
    return records if isinstance(records, list) else [records]


def train(records: pa.Table | list[pa.Table], spec: MatchSpec, *, seed: int = 42,
          max_block: int = blocks.MAX_BLOCK) -> dict[str, Any]:
    """Estimate the model on these records; returns the settings JSON to store.
    Expectation–maximisation runs on the training blocks without their oversized keys
    (see :mod:`~shopcrm.identity.blocks`)."""
    capped = blocks.cap(_tables(records), list(spec.training_blocks), limit=max_block)
    linker = _linker(capped.tables, _settings(spec))
    if spec.deterministic:
        linker.training.estimate_probability_two_random_records_match(
            list(spec.deterministic), recall=spec.expected_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.max_pairs_for_u, seed=seed)
    trained = 0
    problems: list[str] = []
    for rule in capped.rules:
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
            threshold: float, spark: Any = None,
            max_block: int = blocks.MAX_BLOCK) -> list[ScoredPair]:
    """Every blocked pair at or above ``threshold`` match probability (on Spark when a
    session is given); keys held by more than ``max_block`` records do not block."""
    capped = blocks.cap(_tables(records), _rules(model), limit=max_block)
    tables, model = capped.tables, capped.model(model)
    linker = _linker(tables, model) if spark is None else _spark_linker(spark, tables, model)
    result = linker.inference.predict(threshold_match_probability=threshold)
    return _pairs(_frame(result), model)


def predict_new(everyone: pa.Table, new: pa.Table, model: dict[str, Any], *,
                threshold: float, spark: Any = None,
                max_block: int = blocks.MAX_BLOCK) -> list[ScoredPair]:
    """Pairs between the ``new`` records and ``everyone`` (which holds the new ones too,
    so new records meet each other), each pair once. Block sizes are counted over
    ``everyone``, so a new record blocks exactly as in a full run."""
    capped = blocks.cap([everyone], _rules(model), limit=max_block)
    everyone, model = capped.tables[0], capped.model(model)
    new = everyone.filter(pc.is_in(everyone.column("unique_id"), new.column("unique_id")))
    everyone = _candidates(everyone, new, model)
    linker = (_linker(everyone, model) if spark is None
              else _spark_linker(spark, everyone, model))
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


def _rules(model: dict[str, Any]) -> list[Any]:
    return list(model.get("blocking_rules_to_generate_predictions", []))


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


# ------------------------------------------------------------------------- Spark

def spark_model(model: dict[str, Any]) -> dict[str, Any]:
    """The stored (DuckDB-trained) model with its SQL rewritten for Spark; the trained
    parameters are untouched.

    Loaded as it is, the model would run on Spark but score wrongly or not at all.
    Splink reads the stored conditions in the engine's dialect, so Spark takes DuckDB's
    quoted identifiers (``"name_l" = "name_r"``) for two string constants — every
    exact-match level would silently never match — and has no
    ``jaro_winkler_similarity``. Splink's Scala UDF jar has a ``jaro_winkler``, but it
    matches characters in another order than DuckDB, and DuckDB 2.0.0 measured UTF-8
    bytes (a Chinese character is three; 2.0.1 measures characters): ``上海市人民路1号``
    vs ``…2号`` is 0.982 on DuckDB 2.0.0 and 0.950 in the UDF, and 676 of 5,041
    name/address pairs in the tests differed by up to 0.056 — enough to cross a level's
    threshold. So the Jaro(-Winkler) levels become a Spark SQL expression of DuckDB's
    algorithm (:func:`_jaro_sql`), over the strings' bytes when this DuckDB counts bytes
    (:func:`duckdb_compares_bytes`), and ``levenshtein`` takes the same units: every pair
    scores exactly as on DuckDB."""
    translated = copy.deepcopy(model)
    for comparison in translated["comparisons"]:
        for level in comparison["comparison_levels"]:
            level["sql_condition"] = _to_spark(level["sql_condition"])
    rules = []
    for rule in translated.get("blocking_rules_to_generate_predictions", []):
        sql = rule["blocking_rule"] if isinstance(rule, dict) else str(rule)
        rules.append({**(rule if isinstance(rule, dict) else {}),
                      "blocking_rule": _to_spark(sql), "sql_dialect": "spark"})
    translated["blocking_rules_to_generate_predictions"] = rules
    translated["sql_dialect"] = "spark"
    return translated


def _to_spark(sql: str) -> str:
    if sql.strip().upper() == "ELSE":
        return sql
    expanded: dict[str, str] = {}

    def rewrite(node: exp.Expression) -> exp.Expression:
        found = _similarity_call(node)
        if found is None:
            return node
        name, args = found
        units = _as_bytes if duckdb_compares_bytes() else (lambda value: value)
        left, right = (units(a.copy()).sql("spark") for a in args)
        token = f"__shopcrm_similarity_{len(expanded)}__"
        expanded[token] = (f"levenshtein({left}, {right})" if name == "levenshtein" else
                           _jaro_sql(left, right, winkler=name == "jaro_winkler_similarity"))
        return exp.Var(this=token)

    text = sqlglot.parse_one(sql, read="duckdb").transform(rewrite).sql("spark")
    for token, replacement in expanded.items():
        text = text.replace(token, f"({replacement})")
    return text


def _similarity_call(node: exp.Expression) -> tuple[str, list[exp.Expression]] | None:
    """DuckDB's byte-wise string similarities that have a Spark rewrite."""
    if isinstance(node, exp.JarowinklerSimilarity):
        return "jaro_winkler_similarity", [node.this, node.expression]
    if isinstance(node, exp.Levenshtein) and set(node.args) <= {"this", "expression"}:
        return "levenshtein", [node.this, node.expression]
    if (isinstance(node, exp.Anonymous) and len(node.expressions) == 2
            and node.name.lower() in ("jaro_winkler_similarity", "jaro_similarity")):
        return node.name.lower(), list(node.expressions)
    return None


@functools.cache
def duckdb_compares_bytes() -> bool:
    """Whether this DuckDB's string similarities count UTF-8 bytes (DuckDB 2.0.0) or
    characters (2.0.1 and later): the Spark rewrite must measure the same units, or a
    Chinese address scores differently on the two engines."""
    row = duckdb.execute("SELECT levenshtein('', 'é')").fetchone()
    return bool(row and row[0] == 2)


def _as_bytes(value: exp.Expression) -> exp.Expression:
    """``decode(encode(value, 'UTF-8'), 'ISO-8859-1')``: one character per UTF-8 byte."""
    encoded = exp.Anonymous(this="encode", expressions=[value, exp.Literal.string("UTF-8")])
    return exp.Anonymous(this="decode", expressions=[encoded,
                                                     exp.Literal.string("ISO-8859-1")])


def _jaro_sql(left: str, right: str, *, winkler: bool) -> str:
    """DuckDB's Jaro(-Winkler) similarity as one Spark SQL expression (higher-order
    functions, no UDF): each character of ``left`` takes the first free equal character
    of ``right`` within max(len)/2 − 1 positions; transpositions are the matched
    characters out of order, halved and floored; Winkler adds 0.1 per common leading
    character (up to 4) to similarities above 0.7. Empty strings score 0, NULL is NULL."""
    match = (
        "aggregate(sequence(1, a.l1), "
        "named_struct('used', array_repeat(false, a.l2), 'm1', cast(array() as array<string>)), "
        "(acc, i) -> transform(array(try_element_at(filter("
        "IF(greatest(1, i - a.w) <= least(a.l2, i + a.w), "
        "sequence(greatest(1, i - a.w), least(a.l2, i + a.w)), cast(array() as array<int>)), "
        "k -> NOT element_at(acc.used, k) AND substr(a.s2, k, 1) = substr(a.s1, i, 1)), 1)), "
        "j -> IF(j IS NULL, acc, named_struct("
        "'used', transform(acc.used, (u, p) -> u OR p + 1 = j), "
        "'m1', concat(acc.m1, array(substr(a.s1, i, 1))))))[0])")
    second = ("transform(filter(sequence(1, a.l2), q -> element_at(mt.used, q)), "
              "q -> substr(a.s2, q, 1))")
    transposed = ("size(filter(sequence(1, size(mt.m1)), t -> "
                  f"element_at(mt.m1, t) != element_at({second}, t))) DIV 2")
    jaro = (f"(size(mt.m1) / a.l1 + size(mt.m1) / a.l2 "
            f"+ (size(mt.m1) - {transposed}) / size(mt.m1)) / 3.0D")
    prefix = ("aggregate(sequence(1, least(4, a.l1, a.l2)), 0, "
              "(c, x) -> IF(c = x - 1 AND substr(a.s1, x, 1) = substr(a.s2, x, 1), x, c))")
    score = (f"transform(array({jaro}), jr -> "
             f"IF(jr > 0.7D, jr + {prefix} * 0.1D * (1.0D - jr), jr))[0]"
             if winkler else jaro)
    return (
        f"CASE WHEN ({left}) IS NULL OR ({right}) IS NULL THEN CAST(NULL AS DOUBLE) ELSE "
        f"transform(array(named_struct('s1', {left}, 's2', {right}, "
        f"'l1', length({left}), 'l2', length({right}), "
        f"'w', CAST(greatest(greatest(length({left}), length({right})) div 2 - 1, 0) AS INT)"
        ")), a -> "
        f"IF(a.l1 = 0 OR a.l2 = 0, 0.0D, "
        f"transform(array({match}), mt -> "
        f"IF(size(mt.m1) = 0, 0.0D, {score}))[0]))[0] END")


def spark_session(master: str = "local[2]", *, scratch: Path) -> Any:
    """A Spark session for matching: bound to loopback in local mode, scratch folders
    (warehouse, checkpoints of Splink's intermediate tables) under ``scratch``."""
    import os

    from pyspark.sql import SparkSession

    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (SparkSession.builder.master(master).appName("shopcrm-identity")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    if master.startswith("local"):
        builder = (builder.config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.sql.shuffle.partitions", "4"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir(str(scratch / "checkpoints"))
    return session


def _spark_linker(spark: Any, records: pa.Table | list[pa.Table],
                  model: dict[str, Any]) -> Linker:
    from splink import SparkAPI

    # The model's SQL needs no UDF (see spark_model), so Splink's jar is not registered.
    has_checkpoints = not spark._jsc.sc().getCheckpointDir().isEmpty()
    db_api = SparkAPI(  # type: ignore[no-untyped-call]
        spark_session=spark, register_udfs_automatically=False,
        break_lineage_method="parquet" if has_checkpoints else "persist")
    tables = records if isinstance(records, list) else [records]
    suffix = uuid.uuid4().hex[:8]
    frames = [db_api.register(t, table_name=f"records_{i}_{suffix}")
              for i, t in enumerate(tables)]
    return Linker(frames if len(frames) > 1 else frames[0], spark_model(model),
                  log_level=logging.WARNING)


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
