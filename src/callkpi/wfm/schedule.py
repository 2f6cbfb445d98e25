"""Agents actually scheduled per queue and slot, from the ``schedules`` table.

* **On the phones**: only ``work`` blocks count; breaks, lunches, training and coaching
  are the planned part of shrinkage. An agent working 10 of a slot's 30 minutes counts
  as 1/3 of an agent in that slot.
* **Which queue**: schedules say who works when, not on which queue. An agent's time is
  split across queues in proportion to the handling time (talk + after-call work) they
  gave each inbound queue over the history window (the skills they are actually used
  for). Agents with no inbound history take their team's split; agents whose team has
  none (outbound dialers, new teams) are left out of every queue and reported as
  ``unassigned`` agent-hours.
* Slots are local wall-clock slots in the plan's zone; across a DST change a local slot
  is still the UTC span between its local start and end.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from callkpi import timezones
from callkpi.store import Warehouse


@dataclass(frozen=True)
class ScheduledAgents:
    agents: dict[tuple[str, dt.datetime], float]
    """(queue, local slot start) -> agents on the phones (time-weighted)."""
    unassigned_hours: float
    """Scheduled work hours of agents with no inbound queue (outbound dialers...)."""
    shares: dict[str, dict[str, float]]
    """Agent -> queue -> share of their time, as used."""


def queue_shares(wh: Warehouse, start_utc: dt.datetime, end_utc: dt.datetime
                 ) -> dict[str, dict[str, float]]:
    """Each agent's split of handling time across inbound queues in [start, end), with
    the team's split for agents of a team that has history but who have none themselves."""
    rows = wh.sql(
        "SELECT c.agent, a.team, c.queue, sum(coalesce(c.talk_s, 0) + coalesce(c.acw_s, 0)) "
        "FROM calls c LEFT JOIN agents a USING (agent) "
        "WHERE c.direction = 'in' AND c.queue IS NOT NULL AND c.agent IS NOT NULL "
        "AND c.answered_at IS NOT NULL AND c.entered_at >= ? AND c.entered_at < ? "
        "GROUP BY ALL",
        [start_utc, end_utc],
    )
    by_agent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_team: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for agent, team, queue, seconds in rows:
        by_agent[agent][queue] += float(seconds or 0)
        if team:
            by_team[team][queue] += float(seconds or 0)
    shares = {agent: _normalized(queues) for agent, queues in by_agent.items()}
    for agent, team in wh.sql("SELECT agent, team FROM agents"):
        if agent not in shares and team in by_team:
            shares[agent] = _normalized(by_team[team])
    return {a: s for a, s in shares.items() if s}


def _normalized(seconds: dict[str, float]) -> dict[str, float]:
    total = sum(seconds.values())
    return {q: s / total for q, s in sorted(seconds.items()) if s > 0} if total > 0 else {}


def slots(first_day: dt.date, days: int, slot_s: int) -> list[dt.datetime]:
    """Local slot starts from ``first_day`` 00:00 for ``days`` days."""
    if 86_400 % slot_s:
        raise ValueError(f"a slot of {slot_s} s does not divide a day")
    start = dt.datetime.combine(first_day, dt.time())
    return [start + dt.timedelta(seconds=i * slot_s) for i in range(days * 86_400 // slot_s)]


def scheduled_agents(
    wh: Warehouse,
    slot_starts: Sequence[dt.datetime],
    slot_s: int,
    tz: str,
    shares: dict[str, dict[str, float]],
) -> ScheduledAgents:
    """Agents on the phones per queue and local slot (see the module docstring)."""
    if not slot_starts:
        return ScheduledAgents({}, 0.0, shares)
    bounds = [
        (local, timezones.local_to_utc(tz, local),
         timezones.local_to_utc(tz, local + dt.timedelta(seconds=slot_s)))
        for local in slot_starts
    ]
    lo, hi = bounds[0][1], bounds[-1][2]
    blocks = wh.sql(
        "SELECT agent, start_at, end_at FROM schedules WHERE activity = 'work' "
        "AND start_at < ? AND end_at > ? ORDER BY agent, start_at",
        [hi, lo],
    )
    agents: dict[tuple[str, dt.datetime], float] = defaultdict(float)
    unassigned_s = 0.0
    starts = [b[1] for b in bounds]
    for agent, start, end in blocks:
        split = shares.get(agent)
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        for local, slot_lo, slot_hi in bounds[first:bisect.bisect_left(starts, end)]:
            overlap = (min(end, slot_hi) - max(start, slot_lo)).total_seconds()
            if overlap <= 0:
                continue
            if not split:
                unassigned_s += overlap
                continue
            length = (slot_hi - slot_lo).total_seconds()
            for queue, share in split.items():
                agents[(queue, local)] += share * overlap / length
    return ScheduledAgents(dict(agents), unassigned_s / 3600, shares)
