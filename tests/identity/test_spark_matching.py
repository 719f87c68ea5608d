"""The match model trained on DuckDB runs on Spark (local mode) and scores exactly the
same pairs with the same probabilities; a full resolution on Spark gives the DuckDB
answer."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select
from test_comparable_cache import People, add_records

from shopcrm.context import AppContext
from shopcrm.identity import matching
from shopcrm.identity.models import IdentityLink
from shopcrm.identity.records import RECORD_COLUMNS, prepare
from shopcrm.identity.resolve import ResolutionSettings, resolve_full
from shopcrm.store.models import SourceIdentity


def _records(rows: list[dict[str, str | None]]) -> pa.Table:
    table = pa.table({
        "id": pa.array(range(1, len(rows) + 1), pa.int64()),
        **{c: pa.array([r.get(c) for r in rows], pa.string())
           for c in RECORD_COLUMNS if c != "id"}})
    return prepare(table)


def test_spark_model_rewrites_the_sql_and_keeps_the_parameters() -> None:
    model = matching._settings(matching.shop_spec()).create_settings_dict("duckdb")
    translated = matching.spark_model(model)
    levels = [lv for c in translated["comparisons"] for lv in c["comparison_levels"]]
    conditions = [lv["sql_condition"] for lv in levels]
    # Spark would read "name_l" as a string constant: identifiers must be back-quoted.
    assert '"' not in " ".join(conditions)
    assert "`name_l` = `name_r`" in conditions
    jaro = [c for c in conditions if "name_l" in c and "aggregate" in c]
    assert len(jaro) == 1 and jaro[0].endswith(" >= 0.9")
    # Measured in the units this DuckDB measures (bytes on 2.0.0, characters later).
    in_bytes = "DECODE(ENCODE(`name_l`, 'UTF-8'), 'ISO-8859-1')" in jaro[0]
    assert in_bytes == matching.duckdb_compares_bytes()
    assert "jaro_winkler" not in " ".join(conditions).lower()
    rules = translated["blocking_rules_to_generate_predictions"]
    assert rules[0]["blocking_rule"] == "l.`phone_pattern` = r.`phone_pattern`"
    assert {r["sql_dialect"] for r in rules} == {"spark"}
    original = [lv for c in model["comparisons"] for lv in c["comparison_levels"]]
    assert [(lv.get("m_probability"), lv.get("u_probability")) for lv in levels] == [
        (lv.get("m_probability"), lv.get("u_probability")) for lv in original]
    assert model["comparisons"][0]["comparison_levels"][1]["sql_condition"] == \
        '"name_l" = "name_r"', "the stored model itself is left as it is"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    existing = pyspark_sql.SparkSession.getActiveSession()
    session = matching.spark_session("local[2]",
                                     scratch=Path(tempfile.mkdtemp(prefix="shopcrm-spark-")))
    yield session
    if existing is None:  # another suite's shared session is not ours to stop
        session.stop()


def _scores(pairs: list[matching.ScoredPair]) -> dict[tuple[int, int], float]:
    return {(p.left, p.right): p.probability for p in pairs}


@pytest.mark.slow
def test_string_similarity_on_spark_is_duckdbs(spark: Any) -> None:
    """DuckDB measures UTF-8 bytes; the rewritten Spark expressions give the very same
    numbers — Splink's Scala UDF (on characters) does not."""
    import duckdb
    from splink.backends.spark import similarity_jar_location

    extra = {"上海市人民路1号", "上海市人民路2号", "王秀英", "王秀兰", "abc", "abd", "ab", "a",
             "martha", "marhta", "dixon", "dicksonx", ""}
    texts = sorted({t for r in People(3).records(10) for t in (r["name"], r["address_detail"])
                    if t} | extra)
    pairs = [(a, b) for a in texts for b in texts] + [(None, "a"), ("a", None)]
    con = duckdb.connect()
    con.register("pairs", pa.table({"a": pa.array([a for a, _ in pairs], pa.string()),
                                    "b": pa.array([b for _, b in pairs], pa.string())}))
    functions = ("jaro_winkler_similarity", "jaro_similarity", "levenshtein")
    expected = {(a, b): tuple(rest) for a, b, *rest in con.sql(
        "SELECT a, b, " + ", ".join(f"{f}(a, b)" for f in functions) + " FROM pairs"
    ).fetchall()}
    spark.createDataFrame(pairs, "a string, b string").createOrReplaceTempView("sim_pairs")
    rewritten = ", ".join(matching._to_spark(f"{f}(a, b)") for f in functions)
    found = {(a, b): tuple(rest) for a, b, *rest in spark.sql(
        f"SELECT a, b, {rewritten} FROM sim_pairs").collect()}
    assert found.keys() == expected.keys()
    for key, values in expected.items():
        assert found[key] == pytest.approx(values, abs=1e-12), key

    spark.sql(f"ADD JAR '{similarity_jar_location()}'")
    spark.udf.registerJavaFunction("moj_jaro_winkler",
                                   "uk.gov.moj.dash.linkage.JaroWinklerSimilarity", "double")
    on_characters = {(r[0], r[1]): r[2] for r in spark.sql(
        "SELECT a, b, moj_jaro_winkler(a, b) FROM sim_pairs WHERE a <> '' AND b <> ''"
    ).collect()}
    assert any(abs(v - expected[k][0]) > 0.01 for k, v in on_characters.items())


@pytest.mark.slow
def test_the_duckdb_trained_model_scores_the_same_pairs_on_spark(spark: Any) -> None:
    records = _records(People(5).records(90))
    # Stored and read back as the store keeps it (JSON).
    model = json.loads(json.dumps(matching.train(records, matching.shop_spec())))
    on_duckdb = _scores(matching.predict(records, model, threshold=0.01))
    on_spark = _scores(matching.predict(records, model, threshold=0.01, spark=spark))
    assert len(on_duckdb) > 50
    assert set(on_spark) == set(on_duckdb)
    assert max(abs(on_spark[k] - on_duckdb[k]) for k in on_duckdb) < 1e-9
    # Levels that use Jaro-Winkler on Chinese text are among them (bytes, not characters).
    jw = [p for p in matching.predict(records, model, threshold=0.01)
          if p.weights["address"]["level"] in (1, 3)]
    assert jw

    new = records.slice(records.num_rows - 20)
    new_duckdb = _scores(matching.predict_new(records, new, model, threshold=0.01))
    new_spark = _scores(matching.predict_new(records, new, model, threshold=0.01, spark=spark))
    assert new_duckdb and set(new_spark) == set(new_duckdb)
    assert max(abs(new_spark[k] - new_duckdb[k]) for k in new_duckdb) < 1e-9


@pytest.mark.slow
def test_full_resolution_on_spark_equals_duckdb(sqlite_context: AppContext, spark: Any) -> None:
    context = sqlite_context
    with context.sessions.begin() as session:
        add_records(session, context, People(8).records(80))
        first = resolve_full(session, now=context.clock.now())
    assert first.model_id is not None and first.probable_edges > 0

    def state() -> tuple[dict[int, int | None], set[tuple[int, int, float | None]]]:
        with context.sessions() as session:
            return (dict(session.execute(select(SourceIdentity.id, SourceIdentity.customer_id))
                         .all()),
                    {(a, b, round(p, 9) if p is not None else None)
                     for a, b, p in session.execute(
                         select(IdentityLink.identity_a, IdentityLink.identity_b,
                                IdentityLink.probability)
                         .where(IdentityLink.kind == "probable"))})

    on_duckdb = state()
    with context.sessions.begin() as session:
        again = resolve_full(session, now=context.clock.now(),
                             settings=ResolutionSettings(spark=spark))
    assert again.model_id == first.model_id
    assert (again.merges, again.splits) == (0, 0)
    assert state() == on_duckdb
