"""The import's phone look-up (DuckDB fast path + Python) agrees with normalize_phone."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from shopcrm.ingest.identities import _phone_lookup
from shopcrm.ingest.normalize import normalize_phone

SAMPLES = [
    "13812345678", "+8613812345678", "12012345678", "10012345678", "16101234567",
    "17405012345", "17406012345", "1381234567", "138123456789", "１３８１２３４５６７８",
    "138****5678", "138 1234 5678", "'13812345678", "0086-13812345678", "", "abc",
    "+1 415 555 2671", "19912345678", "14712345678", "14812345678",
]


def _lookup(values: list[str]) -> dict[str, tuple[str | None, str | None]]:
    con = duckdb.connect()
    try:
        con.register("good_arrow", pa.table({
            "identity_key": pa.array(["k"] * len(values), pa.string()),
            "phone": pa.array(values, pa.string()),
            "phone2": pa.array(list(reversed(values)), pa.string()),
        }))
        con.execute("CREATE TABLE good AS SELECT * FROM good_arrow")
        _phone_lookup(con)
        rows = con.execute("SELECT v, e164, masked FROM _phones").fetchall()
    finally:
        con.close()
    assert len(rows) == len({v for v in values if v is not None})
    return {v: (e164, masked) for v, e164, masked in rows}


def _expected(value: str) -> tuple[str | None, str | None]:
    phone = normalize_phone(value)
    return (phone.value if phone.kind == "e164" else None,
            phone.value if phone.kind == "masked" else None)


def test_lookup_matches_normalize_phone_on_samples() -> None:
    found = _lookup(SAMPLES)
    for value in SAMPLES:
        assert found[value] == _expected(value), value


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
    st.from_regex(r"\+?86[ -]?1[0-9]{2}[ *-]?[0-9*]{4}[ -]?[0-9]{4}", fullmatch=True),
    st.text(alphabet="0123456789１２３*+- ", min_size=0, max_size=14),
), min_size=1, max_size=30))
def test_lookup_matches_normalize_phone(values: list[str]) -> None:
    found = _lookup(values)
    for value in values:
        assert found[value] == _expected(value), value
