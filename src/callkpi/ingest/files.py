"""Reading source files incrementally, as Arrow arrays of lines with their line numbers.

A file is read from where the last ingest stopped (``ingest_files``): the byte offset
after the last complete line, and a hash of the file's first bytes so that a rotated
file at the same path is read again from the start. Lines become a zero-copy Arrow string
array (each line still ends in its newline, which SQL strips), so a large file goes to
DuckDB without a Python object per line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from callkpi.ingest.options import DEFAULT_BATCH_BYTES
from callkpi.ingest.report import IngestError
from callkpi.store import fetch_one, utc_now

HEAD_BYTES = 4096


@dataclass(frozen=True)
class FileState:
    """How far a file has been read."""

    head_hash: str
    byte_offset: int
    lines_read: int


@dataclass(frozen=True)
class LineChunk:
    """Complete lines read from a file, and where they are in it."""

    lines: pa.Table
    """Columns ``line_no`` (1-based, int64) and ``line`` (string, newline included)."""
    first_line: int
    start_offset: int
    end_offset: int
    """Byte offset just after the last complete line of the chunk."""
    invalid_utf8: tuple[int, ...] = ()
    """Line numbers that were not valid UTF-8 (their bad bytes are replaced)."""
    unterminated: bool = False
    """The last line has no newline yet; it is not counted in the resume point."""
    has_cr: bool = False
    """Some line ends in CRLF (every line ends in LF in ``lines``)."""

    @property
    def num_lines(self) -> int:
        return self.lines.num_rows

    @property
    def resume(self) -> tuple[int, int]:
        """(byte offset, lines read) to store once this chunk is committed."""
        complete = self.num_lines - (1 if self.unterminated else 0)
        return self.end_offset, self.first_line - 1 + complete


def resolve(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise IngestError(f"{path}: no such file")
    if p.is_dir():
        raise IngestError(f"{path}: is a directory, expected a file")
    return p.resolve()


def head_hash(path: Path, length: int | None = None) -> str:
    """``"<n>:<sha256 of the first n bytes>"``; ``length`` re-hashes the same prefix."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES if length is None else length)
    return f"{len(head)}:{hashlib.sha256(head).hexdigest()}"


def load_state(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> FileState | None:
    row = fetch_one(
        con,
        "SELECT head_hash, byte_offset, lines_read FROM ingest_files WHERE source = ? AND path = ?",
        [source, str(path)],
    )
    return FileState(row[0], int(row[1]), int(row[2])) if row else None


def resume_point(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> FileState:
    """Where to start reading: after the stored offset, unless the file was replaced."""
    state = load_state(con, source, path)
    size = path.stat().st_size
    if state is None:
        return FileState(head_hash(path), 0, 0)
    stored_len = int(state.head_hash.split(":", 1)[0])
    same_file = size >= state.byte_offset and head_hash(path, stored_len) == state.head_hash
    if not same_file:
        return FileState(head_hash(path), 0, 0)
    return state


def save_state(con: duckdb.DuckDBPyConnection, source: str, path: Path, state: FileState) -> None:
    con.execute("DELETE FROM ingest_files WHERE source = ? AND path = ?", [source, str(path)])
    con.execute(
        "INSERT INTO ingest_files VALUES (?, ?, ?, ?, ?, ?)",
        [source, str(path), state.head_hash, state.byte_offset, state.lines_read, utc_now()],
    )


def split_lines(data: bytes, first_line: int) -> tuple[pa.Table, tuple[int, ...]]:
    """Split ``data`` (complete lines, the last one possibly without a newline) into a
    table of ``line_no`` and ``line``; every line keeps (or gets) its final newline.
    Invalid UTF-8 is replaced by U+FFFD and reported."""
    bad: tuple[int, ...] = ()
    if data and not data.endswith(b"\n"):
        data += b"\n"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data, bad = _repair_utf8(data, first_line)
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    ends = newlines + 1
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    n = len(offsets) - 1
    lines = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))
    # from_buffers, not pa.array: no copy, and no pandas import on the first call.
    numbers = pa.Int64Array.from_buffers(
        pa.int64(), n, [None, pa.py_buffer(np.arange(first_line, first_line + n, dtype=np.int64))]
    )
    return pa.table({"line_no": numbers, "line": lines}), bad


def with_line_ends(lines: pa.Table, end: str) -> pa.Table:
    """``lines`` (from :func:`split_lines`) with each line's final newline replaced by
    ``end``, one ASCII character: a line ending in the field delimiter splits into its
    fields and one empty last field, without first cutting the newline off (a copy of
    every line)."""
    column = lines.column("line").combine_chunks()
    _, offsets, data = column.buffers()
    if data is None or len(column) == 0:
        return lines
    first = column.offset + 1
    ends = np.frombuffer(offsets, dtype=np.int64)[first : first + len(column)]
    out = np.frombuffer(data, dtype=np.uint8).copy()
    out[ends - 1] = ord(end)
    replaced = pa.LargeStringArray.from_buffers(
        len(column), offsets, pa.py_buffer(out), offset=column.offset
    )
    return lines.set_column(lines.schema.get_field_index("line"), "line", replaced)


def _repair_utf8(data: bytes, first_line: int) -> tuple[bytes, tuple[int, ...]]:
    out, bad = [], []
    for i, raw in enumerate(data.split(b"\n")):
        try:
            raw.decode("utf-8")
            out.append(raw)
        except UnicodeDecodeError:
            bad.append(first_line + i)
            out.append(raw.decode("utf-8", errors="replace").encode("utf-8"))
    return b"\n".join(out), tuple(bad)


def read_chunks(
    path: Path,
    start: FileState,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    include_unterminated: bool = True,
) -> Iterator[LineChunk]:
    """Yield the file's lines after ``start`` in chunks of about ``batch_bytes``.

    A last line without a newline is included when ``include_unterminated`` (a finished
    export) and held back otherwise (a log being written: it is read once complete).
    Offsets only ever advance past newline-terminated lines, so a held-back or
    unterminated line is read again next time and its duplicate is recognised by content.
    """
    offset, line_no = start.byte_offset, start.lines_read + 1
    with path.open("rb") as fh:
        fh.seek(offset)
        carry = b""
        while True:
            block = fh.read(batch_bytes)
            at_eof = len(block) < batch_bytes
            data = carry + block
            if not data:
                return
            cut = data.rfind(b"\n") + 1
            complete, carry = data[:cut], data[cut:]
            if at_eof and carry and include_unterminated:
                lines, bad = split_lines(complete + carry, line_no)
                yield LineChunk(
                    lines,
                    line_no,
                    offset,
                    offset + cut,
                    bad,
                    unterminated=True,
                    has_cr=b"\r" in complete or b"\r" in carry,
                )
                return
            if complete:
                lines, bad = split_lines(complete, line_no)
                yield LineChunk(lines, line_no, offset, offset + cut, bad, has_cr=b"\r" in complete)
                offset += cut
                line_no += lines.num_rows
            if at_eof:
                return
