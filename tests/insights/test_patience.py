"""Caller patience per 30-minute interval, computed by hand.

Monday 5 October 2026, UTC, queue ``support``:

    interval  calls (outcome, wait_s)                           logged in (agent-level)
    10:00     answered 10, answered 30, abandoned 20, abandoned 60   X 10:00-11:15, Y 10:15-10:45
    10:30     answered 5, answered 15
    11:00     (none)
    12:00     abandoned 90                                      (nobody)

    interval  offered abandoned share  avg abandon wait  avg wait             agents staffed
    10:00     4       2         2/4    (20+60)/2 = 40    (10+30+20+60)/4 = 30 2700/1800 = 1.5
    10:30     2       0         0      —                 (5+15)/2 = 10        2700/1800 = 1.5
    11:00     0       0         —      —                 —                    900/1800 = 0.5
    12:00     1       1         1      90                90                   0

(agents staffed: X's 1800 s plus Y's 900 s in each of 10:00 and 10:30, X's 900 s at 11:00)

Day: offered 7, abandoned 3 (3/7 = 0.428571), abandon wait (20+60+90)/3 = 56.667 s, wait
(10+30+20+60+5+15+90)/7 = 230/7 = 32.857 s. Intervals with abandons: 10:00 (40 s) and
12:00 (90 s): median 65 s. Staffed intervals with calls, by calls per agent: 10:30
(2/1.5 = 1.33), 10:00 (4/1.5 = 2.67): the calmer half is 10:30 (0 % abandoned, wait
10 s), the busier 10:00 (50 %, 30 s). 12:00 had a call but nobody logged in.
"""

from __future__ import annotations

import pytest
from insight_rows import at, call, load, span

from callkpi.goals.periods import parse_period
from callkpi.insights import patience
from callkpi.store import Warehouse

DAY = parse_period("2026-10-05")
COLUMNS = (
    "period_start",
    "offered",
    "abandoned",
    "abandoned_share",
    "avg_abandon_wait",
    "avg_wait",
    "agents_staffed",
    "note",
)


@pytest.fixture
def day(wh: Warehouse) -> Warehouse:
    load(
        wh,
        "calls",
        [
            call("c1", at(5, "10:01"), agent="X", wait_s=10.0),
            call("c2", at(5, "10:05"), agent="Y", wait_s=30.0),
            call("c3", at(5, "10:10"), "abandoned", wait_s=20.0),
            call("c4", at(5, "10:29"), "abandoned", wait_s=60.0),
            call("c5", at(5, "10:30"), agent="X", wait_s=5.0),
            call("c6", at(5, "10:59"), agent="X", wait_s=15.0),
            call("c7", at(5, "12:10"), "abandoned", wait_s=90.0),
        ],
    )
    load(
        wh,
        "agent_states",
        [
            span("X", "logged_in", at(5, "10:00"), at(5, "11:15")),
            span("Y", "logged_in", at(5, "10:15"), at(5, "10:45")),
        ],
    )
    return wh


def _table(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [tuple(r[c] for c in COLUMNS) for r in rows]


def test_intervals(day: Warehouse) -> None:
    result = patience(day, DAY)
    assert result.columns[:3] == ("period_start", "offered", "abandoned")
    # fmt: off
    assert _table(result.rows) == [
        ("2026-10-05T10:00:00+00:00", 4, 2, 0.5, 40.0, 30.0, 1.5,
         "too few to rank (4 offered < 30)"),
        ("2026-10-05T10:30:00+00:00", 2, 0, 0.0, None, 10.0, 1.5,
         "too few to rank (2 offered < 30)"),
        ("2026-10-05T11:00:00+00:00", 0, 0, None, None, None, 0.5, "no calls"),
        ("2026-10-05T12:00:00+00:00", 1, 1, 1.0, 90.0, 90.0, 0.0,
         "too few to rank (1 offered < 30)"),
    ]
    # fmt: on
    first = result.rows[0]
    # Wilson 95 % of 2 abandoned out of 4 offered: (0.1500, 0.8500)
    assert first["abandoned_share__n"] == 4
    assert first["abandoned_share_low"] == pytest.approx(0.15, abs=5e-5)
    assert first["abandoned_share_high"] == pytest.approx(0.85, abs=5e-5)
    # 0 of 2 and 1 of 1: the observed 0 and 1 are exact bounds
    assert result.rows[1]["abandoned_share_low"] == 0.0
    assert result.rows[3]["abandoned_share_high"] == 1.0


def test_summary_and_reading(day: Warehouse) -> None:
    result = patience(day, DAY)
    summary = result.center
    assert summary["offered"] == 7
    assert summary["abandoned_share"] == pytest.approx(3 / 7)
    assert summary["avg_abandon_wait"] == pytest.approx(170 / 3)
    assert summary["avg_wait"] == pytest.approx(230 / 7)
    assert summary["median_interval_abandon_wait"] == 65.0
    assert summary["busy_from_calls_per_agent"] == pytest.approx(4 / 1.5)
    assert summary["busier_half"]["abandoned_share"] == 0.5
    assert summary["busier_half"]["avg_wait"] == 30.0
    assert summary["calmer_half"]["abandoned_share"] == 0.0
    assert summary["calmer_half"]["avg_wait"] == 10.0
    assert summary["unstaffed_intervals"] == 1
    assert result.reading == (
        "On 2026-10-05 7 calls were offered; 3 (42.9 %) were abandoned, after waiting 57 s "
        "on average (all callers waited 33 s on average). In the median half hour with "
        "abandons, callers who gave up did so after 65 s on average: about how long callers "
        "are willing to wait. In the busier half of the staffed intervals (2.7 or more calls "
        "per staffed agent) 50.0 % abandoned and calls waited 30 s on average; in the calmer "
        "half 0.0 % and 10 s: more agents per call keep callers on the line. 1 interval had "
        "calls but no agent logged in (1 call, 100.0 % abandoned)."
    )


def test_time_of_day_folds_the_days(day: Warehouse) -> None:
    # Two days, the second empty: the same sums, staffing averaged over both days.
    result = patience(day, parse_period("2026-10-05..2026-10-06"), time_of_day=True)
    assert result.columns[0] == "time"
    assert [
        (r["time"], r["offered"], r["abandoned"], r["avg_wait"], r["agents_staffed"])
        for r in result.rows
    ] == [
        ("10:00", 4, 2, 30.0, 0.75),
        ("10:30", 2, 0, 10.0, 0.75),
        ("11:00", 0, 0, None, 0.25),
        ("12:00", 1, 1, 90.0, 0.0),
    ]


def test_queue_filter_keeps_the_center_staffing(day: Warehouse) -> None:
    support = patience(day, DAY, queue="support")
    assert _table(support.rows) == _table(patience(day, DAY).rows)
    assert support.reading.endswith(
        "Agents staffed counts every logged-in agent, not only this queue's."
    )
    billing = patience(day, DAY, queue="billing")
    assert [(r["offered"], r["agents_staffed"]) for r in billing.rows] == [
        (0, 1.5),
        (0, 1.5),
        (0, 0.5),
    ]
    assert billing.reading == "No calls were offered to queue billing on 2026-10-05."


def test_a_hundred_calls_half_abandoned(wh: Warehouse) -> None:
    load(
        wh,
        "calls",
        [
            call(f"c{i}", at(5, "14:00"), "abandoned" if i % 2 else "answered", wait_s=10.0)
            for i in range(100)
        ],
    )
    (row,) = patience(wh, DAY).rows
    # p = 0.5, n = 100: Wilson 95 % (0.4038, 0.5962); 100 offered: enough, no flag
    assert (row["abandoned_share"], row["abandoned_share__n"]) == (0.5, 100)
    assert row["abandoned_share_low"] == pytest.approx(0.4038, abs=5e-5)
    assert row["abandoned_share_high"] == pytest.approx(0.5962, abs=5e-5)
    assert row["note"] is None


def test_intervals_stay_in_order_across_a_dst_fall_back(wh: Warehouse) -> None:
    # London, 25 October 2026: 01:00-02:00 local happens twice (BST, then GMT). A call at
    # 00:40 UTC is 01:40 BST, one at 01:10 UTC is 01:10 GMT: later, though earlier on the
    # clock.
    load(
        wh,
        "calls",
        [call("c1", at(25, "01:10"), wait_s=5.0), call("c2", at(25, "00:40"), wait_s=5.0)],
    )
    rows = patience(wh, parse_period("2026-10-25"), "Europe/London").rows
    assert [r["period_start"] for r in rows] == [
        "2026-10-25T01:30:00+01:00",
        "2026-10-25T01:00:00+00:00",
    ]
