"""Asterisk queue_log: the file app_queue writes, and exports of the realtime table.

Two forms are read, detected line by line:

* the file: ``epoch|callid|queuename|agent|event|data1|data2|...`` (UTC epoch seconds);
* a realtime ``queue_log`` table export: ``time`` as a date-time (microseconds allowed;
  naive times are local to ``--tz``), then ``callid, queuename, agent, event,
  data1..data5``, pipe-, comma- or tab-delimited, with or without a header line. A header
  maps columns by name (a single ``data`` column is accepted too). Asterisk stores the
  6th and later data fields pipe-joined in data5 (ATTENDEDTRANSFER LINK:
  ``calltime|origpos``); callkpi splits them again, so both forms mean the same.

Each batch of lines is parsed and validated in DuckDB (no Python per line), appended to
the ``queue_log_events`` journal (an event already there is a duplicate), and then the
``calls`` and ``agent_states`` rows of every call and agent the batch touched are rebuilt
from the journal. So a call whose end arrives in a later batch, a later run or a
``--follow`` poll is completed, and loading the same lines twice changes nothing.

How a call's events become visits (``calls`` rows), in time order per callid:

* A visit starts at ENTERQUEUE, at a one-event visit (FULL, JOINEMPTY, CLOSED,
  DIVERT_*), when the queue changes, at the first event of the call in range (so a call
  whose ENTERQUEUE is before the loaded range still gets its visit, with ``entered_at``
  computed back from CONNECT's holdtime or the end's waittime, never after the visit's
  first event), or when an answer or end
  event follows an ended visit. ABANDON after SYSCOMPAT (Asterisk writes both), a second
  ABANDON, and LEAVEEMPTY after EXITEMPTY (Wazo writes both) belong to the visit they follow.
* The first end event decides the outcome (see ``queue_log_events.EVENTS``); SYSCOMPAT
  makes it ``failed``. A visit with no end yet is ``in_progress``. If the same call starts
  another visit before an end arrives, the open visit is closed at that moment: as
  ``answered`` and transferred (``transfer_kind = inferred``) when it was connected,
  else as ``overflowed``.
* wait, ring and talk come from the event fields (CONNECT holdtime and ringtime; the
  end's waittime, holdtime and calltime), not from differences of timestamps, which are
  whole seconds in the file form. ``acw_s`` is WRAPUPSTART's wrap-up time; ``did`` the
  last DID event before the visit.

``agent_states`` holds the sessions (see :mod:`callkpi.ingest.agent_sessions`) and, per
call, ``ringing`` (RINGNOANSWER/RINGCANCELED in ms, CONNECT's ringtime, AGENTDUMP; the
reason says which), ``talking`` (answer to end) and ``wrapup`` (WRAPUPSTART + data1 s).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import time as time_mod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event
from typing import Any

import duckdb
import pyarrow as pa

from callkpi import timezones
from callkpi.ingest import dispositions, files
from callkpi.ingest.agent_sessions import SessionEvent, agent_session_states
from callkpi.ingest.masking import mask_key, mask_sql
from callkpi.ingest.options import IngestOptions
from callkpi.ingest.queue_log_events import (
    ATTENDED_FORMS,
    EVENTS,
    MAX_CHECKED_FIELD,
    Role,
    events_with,
    field_index,
    forms,
)
from callkpi.ingest.report import IngestError, IngestReport
from callkpi.store import LoadCounts, Warehouse, fetch_one, fetch_scalar, rollup, utc_now

SOURCE = "queue_log"
Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as batches are committed."""

_COLUMN_NAMES = ("time", "callid", "queuename", "agent", "event")
_FINALS = events_with(Role.END_ANSWERED, Role.END_UNANSWERED, Role.STANDALONE)
_VISIT_EVENTS = events_with(
    Role.OPEN,
    Role.STANDALONE,
    Role.ANSWER,
    Role.END_ANSWERED,
    Role.END_UNANSWERED,
    Role.MID,
    Role.TRAILING,
)
CALL_VISIT_EVENTS = tuple(e for e in _VISIT_EVENTS if EVENTS[e].role is not Role.MID)
"""The events a call's visits are made of: a callid with one has a ``calls`` row."""
_SESSION_EVENTS = events_with(Role.SESSION)


@dataclass(frozen=True)
class Layout:
    """Where the fields are in a line."""

    delimiter: str = "|"
    header_line: int | None = None
    columns: tuple[int, int, int, int, int] = (1, 2, 3, 4, 5)
    """1-based positions of time, callid, queuename, agent, event."""
    data: tuple[int, ...] = ()
    """Positions of data1..data5 (or the single ``data`` column) when a header names them."""
    data_to_end: bool = True
    """Data fields run from the 6th field to the end of the line."""
    trim: bool = False
    """Strip spaces around fields (exports may pad them; Asterisk's own file never does)."""


# -- layout -------------------------------------------------------------------------------


def _split_one(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter)) if line else []


def detect_layout(path: Path) -> Layout:
    """Find the delimiter and an optional header from the first non-blank line."""
    with path.open("rb") as fh:
        head = fh.read(65536).decode("utf-8", errors="replace")
    for number, line in enumerate(head.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        delimiter = "|" if "|" in line else "\t" if "\t" in line else "," if "," in line else "|"
        names = [n.strip().strip('"').lower() for n in _split_one(line, delimiter)]
        if "event" not in names or "time" not in names:
            first = names[0] if names else ""
            return Layout(delimiter=delimiter, trim=not first.isdigit())
        aliases = {"queue": "queuename", "queue_name": "queuename", "uniqueid": "callid"}
        names = [aliases.get(n, n) for n in names]
        missing = [c for c in _COLUMN_NAMES if c not in names]
        if missing:
            raise IngestError(
                f"{path}:{number}: header has no column {', '.join(missing)} "
                f"(expected time, callid, queuename, agent, event, data1..data5)"
            )
        columns = tuple(names.index(c) + 1 for c in _COLUMN_NAMES)
        if "data" in names:
            data: tuple[int, ...] = (names.index("data") + 1,)
        else:
            data = tuple(names.index(f"data{i}") + 1 for i in range(1, 6) if f"data{i}" in names)
        last = data[-1] if data else 0
        contiguous = all(b == a + 1 for a, b in itertools.pairwise(data))
        return Layout(
            delimiter=delimiter,
            header_line=number,
            columns=columns,  # type: ignore[arg-type]
            data=data,
            data_to_end=bool(data) and contiguous and last == len(names),
            trim=True,
        )
    return Layout()


def _data_sql(layout: Layout, ended: bool = False) -> str:
    """An expression for the list of data fields, with data5's pipe-joined rest split
    (``ended``: ``fields`` has an extra empty last element, see :meth:`_Batch.parse`)."""
    rest = ":-2]" if ended else ":]"
    if not layout.data:
        base = "fields[6" + rest
    elif layout.data_to_end:
        base = f"fields[{layout.data[0]}" + rest
    else:
        base = "[" + ", ".join(f"fields[{i}]" for i in layout.data) + "]"
    if layout.delimiter == "|" and (not layout.data or layout.data_to_end):
        return base  # the line's own split already separated every data field
    # data5 (or a single data column) may hold "a|b": split the last field again.
    return (
        f"(CASE WHEN len({base}) = 0 THEN {base} ELSE list_concat({base}[:-2], "
        f"string_split({base}[-1], '|')) END)"
    )


# -- SQL building blocks ------------------------------------------------------------------


def _event_key(time_sql: str, data_sql: str) -> str:
    """The journal's key: a hash of the line's content (its time in UTC)."""
    return f"hash({time_sql}, callid, queue, agent, event, {data_sql})"


def _in(names: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"


def _data_index(event: str, name: str) -> int | None:
    """The data field called ``name`` of an event that ends a visit (ATTENDEDTRANSFER: of
    its BRIDGE and APP forms; the LINK form has one more field before, see ``shifted``)."""
    if event not in _FINALS:
        return None
    if event != "ATTENDEDTRANSFER":
        return field_index(event, name)
    bridge, app, link = (field_index(event, name, form) for form in ("BRIDGE", "APP", "LINK"))
    if bridge is None or link is None:
        return None
    assert app == bridge and link == bridge + 1, name
    return bridge


def _visit_event_spec() -> str:
    """A VALUES list: per event that takes part in a visit, its part (opener, final, ...)
    and where its numbers are (1-based data field positions, NULL where it has none).
    Joined to the journal instead of long IN lists and CASEs: cheaper to plan and to run."""
    rows = []
    for event in CALL_VISIT_EVENTS:
        hold = 1 if event == "CONNECT" else _data_index(event, "holdtime")
        position = 3 if event == "ENTERQUEUE" else _data_index(event, "origposition")
        extra = {"CONNECT": 3, "WRAPUPSTART": 1}.get(event)
        values = [
            f"'{event}'",
            str(event in _OPENERS).lower(),
            str(event in _FINALS).lower(),
            str(event in _RESTARTS).lower(),
            str(event in _CLOSING).lower(),
            *(
                "NULL::INTEGER" if i is None else str(i)
                for i in (
                    hold,
                    _data_index(event, "calltime"),
                    _data_index(event, "waittime"),
                    position,
                    extra,
                )
            ),
            str(event == "ATTENDEDTRANSFER").lower(),
        ]
        rows.append("(" + ", ".join(values) + ")")
    return (
        f"(VALUES {', '.join(rows)}) s(event, is_opener, is_final, is_restart, "
        "is_closing, hold_i, talk_i, wait_i, position_i, extra_i, shifted)"
    )


def _outcome_case(event_col: str) -> str:
    whens = " ".join(
        f"WHEN '{name}' THEN '{spec.outcome}'" for name, spec in EVENTS.items() if spec.outcome
    )
    return f"(CASE {event_col} {whens} END)"


_QUOTE = "'\"' || {} || '\"'"
_OFFSET_RE = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$"


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _first_bit(mask: str) -> str:
    """The 1-based position of the lowest set bit of ``mask`` (a data field number), or 1
    for 0 (the callers check ``mask <> 0`` first)."""
    return f"length(bin(({mask}) & -({mask})))"


def _forms_table() -> pa.Table:
    """Every event form as a row (see ``queue_log_events.forms``): the validation joins the
    lines to it by ``f_key``. A table, registered for each parse, and not lists of literals
    in the SQL: DuckDB took 20-30 ms to plan those, on every load (a live load of 1,000
    lines spent more time planning its parse than running it)."""
    specs = forms()
    return pa.table({
        "f_key": [s.key for s in specs],
        "f_role": [s.role.value for s in specs],
        "f_needs_call": [s.needs_call for s in specs],
        "f_needs_agent": [s.needs_agent for s in specs],
        "f_required": pa.array([s.required_mask for s in specs], pa.int64()),
        "f_integer": pa.array([s.integer_mask for s in specs], pa.int64()),
        "f_names": pa.array([list(s.names) for s in specs], pa.list_(pa.string())),
    })


_FORMS = _forms_table()


def _validation_sql(bad_utf8: tuple[int, ...]) -> tuple[str, str, str, str]:
    """Four SQL fragments over ``event`` and ``data``: the key of the line's event form
    (joined to ``ql_forms``, :func:`_forms_table`, for its ``f_*`` columns); the bits of
    the data fields that are missing or not whole numbers; ``bad_at``, the first such
    field (missing ones first); and the first problem of the line as ``code: detail``."""
    key = (
        "CASE WHEN event = 'ATTENDEDTRANSFER' "
        "THEN event || ':' || coalesce(data[1], '') ELSE event END"
    )
    missing = " | ".join(
        f"CASE WHEN (f_required & {1 << i}) <> 0 AND coalesce(data[{i + 1}], '') = '' "
        f"THEN {1 << i} ELSE 0 END"
        for i in range(MAX_CHECKED_FIELD)
    )
    not_int = " | ".join(
        f"CASE WHEN (f_integer & {1 << i}) <> 0 AND coalesce(data[{i + 1}], '') <> '' "
        f"AND TRY_CAST(data[{i + 1}] AS BIGINT) IS NULL THEN {1 << i} ELSE 0 END"
        for i in range(MAX_CHECKED_FIELD)
    )
    checks = f"({missing}) AS missing_bits, ({not_int}) AS not_int_bits"
    bad_at = (
        f"CASE WHEN missing_bits <> 0 THEN {_first_bit('missing_bits')} "
        f"WHEN not_int_bits <> 0 THEN {_first_bit('not_int_bits')} END AS bad_at"
    )
    utf8 = (
        f"WHEN line_no IN ({', '.join(map(str, bad_utf8))}) THEN "
        "'invalid utf-8: the line has bytes that are not UTF-8'"
        if bad_utf8
        else ""
    )
    quote = _QUOTE.format
    problem = f"""CASE
        {utf8}
        WHEN n_fields < 5 THEN 'too few fields: expected at least 5 (time, callid, queuename, '
            || 'agent, event), found ' || n_fields
        WHEN time_utc IS NULL THEN 'bad time: time = ' || {quote("coalesce(time_text, '')")}
            || ' is neither a Unix epoch nor a date-time'
        WHEN f_key IS NULL AND event = 'ATTENDEDTRANSFER' THEN 'bad field: ATTENDEDTRANSFER '
            || 'data1 (form) = ' || {quote("coalesce(data[1], '')")} || ', expected one of '
            || '{", ".join(ATTENDED_FORMS)}'
        WHEN f_key IS NULL THEN 'unknown event: ' || {quote("event")}
            || ' is not a queue_log event callkpi knows'
        WHEN f_needs_call AND coalesce(callid, '') IN ('', 'NONE') THEN 'no call id: '
            || event || ' needs the caller''s uniqueid in the callid field'
        WHEN f_needs_agent AND coalesce(agent, '') IN ('', 'NONE') THEN 'no agent: '
            || event || ' needs the agent field'
        WHEN bad_at IS NOT NULL THEN 'bad field: ' || event || ' data' || bad_at
            || ' (' || f_names[bad_at] || ') '
            || CASE WHEN missing_bits <> 0 THEN 'is missing'
                    ELSE '= ' || {quote("data[bad_at]")} || ', expected a whole number' END
    END"""
    return key, checks, bad_at, problem


# -- one batch ----------------------------------------------------------------------------


@dataclass
class _Batch:
    wh: Warehouse
    path: Path
    layout: Layout
    options: IngestOptions
    batch_id: int
    report: IngestReport = field(init=False)
    accepted: int = field(init=False, default=0)
    """Lines that passed validation (duplicates included)."""

    def __post_init__(self) -> None:
        self.report = IngestReport(SOURCE, str(self.path))

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.wh.con

    def parse(self, chunk: files.LineChunk) -> None:
        """Lines -> ``ql_rows``: typed fields, the event's role, and what is wrong (in one
        pass over the lines; the raw text is kept only for rejected lines)."""
        con, layout = self.con, self.layout
        header = layout.header_line or 0
        # Pipe-delimited lines are read with a '|' for their LF (files.read_chunks): they
        # split into their fields plus an empty last one, and no line is copied to cut its
        # end off.
        ended = layout.delimiter == "|" and chunk.line_end == "|"
        table = chunk.lines
        if ended:
            lines = (
                "SELECT line_no, line AS raw, string_split(line, '|') AS fields FROM "
                f"ql_lines WHERE line_no <> {header} AND line <> '|'"
            )
        else:
            # Every line ends in LF; cutting one character is much cheaper than rtrim.
            raw = "rtrim(line, chr(13) || chr(10))" if chunk.has_cr else "line[:-2]"
            lines = (
                f"SELECT line_no, raw, string_split(raw, '{layout.delimiter}') AS fields "
                f"FROM (SELECT line_no, {raw} AS raw FROM ql_lines) "
                f"WHERE line_no <> {header} AND raw <> ''"
            )
        con.register("ql_lines", table)
        con.register("ql_forms", _FORMS)
        try:
            if layout.delimiter == "|":
                source = f"({lines})"
            else:  # quoted fields are possible: fix those lines before parsing
                con.execute(f"CREATE OR REPLACE TEMP TABLE ql_split AS {lines}")
                self._resplit_quoted()
                source = "ql_split"
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE ql_rows AS "
                f"{self._rows_sql(source, chunk.invalid_utf8, ended)}"
            )
        finally:
            con.unregister("ql_lines")
            con.unregister("ql_forms")
            con.execute("DROP TABLE IF EXISTS ql_split")
        parsed, self.accepted, lo, hi = fetch_one(
            con,
            'SELECT count(*), count(*) FILTER (WHERE problem IS NULL), min("time") FILTER '
            '(WHERE naive), max("time") FILTER (WHERE naive) FROM ql_rows',
        ) or (0, 0, None, None)
        if lo is not None:
            self._naive_times_to_utc(lo, hi)
        self.report.lines_read += chunk.num_lines
        self.report.skipped += chunk.num_lines - parsed  # blank lines and the header

    def _resplit_quoted(self) -> None:
        """Comma/tab exports may quote fields: split those lines with a real CSV parser."""
        quoted = self.con.execute(
            "SELECT line_no, raw FROM ql_split WHERE contains(raw, '\"')"
        ).fetchall()
        if not quoted:
            return
        numbers, fields = [], []
        for line_no, raw in quoted:
            numbers.append(line_no)
            fields.append(next(csv.reader(io.StringIO(raw), delimiter=self.layout.delimiter), []))
        fixed = pa.table({"line_no": numbers, "fields": pa.array(fields, pa.list_(pa.string()))})
        self.con.register("ql_quoted", fixed)
        self.con.execute(
            "UPDATE ql_split SET fields = q.fields FROM ql_quoted q "
            "WHERE ql_split.line_no = q.line_no"
        )
        self.con.unregister("ql_quoted")

    def _rows_sql(self, source: str, bad_utf8: tuple[int, ...], ended: bool) -> str:
        t, c, q, a, e = self.layout.columns
        form_key, checks, bad_at, problem = _validation_sql(bad_utf8)

        def trim(expr: str) -> str:
            return f"trim({expr})" if self.layout.trim else expr

        data = "data"
        if self.options.mask_callers:  # the journal keeps masked callers only
            caller = mask_sql("data[2]", mask_key(self.con))
            data = (
                f"CASE WHEN event = 'ENTERQUEUE' "
                f"THEN list_concat(data[:1], [{caller}], data[3:]) ELSE data END"
            )
        epoch = "TRY_CAST(time_text AS BIGINT)"
        with_offset = f"regexp_matches(time_text, '{_OFFSET_RE}')"
        return f"""
        WITH fields AS (
          SELECT line_no, raw, len(fields){" - 1" if ended else ""} AS n_fields,
                 {trim(f"fields[{t}]")} AS time_text,
                 {trim(f"fields[{c}]")} AS callid, {trim(f"fields[{q}]")} AS queue,
                 {trim(f"fields[{a}]")} AS agent, {trim(f"fields[{e}]")} AS event,
                 {_data_sql(self.layout, ended)} AS data
          FROM {source}
        ),
        timed AS (
          SELECT *,
            CASE WHEN {epoch} BETWEEN 100000000 AND 99999999999
                   THEN make_timestamp({epoch} * 1000000)
                 WHEN {with_offset} THEN CAST(TRY_CAST(time_text AS TIMESTAMPTZ) AS TIMESTAMP)
                 ELSE TRY_CAST(time_text AS TIMESTAMP)
            END AS time_utc,
            -- A CASE, not AND: DuckDB evaluates both sides of an AND on every row, and
            -- the regular expression is the costly one (epoch lines never need it).
            CASE WHEN {epoch} IS NULL THEN NOT {with_offset} ELSE false END AS naive
          FROM fields
        ),
        coded AS (SELECT * FROM timed LEFT JOIN ql_forms ON f_key = {form_key}),
        looked AS (SELECT *, {checks} FROM coded),
        located AS (SELECT *, {bad_at} FROM looked),
        checked AS (SELECT *, {problem} AS problem FROM located)
        SELECT line_no, CASE WHEN problem IS NOT NULL THEN raw{"[:-2]" if ended else ""} END AS raw,
               time_utc AS "time", naive AND time_utc IS NOT NULL AS naive,
               callid, queue, agent, event, {data} AS data, f_role AS role, problem,
               {_event_key("time_utc", data)} AS event_key, false AS dup
        FROM checked"""

    def _naive_times_to_utc(self, lo: Any, hi: Any) -> None:
        """Table exports carry wall-clock times: shift them from ``--tz`` to UTC (they are
        between ``lo`` and ``hi``), and hash the lines again with their UTC time."""
        offsets = timezones.offsets_from_local(self.options.zone, lo, hi)
        case = timezones.sql_offset_case('"time"', offsets)
        utc = f'"time" - to_seconds({case})'
        self.con.execute(
            f'UPDATE ql_rows SET "time" = {utc}, event_key = {_event_key(utc, "data")} WHERE naive'
        )
        if self.options.tz is None:
            self.report.notes.append("naive date-times were read as UTC (pass --tz ZONE)")

    def quarantine(self) -> None:
        con = self.con
        masked_raw = "raw"
        if self.options.mask_callers:
            # Mask phone-number-like data fields of rejected lines too.
            key = mask_key(con)
            masked_raw = (
                "array_to_string(list_transform(string_split(raw, '|'), lambda f, i: "
                "CASE WHEN i > 5 AND regexp_full_match(f, '\\+?\\d{6,15}') THEN "
                f"{mask_sql('f', key)} ELSE f END), '|')"
            )
        for code, n in con.execute(
            "SELECT split_part(problem, ':', 1), count(*) FROM ql_rows "
            "WHERE problem IS NOT NULL GROUP BY 1"
        ).fetchall():
            self.report.rejected[code] += n
        con.execute(
            f"""INSERT INTO quarantine
            SELECT '{SOURCE}', ? || ':' || line_no, {masked_raw}, problem, ?, ?
            FROM ql_rows r WHERE problem IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM quarantine q WHERE q.source = '{SOURCE}'
                AND q.source_ref = ? || ':' || r.line_no)""",
            [str(self.path), self.batch_id, utc_now(), str(self.path)],
        )

    def journal(self) -> None:
        """Append the accepted, new events to ``queue_log_events``; ``ql_new`` (a view)
        is them."""
        con = self.con
        # The same line twice in the batch (keep the first), or already in the journal.
        con.execute(
            """CREATE OR REPLACE TEMP TABLE ql_dups AS
            SELECT r.line_no FROM ql_rows r JOIN (
                SELECT event_key, min(line_no) AS first_line FROM ql_rows
                WHERE problem IS NULL GROUP BY event_key HAVING count(*) > 1) d
              ON r.event_key = d.event_key AND r.line_no > d.first_line
            WHERE r.problem IS NULL
            UNION
            SELECT line_no FROM ql_rows WHERE problem IS NULL AND event_key IN (
              SELECT e.event_key FROM queue_log_events e
              WHERE e."time" BETWEEN (SELECT min("time") FROM ql_rows WHERE problem IS NULL)
                                 AND (SELECT max("time") FROM ql_rows WHERE problem IS NULL))"""
        )
        duplicates = fetch_scalar(con, "SELECT count(*) FROM ql_dups")
        if duplicates:
            con.execute("UPDATE ql_rows SET dup = true WHERE line_no IN (SELECT * FROM ql_dups)")
        # seq only has to grow in load order: the batch's line numbers on top of the last.
        base = int(fetch_scalar(con, "SELECT coalesce(max(seq), 0) FROM queue_log_events"))
        # ql_new: the journal's rows of this batch (rebuild_calls reads the events of calls
        # that are new in this batch from it instead of from the journal).
        con.execute(
            f"""CREATE OR REPLACE TEMP VIEW ql_new AS
            SELECT *, {base} + line_no AS seq, {_literal(self.options.tenant)}::VARCHAR AS tenant,
                   {_literal(str(self.path))} AS source_file
            FROM ql_rows WHERE problem IS NULL AND NOT dup"""
        )
        con.execute(
            """INSERT INTO queue_log_events
            SELECT seq, event_key, "time", callid, queue, agent, event, data, tenant,
                   source_file, line_no, ?
            FROM ql_new""",
            [self.batch_id],
        )
        self.report.add(LoadCounts(loaded=self.accepted - duplicates, duplicates=duplicates))
        con.execute(
            """CREATE OR REPLACE TEMP TABLE ql_touched_calls AS
            SELECT DISTINCT callid FROM ql_new WHERE role NOT IN ('session', 'system')"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE ql_touched_agents AS
            SELECT DISTINCT agent FROM ql_new WHERE role = 'session'"""
        )

    def cleanup(self) -> None:
        self.con.execute("DROP VIEW IF EXISTS ql_new")
        for name in (
            "ql_split",
            "ql_rows",
            "ql_dups",
            "ql_touched_calls",
            "ql_touched_agents",
            "ql_old_calls",
        ):
            self.con.execute(f"DROP TABLE IF EXISTS {name}")


# -- rebuilding calls and agent states ----------------------------------------------------


_OPENERS = events_with(Role.OPEN, Role.STANDALONE)
_CLOSING = _FINALS + events_with(Role.TRAILING)
# Answer and end events start a new visit when they follow an ended one; a second ABANDON
# and LEAVEEMPTY never do (Asterisk and Wazo write them after the end of the same visit).
_RESTARTS = tuple(
    e
    for e in events_with(Role.ANSWER, Role.END_ANSWERED, Role.END_UNANSWERED)
    if e not in ("ABANDON", "LEAVEEMPTY")
)


def _visit_start_sql() -> str:
    """True where an event starts a new visit of its call (see the module docstring)."""
    return f"""(prev_event IS NULL
        OR is_opener
        OR queue IS DISTINCT FROM prev_queue
        OR (prev_event IN {_in(_CLOSING)} AND is_restart))"""


def _visit_aggregates(order: str) -> str:
    """The per-visit aggregates of a call split into visits, each taking the first
    matching event by ``order``. Queue and tenant are the same for all events of a visit."""

    def first(expr: str, where: str | None = None) -> str:
        return f"arg_min({expr}, {order})" + (f" FILTER (WHERE {where})" if where else "")

    return f"""
        min(queue) AS queue,
        max(tenant) AS tenant,
        {first("source_file")} || ':' || {first("line_no")} AS source_ref,
        min("time") AS first_time,
        min("time") FILTER (WHERE event = 'ENTERQUEUE') AS enter_time,
        {first("text", "event = 'ENTERQUEUE'")} AS caller,
        {first("position", "event = 'ENTERQUEUE'")} AS enter_position,
        {first('"time"', "event = 'CONNECT'")} AS connect_time,
        {first("agent", "event = 'CONNECT'")} AS connect_agent,
        {first("hold_s", "event = 'CONNECT'")} AS connect_hold,
        {first("extra_s", "event = 'CONNECT'")} AS connect_ring,
        {first("event", "is_final")} AS final_event,
        {first('"time"', "is_final")} AS final_time,
        {first("agent", "is_final")} AS final_agent,
        {first("hold_s", "is_final")} AS end_hold,
        {first("talk_s", "is_final")} AS end_talk,
        {first("wait_s", "is_final")} AS end_wait,
        {first("position", "is_final")} AS end_origpos,
        {first("text", "is_final")} AS end_target,
        bool_or(event = 'SYSCOMPAT') AS syscompat,
        {first("extra_s", "event = 'WRAPUPSTART'")} AS acw_s"""


_EVENT_COLUMNS = 'seq, "time", callid, queue, agent, event, data, tenant, source_file, line_no'


def _visit_events_sql(
    batch: str | None = None, with_old: bool = True, since: dt.datetime | None = None
) -> str:
    """The visit events of the callids in ``ql_touched_calls``, with their part in a visit
    and their numbers read by event type (``ql_ev``), and ``cid``, a number per callid
    (cheaper to group and join by than the callid).

    ``batch``: the batch's new events (``ql_new``, already journaled); the callids not in
    ``ql_old_calls`` have all their events there, so they are read from it and only the
    others from the journal (``with_old``: there are any), from ``since`` on (a bound on
    their events' times, see :func:`rebuild_calls`) when given."""
    if batch is None:
        events = "queue_log_events"
    else:
        parts = [
            f"SELECT {_EVENT_COLUMNS} FROM {batch} "
            "WHERE callid NOT IN (SELECT callid FROM ql_old_calls)"
        ]
        if with_old:
            parts.append(
                f"SELECT {_EVENT_COLUMNS} FROM queue_log_events "
                "WHERE callid IN (SELECT callid FROM ql_old_calls)"
                + ("" if since is None else f" AND \"time\" >= TIMESTAMP '{since}'")
            )
        events = "(" + " UNION ALL ".join(parts) + ")"
    transfer_target = """CASE
        WHEN e.event IN ('TRANSFER', 'BLINDTRANSFER') THEN e.data[1] ||
             CASE WHEN coalesce(e.data[2], '') <> '' THEN '@' || e.data[2] ELSE '' END
        WHEN e.event = 'ATTENDEDTRANSFER' THEN CASE e.data[1]
             WHEN 'BRIDGE' THEN 'bridge:' || e.data[2] WHEN 'APP' THEN 'app:' || e.data[2]
             WHEN 'LINK' THEN 'link:' || e.data[3] END END"""
    return f"""
      SELECT e.cid, e.seq, e."time", e.callid, e.queue, e.agent, e.event, e.tenant,
             e.source_file, e.line_no,
             -- (time, seq) as one number: seq stays far below 10^12
             epoch_us(e."time")::HUGEINT * 1000000000000 + e.seq AS k,
             s.is_opener, s.is_final, s.is_restart, s.is_closing,
             TRY_CAST(e.data[s.hold_i + e.shift] AS DOUBLE) AS hold_s,
             TRY_CAST(e.data[s.talk_i + e.shift] AS DOUBLE) AS talk_s,
             TRY_CAST(e.data[s.wait_i + e.shift] AS DOUBLE) AS wait_s,
             TRY_CAST(e.data[s.position_i + e.shift] AS DOUBLE) AS position,
             TRY_CAST(e.data[s.extra_i] AS DOUBLE) AS extra_s,
             CASE WHEN e.event = 'ENTERQUEUE' THEN nullif(e.data[2], '')
                  ELSE {transfer_target} END AS text
      FROM (SELECT e.*, t.cid,
                   CASE WHEN event = 'ATTENDEDTRANSFER' AND data[1] = 'LINK' THEN 1
                        ELSE 0 END AS shift
            FROM {events} e
            JOIN (SELECT callid, row_number() OVER () AS cid FROM ql_touched_calls) t
              ON e.callid = t.callid) e
      JOIN {_visit_event_spec()} ON e.event = s.event
    """


@contextmanager
def _joins_as_written(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Plan the joins of a statement in the order written, each building its hash table
    on its right side. For :func:`_visit_events_sql` DuckDB underestimated the batch's
    filtered rows and built on them (every event with all its columns) instead of on the
    touched callids: 1.8-3.5 s instead of 1.2-1.5 s for one 256 MB batch."""
    con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
    try:
        yield
    finally:
        con.execute("RESET disabled_optimizers")


def _whole_calls_sql(force_window: bool) -> str:
    """``ql_whole``: per call of ``ql_ev`` (:func:`_visit_events_sql`), whether it is
    simple (:func:`_calls_sql`), its first event's time and its tenant (``force_window``:
    no call is simple)."""
    # One visit, and at most one event of each kind the aggregates pick from.
    simple = (
        "FALSE"
        if force_window
        else """(
          count(*) FILTER (WHERE is_opener) = 1
          AND min(queue) = max(queue)
          AND min(k) FILTER (WHERE is_opener) = min(k)
          AND count(*) FILTER (WHERE event = 'CONNECT') <= 1
          AND count(*) FILTER (WHERE is_final) <= 1
          AND count(*) FILTER (WHERE event = 'WRAPUPSTART') <= 1
          AND coalesce(max(k) FILTER (WHERE is_restart)
                       <= min(k) FILTER (WHERE is_closing), TRUE))"""
    )
    return f"""
    CREATE OR REPLACE TEMP TABLE ql_whole AS
    SELECT cid, {simple} AS simple, min("time") AS first_time, max(tenant) AS tenant
    FROM ql_ev GROUP BY cid"""


def _calls_sql(target: str, with_dids: bool, split: bool) -> str:
    """Insert into ``target`` (``calls`` or ``ql_new_calls``, see :func:`rebuild_calls`)
    the visits of the simple calls of ``ql_whole``
    (:func:`_whole_calls_sql`), or, with ``split``, of the others, from their events in
    ``ql_ev`` (:func:`_visit_events_sql`).

    Each event's data fields are read into named numbers first (holdtime, calltime, ...
    by event type), so the per-visit aggregation only moves scalars around. Rings and
    AGENTDUMP never change a visit, so they are left out (they feed agent_states).

    Most calls are simple: one visit, with one opening event that comes first, one queue,
    at most one CONNECT, end and WRAPUPSTART, and no answer or end after the visit ended.
    Those take each field from its event's row by a join; only the others go through the
    window functions that split a call into visits. Two statements, the second run only
    when a call needs it: a live load's calls are all simple, and DuckDB takes longer to
    plan the split than to run the rest (~8 ms a load).
    """
    answered_end = _in(events_with(Role.END_ANSWERED))
    standalone = _in(events_with(Role.STANDALONE))
    did_join = (
        'ASOF LEFT JOIN dids d ON v.callid = d.callid AND v.first_time >= d."time"'
        if with_dids
        else "LEFT JOIN (SELECT NULL AS did) d ON FALSE"
    )
    if split:
        visits = f"""
    ordered AS (
      SELECT *, row_number() OVER w AS ord, lag(event) OVER w AS prev_event,
             lag(queue) OVER w AS prev_queue
      FROM ql_ev SEMI JOIN (SELECT cid FROM ql_whole WHERE NOT simple) USING (cid)
      WINDOW w AS (PARTITION BY callid ORDER BY "time", seq)
    ),
    marked AS (
      SELECT *, sum(CASE WHEN {_visit_start_sql()} THEN 1 ELSE 0 END)
                  OVER (PARTITION BY callid ORDER BY ord ROWS UNBOUNDED PRECEDING) AS visit
      FROM ordered
    ),
    split_visits AS (
      SELECT callid, visit, {_visit_aggregates("ord")} FROM marked GROUP BY callid, visit
    ),
    visits AS (
      SELECT *, lead(coalesce(enter_time, first_time)) OVER w AS next_start,
             lead(queue) OVER w AS next_queue
      FROM split_visits WINDOW w AS (PARTITION BY callid ORDER BY visit)
    ),"""
    else:
        # A simple call's visit takes each of its events from its own row (joins are
        # cheaper than aggregates).
        visits = """
    visits AS (
      SELECT o.callid, 1 AS visit, o.queue, a.tenant,
             o.source_file || ':' || o.line_no AS source_ref, a.first_time,
             CASE WHEN o.event = 'ENTERQUEUE' THEN o."time" END AS enter_time,
             CASE WHEN o.event = 'ENTERQUEUE' THEN o.text END AS caller,
             CASE WHEN o.event = 'ENTERQUEUE' THEN o.position END AS enter_position,
             c."time" AS connect_time, c.agent AS connect_agent, c.hold_s AS connect_hold,
             c.extra_s AS connect_ring,
             f.event AS final_event, f."time" AS final_time, f.agent AS final_agent,
             f.hold_s AS end_hold, f.talk_s AS end_talk, f.wait_s AS end_wait,
             f.position AS end_origpos, f.text AS end_target,
             coalesce(f.event = 'SYSCOMPAT', false) AS syscompat,
             w.extra_s AS acw_s,
             NULL::TIMESTAMP AS next_start, NULL::VARCHAR AS next_queue
      FROM (SELECT * FROM ql_whole WHERE simple) a
      JOIN (SELECT * FROM ql_ev WHERE is_opener) o ON o.cid = a.cid
      LEFT JOIN (SELECT * FROM ql_ev WHERE event = 'CONNECT') c ON c.cid = a.cid
      LEFT JOIN (SELECT * FROM ql_ev WHERE is_final) f ON f.cid = a.cid
      LEFT JOIN (SELECT * FROM ql_ev WHERE event = 'WRAPUPSTART') w ON w.cid = a.cid
    ),"""
    return f"""
    INSERT INTO {target} ({_CALL_COLUMNS})
    WITH{visits}
    dids AS (
      SELECT e.callid, e."time", e.data[1] AS did
      FROM queue_log_events e SEMI JOIN ql_touched_calls t ON e.callid = t.callid
      WHERE e.event = 'DID'
    ),
    linked AS (
      SELECT v.*, d.did, v.final_event IN {answered_end} AS answered_end
      FROM visits v {did_join}
    ),
    timed AS (
      SELECT *,
        final_event IS NULL AND next_start IS NOT NULL AND connect_time IS NOT NULL AS inferred,
        -- Never after the visit's first event (hold or wait fields that disagree with
        -- the timestamps): rebuild_calls relies on it to bound its journal read.
        least(coalesce(enter_time,
                       connect_time - to_seconds(connect_hold),
                       CASE WHEN answered_end
                            THEN final_time - to_seconds(end_talk + end_hold) END,
                       final_time - to_seconds(end_wait),
                       first_time),
              first_time) AS entered_at
      FROM linked
    )
    SELECT
      callid, visit, tenant, 'in', 'voice', queue,
      coalesce(connect_agent, CASE WHEN answered_end THEN final_agent END),
      caller, did, entered_at,
      -- Without CONNECT the answer is the end minus the talk time; whole-second fields
      -- that disagree with the timestamps must not put it before the visit began.
      CASE WHEN connect_time IS NOT NULL THEN connect_time
           WHEN answered_end THEN greatest(entered_at, final_time - to_seconds(end_talk)) END,
      CASE WHEN final_event IS NOT NULL THEN final_time
           WHEN next_start IS NOT NULL THEN next_start END,
      CASE WHEN syscompat THEN 'failed'
           WHEN final_event IS NOT NULL THEN {_outcome_case("final_event")}
           WHEN inferred THEN 'answered'
           WHEN next_start IS NOT NULL THEN 'overflowed'
           ELSE 'in_progress' END,
      CASE WHEN connect_time IS NOT NULL
             THEN coalesce(connect_hold, epoch(connect_time - enter_time))
           WHEN answered_end THEN end_hold
           WHEN final_event IN {standalone} THEN 0
           WHEN final_event IS NOT NULL THEN coalesce(end_wait, epoch(final_time - entered_at))
           WHEN next_start IS NOT NULL THEN epoch(next_start - entered_at)
      END,
      connect_ring,
      CASE WHEN answered_end THEN end_talk
           WHEN inferred THEN epoch(next_start - connect_time) END,
      acw_s,
      CAST(coalesce(enter_position, end_origpos) AS INTEGER),
      coalesce(final_event IN ('TRANSFER', 'BLINDTRANSFER', 'ATTENDEDTRANSFER'), false) OR inferred,
      CASE final_event WHEN 'TRANSFER' THEN 'transfer' WHEN 'BLINDTRANSFER' THEN 'blind'
           WHEN 'ATTENDEDTRANSFER' THEN 'attended'
           ELSE CASE WHEN inferred THEN 'inferred' END END,
      CASE WHEN inferred THEN 'queue:' || next_queue ELSE end_target END,
      CASE final_event WHEN 'COMPLETECALLER' THEN 'caller' WHEN 'COMPLETEAGENT' THEN 'agent' END,
      '{SOURCE}', source_ref
    FROM timed"""


_CALL_COLUMNS = (
    "call_id, segment, tenant, direction, channel, queue, agent, caller, did, entered_at, "
    "answered_at, ended_at, outcome, wait_s, ring_s, talk_s, acw_s, enter_position, "
    "transferred, transfer_kind, transfer_target, ended_by, source, source_ref"
)

# Ringing and wrap-up depend on their own event only: added once, for new events, in one
# pass over the batch's rows.
_EVENT_STATES_SQL = f"""
INSERT INTO agent_states
  (agent, queue, state, reason, call_id, start_at, end_at, source, source_ref)
SELECT agent, queue, CASE WHEN event = 'WRAPUPSTART' THEN 'wrapup' ELSE 'ringing' END,
       CASE event WHEN 'RINGNOANSWER' THEN 'noanswer' WHEN 'RINGCANCELED' THEN 'canceled'
                  WHEN 'CONNECT' THEN 'answered' WHEN 'AGENTDUMP' THEN 'dumped' END,
       callid,
       CASE WHEN event = 'WRAPUPSTART' THEN "time"
            ELSE "time" - to_seconds(coalesce(CASE event
                 WHEN 'CONNECT' THEN TRY_CAST(data[3] AS DOUBLE)
                 WHEN 'AGENTDUMP' THEN 0
                 ELSE TRY_CAST(data[1] AS DOUBLE) / 1000 END, 0)) END,
       CASE WHEN event = 'WRAPUPSTART' THEN "time" + to_seconds(TRY_CAST(data[1] AS DOUBLE))
            ELSE "time" END,
       '{SOURCE}', $path || ':' || line_no
FROM ql_new
WHERE event IN ('RINGNOANSWER', 'RINGCANCELED', 'CONNECT', 'AGENTDUMP', 'WRAPUPSTART')
  AND coalesce(agent, '') NOT IN ('', 'NONE')
"""

# Talking follows the visit (answer to end), so it is rebuilt with the calls, from their
# new rows (dispositions change none of these columns).
_TALKING_SQL = """
INSERT INTO agent_states
  (agent, queue, state, reason, call_id, start_at, end_at, source, source_ref)
SELECT c.agent, c.queue, 'talking', NULL, c.call_id, c.answered_at, c.ended_at,
       c.source, c.source_ref
FROM ql_new_calls c
WHERE c.agent IS NOT NULL AND c.answered_at IS NOT NULL
"""


def add_event_states(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The ringing and wrap-up intervals of the batch's new events (``ql_new``)."""
    con.execute(_EVENT_STATES_SQL, {"path": str(path)})


DIRECT_MIN_CALLS = 50_000
"""A batch touching at least this many calls inserts their new rows straight into
``calls`` and reads them back from there; fewer are built in a temporary table first
(a live load's few hundred must not cost a scan of every call's id). Measured on one
256 MB batch of the 10M-line benchmark (1.3M new calls): 2.5 s instead of 3.1 s for
building, inserting and reading back the calls and their talking states."""


DIFFERENCE_MAX_CALLS = 0
"""A batch touching at most this many calls has the roll-up follow it by the calls'
difference (``rollup.refresh(new_calls=...)``) instead of regrouping its quarter hours.
Off (0): measured on bench/server.py's live loads (1,000 events touching ~700 calls,
in-process, alternated), the difference cost ~20 ms more wall time per load than the
regroup both with 200,000 and with 420,000 calls in the quarter hour. Measured again once
the journal reads were bounded by time, and with the difference's own read of the touched
calls bounded by their rows' times too (not kept), 15 loads each, alternated in one
warehouse: +15 ms with 190,000 calls (median 262 against 247 ms) and -14 ms with 570,000
(244 against 258 ms; means within 3 ms). No gain worth the second path."""


def _journal_has_dids(con: duckdb.DuckDBPyConnection, batch: str | None) -> bool:
    """Whether the journal holds a DID event (the batch ``batch`` included, already
    journaled). Kept in ``callkpi_meta`` (``queue_log_dids``) and set by the first batch
    with one, so that a load never scans the journal's event column for it (a scan that
    grows with the day); a warehouse without the key reads it from the journal once."""
    known = fetch_scalar(con, "SELECT value FROM callkpi_meta WHERE key = 'queue_log_dids'")
    if known == "1":
        return True
    events = "queue_log_events" if known is None or batch is None else batch
    found = fetch_scalar(con, f"SELECT EXISTS (SELECT 1 FROM {events} WHERE event = 'DID')")
    if known is None or found:
        con.execute(
            "INSERT OR REPLACE INTO callkpi_meta VALUES ('queue_log_dids', ?)",
            ["1" if found else "0"],
        )
    return bool(found)


def rebuild_calls(
    con: duckdb.DuckDBPyConnection, *, force_window: bool = False, batch: str | None = None
) -> None:
    """Rebuild the calls, and their talking states, of the callids in ``ql_touched_calls``
    (``force_window``: split every call with the window path; for tests).

    ``batch`` names the batch's new events (``ql_new``, already in the journal). A callid
    with no ``calls`` row yet has no earlier event that makes a visit (every callid with
    one has a visit: the first event of a call in range starts one), so its calls are
    built from the batch alone, and only the calls that already had rows are read back
    from the journal, deleted and rebuilt: a first load never reads the journal back.
    Without ``batch`` every touched call is rebuilt from the journal.

    The touched calls' rows (of any source: dispositions apply to them all) are kept as
    they were (:func:`rollup.save_old_calls`), so that the roll-up follows the change by
    the calls' difference instead of regrouping their quarter hours."""
    touched = "call_id IN (SELECT callid FROM ql_touched_calls)"
    rollup.save_old_calls(con, touched)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ql_old_calls AS
        SELECT DISTINCT call_id AS callid FROM _rollup_old_calls WHERE source = '{SOURCE}'"""
    )
    old = "call_id IN (SELECT callid FROM ql_old_calls)"
    calls, old_calls = fetch_one(
        con, "SELECT count(*), (SELECT count(*) FROM ql_old_calls) FROM ql_touched_calls"
    ) or (0, 0)
    since = states_since = None
    if old_calls:
        batch_first = "NULL" if batch is None else f'(SELECT min("time") FROM {batch})'
        lo, hi, undated, first = fetch_one(
            con,
            "SELECT min(entered_at), max(entered_at), count(*) FILTER (entered_at IS NULL), "
            f"{batch_first} FROM _rollup_old_calls WHERE source = '{SOURCE}'",
        ) or (None, None, 1, None)
        if batch is not None and not undated and lo is not None:
            # Every visit event already journaled belongs to a visit whose row begins no
            # later than it (at its opener, or reckoned back from its answer or end and
            # capped at its first event: _calls_sql), so none of the old calls' journaled
            # events is older than their rows, nor one of the batch than its oldest line:
            # the journal read skips the row groups before. Their talking states began
            # at their answers, so none before their rows either.
            since = lo if first is None else min(lo, first)
            states_since = lo
        # Within the old rows' time range when they all have one: DuckDB then skips the
        # row groups outside it instead of scanning every call's id.
        within = "" if undated else " AND entered_at BETWEEN $lo AND $hi"
        con.execute(
            f"DELETE FROM calls WHERE source = '{SOURCE}' AND {old}{within}",
            {} if undated else {"lo": lo, "hi": hi},
        )
    # ql_new_calls: the touched calls' new rows, from which their quarter hours and
    # talking states come. A few calls are built apart first, not to scan every call's id
    # for them; many are inserted straight into calls and read back (see DIRECT_MIN_CALLS).
    direct = calls >= DIRECT_MIN_CALLS
    if direct:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW ql_new_calls AS SELECT {_CALL_COLUMNS} FROM calls "
            f"WHERE source = '{SOURCE}' AND call_id IN (SELECT callid FROM ql_touched_calls)"
        )
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE ql_new_calls AS SELECT {_CALL_COLUMNS} FROM calls "
            "LIMIT 0"
        )
    target = "calls" if direct else "ql_new_calls"
    if calls:
        with _joins_as_written(con):
            con.execute(
                "CREATE OR REPLACE TEMP TABLE ql_ev AS "
                f"{_visit_events_sql(batch, with_old=bool(old_calls), since=since)}"
            )
        con.execute(_whole_calls_sql(force_window))
        with_dids = _journal_has_dids(con, batch)
        con.execute(_calls_sql(target, with_dids, split=False))
        if fetch_scalar(con, "SELECT EXISTS (SELECT 1 FROM ql_whole WHERE NOT simple)"):
            con.execute(_calls_sql(target, with_dids, split=True))
        con.execute("DROP TABLE ql_whole")
        con.execute("DROP TABLE ql_ev")
        if not direct:
            con.execute(
                f"INSERT INTO calls ({_CALL_COLUMNS}) SELECT {_CALL_COLUMNS} FROM ql_new_calls"
            )
    dispositions.apply(con, "ql_touched_calls", "callid", refresh_rollup=False)
    by_difference = calls <= DIFFERENCE_MAX_CALLS
    # The quarter hours of the touched calls' rows before (every source: the other
    # sources' rows stay as they were, dispositions change no entered_at) and after.
    rollup.refresh(
        con,
        f"SELECT {rollup.buckets_of('entered_at')} FROM _rollup_old_calls "
        f"UNION ALL SELECT {rollup.buckets_of('entered_at')} FROM ql_new_calls",
        new_calls=touched if by_difference else None,
    )
    if not by_difference:
        con.execute("DROP TABLE _rollup_old_calls")
    if old_calls:
        # A call with no calls row had no talking state either.
        con.execute(
            f"DELETE FROM agent_states WHERE source = '{SOURCE}' AND state = 'talking' "
            "AND call_id IN (SELECT callid FROM ql_old_calls)"
            + ("" if states_since is None else " AND start_at >= $since"),
            {} if states_since is None else {"since": states_since},
        )
    con.execute(_TALKING_SQL)
    con.execute(f"DROP {'VIEW' if direct else 'TABLE'} ql_new_calls")
    con.execute("DROP TABLE ql_old_calls")


def rebuild_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild logged_in and paused intervals of the agents in ``ql_touched_agents``.

    The events come out as plain Python values with only the data fields the sweep reads
    (data1-data3; whole lists cost three times as much to fetch), and the states go back
    in as an Arrow table (a bulk load writes hundreds of thousands of them: as Python
    parameter lists they took four times as long)."""
    events = con.execute(
        f"""SELECT e.agent, e."time", e.queue, e.event, e.data[1], e.data[2], e.data[3],
               e.source_file || ':' || e.line_no AS ref
        FROM queue_log_events e SEMI JOIN ql_touched_agents t ON e.agent = t.agent
        WHERE e.event IN {_in(_SESSION_EVENTS)}
        ORDER BY e.agent, e."time", e.seq"""
    ).fetchall()
    con.execute(
        f"DELETE FROM agent_states WHERE source = '{SOURCE}' AND state IN ('logged_in', 'paused') "
        "AND agent IN (SELECT agent FROM ql_touched_agents)"
    )
    states = []
    for agent, rows in itertools.groupby(events, key=lambda row: row[0]):
        batch = [
            SessionEvent(time, queue, event, (d1, d2, d3), ref)
            for _, time, queue, event, d1, d2, d3, ref in rows
        ]
        states += agent_session_states(agent, batch)
    if not states:
        return
    agent, queue, state, reason, start, end, ref = zip(*states, strict=True)
    text = pa.string()
    table = pa.table(
        {
            "agent": pa.array(agent, text),
            "queue": pa.array(queue, text),
            "state": pa.array([s.value for s in state], text),
            "reason": pa.array(reason, text),
            "start_at": pa.array(start, pa.timestamp("us")),
            "end_at": pa.array(end, pa.timestamp("us")),
            "source_ref": pa.array(ref, text),
        }
    )
    con.register("ql_session_states", table)
    try:
        con.execute(
            f"""INSERT INTO agent_states
              (agent, queue, state, reason, call_id, start_at, end_at, source, source_ref)
            SELECT agent, queue, state, reason, NULL, start_at, end_at, '{SOURCE}', source_ref
            FROM ql_session_states"""
        )
    finally:
        con.unregister("ql_session_states")


def settle_sessions(wh: Warehouse) -> int:
    """Rebuild the sessions of the agents batches marked as pending, in one transaction;
    returns how many agents. Runs after the batches of an ingest (and before, for any
    left by an ingest that crashed)."""
    pending = f"SELECT EXISTS (SELECT 1 FROM pending_agent_states WHERE source = '{SOURCE}')"
    if not fetch_scalar(wh.con, pending):
        return 0
    with wh.transaction() as con:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE ql_touched_agents AS
            SELECT agent FROM pending_agent_states WHERE source = '{SOURCE}'"""
        )
        agents = fetch_scalar(con, "SELECT count(*) FROM ql_touched_agents")
        if agents:
            rebuild_sessions(con)
            con.execute(f"DELETE FROM pending_agent_states WHERE source = '{SOURCE}'")
        con.execute("DROP TABLE ql_touched_agents")
    return int(agents)


# -- public API ---------------------------------------------------------------------------


def _line_end(layout: Layout) -> str | None:
    """What pipe-delimited lines are read ending in (see :meth:`_Batch.parse`)."""
    return "|" if layout.delimiter == "|" else None


def _load_chunk(
    wh: Warehouse,
    path: Path,
    layout: Layout,
    options: IngestOptions,
    chunk: files.LineChunk,
    head_hash: str,
) -> IngestReport:
    batch = _Batch(wh, path, layout, options, wh.next_batch_id())
    try:
        with wh.transaction() as con:
            batch.parse(chunk)
            batch.quarantine()
            if options.strict and batch.report.rejected_total:
                raise _StrictReject()
            batch.journal()
            add_event_states(con, path)
            rebuild_calls(con, batch="ql_new")
            con.execute(
                f"""INSERT INTO pending_agent_states
                SELECT DISTINCT '{SOURCE}', agent FROM ql_touched_agents t
                WHERE NOT EXISTS (SELECT 1 FROM pending_agent_states p
                                  WHERE p.source = '{SOURCE}' AND p.agent = t.agent)"""
            )
            offset, lines = chunk.resume
            files.save_state(con, SOURCE, path, files.FileState(head_hash, offset, lines))
            wh.record_batch(
                batch.batch_id,
                SOURCE,
                str(path),
                first_line=chunk.first_line,
                last_line=chunk.first_line + chunk.num_lines - 1,
                lines_read=chunk.num_lines,
                counts=LoadCounts(batch.report.loaded, 0, batch.report.duplicates),
                rejected=batch.report.rejected_total,
            )
        batch.report.batches = 1
    except _StrictReject:
        # Strict: the batch is rolled back, but its rejects are kept for the user to see.
        batch.cleanup()
        batch = _Batch(wh, path, layout, options, batch.batch_id)
        with wh.transaction():
            batch.parse(chunk)
            batch.quarantine()
        batch.report.notes.append(
            f"--strict: lines {chunk.first_line}-{chunk.first_line + chunk.num_lines - 1} "
            "were not loaded because some were rejected"
        )
        raise StrictRejected(batch.report) from None
    finally:
        batch.cleanup()
    return batch.report


class _StrictReject(Exception):
    pass


class StrictRejected(Exception):
    """--strict stopped an ingest; ``report`` says what was rejected."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__("rejected lines under --strict")
        self.report = report


def ingest(
    wh: Warehouse,
    path: str | Path,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Load the lines of a queue_log file not loaded before."""
    options = options or IngestOptions()
    timezones.zone(options.zone)
    resolved = files.resolve(path)
    layout = detect_layout(resolved)
    start = files.resume_point(wh.con, SOURCE, resolved)
    total = resolved.stat().st_size
    report = IngestReport(SOURCE, str(resolved))
    settle_sessions(wh)
    try:
        for chunk in files.read_chunks(
            resolved, start, batch_bytes=options.batch_bytes, line_end=_line_end(layout)
        ):
            try:
                report.merge(_load_chunk(wh, resolved, layout, options, chunk, start.head_hash))
            except StrictRejected as exc:
                report.merge(exc.report)
                raise StrictRejected(report) from None
            if progress:
                progress(chunk.end_offset, total)
    finally:
        settle_sessions(wh)
    return report


def follow(
    wh: Warehouse,
    path: str | Path,
    options: IngestOptions | None = None,
    *,
    poll_s: float = 0.5,
    idle_timeout_s: float | None = None,
    stop: Event | None = None,
    on_batch: Callable[[IngestReport], None] | None = None,
    lock: AbstractContextManager[Any] | None = None,
) -> IngestReport:
    """Tail a queue_log as Asterisk writes it: load complete lines every ``poll_s``.

    Stops when ``stop`` is set, or after ``idle_timeout_s`` without a new line. A file
    replaced by rotation (different first bytes, or shorter) is read from its start.
    ``lock`` (e.g. a server's lock around its warehouse) is held for each look at the
    file and each batch, and released between them.
    """
    guard: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
    options = options or IngestOptions()
    timezones.zone(options.zone)
    resolved = files.resolve(path)
    report = IngestReport(SOURCE, str(resolved))
    layout = detect_layout(resolved)
    last_data = time_mod.monotonic()
    while not (stop and stop.is_set()):
        with guard:
            start = files.resume_point(wh.con, SOURCE, resolved)
        if start.byte_offset == 0 and start.lines_read == 0:
            layout = detect_layout(resolved)
        got = False
        for chunk in files.read_chunks(
            resolved,
            start,
            batch_bytes=options.batch_bytes,
            include_unterminated=False,
            line_end=_line_end(layout),
        ):
            got = True
            with guard:
                batch = _load_chunk(wh, resolved, layout, options, chunk, start.head_hash)
                settle_sessions(wh)
                start = files.resume_point(wh.con, SOURCE, resolved)
            report.merge(batch)
            if on_batch:
                on_batch(batch)
        now = time_mod.monotonic()
        if got:
            last_data = now
        elif idle_timeout_s is not None and now - last_data >= idle_timeout_s:
            break
        if stop:
            stop.wait(poll_s)
        else:
            time_mod.sleep(poll_s)
    return report


__all__ = [
    "SOURCE",
    "Layout",
    "StrictRejected",
    "detect_layout",
    "follow",
    "ingest",
    "rebuild_calls",
    "rebuild_sessions",
]
