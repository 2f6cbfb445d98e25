"""The floor right now: calls waiting, agents by state, and today's and this interval's
KPIs per queue, for wallboards and live streams.

Everything is read from the warehouse, which live ingestion (a tailed queue_log, posted
JSON events: :mod:`callkpi.ingest.events`) keeps current. So the live numbers *are* the
historical numbers: the KPIs of today and of the current interval come from the KPI
engine with the same definitions as ``callkpi kpi``, and once an interval is closed they
equal what a query for it returns.

* **Waiting**: inbound queue visits in progress and not answered, entered at most
  ``STALE_AFTER`` ago (a visit whose end was lost is not waiting for ever); their
  current wait is ``now - entered_at``. Caller numbers are never part of a snapshot.
* **Agents**: an agent's state at ``now`` is the most specific of the states open at
  ``now`` (rows with ``start_at <= now`` and no end or an end after it), in the order
  talking > ringing > wrapup > paused > idle (logged in, nothing else); agents not logged
  in are not on the floor. Time in state counts from the start of that state's row. An
  agent belongs to the queues they are a member of (per-queue login rows); agents logged
  in to no particular queue (AGENTLOGIN) are listed without a queue.
* **KPIs**: ``LIVE_KPIS`` per tenant and queue for today (local midnight in ``tz`` to
  the next) and for the current ``interval_min`` interval; the service level target of
  each queue (its tenant's target for today, else the center's) when one is set.
* **Scope**: ``tenants`` (None = all) keeps only those tenants' queues, calls and KPIs;
  an agent is shown when one of their queues is in scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from callkpi import timezones
from callkpi.store import Warehouse

LIVE_KPIS = ("offered", "answered", "abandoned", "service_level", "abandon_rate", "asa",
             "aht", "max_wait")
STALE_AFTER = dt.timedelta(hours=12)
STATE_ORDER = ("talking", "ringing", "wrapup", "paused", "idle")


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


def snapshot(wh: Warehouse, *, tz: str = "UTC", now: dt.datetime | None = None,
             tenants: set[str] | None = None, interval_min: int = 30) -> Snapshot:
    """The floor at ``now`` (aware; default the current time)."""
    from callkpi.goals.periods import Period
    from callkpi.goals.targets import applicable, list_targets
    from callkpi.kpi import KpiQuery, run_query

    if interval_min <= 0 or 1440 % interval_min:
        raise ValueError(f"interval_min {interval_min}: expected a divisor of a day")
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    local = now.astimezone(timezones.zone(tz))
    utc = _naive_utc(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    minute = (local.hour * 60 + local.minute) // interval_min * interval_min
    interval_start = midnight + dt.timedelta(minutes=minute)

    def allowed(tenant: str | None) -> bool:
        return tenants is None or tenant in tenants

    queues: dict[tuple[str | None, str], QueueNow] = {}

    def queue_row(tenant: str | None, queue: str) -> QueueNow:
        return queues.setdefault((tenant, queue), QueueNow(queue, tenant))

    def kpis(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        result = run_query(wh, KpiQuery(kpis=LIVE_KPIS, by=("tenant", "queue"), tz=tz,
                                        start=start, end=end, where=(("direction", "in"),)))
        return [r for r in result.rows if r["queue"] is not None and allowed(r["tenant"])]

    for row in kpis(midnight, midnight + dt.timedelta(days=1)):
        queue_row(row["tenant"], row["queue"]).today = {k: row[k] for k in LIVE_KPIS}
    for row in kpis(interval_start, interval_start + dt.timedelta(minutes=interval_min)):
        queue_row(row["tenant"], row["queue"]).interval = {k: row[k] for k in LIVE_KPIS}

    waiting_calls = []
    rows = wh.sql(
        "SELECT tenant, queue, call_id, entered_at FROM calls WHERE direction = 'in' "
        "AND outcome = 'in_progress' AND answered_at IS NULL AND queue IS NOT NULL "
        "AND entered_at <= ? AND entered_at > ? ORDER BY entered_at, call_id",
        [utc, utc - STALE_AFTER])
    for tenant, queue, call_id, entered in rows:
        if not allowed(tenant):
            continue
        wait = (utc - entered).total_seconds()
        q = queue_row(tenant, queue)
        q.waiting += 1
        q.longest_wait_s = max(q.longest_wait_s or 0.0, wait)
        waiting_calls.append({"tenant": tenant, "queue": queue, "call_id": call_id,
                              "wait_s": wait})

    tenant_of: dict[str, set[str | None]] = {}
    for tenant, queue in {*queues, *_queue_tenants(wh, utc)}:
        tenant_of.setdefault(queue, set()).add(tenant)
    shown = []
    for agent in _agents(wh, utc):
        in_scope = [q for q in agent["queues"] if any(allowed(t) for t in tenant_of.get(q, ()))]
        if tenants is not None and not in_scope:
            continue
        agent["queues"] = in_scope
        for queue in in_scope:
            for tenant in tenant_of.get(queue, ()):
                if allowed(tenant):
                    queue_row(tenant, queue).agents[agent["state"]] += 1
        shown.append(agent)

    period = Period(midnight.date(), midnight.date())
    targets = list_targets(wh, period)
    for q in queues.values():
        chain = [*([("tenant", q.tenant)] if q.tenant else []), ("center", None)]
        target = applicable(targets, "service_level", period, chain)
        q.service_level_target = target["target"] if target else None
    ordered = sorted(queues.values(), key=lambda q: (q.tenant or "", q.queue))
    return Snapshot(local, tz, interval_start.replace(tzinfo=timezones.zone(tz)), ordered,
                    waiting_calls, shown)


def _queue_tenants(wh: Warehouse, utc: dt.datetime) -> set[tuple[str | None, str]]:
    """(tenant, queue) of the inbound calls of the last 31 days: whom a queue works for."""
    rows = wh.sql("SELECT DISTINCT tenant, queue FROM calls WHERE direction = 'in' AND "
                  "queue IS NOT NULL AND entered_at > ?", [utc - dt.timedelta(days=31)])
    return {(r[0], r[1]) for r in rows}


def _agents(wh: Warehouse, utc: dt.datetime) -> list[dict[str, Any]]:
    rows = wh.sql(
        "SELECT agent, queue, state, reason, start_at FROM agent_states "
        "WHERE start_at <= ? AND (end_at IS NULL OR end_at > ?) ORDER BY agent, start_at",
        [utc, utc])
    ended = dict(wh.sql(
        "SELECT agent, max(end_at) FROM agent_states WHERE state <> 'logged_in' "
        "AND end_at <= ? AND end_at > ? GROUP BY agent", [utc, utc - STALE_AFTER]))
    by_agent: dict[str, list[tuple[str | None, str, str | None, dt.datetime]]] = {}
    for agent, queue, state, reason, start in rows:
        by_agent.setdefault(agent, []).append((queue, state, reason, start))
    out = []
    for agent, states in sorted(by_agent.items()):
        logged_in = [s for s in states if s[1] == "logged_in"]
        if not logged_in:
            continue
        queues = sorted({q for q, state, _, _ in logged_in if q is not None})
        chosen = None
        for name in STATE_ORDER[:-1]:
            matching = [s for s in states if s[1] == name]
            if matching:
                chosen = (name, matching[-1][2], min(s[3] for s in matching))
                break
        if chosen is None:  # idle since the login or the end of the last other state
            since = max(s[3] for s in logged_in)
            last_busy = ended.get(agent)
            chosen = ("idle", None, max(since, last_busy) if last_busy else since)
        out.append({"agent": agent, "state": chosen[0], "reason": chosen[1],
                    "queues": queues, "in_state_s": (utc - chosen[2]).total_seconds()})
    return out


__all__ = ["LIVE_KPIS", "QueueNow", "Snapshot", "snapshot"]
