"""One import, start to finish, all or nothing.

Order of effects, chosen so a crash at any point leaves no half-written data:
1. a batch row is recorded as ``running`` (its own small transaction);
2. the file is loaded, cleaned and checked in a scratch DuckDB database;
3. in ONE operational transaction: identities are upserted, fact files are written
   (invisible: no published manifest yet), the manifest is prepared, the batch is
   marked ``committed``; then the manifest is published with an atomic rename.
A crash before the commit leaves only unreferenced files (removed on next start);
a crash between commit and publish is finished on next start
(:func:`shopcrm.context.recover_pending_batches`).
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import update
from sqlalchemy.orm import Session

from shopcrm.context import AppContext
from shopcrm.ingest.assemble import assemble
from shopcrm.ingest.clean import build_clean, widen
from shopcrm.ingest.errors import ImportFileError
from shopcrm.ingest.facts_out import classify, events_sql, items_sql, orders_sql, products_sql
from shopcrm.ingest.fields import EVENT_TYPE_ALIASES, EVENT_TYPES
from shopcrm.ingest.formats import get_format
from shopcrm.ingest.formats.base import FormatSpec, Grain, header_key, match_headers
from shopcrm.ingest.identities import collect_identities
from shopcrm.ingest.identity_keys import collect_keys, upsert_keys
from shopcrm.ingest.identity_upsert import find_stored, upsert_identities
from shopcrm.ingest.regions import build_good
from shopcrm.ingest.report import ImportReport
from shopcrm.ingest.sources import LoadedSource, load_csv, load_jsonl, load_xlsx, sniff
from shopcrm.ingest.sqlclean import install_macros
from shopcrm.store.bulk import bulk_cache, indexes_set_aside
from shopcrm.store.models import ImportBatch
from shopcrm.warehouse.facts import BatchWriter
from shopcrm.warehouse.tables import EVENTS, ORDER_ITEMS, ORDERS, PRODUCTS, FactTable

Progress = Callable[[str], None]

UNITS = {
    Grain.ORDERS: "orders",
    Grain.LINES: "orders",
    Grain.ITEMS: "lines",
    Grain.CUSTOMERS: "customers",
    Grain.EVENTS: "events",
    Grain.PRODUCTS: "products",
}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def run_import(
    context: AppContext,
    format_name: str,
    path: Path,
    *,
    spec: FormatSpec | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one file; raises :class:`ImportFileError` when the file as a whole is refused.

    Row-level problems never raise: they are counted, written to the rejects file
    and sampled into the report.
    """
    spec = spec or get_format(format_name)
    step = progress or (lambda _msg: None)
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"no such file: {path}")
    try:
        sniff(path)  # refuse an empty, binary or undecodable file before reading it whole
    except ImportFileError as exc:
        _record_refusal(context, spec, path, exc)
        raise
    step("checksum")
    # The checksum is only recorded: it is computed on a thread (hashlib releases the
    # GIL) while the file is loaded, and stored with the batch's outcome.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-sha256") as pool:
        checksum = pool.submit(file_sha256, path)
        return _import_batch(context, spec, path, step, checksum)


def _import_batch(context: AppContext, spec: FormatSpec, path: Path, step: Progress,
                  checksum: Future[str]) -> ImportReport:
    batch_id = _start_batch(context, spec, path)
    report = ImportReport(batch_id=batch_id, format=spec.name, file=path, unit=UNITS[spec.grain])
    scratch = context.settings.staging_dir / f"import-{batch_id}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with context.facts.writer_lock():
            _run(context, spec, path, report, scratch, step, checksum)
    except Exception as exc:
        report.status = "failed"
        report.message = str(exc) if isinstance(exc, ImportFileError) else (
            f"{type(exc).__name__}: {exc}")
        _finish_batch(context, report, checksum)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def _start_batch(context: AppContext, spec: FormatSpec, path: Path) -> int:
    with context.sessions.begin() as session:
        batch = ImportBatch(
            format=spec.name,
            file_name=path.name,
            file_sha256="",
            file_size=path.stat().st_size,
            status="running",
            started_at=context.clock.now(),
        )
        session.add(batch)
        session.flush()
        return int(batch.id)


def _record_refusal(context: AppContext, spec: FormatSpec, path: Path,
                    exc: ImportFileError) -> None:
    with context.sessions.begin() as session:
        now = context.clock.now()
        session.add(ImportBatch(
            format=spec.name, file_name=path.name, file_sha256="", file_size=path.stat().st_size,
            status="failed", started_at=now, finished_at=now, message=str(exc)))


def _finish_batch(context: AppContext, report: ImportReport, checksum: Future[str]) -> None:
    try:
        digest = checksum.result()
    except OSError:
        digest = ""
    with context.sessions.begin() as session:
        session.execute(
            update(ImportBatch).where(ImportBatch.id == report.batch_id).values(
                status=report.status,
                file_sha256=digest,
                finished_at=context.clock.now(),
                encoding=report.encoding,
                rows_read=report.rows_read,
                imported=report.imported,
                updated=report.updated,
                rejected=report.rejected,
                duplicates=report.duplicates,
                identities_new=report.identities_new,
                identities_updated=report.identities_updated,
                rejects_path=str(report.rejects_path) if report.rejects_path else None,
                message=report.message,
            )
        )


SESSION_SETTINGS = ("SET TimeZone = 'UTC'", "SET enable_progress_bar = false")
"""Settings each DuckDB connection (or cursor) of an import has for itself."""


def _connect_scratch(scratch: Path) -> duckdb.DuckDBPyConnection:
    # In memory, spilling to the scratch folder past the limit: a 2 GB export still fits
    # in bounded memory, and small ones never touch the disk.
    con = duckdb.connect(":memory:")
    con.execute("SET memory_limit = '1200MB'")
    con.execute(f"SET temp_directory = '{scratch / 'spill'}'")
    con.execute("SET preserve_insertion_order = true")
    for setting in SESSION_SETTINGS:
        con.execute(setting)
    return con


def _load(con: duckdb.DuckDBPyConnection, spec: FormatSpec, path: Path,
          scratch: Path) -> LoadedSource:
    kind = sniff(path).kind
    if kind == "xlsx":
        if "xlsx" not in spec.file_kinds:
            raise ImportFileError(f"{spec.title}: expected CSV, got an .xlsx workbook")
        return load_xlsx(con, path)
    if "jsonl" in spec.file_kinds and _looks_like_jsonl(path):
        return load_jsonl(con, path)
    return load_csv(con, path, scratch)


def _looks_like_jsonl(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _run(context: AppContext, spec: FormatSpec, path: Path, report: ImportReport,
         scratch: Path, step: Progress, checksum: Future[str]) -> None:
    con = _connect_scratch(scratch)
    try:
        step("reading")
        loaded = _load(con, spec, path, scratch)
        # Every row carries its line from here on and every ordered output sorts on it,
        # so later tables need not keep their input's order (which costs parallelism).
        con.execute("SET preserve_insertion_order = false")
        report.encoding = loaded.encoding
        report.rows_read = loaded.rows + len(loaded.parse_rejects)
        match = match_headers(spec, loaded.columns)
        if not match.columns:
            raise ImportFileError(
                f"this does not look like a {spec.title}: none of its columns were found "
                f"(the file has: {', '.join(loaded.columns[:12])})", line=1)
        if match.missing:
            wanted = "; ".join(
                f"{field} (accepted: {' / '.join(spec.columns[field])})" for field in match.missing)
            raise ImportFileError(f"missing required column(s): {wanted}", line=1)
        report.unused_columns = [c for c in match.unused if header_key(c)]
        step("cleaning")
        install_macros(con, context.settings.timezone)
        build_clean(con, spec, match)
        if spec.grain is Grain.EVENTS:
            _normalise_event_types(con)
        assemble(con, spec)
        build_good(con, spec)
        # Only ``good``, ``rejected`` and ``raw`` (for the rejects file) are read from here
        # on: freeing the typed copies keeps the store phase's peak memory down.
        con.execute("DROP VIEW IF EXISTS checked_v")
        con.execute("DROP VIEW IF EXISTS clean_v")
        con.execute("DROP TABLE IF EXISTS checked")
        con.execute("DROP TABLE IF EXISTS clean")
        step("identities")
        with context.sessions.begin() as session:
            writer = context.facts.begin(report.batch_id)
            try:
                with bulk_cache(session.connection()):
                    _store_and_write(con, context, session, spec, report, scratch, writer, step)
                step("rejects")
                _write_rejects(con, context, loaded, report)
                report.status = "committed"
                writer.prepare()
                session.execute(
                    update(ImportBatch).where(ImportBatch.id == report.batch_id).values(
                        status="committed", finished_at=context.clock.now(),
                        file_sha256=checksum.result(),
                        encoding=report.encoding, rows_read=report.rows_read,
                        imported=report.imported, updated=report.updated,
                        rejected=report.rejected, duplicates=report.duplicates,
                        identities_new=report.identities_new,
                        identities_updated=report.identities_updated,
                        rejects_path=str(report.rejects_path) if report.rejects_path else None,
                    )
                )
            except BaseException:
                writer.abort()
                raise
        writer.publish()
    finally:
        con.close()


IDENTITY_TABLES = ("customers", "source_identities", "identity_keys")


def _store_and_write(con: duckdb.DuckDBPyConnection, context: AppContext, session: Session,
                     spec: FormatSpec, report: ImportReport, scratch: Path, writer: BatchWriter,
                     step: Progress) -> None:
    """Identities and keys to the store, facts to Parquet — at the same time.

    The facts need only the identity map (``_idmap``), known once the identities are
    written: from then on they are written on a DuckDB cursor of their own, on a thread,
    while this thread loads the keys and builds the indexes. A batch that at least
    doubles the identities (a shop's first import) loads the identity tables with their
    secondary indexes set aside, built again after.
    """
    collect_identities(con, spec)
    connection = session.connection()
    stored = find_stored(connection, con, scratch)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-facts") as pool:
        facts: Future[None] | None = None
        cursor = con.cursor()
        for setting in SESSION_SETTINGS:
            cursor.execute(setting)
        try:
            with indexes_set_aside(connection, IDENTITY_TABLES, when=stored.first_load):
                upsert = upsert_identities(session, con, stored, batch_id=report.batch_id,
                                           now=context.clock.now(), scratch=scratch)
                report.identities_new, report.identities_updated = upsert.new, upsert.updated
                step("writing facts")
                facts = pool.submit(_write_facts, cursor, context, spec, report, writer)
                collect_keys(con, spec)
                with_new_keys = upsert_keys(session, con, scratch)
        finally:
            if facts is not None:
                wait([facts])  # the writer's files are aborted only once it has stopped
            cursor.close()
        facts.result()
    report.touched_identities = sorted(with_new_keys | upsert.touched)


def _normalise_event_types(con: duckdb.DuckDBPyConnection) -> None:
    raws = [r[0] for r in con.execute(
        "SELECT DISTINCT event_type FROM clean_v WHERE event_type IS NOT NULL").fetchall()]
    mapped = []
    for raw in raws:
        key = header_key(raw).replace("-", "_")
        mapped.append(key if key in EVENT_TYPES else EVENT_TYPE_ALIASES.get(key))
    con.register("_event_types", pa.table({
        "raw": pa.array(raws, pa.string()), "mapped": pa.array(mapped, pa.string())}))
    con.execute(
        "UPDATE clean SET _problems = concat_ws('; ', _problems, "
        "'event_type: unknown event type \"' || clean.event_type || '\"') "
        "FROM _event_types t WHERE clean.event_type = t.raw AND t.mapped IS NULL")
    con.execute("UPDATE clean SET event_type = t.mapped FROM _event_types t "
                "WHERE clean.event_type = t.raw AND t.mapped IS NOT NULL")
    con.unregister("_event_types")


def _write_facts(con: duckdb.DuckDBPyConnection, context: AppContext, spec: FormatSpec,
                 report: ImportReport, writer: BatchWriter) -> None:
    facts = context.facts

    def stage_and_write(table: FactTable, sql: str, *, count: bool) -> None:
        staged = classify(con, table, sql, f"stage_{table.name}_cls",
                          facts.committed_files(table.name))
        if count:
            # Orders count once per order; a line import counts its lines.
            keys = ", ".join(table.version_key)
            counted = "count(*)" if spec.grain is Grain.ITEMS else f"count(DISTINCT ({keys}))"
            counts = staged.counts(con, counted)
            report.imported = int(counts.get("new", 0))
            report.updated = int(counts.get("changed", 0))
            report.duplicates = int(counts.get("same", 0))
        writer.write(
            con, table,
            f"SELECT *, {report.batch_id}::BIGINT AS batch_id FROM ({staged.rows_sql})",
        )

    if spec.grain in (Grain.ORDERS, Grain.LINES):
        stage_and_write(ORDERS, orders_sql(spec), count=True)
        items = items_sql(spec, facts.committed_files(ORDERS.name))
        if items:
            stage_and_write(ORDER_ITEMS, items, count=False)
    elif spec.grain is Grain.ITEMS:
        items = items_sql(spec, facts.committed_files(ORDERS.name))
        assert items is not None
        stage_and_write(ORDER_ITEMS, items, count=True)
    elif spec.grain is Grain.EVENTS:
        before = _scalar(con, "SELECT count(*) FROM good")
        # A table of its own, not a new ``good_t``: the store's thread may still read ``good``.
        con.execute(
            "CREATE OR REPLACE TABLE good_events_t AS SELECT t.* FROM good_t t "
            "JOIN good g USING (_line) "
            "QUALIFY row_number() OVER (PARTITION BY coalesce(g.source, ''), "
            "coalesce(g.event_id, CAST(_line AS VARCHAR)) ORDER BY _line) = 1")
        widen(con, "good_events_t", "good_events")
        within_file = before - _scalar(con, "SELECT count(*) FROM good_events")
        stage_and_write(EVENTS, events_sql(spec, "good_events"), count=True)
        con.execute("DROP VIEW good_events")
        con.execute("DROP TABLE good_events_t")
        report.duplicates += within_file
    elif spec.grain is Grain.PRODUCTS:
        stage_and_write(PRODUCTS, products_sql(), count=True)
    elif spec.grain is Grain.CUSTOMERS:
        report.imported = report.identities_new
        report.updated = report.identities_updated
        good = _scalar(con, "SELECT count(*) FROM good")
        report.duplicates = max(0, good - report.imported - report.updated)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()
    row = rows[0] if rows else None
    return int(row[0]) if row else 0


def _write_rejects(con: duckdb.DuckDBPyConnection, context: AppContext, loaded: LoadedSource,
                   report: ImportReport) -> None:
    """Rejects as a CSV a person can open in Excel: line, reason, then the row as read."""
    value_rejects = _scalar(con, "SELECT count(*) FROM rejected")
    report.rejected = value_rejects + len(loaded.parse_rejects)
    if report.rejected == 0:
        return
    target = context.settings.rejects_dir / f"batch-{report.batch_id}-rejects.csv"
    columns = loaded.columns
    projection = ", ".join('r."' + c.replace('"', '""') + '"' for c in columns)
    cursor = con.execute(
        f"SELECT j._line, j.reason{', ' + projection if projection else ''} "
        "FROM rejected j JOIN raw_lines r USING (_line) ORDER BY j._line")
    with open(target, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", *columns])
        parse = sorted(loaded.parse_rejects)
        for line, reason, text in parse:
            writer.writerow([line, reason, text])
            if len(report.sample_rejects) < 20:
                report.sample_rejects.append((line, reason))
        while rows := cursor.fetchmany(10_000):
            for row in rows:
                writer.writerow(row)
                if len(report.sample_rejects) < 20:
                    report.sample_rejects.append((int(row[0]), str(row[1])))
    report.sample_rejects.sort()
    report.rejects_path = target
