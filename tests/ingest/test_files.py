"""Reading source files as Arrow lines (callkpi.ingest.files)."""

from __future__ import annotations

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


def test_with_line_ends_replaces_only_each_final_newline() -> None:
    lines, _ = files.split_lines(b"a|b\n\nc|d|\nlast", 1)
    ended = files.with_line_ends(lines, "|")
    assert ended.column("line").to_pylist() == ["a|b|", "|", "c|d||", "last|"]
    assert ended.column("line_no").to_pylist() == [1, 2, 3, 4]
    # The input is left as it was (the bytes are copied, not changed in place).
    assert lines.column("line").to_pylist() == ["a|b\n", "\n", "c|d|\n", "last\n"]


def test_with_line_ends_on_a_slice_and_on_nothing() -> None:
    lines, _ = files.split_lines(b"1|x\n2|y\n3|z\n", 1)
    assert files.with_line_ends(lines.slice(1, 2), "|").to_pylist() == [
        {"line_no": 2, "line": "2|y|"},
        {"line_no": 3, "line": "3|z|"},
    ]
    empty, _ = files.split_lines(b"", 1)
    assert files.with_line_ends(empty, "|").num_rows == 0
