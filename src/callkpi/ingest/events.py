"""Live JSON events: what an ACD, a dialer or a CTI bridge posts as things happen.

An event is one JSON object::

    {"type": "call_entered", "at": "2026-11-24T10:00:00+03:00", "call_id": "1732.7",
     "queue": "support", "caller": "+79161234567", "position": 1}

``type`` is one of :data:`EVENT_TYPES`; ``at`` is ISO 8601 with an offset (or ``Z``), or
seconds since the epoch. Fields per type:

============================  ==========================================================
``call_entered``              ``call_id``, ``queue``; ``caller``, ``position`` optional
``call_answered``             ``call_id``, ``queue``, ``agent``; ``ring_s`` optional
``call_ended``                ``call_id``, ``queue``; ``ended_by`` ``caller`` (default) or
                              ``agent``
``call_abandoned``            ``call_id``, ``queue``; ``position`` optional
``agent_logged_in`` / ``_out``  ``agent``; ``queue`` optional (none: every queue)
``agent_paused`` / ``unpaused``  ``agent``; ``queue`` (none: every queue), ``reason``
``wrapup_started``            ``agent``, ``call_id``, ``queue``, ``wrapup_s``
============================  ==========================================================

How they are stored. Each event becomes the line Asterisk's app_queue would have written
for it (``call_entered`` -> ENTERQUEUE, ``call_answered`` -> CONNECT with the hold time,
``call_ended`` -> COMPLETECALLER/COMPLETEAGENT with hold and talk times, ``call_abandoned``
-> ABANDON with the wait, logins -> ADDMEMBER/AGENTLOGIN, pauses -> PAUSE/PAUSEALL,
``wrapup_started`` -> WRAPUPSTART), appended to a spool file per tenant and loaded by the
queue_log adapter (:mod:`callkpi.ingest.queue_log`). So a posted event and a line tailed
from a PBX build calls and agent states in one tested way, and the live numbers equal the
historical ones. The hold and talk times come from the call's earlier events (in the
same batch, or the call's open visit in the warehouse); times are whole seconds, as in a
queue_log.

A batch is all or nothing: every event is checked first (:class:`EventError` lists every
bad one with its index and field), and only a clean batch is written. Posting the same
batch again adds nothing (the queue_log journal drops identical lines).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from threading import Lock
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callkpi.ingest.options import IngestOptions
from callkpi.ingest.report import IngestReport
from callkpi.store import Warehouse

EVENT_TYPES = (
    "call_entered", "call_answered", "call_ended", "call_abandoned",
    "agent_logged_in", "agent_logged_out", "agent_paused", "agent_unpaused",
    "wrapup_started",
)
EventType = Literal[
    "call_entered", "call_answered", "call_ended", "call_abandoned",
    "agent_logged_in", "agent_logged_out", "agent_paused", "agent_unpaused",
    "wrapup_started",
]
REQUIRED: dict[str, tuple[str, ...]] = {
    "call_entered": ("call_id", "queue"),
    "call_answered": ("call_id", "queue", "agent"),
    "call_ended": ("call_id", "queue"),
    "call_abandoned": ("call_id", "queue"),
    "agent_logged_in": ("agent",),
    "agent_logged_out": ("agent",),
    "agent_paused": ("agent",),
    "agent_unpaused": ("agent",),
    "wrapup_started": ("agent", "call_id", "queue", "wrapup_s"),
}
MAX_TEXT = 200
"""Longest id, queue, agent, caller or reason accepted."""


class Event(BaseModel):
    """One live event (the JSON shape above)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EventType
    at: dt.datetime
    """When it happened; stored as whole epoch seconds (UTC)."""
    call_id: str | None = Field(None, max_length=MAX_TEXT)
    queue: str | None = Field(None, max_length=MAX_TEXT)
    agent: str | None = Field(None, max_length=MAX_TEXT)
    caller: str | None = Field(None, max_length=MAX_TEXT)
    reason: str | None = Field(None, max_length=MAX_TEXT)
    position: int | None = Field(None, ge=0)
    ring_s: float | None = Field(None, ge=0)
    wrapup_s: float | None = Field(None, ge=0)
    ended_by: Literal["caller", "agent"] | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _epoch_or_aware(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected an ISO 8601 time with an offset or epoch seconds")
        if isinstance(value, int | float):
            if not math.isfinite(value) or not 0 <= value < 1e11:
                raise ValueError("epoch seconds out of range")
            return dt.datetime.fromtimestamp(value, dt.UTC)
        return value

    @field_validator("at")
    @classmethod
    def _has_offset(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a time needs its UTC offset (e.g. 2026-11-24T10:00:00+03:00 "
                             "or ...Z): a live event's time must not be ambiguous")
        return value

    @field_validator("call_id", "queue", "agent", "caller", "reason")
    @classmethod
    def _one_field(cls, value: str | None) -> str | None:
        if value is not None:
            if value == "" or value.strip() != value:
                raise ValueError("must not be empty or start or end with spaces")
            if any(c in value for c in "|\r\n\x00"):
                raise ValueError("must not contain '|', a line break or NUL")
        return value

    @property
    def epoch(self) -> int:
        return math.floor(self.at.timestamp())


@dataclass(frozen=True)
class Problem:
    index: int
    """The event's position in the batch (0-based)."""
    field: str
    message: str

    def __str__(self) -> str:
        return f"event {self.index}: {self.field}: {self.message}"


class EventError(ValueError):
    """A batch with bad events: nothing of it was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} bad event(s), nothing written: {shown}{more}")


def parse_events(raw: Iterable[Any]) -> list[Event]:
    """Validate JSON objects as events; every problem of the batch in one EventError."""
    events: list[Event] = []
    problems: list[Problem] = []
    for index, item in enumerate(raw):
        try:
            event = Event.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "event"
                message = error["msg"].removeprefix("Value error, ")
                problems.append(Problem(index, where, message))
            continue
        missing = [f for f in REQUIRED[event.type] if getattr(event, f) is None]
        problems += [Problem(index, f, f"required for {event.type}") for f in missing]
        events.append(event)
    if problems:
        raise EventError(problems)
    return events


@dataclass(frozen=True)
class _Visit:
    """What converting later events of an open queue visit needs (epoch seconds).
    Frozen: a batch on trial writes its changes over the known visits, never into them."""

    entered: int
    answered: int | None = None
    position: int | None = None
    agent: str | None = None


def _open_visits(wh: Warehouse, keys: set[tuple[str, str]],
                 tenant: str | None) -> dict[tuple[str, str], _Visit]:
    """The open (in progress) queue visits of these (call_id, queue) of ``tenant`` in the
    warehouse."""
    if not keys:
        return {}
    call_ids = sorted({c for c, _ in keys})
    rows = wh.sql(
        "SELECT call_id, queue, epoch(max(entered_at))::BIGINT, "
        "epoch(max(answered_at))::BIGINT, max(enter_position), max(agent) FROM calls "
        "WHERE source = 'queue_log' AND outcome = 'in_progress' AND call_id IN "
        "(SELECT unnest(?)) AND tenant IS NOT DISTINCT FROM ? GROUP BY call_id, queue",
        [call_ids, tenant])
    return {(r[0], r[1]): _Visit(int(r[2]), None if r[3] is None else int(r[3]), r[4], r[5])
            for r in rows if (r[0], r[1]) in keys}


Visits = MutableMapping[tuple[str, str], "_Visit | None"]
"""Queue visits known so far, by (call_id, queue); None: the visit has ended."""


def to_queue_log(wh: Warehouse, events: Sequence[Event], tenant: str | None = None,
                 visits: Visits | None = None) -> list[str]:
    """The queue_log lines (no newline) for a validated batch of ``tenant``, in time order
    (a stable sort: events of the same second keep the order they were posted in). Raises
    :class:`EventError` for events that contradict the call's history: an answer, end or
    abandon of a call that never entered the queue, an end before an answer.

    ``visits`` carries what earlier batches not yet loaded into the warehouse did (it is
    updated in place; pass a copy to keep it when the batch may be refused); visits not in
    it are looked up in the warehouse."""
    visits = {} if visits is None else visits
    order = sorted(range(len(events)), key=lambda i: events[i].epoch)
    keys = {(e.call_id or "", e.queue or "") for e in events
            if e.type in ("call_answered", "call_ended", "call_abandoned", "wrapup_started")
            and e.call_id and e.queue}
    visits.update(_open_visits(wh, {k for k in keys if k not in visits}, tenant))
    entering = {(e.call_id or "", e.queue or "") for e in events if e.type == "call_entered"}
    problems: list[Problem] = []
    lines: list[str] = []
    for i in order:
        e = events[i]
        key = (e.call_id or "", e.queue or "")
        t = e.epoch
        if e.type == "call_entered":
            visits[key] = _Visit(t, position=e.position)
            lines.append(f"{t}|{e.call_id}|{e.queue}|NONE|ENTERQUEUE||{e.caller or ''}|"
                         f"{'' if e.position is None else e.position}")
            continue
        if e.type in ("call_answered", "call_ended", "call_abandoned"):
            visit = visits.get(key)
            if visit is None and key in entering and key not in visits:
                problems.append(Problem(i, "at", "before the call entered the queue"))
                continue
            if visit is None:
                problems.append(Problem(i, "call_id", f"call {e.call_id} never entered queue "
                                        f"{e.queue} (no call_entered before, and no open "
                                        "visit in the warehouse)"))
                continue
            if t < visit.entered:
                problems.append(Problem(i, "at", "before the call entered the queue"))
                continue
            if e.type == "call_answered":
                ring = "" if e.ring_s is None else str(round(e.ring_s))
                visits[key] = visit = replace(visit, answered=t, agent=e.agent)
                lines.append(f"{t}|{e.call_id}|{e.queue}|{e.agent}|CONNECT|"
                             f"{t - visit.entered}||{ring}")
            elif e.type == "call_abandoned":
                if visit.answered is not None:
                    problems.append(Problem(i, "type", "the call was already answered: "
                                            "post call_ended"))
                    continue
                position = e.position if e.position is not None else 1
                lines.append(f"{t}|{e.call_id}|{e.queue}|NONE|ABANDON|{position}|"
                             f"{'' if visit.position is None else visit.position}|"
                             f"{t - visit.entered}")
                visits[key] = None
            else:
                if visit.answered is None:
                    problems.append(Problem(i, "type", "the call was not answered: post "
                                            "call_abandoned"))
                    continue
                event = "COMPLETEAGENT" if e.ended_by == "agent" else "COMPLETECALLER"
                who = e.agent or visit.agent or "NONE"
                lines.append(f"{t}|{e.call_id}|{e.queue}|{who}|{event}|"
                             f"{visit.answered - visit.entered}|{t - visit.answered}|"
                             f"{'' if visit.position is None else visit.position}")
                visits[key] = None
            continue
        agent, queue = e.agent, e.queue
        if e.type == "wrapup_started":
            lines.append(f"{t}|{e.call_id}|{queue}|{agent}|WRAPUPSTART|{round(e.wrapup_s or 0)}")
        elif e.type == "agent_logged_in":
            lines.append(f"{t}|NONE|{queue}|{agent}|ADDMEMBER|" if queue
                         else f"{t}|NONE|NONE|{agent}|AGENTLOGIN|")
        elif e.type == "agent_logged_out":
            lines.append(f"{t}|NONE|{queue}|{agent}|REMOVEMEMBER|" if queue
                         else f"{t}|NONE|NONE|{agent}|AGENTLOGOFF|")
        elif e.type == "agent_paused":
            lines.append(f"{t}|NONE|{queue}|{agent}|PAUSE|{e.reason or ''}" if queue
                         else f"{t}|NONE|NONE|{agent}|PAUSEALL|{e.reason or ''}")
        else:
            lines.append(f"{t}|NONE|{queue}|{agent}|UNPAUSE|{e.reason or ''}" if queue
                         else f"{t}|NONE|NONE|{agent}|UNPAUSEALL|{e.reason or ''}")
    if problems:
        raise EventError(sorted(problems, key=lambda p: p.index))
    return lines


REMEMBERED_VISITS = 100_000
"""Open visits an :class:`EventSpool` keeps in memory per tenant (the oldest are
forgotten first; a forgotten one is looked up in the warehouse again)."""


class EventSpool:
    """Queue_log spool files of posted events, one per tenant, in ``directory``. Batches
    are appended and loaded at once; batches given together to :meth:`post_group` are
    checked one by one but loaded in one run per tenant (the queue_log pipeline costs
    about the same for 200 lines as for 2,000). One writer at a time (a lock), so lines
    never interleave.

    A load that fails (its batches get the error) cuts the spool file back to where it
    was, so a later load does not take those lines in after all.

    The spool file is not fsynced: a batch is accepted when the warehouse commits its
    load, and that commit is durable. If the machine loses the spool's tail after the
    commit, the file is shorter than the stored offset, so the next load reads it from
    the start and the journal drops the lines already loaded.

    The spool remembers the open visits of the calls whose events it loaded (up to
    :data:`REMEMBERED_VISITS` per tenant), so an answer or end posted later finds its
    visit without a look-up in the warehouse, whose cost grows with the day's calls.
    Visits it does not know (loaded from a queue_log file, by another process, or before
    a restart) are looked up there. A load that fails or rejects a line makes it forget
    the tenant's visits."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = Lock()
        # Open visits only (a None never stays: see _remember).
        self._open: dict[str | None, dict[tuple[str, str], _Visit | None]] = {}

    def path(self, tenant: str | None) -> Path:
        name = tenant or "_default"
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"tenant {tenant!r}: letters, digits, '-', '_' and '.' only")
        return self.directory / f"{name}.queue_log"

    def post(self, wh: Warehouse, raw: Iterable[Any], tenant: str | None = None,
             tz: str = "UTC") -> IngestReport:
        """Validate, convert, append and load one batch of events for ``tenant``."""
        [result] = self.post_group(wh, [(parse_events(raw), tenant)], tz=tz)
        if isinstance(result, Exception):
            raise result
        return result

    def post_group(self, wh: Warehouse, batches: Sequence[tuple[Sequence[Event], str | None]],
                   tz: str = "UTC") -> list[IngestReport | Exception]:
        """Several validated batches (events, tenant): each is converted on top of the
        ones before it and refused on its own if it contradicts them; the accepted ones
        are appended and loaded together, one queue_log run per tenant. Returns, per batch,
        the report of the run that loaded it, or the error that refused it (its own, or
        that of its tenant's failed load)."""
        from callkpi.ingest import queue_log

        results: list[IngestReport | Exception] = []
        lines: dict[str | None, list[str]] = {}
        # Per tenant, the visits the accepted batches opened, changed or ended, over the
        # ones remembered from earlier loads (a batch on trial writes over both).
        changes: dict[str | None, dict[tuple[str, str], _Visit | None]] = {}
        with self._lock:
            for events, tenant in batches:
                try:
                    self.path(tenant)
                    done = changes.setdefault(tenant, {})
                    tried: dict[tuple[str, str], _Visit | None] = {}
                    trial = ChainMap(tried, done, self._open.get(tenant, {}))
                    lines.setdefault(tenant, []).extend(
                        to_queue_log(wh, events, tenant, trial))
                    done.update(tried)
                    results.append(IngestReport("events", str(self.path(tenant))))
                except (EventError, ValueError) as exc:
                    results.append(exc)
            self.directory.mkdir(parents=True, exist_ok=True)
            reports: dict[str | None, IngestReport | Exception] = {}
            for tenant, new in lines.items():
                path = self.path(tenant)
                size = path.stat().st_size if path.exists() else 0
                if new:
                    with path.open("a", encoding="utf-8") as out:
                        out.write("".join(line + "\n" for line in new))
                if path.exists():
                    # Forgotten unless this load commits without rejecting a line.
                    known = self._open.pop(tenant, {})
                    try:
                        report = queue_log.ingest(wh, path,
                                                  IngestOptions(tz=tz, tenant=tenant))
                    except BaseException as exc:
                        # Its batches get the error and leave no line behind for a later
                        # load to take in after all.
                        with path.open("r+b") as out:
                            out.truncate(size)
                        if not isinstance(exc, Exception):
                            raise
                        reports[tenant] = exc
                        continue
                    reports[tenant] = report
                    if not report.rejected_total:
                        self._open[tenant] = known
                        self._remember(known, changes.get(tenant, {}))
        return [r if isinstance(r, Exception) else reports.get(tenant, r)
                for r, (_, tenant) in zip(results, batches, strict=True)]

    @staticmethod
    def _remember(known: dict[tuple[str, str], _Visit | None],
                  changes: Mapping[tuple[str, str], _Visit | None]) -> None:
        """Apply a committed load's visit changes to the open visits ``known`` (None:
        ended, so no longer open)."""
        for key, visit in changes.items():
            known.pop(key, None)  # the newest last: forgotten last
            if visit is not None:
                known[key] = visit
        while len(known) > REMEMBERED_VISITS:
            del known[next(iter(known))]


__all__ = ["EVENT_TYPES", "Event", "EventError", "EventSpool", "Problem", "parse_events",
           "to_queue_log"]
