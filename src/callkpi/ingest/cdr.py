"""Asterisk CDR files (Master.csv): outbound and non-queue inbound calls into ``calls``.

Two layouts are read, told apart by where the date-times are (see :func:`detect_layout`),
with the column orders of Asterisk's own source:

* **cdr_csv** (``cdr/cdr_csv.c``, ``build_csv_record``): accountcode, src, dst, dcontext,
  clid, channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec,
  disposition, amaflags; then uniqueid if ``loguniqueid``, userfield if ``loguserfield``,
  and peeraccount, linkedid, sequence if ``newcdrcolumns`` (cdr.conf ``[csv]``; the last
  three since Asterisk 12). Strings are quoted, duration/billsec/sequence are bare
  integers, an unset answer time is an empty unquoted field.
* **cdr_custom's default mapping** (``configs/samples/cdr_custom.conf.sample``): clid, src,
  dst, dcontext, channel, dstchannel, lastapp, lastdata, start, answer, end, duration,
  billsec, disposition, amaflags, accountcode, uniqueid, userfield, sequence, each wrapped
  in ``CSV_QUOTE`` except the sequence.

start, answer and end are local wall times ``YYYY-MM-DD HH:MM:SS`` (UTC only with
``usegmtime=yes``), read in ``options.tz``.

Which rows become calls, and how (docs/ingest-cdr.md explains it for users):

* Queue calls (lastapp ``Queue``/``AppQueue``, dcontext ``ext-queues``/``from-queue``) are
  skipped: queue_log describes them with far more detail. So are rows of ``Local/``
  channels: they are dialplan plumbing (one per ring-group or queue member), and the
  call itself is the row of the phone or trunk channel.
* The direction comes from who placed the call (:func:`_caller_is_internal`): a phone
  (a SIP/PJSIP/IAX2/... peer named by an extension number, or an extension-like src)
  calling an external number is outbound; a caller from outside is inbound; a phone
  calling another extension or a feature code is an internal call and is skipped.
* ``call_id`` is the uniqueid; several rows of one uniqueid (Asterisk 12+ writes one per
  party pair) are told apart by ``segment``, a 31-bit number hashed from the row's
  channels, times, durations and disposition. Without a uniqueid column the call id is
  that hash itself (``cdr-`` + 16 hex digits) and the segment 1. The number fields (src,
  dst, clid, lastdata) stay out of the hash, so ids do not encode masked callers, and the
  same row gets the same key in any file and either layout: loading it again is a
  duplicate.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from callkpi import timezones
from callkpi.ingest import files, tabular
from callkpi.ingest.masking import mask_key, mask_value
from callkpi.ingest.options import IngestOptions
from callkpi.ingest.report import IngestError, IngestReport
from callkpi.ingest.tabular import Canonical, SourceRow
from callkpi.ingest.values import RowError, bad_value, missing, to_float, to_utc
from callkpi.model import Direction, Outcome
from callkpi.store import Warehouse

SOURCE = "cdr"

CDR_CSV = "cdr_csv"
CDR_CUSTOM = "cdr_custom"

_BASE_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
_NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")
_CUSTOM_COLUMNS = (
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "userfield",
    "sequence",
)
_TIME_POSITIONS = {CDR_CSV: (9, 11), CDR_CUSTOM: (8, 10)}
"""0-based positions of start and end, which tell the layouts apart."""

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIME_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_UNIQUEID_RE = re.compile(r"(?:[\w.-]+-)?\d{9,11}\.\d+")
"""Asterisk's ``[systemname-]epoch.counter``."""
HEAD_BYTES = 65536

OUTCOMES = {
    "ANSWERED": Outcome.ANSWERED,
    "NO ANSWER": Outcome.NO_ANSWER,
    "BUSY": Outcome.BUSY,
    "FAILED": Outcome.FAILED,
    "CONGESTION": Outcome.FAILED,
}
"""Asterisk's ``ast_cdr_disp2str`` names and the outcome each one means."""

EXTENSION_DIGITS = range(2, 7)
"""An internal extension is 2 to 6 digits; a number of 7 or more digits is external."""

_PHONE_TECHS = frozenset({"SIP", "PJSIP", "IAX2", "SCCP", "SKINNY", "MGCP", "UNISTIM"})
"""Channel technologies a desk phone or softphone can use (DAHDI lines are trunks)."""
_INBOUND_CONTEXTS = (
    "from-trunk",
    "from-pstn",
    "from-did",
    "ext-did",
    "from-external",
    "from-provider",
    "incoming",
    "inbound",
)
_INTERNAL_CONTEXTS = (
    "from-internal",
    "internal",
    "from-phones",
    "phones",
    "from-users",
    "users",
    "outbound",
    "outrt-",
    "macro-dialout",
)
_QUEUE_APPS = frozenset({"queue", "appqueue"})
_QUEUE_CONTEXTS = ("ext-queues", "from-queue")

_IDENTITY_FIELDS = (
    "accountcode",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
"""What identifies a row besides its uniqueid: no phone numbers (src, dst, clid and
lastdata hold them), and only columns both layouts have."""

_NUMBER_RUN = re.compile(r"(?<![\w.:-])\+?\d{6,}(?![\w.:])")
"""A phone-number-like run of digits in a raw line (not a uniqueid, time or channel suffix)."""


# -- layout -------------------------------------------------------------------------------


def _looks_like_time(value: str) -> bool:
    return bool(_TIME_RE.fullmatch(value.strip()))


def _layout_of(record: Sequence[str]) -> str | None:
    for layout, (start, end) in _TIME_POSITIONS.items():
        if len(record) > end and _looks_like_time(record[start]) and _looks_like_time(record[end]):
            return layout
    return None


def _is_header(record: Sequence[str]) -> bool:
    names = {value.strip().lower() for value in record}
    return {"start", "disposition"} <= names


def detect_layout(path: Path) -> str | None:
    """``cdr_csv`` or ``cdr_custom``, from the first row of the file whose start and end
    are where one of the layouts puts them; ``None`` for a file with no data rows.

    Raises :class:`IngestError` when the file has rows but none is a CDR of either layout.
    """
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES).decode("utf-8", errors="replace")
    has_data = False
    for record in csv.reader(io.StringIO(head, newline="")):
        if not record or all(not value.strip() for value in record) or _is_header(record):
            continue
        has_data = True
        layout = _layout_of(record)
        if layout:
            return layout
    if has_data:
        raise IngestError(
            f"{path}: not an Asterisk Master.csv: no row in its first {HEAD_BYTES // 1024} KiB "
            "has start and end date-times (YYYY-MM-DD HH:MM:SS) where cdr_csv (fields 10 "
            "and 12) or cdr_custom's default mapping (fields 9 and 11) writes them"
        )
    return None


def _column_names(layout: str, record: Sequence[str]) -> tuple[str, ...]:
    """The names of ``record``'s fields, or a reject for a count the layout cannot have."""
    count = len(record)
    if layout == CDR_CUSTOM:
        if count == len(_CUSTOM_COLUMNS):
            return _CUSTOM_COLUMNS
        raise RowError(
            "wrong column count", f"found {count} fields, expected 19 (cdr_custom default mapping)"
        )
    base = len(_BASE_COLUMNS)
    extra = count - base
    if extra in (0, 2):
        optional: tuple[str, ...] = ("uniqueid", "userfield")[:extra]
    elif extra in (3, 5):
        optional = ("uniqueid", "userfield")[: extra - 3] + _NEW_COLUMNS
    elif extra in (1, 4):
        # loguniqueid or loguserfield alone: the same count, told apart by the value.
        one = "uniqueid" if _UNIQUEID_RE.fullmatch(record[base].strip()) else "userfield"
        optional = (one,) + (_NEW_COLUMNS if extra == 4 else ())
    else:
        raise RowError("wrong column count", f"found {count} fields, expected 16 to 21 (cdr_csv)")
    return _BASE_COLUMNS + optional


# -- who is who ---------------------------------------------------------------------------


def _is_extension(number: str) -> bool:
    return number.isdigit() and len(number) in EXTENSION_DIGITS


def _is_external(number: str) -> bool:
    digits = number[1:] if number.startswith("+") else number
    return digits.isdigit() and len(digits) > EXTENSION_DIGITS[-1]


@dataclass(frozen=True)
class Endpoint:
    """What a channel name says: ``SIP/1001-0000002a`` is tech SIP, peer 1001."""

    tech: str
    peer: str

    @classmethod
    def parse(cls, channel: str) -> Endpoint | None:
        tech, sep, resource = channel.partition("/")
        if not sep or not resource:
            return None
        tech = tech.upper()
        # Local/1001@from-internal-00000001;2 names an extension; elsewhere the suffix
        # after the last '-' numbers the channel instance (SIP/1001-0000002a).
        peer = resource.split("@", 1)[0] if tech == "LOCAL" else resource.rsplit("-", 1)[0]
        return cls(tech, peer)

    @property
    def phone_extension(self) -> str | None:
        """The extension of a phone channel (a phone peer named by its number)."""
        if self.tech in _PHONE_TECHS and _is_extension(self.peer):
            return self.peer
        return None


def _context_kind(dcontext: str) -> str | None:
    context = dcontext.lower()
    if context.startswith(_INBOUND_CONTEXTS):
        return "inbound"
    if context.startswith(_INTERNAL_CONTEXTS):
        return "internal"
    return None


def _caller_is_internal(cdr: dict[str, str]) -> bool:
    """Whether a phone of this PBX placed the call; the first rule that applies decides.

    1. A trunk context (from-trunk, from-pstn, from-did..., incoming...): no.
    2. The channel is a phone named by an extension (SIP/1001-...): yes. This comes before
       src, which FreePBX overwrites with the outbound caller id.
    3. src is an extension number: yes; src is an external number: no.
    4. Otherwise (no or odd caller id) a phone context (from-internal, ...) says yes.
    """
    kind = _context_kind(cdr["dcontext"])
    if kind == "inbound":
        return False
    endpoint = Endpoint.parse(cdr["channel"])
    if endpoint and endpoint.phone_extension:
        return True
    src = cdr["src"]
    if _is_extension(src):
        return True
    if _is_external(src):
        return False
    return kind == "internal"


def _direction(cdr: dict[str, str]) -> Direction | None:
    """Inbound, outbound, or ``None`` for an internal call (phone to extension or code)."""
    if not _caller_is_internal(cdr):
        return Direction.INBOUND
    return Direction.OUTBOUND if _is_external(cdr["dst"]) else None


def _outbound_agent(cdr: dict[str, str]) -> str | None:
    endpoint = Endpoint.parse(cdr["channel"])
    if endpoint and endpoint.phone_extension:
        return endpoint.phone_extension
    if _is_extension(cdr["src"]):
        return cdr["src"]
    if endpoint and endpoint.tech in _PHONE_TECHS:
        return endpoint.peer  # a phone with a named peer (PJSIP/alice-...)
    return None


def _inbound_agent(cdr: dict[str, str]) -> str | None:
    """The extension that answered: the phone (or Local/EXT@...) the call was bridged to."""
    endpoint = Endpoint.parse(cdr["dstchannel"])
    if (
        endpoint
        and (endpoint.tech in _PHONE_TECHS or endpoint.tech == "LOCAL")
        and (_is_extension(endpoint.peer))
    ):
        return endpoint.peer
    if _is_extension(cdr["dst"]):
        return cdr["dst"]
    return None


def _skip_reason(cdr: dict[str, str]) -> str | None:
    """Why a row is not ours to load (checked before the row is validated)."""
    if cdr["lastapp"].strip().lower() in _QUEUE_APPS or cdr["dcontext"].lower().startswith(
        _QUEUE_CONTEXTS
    ):
        return "queue"
    endpoint = Endpoint.parse(cdr["channel"])
    if endpoint and endpoint.tech == "LOCAL":
        return "local channel"
    return None


# -- ids ----------------------------------------------------------------------------------


def call_key(cdr: dict[str, str]) -> tuple[str, int]:
    """(call_id, segment) of a row; see the module docstring."""
    identity = "\x1f".join(cdr.get(name, "") for name in _IDENTITY_FIELDS)
    digest = hashlib.sha256(identity.encode()).digest()
    uniqueid = cdr.get("uniqueid", "")
    if uniqueid:
        return uniqueid, int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1
    return "cdr-" + digest[:8].hex(), 1


# -- values -------------------------------------------------------------------------------


def _time(cdr: dict[str, str], name: str, tz: str) -> dt.datetime | None:
    value = cdr[name]
    try:
        return to_utc(name, value, tz, formats=(TIME_FORMAT,))
    except RowError:
        raise bad_value(name, value, "a date-time like 2026-03-02 09:15:00") from None


def _later_reading(value: str, tz: str) -> dt.datetime:
    """A wall time of the repeated hour read as its second occurrence (``fold=1``)."""
    local = dt.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=timezones.zone(tz), fold=1)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def _seconds(cdr: dict[str, str], name: str) -> float:
    value = cdr[name]
    seconds = to_float(name, value)
    if seconds is None:
        raise missing(name)
    if seconds < 0:
        raise bad_value(name, value, "a number of seconds >= 0")
    return seconds


@dataclass(frozen=True)
class Times:
    start: dt.datetime
    answer: dt.datetime | None
    end: dt.datetime


def _times(cdr: dict[str, str], tz: str) -> Times:
    start = _time(cdr, "start", tz)
    answer = _time(cdr, "answer", tz)
    end = _time(cdr, "end", tz)
    if start is None:
        raise missing("start")
    if end is None:
        raise missing("end")
    if end < start:
        # In the repeated hour of a fall-back transition a later time can read earlier.
        later = _later_reading(cdr["end"], tz)
        if later < start:
            raise RowError(
                "end before start", f"end = {cdr['end']!r} is before start = {cdr['start']!r}"
            )
        end = later
        if answer is not None and answer < start:
            answer = _later_reading(cdr["answer"], tz)
    if answer is not None and not start <= answer <= end:
        raise bad_value(
            "answer",
            cdr["answer"],
            f"a time between start = {cdr['start']!r} and end = {cdr['end']!r}",
        )
    return Times(start, answer, end)


def _disposition(cdr: dict[str, str]) -> Outcome:
    disposition = cdr["disposition"].strip().upper()
    outcome = OUTCOMES.get(disposition)
    if outcome is None:
        raise RowError(
            "unknown disposition",
            f"disposition = {cdr['disposition']!r}, expected one of {', '.join(OUTCOMES)}",
        )
    return outcome


def _reached_voicemail(cdr: dict[str, str], direction: Direction, outcome: Outcome) -> bool:
    """An inbound call the PBX answered to record a message: nobody talked to the caller."""
    return (
        outcome is Outcome.ANSWERED
        and direction is Direction.INBOUND
        and cdr["lastapp"].lower() == "voicemail"
    )


# -- rows ---------------------------------------------------------------------------------


@dataclass
class _Converter:
    """Turns one Master.csv record into a ``calls`` row (the ``convert`` of tabular)."""

    layout: str | None
    tz: str
    tenant: str | None
    mask: str | None
    skipped: Counter[str] = field(default_factory=Counter)

    def __call__(self, row: SourceRow) -> Canonical:
        record = [str(value) for value in row.values]
        if _is_header(record):
            self.skipped["header"] += 1
            return []
        if self.layout is None:  # only header lines in the file's head
            raise RowError("unknown layout", "no row in the file's head shows its layout")
        names = _column_names(self.layout, record)
        cdr = {name: value.strip() for name, value in zip(names, record, strict=True)}
        reason = _skip_reason(cdr)
        if reason:
            self.skipped[reason] += 1
            return []
        times = _times(cdr, self.tz)
        talk_s = _seconds(cdr, "billsec")
        _seconds(cdr, "duration")  # checked only: the times already say how long
        outcome = _disposition(cdr)
        if outcome is Outcome.ANSWERED and times.answer is None:
            raise RowError("missing field", "answer is required when disposition is ANSWERED")
        direction = _direction(cdr)
        if direction is None:
            self.skipped["internal"] += 1
            return []
        if _reached_voicemail(cdr, direction, outcome):
            outcome = Outcome.VOICEMAIL
        answered = outcome is Outcome.ANSWERED
        if direction is Direction.OUTBOUND:
            agent = _outbound_agent(cdr)
            customer = cdr["dst"]
        else:
            agent = _inbound_agent(cdr) if answered else None
            customer = cdr["src"]
        call_id, segment = call_key(cdr)
        answered_at = times.answer if answered else None
        return [
            (
                "calls",
                {
                    "call_id": call_id,
                    "segment": segment,
                    "tenant": self.tenant,
                    "direction": direction.value,
                    "channel": "voice",
                    "agent": agent,
                    "caller": self._caller(customer),
                    "entered_at": times.start,
                    "answered_at": answered_at,
                    "ended_at": times.end,
                    "outcome": outcome.value,
                    "ring_s": (answered_at - times.start).total_seconds() if answered_at else None,
                    "talk_s": talk_s if answered else None,
                    "transferred": False,
                },
            )
        ]

    def _caller(self, number: str) -> str | None:
        if not number:
            return None
        return mask_value(number, self.mask) if self.mask is not None else number


def _masked_rows(rows: Iterator[SourceRow], key: str) -> Iterator[SourceRow]:
    """The rows with phone numbers in their raw text masked, for the quarantine."""
    for row in rows:
        raw = _NUMBER_RUN.sub(lambda match: mask_value(match.group(), key) or "", row.raw)
        yield SourceRow(row.ref, raw, row.values)


_SKIP_NOTES = {
    "queue": "queue calls (they come from queue_log)",
    "local channel": "Local channel legs (the call is on the phone's or trunk's row)",
    "internal": "internal calls (extension to extension or feature code)",
    "header": "header lines",
}


def ingest(wh: Warehouse, path: str | Path, options: IngestOptions) -> IngestReport:
    """Load the new rows of an Asterisk Master.csv (either layout) into ``calls``."""
    timezones.zone(options.zone)
    resolved = files.resolve(path)
    layout = detect_layout(resolved)
    key = mask_key(wh.con) if options.mask_callers else None
    convert = _Converter(layout, options.zone, options.tenant, key)
    read = tabular.read_new_text(wh, SOURCE, resolved)
    rows: Iterator[SourceRow] = tabular.csv_rows(resolved, read.text, read.first_line, ",")
    if key is not None:
        rows = _masked_rows(rows, key)

    def save() -> None:
        files.save_state(
            wh.con,
            SOURCE,
            resolved,
            files.FileState(read.head_hash, read.end_offset, read.lines_read),
        )

    report = tabular.load_rows(
        wh,
        source=SOURCE,
        path=resolved,
        rows=rows,
        convert=convert,
        lines_read=read.lines_read - read.first_line + 1,
        strict=options.strict,
        on_commit=save,
    )
    if layout:
        report.notes.append(f"layout: {layout}")
    for reason, count in sorted(convert.skipped.items()):
        report.notes.append(f"skipped as {_SKIP_NOTES[reason]}: {count}")
    if options.tz is None and report.loaded + report.updated + report.duplicates:
        report.notes.append(
            "CDR times were read as UTC (pass --tz ZONE unless cdr.conf has usegmtime=yes)"
        )
    return report


__all__ = ["CDR_CSV", "CDR_CUSTOM", "OUTCOMES", "SOURCE", "call_key", "detect_layout", "ingest"]
