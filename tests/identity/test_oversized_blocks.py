"""Blocking keys shared by too many records do not block (identity/blocks.py).

A synthetic shop where 40 customers share one name and city (what a masked ``张**``
receiver name or a very common name in a big city gives) must not cost 780 comparisons
of that block, while the pairs other rules reach (a shared phone) are still scored."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from shopcrm.identity import blocks, matching
from shopcrm.identity.records import RECORD_COLUMNS, prepare

CROWD = 40


def _records(rows: list[dict[str, str | None]]) -> pa.Table:
    table = pa.table({
        "id": pa.array(range(1, len(rows) + 1), pa.int64()),
        **{c: pa.array([r.get(c) for r in rows], pa.string())
           for c in RECORD_COLUMNS if c != "id"}})
    return prepare(table)


def _crowd() -> list[dict[str, str | None]]:
    """40 different people called 张伟 in 北京 (own phones and streets), then the 41st
    record: the first of them again, on another platform (same phone, new address)."""
    rows: list[dict[str, str | None]] = [
        {"source": "taobao", "kind": "buyer", "name": "张伟", "city": "北京市",
         "district": "朝阳区", "phone": f"1380000{i:04d}",
         "address_detail": f"建国路{100 + i}号{i}室"} for i in range(CROWD)]
    rows.append({"source": "jd", "kind": "buyer", "name": "张伟", "city": "北京市",
                 "district": "海淀区", "phone": "13800000000",
                 "address_detail": "中关村大街1号"})
    return rows


def _model() -> dict[str, Any]:
    model: dict[str, Any] = matching._settings(matching.shop_spec()).create_settings_dict(
        "duckdb")
    return model


def test_only_plain_equalities_are_capped() -> None:
    assert blocks.equality_columns('(l."name" = r."name") AND (l."city" = r."city")') == (
        "name", "city")
    assert blocks.equality_columns("l.phone_pattern = r.phone_pattern") == ("phone_pattern",)
    for rule in ("l.a = r.b", "l.a = r.a OR l.b = r.b", "substr(l.a, 1, 3) = substr(r.a, 1, 3)",
                 "l.a = 'x'", "not sql ((("):
        assert blocks.equality_columns(rule) is None, rule


def test_keys_over_the_cap_are_flagged_and_counted_over_every_table() -> None:
    left = pa.table({"unique_id": [1, 2, 3], "name": ["a", "a", None], "city": ["x"] * 3})
    right = pa.table({"unique_id": [4, 5, 6], "name": ["a", "b", None], "city": ["x"] * 3})
    rule = '(l."name" = r."name") AND (l."city" = r."city")'
    capped = blocks.cap([left, right], [rule, "l.a = r.b"], limit=2)
    flags = [t.column("oversized_block_0").to_pylist() for t in capped.tables]
    # Key (a, x) is held by three records across the two tables: over the cap of two.
    assert [sorted(zip(t.column("unique_id").to_pylist(), f, strict=True))
            for t, f in zip(capped.tables, flags, strict=True)] == [
        [(1, True), (2, True), (3, False)], [(4, True), (5, False), (6, False)]]
    assert capped.rules == [f'({rule}) AND NOT l."oversized_block_0"', "l.a = r.b"]
    assert capped.oversized == {rule: 3}
    assert blocks.cap([left, right], [rule], limit=3).oversized == {}


def test_a_crowded_name_and_city_block_is_not_compared_but_a_shared_phone_is() -> None:
    records = _records(_crowd())
    everything = matching.predict(records, _model(), threshold=0.0, max_block=1000)
    capped = matching.predict(records, _model(), threshold=0.0, max_block=CROWD)
    pairs = {(p.left, p.right) for p in capped}
    # Uncapped: every pair of the 41 namesakes; capped: the name+city block (41 > 40)
    # no longer blocks, the same phone still pairs the customer with herself.
    assert len({(p.left, p.right) for p in everything}) == (CROWD + 1) * CROWD // 2
    assert pairs == {(1, CROWD + 1)}


def test_new_records_block_as_in_a_full_run() -> None:
    everyone = _records(_crowd())
    new = everyone.filter(pa.compute.equal(everyone.column("unique_id"), CROWD + 1))
    found = matching.predict_new(everyone, new, _model(), threshold=0.0, max_block=CROWD)
    assert {(p.left, p.right) for p in found} == {(1, CROWD + 1)}
    wide = matching.predict_new(everyone, new, _model(), threshold=0.0, max_block=1000)
    assert len(wide) == CROWD


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_the_stored_model_is_left_as_it_is(limit: int) -> None:
    model = _model()
    before = [dict(r) for r in model["blocking_rules_to_generate_predictions"]]
    capped = blocks.cap([_records(_crowd())], model["blocking_rules_to_generate_predictions"],
                        limit=limit)
    narrowed = capped.model(model)
    assert model["blocking_rules_to_generate_predictions"] == before
    assert all("oversized_block_" in r["blocking_rule"]
               for r in narrowed["blocking_rules_to_generate_predictions"])
