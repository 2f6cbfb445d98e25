"""Reading source files incrementally, as Arrow arrays of lines with their line numbers.

A file is read from where the last ingest stopped (``ingest_files``): the byte offset
after the last complete line, and a hash of the file's first bytes so that a rotated
file at the same path is read again from the start. Lines become a zero-copy Arrow string
array (each line still ends in its newline, which SQL strips), so a large file goes to
DuckDB without a Python object per line.
"""

from __future__ import annotations

import hashlib
import io
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
    line_end: str | None = None
    """Every line ends in this character instead of its LF (see :func:`split_lines`)."""

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


def split_lines(
    data: bytes | bytearray | memoryview, first_line: int, line_end: str | None = None
) -> tuple[pa.Table, tuple[int, ...]]:
    """Split ``data`` (complete lines, the last one possibly without a newline) into a
    table of ``line_no`` and ``line``; every line keeps (or gets) its final newline, or,
    with ``line_end`` (one ASCII character), ends in that instead: a line ending in its
    field delimiter splits into its fields and one empty last field, without a copy of
    every line to cut its newline off. A writable ``data`` (a bytearray) is changed in
    place and used without a copy. Invalid UTF-8 is replaced by U+FFFD and reported."""
    bad: tuple[int, ...] = ()
    view = memoryview(data)
    if len(view) and view[-1] != 10:
        view = memoryview(bytes(view) + b"\n")
    lines, newlines = _line_array(view)
    try:
        # Arrow checks the UTF-8 in place (Python's decoder would build a str of it all).
        lines.validate(full=True)
    except pa.ArrowInvalid:
        repaired, bad = _repair_utf8(bytes(view), first_line)
        view = memoryview(repaired)
        lines, newlines = _line_array(view)
    if line_end is not None:
        if view.readonly:
            view = memoryview(bytearray(view))
            lines, newlines = _line_array(view)
        np.frombuffer(view, dtype=np.uint8)[newlines] = ord(line_end)
    n = len(lines)
    # from_buffers, not pa.array: no copy, and no pandas import on the first call.
    numbers = pa.Int64Array.from_buffers(
        pa.int64(), n, [None, pa.py_buffer(np.arange(first_line, first_line + n, dtype=np.int64))]
    )
    return pa.table({"line_no": numbers, "line": lines}), bad


def _line_array(view: memoryview) -> tuple[pa.LargeStringArray, np.ndarray]:
    """The lines of ``view`` (which ends in LF) as an Arrow array over its bytes, and
    where their LFs are."""
    newlines = np.flatnonzero(np.frombuffer(view, dtype=np.uint8) == 10)
    offsets = np.empty(len(newlines) + 1, dtype=np.int64)
    offsets[0] = 0
    np.add(newlines, 1, out=offsets[1:])
    array = pa.LargeStringArray.from_buffers(
        len(newlines), pa.py_buffer(offsets), pa.py_buffer(view)
    )
    return array, newlines


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
    line_end: str | None = None,
) -> Iterator[LineChunk]:
    """Yield the file's lines after ``start`` in chunks of about ``batch_bytes``.

    A last line without a newline is included when ``include_unterminated`` (a finished
    export) and held back otherwise (a log being written: it is read once complete).
    Offsets only ever advance past newline-terminated lines, so a held-back or
    unterminated line is read again next time and its duplicate is recognised by content.
    ``line_end``: lines end in it instead of LF (see :func:`split_lines`), in chunks
    without CR (``LineChunk.line_end`` says which). Each chunk's bytes are copied once,
    from the file into the chunk's own buffer.
    """
    offset, line_no = start.byte_offset, start.lines_read + 1
    with path.open("rb") as fh:
        fh.seek(offset)
        carry = b""
        while True:
            # Read straight into the chunk's buffer, after the carried-over partial line;
            # asking for one byte more than the file has left tells its end.
            left = os.fstat(fh.fileno()).st_size - fh.tell()
            want = max(1, min(batch_bytes, left + 1))
            data = bytearray(len(carry) + want)
            data[: len(carry)] = carry
            got = _read_into(fh, memoryview(data)[len(carry) :])
            at_eof = got < want
            del data[len(carry) + got :]
            if not data:
                return
            cut = data.rfind(b"\n") + 1
            carry = bytes(data[cut:])
            if at_eof and carry and include_unterminated:
                has_cr = data.find(b"\r") >= 0
                end = None if has_cr else line_end
                lines, bad = split_lines(data, line_no, end)
                yield LineChunk(
                    lines,
                    line_no,
                    offset,
                    offset + cut,
                    bad,
                    unterminated=True,
                    has_cr=has_cr,
                    line_end=end,
                )
                return
            if cut:
                if cut < len(data):
                    del data[cut:]  # the carry: truncating a bytearray does not copy it
                has_cr = data.find(b"\r") >= 0
                end = None if has_cr else line_end
                lines, bad = split_lines(data, line_no, end)
                yield LineChunk(
                    lines, line_no, offset, offset + cut, bad, has_cr=has_cr, line_end=end
                )
                offset += cut
                line_no += lines.num_rows
            if at_eof:
                return


def _read_into(fh: io.BufferedReader, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``fh`` (less only at the end of the file); returns the bytes
    read."""
    done = 0
    while done < len(buffer):
        n = fh.readinto(buffer[done:])
        if not n:
            break
        done += n
    return done
