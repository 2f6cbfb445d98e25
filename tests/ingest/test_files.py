"""Reading source files as Arrow lines (callkpi.ingest.files)."""

from __future__ import annotations

from pathlib import Path

from callkpi.ingest import files


def test_split_lines_keeps_newlines_and_numbers_lines() -> None:
    lines, bad = files.split_lines(b"a|b\n\nc|d|\nlast", 7)
    assert bad == ()
    assert lines.to_pylist() == [
        {"line_no": 7, "line": "a|b\n"},
        {"line_no": 8, "line": "\n"},
        {"line_no": 9, "line": "c|d|\n"},
        {"line_no": 10, "line": "last\n"},  # the unterminated last line gets its newline
    ]


def test_split_lines_with_another_line_end() -> None:
    data = b"a|b\n\nc|d|\nlast"
    lines, _ = files.split_lines(data, 1, "|")
    assert lines.column("line").to_pylist() == ["a|b|", "|", "c|d||", "last|"]
    assert data == b"a|b\n\nc|d|\nlast"  # bytes are copied, not changed
    writable = bytearray(b"1|x\n2|y\n")
    lines, _ = files.split_lines(writable, 5, "|")
    assert lines.to_pylist() == [{"line_no": 5, "line": "1|x|"}, {"line_no": 6, "line": "2|y|"}]
    assert writable == bytearray(b"1|x|2|y|")  # a bytearray is used in place


def test_split_lines_reports_and_replaces_invalid_utf8() -> None:
    lines, bad = files.split_lines(b"ok\nbad\xff\n", 1, "|")
    assert bad == (2,)
    assert lines.column("line").to_pylist() == ["ok|", "bad\ufffd|"]


def test_read_chunks_line_ends_resume_points_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"1|a\n2|b\n3|c\n4|d")
    start = files.FileState("h", 0, 0)
    chunks = list(files.read_chunks(path, start, batch_bytes=6, line_end="|"))
    # 6-byte reads: "1|a\n2|" gives line 1 (the rest carried), "b\n3|c\n" lines 2-3.
    assert [c.lines.column("line").to_pylist() for c in chunks] == [
        ["1|a|"], ["2|b|", "3|c|"], ["4|d|"]
    ]
    assert [(c.first_line, c.start_offset, c.end_offset) for c in chunks] == [
        (1, 0, 4), (2, 4, 12), (4, 12, 12)
    ]
    assert [c.line_end for c in chunks] == ["|"] * 3
    assert chunks[-1].unterminated and chunks[-1].resume == (12, 3)
    # A log being written: the unterminated line waits; resuming reads after the rest.
    held = list(files.read_chunks(path, start, include_unterminated=False, line_end="|"))
    assert [c.lines.num_rows for c in held] == [3] and held[0].resume == (12, 3)
    rest = list(files.read_chunks(path, files.FileState("h", 8, 2), line_end="|"))
    assert rest[0].lines.to_pylist() == [
        {"line_no": 3, "line": "3|c|"}, {"line_no": 4, "line": "4|d|"}
    ]
    # CRLF lines keep their LF (the parser strips both).
    path.write_bytes(b"1|a\r\n2|b\r\n")
    (crlf,) = files.read_chunks(path, start, line_end="|")
    assert (crlf.has_cr, crlf.line_end) == (True, None)
    assert crlf.lines.column("line").to_pylist() == ["1|a\r\n", "2|b\r\n"]
