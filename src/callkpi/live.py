"""The floor right now: calls waiting, agents by state, and today's and this interval's
KPIs per queue, for wallboards and live streams.

Everything is read from the warehouse, which live ingestion (a tailed queue_log, posted
JSON events: :mod:`callkpi.ingest.events`) keeps current. So the live numbers *are* the
historical numbers: the KPIs of today and of the current interval come from the KPI
engine with the same definitions as ``callkpi kpi``, and once an interval is closed they
equal what a query for it returns.

* **Waiting**: inbound queue visits in progress and not answered, entered at most
  ``STALE_AFTER`` ago (a visit whose end was lost is not waiting for ever); their
  current wait is ``now - entered_at``. ``waiting_calls`` lists the ``WAITING_LIST_MAX``
  longest waits (in order of arrival); each queue counts all of its calls waiting. Caller
  numbers are never part of a snapshot.
* **Agents**: an agent's state at ``now`` is the most specific of the states open at
  ``now`` (rows with ``start_at <= now`` and no end or an end after it), in the order
  talking > ringing > wrapup > paused > idle (logged in, nothing else); agents not logged
  in are not on the floor. Time in state counts from the start of that state's row. An
  agent belongs to the queues they are a member of (per-queue login rows); agents logged
  in to no particular queue (AGENTLOGIN) are listed without a queue.
* **KPIs**: ``LIVE_KPIS`` per tenant and queue for today (local midnight in ``tz`` to
  the next) and for the current ``interval_min`` (15, 30 or 60) interval, from one engine
  query by interval whose rows are added up exactly (counts summed, ratios and means as
  the sum of numerators over the sum of denominators); the service level target of
  each queue (its tenant's target for today, else the center's) when one is set. The
  engine query's SQL is compiled once per warehouse, zone, day and interval length and
  run as it is on every snapshot (compiling it cost several times running it).
* **Scope**: ``tenants`` (None = all) keeps only those tenants' queues, calls and KPIs;
  an agent is shown when one of their queues is in scope. :func:`read_floor` reads
  everything once for all tenants and :func:`view` cuts it to a scope, so a publication
  to many scopes reads the warehouse once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import gc
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from callkpi import timezones
from callkpi.ingest.report import IngestReport
from callkpi.store import Warehouse

WAITING_LIST_MAX = 100
"""At most this many calls in ``waiting_calls`` (the longest waits); queues count all."""
LIVE_KPIS = ("offered", "answered", "abandoned", "service_level", "abandon_rate", "asa",
             "aht", "max_wait")
STALE_AFTER = dt.timedelta(hours=12)
GRAINS = {15: "15min", 30: "30min", 60: "hour"}
STATE_ORDER = ("talking", "ringing", "wrapup", "paused", "idle")
CHECKPOINT_THRESHOLD = "1GB"
"""DuckDB's automatic checkpoint threshold while a live hub serves (see :class:`LiveHub`)."""
IDLE_CHECKPOINT_BYTES = 16 * 1024 * 1024
"""A hub checkpoints at a quiet moment once the write-ahead log holds this much (DuckDB's
own default threshold)."""


@dataclass
class QueueNow:
    queue: str
    tenant: str | None
    waiting: int = 0
    longest_wait_s: float | None = None
    agents: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATE_ORDER, 0))
    today: dict[str, Any] = field(default_factory=dict)
    interval: dict[str, Any] = field(default_factory=dict)
    service_level_target: float | None = None


@dataclass
class Snapshot:
    at: dt.datetime
    """Aware, in ``tz``."""
    tz: str
    interval_start: dt.datetime
    queues: list[QueueNow]
    waiting_calls: list[dict[str, Any]]
    agents: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The shape of the live stream and of ``GET /api/live``."""
        return {
            "at": self.at.isoformat(),
            "tz": self.tz,
            "interval_start": self.interval_start.isoformat(),
            "queues": [
                {"queue": q.queue, "tenant": q.tenant, "waiting": q.waiting,
                 "longest_wait_s": q.longest_wait_s, "agents": q.agents, "today": q.today,
                 "interval": q.interval, "service_level_target": q.service_level_target}
                for q in self.queues
            ],
            "waiting_calls": self.waiting_calls,
            "agents": self.agents,
        }


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass
class Floor:
    """What the warehouse says at one instant, for every tenant: read once (:func:`read_floor`)
    and then cut to each scope (:func:`view`), so a publication round with many scopes
    reads the warehouse once."""

    local: dt.datetime
    """``now``, aware, in ``tz``."""
    tz: str
    interval_start: dt.datetime
    """Naive local wall time."""
    kpi_rows: list[dict[str, Any]]
    """The engine's rows of today by interval (tenant, queue, period_start, LIVE_KPIS and
    their ``__n``)."""
    waiting: list[tuple[str | None, str, str, float]]
    """(tenant, queue, call_id, wait_s) of the ``WAITING_LIST_MAX`` longest-waiting calls
    of each tenant's queue (any scope's longest waits are among them), in order of
    arrival."""
    waiting_by_queue: dict[tuple[str | None, str], tuple[int, float]]
    """(tenant, queue) -> (calls waiting, longest wait in seconds), of every call waiting."""
    queue_tenants: set[tuple[str | None, str]]
    agents: list[dict[str, Any]]
    targets: list[dict[str, Any]]


def snapshot(wh: Warehouse, *, tz: str = "UTC", now: dt.datetime | None = None,
             tenants: set[str] | None = None, agents: set[str] | None = None,
             interval_min: int = 30) -> Snapshot:
    """The floor at ``now`` (aware; default the current time). ``tenants`` and ``agents``
    (None: all) limit what is shown: with ``agents``, only those agents and the queues
    they are logged in to."""
    return view(read_floor(wh, tz=tz, now=now, interval_min=interval_min),
                tenants=tenants, agents=agents)


def read_floor(wh: Warehouse, *, tz: str = "UTC", now: dt.datetime | None = None,
               interval_min: int = 30) -> Floor:
    """Everything a snapshot at ``now`` shows, for all tenants (a handful of queries)."""
    from callkpi.goals.periods import Period
    from callkpi.goals.targets import list_targets

    if interval_min not in GRAINS:
        raise ValueError(f"interval_min {interval_min}: expected 15, 30 or 60")
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    local = now.astimezone(timezones.zone(tz))
    utc = _naive_utc(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    minute = (local.hour * 60 + local.minute) // interval_min * interval_min
    interval_start = midnight + dt.timedelta(minutes=minute)

    kpi_rows = _today_by_interval(wh, tz, midnight, GRAINS[interval_min])
    # Counted in SQL, and only each queue's longest waits listed: a busy floor has
    # thousands of calls waiting, and turning each into Python on every publication held
    # the interpreter from the loads.
    waiting_calls = (
        "SELECT tenant, queue, call_id, entered_at FROM calls WHERE direction = 'in' "
        "AND outcome = 'in_progress' AND answered_at IS NULL AND queue IS NOT NULL "
        "AND entered_at <= ? AND entered_at > ?")
    since = [utc, utc - STALE_AFTER]
    waiting_by_queue = {
        (tenant, queue): (n, (utc - first).total_seconds())
        for tenant, queue, n, first in wh.sql(
            f"SELECT tenant, queue, count(*), min(entered_at) FROM ({waiting_calls}) "
            "GROUP BY tenant, queue", since)}
    waiting = [
        (tenant, queue, call_id, (utc - entered).total_seconds())
        for tenant, queue, call_id, entered in wh.sql(
            f"SELECT * FROM ({waiting_calls}) QUALIFY row_number() OVER (PARTITION BY "
            "tenant, queue ORDER BY entered_at, call_id) <= ? "
            "ORDER BY entered_at, call_id", [*since, WAITING_LIST_MAX])]
    return Floor(local, tz, interval_start, kpi_rows, waiting, waiting_by_queue,
                 _queue_tenants(wh, utc), _agents(wh, utc),
                 list_targets(wh, Period(midnight.date(), midnight.date())))


def view(floor: Floor, *, tenants: Iterable[str] | None = None,
         agents: Iterable[str] | None = None) -> Snapshot:
    """The part of ``floor`` that ``tenants`` and ``agents`` (None: all) may see."""
    from callkpi.goals.periods import Period
    from callkpi.goals.targets import applicable

    tenants = None if tenants is None else set(tenants)
    agents = None if agents is None else set(agents)

    def allowed(tenant: str | None) -> bool:
        return tenants is None or tenant in tenants

    queues: dict[tuple[str | None, str], QueueNow] = {}

    def queue_row(tenant: str | None, queue: str) -> QueueNow:
        return queues.setdefault((tenant, queue), QueueNow(queue, tenant))

    # The day's value is the sum of numerators over the sum of denominators (exact).
    parts: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
    for row in floor.kpi_rows:
        if row["queue"] is not None and allowed(row["tenant"]):
            parts.setdefault((row["tenant"], row["queue"]), []).append(row)
    for (tenant, queue), intervals in parts.items():
        q = queue_row(tenant, queue)
        q.today = _combine(intervals)
        current = [r for r in intervals if _wall(r["period_start"]) == floor.interval_start]
        q.interval = _combine(current) if current else {}

    for (tenant, queue), (count, longest) in floor.waiting_by_queue.items():
        if allowed(tenant):
            q = queue_row(tenant, queue)
            q.waiting, q.longest_wait_s = count, longest
    waiting_calls: list[dict[str, Any]] = [
        {"tenant": tenant, "queue": queue, "call_id": call_id, "wait_s": wait}
        for tenant, queue, call_id, wait in floor.waiting if allowed(tenant)]

    tenant_of: dict[str, set[str | None]] = {}
    for tenant, queue in {*queues, *floor.queue_tenants}:
        tenant_of.setdefault(queue, set()).add(tenant)
    shown = []
    for agent in floor.agents:
        in_scope = [q for q in agent["queues"] if any(allowed(t) for t in tenant_of.get(q, ()))]
        if (tenants is not None and not in_scope) or (
                agents is not None and agent["agent"] not in agents):
            continue
        for queue in in_scope:
            for tenant in tenant_of.get(queue, ()):
                if allowed(tenant):
                    queue_row(tenant, queue).agents[agent["state"]] += 1
        shown.append({**agent, "queues": in_scope})

    midnight = floor.local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    period = Period(midnight.date(), midnight.date())
    for q in queues.values():
        chain = [*([("tenant", q.tenant)] if q.tenant else []), ("center", None)]
        target = applicable(floor.targets, "service_level", period, chain)
        q.service_level_target = target["target"] if target else None
    ordered = sorted(queues.values(), key=lambda q: (q.tenant or "", q.queue))
    if agents is not None:
        theirs = {q for a in shown for q in a["queues"]}
        ordered = [q for q in ordered if q.queue in theirs]
        waiting_calls = [c for c in waiting_calls if c["queue"] in theirs]
    keep = {id(c) for c in sorted(waiting_calls, key=lambda c: -c["wait_s"])[:WAITING_LIST_MAX]}
    return Snapshot(floor.local, floor.tz,
                    floor.interval_start.replace(tzinfo=timezones.zone(floor.tz)), ordered,
                    [c for c in waiting_calls if id(c) in keep], shown)


def _today_by_interval(wh: Warehouse, tz: str, midnight: dt.datetime,
                       grain: str) -> list[dict[str, Any]]:
    """LIVE_KPIS of the inbound calls by tenant, queue and interval of the day from
    ``midnight`` (local), with each ratio's and mean's denominator (``__n``): one engine
    query (:func:`callkpi.kpi.run_query`, same definitions as ``callkpi kpi``). The engine
    keeps the compiled SQL of the query's shape, so a snapshot only runs it."""
    from callkpi.kpi import KpiQuery, run_query

    query = KpiQuery(kpis=LIVE_KPIS, by=("tenant", "queue"), grain=grain, tz=tz,
                     start=midnight, end=midnight + dt.timedelta(days=1),
                     where=(("direction", "in"),), samples=True)
    return run_query(wh, query).rows


def _wall(value: str | dt.datetime) -> dt.datetime:
    """An interval start of the engine (ISO 8601 with offset) as naive local wall time."""
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=None)


SUMMED = ("offered", "answered", "abandoned")
LARGEST = ("max_wait",)


def _combine(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """LIVE_KPIS over several intervals from their rows (with ``__n`` denominators):
    counts add up, maxima take the largest, ratios and means are sum over sum."""
    out: dict[str, Any] = {}
    for kpi in LIVE_KPIS:
        if kpi in SUMMED:
            out[kpi] = sum(r[kpi] or 0 for r in rows)
        elif kpi in LARGEST:
            values = [r[kpi] for r in rows if r[kpi] is not None]
            out[kpi] = max(values) if values else None
        else:
            weights = [(r[kpi], r[f"{kpi}__n"]) for r in rows
                       if r[kpi] is not None and r[f"{kpi}__n"]]
            total = sum(n for _, n in weights)
            out[kpi] = sum(v * n for v, n in weights) / total if total else None
    return out


def _queue_tenants(wh: Warehouse, utc: dt.datetime) -> set[tuple[str | None, str]]:
    """(tenant, queue) of the inbound calls of the last 31 days: whom a queue works for."""
    rows = wh.sql("SELECT DISTINCT tenant, queue FROM calls WHERE direction = 'in' AND "
                  "queue IS NOT NULL AND entered_at > ?", [utc - dt.timedelta(days=31)])
    return {(r[0], r[1]) for r in rows}


def _agents(wh: Warehouse, utc: dt.datetime) -> list[dict[str, Any]]:
    """The agents logged in at ``utc`` with their state (one row per agent and state
    open at ``utc`` from the warehouse, however many calls an agent has open)."""
    rows = wh.sql(
        "SELECT agent, state, min(start_at), max(start_at), arg_max_null(reason, start_at), "
        "list(DISTINCT queue) FILTER (WHERE queue IS NOT NULL) FROM agent_states "
        "WHERE start_at <= ? AND (end_at IS NULL OR end_at > ?) GROUP BY agent, state",
        [utc, utc])
    ended = dict(wh.sql(
        "SELECT agent, max(end_at) FROM agent_states WHERE state <> 'logged_in' "
        "AND end_at <= ? AND end_at > ? GROUP BY agent", [utc, utc - STALE_AFTER]))
    by_agent: dict[str, dict[str, tuple[dt.datetime, dt.datetime, str | None, list[str]]]] = {}
    for agent, state, first, last, reason, queues in rows:
        by_agent.setdefault(agent, {})[state] = (first, last, reason, queues or [])
    out = []
    for agent, states in sorted(by_agent.items()):
        logged_in = states.get("logged_in")
        if logged_in is None:
            continue
        chosen = None
        for name in STATE_ORDER[:-1]:
            if name in states:  # the reason of its latest row, the time of its first
                chosen = (name, states[name][2], states[name][0])
                break
        if chosen is None:  # idle since the login or the end of the last other state
            since = logged_in[1]
            last_busy = ended.get(agent)
            chosen = ("idle", None, max(since, last_busy) if last_busy else since)
        out.append({"agent": agent, "state": chosen[0], "reason": chosen[1],
                    "queues": sorted(logged_in[3]),
                    "in_state_s": (utc - chosen[2]).total_seconds()})
    return out


GC_THRESHOLD = (50_000, 20, 20)
"""The garbage collector's thresholds for a process that loads live (Python's: 700, 10, 10)."""


def tune_gc_for_live_loads() -> None:
    """Set this process's garbage collector for sustained live loads (``callkpi serve``,
    ``callkpi ingest queue-log --follow``): the objects alive now (modules, the app) are
    frozen out of its scans, and it collects young objects after 50,000 allocations
    instead of 700 (:data:`GC_THRESHOLD`).

    With Python's defaults, the objects of each load (a thousand parsed events and their
    values) were often alive when a young collection ran and so got promoted, and that
    triggered a full collection every three loads or so, each of ~100 ms in which the
    interpreter (the HTTP server, the publisher) did nothing else. Measured in
    ``bench/small_loads.py --live-seconds 60`` (120 loads of 1,000 events): 45 full
    collections, 4.4 s of 25 s; with this setting 7 young ones (70 ms in all) and none
    full, and the 120 loads took 21 % less time in all (the typical load is as fast as
    before: the pauses were the slow tail). Memory: cyclic garbage waits a little longer
    (the loads make almost none). At exit the frozen objects are let go again, so that
    the process ends as cleanly as it would have (DuckDB's bindings report objects that
    were never freed)."""
    gc.freeze()
    atexit.register(gc.unfreeze)
    gc.set_threshold(*GC_THRESHOLD)


# -- the hub: live ingestion in, snapshots out ------------------------------------------

@dataclass(frozen=True)
class LiveScope:
    """What a subscriber may see: these tenants' queues (None: all), and of the agents
    only these (None: all) together with the queues they are logged in to."""

    tenants: frozenset[str] | None = None
    agents: frozenset[str] | None = None


EVERYTHING = LiveScope()


@dataclass
class _Pending:
    events: Any
    tenant: str | None
    result: Any = None
    done: bool = False


@dataclass
class _Subscriber:
    scope: LiveScope
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]]


class LiveHub:
    """Live ingestion in, snapshots out, for one warehouse shared with other work.

    * :meth:`post` loads a batch of JSON events (:class:`callkpi.ingest.events.EventSpool`);
      :meth:`follow` tails a queue_log in a background thread. Both take ``lock`` (the one
      the server holds around every use of the warehouse) for each batch only.
    * Snapshots read through a second connection to the same database, so they never
      wait for a load nor hold one up (DuckDB's MVCC: they see what is committed).
    * A publisher thread publishes as soon as a load has committed (event-driven: it
      wakes on :meth:`changed`; changes within ``min_gap_s``, 0.1 s, of the previous
      publication's start, or made while it ran, are published together next) and at
      least every ``tick_s`` (waits and times in state grow). A publication reads the
      floor once (:func:`read_floor`), cuts it to each distinct subscriber scope
      (:func:`view`), encodes each scope's message once and hands it to those
      subscribers' asyncio queues; a slow subscriber only ever gets the newest snapshot
      (its queue holds one).

    Each published snapshot carries ``version`` (one more per publication round) and
    ``changed_at`` (epoch seconds of the newest change it includes), so a client can
    measure how long a change took to reach it.

    Checkpoints (DuckDB moving its write-ahead log into the file) are kept off the loads:
    a checkpoint costs about as much for a small log as for a large one (0.2-0.6 s for
    16 MB, 0.8 s for 316 MB: it rewrites the tables' last row groups) and, automatic, it
    runs inside the COMMIT of the load that crosses DuckDB's 16 MB threshold: every ~9 s
    at 2,000 events/s. The hub raises the threshold to :data:`CHECKPOINT_THRESHOLD` (a
    checkpoint every ~10 minutes under sustained load) and its publisher thread
    checkpoints, under ``lock``, once the log holds :data:`IDLE_CHECKPOINT_BYTES` and
    nothing was loaded for ``tick_s`` (a quiet moment: no event waits for it).
    """

    def __init__(self, wh: Warehouse, *, lock: threading.Lock | None = None,
                 spool_dir: str | Path, tz: str = "UTC", interval_min: int = 30,
                 tick_s: float = 1.0, min_gap_s: float = 0.1) -> None:
        from callkpi.ingest.events import EventSpool

        self.wh, self.tz, self.interval_min = wh, tz, interval_min
        self.lock = lock or threading.Lock()
        # Snapshots read through a connection of their own (DuckDB shares the database
        # within the process): they see committed data and never wait for a load.
        self.reader = wh if wh.path == ":memory:" else Warehouse(wh.path)
        self.reader_lock = self.lock if self.reader is wh else threading.Lock()
        if wh.path != ":memory:":
            with self.lock:
                wh.con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        self._loaded_at = -math.inf
        self.spool = EventSpool(spool_dir)
        self.tick_s, self.min_gap_s = tick_s, min_gap_s
        self._subscribers: list[_Subscriber] = []
        self._changed = threading.Event()
        self._changed_at = time.time()
        self._stop = threading.Event()
        self._version = 0
        self._threads: list[threading.Thread] = []
        self._guard = threading.Lock()
        self._posting = threading.Condition()
        self._pending: list[_Pending] = []
        self._leading = False
        self.errors: list[str] = []

    # -- in ------------------------------------------------------------------------------

    def post(self, raw: Iterable[Any], tenant: str | None = None) -> IngestReport:
        """Load one batch of JSON events (all or nothing) and publish the change.

        Group commit: batches posted while a load runs wait and are then loaded together
        (each still accepted or refused on its own), so the pipeline's fixed cost per run
        is shared when events arrive fast. The report is that of the run that loaded the
        batch (it counts the lines of every batch loaded with it)."""
        from callkpi.ingest.events import parse_events

        entry = _Pending(parse_events(raw), tenant)
        with self._posting:
            self._pending.append(entry)
        while True:
            with self._posting:
                if entry.done:
                    break
                if self._leading:
                    self._posting.wait()
                    continue
                self._leading = True
                group, self._pending = self._pending, []
            try:
                with self.lock:
                    results: list[Any] = self.spool.post_group(
                        self.wh, [(e.events, e.tenant) for e in group], tz=self.tz)
            except Exception as exc:  # the load failed: every batch of it learns why
                results = [exc] * len(group)
            self._loaded_at = time.monotonic()
            self.changed()  # once per load, before the posters wake up
            with self._posting:
                for member, result in zip(group, results, strict=True):
                    member.result, member.done = result, True
                self._leading = False
                self._posting.notify_all()
        self._ensure_publisher()  # it also checkpoints at quiet moments
        if isinstance(entry.result, Exception):
            raise entry.result
        assert entry.result is not None
        return entry.result

    def follow(self, path: str | Path, *, tenant: str | None = None, tz: str = "UTC",
               poll_s: float = 0.25) -> None:
        """Tail a queue_log (as ``callkpi ingest queue-log --follow``) in the background."""
        from callkpi.ingest import queue_log
        from callkpi.ingest.options import IngestOptions

        def run() -> None:
            try:
                queue_log.follow(self.wh, path, IngestOptions(tz=tz, tenant=tenant),
                                 poll_s=poll_s, stop=self._stop, lock=self.lock,
                                 on_batch=lambda _: self._loaded())
            except Exception as exc:  # reported, never kills the server
                self.errors.append(f"following {path}: {type(exc).__name__}: {exc}")

        self._start(run, f"callkpi-follow-{Path(path).name}")

    def changed(self) -> None:
        self._changed_at = time.time()
        self._changed.set()

    def _loaded(self) -> None:
        self._loaded_at = time.monotonic()
        self.changed()

    def checkpoint_if_idle(self) -> bool:
        """Checkpoint the warehouse when its write-ahead log holds at least
        :data:`IDLE_CHECKPOINT_BYTES` and nothing was loaded for ``tick_s``; whether it
        did. A checkpoint that DuckDB refuses (another transaction is writing) is tried
        again at the next quiet moment."""
        if self.wh.path == ":memory:" or time.monotonic() - self._loaded_at < self.tick_s:
            return False
        try:
            if Path(f"{self.wh.path}.wal").stat().st_size < IDLE_CHECKPOINT_BYTES:
                return False
        except FileNotFoundError:
            return False
        if not self.lock.acquire(blocking=False):  # busy: not a quiet moment
            return False
        try:
            self.wh.con.execute("CHECKPOINT")
        except duckdb.Error:  # another transaction is writing: at the next quiet moment
            return False
        finally:
            self.lock.release()
        return True

    # -- out -----------------------------------------------------------------------------

    def snapshot(self, scope: LiveScope = EVERYTHING,
                 now: dt.datetime | None = None) -> dict[str, Any]:
        return view(self._read_floor(now), tenants=scope.tenants,
                    agents=scope.agents).to_json()

    def _read_floor(self, now: dt.datetime | None = None) -> Floor:
        with self.reader_lock:
            return read_floor(self.reader, tz=self.tz, now=now, interval_min=self.interval_min)

    async def subscribe(self, scope: LiveScope = EVERYTHING) -> AsyncIterator[dict[str, Any]]:
        """Snapshots for ``scope`` as they are published, the first one at once."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        subscriber = _Subscriber(scope, asyncio.get_running_loop(), queue)
        first = await asyncio.to_thread(self.snapshot, scope)
        with self._guard:
            self._subscribers.append(subscriber)
        self._ensure_publisher()
        try:
            yield {**first, "version": self._version, "changed_at": self._changed_at}
            while True:
                yield await queue.get()
        finally:
            with self._guard:
                self._subscribers.remove(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _ensure_publisher(self) -> None:
        with self._guard:
            if any(t.name == "callkpi-live-publisher" and t.is_alive() for t in self._threads):
                return
        self._start(self._publish_loop, "callkpi-live-publisher")

    def _publish_loop(self) -> None:
        last = -math.inf
        while not self._stop.is_set():
            if not self._changed.wait(self.tick_s):
                self.checkpoint_if_idle()  # a quiet moment
            # Changes arriving within min_gap_s of the last publication's start join the
            # next one (a burst of small loads costs one snapshot, not one each).
            gap = self.min_gap_s - (time.monotonic() - last)
            if gap > 0:
                self._stop.wait(gap)
            if self._stop.is_set():
                break
            self._changed.clear()
            changed_at = self._changed_at
            with self._guard:
                subscribers = list(self._subscribers)
            if not subscribers:
                continue
            last = time.monotonic()
            self._version += 1
            try:
                floor = self._read_floor()  # once for every scope
            except Exception as exc:  # keep publishing
                self.errors.append(f"snapshot: {type(exc).__name__}: {exc}")
                continue
            for scope in {s.scope for s in subscribers}:
                try:
                    message = Message({
                        **view(floor, tenants=scope.tenants, agents=scope.agents).to_json(),
                        "version": self._version, "changed_at": changed_at})
                    message.encode()  # once, here, not once per subscriber
                except Exception as exc:  # keep publishing
                    self.errors.append(f"snapshot: {type(exc).__name__}: {exc}")
                    continue
                for s in subscribers:
                    if s.scope == scope:
                        s.loop.call_soon_threadsafe(_replace_latest, s.queue, message)

    def _start(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._guard:
            self._threads.append(thread)
        thread.start()

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.reader is not self.wh:
            with self.reader_lock:
                self.reader.close()


def _replace_latest(queue: asyncio.Queue[dict[str, Any]], message: dict[str, Any]) -> None:
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(message)


class Message(dict[str, Any]):
    """A published snapshot: its server-sent event is encoded once for every subscriber."""

    encoded: bytes | None = None

    def encode(self) -> bytes:
        if self.encoded is None:
            self.encoded = _sse_bytes(self)
        return self.encoded


def _sse_bytes(message: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(message, default=str, separators=(',', ':'))}\n\n".encode()


def sse(message: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``message`` as JSON."""
    return message.encode() if isinstance(message, Message) else _sse_bytes(message)


__all__ = ["EVERYTHING", "LIVE_KPIS", "Floor", "LiveHub", "LiveScope", "QueueNow", "Snapshot",
           "read_floor", "snapshot", "sse", "view"]
