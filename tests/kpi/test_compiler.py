"""The KPI compiler on hand-made calls rows: counts, cuts, time buckets and time zones."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callkpi.kpi import KpiQuery, QueryError, buckets, query, run_query
from callkpi.store import Warehouse, arrow_rows

OUTCOMES = (
    "offered",
    "answered",
    "abandoned",
    "timed_out",
    "exited_key",
    "blocked",
    "overflowed",
    "closed",
)


def _call(
    call_id: str,
    entered: dt.datetime,
    outcome: str,
    queue: str = "support",
    agent: str | None = None,
    direction: str = "in",
) -> dict[str, object]:
    return {
        "call_id": call_id,
        "segment": 1,
        "direction": direction,
        "queue": queue,
        "agent": agent,
        "entered_at": entered,
        "outcome": outcome,
        "transferred": False,
        "source": "test",
        "source_ref": call_id,
    }


def _load(wh: Warehouse, rows: list[dict[str, object]]) -> None:
    with wh.transaction():
        wh.load("calls", arrow_rows("calls", rows))


@pytest.fixture
def center(wh: Warehouse) -> Warehouse:
    day = dt.datetime(2026, 10, 1)
    _load(
        wh,
        [
            _call("a1", day.replace(hour=9, minute=5), "answered", "support", "Agent/1"),
            _call("a2", day.replace(hour=9, minute=20), "answered", "support", "Agent/2"),
            _call("a3", day.replace(hour=9, minute=40), "abandoned", "support"),
            _call("a4", day.replace(hour=10, minute=1), "timed_out", "support"),
            _call("b1", day.replace(hour=9, minute=10), "answered", "sales", "Agent/1"),
            _call("b2", day.replace(hour=9, minute=50), "exited_key", "sales"),
            _call("b3", day.replace(hour=11), "blocked", "sales"),
            _call("b4", day.replace(hour=11, minute=30), "overflowed", "sales"),
            _call("b5", day.replace(hour=23, minute=30), "closed", "sales"),
            _call("p1", day.replace(hour=12), "in_progress", "sales"),
            _call("f1", day.replace(hour=12), "failed", "sales"),
            _call("o1", day.replace(hour=12), "no_answer", "sales", "Agent/1", direction="out"),
        ],
    )
    return wh


def test_offered_is_the_sum_of_final_outcomes(center: Warehouse) -> None:
    result = run_query(center, KpiQuery(kpis=OUTCOMES, by=("queue",)))
    assert result.columns == ("queue", *OUTCOMES)
    assert result.rows == [
        {
            "queue": "sales",
            "offered": 6,
            "answered": 1,
            "abandoned": 0,
            "timed_out": 0,
            "exited_key": 1,
            "blocked": 1,
            "overflowed": 1,
            "closed": 1,
        },
        {
            "queue": "support",
            "offered": 4,
            "answered": 2,
            "abandoned": 1,
            "timed_out": 1,
            "exited_key": 0,
            "blocked": 0,
            "overflowed": 0,
            "closed": 0,
        },
    ]  # sales offered 6 = 1+1+1+1+1 and the failed call; in_progress, outbound and the
    # direct call (no queue) left out


def test_by_agent_and_grain_hour(center: Warehouse) -> None:
    rows = run_query(
        center,
        KpiQuery(kpis=("answered",), by=("agent",), grain="hour", where=(("queue", "support"),)),
    ).rows
    assert rows == [
        {"agent": "Agent/1", "period_start": "2026-10-01T09:00:00+00:00", "answered": 1},
        {"agent": "Agent/2", "period_start": "2026-10-01T09:00:00+00:00", "answered": 1},
    ]  # rows no measure counts (abandoned calls have no agent) are not groups at all


def test_the_python_api_returns_the_answer_as_arrow(center: Warehouse) -> None:
    """callkpi.kpi.query: the result's own Arrow table, typed, in the rows' order; an
    answer without rows still has its columns."""
    table = query(center, ["offered", "answer_rate"], by=["queue"], grain="30min")
    assert table.schema.names == ["queue", "period_start", "offered", "answer_rate"]
    assert [str(t) for t in table.schema.types] == ["string", "string", "int64", "double"]
    assert table.to_pylist() == [
        {
            "queue": "sales",
            "period_start": "2026-10-01T09:00:00+00:00",
            "offered": 1,
            "answer_rate": 1.0,
        },
        {
            "queue": "support",
            "period_start": "2026-10-01T09:00:00+00:00",
            "offered": 2,
            "answer_rate": 1.0,
        },
        {
            "queue": "sales",
            "period_start": "2026-10-01T09:30:00+00:00",
            "offered": 1,
            "answer_rate": 0.0,
        },
        {
            "queue": "support",
            "period_start": "2026-10-01T09:30:00+00:00",
            "offered": 1,
            "answer_rate": 0.0,
        },
        {
            "queue": "support",
            "period_start": "2026-10-01T10:00:00+00:00",
            "offered": 1,
            "answer_rate": 0.0,
        },
        {
            "queue": "sales",
            "period_start": "2026-10-01T11:00:00+00:00",
            "offered": 1,
            "answer_rate": 0.0,
        },
        {
            "queue": "sales",
            "period_start": "2026-10-01T11:30:00+00:00",
            "offered": 1,
            "answer_rate": 0.0,
        },
        {
            "queue": "sales",
            "period_start": "2026-10-01T12:00:00+00:00",
            "offered": 1,
            "answer_rate": 0.0,
        },
        {
            "queue": "sales",
            "period_start": "2026-10-01T23:30:00+00:00",
            "offered": 1,
            "answer_rate": 0.0,
        },
    ]
    empty = query(center, ["offered"], by=["queue"], grain="day", start="2027-01-01")
    assert (empty.num_rows, empty.schema.names) == (0, ["queue", "period_start", "offered"])


def test_15_and_30_minute_buckets(center: Warehouse) -> None:
    q = KpiQuery(kpis=("offered",), where=(("queue", "support"),))
    fifteen = run_query(center, KpiQuery(**{**q.__dict__, "grain": "15min"})).rows
    assert [(r["period_start"][11:16], r["offered"]) for r in fifteen] == [
        ("09:00", 1),
        ("09:15", 1),
        ("09:30", 1),
        ("10:00", 1),
    ]
    thirty = run_query(center, KpiQuery(**{**q.__dict__, "grain": "30min"})).rows
    assert [(r["period_start"][11:16], r["offered"]) for r in thirty] == [
        ("09:00", 2),
        ("09:30", 1),
        ("10:00", 1),
    ]


def test_days_are_local_days(center: Warehouse) -> None:
    # 23:30 UTC on Oct 1st is 02:30 on Oct 2nd in Moscow (UTC+3).
    rows = run_query(center, KpiQuery(kpis=("offered",), grain="day", tz="Europe/Moscow")).rows
    assert rows == [
        {"period_start": "2026-10-01T00:00:00+03:00", "offered": 9},
        {"period_start": "2026-10-02T00:00:00+03:00", "offered": 1},
    ]


def test_from_and_to_are_read_in_the_time_zone(center: Warehouse) -> None:
    # 12:00-13:00 Moscow = 09:00-10:00 UTC: a1, a2, a3, b1, b2.
    q = KpiQuery(
        kpis=("offered",),
        tz="Europe/Moscow",
        start=dt.datetime(2026, 10, 1, 12),
        end=dt.datetime(2026, 10, 1, 13),
    )
    assert run_query(center, q).rows == [{"offered": 5}]
    aware = KpiQuery(kpis=("offered",), start=dt.datetime(2026, 10, 1, 9, 30, tzinfo=dt.UTC))
    assert run_query(center, aware).rows == [{"offered": 7}]


def test_hour_of_day_and_weekday(center: Warehouse) -> None:
    rows = run_query(
        center, KpiQuery(kpis=("offered",), by=("weekday", "hour_of_day"), tz="Europe/Moscow")
    ).rows
    # 2026-10-01 is a Thursday (4); 23:30 UTC is Friday 02:30 in Moscow.
    assert rows == [
        {"weekday": 4, "hour_of_day": 12, "offered": 5},
        {"weekday": 4, "hour_of_day": 13, "offered": 1},
        {"weekday": 4, "hour_of_day": 14, "offered": 2},
        {"weekday": 4, "hour_of_day": 15, "offered": 1},
        {"weekday": 5, "hour_of_day": 2, "offered": 1},
    ]


def test_the_repeated_dst_hour_stays_two_buckets(wh: Warehouse) -> None:
    # Berlin: 2026-10-25 01:30 UTC is 02:30 CET... and 00:30 UTC is 02:30 CEST.
    _load(
        wh,
        [
            _call("x1", dt.datetime(2026, 10, 25, 0, 30), "answered"),
            _call("x2", dt.datetime(2026, 10, 25, 1, 30), "answered"),
            _call("x3", dt.datetime(2026, 10, 25, 1, 45), "abandoned"),
        ],
    )
    rows = run_query(wh, KpiQuery(kpis=("offered",), grain="hour", tz="Europe/Berlin")).rows
    assert rows == [
        {"period_start": "2026-10-25T02:00:00+02:00", "offered": 1},
        {"period_start": "2026-10-25T02:00:00+01:00", "offered": 2},
    ]
    days = run_query(wh, KpiQuery(kpis=("offered",), grain="day", tz="Europe/Berlin")).rows
    assert days == [{"period_start": "2026-10-25T00:00:00+02:00", "offered": 3}]


def test_week_month_quarter_year(center: Warehouse) -> None:
    for grain, start in [
        ("week", "2026-09-28T00:00:00+00:00"),
        ("month", "2026-10-01T00:00:00+00:00"),
        ("quarter", "2026-10-01T00:00:00+00:00"),
        ("year", "2026-01-01T00:00:00+00:00"),
    ]:
        assert run_query(center, KpiQuery(kpis=("offered",), grain=grain)).rows == [
            {"period_start": start, "offered": 10}
        ], grain


def test_ratio_divides_sums_and_gives_null_on_zero(wh: Warehouse) -> None:
    day = dt.datetime(2026, 10, 1, 9)
    _load(
        wh,
        [
            _call("1", day, "answered", "q1"),
            _call("2", day, "abandoned", "q1"),
            _call("3", day, "answered", "q1"),
            _call("4", day, "in_progress", "q2"),
        ],
    )
    rows = run_query(wh, KpiQuery(kpis=("answer_rate",), by=("queue",))).rows
    assert rows == [{"queue": "q1", "answer_rate": 2 / 3}, {"queue": "q2", "answer_rate": None}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (KpiQuery(kpis=("nope",)), "unknown KPI 'nope'"),
        (KpiQuery(kpis=("offered",), by=("colour",)), "dimension 'colour' is not available"),
        (KpiQuery(kpis=("offered",), grain="fortnight"), "unknown grain 'fortnight'"),
        (
            KpiQuery(kpis=("offered",), params={"answer_threshold_s": 20}),
            "unknown parameter 'answer_threshold_s'",
        ),
        (KpiQuery(kpis=()), "no KPI asked for"),
    ],
)
def test_bad_queries_say_what_is_wrong(center: Warehouse, query: KpiQuery, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        run_query(center, query)


@given(
    stamps=st.lists(
        st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 12, 31)),
        min_size=1,
        max_size=40,
    ),
    offset=st.sampled_from([0, 3600, -18_000, 19_800, 20_700]),
)
@settings(max_examples=60, deadline=None)
def test_numbered_buckets_equal_the_portable_buckets(
    stamps: list[dt.datetime], offset: int
) -> None:
    """On DuckDB the compiler groups 15 and 30 minutes by bucket number (faster) and turns
    the numbers into times after; the portable expression (the hour plus whole quarter or
    half hours) and a hand computation are the references. Whole-second offsets of real
    zones (+05:30, +05:45, -05:00) shift local time first; times before 1970 too."""
    t = ibis.memtable({"ts": stamps}, schema={"ts": "timestamp"})
    local = buckets.local_time(t.ts, offset)
    cols = {}
    for grain in buckets.NUMBERED:
        cols[f"{grain}_portable"] = buckets.bucket(local, grain)
        number = buckets.bucket_number(local, grain)
        cols[f"{grain}_numbered"] = buckets.bucket_start(number, grain)
    rows = ibis.duckdb.connect().to_pyarrow(t.select(local=local, **cols)).to_pylist()
    for stamp, row in zip(stamps, rows, strict=True):
        want = stamp + dt.timedelta(seconds=offset)
        assert row["local"] == want
        for grain, minutes in (("15min", 15), ("30min", 30)):
            start = want.replace(
                minute=want.minute - want.minute % minutes, second=0, microsecond=0
            )
            assert row[f"{grain}_portable"] == start
            assert row[f"{grain}_numbered"] == start
