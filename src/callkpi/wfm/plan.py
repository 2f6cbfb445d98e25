"""Staffing plans: forecast -> agents required per slot -> headcount to schedule after
shrinkage -> compared with the agents actually scheduled.

For each inbound queue and each local slot of the horizon:

* **calls**: the forecast (:func:`callkpi.wfm.history.queue_outlooks`: model chosen per
  queue by back-test, ``level`` interval), from ``history_days`` of history ending at
  ``start``; the handle time of the slot (weekday x hour profile) and the queue's caller
  patience (exponential, estimated from how abandonment grows with waiting).
* **agents**: the fewest agents on the phones meeting every constraint
  (:func:`callkpi.wfm.staffing.solve_many`), with Erlang A by default. A queue without
  enough abandons for a patience estimate is planned with Erlang C (noted). ``model
  "simulation"`` starts from Erlang A (lognormal handle times with ``handle_cv``, the
  day's slots in sequence, queues carried over slot boundaries) and adds an agent to each
  slot that misses the service level in simulation, until none does (at most
  ``SIMULATION_PASSES`` passes).
* **scheduled_required**: ``ceil(agents / (1 - shrinkage))``: the headcount to schedule so
  that ``agents`` remain on the phones after breaks, training, meetings and absence.
* **scheduled**: agents the ``schedules`` table has on the phones (work blocks) in the
  slot, split across queues by each agent's handling time per queue in the history
  (:mod:`callkpi.wfm.schedule`); **gap** = scheduled - agents (negative: short). Scheduled
  work blocks already exclude planned breaks, so they are compared with the agents
  required on the phones; unplanned absence is not taken off.
* **service_level_scheduled**: what the model expects with the scheduled agents (whole
  agents, rounded down).

A forecast of 0 calls needs 0 agents. The AHT of a slot with no handle-time history is
the queue's mean. Slots keep their local wall-clock start; on the night the clocks go back
the repeated hour is one slot twice as long, and its calls are spread over its real length.
Totals are in agent-hours (agents x slot length).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from callkpi import timezones
from callkpi.store import Warehouse
from callkpi.wfm import history
from callkpi.wfm.erlang import erlang_a, erlang_c
from callkpi.wfm.schedule import queue_shares, scheduled_agents, slots
from callkpi.wfm.staffing import Constraints, solve_many
from callkpi.wfm.types import Load

PlanModel = Literal["erlang-a", "erlang-c", "simulation"]
SIMULATION_PASSES = 5
GRAINS = {"15min": 900, "30min": 1800, "hour": 3600}

ROW_COLUMNS = ("queue", "slot_start", "calls", "calls_low", "calls_high", "aht_s",
               "patience_s", "model", "agents", "scheduled_required", "scheduled", "gap",
               "service_level", "p_abandon", "occupancy", "service_level_scheduled")
TOTAL_COLUMNS = ("queue", "day", "calls", "required_hours", "scheduled_required_hours",
                 "scheduled_hours", "gap_hours", "peak_agents", "short_slots", "over_slots")


@dataclass(frozen=True)
class PlanOptions:
    tz: str = "UTC"
    start: dt.date | None = None
    """First planned day (local); default the day after the last day with calls."""
    horizon_days: int = 7
    history_days: int = 28
    grain: str = "30min"
    model: PlanModel = "erlang-a"
    constraints: Constraints = field(default_factory=Constraints)
    shrinkage: float = 0.30
    queues: Sequence[str] | None = None
    level: float = 0.8
    handle_cv: float | None = None
    """Simulation only: lognormal handle times with this coefficient of variation."""
    seed: int = 1


@dataclass(frozen=True)
class Plan:
    options: PlanOptions
    start: dt.date
    rows: list[dict[str, Any]]
    """One per queue and slot (ROW_COLUMNS)."""
    totals: list[dict[str, Any]]
    """One per queue and day, and per queue for the whole horizon (``day`` None)."""
    unassigned_hours: float
    """Scheduled work hours of agents not assigned to any inbound queue."""
    notes: list[str]
    models: dict[str, str]
    """The forecast model chosen per queue."""


def last_day_with_calls(wh: Warehouse, tz: str) -> dt.date | None:
    row = wh.sql("SELECT max(entered_at) FROM calls WHERE direction = 'in' "
                 "AND queue IS NOT NULL")
    if not row or row[0][0] is None:
        return None
    return timezones.utc_to_local(tz, row[0][0]).date()


def _real_lengths_s(tz: str, starts: Sequence[dt.datetime], slot_s: int) -> np.ndarray:
    """Each local slot's length in real seconds (0 for slots the spring change skips)."""
    lengths = []
    for local in starts:
        lo = timezones.local_to_utc(tz, local)
        hi = timezones.local_to_utc(tz, local + dt.timedelta(seconds=slot_s))
        lengths.append(max((hi - lo).total_seconds(), 0.0))
    return np.array(lengths)


def build_plan(wh: Warehouse, options: PlanOptions) -> Plan:
    if options.grain not in GRAINS:
        raise ValueError(f"grain {options.grain!r}: expected one of {', '.join(GRAINS)}")
    if options.horizon_days < 1:
        raise ValueError("the horizon must be at least 1 day")
    if options.history_days < 7:
        raise ValueError("the history must be at least 7 days (the weekly pattern)")
    if not 0 <= options.shrinkage < 1:
        raise ValueError(f"shrinkage {options.shrinkage}: expected 0 <= shrinkage < 1")
    slot_s = GRAINS[options.grain]
    start = options.start
    if start is None:
        last = last_day_with_calls(wh, options.tz)
        if last is None:
            raise ValueError("no inbound queue calls in the warehouse: nothing to plan from")
        start = last + dt.timedelta(days=1)
    history_start = dt.datetime.combine(start - dt.timedelta(days=options.history_days),
                                        dt.time())
    history_end = dt.datetime.combine(start, dt.time())
    outlooks = history.queue_outlooks(
        wh, tz=options.tz, horizon_days=options.horizon_days, grain=options.grain,
        start=history_start, end=history_end, level=options.level, queues=options.queues)
    if not outlooks:
        raise ValueError(f"no inbound queue calls in the {options.history_days} days before "
                         f"{start}: nothing to plan from")
    notes: list[str] = []
    shares = queue_shares(wh, timezones.local_to_utc(options.tz, history_start),
                          timezones.local_to_utc(options.tz, history_end))
    grid = slots(start, options.horizon_days, slot_s)
    sched = scheduled_agents(wh, grid, slot_s, options.tz, shares)
    rows: list[dict[str, Any]] = []
    for queue, outlook in outlooks.items():
        frame = outlook.frame()
        starts = [ts.to_pydatetime() for ts in frame["slot_start"]]
        points = frame["point"].to_numpy(dtype=float)
        real = _real_lengths_s(options.tz, starts, slot_s)
        # Calls per nominal slot length: a slot of double real length (autumn) carries
        # its calls at half the rate; a skipped slot (spring) has none.
        calls: np.ndarray = np.where(
            real > 0, points * slot_s / np.where(real > 0, real, 1), 0.0)
        mean_aht = outlook.aht.mean_s if outlook.aht is not None else None
        if mean_aht is None or not math.isfinite(mean_aht):
            notes.append(f"{queue}: no answered calls in the history, no handle time: skipped")
            continue
        profile = frame["aht_s"].to_numpy(dtype=float)
        aht: np.ndarray = np.where(np.isfinite(profile), profile, mean_aht)
        patience = outlook.patience.mean_s if outlook.patience is not None else None
        model = options.model
        if model != "erlang-c" and patience is None:
            notes.append(f"{queue}: too few abandons to estimate patience: planned with "
                         "Erlang C")
            model = "erlang-c"
        if outlook.patience is not None and outlook.patience.method == "pooled":
            notes.append(f"{queue}: few abandons: the patience of all queues pooled "
                         f"({outlook.patience.mean_s:.0f} s)")
        constraints = options.constraints
        if model == "erlang-c" and constraints.max_abandon is not None:
            constraints = Constraints(
                constraints.service_level, constraints.answer_threshold_s,
                constraints.max_asa_s, constraints.max_occupancy, None,
                constraints.service_level_definition)
            notes.append(f"{queue}: Erlang C has no abandonment: max_abandon not applied")
        solver_model: Literal["erlang-a", "erlang-c"] = (
            "erlang-c" if model == "erlang-c" else "erlang-a")
        table = solve_many(calls, aht, slot_s, constraints, model=solver_model,
                           patience_s=patience if solver_model == "erlang-a" else None,
                           shrinkage=options.shrinkage)
        agents = table.agents.copy()
        if model == "simulation":
            agents = _simulate_up(calls, aht, slot_s, agents, patience, constraints, options)
        for i, local in enumerate(starts):
            on_phones = round(sched.agents.get((queue, local), 0.0), 2)
            required = int(agents[i])
            metrics = table.metrics.at(i) if required == int(table.agents[i]) else None
            rows.append({
                "queue": queue,
                "slot_start": local,
                "calls": float(points[i]),
                "calls_low": float(frame["lower"].iloc[i]),
                "calls_high": float(frame["upper"].iloc[i]),
                "aht_s": float(aht[i]) if calls[i] > 0 else None,
                "patience_s": patience,
                "model": model,
                "agents": required,
                "scheduled_required": math.ceil(round(required / (1 - options.shrinkage), 9)),
                "scheduled": on_phones,
                "gap": round(on_phones - required, 2),
                "service_level": metrics.service_level if metrics else None,
                "p_abandon": metrics.p_abandon if metrics else None,
                "occupancy": metrics.occupancy if metrics else None,
                "service_level_scheduled": _expected_sl(
                    calls[i], slot_s, aht[i], math.floor(on_phones + 1e-9), patience,
                    solver_model, constraints),
            })
    return Plan(options, start, rows, _totals(rows, slot_s), sched.unassigned_hours, notes,
                {q: o.forecast.model for q, o in outlooks.items()})


def _expected_sl(calls: float, slot_s: int, aht_s: float, agents: int, patience: float | None,
                 model: str, constraints: Constraints) -> float | None:
    if calls <= 0:
        return None
    load = Load(calls=calls, interval_s=slot_s, aht_s=aht_s)
    if model == "erlang-a" and patience is not None:
        return erlang_a(load, agents, patience, constraints.answer_threshold_s,
                        constraints.service_level_definition).service_level
    metrics = erlang_c(load, agents, constraints.answer_threshold_s)
    return metrics.service_level if metrics.stable else 0.0


def _simulate_up(calls: np.ndarray, aht: np.ndarray, slot_s: int, agents: np.ndarray,
                 patience: float | None, constraints: Constraints,
                 options: PlanOptions) -> np.ndarray:
    """Add agents to the slots that miss the service level in simulation (each day run as
    one sequence of slots, so queues carry over), until every slot meets it."""
    from callkpi.wfm.simulation import Exponential, Lognormal, simulate

    target = constraints.service_level
    if target is None:
        return agents
    agents = agents.copy()
    per_day = 86_400 // slot_s
    for day in range(len(calls) // per_day):
        part = slice(day * per_day, (day + 1) * per_day)
        day_calls = calls[part]
        if day_calls.sum() <= 0:
            continue
        mean_aht = float(np.average(aht[part], weights=np.maximum(day_calls, 1e-9)))
        handle = (Lognormal(mean_aht, options.handle_cv) if options.handle_cv
                  else Exponential(mean_aht))
        for _ in range(SIMULATION_PASSES):
            result = simulate(
                list(day_calls), slot_s, [int(a) for a in agents[part]], handle,
                Exponential(patience) if patience else None,
                answer_threshold_s=constraints.answer_threshold_s,
                service_level_definition=constraints.service_level_definition,
                seed=options.seed + day)
            missed = [i for i, r in enumerate(result.intervals)
                      if day_calls[i] > 0 and r.service_level is not None
                      and r.service_level < target]
            if not missed:
                break
            for i in missed:
                agents[day * per_day + i] += 1
    return agents


def _totals(rows: list[dict[str, Any]], slot_s: int) -> list[dict[str, Any]]:
    hours = slot_s / 3600
    groups: dict[tuple[str, dt.date | None], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["queue"], row["slot_start"].date()), []).append(row)
        groups.setdefault((row["queue"], None), []).append(row)
    totals = []
    for (queue, day), members in sorted(groups.items(),
                                        key=lambda kv: (kv[0][0], kv[0][1] or dt.date.max)):
        required = sum(r["agents"] for r in members) * hours
        scheduled = sum(r["scheduled"] for r in members) * hours
        totals.append({
            "queue": queue,
            "day": day,
            "calls": round(sum(r["calls"] for r in members), 1),
            "required_hours": round(required, 2),
            "scheduled_required_hours": round(
                sum(r["scheduled_required"] for r in members) * hours, 2),
            "scheduled_hours": round(scheduled, 2),
            "gap_hours": round(scheduled - required, 2),
            "peak_agents": max(r["agents"] for r in members),
            "short_slots": sum(1 for r in members if r["gap"] < 0),
            "over_slots": sum(1 for r in members if r["gap"] > 0 and r["agents"] > 0),
        })
    return totals
