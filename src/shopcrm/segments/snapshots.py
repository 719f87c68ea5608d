"""Feature snapshots: one Parquet file per features run, kept as history.

Layout: ``<home>/warehouse/_features/<run_id>.parquet`` plus ``<run_id>.json`` (as-of
time, settings, counts). A run is written to a hidden temporary file and made visible
by an atomic rename, after its metadata, so a reader sees a run completely or not at
all. Run IDs start with the UTC time the run started (``20261120T020000000000Z-ab12cd``)
and sort in run order. Nothing is ever rewritten; :meth:`FeatureStore.prune` is the only
way runs go away.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES_DIR = "_features"
COMPARED = ("stage", "quadrant", "tier", "rfm_cn", "rfm_en", "r_score", "f_score", "m_score")
"""The columns :func:`diff_runs` compares by default: what segments and journeys act on."""


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path
    meta: dict[str, Any]

    @property
    def as_of(self) -> datetime:
        return datetime.fromisoformat(self.meta["as_of"])


def new_run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:6]}"


class FeatureStore:
    """The snapshots of a shop's features table."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def run_lock(self) -> Iterator[None]:
        """One features run at a time across processes, so two runs never compare with
        the same previous snapshot and record the same transitions twice."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".run.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def runs(self) -> list[Run]:
        """Every visible run, oldest first."""
        if not self.root.exists():
            return []
        found = []
        for path in sorted(self.root.glob("*.parquet")):
            if path.name.startswith("."):
                continue
            meta_path = path.with_suffix(".json")
            meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
            found.append(Run(path.stem, path, meta))
        return found

    def latest(self) -> Run | None:
        runs = self.runs()
        return runs[-1] if runs else None

    def get(self, run_id: str) -> Run:
        path = self.root / f"{run_id}.parquet"
        if "/" in run_id or run_id.startswith(".") or not path.exists():
            raise KeyError(f"no features run {run_id!r}")
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        return Run(run_id, path, meta)

    def write(self, run_id: str, data: pa.Table, meta: dict[str, Any]) -> Run:
        """Write a run and make it visible atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"{run_id}.parquet"
        if final.exists():
            raise FileExistsError(f"features run {run_id} already exists")
        tmp = self.root / f".{run_id}.parquet.tmp"
        pq.write_table(data, tmp, compression="zstd")
        meta_tmp = self.root / f".{run_id}.json.tmp"
        meta_tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=str),
                            encoding="utf-8")
        for path in (tmp, meta_tmp):
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(meta_tmp, final.with_suffix(".json"))
        os.replace(tmp, final)
        return Run(run_id, final, meta)

    def read(self, run: Run, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(run.path, columns=columns)

    def table(self, run: Run, columns: list[str] | None = None) -> ir.Table:
        """A run as an Ibis table (run it with ``warehouse.execute``)."""
        return ibis.memtable(self.read(run, columns))

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` runs; returns the deleted run IDs."""
        if keep < 1:
            raise ValueError("keep at least one run")
        doomed = self.runs()[:-keep]
        for run in doomed:
            run.path.unlink(missing_ok=True)
            run.path.with_suffix(".json").unlink(missing_ok=True)
        return [r.run_id for r in doomed]


def diff_runs(before: ir.Table, after: ir.Table,
              columns: tuple[str, ...] = COMPARED) -> ir.Table:
    """Customers whose ``columns`` differ between two runs.

    One row per changed customer: ``change`` is ``entered`` (only in ``after``), ``left``
    (only in ``before``) or ``changed``, with ``<column>_before`` / ``<column>_after``.
    Nulls compare equal to nulls.
    """
    b = before.select("customer_id", *columns).mutate(_in_before=ibis.literal(True))
    a = after.select("customer_id", *columns).mutate(_in_after=ibis.literal(True))
    b = b.rename({f"{c}_before": c for c in columns})
    a = a.rename({f"{c}_after": c for c in columns}).rename(customer_id_after="customer_id")
    joined = b.outer_join(a, b.customer_id == a.customer_id_after)
    cid = ibis.coalesce(joined.customer_id, joined.customer_id_after)
    differs = ibis.literal(False)
    for c in columns:
        differs = differs | ~joined[f"{c}_before"].identical_to(joined[f"{c}_after"])
    change = ibis.cases((joined._in_before.isnull(), "entered"),
                        (joined._in_after.isnull(), "left"), else_="changed")
    out = joined.mutate(customer_id=cid, change=change).filter(
        joined._in_before.isnull() | joined._in_after.isnull() | differs)
    cols = ["customer_id", "change"]
    for c in columns:
        cols += [f"{c}_before", f"{c}_after"]
    return out.select(*cols).order_by("customer_id")


def transitions(before: ir.Table | None, after: ir.Table) -> ir.Table:
    """Lifecycle moves: customers whose stage differs from the previous run (or who are new
    to the features table: ``from_stage`` null)."""
    a = after.select("customer_id", to_stage=after.stage)
    if before is None:
        return a.mutate(from_stage=ibis.null("string")).select(
            "customer_id", "from_stage", "to_stage")
    b = before.select(prev_id=before.customer_id, from_stage=before.stage)
    joined = a.left_join(b, a.customer_id == b.prev_id)
    return joined.filter(~joined.from_stage.identical_to(joined.to_stage)).select(
        "customer_id", "from_stage", "to_stage").order_by("customer_id")
