"""Getting the rows of an export into DuckDB as text, each with its line number.

Shop exports arrive as GB18030/GBK or UTF-8 (with or without BOM) CSV, as .xlsx, or
as JSON lines. Everything is loaded as VARCHAR: typing and cleaning happen later,
vectorised, where every failure can be reported with the line it came from.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from shopcrm.ingest.errors import ImportFileError

SAMPLE_BYTES = 1 << 20
CHUNK_BYTES = 8 << 20
LINE_COLUMN = "_line"


@dataclass(frozen=True)
class LoadedSource:
    """The raw rows, now table ``raw`` in DuckDB: text columns plus ``_line``."""

    columns: list[str]
    rows: int
    encoding: str
    parse_rejects: list[tuple[int, str, str]]
    """Rows the CSV parser itself could not read: (line, reason, raw text)."""


@dataclass(frozen=True)
class Sniffed:
    kind: str  # csv | xlsx
    encoding: str


def sniff(path: Path) -> Sniffed:
    """Decide what the file is from its first bytes, refusing what cannot be read."""
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError("the file is empty")
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return Sniffed("xlsx", "xlsx")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            "this is an old Excel .xls file: open it in Excel or WPS and save it as .xlsx or CSV"
        )
    if head.startswith(codecs.BOM_UTF8):
        return Sniffed("csv", "utf-8-sig")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Sniffed("csv", "utf-16")
    if b"\x00" in head:
        raise ImportFileError("the file is binary, not a text export (it contains NUL bytes)")
    sample = head if len(head) < SAMPLE_BYTES else head[: head.rfind(b"\n") + 1] or head
    # A damaged byte or a truncated last character must not sink the whole file: pick
    # the encoding that decodes the sample with the fewest errors, refuse only garbage.
    damage = {enc: _decoding_errors(sample, enc) for enc in ("utf-8", "gb18030")}
    best = min(damage, key=lambda enc: (damage[enc], enc != "utf-8"))
    if damage[best] <= max(2, len(sample) // 1000):
        return Sniffed("csv", best)
    line = _line_of_bad_byte(sample, best)
    raise ImportFileError("the text is neither UTF-8 nor GB18030/GBK", line=line)


def _decoding_errors(data: bytes, encoding: str) -> int:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(data, final=False).count("\ufffd")


def _line_of_bad_byte(data: bytes, encoding: str) -> int:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 1


def transcode_to_utf8(path: Path, encoding: str, target: Path) -> int:
    """Stream-convert a file to UTF-8; returns the number of characters replaced.

    Undecodable bytes become U+FFFD so one damaged line does not sink the file;
    rows containing U+FFFD are rejected later with a clear reason.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    replaced = 0
    with open(path, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            text = decoder.decode(chunk)
            replaced += text.count("\ufffd")
            dst.write(text.encode("utf-8"))
        text = decoder.decode(b"", final=True)
        replaced += text.count("\ufffd")
        dst.write(text.encode("utf-8"))
    return replaced


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def load_csv(con: duckdb.DuckDBPyConnection, path: Path, staging: Path) -> LoadedSource:
    """Load a CSV export (any supported encoding) into table ``raw``."""
    sniffed = sniff(path)
    if sniffed.kind != "csv":
        raise ImportFileError(f"expected a CSV text file, found {sniffed.kind}")
    utf8_path = path
    # DuckDB reads UTF-8 itself and skips a leading BOM, so only other encodings pay for
    # a converted copy (2.2 s per million rows for a BOM file, for nothing).
    if sniffed.encoding not in ("utf-8", "utf-8-sig"):
        utf8_path = staging / f"{path.stem}.utf8.csv"
        transcode_to_utf8(path, sniffed.encoding, utf8_path)
    with open(utf8_path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        first_line = handle.readline()
    if not first_line.strip():
        raise ImportFileError("the file has no header row", line=1)
    delimiter = _delimiter(first_line)
    try:
        _read_into_raw(con, utf8_path, delimiter)
    except duckdb.InvalidInputException as exc:
        if "unicode" not in str(exc).lower() or utf8_path != path:
            raise ImportFileError(f"the CSV cannot be read: {_first_line(exc)}") from exc
        # A UTF-8 sample with bad bytes further down: read it with replacement characters.
        utf8_path = staging / f"{path.stem}.utf8.csv"
        transcode_to_utf8(path, "utf-8", utf8_path)
        _read_into_raw(con, utf8_path, delimiter)
    if utf8_path == path and sniffed.encoding == "utf-8-sig" and _bad_encoding_rows(con):
        # A damaged BOM file was always read from a converted copy, its bad bytes turned
        # into U+FFFD and rejected value by value with the column named: keep that, rather
        # than DuckDB's whole-row "invalid encoding" parse rejects.
        utf8_path = staging / f"{path.stem}.utf8.csv"
        transcode_to_utf8(path, "utf-8-sig", utf8_path)
        _read_into_raw(con, utf8_path, delimiter)
    columns = [c for c in _raw_columns(con) if c != LINE_COLUMN]
    if LINE_COLUMN in columns or len(set(columns)) != len(columns):
        raise ImportFileError(
            f"the header repeats a column or uses the reserved name {LINE_COLUMN}", line=1)
    rejects = _parse_rejects(con)
    total_records = int(_scalar(con, "SELECT count(*) FROM raw")) + len(rejects)
    physical = _count_newlines(utf8_path)
    line_map = _record_to_physical_line(utf8_path, delimiter, total_records, physical)
    _number_lines(con, rejects, total_records, line_map)
    parse_rejects = [
        (line_map(ordinal) if line_map else ordinal, reason, text)
        for ordinal, reason, text in rejects
    ]
    rows = int(_scalar(con, "SELECT count(*) FROM raw"))
    if rows == 0 and not parse_rejects:
        raise ImportFileError("the file has a header but no data rows")
    return LoadedSource(columns, rows, sniffed.encoding, parse_rejects)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.execute(sql).fetchall()
    row = rows[0] if rows else None
    return row[0] if row else None


def _read_into_raw(con: duckdb.DuckDBPyConnection, path: Path, delimiter: str) -> None:
    con.execute("DROP TABLE IF EXISTS raw")
    # Each read_csv appends to the reject tables: a second read must not inherit the
    # first one's parse rejects.
    con.execute("DROP TABLE IF EXISTS reject_errors")
    con.execute("DROP TABLE IF EXISTS reject_scans")
    con.execute(
        "CREATE TABLE raw AS SELECT * FROM read_csv(?, all_varchar=true, header=true, "
        "delim=?, quote='\"', escape='\"', ignore_errors=true, store_rejects=true, "
        "strict_mode=true, max_line_size=10000000)",
        [str(path), delimiter],
    )


def _bad_encoding_rows(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        return bool(_scalar(con, "SELECT count(*) FROM reject_errors "
                                 "WHERE error_type IN ('INVALID ENCODING', 'INVALID UNICODE')"))
    except duckdb.CatalogException:
        return False


def _raw_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("DESCRIBE raw").fetchall()]


def _parse_rejects(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str]]:
    try:
        rows = con.execute(
            "SELECT line, error_type, error_message, csv_line FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.CatalogException:
        return []
    seen: dict[int, tuple[int, str, str]] = {}
    for line, error_type, message, text in rows:
        reason = _csv_reason(str(error_type), str(message))
        seen.setdefault(int(line), (int(line), reason, str(text or "")))
    return list(seen.values())


def _csv_reason(error_type: str, message: str) -> str:
    kinds = {
        "MISSING COLUMNS": "too few columns (truncated or broken row)",
        "TOO MANY COLUMNS": "too many columns (an unquoted separator?)",
        "UNQUOTED VALUE": "a quote character inside an unquoted value",
        "LINE SIZE OVER MAXIMUM": "the row is too long",
        "INVALID UNICODE": "invalid characters for the file's encoding",
    }
    detail = message.split(". ")[0]
    return f"{kinds.get(error_type, error_type.lower())}: {detail}"


def _count_newlines(path: Path) -> int:
    count = 0
    last = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last in (b"\n", b"") else 1)


LineMap = Any  # Callable[[int], int] | None


def _record_to_physical_line(
    path: Path, delimiter: str, total_records: int, physical_lines: int
) -> LineMap:
    """Records equal physical lines unless a quoted value spans lines; then map them.

    Only files with multi-line values (a buyer's note with a line break) pay for the
    extra pass, and the pass keeps one integer per record.
    """
    if physical_lines == total_records + 1:
        return None
    starts = np.zeros(total_records + 2, dtype=np.int64)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        ordinal = 2
        line_before = reader.line_num
        for _row in reader:
            if ordinal < len(starts):
                starts[ordinal] = line_before + 1
            line_before = reader.line_num
            ordinal += 1

    return _LineMap(starts)


class _LineMap:
    """Record ordinal → physical line of its start (ordinals past the table map to themselves)."""

    def __init__(self, starts: np.ndarray) -> None:
        self.starts = starts

    def __call__(self, record_ordinal: int) -> int:
        if 0 <= record_ordinal < len(self.starts) and self.starts[record_ordinal]:
            return int(self.starts[record_ordinal])
        return record_ordinal

    def physical(self, ordinals: np.ndarray) -> np.ndarray:
        inside = (ordinals >= 0) & (ordinals < len(self.starts))
        found = np.zeros(len(ordinals), dtype=np.int64)
        found[inside] = self.starts[ordinals[inside]]
        return np.where(found != 0, found, ordinals).astype(np.int64)


def _number_lines(
    con: duckdb.DuckDBPyConnection,
    rejects: list[tuple[int, str, str]],
    total_records: int,
    line_map: LineMap,
) -> None:
    """View ``raw_lines``: ``raw`` plus ``_line``, the physical line each record starts on."""
    if not rejects and line_map is None:
        # Records are lines: the table's rowid (insertion order) gives the line directly
        # (and no array of a million ordinals is built: 0.8 s per million rows).
        con.execute(f"CREATE OR REPLACE VIEW raw_lines AS SELECT *, rowid + 2 AS {LINE_COLUMN} "
                    "FROM raw")
        return
    rejected = np.array(sorted(r[0] for r in rejects), dtype=np.int64)
    ordinals = np.setdiff1d(np.arange(2, total_records + 2, dtype=np.int64), rejected)
    if line_map is not None:
        # One lookup per row, vectorised: a Python call per row cost ~1 s per million.
        ordinals = line_map.physical(ordinals)
    lines = pa.table({"_rn": np.arange(0, len(ordinals), dtype=np.int64), "_l": ordinals})
    con.register("_line_numbers_arrow", lines)
    con.execute("CREATE OR REPLACE TABLE _line_numbers AS SELECT * FROM _line_numbers_arrow")
    con.unregister("_line_numbers_arrow")
    con.execute(
        f"CREATE OR REPLACE VIEW raw_lines AS SELECT r.*, l._l AS {LINE_COLUMN} "
        "FROM raw r JOIN _line_numbers l ON l._rn = r.rowid"
    )


def _cell_text(value: object) -> str | None:
    """Excel cells as the text a person sees: 12.0 → '12', datetimes as ISO text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    text = str(value)
    return text


def load_xlsx(con: duckdb.DuckDBPyConnection, path: Path) -> LoadedSource:
    """Load the first worksheet of an .xlsx; the first non-empty row is the header."""
    import openpyxl  # imported here: only xlsx imports pay for it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged archives
        raise ImportFileError(f"the .xlsx file cannot be opened: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header: list[str] | None = None
        header_line = 0
        columns: dict[str, list[str | None]] = {}
        lines: list[int] = []
        for index, row in enumerate(rows, start=1):
            cells = [_cell_text(v) for v in row]
            if header is None:
                if any(c not in (None, "") for c in cells):
                    header = _dedupe_header([c or f"column{i + 1}" for i, c in enumerate(cells)])
                    header_line = index
                    columns = {name: [] for name in header}
                continue
            if all(c in (None, "") for c in cells):
                continue
            for i, name in enumerate(header):
                columns[name].append(cells[i] if i < len(cells) else None)
            lines.append(index)
    finally:
        workbook.close()
    if header is None:
        raise ImportFileError("the worksheet is empty")
    if not lines:
        raise ImportFileError("the worksheet has a header but no data rows", line=header_line)
    table = pa.table(
        {**{n: pa.array(v, pa.string()) for n, v in columns.items()}, LINE_COLUMN: lines}
    )
    con.register("_xlsx", table)
    con.execute("CREATE OR REPLACE TABLE raw AS SELECT * FROM _xlsx")
    con.unregister("_xlsx")
    con.execute("CREATE OR REPLACE VIEW raw_lines AS SELECT * FROM raw")
    return LoadedSource(header, len(lines), "xlsx", [])


def _dedupe_header(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        if name in seen:
            seen[name] += 1
            result.append(f"{name}_{seen[name]}")
        else:
            seen[name] = 0
            result.append(name)
    return result


def iter_jsonl(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """Yield (line, object or None, reason) for each non-blank line of a JSON-lines file."""
    with open(path, encoding=encoding, errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON: {exc.msg} at column {exc.colno}"
                continue
            if not isinstance(value, dict):
                yield number, None, "each line must be a JSON object"
                continue
            yield number, value, ""


def load_jsonl(
    con: duckdb.DuckDBPyConnection, path: Path, *, chunk_rows: int = 100_000
) -> LoadedSource:
    """Load JSON lines into ``raw`` (nested values kept as JSON text), in chunks."""
    sniffed = sniff(path)
    encoding = "utf-8-sig" if sniffed.encoding == "utf-8-sig" else sniffed.encoding
    con.execute("DROP TABLE IF EXISTS raw")
    rejects: list[tuple[int, str, str]] = []
    names: list[str] = []
    buffer: list[tuple[int, dict[str, Any]]] = []
    created = False
    total = 0

    def flush() -> None:
        nonlocal created, total
        if not buffer:
            return
        for _, obj in buffer:
            for key in obj:
                if key not in names:
                    names.append(key)
                    if created:
                        con.execute(f'ALTER TABLE raw ADD COLUMN "{_safe(key)}" VARCHAR')
        data = {
            _safe(n): pa.array([_json_text(obj.get(n)) for _, obj in buffer], pa.string())
            for n in names
        }
        data[LINE_COLUMN] = pa.array([line for line, _ in buffer], pa.int64())
        con.register("_chunk", pa.table(data))
        if created:
            con.execute("INSERT INTO raw BY NAME SELECT * FROM _chunk")
        else:
            con.execute("CREATE TABLE raw AS SELECT * FROM _chunk")
            created = True
        con.unregister("_chunk")
        total += len(buffer)
        buffer.clear()

    for line, obj, reason in iter_jsonl(path, encoding):
        if obj is None:
            rejects.append((line, reason, ""))
            continue
        buffer.append((line, obj))
        if len(buffer) >= chunk_rows:
            flush()
    flush()
    con.execute("CREATE OR REPLACE VIEW raw_lines AS SELECT * FROM raw")
    if not created:
        if rejects:
            con.execute(f"CREATE TABLE raw ({LINE_COLUMN} BIGINT)")
        else:
            raise ImportFileError("the file has no JSON objects")
    return LoadedSource([_safe(n) for n in names], total, sniffed.encoding, rejects)


def _safe(name: str) -> str:
    return name.replace('"', "")


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def preview_text(path: Path, encoding: str, max_lines: int = 5) -> str:
    """The first lines of a file, decoded, for messages about its header."""
    with open(path, encoding=encoding, errors="replace") as handle:
        return "".join(io.StringIO(handle.read(4096)).readlines()[:max_lines])
