"""Every workforce KPI computed by hand: durations split across buckets, roll-ups, ratios.

The main scenario (``shift``) is Monday 2026-03-02, UTC; agent-level rows (queue null)
for logins and pauses, per-call rows (queue ``support``) for talking, wrap-up, ringing:

    agent team  logged_in    paused                       talking / wrapup
    A     red   09:30-11:15  10:00-10:20 break            c1 09:40-10:05 / 10:05-10:07
                             11:00-11:10 lunch            c2 10:50-11:02 / 11:02-11:05
    B     red   10:30-12:00  11:30-12:00 break            c3 10:30-10:45 / 10:45-10:50
    C     blue  09:00-10:00  09:00-09:05 break            c4 09:10-09:55 / 09:55-10:00

Per hour (seconds):       logged_in        paused          talking               wrapup
    09                    A1800+C3600=5400 C300            A1200+C2700=3900      C300
    10                    A3600+B1800=5400 A1200           A300+A600+B900=1800   A120+B300=420
    11                    A900+B3600=4500  A600+B1800=2400 A120                  A180
    day                   15300            3900            5820                  900
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from callkpi.ingest import queue_log
from callkpi.kpi import KpiQuery, builtin_catalog, run_query
from callkpi.store import Warehouse, arrow_rows

HAND_TESTED: set[str] = set()


def hand_computed(*kpis: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a test as asserting hand-computed values of ``kpis`` (see the last test)."""

    def mark(test: Callable[..., None]) -> Callable[..., None]:
        HAND_TESTED.update(kpis)
        return test

    return mark


def at(clock: str, day: dt.date = dt.date(2026, 3, 2)) -> dt.datetime:
    hour, minute = map(int, clock.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute)


def state(
    agent: str,
    name: str,
    start: dt.datetime,
    end: dt.datetime | None,
    *,
    reason: str | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    queue = None if name in ("logged_in", "paused") else "support"  # agent-level or per call
    return {"agent": agent, "queue": queue, "state": name, "reason": reason, "call_id": call_id,
            "start_at": start, "end_at": end, "source": "test"}  # fmt: skip


def call(call_id: str, entered: dt.datetime, outcome: str, agent: str | None) -> dict[str, Any]:
    return {"call_id": call_id, "segment": 1, "direction": "in", "queue": "support",
            "agent": agent, "entered_at": entered, "outcome": outcome, "transferred": False,
            "source": "test"}  # fmt: skip


def load(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    with wh.transaction():
        wh.load(table, arrow_rows(table, rows))


def query(wh: Warehouse, *kpis: str, **options: Any) -> list[dict[str, Any]]:
    return run_query(wh, KpiQuery(kpis=kpis, **options)).rows


def utc_day(day: int, month: int = 3) -> str:
    return f"2026-{month:02d}-{day:02d}T00:00:00+00:00"


def utc_hour(hour: int) -> str:
    return f"2026-03-02T{hour:02d}:00:00+00:00"


def table(columns: tuple[str, ...], *rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Expected result rows written as a table."""
    return [dict(zip(columns, row, strict=True)) for row in rows]


DURATIONS = ("logged_in_time", "pause_time", "wrapup_time", "talk_time")
HOURLY = ("period_start", *DURATIONS)


@pytest.fixture
def shift(wh: Warehouse) -> Warehouse:
    teams = {"A": "red", "B": "red", "C": "blue"}
    load(wh, "agents", [{"agent": a, "team": t, "source": "test"} for a, t in teams.items()])
    ring = "ringing"
    load(
        wh,
        "agent_states",
        [
            state("A", "logged_in", at("09:30"), at("11:15")),
            state("A", "paused", at("10:00"), at("10:20"), reason="break"),
            state("A", "paused", at("11:00"), at("11:10"), reason="lunch"),
            state("A", "talking", at("09:40"), at("10:05"), call_id="c1"),
            state("A", "wrapup", at("10:05"), at("10:07"), call_id="c1"),
            state("A", "talking", at("10:50"), at("11:02"), call_id="c2"),
            state("A", "wrapup", at("11:02"), at("11:05"), call_id="c2"),
            state("B", "logged_in", at("10:30"), at("12:00")),
            state("B", "paused", at("11:30"), at("12:00"), reason="break"),
            state("B", "talking", at("10:30"), at("10:45"), call_id="c3"),
            state("B", "wrapup", at("10:45"), at("10:50"), call_id="c3"),
            state("C", "logged_in", at("09:00"), at("10:00")),
            state("C", "paused", at("09:00"), at("09:05"), reason="break"),
            state("C", "talking", at("09:10"), at("09:55"), call_id="c4"),
            state("C", "wrapup", at("09:55"), at("10:00"), call_id="c4"),
            # ringing: presented calls; reason answered / noanswer / canceled
            state("A", ring, at("09:39"), at("09:40"), reason="answered", call_id="c1"),
            state("A", ring, at("10:25"), at("10:26"), reason="noanswer", call_id="c5"),
            state("A", ring, at("10:49"), at("10:50"), reason="answered", call_id="c2"),
            state("B", ring, at("10:29"), at("10:30"), reason="answered", call_id="c3"),
            state("B", ring, at("11:15"), at("11:16"), reason="noanswer", call_id="c7"),
            state("B", ring, at("11:20"), at("11:21"), reason="canceled", call_id="c6"),
            state("C", ring, at("09:09"), at("09:10"), reason="answered", call_id="c4"),
        ],
    )
    load(
        wh,
        "calls",
        [
            call("c1", at("09:39"), "answered", "A"),
            call("c2", at("10:49"), "answered", "A"),
            call("c3", at("10:29"), "answered", "B"),
            call("c4", at("09:09"), "answered", "C"),
            call("c5", at("10:25"), "abandoned", None),
        ],
    )
    return wh


@hand_computed(*DURATIONS)
def test_durations_split_across_hours(shift: Warehouse) -> None:
    # A's login 09:30-11:15 alone gives 1800, 3600, 900 s to hours 9, 10, 11.
    assert query(shift, "logged_in_time", grain="hour", where=(("agent", "A"),)) == [
        {"period_start": utc_hour(9), "logged_in_time": 1800.0},
        {"period_start": utc_hour(10), "logged_in_time": 3600.0},
        {"period_start": utc_hour(11), "logged_in_time": 900.0},
    ]
    # All agents: the table in the module docstring.
    assert query(shift, *DURATIONS, grain="hour") == table(
        HOURLY,
        (utc_hour(9), 5400.0, 300.0, 300.0, 3900.0),
        (utc_hour(10), 5400.0, 1200.0, 420.0, 1800.0),
        (utc_hour(11), 4500.0, 2400.0, 180.0, 120.0),
    )


@hand_computed("occupancy", "utilization", "availability")
def test_ratios_are_sums_over_sums_at_every_grain(shift: Warehouse) -> None:
    ratios = ("occupancy", "utilization", "availability")
    # occupancy = (talk + wrapup) / (logged_in - paused); utilization = (talk + wrapup) /
    # logged_in; availability = (logged_in - paused) / logged_in; sums from the docstring.
    assert query(shift, *ratios, grain="hour") == table(
        ("period_start", *ratios),
        (utc_hour(9), (3900 + 300) / (5400 - 300), (3900 + 300) / 5400, (5400 - 300) / 5400),
        (utc_hour(10), (1800 + 420) / (5400 - 1200), (1800 + 420) / 5400, 4200 / 5400),
        (utc_hour(11), (120 + 180) / (4500 - 2400), (120 + 180) / 4500, 2100 / 4500),
    )
    [day] = query(shift, *ratios, grain="day")
    assert day == {
        "period_start": utc_day(2),
        "occupancy": (5820 + 900) / (15300 - 3900),  # 6720 / 11400 = 0.5895
        "utilization": 6720 / 15300,
        "availability": 11400 / 15300,
    }
    # The average of the hourly occupancies (0.8235 + 0.5286 + 0.1429) / 3 = 0.4983 is not it.
    mean_of_hours = (4200 / 5100 + 2220 / 4200 + 300 / 2100) / 3
    assert abs(day["occupancy"] - mean_of_hours) > 0.09


@hand_computed(*DURATIONS)
def test_durations_split_across_a_day_boundary(wh: Warehouse) -> None:
    monday, tuesday = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    load(
        wh,
        "agent_states",
        [
            state("G", "logged_in", at("23:30", monday), at("01:15", tuesday)),
            state("G", "paused", at("23:50", monday), at("00:20", tuesday), reason="break"),
            state("H", "logged_in", at("23:00", monday), at("01:00", tuesday)),
            state("H", "talking", at("23:30", monday), at("23:50", monday), call_id="h1"),
            state("H", "wrapup", at("23:50", monday), at("00:10", tuesday), call_id="h1"),
            state("H", "talking", at("00:10", tuesday), at("00:40", tuesday), call_id="h2"),
            state("I", "logged_in", at("23:00", monday), at("01:00", tuesday)),
            state("I", "talking", at("23:45", monday), at("00:30", tuesday), call_id="i1"),
        ],
    )
    assert query(wh, *DURATIONS, grain="day") == table(
        HOURLY,
        # logged: G 23:30-24:00, H and I 23:00-24:00; paused G 23:50-24:00; wrap-up H
        # 23:50-24:00; talking H 23:30-23:50, I 23:45-24:00
        (utc_day(2), 1800.0 + 3600 + 3600, 600.0, 600.0, 1200.0 + 900),
        # logged: G 00:00-01:15, H and I 00:00-01:00; paused G 00:00-00:20; wrap-up H
        # 00:00-00:10; talking H 00:10-00:40, I 00:00-00:30
        (utc_day(3), 4500.0 + 3600 + 3600, 1200.0, 600.0, 1800.0 + 1800),
    )
    # In Berlin (UTC+1 in March) all of it is on the local Tuesday.
    assert query(wh, *DURATIONS, grain="day", tz="Europe/Berlin") == table(
        HOURLY, ("2026-03-03T00:00:00+01:00", 9000.0 + 11700, 1800.0, 1200.0, 2100.0 + 3600)
    )


def _month_end(wh: Warehouse) -> None:
    """Agent D, 2026-03-31 22:00 to 04-01 02:00 UTC:
    talking 22:05-22:25, wrapup 22:25-22:30, paused 22:30-23:00, talking 23:40-00:20,
    wrapup 00:20-00:25, paused 01:00-01:30."""
    mar31, apr1 = dt.date(2026, 3, 31), dt.date(2026, 4, 1)
    load(
        wh,
        "agent_states",
        [
            state("D", "logged_in", at("22:00", mar31), at("02:00", apr1)),
            state("D", "talking", at("22:05", mar31), at("22:25", mar31), call_id="d0"),
            state("D", "wrapup", at("22:25", mar31), at("22:30", mar31), call_id="d0"),
            state("D", "paused", at("22:30", mar31), at("23:00", mar31), reason="break"),
            state("D", "talking", at("23:40", mar31), at("00:20", apr1), call_id="d1"),
            state("D", "wrapup", at("00:20", apr1), at("00:25", apr1), call_id="d1"),
            state("D", "paused", at("01:00", apr1), at("01:30", apr1), reason="break"),
        ],
    )


def _by_month(rows: Iterable[dict[str, Any]], kpi: str) -> dict[str, float]:
    # A bucket without such time has 0 (a total of nothing).
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        totals[row["period_start"][:7]] += row[kpi] or 0.0
    return dict(totals)


@hand_computed(*DURATIONS, "occupancy")
def test_hour_day_month_roll_up_exactly(shift: Warehouse) -> None:
    _month_end(shift)
    kpis = (*DURATIONS, "occupancy")
    months = query(shift, *kpis, grain="month")
    # March: 03-02 (15300, 3900, 900, 5820) + D on 03-31 (7200, 1800, 300, 1200 + 1200);
    # April: D on 04-01 (7200, 1800, 300, 1200).
    assert months == table(
        (*HOURLY, "occupancy"),
        (utc_day(1, 3), 22500.0, 5700.0, 1200.0, 8220.0, (8220 + 1200) / (22500 - 5700)),
        (utc_day(1, 4), 7200.0, 1800.0, 300.0, 1200.0, (1200 + 300) / (7200 - 1800)),
    )
    days = query(shift, *kpis, grain="day")
    hours = query(shift, *kpis, grain="hour")
    assert [d["period_start"] for d in days] == [utc_day(2), utc_day(31), utc_day(1, 4)]
    assert len(hours) == 3 + 4  # 09-11 on 03-02, 22-01 around the month's end
    for kpi in DURATIONS:
        expected = {m["period_start"][:7]: m[kpi] for m in months}
        assert _by_month(days, kpi) == expected, kpi
        assert _by_month(hours, kpi) == expected, kpi
    # March's days: 6720 / 11400 = 0.589 and (2400 + 300) / (7200 - 1800) = 0.5; their
    # average 0.545 is not March's 9420 / 16800 = 0.561.
    assert [d["occupancy"] for d in days[:2]] == [6720 / 11400, 2700 / 5400]
    assert months[0]["occupancy"] != (6720 / 11400 + 2700 / 5400) / 2


@hand_computed(*DURATIONS, "occupancy")
def test_by_agent_and_by_team_roll_up_exactly(shift: Warehouse) -> None:
    kpis = (*DURATIONS, "occupancy")
    agents = query(shift, *kpis, by=("agent",))
    # A: paused 1200 + 600, wrap-up 120 + 180, talking c1 1500 + c2 720
    assert agents == table(
        ("agent", *DURATIONS, "occupancy"),
        ("A", 6300.0, 1800.0, 300.0, 2220.0, (2220 + 300) / (6300 - 1800)),
        ("B", 5400.0, 1800.0, 300.0, 900.0, (900 + 300) / (5400 - 1800)),
        ("C", 3600.0, 300.0, 300.0, 2700.0, (2700 + 300) / (3600 - 300)),
    )
    teams = query(shift, *kpis, by=("team",))
    assert teams == table(
        ("team", *DURATIONS, "occupancy"),
        ("blue", 3600.0, 300.0, 300.0, 2700.0, 3000 / 3300),
        ("red", 11700.0, 3600.0, 600.0, 3120.0, (3120 + 600) / (11700 - 3600)),
    )
    for kpi in DURATIONS:
        assert teams[1][kpi] == agents[0][kpi] + agents[1][kpi], kpi


@hand_computed("pause_time")
def test_pause_time_by_reason(shift: Warehouse) -> None:
    assert query(shift, "pause_time", by=("reason",)) == [
        {"reason": "break", "pause_time": 300.0 + 1200 + 1800},  # C, A, B
        {"reason": "lunch", "pause_time": 600.0},  # A 11:00-11:10
    ]
    assert query(shift, "pause_time", by=("agent", "reason"), where=(("agent", "A"),)) == [
        {"agent": "A", "reason": "break", "pause_time": 1200.0},
        {"agent": "A", "reason": "lunch", "pause_time": 600.0},
    ]


@pytest.fixture
def live(wh: Warehouse) -> Warehouse:
    """E logged in since 10:00 and on a call since 10:40, both still open; F's shift
    09:00-11:00 with a call 09:50-10:10, wrap-up 10:10-10:15 and a pause 10:40-10:50."""
    load(
        wh,
        "agent_states",
        [
            state("E", "logged_in", at("10:00"), None),
            state("E", "talking", at("10:40"), None, call_id="e1"),
            state("F", "logged_in", at("09:00"), at("11:00")),
            state("F", "talking", at("09:50"), at("10:10"), call_id="f1"),
            state("F", "wrapup", at("10:10"), at("10:15"), call_id="f1"),
            state("F", "paused", at("10:40"), at("10:50"), reason="coaching"),
        ],
    )
    return wh


@hand_computed(*DURATIONS)
def test_open_spans_end_at_to_and_early_spans_start_at_from(live: Warehouse) -> None:
    window = {"start": at("10:00"), "end": at("12:00")}
    assert query(live, "logged_in_time", "talk_time", by=("agent",), **window) == [
        {"agent": "E", "logged_in_time": 7200.0, "talk_time": 4800.0},  # 10:00/10:40-12:00
        {"agent": "F", "logged_in_time": 3600.0, "talk_time": 600.0},  # from 10:00
    ]
    assert query(live, *DURATIONS, **window) == table(DURATIONS, (10800.0, 600.0, 300.0, 5400.0))
    assert query(live, "logged_in_time", "talk_time", grain="hour", **window) == [
        {"period_start": utc_hour(10), "logged_in_time": 7200.0, "talk_time": 1200.0 + 600},
        {"period_start": utc_hour(11), "logged_in_time": 3600.0, "talk_time": 3600.0},
    ]


def test_open_spans_without_to_end_at_the_last_recorded_time(live: Warehouse) -> None:
    # Without --to the range ends at the latest time recorded anywhere in the warehouse's
    # activity (here F's 11:00), not at "now": E's open login counts 10:00-11:00 and its
    # open call 10:40-11:00. With --from only, the same end.
    assert query(live, "logged_in_time", "talk_time", by=("agent",)) == [
        {"agent": "E", "logged_in_time": 3600.0, "talk_time": 1200.0},
        {"agent": "F", "logged_in_time": 7200.0, "talk_time": 1200.0},
    ]
    assert query(live, "logged_in_time", start=at("10:00")) == [{"logged_in_time": 7200.0}]


def test_open_spans_without_to_add_no_empty_bucket(live: Warehouse) -> None:
    assert query(live, "logged_in_time", grain="hour") == [
        {"period_start": utc_hour(9), "logged_in_time": 3600.0},  # F
        {"period_start": utc_hour(10), "logged_in_time": 3600.0 + 3600},  # E (to 11:00), F
    ]


def test_a_kpi_does_not_change_with_the_other_kpis_asked(live: Warehouse) -> None:
    load(live, "calls", [call("f2", at("11:30"), "answered", "F")])
    alone = query(live, "logged_in_time", by=("agent",))
    together = query(live, "logged_in_time", "calls_per_agent_hour", by=("agent",))
    assert [r["logged_in_time"] for r in together] == [r["logged_in_time"] for r in alone]


def test_pause_time_is_zero_when_nobody_paused(wh: Warehouse) -> None:
    load(
        wh,
        "agent_states",
        [
            state("A", "logged_in", at("09:00"), at("11:00")),
            state("A", "paused", at("09:00"), at("09:30"), reason="break"),
        ],
    )
    assert query(wh, "logged_in_time", "pause_time", grain="hour") == [
        {"period_start": utc_hour(9), "logged_in_time": 3600.0, "pause_time": 1800.0},
        {"period_start": utc_hour(10), "logged_in_time": 3600.0, "pause_time": 0.0},
    ]


@hand_computed(*DURATIONS)
def test_dst_fall_back_hours(wh: Warehouse) -> None:
    # Berlin 2026-10-25: 01:00 UTC = 03:00 CEST -> 02:00 CET. Login 00:30-02:30 UTC, on a
    # call 00:45-01:30 UTC, paused 01:45-02:15 UTC, wrap-up 01:30-01:35 UTC.
    sunday = dt.date(2026, 10, 25)
    load(
        wh,
        "agent_states",
        [
            state("A", "logged_in", at("00:30", sunday), at("02:30", sunday)),
            state("A", "talking", at("00:45", sunday), at("01:30", sunday), call_id="x"),
            state("A", "wrapup", at("01:30", sunday), at("01:35", sunday), call_id="x"),
            state("A", "paused", at("01:45", sunday), at("02:15", sunday), reason="break"),
        ],
    )
    assert query(wh, *DURATIONS, grain="hour", tz="Europe/Berlin") == table(
        HOURLY,
        # UTC 00:00-01:00: logged 00:30-01:00, talking 00:45-01:00
        ("2026-10-25T02:00:00+02:00", 1800.0, 0.0, 0.0, 900.0),
        # UTC 01:00-02:00: logged all, paused 01:45-02:00, wrap-up 300, talking 01:00-01:30
        ("2026-10-25T02:00:00+01:00", 3600.0, 900.0, 300.0, 1800.0),
        # UTC 02:00-03:00: logged 02:00-02:30, paused 02:00-02:15
        ("2026-10-25T03:00:00+01:00", 1800.0, 900.0, 0.0, 0.0),
    )
    assert query(wh, "logged_in_time", grain="day", tz="Europe/Berlin") == [
        {"period_start": "2026-10-25T00:00:00+02:00", "logged_in_time": 7200.0}
    ]


@hand_computed("agent_answer_rate")
def test_agent_answer_rate(shift: Warehouse) -> None:
    # Ringing rows: A c1 ans, c5 noanswer, c2 ans; B c3 ans, c7 noanswer, c6 canceled;
    # C c4 ans. Counted by when the ringing started.
    assert query(shift, "agent_answer_rate", by=("agent",)) == [
        {"agent": "A", "agent_answer_rate": 2 / 3},
        {"agent": "B", "agent_answer_rate": 1 / 3},
        {"agent": "C", "agent_answer_rate": 1.0},
    ]
    assert query(shift, "agent_answer_rate", by=("team",)) == [
        {"team": "blue", "agent_answer_rate": 1.0},
        {"team": "red", "agent_answer_rate": 3 / 6},
    ]
    assert query(shift, "agent_answer_rate", grain="hour") == [
        {"period_start": utc_hour(9), "agent_answer_rate": 2 / 2},  # C c4, A c1
        {"period_start": utc_hour(10), "agent_answer_rate": 2 / 3},  # A c5, c2; B c3
        {"period_start": utc_hour(11), "agent_answer_rate": 0 / 2},  # B c7, c6
    ]


@hand_computed("calls_per_agent_hour")
def test_calls_per_agent_hour(shift: Warehouse) -> None:
    # Answered calls (by entered_at): c4 09:09, c1 09:39, c3 10:29, c2 10:49; c5 abandoned.
    assert query(shift, "calls_per_agent_hour") == [
        {"calls_per_agent_hour": 4 / (15300 / 3600)}  # 0.941
    ]
    assert query(shift, "calls_per_agent_hour", by=("agent",)) == [
        {"agent": "A", "calls_per_agent_hour": 2 / (6300 / 3600)},
        {"agent": "B", "calls_per_agent_hour": 1 / (5400 / 3600)},
        {"agent": "C", "calls_per_agent_hour": 1 / (3600 / 3600)},
    ]
    assert query(shift, "calls_per_agent_hour", grain="hour") == [
        {"period_start": utc_hour(9), "calls_per_agent_hour": 2 / (5400 / 3600)},
        {"period_start": utc_hour(10), "calls_per_agent_hour": 2 / (5400 / 3600)},
        {"period_start": utc_hour(11), "calls_per_agent_hour": 0 / (4500 / 3600)},
    ]


@hand_computed("adherence")
def test_adherence(shift: Warehouse) -> None:
    # A: work 09:00-11:00, break 11:00-11:15, work 11:15-12:00 (scheduled work 9900 s);
    # in work blocks logged 09:30-11:00 = 5400, paused 10:00-10:20 = 1200 (the lunch pause
    # 11:00-11:10 is in the scheduled break). B: work 10:00-12:00 (7200), logged
    # 10:30-12:00 = 5400, paused 11:30-12:00 = 1800. C has no schedule.
    def block(agent: str, activity: str, start: str, end: str) -> dict[str, Any]:
        return {"agent": agent, "activity": activity, "start_at": at(start),
                "end_at": at(end), "source": "test"}  # fmt: skip

    load(
        shift,
        "schedules",
        [
            block("A", "work", "09:00", "11:00"),
            block("A", "break", "11:00", "11:15"),
            block("A", "work", "11:15", "12:00"),
            block("B", "work", "10:00", "12:00"),
        ],
    )
    assert query(shift, "adherence", by=("agent",)) == [
        {"agent": "A", "adherence": (5400 - 1200) / 9900},
        {"agent": "B", "adherence": (5400 - 1800) / 7200},
    ]
    assert query(shift, "adherence") == [{"adherence": (10800 - 3000) / 17100}]
    assert query(shift, "adherence", grain="hour") == [
        # scheduled A 3600; logged A 09:30-10:00
        {"period_start": utc_hour(9), "adherence": 1800 / 3600},
        # scheduled A 3600 + B 3600; logged A 3600 + B 1800; paused A 1200
        {"period_start": utc_hour(10), "adherence": (5400 - 1200) / 7200},
        # scheduled A 11:15-12:00 2700 + B 3600; logged B 3600 (A logged off at 11:15)
        {"period_start": utc_hour(11), "adherence": (3600 - 1800) / 6300},
    ]


@hand_computed("absenteeism")
def test_absenteeism_by_agent(wh: Warehouse) -> None:
    def absence(agent: str, day: int, scheduled: float, absent: float) -> dict[str, Any]:
        date = dt.date(2026, 3, day)
        return {"agent": agent, "date": date, "scheduled_hours": scheduled,
                "absent_hours": absent, "source": "test"}  # fmt: skip

    rows = [("A", 2, 8, 0), ("A", 3, 8, 8), ("B", 2, 8, 2), ("C", 2, 0, 0)]
    load(wh, "absences", [absence(*row) for row in rows])
    assert query(wh, "absenteeism", by=("agent",)) == [
        {"agent": "A", "absenteeism": 8 / 16},
        {"agent": "B", "absenteeism": 2 / 8},
        {"agent": "C", "absenteeism": None},  # nothing scheduled
    ]
    assert query(wh, "absenteeism") == [{"absenteeism": 10 / 24}]
    assert query(wh, "absenteeism", grain="day") == [
        {"period_start": utc_day(2), "absenteeism": 2 / 16},
        {"period_start": utc_day(3), "absenteeism": 8 / 8},
    ]


@hand_computed("headcount", "attrition_rate")
def test_headcount_and_attrition_for_a_month(wh: Warehouse) -> None:
    def agent(name: str, hired: dt.date, left: dt.date | None = None) -> dict[str, Any]:
        return {"agent": name, "hire_date": hired, "exit_date": left, "source": "test"}

    d = dt.date
    load(
        wh,
        "agents",
        [
            agent("A", d(2025, 1, 1)),
            agent("B", d(2026, 1, 1)),  # hired on the month's first day
            agent("C", d(2025, 1, 1), d(2026, 1, 31)),  # last day is the month's last day
            agent("E", d(2025, 1, 1), d(2026, 1, 15)),
            agent("F", d(2026, 1, 20)),
            agent("G", d(2026, 2, 1)),
            agent("H", d(2025, 1, 1), d(2025, 12, 31)),
        ],
    )
    # January: employed on Jan 1 A B C E (4); on Jan 31 A B C F (4: dates are inclusive,
    # C still works on the 31st); leavers C E (2): attrition 2 / ((4 + 4) / 2) = 0.5.
    january = {"start": dt.datetime(2026, 1, 1), "end": dt.datetime(2026, 2, 1)}
    for tz in ("UTC", "Europe/Berlin"):
        rows = query(wh, "headcount", "attrition_rate", tz=tz, **january)
        assert rows == [{"headcount": 4, "attrition_rate": 0.5}], tz
    # Dec: start A C E H, end A C E H (H's last day Dec 31), leaver H: 1 / 4.
    # Feb: start A B F (3), end A B F G (4), no leaver: 0 / 3.5.
    months = query(
        wh, "headcount", "attrition_rate", grain="month",
        start=dt.datetime(2025, 12, 1), end=dt.datetime(2026, 3, 1),
    )  # fmt: skip
    assert months == [
        {"period_start": "2025-12-01T00:00:00+00:00", "headcount": 4, "attrition_rate": 1 / 4},
        {"period_start": "2026-01-01T00:00:00+00:00", "headcount": 4, "attrition_rate": 2 / 4},
        {"period_start": "2026-02-01T00:00:00+00:00", "headcount": 4, "attrition_rate": 0.0},
    ]


@hand_computed("occupancy", "utilization", "availability", "calls_per_agent_hour")
def test_zero_denominators_give_none(wh: Warehouse) -> None:
    # Z is logged in 09:00-10:00 and paused all of it; a call answered at 11:00 when
    # nobody is logged in.
    load(
        wh,
        "agent_states",
        [
            state("Z", "logged_in", at("09:00"), at("10:00")),
            state("Z", "paused", at("09:00"), at("10:00"), reason="meeting"),
        ],
    )
    load(wh, "calls", [call("z1", at("11:00"), "answered", "Z")])
    kpis = ("occupancy", "utilization", "availability", "calls_per_agent_hour")
    assert query(wh, *kpis, grain="hour") == table(
        ("period_start", *kpis),
        # 0 / (3600 - 3600); 0 / 3600; (3600 - 3600) / 3600; 0 calls / 1 h
        (utc_hour(9), None, 0.0, 0.0, 0.0),
        # nobody logged in: every denominator is 0 (1 call / 0 h)
        (utc_hour(11), None, None, None, None),
    )
    empty = {"start": at("13:00"), "end": at("14:00")}
    assert query(wh, *kpis, "agent_answer_rate", "adherence", **empty) == [
        dict.fromkeys((*kpis, "agent_answer_rate", "adherence"))
    ]
    assert query(wh, "headcount", "attrition_rate", **empty) == [
        {"headcount": 0, "attrition_rate": None}
    ]


@hand_computed(*DURATIONS, "agent_answer_rate", "calls_per_agent_hour")
def test_states_from_a_real_queue_log(wh: Warehouse, tmp_path: Path) -> None:
    day = calendar.timegm(dt.date(2026, 3, 2).timetuple())

    def line(clock: str, callid: str, queue: str, agent: str, *fields: object) -> str:
        hour, minute = map(int, clock.split(":"))
        epoch = day + hour * 3600 + minute * 60
        return "|".join([str(epoch), callid, queue, agent, *map(str, fields)])

    path = tmp_path / "queue_log"
    lines = [
        line("09:30", "NONE", "NONE", "Agent/1", "AGENTLOGIN", "PJSIP/1-1"),
        line("09:39", "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
        # waited 60 s, rang 10 s; talked 1500 s (09:40-10:05), then 120 s of wrap-up
        line("09:40", "c1", "support", "Agent/1", "CONNECT", 60, "c1.2", 10),
        line("10:05", "c1", "support", "Agent/1", "COMPLETECALLER", 60, 1500, 1),
        line("10:05", "c1", "support", "Agent/1", "WRAPUPSTART", 120),
        line("10:10", "NONE", "NONE", "Agent/1", "PAUSEALL", "break"),
        line("10:30", "NONE", "NONE", "Agent/1", "UNPAUSEALL", ""),
        line("11:15", "NONE", "NONE", "Agent/1", "AGENTLOGOFF", "PJSIP/1-1", 6300),
    ]
    path.write_text("\n".join(lines) + "\n")
    queue_log.ingest(wh, path)
    kpis = (*DURATIONS, "agent_answer_rate", "calls_per_agent_hour")
    assert query(wh, *kpis, grain="hour") == table(
        (*HOURLY, "agent_answer_rate", "calls_per_agent_hour"),
        (utc_hour(9), 1800.0, 0.0, 0.0, 1200.0, 1 / 1, 1 / (1800 / 3600)),
        (utc_hour(10), 3600.0, 1200.0, 120.0, 300.0, None, 0 / 1),
        (utc_hour(11), 900.0, 0.0, 0.0, 0.0, None, 0 / (900 / 3600)),
    )


def test_every_workforce_kpi_has_a_hand_test() -> None:
    workforce = {k.id for k in builtin_catalog().kpis.values() if k.category == "workforce"}
    assert workforce - HAND_TESTED == set(), "workforce KPIs without a hand-computed test"
    assert HAND_TESTED - workforce == set(), "hand tests name KPIs that are not workforce KPIs"
