"""Printing results: Rich tables for people, CSV and JSON for scripts (on stdout only)."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from callkpi.ingest.report import IngestReport

# Piped output is not cut to 80 columns: a table is for reading whole.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)  # messages are never cut into lines

FORMATS = ("table", "csv", "json")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def show_value(value: Any, unit: str | None = None) -> str:
    """A value for people: ratios as percentages, seconds and money with 1 or 2 decimals."""
    if value is None:
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool) and unit:
        if unit == "ratio":
            return f"{value * 100:,.1f} %"
        if unit in ("seconds", "hours", "days", "score", "per_hour"):
            return f"{value:,.1f}"
        if unit == "currency":
            return f"{value:,.2f}"
    if isinstance(value, float):
        return (
            f"{value:,.4f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
        )
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    title: str | None = None,
    units: dict[str, str] | None = None,
) -> None:
    """Rows as a Rich table (``units`` formats KPI columns for people), CSV or JSON."""
    if fmt == "json":
        sys.stdout.write(
            json.dumps(
                [{c: _clean(r.get(c)) for c in columns} for r in rows],
                ensure_ascii=False,
                default=str,
            )
        )
        sys.stdout.write("\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else _clean(r.get(c)) for c in columns])
    else:
        table = Table(title=title, show_lines=False)
        for c in columns:
            numeric = any(isinstance(r.get(c), int | float) for r in rows)
            table.add_column(c, justify="right" if numeric else "left")
        for r in rows:
            table.add_row(*(show_value(r.get(c), (units or {}).get(c)) for c in columns))
        out.print(table)


def print_ingest_reports(reports: Sequence[IngestReport], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps([r.as_dict() for r in reports], ensure_ascii=False) + "\n")
        return
    table = Table(title="Ingest")
    for name in ("file", "read", "loaded", "updated", "duplicates", "skipped", "rejected"):
        table.add_column(name, justify="left" if name == "file" else "right")
    for r in reports:
        table.add_row(
            r.path,
            *(
                f"{n:,}"
                for n in (
                    r.lines_read,
                    r.loaded,
                    r.updated,
                    r.duplicates,
                    r.skipped,
                    r.rejected_total,
                )
            ),
        )
    out.print(table)
    for r in reports:
        for reason, n in sorted(r.rejected.items()):
            out.print(f"  [yellow]rejected[/] {n:,} × {reason}  ({r.path})")
        for note in r.notes:
            out.print(f"  [dim]note:[/] {note}")
    if any(r.rejected_total for r in reports):
        out.print("  Rejected rows are kept in the quarantine table with their line and reason.")
