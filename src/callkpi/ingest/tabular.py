"""The shared path of row-shaped sources (CDR CSV, mapped exports, canonical records).

An adapter supplies the rows (:func:`csv_rows` or its own reader) and a ``convert``
function from one source row to canonical rows; this module does the rest the same way
for all of them: batches, one transaction per batch, the quarantine, idempotent loads by
each table's key, incremental reading of files that grow, and the report.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callkpi.ingest import files, quarantine
from callkpi.ingest.report import IngestReport, Reject
from callkpi.ingest.values import RowError
from callkpi.store import LoadCounts, Warehouse, arrow_rows

DEFAULT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class SourceRow:
    ref: str
    """Where the row is: ``file:line`` (or ``file#item`` for a JSON array)."""
    raw: str
    values: Sequence[str] | Mapping[str, Any]


Canonical = list[tuple[str, dict[str, Any]]]
"""(table, row) pairs made from one source row; an empty list skips the row on purpose."""

Convert = Callable[[SourceRow], Canonical]
"""Raises :class:`RowError` for a row that must be rejected."""


@dataclass(frozen=True)
class TextRead:
    """The new part of a text file and where it ends."""

    text: str
    first_line: int
    end_offset: int
    lines_read: int
    head_hash: str


def read_new_text(wh: Warehouse, source: str, path: Path, encoding: str = "utf-8") -> TextRead:
    """The text after what an earlier ingest of ``path`` read (the whole file if it was
    replaced). A last line without a newline is included but not counted as read."""
    start = files.resume_point(wh.con, source, path)
    with path.open("rb") as fh:
        fh.seek(start.byte_offset)
        data = fh.read()
    cut = data.rfind(b"\n") + 1
    complete_lines = data[:cut].count(b"\n")
    text = data.decode(encoding, errors="replace")
    return TextRead(
        text=text,
        first_line=start.lines_read + 1,
        end_offset=start.byte_offset + cut,
        lines_read=start.lines_read + complete_lines,
        head_hash=start.head_hash,
    )


def sniff_delimiter(sample: str, candidates: str = ",;\t|") -> str:
    line = next((ln for ln in sample.splitlines() if ln.strip()), "")
    counts = {d: line.count(d) for d in candidates}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_rows(path: Path, text: str, first_line: int, delimiter: str) -> Iterator[SourceRow]:
    """Records of delimited ``text`` with their line numbers (quoted fields may span
    lines; such a record is named by its first line)."""
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    for record in reader:
        start = previous + 1
        previous = reader.line_num
        raw = "\n".join(lines[start - 1 : reader.line_num])
        if not record or all(not field.strip() for field in record):
            continue
        yield SourceRow(f"{path}:{first_line + start - 1}", raw, record)


def load_rows(
    wh: Warehouse,
    *,
    source: str,
    path: Path,
    rows: Iterable[SourceRow],
    convert: Convert,
    lines_read: int = 0,
    keys: Mapping[str, Sequence[str]] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    strict: bool = False,
    on_commit: Callable[[], None] | None = None,
) -> IngestReport:
    """Convert and load ``rows`` in atomic batches; see the module docstring.

    ``on_commit`` runs inside the last batch's transaction (to store the file's resume
    point). With ``strict``, a batch with any reject is rolled back (its rejects are
    still quarantined) and loading stops; the report's ``notes`` say so.
    """
    report = IngestReport(source, str(path), lines_read=lines_read)
    batch: list[SourceRow] = []
    iterator = iter(rows)
    while True:
        batch = []
        for row in iterator:
            batch.append(row)
            if len(batch) >= batch_rows:
                break
        last = len(batch) < batch_rows
        if not _commit(
            wh, source, path, batch, convert, keys, strict, report, on_commit if last else None
        ):
            break
        if last:
            break
    return report


def _commit(
    wh: Warehouse,
    source: str,
    path: Path,
    batch: Sequence[SourceRow],
    convert: Convert,
    keys: Mapping[str, Sequence[str]] | None,
    strict: bool,
    report: IngestReport,
    on_commit: Callable[[], None] | None,
) -> bool:
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rejects: list[Reject] = []
    skipped = 0
    for row in batch:
        try:
            made = convert(row)
        except RowError as err:
            rejects.append(Reject(row.ref, row.raw, err.code, err.detail))
            continue
        if not made:
            skipped += 1
        for table, values in made:
            values.setdefault("source", source)
            values.setdefault("source_ref", row.ref)
            by_table[table].append(values)
    batch_id = wh.next_batch_id()
    if strict and rejects:
        with wh.transaction() as con:
            quarantine.add(con, source, rejects, batch_id)
        for r in rejects:
            report.rejected[r.code] += 1
        report.notes.append(
            f"--strict: a batch of {len(batch)} rows was not loaded because "
            f"{len(rejects)} were rejected"
        )
        return False
    counts = LoadCounts()
    with wh.transaction() as con:
        for table, table_rows in by_table.items():
            key = (keys or {}).get(table)
            loaded = wh.load(table, arrow_rows(table, table_rows), key=key)
            counts = LoadCounts(
                counts.loaded + loaded.loaded,
                counts.updated + loaded.updated,
                counts.duplicates + loaded.duplicates,
            )
        quarantine.add(con, source, rejects, batch_id)
        if on_commit:
            on_commit()
        if batch or on_commit:
            wh.record_batch(
                batch_id,
                source,
                str(path),
                first_line=None,
                last_line=None,
                lines_read=len(batch),
                counts=counts,
                rejected=len(rejects),
            )
    report.add(counts)
    report.skipped += skipped
    for r in rejects:
        report.rejected[r.code] += 1
    report.batches += 1
    return True


def ingest_delimited(
    wh: Warehouse,
    *,
    source: str,
    path: Path,
    convert: Convert,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    skip_header: Callable[[Sequence[str]], bool] | None = None,
    keys: Mapping[str, Sequence[str]] | None = None,
    strict: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> IngestReport:
    """Read the new part of a delimited file and load it through ``convert``.

    ``skip_header`` is asked about the file's first record (only when reading from the
    start); when it says yes, that record is skipped and counted as such.
    """
    read = read_new_text(wh, source, path, encoding)
    delim = delimiter or sniff_delimiter(read.text)
    rows: Iterable[SourceRow] = csv_rows(path, read.text, read.first_line, delim)
    header_skipped = False
    if skip_header and read.first_line == 1:
        rows_iter = iter(rows)
        first = next(rows_iter, None)
        if first is not None and skip_header(list(first.values)):
            header_skipped = True
            rows = rows_iter
        else:
            rows = ([first] if first is not None else []) + list(rows_iter)

    def save() -> None:
        files.save_state(
            wh.con, source, path, files.FileState(read.head_hash, read.end_offset, read.lines_read)
        )

    report = load_rows(
        wh,
        source=source,
        path=path,
        rows=rows,
        convert=convert,
        lines_read=read.lines_read - read.first_line + 1,
        keys=keys,
        strict=strict,
        batch_rows=batch_rows,
        on_commit=save,
    )
    if header_skipped:
        report.skipped += 1
    return report
