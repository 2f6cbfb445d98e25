"""Availability vs agent answer rate per agent, computed by hand.

Monday 5 October 2026, UTC. Logins and pauses are agent-level; every call presented to an
agent is a one-second ringing span ending ``answered`` or ``noanswer``:

    agent  logged in            paused   availability              presented  answered  rate
    A      08:00-16:00 28800 s  3600 s   25200/28800 = 0.875       40         38        0.95
    B      08:00-16:00 28800 s  7200 s   21600/28800 = 0.75        50         40        0.80
    C      08:00-12:00 14400 s  0        1.0                       30         21        0.70
    D      08:00-16:00 28800 s  5760 s   23040/28800 = 0.80        100        99        0.99
    E      08:00-09:00  3600 s  0        1.0                        5          5        (too few)

Center: logged in 3 x 28800 + 14400 + 3600 = 104400 s, paused 3600 + 7200 + 5760 = 16560
s, availability 87840/104400 = 0.841379; presented 225, answered 203, rate 0.902222.

Service level: 10 queue calls, 6 answered within 20 s (wait 10), 2 answered after 60 s,
2 abandoned after 30 s (not short): 6/10 = 0.6, below the 0.8 benchmark.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from insight_rows import at, call, load, pick, span

from callkpi.goals.periods import parse_period
from callkpi.insights import availability
from callkpi.store import Warehouse

DAY = parse_period("2026-10-05")
LOGINS = {
    "A": ("16:00", 3600),
    "B": ("16:00", 7200),
    "C": ("12:00", 0),
    "D": ("16:00", 5760),
    "E": ("09:00", 0),
}
RINGS = {"A": (40, 38), "B": (50, 40), "C": (30, 21), "D": (100, 99), "E": (5, 5)}


def _agent(agent: str) -> list[dict[str, Any]]:
    logout, paused_s = LOGINS[agent]
    rows = [span(agent, "logged_in", at(5, "08:00"), at(5, logout))]
    if paused_s:
        start = at(5, "12:00")
        rows.append(span(agent, "paused", start, start + dt.timedelta(seconds=paused_s)))
    presented, answered = RINGS[agent]
    for i in range(presented):
        ring = at(5, "08:00") + dt.timedelta(seconds=30 * i)
        reason = "answered" if i < answered else "noanswer"
        rows.append(
            span(
                agent,
                "ringing",
                ring,
                ring + dt.timedelta(seconds=1),
                reason=reason,
                call_id=f"{agent}{i}",
            )
        )
    return rows


@pytest.fixture
def shift(wh: Warehouse) -> Warehouse:
    load(wh, "agent_states", [row for agent in LOGINS for row in _agent(agent)])
    waits = [10.0] * 6 + [60.0] * 2
    calls = [call(f"q{i}", at(5, "09:00"), agent="A", wait_s=w) for i, w in enumerate(waits)]
    calls += [call(f"x{i}", at(5, "09:30"), "abandoned", wait_s=30.0) for i in range(2)]
    load(wh, "calls", calls)
    return wh


def test_quadrants_against_the_center(shift: Warehouse) -> None:
    result = availability(shift, DAY)
    assert result.center["availability"] == pytest.approx(87840 / 104400)
    assert result.center["agent_answer_rate"] == pytest.approx(203 / 225)
    columns = ("agent", "logged_in_h", "availability", "agent_answer_rate")
    rows = pick(result.rows, *columns, "agent_answer_rate__n", "quadrant")
    assert rows == [
        # 0.75 < 0.8414 and 0.80 < 0.9022
        ("B", 8.0, 0.75, 0.8, 50, "low availability, low answer rate"),
        # 1.0 > 0.8414 but 0.70 < 0.9022
        ("C", 4.0, 1.0, 0.7, 30, "high availability, low answer rate"),
        # 0.80 < 0.8414 but 0.99 > 0.9022
        ("D", 8.0, 0.8, 0.99, 100, "low availability, high answer rate"),
        # 0.875 > 0.8414 and 0.95 > 0.9022
        ("A", 8.0, 0.875, 0.95, 40, "high availability, high answer rate"),
        # 5 presented < 30: flagged
        ("E", 1.0, 1.0, 1.0, 5, None),
    ]
    advice = [r["advice"] for r in result.rows]
    assert advice == [
        "needs support or coaching",
        "misses calls while ready — attention",
        "answers, but often paused",
        "fine",
        None,
    ]


def test_answer_rates_carry_wilson_intervals(shift: Warehouse) -> None:
    rows = {r["agent"]: r for r in availability(shift, DAY).rows}
    # Wilson 95 %: 38 of 40 (0.8350, 0.9862); 40 of 50 (0.6696, 0.8876);
    # 21 of 30 (0.5212, 0.8334); 99 of 100 (0.9455, 0.9982)
    expected = {
        "A": (0.8350, 0.9862),
        "B": (0.6696, 0.8876),
        "C": (0.5212, 0.8334),
        "D": (0.9455, 0.9982),
    }
    for agent, (low, high) in expected.items():
        assert rows[agent]["agent_answer_rate_low"] == pytest.approx(low, abs=5e-5)
        assert rows[agent]["agent_answer_rate_high"] == pytest.approx(high, abs=5e-5)
    # A's (0.835, 0.986) holds the center's 0.9022: its high side may be chance; B's
    # (0.670, 0.888), C's and D's do not.
    assert {a: r["note"] for a, r in rows.items()} == {
        "A": "answer rate ≈ center's (within noise)",
        "B": None,
        "C": None,
        "D": None,
        "E": "too few to rank (5 calls presented < 30)",
    }


def test_missed_service_level_with_agents_short_of_the_bars(shift: Warehouse) -> None:
    result = availability(shift, DAY)
    assert result.center["service_level"] == pytest.approx(0.6)
    # Only A is both available (0.875 >= 0.85) and answering (0.95 >= 0.90): 1 of 4.
    assert result.center["agents_available_and_answering"] == 1
    assert result.center["overloaded"] is False
    assert (
        "The service level, 60.0 %, misses its 80.0 % target and only 1 of 4 ranked agents "
        "are available (at least 85.0 % of logged-in time) and answering (at least 90.0 % "
        "of calls presented): win back the lost ready time (pauses, missed rings) before "
        "adding staff."
    ) in result.reading
    assert "1 agent had fewer than 30 calls presented, too few to rank (E)." in result.reading


def test_overloaded_when_most_agents_are_available_and_answering(shift: Warehouse) -> None:
    # With bars of 0.75 and 0.70 all four ranked agents pass: B (0.75, 0.80),
    # C (1.0, 0.70), D (0.80, 0.99), A: the center is overloaded, not its agents.
    result = availability(shift, DAY, available_min=0.75, answering_min=0.70)
    assert result.center["agents_available_and_answering"] == 4
    assert result.center["overloaded"] is True
    assert "the center is overloaded (understaffed for its calls) rather than its agents " in (
        result.reading
    )
    met = availability(shift, DAY, target=0.6, available_min=0.75, answering_min=0.70)
    assert met.center["overloaded"] is False
    assert "The service level, 60.0 %, meets its 60.0 % target." in met.reading
