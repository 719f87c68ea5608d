"""Same seed → byte-identical files; another seed → other files; small runs are quick."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

import shopcrm.demo.generate as generate_module
from shopcrm.demo import generate_demo_shop

TODAY = date(2026, 11, 20)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    started = time.perf_counter()
    first = generate_demo_shop(tmp_path / "a", customers=300, seed=5, today=TODAY)
    elapsed = time.perf_counter() - started
    generate_demo_shop(tmp_path / "b", customers=300, seed=5, today=TODAY)
    generate_demo_shop(tmp_path / "c", customers=300, seed=6, today=TODAY)
    a, b, c = (_snapshot(tmp_path / name) for name in "abc")
    expected = {f.path.name for f in first.files} | {"ground_truth.csv"}
    assert set(a) == expected
    assert a == b
    for name in expected:
        if name != "products.csv":  # the catalogue is seeded too, but compare the shop
            assert a[name] != c[name], name
    assert elapsed < 10, f"300 customers took {elapsed:.1f} s"


def test_progress_is_reported(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    generate_demo_shop(tmp_path, customers=50, seed=1, today=TODAY,
                       progress=lambda step, done, total: calls.append((step, done, total)))
    steps = [c[0] for c in calls]
    assert steps[0] == "persons" and steps[-1] == "writing"
    assert ("persons", 50, 50) in calls
    last = calls[-1]
    assert last[1] == last[2]


def test_other_day_other_history(tmp_path: Path) -> None:
    manifest = generate_demo_shop(tmp_path, customers=40, seed=1, today=date(2025, 3, 1))
    events = next(f.path for f in manifest.files if f.format == "events")
    moments = [json.loads(line)["occurred_at"]
               for line in events.read_text(encoding="utf-8").splitlines()]
    assert max(moments) < "2025-03-01"
    assert min(moments) >= "2022-01-01"
    assert manifest.persons == 40


def test_spilling_to_disk_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big shops spill weekly buckets to disk; the files must come out the same."""
    generate_demo_shop(tmp_path / "memory", customers=120, seed=9, today=TODAY)
    monkeypatch.setattr(generate_module, "_SPILL_LIMIT", 300)
    generate_demo_shop(tmp_path / "disk", customers=120, seed=9, today=TODAY)
    assert _snapshot(tmp_path / "memory") == _snapshot(tmp_path / "disk")
