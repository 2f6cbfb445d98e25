"""File formats: the queue_log and Master.csv as Asterisk writes them, and canonical CSVs.

Everything is written byte-for-byte deterministically: ``\\n`` line ends, UTF-8, fixed
column order, numbers without locale. ``cut_at`` (a UTC epoch) leaves out what had not
happened yet at that moment, so the files look like a live system's at that instant.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from callkpi.demo.clock import Period
from callkpi.demo.master_csv import CdrRow
from callkpi.demo.pbx import ChannelRef, Pbx
from callkpi.model import TABLES


def write_queue_log(path: Path, pbx: Pbx, cut_at: int | None = None) -> int:
    """``epoch|callid|queue|agent|EVENT|data1|data2...``, one line per event, in time order
    (the simulation writes them as they happen). Returns the number of lines."""
    lines = []
    for line in pbx.queue_log:
        if cut_at is not None and line.epoch > cut_at:
            break
        callid = pbx.uniqueid(line.call) if line.call is not None else "NONE"
        data = "|".join(
            pbx.uniqueid(v.index) if isinstance(v, ChannelRef) else str(v) for v in line.data
        )
        lines.append(f"{line.epoch}|{callid}|{line.queue}|{line.agent}|{line.event}|{data}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def cdr_csv_line(row: CdrRow, period: Period) -> str:
    """One cdr_csv record: strings quoted, times local, an unset answer left empty and
    unquoted, duration and billsec bare integers (as ``cdr_csv.c`` writes them)."""
    answer = _quoted(period.local_text(row.answer)) if row.answer is not None else ""
    billsec = row.end - row.answer if row.answer is not None else 0
    fields = [
        _quoted(row.accountcode),
        _quoted(row.src),
        _quoted(row.dst),
        _quoted(row.dcontext),
        _quoted(row.clid),
        _quoted(row.channel),
        _quoted(row.dstchannel),
        _quoted(row.lastapp),
        _quoted(row.lastdata),
        _quoted(period.local_text(row.start)),
        answer,
        _quoted(period.local_text(row.end)),
        str(row.end - row.start),
        str(billsec),
        _quoted(row.disposition),
        _quoted(row.amaflags),
        _quoted(row.uniqueid),
        _quoted(row.userfield),
    ]
    return ",".join(fields) + "\n"


def write_master_csv(
    path: Path, rows: Iterable[CdrRow], period: Period, cut_at: int | None = None
) -> int:
    lines = [cdr_csv_line(r, period) for r in rows if cut_at is None or r.end <= cut_at]
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def _cell(value: Any, column_type: str, period: Period) -> str:
    if value is None:
        return ""
    if column_type == "TIMESTAMP":
        return period.local_text(value)
    if column_type == "BOOLEAN":
        return "true" if value else "false"
    if column_type == "DATE":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if column_type == "DOUBLE":
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(round(number, 2))
    return str(value)


def write_records(path: Path, table: str, rows: Sequence[dict[str, Any]], period: Period) -> int:
    """A canonical CSV of ``table``: the model's columns that the rows use, in model order;
    times as local wall times (load them with the center's ``--tz``)."""
    spec = TABLES[table]
    used = {name for row in rows for name in row}
    columns = [c for c in spec.columns if c.name in used]
    unknown = used - {c.name for c in columns}
    if unknown:
        raise ValueError(f"{table}: rows have columns the model does not: {sorted(unknown)}")
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([c.name for c in columns])
        for row in rows:
            writer.writerow([_cell(row.get(c.name), c.type, period) for c in columns])
    return len(rows)
