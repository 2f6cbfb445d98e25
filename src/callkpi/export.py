"""Tables to Excel workbooks (XlsxWriter): real numbers with number formats, not text, so
a manager can sort, filter and chart them; one sheet per table.

Units: a column whose unit is ``ratio`` is shown as a percentage, ``seconds`` with one
decimal, ``currency`` with two; a column named ``deviation`` as a signed percentage; a
``status`` column is colored (on track green, warning amber, critical red).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xlsxwriter

STATUS_COLORS = {"on track": "#C6EFCE", "warning": "#FFEB9C", "critical": "#FFC7CE"}
_NUMBER_FORMATS = {
    "ratio": "0.0%",
    "seconds": "#,##0.0",
    "hours": "#,##0.0",
    "days": "#,##0.0",
    "currency": "#,##0.00",
    "score": "#,##0.0",
    "per_hour": "#,##0.00",
    "count": "#,##0",
}


@dataclass
class Sheet:
    name: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    units: Mapping[str, str] = field(default_factory=dict)
    """Column -> unit, for columns whose unit is the same on every row."""
    row_unit: str | None = None
    """A column naming each row's unit (a scorecard: ``unit``), used for ``value_columns``."""
    value_columns: Sequence[str] = ()
    """Columns formatted by the row's unit (target, actual)."""


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)  # Excel has no zones; the value is the wall time
    return value


def write_xlsx(path: Path, sheets: Sequence[Sheet]) -> None:
    """Write the sheets to ``path`` (replaced if it exists)."""
    with xlsxwriter.Workbook(str(path), {"remove_timezone": True}) as book:
        header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        formats = {unit: book.add_format({"num_format": f, "valign": "top"})
                   for unit, f in _NUMBER_FORMATS.items()}
        signed = book.add_format({"num_format": "+0.0%;-0.0%;0.0%", "valign": "top"})
        date = book.add_format({"num_format": "yyyy-mm-dd hh:mm", "valign": "top"})
        statuses = {s: book.add_format({"bg_color": c, "valign": "top"})
                    for s, c in STATUS_COLORS.items()}
        for sheet in sheets:
            ws = book.add_worksheet(sheet.name[:31])
            widths = [len(c) for c in sheet.columns]
            for j, column in enumerate(sheet.columns):
                ws.write(0, j, column, header)
            for i, row in enumerate(sheet.rows, start=1):
                for j, column in enumerate(sheet.columns):
                    value = _cell(row.get(column))
                    unit = sheet.units.get(column)
                    if column in sheet.value_columns and sheet.row_unit:
                        unit = row.get(sheet.row_unit)
                    if value is None:
                        ws.write_blank(i, j, None)
                        continue
                    if column == "status" and value in statuses:
                        fmt = statuses[value]
                    elif column == "deviation":
                        fmt = signed
                    elif isinstance(value, dt.datetime | dt.date):
                        fmt = date
                    elif unit in formats and isinstance(value, int | float):
                        fmt = formats[unit]
                    else:
                        fmt = wrap
                    ws.write(i, j, value, fmt)
                    longest = max((len(line) for line in str(value).splitlines()), default=0)
                    widths[j] = max(widths[j], min(longest, 60))
            for j, width in enumerate(widths):
                ws.set_column(j, j, width + 2)
            ws.freeze_panes(1, 0)
            if sheet.rows:
                ws.autofilter(0, 0, len(sheet.rows), len(sheet.columns) - 1)
