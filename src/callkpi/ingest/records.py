"""Canonical records: ``callkpi ingest <table> FILE`` for CSV, JSON arrays and JSON Lines.

A records file holds rows of one canonical table (``RECORD_TABLES``) under the model's own
column names, so there is nothing to map: each value is type-checked against its column,
checked against the table's value rules (:data:`SPECS`) and loaded through the shared
tabular path (:func:`callkpi.ingest.tabular.load_rows`), idempotent by the table's key.

Choices (user documentation in ``docs/records.md``; its column reference is generated
here by :func:`reference_markdown`, and a test keeps the two equal):

* The format comes from the content: ``[`` starts a JSON array, ``{`` JSON Lines,
  anything else is delimited text with a header (comma, semicolon or tab, sniffed).
* A column the table does not have, or a header without a required column, stops the
  file with an :class:`IngestError` before anything is loaded: a misspelt column would
  otherwise lose its data silently.
* Records are exports (CRM snapshots rewritten in place), not growing logs, so the whole
  file is read every time; an unchanged row is a duplicate, a changed one replaces the
  stored row (``updated``).
* Loaded rows have ``source = "records"``; the quarantine, the batch log and the report use
  ``records:<table>``, so a reject says which table it was meant for.
* Loading ``calls`` or ``dispositions`` applies the dispositions onto the calls of the
  file's call ids, so the order in which the two arrive does not matter.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from callkpi import timezones
from callkpi.ingest import dispositions, files, values
from callkpi.ingest.masking import PREFIX as MASKED_PREFIX
from callkpi.ingest.masking import mask_key, mask_value
from callkpi.ingest.options import IngestOptions
from callkpi.ingest.report import IngestError, IngestReport
from callkpi.ingest.tabular import (
    Canonical,
    Convert,
    SourceRow,
    csv_rows,
    load_rows,
    sniff_delimiter,
)
from callkpi.ingest.values import RowError
from callkpi.model import (
    FINAL_INBOUND_OUTCOMES,
    LINEAGE,
    RECORD_TABLES,
    TABLES,
    Column,
    Direction,
    Outcome,
    Table,
)
from callkpi.store import Warehouse

ROW_SOURCE = "records"
"""The ``source`` of every row this adapter loads (``calls`` has it in its key)."""

DELIMITERS = ",;\t"
LINEAGE_COLUMNS = tuple(c.name for c in LINEAGE)

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Default:
    """The value a column gets when a row leaves it empty or the file lacks it."""

    doc: str
    value: Callable[[Row], Any]


@dataclass(frozen=True)
class RowRule:
    """A rule across the fields of a converted row."""

    doc: str
    problem: Callable[[Row], str | None]
    """The reject detail when the row breaks the rule, else None."""


@dataclass(frozen=True)
class RecordSpec:
    """What a records file of one table may hold, beyond the model's column types."""

    table: str
    allowed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Enumerations, matched case-insensitively and stored in lower case."""
    minimum: Mapping[str, float] = field(default_factory=dict)
    maximum: Mapping[str, float] = field(default_factory=dict)
    currency: tuple[str, ...] = ()
    """Three-letter ISO 4217 codes, stored in upper case."""
    defaults: Mapping[str, Default] = field(default_factory=dict)
    rules: tuple[RowRule, ...] = ()

    def __post_init__(self) -> None:
        named = [*self.allowed, *self.minimum, *self.maximum, *self.currency, *self.defaults]
        unknown = [n for n in named if n not in self.model.by_name]
        if unknown:
            raise ValueError(f"records spec {self.table}: {unknown} are not columns")

    @property
    def model(self) -> Table:
        return TABLES[self.table]

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns a file may have: all but lineage, which callkpi sets."""
        return tuple(c for c in self.model.columns if c.name not in LINEAGE_COLUMNS)

    @property
    def not_null(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.nullable)

    @property
    def required(self) -> tuple[str, ...]:
        """Columns every file must have: not nullable and without a default."""
        return tuple(n for n in self.not_null if n not in self.defaults)

    @property
    def key(self) -> tuple[str, ...]:
        """The key among records (``source`` is always ``records`` here)."""
        return tuple(k for k in self.model.key if k not in LINEAGE_COLUMNS)


# -- rules ----------------------------------------------------------------------------------


def _shown(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") + " UTC"
    if isinstance(value, dt.date):
        return value.isoformat()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ordered(earlier: str, later: str, *, strictly: bool = False) -> RowRule:
    relation = "after" if strictly else "not before"

    def problem(row: Row) -> str | None:
        first, second = row.get(earlier), row.get(later)
        if first is None or second is None:
            return None
        if second > first or (second == first and not strictly):
            return None
        verb = "is not after" if strictly and second == first else "is before"
        return f"{later} {_shown(second)} {verb} {earlier} {_shown(first)}"

    return RowRule(f"`{later}` is {relation} `{earlier}`", problem)


_INBOUND_OUTCOMES = (*(o.value for o in FINAL_INBOUND_OUTCOMES), Outcome.IN_PROGRESS.value)


def _inbound_outcome(row: Row) -> str | None:
    if row.get("direction") == Direction.INBOUND and row.get("outcome") not in _INBOUND_OUTCOMES:
        return (
            f"outcome {row.get('outcome')!r} is not an inbound outcome; an inbound call "
            f"ends as one of: {', '.join(_INBOUND_OUTCOMES)}"
        )
    return None


def _transfer_consistent(row: Row) -> str | None:
    given = [n for n in ("transfer_kind", "transfer_target") if row.get(n) is not None]
    if row.get("transferred") is False and given:
        return f"transferred is false but {' and '.join(given)} is given"
    return None


def _is_transferred(row: Row) -> bool:
    return row.get("transfer_kind") is not None or row.get("transfer_target") is not None


def _absent_within_scheduled(row: Row) -> str | None:
    absent, scheduled = row.get("absent_hours"), row.get("scheduled_hours")
    if absent is not None and scheduled is not None and absent > scheduled:
        return f"absent_hours {absent:g} is more than scheduled_hours {scheduled:g}"
    return None


def _talk_needs_connect(row: Row) -> str | None:
    if row.get("connected") is False and (row.get("talk_s") or 0) > 0:
        return f"talk_s is {row['talk_s']:g} but connected is false"
    return None


def _positive_scale(row: Row) -> str | None:
    scale_max = row.get("scale_max")
    if scale_max is not None and scale_max <= 0:
        return f"scale_max is {scale_max:g}, expected a number above 0"
    return None


def _score_on_scale(row: Row) -> str | None:
    score, scale_max = row.get("score"), row.get("scale_max")
    if score is None or scale_max is None or 0 <= score <= scale_max:
        return None
    return f"score {score:g} is outside 0..scale_max ({scale_max:g})"


def _nps_scale(row: Row) -> str | None:
    if row.get("kind") == "nps" and row.get("scale_max") not in (None, 10):
        return f"an nps answer is on 0..10, but scale_max is {row['scale_max']:g}"
    return None


def _const(value: object) -> Callable[[Row], object]:
    return lambda _row: value


_DURATIONS = ("wait_s", "ring_s", "talk_s", "hold_s", "acw_s", "ivr_s")

_RULED: dict[str, RecordSpec] = {
    s.table: s
    for s in (
        RecordSpec(
            "calls",
            allowed={
                "direction": tuple(d.value for d in Direction),
                "outcome": tuple(o.value for o in Outcome),
                "transfer_kind": ("transfer", "blind", "attended", "inferred"),
                "ended_by": ("caller", "agent"),
            },
            minimum={"segment": 1, "enter_position": 0, **dict.fromkeys(_DURATIONS, 0)},
            defaults={
                "segment": Default("`1`", _const(1)),
                "channel": Default("`voice`", _const("voice")),
                "transferred": Default(
                    "`true` when `transfer_kind` or `transfer_target` is given, else `false`",
                    _is_transferred,
                ),
            },
            rules=(
                RowRule(
                    "an inbound call's `outcome` is one of "
                    + ", ".join(f"`{o}`" for o in _INBOUND_OUTCOMES),
                    _inbound_outcome,
                ),
                _ordered("entered_at", "answered_at"),
                _ordered("entered_at", "ended_at"),
                _ordered("answered_at", "ended_at"),
                RowRule(
                    "`transferred` is not false when `transfer_kind` or `transfer_target` is given",
                    _transfer_consistent,
                ),
            ),
        ),
        RecordSpec(
            "agents",
            minimum={"hourly_cost": 0},
            rules=(_ordered("hire_date", "exit_date"),),
        ),
        RecordSpec("schedules", rules=(_ordered("start_at", "end_at", strictly=True),)),
        RecordSpec(
            "absences",
            minimum={"scheduled_hours": 0, "absent_hours": 0},
            maximum={"scheduled_hours": 24, "absent_hours": 24},
            rules=(
                RowRule(
                    "`absent_hours` is not more than `scheduled_hours`", _absent_within_scheduled
                ),
            ),
        ),
        RecordSpec(
            "ivr_steps",
            allowed={"result": ("self_served", "to_queue", "hung_up")},
            minimum={"seq": 0},
        ),
        RecordSpec(
            "dials",
            minimum={"talk_s": 0},
            rules=(
                RowRule("`talk_s` is above 0 only when `connected` is true", _talk_needs_connect),
            ),
        ),
        RecordSpec("leads", rules=(_ordered("created_at", "stage_changed_at"),)),
        RecordSpec(
            "deals",
            allowed={"status": ("won", "lost", "open")},
            minimum={"amount": 0},
            currency=("currency",),
            rules=(_ordered("opened_at", "closed_at"),),
        ),
        RecordSpec("customers", rules=(_ordered("acquired_at", "churned_at"),)),
        RecordSpec(
            "surveys",
            allowed={"kind": ("csat", "nps", "ces")},
            rules=(
                RowRule("`scale_max` is above 0", _positive_scale),
                RowRule("`score` is between 0 and `scale_max`", _score_on_scale),
                RowRule("an `nps` answer has `scale_max` 10", _nps_scale),
            ),
        ),
        RecordSpec(
            "costs",
            allowed={
                "category": (
                    "salary",
                    "benefits",
                    "licences",
                    "telephony",
                    "rent",
                    "marketing",
                    "other",
                )
            },
            minimum={"amount": 0},
            currency=("currency",),
            rules=(_ordered("period_start", "period_end"),),
        ),
    )
}

SPECS: dict[str, RecordSpec] = {t: _RULED.get(t) or RecordSpec(t) for t in RECORD_TABLES}
"""Every records table; one without rules above is checked against the model alone."""


def spec_for(table: str) -> RecordSpec:
    """The spec of a table by its name or CLI name (``ivr-steps``)."""
    spec = SPECS.get(table.replace("-", "_"))
    if spec is None:
        raise IngestError(
            f"unknown records table {table!r}; expected one of: "
            + ", ".join(t.replace("_", "-") for t in SPECS)
        )
    return spec


# -- values ---------------------------------------------------------------------------------

_CURRENCY = re.compile(r"[A-Za-z]{3}")


def _field_value(spec: RecordSpec, column: Column, value: Any, tz: str) -> Any:
    name = column.name
    if isinstance(value, list | dict):
        raise values.bad_value(name, value, "a single value, not a JSON array or object")
    converted = values.convert(name, column.type, value, tz)
    if converted is None:
        return None
    if name in spec.allowed:
        converted = converted.lower()
        if converted not in spec.allowed[name]:
            raise values.bad_value(name, value, "one of: " + ", ".join(spec.allowed[name]))
    if name in spec.currency:
        if not _CURRENCY.fullmatch(converted):
            raise values.bad_value(name, value, "a three-letter currency code such as EUR")
        converted = converted.upper()
    low, high = spec.minimum.get(name), spec.maximum.get(name)
    if low is not None and converted < low:
        raise values.bad_value(name, value, f"a number of at least {low:g}")
    if high is not None and converted > high:
        raise values.bad_value(name, value, f"a number of at most {high:g}")
    return converted


@dataclass(frozen=True)
class _RowMaker:
    """Turns the given fields of one input row into a canonical row, or raises RowError."""

    spec: RecordSpec
    tz: str
    tenant: str | None
    caller_mask_key: str | None

    def make(self, given: Mapping[str, Any]) -> dict[str, Any]:
        row = {
            c.name: _field_value(self.spec, c, given[c.name], self.tz)
            for c in self.spec.columns
            if c.name in given
        }
        for name, default in self.spec.defaults.items():
            if row.get(name) is None:
                row[name] = default.value(row)
        if self.tenant and "tenant" in self.spec.model.by_name and row.get("tenant") is None:
            row["tenant"] = self.tenant
        for name in self.spec.not_null:
            if row.get(name) is None:
                raise values.missing(name)
        for rule in self.spec.rules:
            problem = rule.problem(row)
            if problem:
                raise RowError("inconsistent", problem)
        caller = row.get("caller")
        if self.caller_mask_key and caller and not caller.startswith(MASKED_PREFIX):
            row["caller"] = mask_value(caller, self.caller_mask_key)
        row["source"] = ROW_SOURCE
        return row


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UnreadableRow(SourceRow):
    """An input row that is not an object of fields (bad JSON, a list, ...)."""

    code: str = "bad row"
    problem: str = ""


@dataclass(frozen=True)
class _Input:
    """The rows of a file and the column names it uses."""

    rows: Iterable[SourceRow]
    columns: tuple[str, ...]
    columns_ref: Mapping[str, str]
    """Where each column name first appears (for errors)."""
    header: tuple[str, ...] | None = None
    """The CSV header; None for JSON."""
    skipped: int = 0


def detect_format(text: str) -> str:
    """``json`` (an array), ``jsonl`` (one object per line) or ``csv``."""
    start = text.lstrip()[:1]
    return {"[": "json", "{": "jsonl"}.get(start, "csv")


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise IngestError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[err.start]:02x}); export the file as UTF-8"
        ) from None


def _csv_input(path: Path, text: str) -> _Input:
    rows = csv_rows(path, text, 1, sniff_delimiter(text, DELIMITERS))
    first = next(rows, None)
    if first is None:
        return _Input((), (), {})
    header = tuple(str(name).strip() for name in first.values)
    for position, name in enumerate(header, start=1):
        if not name:
            raise IngestError(f"{first.ref}: header column {position} has no name")
        if header.index(name) != position - 1:
            raise IngestError(f"{first.ref}: header names column {name!r} twice")
    return _Input(rows, header, dict.fromkeys(header, first.ref), header=header, skipped=1)


def _compact(item: object) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)


def _object_row(ref: str, raw: str, item: object) -> SourceRow:
    if isinstance(item, dict):
        return SourceRow(ref, raw, item)
    got = "an array" if isinstance(item, list) else _compact(item)
    return _UnreadableRow(ref, raw, {}, "bad row", f"expected a JSON object, got {got}")


def _json_array_rows(path: Path, text: str) -> list[SourceRow]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise IngestError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno})"
        ) from None
    if not isinstance(document, list):
        raise IngestError(f"{path}: expected a JSON array of objects")
    return [
        _object_row(f"{path}#{n}", _compact(item), item) for n, item in enumerate(document, start=1)
    ]


def _json_lines_rows(path: Path, text: str) -> list[SourceRow]:
    rows: list[SourceRow] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        ref = f"{path}:{line_no}"
        try:
            rows.append(_object_row(ref, line, json.loads(line)))
        except json.JSONDecodeError as err:
            if not rows:
                _refuse_single_document(path, text)
            rows.append(
                _UnreadableRow(
                    ref, line, {}, "bad json", f"not valid JSON ({err.msg}, column {err.colno})"
                )
            )
    return rows


def _refuse_single_document(path: Path, text: str) -> None:
    """A file starting with ``{`` whose first line is not JSON may be one big object."""
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return
    raise IngestError(
        f"{path}: one JSON object spanning several lines; expected an array of objects "
        "or JSON Lines (one object per line)"
    )


def _json_input(rows: list[SourceRow]) -> _Input:
    seen: dict[str, str] = {}
    for row in rows:
        if isinstance(row.values, Mapping):
            for name in row.values:
                seen.setdefault(str(name), row.ref)
    return _Input(rows, tuple(seen), seen)


def _read_input(path: Path, text: str) -> _Input:
    fmt = detect_format(text)
    if fmt == "csv":
        return _csv_input(path, text)
    rows = _json_array_rows(path, text) if fmt == "json" else _json_lines_rows(path, text)
    return _json_input(rows)


def _check_columns(spec: RecordSpec, found: _Input, path: Path) -> None:
    valid = [c.name for c in spec.columns]
    unknown = [n for n in found.columns if n not in spec.model.by_name or n in LINEAGE_COLUMNS]
    if unknown:
        name = unknown[0]
        hint = ""
        if name in LINEAGE_COLUMNS:
            hint = f" ({name} is lineage that callkpi sets itself"
            hint += "; a lead's origin goes in source_channel)" if spec.table == "leads" else ")"
        names = ", ".join(repr(n) for n in unknown)
        raise IngestError(
            f"{found.columns_ref[name]}: unknown column{'s' if len(unknown) > 1 else ''} "
            f"{names} for table {spec.table}{hint}; its columns are: {', '.join(valid)}"
        )
    if not found.columns:
        return
    lacking = [n for n in spec.required if n not in found.columns]
    if lacking:
        where = "the header" if found.header is not None else "no object"
        verb = "lacks" if found.header is not None else "has"
        raise IngestError(
            f"{path}: {where} {verb} required column{'s' if len(lacking) > 1 else ''} "
            f"{', '.join(lacking)} of table {spec.table}; required: {', '.join(spec.required)}"
        )


def _given(found: _Input, row: SourceRow) -> Mapping[str, Any]:
    if isinstance(row, _UnreadableRow):
        raise RowError(row.code, row.problem)
    if isinstance(row.values, Mapping):
        return row.values
    assert found.header is not None
    if len(row.values) != len(found.header):
        raise RowError(
            "bad row", f"{len(row.values)} values, but the header has {len(found.header)} columns"
        )
    return dict(zip(found.header, row.values, strict=True))


def _converter(
    spec: RecordSpec, found: _Input, maker: _RowMaker, call_ids: set[str] | None
) -> Convert:
    """``call_ids`` (when given) collects the call ids of the rows made."""

    def convert(row: SourceRow) -> Canonical:
        made = maker.make(_given(found, row))
        if call_ids is not None:
            call_ids.add(made["call_id"])
        return [(spec.table, made)]

    return convert


_CARRY_DISPOSITIONS = ("calls", "dispositions")
"""Tables whose loading applies dispositions onto calls (see :mod:`.dispositions`)."""


def _apply_dispositions(wh: Warehouse, call_ids: set[str]) -> None:
    ids = pa.table({"call_id": pa.array(sorted(call_ids), pa.string())})
    with wh.transaction() as con:
        con.register("_records_call_ids", ids)
        try:
            dispositions.apply(con, "_records_call_ids")
        finally:
            con.unregister("_records_call_ids")


# -- the adapter ----------------------------------------------------------------------------


def ingest(wh: Warehouse, path: str | Path, options: IngestOptions, table: str) -> IngestReport:
    """Load a CSV, JSON or JSON Lines file of canonical ``table`` rows."""
    spec = spec_for(table)
    timezones.zone(options.zone)
    resolved = files.resolve(path)
    source = f"{ROW_SOURCE}:{spec.table}"
    text = _read_text(resolved)
    lines = len(text.splitlines())
    if not text.strip():
        report = IngestReport(source, str(resolved), lines_read=lines)
        report.notes.append(f"{resolved} is empty")
        return report
    found = _read_input(resolved, text)
    _check_columns(spec, found, resolved)
    mask = mask_key(wh.con) if options.mask_callers and "caller" in spec.model.by_name else None
    maker = _RowMaker(spec, options.zone, options.tenant, mask)
    call_ids: set[str] | None = set() if spec.table in _CARRY_DISPOSITIONS else None
    report = load_rows(
        wh,
        source=source,
        path=resolved,
        rows=found.rows,
        convert=_converter(spec, found, maker, call_ids),
        lines_read=lines,
        strict=options.strict,
    )
    if call_ids:
        _apply_dispositions(wh, call_ids)
    report.skipped += found.skipped
    return report


# -- the column reference (docs/records.md) ---------------------------------------------------

REFERENCE_BEGIN = "<!-- BEGIN records reference: generated by callkpi.ingest.records -->"
REFERENCE_END = "<!-- END records reference -->"

_TYPE_NAMES = {
    "VARCHAR": "text",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _column_constraints(spec: RecordSpec, name: str) -> str:
    parts = []
    if name in spec.allowed:
        parts.append("one of " + ", ".join(f"`{v}`" for v in spec.allowed[name]))
    low, high = spec.minimum.get(name), spec.maximum.get(name)
    if low is not None and high is not None:
        parts.append(f"{low:g} to {high:g}")
    elif low is not None:
        parts.append(f"at least {low:g}")
    if name in spec.currency:
        parts.append("three-letter currency code, stored upper-case")
    if name in spec.defaults:
        parts.append("default " + spec.defaults[name].doc)
    return "; ".join(parts)


def _table_reference(spec: RecordSpec) -> Iterator[str]:
    cli = spec.table.replace("_", "-")
    yield f"### {spec.table}"
    yield ""
    yield f"`callkpi ingest {cli} FILE`. {spec.model.doc}"
    yield ""
    key = ", ".join(f"`{k}`" for k in spec.key)
    empty_ok = [f"`{k}`" for k in spec.key if spec.model.by_name[k].nullable]
    note = f" An empty {' or '.join(empty_ok)} is a key value too." if empty_ok else ""
    yield f"Key (a row with the same key replaces the stored one): {key}.{note}"
    yield ""
    yield "| column | type | required | allowed values, default | meaning |"
    yield "|---|---|---|---|---|"
    for column in spec.columns:
        required = (
            "yes"
            if column.name in spec.required
            else ("no (defaulted)" if column.name in spec.not_null else "no")
        )
        meaning = "" if column.doc.startswith("see ") else column.doc  # enums: listed already
        yield (
            f"| `{column.name}` | {_TYPE_NAMES[column.type]} | {required} | "
            f"{_cell(_column_constraints(spec, column.name))} | {_cell(meaning)} |"
        )
    if spec.rules:
        yield ""
        yield "Rows are rejected unless:"
        yield ""
        yield from (f"- {rule.doc}" for rule in spec.rules)
    yield ""


def reference_markdown() -> str:
    """The per-table column reference of ``docs/records.md``, from the model and SPECS."""
    lines = [REFERENCE_BEGIN, ""]
    for spec in SPECS.values():
        lines.extend(_table_reference(spec))
    lines.append(REFERENCE_END)
    return "\n".join(lines)


def documented_reference(doc: str) -> str:
    """The generated part of a ``docs/records.md`` text (empty when its markers are missing)."""
    start, end = doc.find(REFERENCE_BEGIN), doc.find(REFERENCE_END)
    if start < 0 or end < start:
        return ""
    return doc[start : end + len(REFERENCE_END)]


def write_reference(doc_path: str | Path) -> None:
    """Replace the generated part of ``doc_path`` with :func:`reference_markdown`."""
    path = Path(doc_path)
    doc = path.read_text(encoding="utf-8")
    current = documented_reference(doc)
    if not current:
        raise ValueError(f"{path}: no {REFERENCE_BEGIN!r} ... {REFERENCE_END!r} section")
    path.write_text(doc.replace(current, reference_markdown()), encoding="utf-8")
