"""Feature snapshots: atomic publication, history, lookup, pruning, settings files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from shopcrm.segments.settings import (
    LifecycleSettings,
    SegmentSettings,
    load_settings,
    save_settings,
    settings_path,
)
from shopcrm.segments.snapshots import FeatureStore, new_run_id


def _data(stage: str) -> pa.Table:
    return pa.table({"customer_id": [1, 2], "stage": [stage, "new"]})


def test_runs_are_visible_whole_and_kept_in_order(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "_features")
    assert store.runs() == [] and store.latest() is None
    first = new_run_id(datetime(2026, 1, 1, tzinfo=UTC))
    second = new_run_id(datetime(2026, 2, 1, tzinfo=UTC))
    store.write(second, _data("active"), {"as_of": "2026-02-01T00:00:00+00:00"})
    store.write(first, _data("new"), {"as_of": "2026-01-01T00:00:00+00:00"})
    assert [r.run_id for r in store.runs()] == [first, second]
    latest = store.latest()
    assert latest is not None and latest.run_id == second
    assert store.read(latest)["stage"].to_pylist() == ["active", "new"]
    assert latest.as_of == datetime(2026, 2, 1, tzinfo=UTC)
    # no temporary files are left, and a half-written file is never listed
    (store.root / ".half.parquet.tmp").write_bytes(b"PAR1")
    assert len(store.runs()) == 2
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")
                and p.name != ".half.parquet.tmp"]
    with pytest.raises(FileExistsError):
        store.write(first, _data("x"), {})


def test_lookup_and_prune(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "_features")
    ids = [new_run_id(datetime(2026, m, 1, tzinfo=UTC)) for m in (1, 2, 3)]
    for run_id in ids:
        store.write(run_id, _data("new"), {"as_of": "2026-01-01T00:00:00+00:00"})
    assert store.get(ids[1]).run_id == ids[1]
    for bad in ("nope", "../x", ".hidden"):
        with pytest.raises(KeyError):
            store.get(bad)
    assert store.prune(keep=1) == ids[:2]
    assert [r.run_id for r in store.runs()] == ids[2:]
    with pytest.raises(ValueError):
        store.prune(keep=0)


def test_settings_file_round_trip_and_validation(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == SegmentSettings()
    custom = SegmentSettings(lifecycle=LifecycleSettings(new_days=14), windows=(3, 30))
    save_settings(tmp_path, custom)
    assert load_settings(tmp_path) == custom
    settings_path(tmp_path).write_text('{"windows": [0]}', encoding="utf-8")
    with pytest.raises(ValidationError):
        load_settings(tmp_path)
