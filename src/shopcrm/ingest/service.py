"""The import service the CLI and the API call: format lookup (including generic
mappings), the import itself, and the batch history."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from shopcrm.context import AppContext
from shopcrm.ingest.pipeline import Progress, run_import
from shopcrm.ingest.report import ImportReport
from shopcrm.store.models import ImportBatch


def import_file(
    context: AppContext,
    format_name: str,
    path: Path,
    *,
    mapping: Path | None = None,
    progress: Progress | None = None,
    resolve_identities: bool = True,
) -> ImportReport:
    """Import ``path`` as ``format_name`` ('generic' needs a mapping file), then link
    the records it brought to the customers they belong to."""
    spec = None
    if format_name == "generic" or mapping is not None:
        from shopcrm.ingest.generic import load_mapping

        spec = load_mapping(mapping) if mapping else None
        if spec is None:
            from shopcrm.ingest.errors import ImportFileError

            raise ImportFileError("the generic format needs a column mapping: --mapping FILE")
    report = run_import(context, format_name, path, spec=spec, progress=progress)
    if resolve_identities:
        from shopcrm.identity.service import resolve_after_import

        if progress is not None:
            progress("resolving identities")
        resolve_after_import(context, report)
    return report


def recent_batches(context: AppContext, *, limit: int = 20) -> list[ImportBatch]:
    with context.sessions() as session:
        return list(session.scalars(
            select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)))
