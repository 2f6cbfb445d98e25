"""Agent login sessions, queue membership and pauses, from one agent's queue_log events.

A pure function of the agent's events in time order, so the rules are easy to test:

* **Login sessions**: AGENTLOGIN / AGENTCALLBACKLOGIN to AGENTLOGOFF / AGENTCALLBACKLOGOFF.
  A logoff whose login is before the loaded range starts at ``time - logintime`` (data2).
  A second login inside a session continues it. A session without logoff stays open.
* **Queue membership**: ADDMEMBER to REMOVEMEMBER per queue (``logged_in`` rows with the
  queue set). A REMOVEMEMBER without ADDMEMBER in range starts at the agent's first event.
* **Pauses**: PAUSE / UNPAUSE per queue (reason from data1; a PAUSE with another reason
  while paused starts a new interval), PAUSEALL / UNPAUSEALL for all queues (UNPAUSEALL
  also ends every per-queue pause), ADDMEMBER with data1 ``PAUSED`` starts paused. A
  pause ends at its UNPAUSE, at REMOVEMEMBER for that queue, or at logoff.
* **Agent-level timeline** (rows with queue null): ``logged_in`` is the union of login
  sessions and memberships; ``paused`` is the union of every pause (Asterisk writes a
  PAUSEALL *and* one PAUSE per queue for one key press: merged, it counts once), carrying
  the reason of the most recently started pause still active, and clipped to logged-in
  time when the agent has any login or membership events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from callkpi.model import AgentState

LOGIN_EVENTS = frozenset({"AGENTLOGIN", "AGENTCALLBACKLOGIN"})
LOGOFF_EVENTS = frozenset({"AGENTLOGOFF", "AGENTCALLBACKLOGOFF"})


# Named tuples, not frozen dataclasses: a bulk load makes hundreds of thousands of each,
# and a frozen dataclass takes several times longer to create.
class SessionEvent(NamedTuple):
    time: dt.datetime
    queue: str
    event: str
    data: tuple[str | None, ...]
    """data1, data2, ... (a missing field may be None)."""
    ref: str


class StateInterval(NamedTuple):
    agent: str
    queue: str | None
    state: AgentState
    reason: str | None
    start: dt.datetime
    end: dt.datetime | None
    ref: str


class _Span(NamedTuple):
    start: dt.datetime
    end: dt.datetime | None
    reason: str | None
    ref: str
    queue: str | None = None


def _field(data: tuple[str | None, ...], index: int) -> str | None:
    """data1 is index 1; empty fields are None."""
    value = data[index - 1] if len(data) >= index else ""
    return value or None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class _Sweep:
    def __init__(self, first_time: dt.datetime) -> None:
        self.first_time = first_time
        self.login: tuple[dt.datetime, str] | None = None
        self.logins: list[_Span] = []
        self.members: dict[str, tuple[dt.datetime, str]] = {}
        self.memberships: list[_Span] = []
        self.queue_pauses: dict[str, _Span] = {}
        self.all_pause: _Span | None = None
        self.pauses: list[_Span] = []

    def _close_queue_pause(self, queue: str, at: dt.datetime) -> None:
        open_ = self.queue_pauses.pop(queue, None)
        if open_:
            self.pauses.append(_Span(open_.start, at, open_.reason, open_.ref, queue))

    def _close_all_pauses(self, at: dt.datetime) -> None:
        for queue in list(self.queue_pauses):
            self._close_queue_pause(queue, at)
        if self.all_pause:
            p = self.all_pause
            self.pauses.append(_Span(p.start, at, p.reason, p.ref, None))
            self.all_pause = None

    def _pause(self, queue: str | None, e: SessionEvent, reason: str | None) -> None:
        current = self.all_pause if queue is None else self.queue_pauses.get(queue)
        if current and current.reason == reason:
            return
        if queue is None:
            if current:
                self.pauses.append(_Span(current.start, e.time, current.reason, current.ref))
            self.all_pause = _Span(e.time, None, reason, e.ref)
        else:
            self._close_queue_pause(queue, e.time)
            self.queue_pauses[queue] = _Span(e.time, None, reason, e.ref, queue)

    def feed(self, e: SessionEvent) -> None:
        queue = e.queue if e.queue and e.queue != "NONE" else None
        if e.event in LOGIN_EVENTS:
            if self.login is None:
                self.login = (e.time, e.ref)
        elif e.event in LOGOFF_EVENTS:
            start: dt.datetime | None
            if self.login is not None:
                start, ref = self.login
            else:
                login_s = _seconds(_field(e.data, 2))
                start = e.time - dt.timedelta(seconds=login_s) if login_s is not None else None
                ref = e.ref
            if start is not None:
                reason = _field(e.data, 3) if e.event == "AGENTCALLBACKLOGOFF" else None
                self.logins.append(_Span(start, e.time, reason, ref))
            self.login = None
            self._close_all_pauses(e.time)
        elif e.event == "ADDMEMBER" and queue:
            if queue not in self.members:
                self.members[queue] = (e.time, e.ref)
            if _field(e.data, 1) == "PAUSED":
                self._pause(queue, e, None)
        elif e.event == "REMOVEMEMBER" and queue:
            start, ref = self.members.pop(queue, (self.first_time, e.ref))
            self.memberships.append(_Span(start, e.time, None, ref, queue))
            self._close_queue_pause(queue, e.time)
        elif e.event == "PAUSE":
            self._pause(queue, e, _field(e.data, 1))
        elif e.event == "UNPAUSE":
            if queue is None:
                self._close_all_pauses(e.time)
            else:
                self._close_queue_pause(queue, e.time)
        elif e.event == "PAUSEALL":
            self._pause(None, e, _field(e.data, 1))
        elif e.event == "UNPAUSEALL":
            self._close_all_pauses(e.time)

    def finish(self) -> None:
        if self.login is not None:
            self.logins.append(_Span(self.login[0], None, None, self.login[1]))
        for queue, (start, ref) in self.members.items():
            self.memberships.append(_Span(start, None, None, ref, queue))
        for span in self.queue_pauses.values():
            self.pauses.append(span)
        if self.all_pause:
            self.pauses.append(self.all_pause)


def union_timeline(spans: Sequence[_Span]) -> list[_Span]:
    """Merge overlapping spans into one timeline; each stretch carries the reason (and
    source ref) of the most recently started span active there; adjacent stretches with
    the same reason are joined. Open spans (end None) run to the end."""
    if not spans:
        return []
    points: list[tuple[dt.datetime, int, int]] = []  # (time, 0=end / 1=start, span index)
    for i, s in enumerate(spans):
        points.append((s.start, 1, i))
        if s.end is not None:
            points.append((s.end, 0, i))
    points.sort(key=lambda p: (p[0], p[1], p[2]))
    active: dict[int, _Span] = {}
    out: list[_Span] = []
    k = 0
    while k < len(points):
        t = points[k][0]
        while k < len(points) and points[k][0] == t:
            _, kind, i = points[k]
            if kind == 1:
                active[i] = spans[i]
            else:
                active.pop(i, None)
            k += 1
        if out and out[-1].end is None:
            out[-1] = _Span(out[-1].start, t, out[-1].reason, out[-1].ref)
        if active:
            i = max(active, key=lambda j: (spans[j].start, j))
            lead = spans[i]
            prev = out[-1] if out else None
            if prev and prev.end == t and prev.reason == lead.reason:
                out[-1] = _Span(prev.start, None, prev.reason, prev.ref)
            else:
                out.append(_Span(t, None, lead.reason, lead.ref))
    return [s for s in out if s.end is None or s.end > s.start]


def clip(spans: Sequence[_Span], within: Sequence[_Span]) -> list[_Span]:
    """The parts of ``spans`` inside ``within`` (both sorted, non-overlapping)."""
    far = dt.datetime.max
    out = []
    j = 0
    for s in spans:
        s_end = s.end or far
        while j < len(within) and (within[j].end or far) <= s.start:
            j += 1
        k = j
        while k < len(within) and within[k].start < s_end:
            w_end = within[k].end or far
            start, end = max(s.start, within[k].start), min(s_end, w_end)
            if start < end:
                out.append(_Span(start, None if end == far else end, s.reason, s.ref))
            k += 1
    return out


def agent_session_states(agent: str, events: Sequence[SessionEvent]) -> list[StateInterval]:
    """The ``logged_in`` and ``paused`` intervals of one agent (events in time order)."""
    if not events:
        return []
    sweep = _Sweep(events[0].time)
    for e in events:
        sweep.feed(e)
    sweep.finish()

    rows: list[StateInterval] = []

    def emit(state: AgentState, spans: Sequence[_Span], queue: str | None = None) -> None:
        for s in spans:
            rows.append(
                StateInterval(
                    agent,
                    s.queue if queue is None else queue,
                    state,
                    s.reason,
                    s.start,
                    s.end,
                    s.ref,
                )
            )

    emit(AgentState.LOGGED_IN, sorted(sweep.memberships, key=lambda s: (s.queue or "", s.start)))
    emit(
        AgentState.PAUSED,
        sorted((p for p in sweep.pauses if p.queue), key=lambda s: (s.queue or "", s.start)),
    )

    presence = [_Span(s.start, s.end, None, s.ref) for s in sweep.logins + sweep.memberships]
    logged_in = union_timeline(sorted(presence, key=lambda s: s.start))
    paused = union_timeline(
        sorted(
            (_Span(p.start, p.end, p.reason, p.ref) for p in sweep.pauses), key=lambda s: s.start
        )
    )
    if logged_in:
        paused = clip(paused, logged_in)
    for s in logged_in:
        rows.append(StateInterval(agent, None, AgentState.LOGGED_IN, None, s.start, s.end, s.ref))
    for s in paused:
        rows.append(StateInterval(agent, None, AgentState.PAUSED, s.reason, s.start, s.end, s.ref))
    return rows
