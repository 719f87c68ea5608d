"""Writing and listing the Parquet facts.

Each import batch writes whole new files (never rewrites one), then publishes a small
manifest naming them. Readers see only files named by a published manifest, so a
half-written batch is invisible and a reader never waits for a writer. Writers take
an exclusive file lock, so two imports never race on the same new keys.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from shopcrm.warehouse.tables import FactTable

MANIFEST_DIR = "_manifests"
PENDING_SUFFIX = ".pending"


@dataclass
class Manifest:
    """What one batch added: per table, its row count and files (relative to the root)."""

    batch_id: int
    tables: dict[str, dict[str, object]] = field(default_factory=dict)

    def files(self, table: str) -> list[str]:
        entry = self.tables.get(table)
        return list(entry["files"]) if entry else []  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps({"batch_id": self.batch_id, "tables": self.tables}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(batch_id=int(data["batch_id"]), tables=dict(data["tables"]))


class FactStore:
    """The folder of facts: ``<root>/<table>/day=YYYY-MM-DD/b<batch>_<uuid>.parquet``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def manifest_dir(self) -> Path:
        return self.root / MANIFEST_DIR

    def ensure(self) -> None:
        self.manifest_dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time across processes (CLI import, API import, jobs)."""
        self.ensure()
        with open(self.root / ".writer.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def manifests(self) -> list[Manifest]:
        if not self.manifest_dir.exists():
            return []
        found = []
        for path in sorted(self.manifest_dir.glob("b*.json")):
            found.append(Manifest.from_json(path.read_text(encoding="utf-8")))
        return sorted(found, key=lambda m: m.batch_id)

    def pending(self) -> list[Manifest]:
        if not self.manifest_dir.exists():
            return []
        return [
            Manifest.from_json(p.read_text(encoding="utf-8"))
            for p in sorted(self.manifest_dir.glob(f"b*.json{PENDING_SUFFIX}"))
        ]

    def signature(self) -> tuple[str, ...]:
        """Changes whenever a batch is published: cheap cache key for readers."""
        if not self.manifest_dir.exists():
            return ()
        return tuple(sorted(p.name for p in self.manifest_dir.glob("b*.json")))

    def committed_files(self, table: str) -> list[Path]:
        return [self.root / rel for m in self.manifests() for rel in m.files(table)]

    def begin(self, batch_id: int) -> BatchWriter:
        self.ensure()
        return BatchWriter(self, batch_id)

    def recover(self, committed_batch_ids: set[int]) -> list[int]:
        """Finish or undo batches a crash left pending; returns the batches published.

        A pending manifest whose batch the operational store committed is published
        (the crash fell between the two commits); any other pending batch is removed.
        """
        published = []
        for manifest in self.pending():
            writer = BatchWriter(self, manifest.batch_id, manifest)
            if manifest.batch_id in committed_batch_ids:
                writer.publish()
                published.append(manifest.batch_id)
            else:
                writer.abort()
        return published


class BatchWriter:
    """Stages the files of one batch; ``prepare`` then ``publish`` make them visible."""

    def __init__(self, store: FactStore, batch_id: int, manifest: Manifest | None = None) -> None:
        self.store = store
        self.batch_id = batch_id
        self.manifest = manifest or Manifest(batch_id=batch_id)

    @property
    def _pending_path(self) -> Path:
        return self.store.manifest_dir / f"b{self.batch_id:010d}.json{PENDING_SUFFIX}"

    @property
    def _final_path(self) -> Path:
        return self.store.manifest_dir / f"b{self.batch_id:010d}.json"

    def write(self, con: duckdb.DuckDBPyConnection, table: FactTable, relation_sql: str) -> int:
        """Write the rows of ``relation_sql`` (a query over ``con``) as new files of ``table``.

        The query must produce exactly the table's columns; they are selected and cast
        here so every file has the same schema.
        """
        projection = ", ".join(
            f'CAST("{name}" AS {sql_type}) AS "{name}"' for name, sql_type in table.columns
        )
        target = self.store.root / table.name
        target.mkdir(parents=True, exist_ok=True)
        query = f"SELECT {projection} FROM ({relation_sql})"
        pattern = f"b{self.batch_id:010d}_{{uuid}}"
        if table.partitioned_by_day:
            options = (
                "FORMAT parquet, PARTITION_BY (day), APPEND, RETURN_FILES true, "
                f"WRITE_PARTITION_COLUMNS true, FILENAME_PATTERN '{pattern}'"
            )
            result = con.execute(f"COPY ({query}) TO '{target}' ({options})").fetchall()
        else:
            path = target / f"b{self.batch_id:010d}_{os.urandom(8).hex()}.parquet"
            result = con.execute(
                f"COPY ({query}) TO '{path}' (FORMAT parquet, RETURN_FILES true)"
            ).fetchall()
        rows, files = result[0] if result else (0, [])
        if not table.partitioned_by_day and not rows:
            for f in files:
                Path(f).unlink(missing_ok=True)
            files = []
        relative = [str(Path(f).resolve().relative_to(self.store.root.resolve())) for f in files]
        entry = self.manifest.tables.setdefault(table.name, {"rows": 0, "files": []})
        entry["rows"] = int(entry["rows"]) + int(rows)  # type: ignore[call-overload]
        entry["files"] = [*entry["files"], *relative]  # type: ignore[misc]
        return int(rows)

    def prepare(self) -> None:
        """Durably record which files belong to the batch, still invisible to readers."""
        tmp = self._pending_path.with_suffix(".tmp")
        tmp.write_text(self.manifest.to_json(), encoding="utf-8")
        os.replace(tmp, self._pending_path)

    def publish(self) -> None:
        """Make the batch visible: one atomic rename."""
        if self._pending_path.exists():
            os.replace(self._pending_path, self._final_path)
        elif not self._final_path.exists():
            self.prepare()
            os.replace(self._pending_path, self._final_path)

    def abort(self) -> None:
        """Remove every file of the batch (written or half-written) and its manifest."""
        for table_dir in self.store.root.iterdir() if self.store.root.exists() else []:
            if table_dir.is_dir() and table_dir.name != MANIFEST_DIR:
                for path in table_dir.rglob(f"b{self.batch_id:010d}_*.parquet"):
                    path.unlink(missing_ok=True)
        self._pending_path.unlink(missing_ok=True)
