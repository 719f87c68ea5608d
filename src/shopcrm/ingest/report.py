"""What an import tells its user: counts, where the rejects went, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportReport:
    batch_id: int
    format: str
    file: Path
    encoding: str | None = None
    status: str = "running"
    rows_read: int = 0
    imported: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    identities_new: int = 0
    identities_updated: int = 0
    unit: str = "orders"
    """What imported/updated/duplicates count: orders, lines, customers, events, products."""
    rejects_path: Path | None = None
    sample_rejects: list[tuple[int, str]] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)
    message: str | None = None
    touched_identities: list[int] = field(default_factory=list)
    """Identities this import created or changed (identity resolution looks at them)."""
    resolution: dict[str, object] | None = None
    """What the identity resolution after the import did."""

    @property
    def ok(self) -> bool:
        return self.status == "committed"

    def as_dict(self) -> dict[str, object]:
        return {
            "batch_id": self.batch_id,
            "format": self.format,
            "file": str(self.file),
            "encoding": self.encoding,
            "status": self.status,
            "unit": self.unit,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "identities_new": self.identities_new,
            "identities_updated": self.identities_updated,
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
            "sample_rejects": [{"line": ln, "reason": r} for ln, r in self.sample_rejects],
            "unused_columns": self.unused_columns,
            "message": self.message,
            "resolution": self.resolution,
        }
