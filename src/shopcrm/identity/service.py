"""Identity resolution as the application runs it: after every import, and on demand.

An import commits first; resolution runs after it in its own transaction, so a
resolution problem never loses an import (``shopcrm identity resolve`` catches up).
"""

from __future__ import annotations

import logging

from shopcrm.accounts.audit import SYSTEM, Actor
from shopcrm.context import AppContext
from shopcrm.identity.cache import cache_for
from shopcrm.identity.resolve import (
    ResolutionResult,
    ResolutionSettings,
    resolve_full,
    resolve_incremental,
)
from shopcrm.ingest.report import ImportReport

log = logging.getLogger(__name__)


def resolve_everything(context: AppContext, *, retrain: bool = False, actor: Actor = SYSTEM,
                       settings: ResolutionSettings | None = None) -> ResolutionResult:
    with context.sessions.begin() as session:
        return resolve_full(session, now=context.clock.now(), actor=actor, retrain=retrain,
                            settings=settings, cache=cache_for(context.settings.home))


def resolve_after_import(context: AppContext, report: ImportReport) -> None:
    """Resolve what the import touched; record the outcome on the report."""
    if not report.ok or not report.touched_identities:
        return
    try:
        with context.sessions.begin() as session:
            result = resolve_incremental(session, report.touched_identities,
                                         now=context.clock.now(),
                                         cache=cache_for(context.settings.home))
        report.resolution = result.as_dict()
    except Exception as exc:  # the import itself stands; resolution can be re-run
        log.exception("identity resolution after batch %s failed", report.batch_id)
        note = f"identity resolution failed ({exc}); run `shopcrm identity resolve`"
        report.message = f"{report.message}; {note}" if report.message else note
