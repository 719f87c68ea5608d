"""Imports over HTTP: upload a file in a known format; list past batches."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.service import Principal
from shopcrm.api.deps import ContextDep, client_actor, require
from shopcrm.api.schemas import ImportBatchPublic, ImportReportPublic
from shopcrm.ingest.errors import ImportFileError
from shopcrm.ingest.formats import FORMATS
from shopcrm.ingest.service import import_file, recent_batches

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])


@router.post("", response_model=ImportReportPublic, status_code=201)
async def upload_import(
    request: Request,
    context: ContextDep,
    principal: Annotated[Principal, require(Permission.IMPORT_DATA)],
    file: Annotated[UploadFile, File(description="the export file")],
    format: Annotated[str, Form(description="see GET /api/v1/imports/formats")],
) -> ImportReportPublic:
    if format not in FORMATS:
        raise ImportFileError(f"unknown format {format!r}; known: {', '.join(sorted(FORMATS))}")
    suffix = Path(file.filename or "upload").suffix[:10]
    with tempfile.TemporaryDirectory(dir=context.settings.staging_dir) as folder:
        target = Path(folder) / f"upload{suffix}"
        with open(target, "wb") as handle:
            shutil.copyfileobj(file.file, handle, length=8 << 20)
        report = await run_in_threadpool(import_file, context, format, target)
    data = report.as_dict()
    data["file"] = file.filename or target.name
    with context.sessions.begin() as session:
        audit.record(session, client_actor(request, principal), "import",
                     at=context.clock.now(), target_type="import_batch",
                     target_id=str(report.batch_id),
                     details={"format": format, "file": data["file"],
                              "imported": report.imported, "rejected": report.rejected})
    return ImportReportPublic.model_validate(data)


@router.get("/formats")
def formats(
    _: Annotated[Principal, require(Permission.IMPORT_DATA)],
) -> list[dict[str, str]]:
    return [{"name": s.name, "title": s.title, "source": s.source} for s in FORMATS.values()]


@router.get("", response_model=list[ImportBatchPublic])
def batches(context: ContextDep,
            _: Annotated[Principal, require(Permission.IMPORT_DATA)],
            limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[ImportBatchPublic]:
    return [ImportBatchPublic.model_validate(b, from_attributes=True)
            for b in recent_batches(context, limit=limit)]
