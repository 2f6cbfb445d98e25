"""Agents scheduled per queue and slot, worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from callkpi.store import Warehouse, arrow_rows
from callkpi.wfm.schedule import queue_shares, scheduled_agents, slots

D = dt.datetime


def _load(wh: Warehouse, table: str, rows: list[dict[str, object]]) -> None:
    with wh.transaction():
        wh.load(table, arrow_rows(table, [{**r, "source": "test", "source_ref": str(i)}
                                          for i, r in enumerate(rows)]))


def _call(n: int, agent: str, queue: str, talk: float, acw: float,
          direction: str = "in") -> dict[str, object]:
    at = D(2026, 10, 5, 9) + dt.timedelta(minutes=n)
    return {"call_id": f"c{n}", "segment": 1, "direction": direction, "queue": queue,
            "agent": agent, "entered_at": at, "answered_at": at, "outcome": "answered",
            "talk_s": talk, "acw_s": acw, "transferred": False}


@pytest.fixture
def floor(wh: Warehouse) -> Warehouse:
    _load(wh, "agents", [{"agent": "X", "team": "t"}, {"agent": "Y", "team": "t"},
                         {"agent": "Z", "team": "outbound"}])
    _load(wh, "calls", [
        _call(1, "X", "q1", 200, 100),  # X: 300 s on q1, 100 s on q2 -> 0.75 / 0.25
        _call(2, "X", "q2", 100, 0),
        _call(3, "Z", "q1", 500, 0, direction="out"),  # outbound: not a skill
        _call(4, "X", "q1", 900, 0) | {"entered_at": D(2026, 9, 1)},  # before the window
    ])
    _load(wh, "schedules", [
        {"agent": "X", "activity": "work", "start_at": D(2026, 11, 2, 9),
         "end_at": D(2026, 11, 2, 10)},
        {"agent": "Y", "activity": "work", "start_at": D(2026, 11, 2, 9, 10),
         "end_at": D(2026, 11, 2, 9, 40)},
        {"agent": "Y", "activity": "break", "start_at": D(2026, 11, 2, 9, 40),
         "end_at": D(2026, 11, 2, 9, 55)},
        {"agent": "Z", "activity": "work", "start_at": D(2026, 11, 2, 9),
         "end_at": D(2026, 11, 2, 11)},
    ])
    return wh


def test_shares_come_from_handling_time_and_the_team(floor: Warehouse) -> None:
    shares = queue_shares(floor, D(2026, 10, 1), D(2026, 11, 1))
    assert shares == {"X": {"q1": 0.75, "q2": 0.25}, "Y": {"q1": 0.75, "q2": 0.25}}


def test_scheduled_agents_per_queue_and_slot(floor: Warehouse) -> None:
    shares = queue_shares(floor, D(2026, 10, 1), D(2026, 11, 1))
    grid = slots(dt.date(2026, 11, 2), 1, 1800)
    result = scheduled_agents(floor, grid, 1800, "UTC", shares)
    nine, half = D(2026, 11, 2, 9), D(2026, 11, 2, 9, 30)
    # X: whole slots, 0.75 / 0.25. Y: 20 of 30 minutes at 9:00, 10 of 30 at 9:30.
    assert result.agents[("q1", nine)] == pytest.approx(0.75 + 0.75 * 20 / 30)
    assert result.agents[("q2", nine)] == pytest.approx(0.25 + 0.25 * 20 / 30)
    assert result.agents[("q1", half)] == pytest.approx(0.75 + 0.75 * 10 / 30)
    assert result.agents[("q2", half)] == pytest.approx(0.25 + 0.25 * 10 / 30)
    assert set(result.agents) == {("q1", nine), ("q2", nine), ("q1", half), ("q2", half)}
    assert result.unassigned_hours == 2.0  # Z, an outbound dialer


def test_local_slots_across_the_autumn_clock_change(wh: Warehouse) -> None:
    # Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC). An agent working
    # 00:00-02:00 UTC (02:00-03:00 local twice) is counted in full, never lost.
    _load(wh, "schedules", [{"agent": "X", "activity": "work", "start_at": D(2026, 10, 25, 0),
                             "end_at": D(2026, 10, 25, 2)}])
    grid = slots(dt.date(2026, 10, 25), 1, 1800)
    assert len(grid) == 48
    result = scheduled_agents(wh, grid, 1800, "Europe/Berlin", {"X": {"q": 1.0}})
    got = {k[1].time(): round(v, 6) for k, v in result.agents.items()}
    # 02:00 local (first pass) = 00:00-00:30 UTC; 02:30 = 00:30-02:00 UTC (it runs to
    # 03:00 CET): the agent is there for all of both, so 1 agent in each.
    assert got == {dt.time(2, 0): 1.0, dt.time(2, 30): 1.0}


def test_slots_must_divide_a_day() -> None:
    with pytest.raises(ValueError, match="does not divide a day"):
        slots(dt.date(2026, 11, 2), 1, 7 * 60)
    assert len(slots(dt.date(2026, 11, 2), 7, 900)) == 7 * 96
