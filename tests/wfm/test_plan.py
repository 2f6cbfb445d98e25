"""Staffing plans from a hand-built warehouse: forecast -> agents per slot -> headcount
after shrinkage -> against the published schedule, worked out by hand."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callkpi.store import Warehouse, arrow_rows
from callkpi.wfm.erlang import erlang_a
from callkpi.wfm.plan import ROW_COLUMNS, PlanOptions, build_plan
from callkpi.wfm.staffing import Constraints
from callkpi.wfm.types import Load

D = dt.datetime
MONDAY = D(2026, 10, 5)  # two weeks of history: Mon 5 Oct .. Sun 18 Oct
PLAN_START = dt.date(2026, 10, 19)


def _load(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    with wh.transaction():
        wh.load(table, arrow_rows(table, rows))


def _steady_calls(queue: str = "A", abandon_every: int = 0) -> list[dict[str, Any]]:
    """Every day for 14 days, 10 calls in each half hour from 09:00 to 11:00 UTC (one every
    3 minutes), talk 180 s, answered after 5 s by a1 or a2; with ``abandon_every`` k, the
    k-th call of each slot hangs up instead after 30 s (never the 10th: a slot still has
    calls answered)."""
    rows = []
    for day in range(14):
        for slot in range(4):
            for k in range(10):
                at = MONDAY + dt.timedelta(days=day, hours=9, minutes=30 * slot + 3 * k)
                n = len(rows)
                abandoned = abandon_every and k % abandon_every == abandon_every - 1
                rows.append({
                    "call_id": f"{queue}{n}", "segment": 1, "direction": "in", "queue": queue,
                    "entered_at": at, "source": "t", "source_ref": f"{queue}{n}",
                    "transferred": False,
                    **({"outcome": "abandoned", "wait_s": 30.0 + 10 * k} if abandoned else {
                        "outcome": "answered", "agent": "a1" if k % 2 else "a2",
                        "answered_at": at + dt.timedelta(seconds=5), "wait_s": 5.0,
                        "talk_s": 180.0}),
                })
    return rows


@pytest.fixture
def steady(wh: Warehouse) -> Warehouse:
    """Queue A (above, no abandons) and a published schedule: a1 and a2 work 09:00-10:00
    on Monday 19 Oct, the first planned day, and nobody else works that week."""
    _load(wh, "calls", _steady_calls())
    _load(wh, "schedules", [
        {"agent": a, "activity": "work", "start_at": D(2026, 10, 19, 9),
         "end_at": D(2026, 10, 19, 10), "source": "t", "source_ref": a}
        for a in ("a1", "a2")
    ])
    return wh


def test_steady_queue_by_hand(steady: Warehouse) -> None:
    # Every model forecasts 10 calls per busy slot. Load = 10 x 180 / 1800 = 1 Erlang.
    # Erlang B(2, 1) = 0.5 / 2.5 = 0.2; C(2, 1) = 0.2 / (1 - 0.5 x 0.8) = 1/3;
    # SL(2) = 1 - 1/3 e^(-(2-1) 20/180) = 0.70172 < 0.8.
    # B(3, 1) = 0.2 / 3.2 = 0.0625; C(3, 1) = 0.0625 / (1 - 1/3 x 0.9375) = 1/11;
    # SL(3) = 1 - 1/11 e^(-2 x 20/180) = 0.92721 -> 3 agents, occupancy 1/3.
    # With 30 % shrinkage: ceil(3 / 0.7) = ceil(4.29) = 5 to schedule.
    plan = build_plan(steady, PlanOptions(shrinkage=0.3))
    assert plan.start == PLAN_START  # the day after the last call
    assert plan.notes == ["A: too few abandons to estimate patience: planned with Erlang C"]
    busy = [r for r in plan.rows if r["calls"] > 0]
    assert len(busy) == 7 * 4
    assert {r["slot_start"].time() for r in busy} == {
        dt.time(9), dt.time(9, 30), dt.time(10), dt.time(10, 30)}
    sl2 = 1 - math.exp(-20 / 180) / 3
    sl3 = 1 - math.exp(-2 * 20 / 180) / 11
    for row in busy:
        assert row["calls"] == pytest.approx(10.0)
        assert row["aht_s"] == pytest.approx(180.0)
        assert row["model"] == "erlang-c"
        assert (row["agents"], row["scheduled_required"]) == (3, 5)
        assert row["service_level"] == pytest.approx(sl3, abs=1e-12)
        assert row["occupancy"] == pytest.approx(1 / 3, abs=1e-12)
    idle = [r for r in plan.rows if r["calls"] == 0]
    assert len(idle) == 7 * 48 - 28
    assert all(r["agents"] == 0 and r["scheduled_required"] == 0 for r in idle)

    monday = {r["slot_start"]: r for r in plan.rows if r["slot_start"].date() == PLAN_START}
    for hour, minute in ((9, 0), (9, 30)):  # a1 and a2 scheduled: 2 against 3
        row = monday[D(2026, 10, 19, hour, minute)]
        assert (row["scheduled"], row["gap"]) == (2.0, -1.0)
        assert row["service_level_scheduled"] == pytest.approx(sl2, abs=1e-12)
    assert (monday[D(2026, 10, 19, 10)]["scheduled"], monday[D(2026, 10, 19, 10)]["gap"]) == (
        0.0, -3.0)

    totals = {t["day"]: t for t in plan.totals}
    assert totals[PLAN_START] == {
        "queue": "A", "day": PLAN_START, "calls": 40.0, "required_hours": 6.0,
        "scheduled_required_hours": 10.0, "scheduled_hours": 2.0, "gap_hours": -4.0,
        "peak_agents": 3, "short_slots": 4, "over_slots": 0}
    # The week: 28 slots x 3 agents x 0.5 h = 42 h on the phones, 28 x 5 x 0.5 = 70 h to
    # schedule, 2 h scheduled (2 agents x 1 h).
    week = totals[None]
    assert (week["calls"], week["required_hours"], week["scheduled_required_hours"],
            week["scheduled_hours"], week["gap_hours"], week["short_slots"]) == (
        280.0, 42.0, 70.0, 2.0, -40.0, 28)


def test_targets_and_shrinkage_change_the_plan(steady: Warehouse) -> None:
    # 95 % in 20 s: SL(3) = 0.927 misses; B(4, 1) = 0.0625 / 4.0625 = 1/65,
    # C(4, 1) = (1/65) / (1 - 1/4 x 64/65) = 1/49, SL(4) = 1 - e^(-60/180)/49 = 0.98538.
    strict = build_plan(steady, PlanOptions(
        constraints=Constraints(service_level=0.95), shrinkage=0.2))
    row = next(r for r in strict.rows if r["calls"] > 0)
    assert row["agents"] == 4
    assert row["service_level"] == pytest.approx(1 - math.exp(-60 / 180) / 49, abs=1e-12)
    assert row["scheduled_required"] == 5  # ceil(4 / 0.8) = 5 exactly, not 6
    # Occupancy at most 30 %: 1 Erlang needs 4 agents (25 %), 3 give 33 %.
    busy = build_plan(steady, PlanOptions(constraints=Constraints(
        service_level=None, max_occupancy=0.3)))
    assert {r["agents"] for r in busy.rows if r["calls"] > 0} == {4}


def test_erlang_a_with_the_estimated_patience(wh: Warehouse) -> None:
    """Queue B loses one call in five: the plan uses Erlang A with the queue's estimated
    patience; each slot's agents are the fewest whose Erlang A service level reaches the
    target, found here by counting up from one agent."""
    _load(wh, "calls", _steady_calls("B", abandon_every=5))
    plan = build_plan(wh, PlanOptions(horizon_days=2))
    assert plan.notes == []
    busy = [r for r in plan.rows if r["calls"] > 0]
    assert len(busy) == 8
    for row in busy:
        assert row["model"] == "erlang-a"
        patience = row["patience_s"]
        assert patience is not None and patience > 0
        load = Load(calls=row["calls"], interval_s=1800, aht_s=row["aht_s"])
        n = 1
        while erlang_a(load, n, patience, 20.0).service_level < 0.8:
            n += 1
        assert row["agents"] == n
        assert row["p_abandon"] == pytest.approx(erlang_a(load, n, patience, 20.0).p_abandon,
                                                 abs=1e-12)


def test_plan_errors(wh: Warehouse, steady: Warehouse) -> None:
    with pytest.raises(ValueError, match="at least 7 days"):
        build_plan(steady, PlanOptions(history_days=3))
    with pytest.raises(ValueError, match="grain"):
        build_plan(steady, PlanOptions(grain="20min"))
    with pytest.raises(ValueError, match="nothing to plan from"):
        build_plan(steady, PlanOptions(start=dt.date(2026, 1, 1)))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callkpi", *args], capture_output=True,
                          text=True, timeout=120)


def test_plan_and_forecast_cli(steady: Warehouse, tmp_path: Path) -> None:
    db = str(steady.path)
    steady.close()
    result = _run("plan", "--db", db, "--horizon", "1d", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 48 and set(rows[0]) == set(ROW_COLUMNS)
    nine = next(r for r in rows if r["slot_start"].startswith("2026-10-19T09:00"))
    assert (nine["agents"], nine["scheduled_required"], nine["scheduled"], nine["gap"]) == (
        3, 5, 2.0, -1.0)

    table = _run("plan", "--db", db)
    assert table.returncode == 0, table.stderr
    assert "Agents required from 2026-10-19" in table.stdout
    assert "too few abandons" in table.stderr

    forecast = _run("forecast", "--db", db, "--by", "day", "--horizon", "2d",
                    "--format", "json")
    assert forecast.returncode == 0, forecast.stderr
    days = json.loads(forecast.stdout)
    assert [(d["day"], round(d["calls"], 6)) for d in days] == [
        ("2026-10-19", 40.0), ("2026-10-20", 40.0)]

    bad = _run("plan", "--db", db, "--model", "erlang-x")
    assert bad.returncode == 1 and "--model 'erlang-x'" in bad.stderr
