"""Every level of the calls roll-up gives exactly the raw path's numbers, a query uses the
smallest level that can answer it, and every level stays current."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from callkpi.ingest import queue_log
from callkpi.ingest.options import IngestOptions
from callkpi.kpi import Compiler, KpiQuery, run_query
from callkpi.model import ROLLUP_LEVELS, SCHEMA_VERSION
from callkpi.store import Warehouse, arrow_rows, rollup

LEVELS = tuple(level.table for level in ROLLUP_LEVELS)
DAYS = tuple(level.table for level in ROLLUP_LEVELS if level.seconds == 86_400)
QUARTER_HOURS = tuple(level.table for level in ROLLUP_LEVELS if level.seconds < 86_400)
# Each level alone, and each day level with a quarter-hour one for the days it cannot serve.
ALLOWED = (*((level,) for level in LEVELS), *((d, q) for d in DAYS for q in QUARTER_HOURS))

# KPIs the roll-up can answer with the default parameters.
ROLLUP_KPIS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "timed_out",
    "answer_rate",
    "abandon_rate",
    "service_level",
    "asa",
    "avg_wait",
    "avg_abandon_wait",
    "max_wait",
    "aht",
    "avg_talk",
    "avg_acw",
    "transfer_rate",
    "escalation_rate",
    "resolution_rate",
)
START = dt.datetime(2026, 10, 24, 0, 0)  # three days around Berlin's DST change on the 25th

calls = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 3 * 24 * 60 - 1),
            "second": st.integers(0, 59),
            "queue": st.sampled_from(["q1", "q2", None]),
            "agent": st.sampled_from(["a1", "a2", "a3", None]),
            "tenant": st.sampled_from(["t1", "t2"]),
            "wrap_code": st.sampled_from(["w1", "w2", None]),
            "direction": st.sampled_from(["in", "in", "in", "out"]),
            "outcome": st.sampled_from(
                ["answered", "answered", "abandoned", "timed_out", "blocked", "in_progress"]
            ),
            "wait_s": st.one_of(st.none(), st.integers(0, 60)),
            "talk_s": st.one_of(st.none(), st.integers(0, 900)),
            "acw_s": st.one_of(st.none(), st.integers(0, 120)),
            "transferred": st.booleans(),
            "escalated": st.one_of(st.none(), st.booleans()),
            "resolved": st.one_of(st.none(), st.booleans()),
        }
    ),
    min_size=1,
    max_size=40,
)
queries = st.fixed_dictionaries(
    {
        "kpis": st.lists(st.sampled_from(ROLLUP_KPIS), min_size=1, max_size=5, unique=True),
        "by": st.lists(
            st.sampled_from(
                [
                    *("queue", "agent", "tenant", "team", "hour_of_day", "weekday"),
                    *("outcome", "wrap_code"),
                ]
            ),
            max_size=2,
            unique=True,
        ),
        "grain": st.sampled_from(["day", "all", "week", "month", "15min", "30min", "hour"]),
        # UTC twice: the day levels can answer only queries in a zone without offset
        "tz": st.sampled_from(["UTC", "UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu"]),
        "bounds": st.sampled_from(["days", "none", "quarter hours"]),
    }
)
BOUNDS = {
    "none": (None, None),
    "quarter hours": (dt.datetime(2026, 10, 24, 6, 15), dt.datetime(2026, 10, 26, 18, 0)),
    "days": (dt.datetime(2026, 10, 24), dt.datetime(2026, 10, 26)),
}


def _rows(spec: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = []
    for i, c in enumerate(spec):
        entered = START + dt.timedelta(minutes=c["minute"], seconds=c["second"])
        rows.append(
            {
                "call_id": f"c{i}",
                "segment": 1,
                "direction": c["direction"],
                "queue": c["queue"],
                "agent": c["agent"],
                "tenant": c["tenant"],
                "wrap_code": c.get("wrap_code"),
                "entered_at": entered,
                "outcome": c["outcome"],
                "wait_s": c["wait_s"],
                "talk_s": c["talk_s"],
                "acw_s": c["acw_s"],
                "transferred": c["transferred"],
                "escalated": c["escalated"],
                "resolved": c["resolved"],
                "source": "test",
            }
        )
    return rows


def _levels_used(wh: Warehouse, query: KpiQuery, levels: tuple[str, ...] = LEVELS) -> set[str]:
    expr, _ = Compiler(wh, rollup_levels=levels).compile(query)
    sql = ibis.to_sql(expr)
    return {level for level in LEVELS if f'"{level}"' in sql}


def _uses_rollup(wh: Warehouse, query: KpiQuery) -> bool:
    return bool(_levels_used(wh, query))


def _load_agents(wh: Warehouse) -> None:
    wh.load(
        "agents",
        arrow_rows(
            "agents",
            [
                {"agent": "a1", "team": "red", "source": "test"},
                {"agent": "a2", "team": "red", "source": "test"},
                {"agent": "a3", "team": "blue", "source": "test"},
            ],
        ),
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=calls, q=queries)
def test_every_rollup_level_gives_the_raw_numbers(spec: list[dict[str, object]], q: dict) -> None:
    """Each level on its own whenever it can answer the query, and each day level for the
    days that lie whole in a bucket of the query with a quarter-hour level for the rest;
    the 15-minute level by every dimension can always answer (these KPIs, thresholds,
    zones and bounds)."""
    with Warehouse(":memory:") as wh:
        with wh.transaction():
            wh.load("calls", arrow_rows("calls", _rows(spec)))
            _load_agents(wh)
        start, end = BOUNDS[q["bounds"]]
        query = KpiQuery(
            kpis=tuple(q["kpis"]),
            by=tuple(q["by"]),
            grain=q["grain"],
            tz=q["tz"],
            start=start,
            end=end,
        )
        raw = run_query(wh, query, use_rollup=False).rows
        assert _levels_used(wh, query, ("calls_rollup",)) == {"calls_rollup"}
        for allowed in ALLOWED:
            used = _levels_used(wh, query, allowed)
            if used and len(used) == len(allowed):
                event(f"served by {' + '.join(allowed)}")
                served = Compiler(wh, rollup_levels=allowed).run(query).rows
                assert served == raw, allowed
        assert 1 <= len(_levels_used(wh, query)) <= 2
        assert run_query(wh, query).rows == raw


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=calls,
    q=queries,
    other=st.sampled_from(["p90_wait", "threshold", "short", "repeat_window", "p90_wait+fcr"]),
)
def test_additive_kpis_from_the_rollup_beside_the_others_from_the_calls(
    spec: list[dict[str, object]], q: dict, other: str
) -> None:
    """A query with KPIs the roll-up cannot answer (a percentile, thresholds other than
    the roll-up's) reads those from the calls and the rest from a roll-up level: exactly
    the numbers of reading everything from the calls."""
    with Warehouse(":memory:") as wh:
        with wh.transaction():
            wh.load("calls", arrow_rows("calls", _rows(spec)))
            _load_agents(wh)
        start, end = BOUNDS[q["bounds"]]
        kpis = list(q["kpis"])
        params: dict[str, float | str] = {}
        if other.startswith("p90_wait"):
            kpis += other.split("+")
        elif other == "threshold":
            kpis.append("service_level")
            params["answer_threshold_s"] = 30
        elif other == "short":
            kpis.append("abandon_rate")
            params["short_abandon_s"] = 12
        else:
            kpis.append("repeat_contact_rate")
            params["repeat_window_days"] = 2
        query = KpiQuery(
            kpis=tuple(dict.fromkeys(kpis)),
            by=tuple(q["by"]),
            grain=q["grain"],
            tz=q["tz"],
            start=start,
            end=end,
            params=params,
        )
        sql = ibis.to_sql(Compiler(wh).compile(query)[0])
        event("split" if "calls_rollup" in sql and 'FROM "calls"' in sql else "not split")
        assert run_query(wh, query).rows == run_query(wh, query, use_rollup=False).rows


def test_a_query_uses_the_smallest_level_that_can_answer_it(wh: Warehouse) -> None:
    spec = [
        {
            **{"minute": 10 + i * 97, "second": 0, "queue": "q1", "agent": "a1", "tenant": "t1"},
            **{"wrap_code": "w1", "direction": "in", "outcome": "answered", "wait_s": 30},
            **{"talk_s": 60, "acw_s": 5, "transferred": False, "escalated": None},
            "resolved": True,
        }
        for i in range(20)
    ]
    with wh.transaction():
        wh.load("calls", arrow_rows("calls", _rows(spec)))
        _load_agents(wh)
    days = {"start": dt.datetime(2026, 10, 24), "end": dt.datetime(2026, 10, 26)}
    kpis = ("service_level", "asa", "aht", "abandon_rate", "answered", "resolution_rate")
    berlin = {**days, "tz": "Europe/Berlin"}
    expected = [
        (KpiQuery(kpis, by=("queue",), grain="day", **days), "calls_rollup_day"),
        (KpiQuery(kpis, by=("wrap_code",), **days), "calls_rollup_day"),
        (KpiQuery(kpis, by=("agent",), **days), "calls_rollup_agent_day"),
        (KpiQuery(kpis, by=("team",), grain="week", **days), "calls_rollup_agent_day"),
        (KpiQuery(kpis, by=("queue",), grain="30min", **days), "calls_rollup_queue"),
        (KpiQuery(kpis, by=("hour_of_day", "weekday"), **days), "calls_rollup_queue"),
        (KpiQuery(kpis, by=("queue",), grain="day", **berlin), "calls_rollup_queue"),
        (KpiQuery(kpis, by=("agent",), grain="hour", **days), "calls_rollup_agent_hour"),
        (KpiQuery(kpis, by=("agent",), grain="day", **berlin), "calls_rollup_agent_hour"),
        (KpiQuery(kpis, by=("agent", "wrap_code"), **days), "calls_rollup_agent_wrap_day"),
        (KpiQuery(kpis, by=("agent",), grain="15min", **days), "calls_rollup"),
        (KpiQuery(("fcr", "repeat_contact_rate"), by=("agent",), **days), "calls_rollup_agent_day"),
        (KpiQuery(("fcr",), by=("queue",), grain="30min", **days), "calls_rollup_queue"),
        (
            KpiQuery(kpis, by=("queue",), start=dt.datetime(2026, 10, 24, 6, 15)),
            "calls_rollup_queue",
        ),
    ]
    berlin_month = {"tz": "Europe/Berlin", "start": dt.datetime(2026, 10, 1)}
    berlin_month["end"] = dt.datetime(2026, 11, 1)
    mixed = [
        # the whole UTC days of a month in Berlin, and the hours at its ends
        (
            KpiQuery(kpis, by=("agent",), **berlin_month),
            {"calls_rollup_agent_day", "calls_rollup_agent_hour"},
        ),
        (
            KpiQuery(kpis, by=("team",), grain="week", **berlin_month),
            {"calls_rollup_agent_day", "calls_rollup_agent_hour"},
        ),
        (
            KpiQuery(kpis, by=("agent", "wrap_code"), **berlin_month),
            {"calls_rollup_agent_wrap_day", "calls_rollup"},
        ),
        (
            KpiQuery(kpis, by=("queue",), grain="month", **berlin_month),
            {"calls_rollup_day", "calls_rollup_queue"},
        ),
        (KpiQuery(kpis, by=("wrap_code",), **berlin_month), {"calls_rollup_day", "calls_rollup"}),
    ]
    for query, level in [*((q, {level}) for q, level in expected), *mixed]:
        assert _levels_used(wh, query) == level, (query, level)
        assert run_query(wh, query).rows == run_query(wh, query, use_rollup=False).rows


def test_rollup_is_skipped_when_it_cannot_answer(wh: Warehouse) -> None:
    with wh.transaction():
        wh.load(
            "calls",
            arrow_rows(
                "calls",
                _rows(
                    [
                        {
                            "minute": 10,
                            "second": 0,
                            "queue": "q1",
                            "agent": "a1",
                            "tenant": "t1",
                            "direction": "in",
                            "outcome": "answered",
                            "wait_s": 30,
                            "talk_s": 60,
                            "acw_s": 5,
                            "transferred": False,
                            "escalated": None,
                            "resolved": None,
                        }
                    ]
                ),
            ),
        )
    assert _uses_rollup(wh, KpiQuery(kpis=("service_level",), by=("queue",)))
    cannot = [
        KpiQuery(kpis=("service_level",), params={"answer_threshold_s": 30}),
        KpiQuery(kpis=("p90_wait",)),
        KpiQuery(kpis=("fcr",), params={"repeat_window_days": 3}),
        KpiQuery(kpis=("offered",), by=("did",)),
        KpiQuery(kpis=("offered",), start=dt.datetime(2026, 10, 24, 0, 7)),
    ]
    for query in cannot:
        sql = ibis.to_sql(Compiler(wh).compile(query)[0])
        assert 'FROM "calls"' in sql, query
        # the additive measures beside a threshold other than the roll-up's come from it
        assert _uses_rollup(wh, query) == (query in (cannot[0], cannot[2])), query
    # Still right through the raw path: the one call waited 30 s, more than 20, less than 30.
    assert run_query(wh, cannot[0]).rows == [{"service_level": 1.0}]
    assert run_query(wh, KpiQuery(kpis=("service_level",))).rows == [{"service_level": 0.0}]


def test_rollup_stays_current_through_every_writer(wh: Warehouse, tmp_path: Path) -> None:
    t0 = 1767261600
    log = tmp_path / "queue_log"
    log.write_text(
        "\n".join(
            [
                f"{t0}|c1|support|NONE|ENTERQUEUE||5550000|1",
                f"{t0 + 9}|c1|support|Agent/1|CONNECT|9|c1.1|2",
                f"{t0 + 1000}|c2|support|NONE|ENTERQUEUE||5550001|1",
            ]
        )
        + "\n"
    )
    queue_log.ingest(wh, log)
    with log.open("a") as fh:  # c1 ends, c2 is answered: both visits change
        fh.write(f"{t0 + 99}|c1|support|Agent/1|COMPLETECALLER|9|90|1\n")
        fh.write(f"{t0 + 1030}|c2|support|Agent/2|CONNECT|30|c2.1|2\n")
        fh.write(f"{t0 + 1100}|c2|support|Agent/2|COMPLETEAGENT|30|70|1\n")
    queue_log.ingest(wh, log, IngestOptions())
    with wh.transaction():  # a disposition changes resolved and wrap_code of c1
        wh.load(
            "dispositions",
            arrow_rows(
                "dispositions",
                [
                    {
                        "call_id": "c1",
                        "agent": "Agent/1",
                        "wrap_code": "billing",
                        "resolved": True,
                        "source": "test",
                    }
                ],
            ),
        )
        from callkpi.ingest import dispositions

        wh.con.execute("CREATE OR REPLACE TEMP TABLE ids AS SELECT 'c1' AS call_id")
        dispositions.apply(wh.con, "ids")
    with wh.transaction():  # a canonical calls row, then the same key again, changed
        wh.load(
            "calls",
            arrow_rows(
                "calls",
                _rows(
                    [
                        {
                            "minute": 5,
                            "second": 0,
                            "queue": "q9",
                            "agent": None,
                            "tenant": "t1",
                            "direction": "in",
                            "outcome": "abandoned",
                            "wait_s": 3,
                            "talk_s": None,
                            "acw_s": None,
                            "transferred": False,
                            "escalated": None,
                            "resolved": None,
                        }
                    ]
                ),
            ),
        )
    with wh.transaction():
        wh.load(
            "calls",
            arrow_rows(
                "calls",
                _rows(
                    [
                        {
                            "minute": 20,
                            "second": 0,
                            "queue": "q9",
                            "agent": None,
                            "tenant": "t1",
                            "direction": "in",
                            "outcome": "abandoned",
                            "wait_s": 30,
                            "talk_s": None,
                            "acw_s": None,
                            "transferred": False,
                            "escalated": None,
                            "resolved": None,
                        }
                    ]
                ),
            ),
        )
    kept = {level: wh.sql(f"SELECT * FROM {level} ORDER BY ALL") for level in LEVELS}
    with wh.transaction() as con:
        rollup.rebuild(con)
    for level in LEVELS:
        assert wh.sql(f"SELECT * FROM {level} ORDER BY ALL") == kept[level], level
        assert wh.sql(f"SELECT sum(n) FROM {level}") == [(3,)], level
    assert wh.sql("SELECT sum(n) FROM calls_rollup") == [(3,)]
    assert wh.sql("SELECT count(*) FROM calls_rollup WHERE wrap_code = 'billing' AND resolved") == [
        (1,)
    ]


def test_a_version_1_file_is_read_as_it_is_and_migrated_when_opened_for_writing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.duckdb"
    spec = [
        {
            **{"minute": 7 + i * 131, "second": 0, "queue": "q1", "agent": "a2", "tenant": "t1"},
            **{"wrap_code": None, "direction": "in", "outcome": "answered", "wait_s": i},
            **{"talk_s": 60, "acw_s": 5, "transferred": i % 3 == 0, "escalated": None},
            "resolved": None,
        }
        for i in range(30)
    ]
    with Warehouse(path) as wh:
        with wh.transaction():
            wh.load("calls", arrow_rows("calls", _rows(spec)))
            _load_agents(wh)
        # what version 1 wrote: the 15-minute roll-up only, without repeat contacts
        for level in LEVELS[:-1]:
            wh.con.execute(f"DROP TABLE {level}")
        wh.con.execute("ALTER TABLE calls_rollup DROP COLUMN repeat_contact")
        wh.con.execute("ALTER TABLE calls DROP COLUMN next_contact_at")
        wh.sql("UPDATE callkpi_meta SET value = '1' WHERE key = 'schema_version'")
    query = KpiQuery(("service_level", "transfer_rate", "aht"), by=("agent",), grain="day")
    with Warehouse(path, read_only=True) as old:
        assert _levels_used(old, query) == {"calls_rollup"}
        raw = run_query(old, query, use_rollup=False).rows
        assert run_query(old, query).rows == raw
    with Warehouse(path) as wh:
        assert wh.schema_version == SCHEMA_VERSION
        assert _levels_used(wh, query) == {"calls_rollup_agent_day"}
        assert run_query(wh, query).rows == raw
        migrated = {level: wh.sql(f"SELECT * FROM {level} ORDER BY ALL") for level in LEVELS}
        with wh.transaction() as con:
            rollup.rebuild(con)
        for level in LEVELS:
            assert wh.sql(f"SELECT * FROM {level} ORDER BY ALL") == migrated[level], level
