"""Staffing: who works when (the published schedule) and what they actually did.

* **Days off**: inbound agents work five days a week with two consecutive days off,
  chosen so that each weekday's headcount follows the client's weekly volume pattern
  (less than proportionally). Outbound agents work weekdays, on a morning or an evening
  5-hour shift.
* **Shift starts**: a workforce planner's greedy cover of the day's requirement per
  15 minutes. The requirement is square-root safety staffing, ``A + beta * sqrt(A)``
  for an offered load of ``A`` erlangs, grossed up for in-shift shrinkage. Agents are
  planned per primary queue (VIP and tier 2 specialists against their own queues, at
  least one whenever they are open), full-time 9-hour shifts first, then 6-hour
  part-time shifts where the peaks still need people.
* **Activities**: a 9-hour shift has a one-hour unpaid lunch 3 to 5.5 hours in and a
  15-minute break before and after it, each placed where the phones can best spare the
  agent; a 6-hour shift has one break; some days add a training hour or a coaching half
  hour.
* **Absences**: planned vacations (not scheduled at all), sick spells of a few days
  (scheduled, not worked), no-shows, and partial days (the agent leaves early).
* **Behaviour** (what the queue_log will show): logins a few minutes early, or late
  (``LATE_LOGIN_PROB``); breaks started when the current call is done, lunches that
  overrun; unplanned personal pauses and the odd technical problem.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from callkpi.demo.center import Agent, Center, QueueSpec
from callkpi.demo.clock import INTERVAL_S, INTERVALS_PER_DAY, Period

SAFETY_BETA = 0.9
"""Square-root staffing: agents = load + beta * sqrt(load)."""
IN_SHIFT_SHRINKAGE = 0.14
"""Share of a shift's paid time spent in breaks, training and personal pauses."""
WEEKEND_STAFFING_ELASTICITY = 0.6
"""Headcount per weekday follows volume ** 0.6."""
OUTBOUND_SHIFTS_H = ((10.0, 15.0), (15.0, 20.0))
VACATION_PROB = 0.12
SICK_START_PROB = 0.012
NO_SHOW_PROB = 0.004
LEAVE_EARLY_PROB = 0.015
LATE_LOGIN_PROB = 0.12
LATE_LOGIN_MEAN_S = 420
NEW_HIRE_TRAINING_DAYS = 2
FULL_SHIFT_INTERVALS = 32
"""Shifts of 8 hours or more have a lunch and two breaks; shorter ones one break."""


@dataclass(frozen=True)
class Activity:
    activity: str
    """work | break | lunch | training | coaching"""
    start: int
    end: int


@dataclass(frozen=True)
class PlannedShift:
    agent: Agent
    day: dt.date
    start: int
    end: int
    activities: tuple[Activity, ...]
    paid_hours: float


@dataclass(frozen=True)
class AbsenceDay:
    agent: str
    day: dt.date
    scheduled_hours: float
    absent_hours: float
    reason: str | None


@dataclass(frozen=True)
class PauseRequest:
    at: int
    reason: str
    duration_s: int
    """How long the pause lasts once it starts."""
    latest_end: int | None = None
    """A pause tied to others' time (training, coaching) ends by then however late it began."""


@dataclass(frozen=True)
class WorkedShift:
    """What the agent actually did on a planned shift (the input of the simulations)."""

    agent: Agent
    planned: PlannedShift
    login_at: int
    logout_at: int
    pauses: tuple[PauseRequest, ...]


@dataclass(frozen=True)
class Staffing:
    planned: tuple[PlannedShift, ...]
    worked: tuple[WorkedShift, ...]
    absences: tuple[AbsenceDay, ...]
    ahead: tuple[PlannedShift, ...] = ()
    """The schedule already published for the days after the period (nothing worked yet)."""

    def worked_by(self, agents: Sequence[Agent]) -> list[WorkedShift]:
        ids = {a.agent for a in agents}
        return [w for w in self.worked if w.agent.agent in ids]


# -- requirement ----------------------------------------------------------------------------


def handle_s(queue: QueueSpec) -> float:
    """Mean time an answered call holds an agent: ring, lognormal talk, wrap-up."""
    return 6 + queue.talk_median_s * math.exp(queue.talk_sigma**2 / 2) + queue.acw_median_s * 1.1


def offered_load(queue: QueueSpec, day: dt.date, visits_per_weekday: float) -> np.ndarray:
    """Expected erlangs of the queue per 15-minute interval of ``day``."""
    visits = visits_per_weekday * queue.volume.weekday_factors[day.weekday()]
    return visits * queue.volume.profile.shares() * handle_s(queue) / INTERVAL_S


def agents_needed(load_erlangs: np.ndarray, *, minimum: int = 0) -> np.ndarray:
    """Square-root safety staffing, grossed up for in-shift shrinkage."""
    needed = (load_erlangs + SAFETY_BETA * np.sqrt(load_erlangs)) / (1 - IN_SHIFT_SHRINKAGE)
    return np.where(load_erlangs > 0, np.maximum(needed, minimum), 0.0)


def best_start(
    deficit: np.ndarray, requirement: np.ndarray, starts: Sequence[int], length: int
) -> int:
    """The start interval whose shift covers the most unmet requirement, relative to the
    requirement (so a thin evening counts as much as a busy morning)."""
    relative = np.clip(deficit, 0, None) / np.maximum(requirement, 1.0)
    scores = [float(relative[s : s + length].sum()) for s in starts]
    return starts[int(np.argmax(scores))]


@dataclass(frozen=True)
class Block:
    """Time off the phones inside a shift, in 15-minute intervals from the shift start."""

    activity: str
    offset: int
    length: int


@dataclass(frozen=True)
class ShiftSlot:
    start_min: int
    """Local minutes after midnight."""
    blocks: tuple[Block, ...]


BLOCK_LENGTHS = {"lunch": 4, "break": 1, "training": 4, "coaching": 2}


def place_block(
    surplus: np.ndarray, start: int, activity: str, offsets: Sequence[int], taken: Sequence[Block]
) -> Block | None:
    """The block at the offset (from ``offsets``) where the agents on the phones exceed the
    requirement the most, not overlapping ``taken``."""
    length = BLOCK_LENGTHS[activity]
    best: tuple[float, int] | None = None
    for offset in offsets:
        if any(offset < t.offset + t.length and t.offset < offset + length for t in taken):
            continue
        score = float(surplus[start + offset : start + offset + length].sum())
        if best is None or score > best[0]:
            best = (score, offset)
    return Block(activity, best[1], length) if best else None


def plan_blocks(surplus: np.ndarray, start: int, length: int, extras: Sequence[str]) -> list[Block]:
    """Where the phones can best spare the agent: on a full shift, lunch 3 to 5.5 hours in
    and a break before and after it; on a short one, a break near the middle; then any
    training or coaching."""
    blocks: list[Block] = []
    if length >= FULL_SHIFT_INTERVALS:
        lunch = place_block(surplus, start, "lunch", range(12, 23), [])
        assert lunch is not None
        end = lunch.offset + lunch.length
        wanted = [
            ("break", range(6, min(11, lunch.offset))),
            ("break", range(end + 6, min(end + 11, length - 2))),
        ]
        blocks.append(lunch)
    else:
        wanted = [("break", range(length // 2 - 3, length // 2 + 3))]
    wanted += [(extra, range(2, length - 6)) for extra in extras]
    for activity, offsets in wanted:
        block = place_block(surplus, start, activity, offsets, blocks)
        if block is not None:
            blocks.append(block)
    return sorted(blocks, key=lambda b: b.offset)


@dataclass(frozen=True)
class OpenHours:
    """When a group's shifts may run, in 15-minute intervals of the day."""

    first: int
    last: int
    """Shifts end by the end of this interval."""

    def starts(self, length: int) -> range:
        return range(self.first, self.last - length + 2)


def shift_intervals(agent: Agent) -> int:
    return int(agent.shift_h * 3600 / INTERVAL_S)


def cover(
    requirement: np.ndarray,
    agents: Sequence[Agent],
    hours: OpenHours,
    extras: dict[str, tuple[str, ...]],
) -> dict[str, ShiftSlot]:
    """Greedy shifts for ``agents`` (in order) against ``requirement``: each takes the start
    covering the most unmet need, then its lunch, breaks and ``extras`` (training,
    coaching) where they hurt least."""
    coverage = np.zeros(INTERVALS_PER_DAY)
    chosen = {}
    for agent in agents:
        length = shift_intervals(agent)
        start = best_start(requirement - coverage, requirement, hours.starts(length), length)
        coverage[start : start + length] += 1
        blocks = plan_blocks(coverage - requirement, start, length, extras.get(agent.agent, ()))
        for block in blocks:
            coverage[start + block.offset : start + block.offset + block.length] -= 1
        chosen[agent.agent] = ShiftSlot(start * INTERVAL_S // 60, tuple(blocks))
    return chosen


# -- days off and absences -----------------------------------------------------------------


def weekly_days_off(
    agents: Sequence[Agent], weekday_factors: Sequence[float]
) -> dict[str, tuple[int, int]]:
    """Two consecutive weekdays off per agent, so headcount per weekday follows volume
    (less than proportionally: small teams on quiet days need relatively more people)."""
    weights = np.array(weekday_factors) ** WEEKEND_STAFFING_ELASTICITY
    target = len(agents) * 5 / 7 * weights / np.mean(weights)
    present = np.full(7, float(len(agents)))
    days_off = {}
    for agent in agents:
        pairs = [(d, (d + 1) % 7) for d in range(7)]
        surplus = [
            (present[a] - target[a]) / target[a] + (present[b] - target[b]) / target[b]
            for a, b in pairs
        ]
        pair = pairs[int(np.argmax(surplus))]
        present[list(pair)] -= 1
        days_off[agent.agent] = pair
    return days_off


def vacations(
    rng: np.random.Generator, agents: Sequence[Agent], period: Period
) -> dict[str, set[dt.date]]:
    """A one- or two-week vacation for some agents (planned: they are not scheduled)."""
    result: dict[str, set[dt.date]] = {}
    for agent in agents:
        if rng.random() >= VACATION_PROB or len(period.days) < 7:
            continue
        length = int(rng.integers(7, 15))
        first = int(rng.integers(-length // 2, len(period.days)))
        result[agent.agent] = {
            period.first_day + dt.timedelta(days=first + i) for i in range(length)
        }
    return result


def employed(agent: Agent, day: dt.date) -> bool:
    return agent.hire_date <= day and (agent.exit_date is None or day < agent.exit_date)


# -- planned shifts -------------------------------------------------------------------------


def _blocks_to_activities(
    shift_start: int, shift_end: int, blocks: list[tuple[str, int, int]]
) -> tuple[Activity, ...]:
    """Non-work blocks (sorted, inside the shift) with work filling the gaps."""
    activities = []
    cursor = shift_start
    for name, start, end in sorted(blocks, key=lambda b: b[1]):
        if start > cursor:
            activities.append(Activity("work", cursor, start))
        activities.append(Activity(name, start, end))
        cursor = end
    if cursor < shift_end:
        activities.append(Activity("work", cursor, shift_end))
    return tuple(activities)


def part_time_activities(start: int, end: int) -> tuple[Activity, ...]:
    middle = start + (end - start) // 2
    return _blocks_to_activities(start, end, [("break", middle, middle + 900)])


def _inbound_day_plan(
    center: Center,
    tenant: str,
    agents: Sequence[Agent],
    day: dt.date,
    visits_per_weekday: dict[str, float],
    extras: dict[str, tuple[str, ...]],
    rng: np.random.Generator,
) -> dict[str, ShiftSlot]:
    """Shift slots of a client's working inbound agents on one day. Agents are grouped by
    their first (primary) queue; each group, smallest first, is planned against the
    requirement of its primary queue, with at least one agent whenever it is open."""
    queues = center.queues_of(tenant)
    open_h = min(q.volume.profile.open_hour for q in queues)
    close_h = max(q.volume.profile.close_hour for q in queues)
    hours = OpenHours(int(open_h * 3600 / INTERVAL_S), int(close_h * 3600 / INTERVAL_S))
    groups: dict[str, list[Agent]] = {}
    for agent in agents:
        groups.setdefault(agent.skills[0], []).append(agent)
    chosen: dict[str, ShiftSlot] = {}
    for primary in sorted(groups, key=lambda q: (len(groups[q]), q)):
        spec = center.queue(primary)
        need = agents_needed(
            offered_load(spec, day, visits_per_weekday.get(primary, 0.0)), minimum=1
        )
        members = [groups[primary][i] for i in rng.permutation(len(groups[primary]))]
        members.sort(key=lambda a: -a.shift_h)  # full shifts first, short ones fill the peaks
        chosen.update(cover(need, members, hours, extras))
    return chosen


def extra_activities(agent: Agent, day_number: int) -> tuple[str, ...]:
    """A training hour about once a week, a coaching half hour about every two weeks."""
    ext = int(agent.extension)
    return (("training",) if (ext + day_number) % 7 == 0 else ()) + (
        ("coaching",) if (ext + day_number) % 14 == 3 else ()
    )


def _shift(agent: Agent, day: dt.date, slot: ShiftSlot | None, period: Period) -> PlannedShift:
    """A planned shift; ``slot`` None is a new hire's classroom day (09:00, all training)."""
    if slot is None:
        start = period.epoch(day, 9 * 3600)
        end = start + int(agent.shift_h * 3600)
        return PlannedShift(
            agent, day, start, end, (Activity("training", start, end),), agent.paid_h
        )
    start = period.epoch(day, slot.start_min * 60)
    end = start + int(agent.shift_h * 3600)
    if agent.outbound:
        return PlannedShift(agent, day, start, end, part_time_activities(start, end), agent.paid_h)
    blocks = [
        (b.activity, start + b.offset * INTERVAL_S, start + (b.offset + b.length) * INTERVAL_S)
        for b in slot.blocks
    ]
    return PlannedShift(
        agent, day, start, end, _blocks_to_activities(start, end, blocks), agent.paid_h
    )


@dataclass(frozen=True)
class Rota:
    shifts: list[PlannedShift]
    days_off: dict[str, tuple[int, int]]
    """Each agent's two weekdays off (0 = Monday)."""
    vacation: dict[str, set[dt.date]]
    """Each agent's vacation days (not scheduled)."""


def _days_off(center: Center) -> dict[str, tuple[int, int]]:
    """Weekends for outbound; for inbound, per team and seniority (so that specialists
    are spread over the week too)."""
    days_off: dict[str, tuple[int, int]] = {}
    for team in center.teams:
        for senior in (True, False):
            members = [a for a in center.agents if a.team == team.team and a.senior == senior]
            if team.campaigns:
                days_off.update({a.agent: (5, 6) for a in members})
            else:
                weekly = center.queues_of(team.tenant)[0].volume.weekday_factors
                days_off.update(weekly_days_off(members, weekly))
    return days_off


def plan_shifts(
    rng: np.random.Generator, center: Center, visits_per_weekday: dict[str, float]
) -> Rota:
    """The published schedule."""
    period = center.period
    on_vacation = vacations(rng, center.agents, period)
    days_off = _days_off(center)
    shifts: list[PlannedShift] = []
    worked_days: dict[str, int] = {}
    for number, day in enumerate(period.days):
        working = [
            a
            for a in center.agents
            if employed(a, day)
            and day.weekday() not in days_off[a.agent]
            and day not in on_vacation.get(a.agent, set())
        ]
        classroom = set()
        for agent in working:
            seen = worked_days.get(agent.agent, 0)
            worked_days[agent.agent] = seen + 1
            if agent.hire_date >= period.first_day and seen < NEW_HIRE_TRAINING_DAYS:
                classroom.add(agent.agent)
        slots: dict[str, ShiftSlot] = {}
        extras = {a.agent: extra_activities(a, number) for a in working}
        for tenant in center.tenants:
            inbound = [
                a
                for a in working
                if a.tenant == tenant.tenant and not a.outbound and a.agent not in classroom
            ]
            slots.update(
                _inbound_day_plan(
                    center, tenant.tenant, inbound, day, visits_per_weekday, extras, rng
                )
            )
        for a in working:
            if a.outbound:
                morning = (int(a.extension) + number // 7) % 2 == 0
                slots[a.agent] = ShiftSlot(int(OUTBOUND_SHIFTS_H[0 if morning else 1][0] * 60), ())
        shifts += [_shift(a, day, slots.get(a.agent), period) for a in working]
    return Rota(shifts, days_off, on_vacation)


# -- absences and behaviour -----------------------------------------------------------------


def _absence_reasons(rng: np.random.Generator, shifts: Sequence[PlannedShift]) -> dict[int, str]:
    """Unplanned absence per shift index: sick spells, no-shows, leaving early."""
    reasons: dict[int, str] = {}
    sick_until: dict[str, dt.date] = {}
    for index, shift in enumerate(shifts):
        agent = shift.agent.agent
        if agent in sick_until and shift.day <= sick_until[agent]:
            reasons[index] = "sick"
            continue
        draw = rng.random()
        if draw < SICK_START_PROB:
            sick_until[agent] = shift.day + dt.timedelta(days=int(rng.geometric(0.45)))
            reasons[index] = "sick"
        elif draw < SICK_START_PROB + NO_SHOW_PROB:
            reasons[index] = "no_show"
        elif draw < SICK_START_PROB + NO_SHOW_PROB + LEAVE_EARLY_PROB:
            reasons[index] = "personal_leave"
    return reasons


def _pause_requests(
    rng: np.random.Generator, shift: PlannedShift, logout_at: int
) -> list[PauseRequest]:
    """The pauses the agent will ask for: the planned blocks (breaks and lunches may
    overrun), a few personal pauses, now and then a technical problem."""
    requests = []
    for activity in shift.activities:
        if activity.activity == "work" or activity.start >= logout_at:
            continue
        planned_s = activity.end - activity.start
        at = activity.start + int(rng.normal(0, 60))
        if activity.activity in ("training", "coaching"):
            requests.append(
                PauseRequest(
                    at,
                    activity.activity,
                    planned_s + int(rng.integers(0, 180)),
                    latest_end=activity.end + 120,
                )
            )
            continue
        overrun = (
            int(rng.exponential(360 if activity.activity == "lunch" else 150))
            if rng.random() < 0.3
            else 0
        )
        requests.append(PauseRequest(at, activity.activity, planned_s + overrun))
    work = [a for a in shift.activities if a.activity == "work" and a.end - a.start > 1800]
    for _ in range(int(rng.poisson(1.3))):
        block = work[int(rng.integers(len(work)))] if work else None
        if block:
            at = int(rng.integers(block.start + 300, block.end - 900))
            requests.append(PauseRequest(at, "personal", 120 + int(rng.exponential(240))))
    if rng.random() < 0.04 and work:
        block = work[int(rng.integers(len(work)))]
        at = int(rng.integers(block.start, block.end - 600))
        requests.append(PauseRequest(at, "tech_issue", 300 + int(rng.exponential(600))))
    return sorted((r for r in requests if r.at < logout_at - 300), key=lambda r: r.at)


def _behave(rng: np.random.Generator, shift: PlannedShift, leave_early_h: float) -> WorkedShift:
    if rng.random() < LATE_LOGIN_PROB:
        login = shift.start + 60 + int(min(rng.exponential(LATE_LOGIN_MEAN_S), 2400))
    else:
        login = shift.start - int(rng.integers(0, 240))
    logout = shift.end + int(rng.integers(0, 150)) - int(leave_early_h * 3600)
    pauses = tuple(_pause_requests(rng, shift, logout))
    return WorkedShift(shift.agent, shift, login, logout, pauses)


def _absence_rows(
    rota: Rota, reasons: dict[int, str], leave_early_h: dict[int, float], center: Center
) -> list[AbsenceDay]:
    rows = []
    for index, shift in enumerate(rota.shifts):
        reason = reasons.get(index)
        absent = (
            shift.paid_hours if reason in ("sick", "no_show") else leave_early_h.get(index, 0.0)
        )
        rows.append(AbsenceDay(shift.agent.agent, shift.day, shift.paid_hours, absent, reason))
    for agent in center.agents:
        for day in sorted(rota.vacation.get(agent.agent, set())):
            if (
                center.period.first_day <= day <= center.period.last_day
                and employed(agent, day)
                and day.weekday() not in rota.days_off[agent.agent]
            ):
                hours = agent.paid_h
                rows.append(AbsenceDay(agent.agent, day, hours, hours, "vacation"))
    return sorted(rows, key=lambda r: (r.day, r.agent))


def takes_calls(shift: PlannedShift) -> bool:
    """False for a new hire's classroom days (the whole shift is training)."""
    return any(a.activity == "work" for a in shift.activities)


def build_staffing(
    rng: np.random.Generator, center: Center, visits_per_weekday: dict[str, float]
) -> Staffing:
    rota = plan_shifts(rng, center, visits_per_weekday)
    planned = rota.shifts
    reasons = _absence_reasons(rng, planned)
    leave_early_h = {
        i: float(rng.choice([2.0, 2.5, 3.0, 4.0]))
        for i, r in reasons.items()
        if r == "personal_leave"
    }
    worked = tuple(
        _behave(rng, shift, leave_early_h.get(index, 0.0))
        for index, shift in enumerate(planned)
        if reasons.get(index) not in ("sick", "no_show") and takes_calls(shift)
    )
    absences = _absence_rows(rota, reasons, leave_early_h, center)
    return Staffing(tuple(planned), worked, tuple(absences))


def publish_ahead(
    rng: np.random.Generator, center: Center, visits_per_weekday: dict[str, float], days: int
) -> tuple[PlannedShift, ...]:
    """The schedule for the ``days`` after the period, planned the same way (a planner
    publishes a week or two ahead), so that plans can be compared with it."""
    last = center.period.last_day
    after = Period(last + dt.timedelta(days=1), last + dt.timedelta(days=days),
                   center.period.tz_name)
    return tuple(plan_shifts(rng, replace(center, period=after), visits_per_weekday).shifts)


def schedule_rows(staffing: Staffing) -> list[dict[str, object]]:
    """The published schedule as ``schedules`` records (one row per activity block)."""
    return [
        {"agent": s.agent.agent, "activity": a.activity, "start_at": a.start, "end_at": a.end}
        for s in (*staffing.planned, *staffing.ahead)
        for a in s.activities
    ]


def absence_rows(staffing: Staffing) -> list[dict[str, object]]:
    return [
        {
            "agent": a.agent,
            "date": a.day,
            "scheduled_hours": a.scheduled_hours,
            "absent_hours": a.absent_hours,
            "reason": a.reason,
        }
        for a in staffing.absences
    ]
