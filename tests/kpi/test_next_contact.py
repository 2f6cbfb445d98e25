"""``calls.next_contact_at`` (each contact's next contact of the same customer) stays what
a from-scratch computation gives through loads in any batches, replacements and
deletions, and the repeat-contact KPIs from it (raw calls and every roll-up level) equal
the window over every call they were defined with."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from callkpi.kpi import Compiler, KpiQuery, run_query
from callkpi.kpi.semantic import SemanticModel, semantic_model
from callkpi.model import ROLLUP_LEVELS, SCHEMA_VERSION
from callkpi.store import Warehouse, arrow_rows, rollup

START = dt.datetime(2026, 10, 1)
LEVELS = tuple(level.table for level in ROLLUP_LEVELS)


def _window_semantic() -> SemanticModel:
    """The semantic layer with the next-contact window computed at query time (as it was
    defined), not read from the stored column."""
    sm = semantic_model()
    calls = sm.tables["calls"]
    windows = {
        name: spec.model_copy(update={"stored": None}) for name, spec in calls.windows.items()
    }
    tables = {**sm.tables, "calls": calls.model_copy(update={"windows": windows})}
    return sm.model_copy(update={"tables": tables})


WINDOW = _window_semantic()

row = st.fixed_dictionaries(
    {
        "call": st.integers(0, 7),
        "segment": st.integers(1, 2),
        # few distinct times: ties between calls and segments are common
        "at": st.integers(0, 40).map(lambda k: START + dt.timedelta(minutes=503 * k)),
        "customer_id": st.sampled_from([None, "k1", "k2"]),
        "caller": st.sampled_from([None, "555"]),
        "direction": st.sampled_from(["in", "in", "in", "out"]),
        "outcome": st.sampled_from(["answered", "answered", "abandoned"]),
        "agent": st.sampled_from(["a1", "a2"]),
        "wrap_code": st.sampled_from(["w1", None]),
    }
)
batches = st.lists(
    st.tuples(
        st.lists(row, max_size=8),
        # (call, segment) keys deleted after the batch, as a writer that rebuilds calls does
        st.lists(st.tuples(st.integers(0, 7), st.integers(1, 2)), max_size=2),
    ),
    min_size=1,
    max_size=4,
)


def _calls_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "call_id": f"c{r['call']}",
        "segment": r["segment"],
        "direction": r["direction"],
        "queue": "q1",
        "agent": r["agent"],
        "tenant": "t1",
        "customer_id": r["customer_id"],
        "caller": r["caller"],
        "wrap_code": r["wrap_code"],
        "entered_at": r["at"],
        "outcome": r["outcome"],
        "wait_s": 10.0,
        "talk_s": 60.0,
        "transferred": False,
        "source": "test",
    }


def _delete(wh: Warehouse, keys: list[tuple[int, int]]) -> None:
    """Delete calls rows and refresh the quarter hours of their calls, as the writers do."""
    with wh.transaction() as con:
        con.execute("CREATE OR REPLACE TEMP TABLE gone (call_id VARCHAR, segment INTEGER)")
        for call, segment in keys:
            con.execute("INSERT INTO gone VALUES (?, ?)", [f"c{call}", segment])
        match = "(call_id, segment) IN (SELECT (call_id, segment) FROM gone)"
        # the quarter hours of every row of the calls concerned, the rows kept too (the
        # contract of rollup.refresh; queue_log rebuilds whole calls)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE old_b AS SELECT {rollup.buckets_of('entered_at')} AS b "
            f"FROM calls WHERE call_id IN (SELECT call_id FROM gone)"
        )
        con.execute(f"DELETE FROM calls WHERE {match}")
        rollup.refresh(con, "SELECT b FROM old_b")


def expected_next(rows: list[tuple[Any, ...]]) -> dict[tuple[str, int], dt.datetime | None]:
    """From scratch, in Python: a contact is an inbound row with a customer (id, else
    caller); a customer's calls are in order of their first contact row, then call id; a
    row's next contact is the start of the call after its own in that order."""
    firsts: dict[tuple[str, str], dt.datetime] = {}
    for call_id, _segment, customer, caller, direction, at in rows:
        key = customer if customer is not None else caller
        if direction == "in" and key is not None:
            firsts[(key, call_id)] = min(at, firsts.get((key, call_id), at))
    order: dict[str, list[tuple[dt.datetime, str]]] = {}
    for (key, call_id), at in firsts.items():
        order.setdefault(key, []).append((at, call_id))
    nxt: dict[tuple[str, str], dt.datetime | None] = {}
    for key, calls in order.items():
        calls.sort()
        for i, (_at, call_id) in enumerate(calls):
            nxt[(key, call_id)] = calls[i + 1][0] if i + 1 < len(calls) else None
    out: dict[tuple[str, int], dt.datetime | None] = {}
    for call_id, segment, customer, caller, direction, _at in rows:
        key = customer if customer is not None else caller
        eligible = direction == "in" and key is not None
        out[(call_id, segment)] = nxt[(key, call_id)] if eligible else None
    return out


def _check_column(wh: Warehouse) -> None:
    rows = wh.sql("SELECT call_id, segment, customer_id, caller, direction, entered_at FROM calls")
    stored = {
        (c, s): n for c, s, n in wh.sql("SELECT call_id, segment, next_contact_at FROM calls")
    }
    assert stored == expected_next(rows)


def _expected_rates(wh: Warehouse, window_days: float) -> dict[str | None, tuple[int, int]]:
    """Per agent: (answered inbound calls of a known customer, those followed by the
    customer's next contact within the window), by hand from the Python next contacts."""
    rows = wh.sql(
        "SELECT call_id, segment, customer_id, caller, direction, entered_at, agent, outcome "
        "FROM calls"
    )
    nxt = expected_next([r[:6] for r in rows])
    counts: dict[str | None, tuple[int, int]] = {}
    for call_id, segment, customer, caller, direction, at, agent, outcome in rows:
        if direction != "in" or outcome != "answered" or (customer or caller) is None:
            continue
        n = nxt[(call_id, segment)]
        repeat = n is not None and (n - at) <= dt.timedelta(days=window_days)
        known, repeats = counts.get(agent, (0, 0))
        counts[agent] = (known + 1, repeats + int(repeat))
    return counts


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking takes minutes
)
@given(batches=batches, window=st.sampled_from([7.0, 7.0, 1.0, 3.5, 20.0]))
def test_next_contact_stays_exact_and_the_repeat_kpis_equal_the_window(
    batches: list[tuple[list[dict[str, Any]], list[tuple[int, int]]]], window: float
) -> None:
    with Warehouse(":memory:") as wh:
        for rows, deleted in batches:
            if rows:
                with wh.transaction():
                    wh.load("calls", arrow_rows("calls", [_calls_row(r) for r in rows]))
            if deleted:
                _delete(wh, deleted)
            _check_column(wh)
        kpis = ("repeat_contact_rate", "fcr")
        params = {"repeat_window_days": window}
        queries = [
            KpiQuery(kpis, by=("agent",), params=params),
            KpiQuery(kpis, by=("wrap_code",), grain="day", params=params),
            KpiQuery(kpis, by=("agent",), grain="hour", tz="Europe/Berlin", params=params),
            KpiQuery(kpis, grain="week", params=params),
        ]
        for query in queries:
            window_rows = Compiler(wh, semantic=WINDOW, use_rollup=False).run(query).rows
            assert run_query(wh, query, use_rollup=False).rows == window_rows, query
            assert run_query(wh, query).rows == window_rows, query
            for level in LEVELS:
                served = Compiler(wh, rollup_levels=(level,)).run(query).rows
                assert served == window_rows, (query, level)
        by_hand = _expected_rates(wh, window)
        got = {
            r["agent"]: r["repeat_contact_rate"]
            for r in run_query(
                wh, KpiQuery(("repeat_contact_rate",), by=("agent",), params=params)
            ).rows
        }
        for agent, (known, repeats) in by_hand.items():
            assert got[agent] == (repeats / known if known else None), agent


def test_a_call_moved_or_gone_updates_the_calls_before_it(wh: Warehouse) -> None:
    """Customer k1 calls at 0:00, 1:00 (c2) and 30:00 (c3); c2's quarter hour is refreshed
    when it moves or goes, and c1 (in another quarter hour) follows."""

    def load(rows: list[tuple[str, int]]) -> None:
        with wh.transaction():
            wh.load(
                "calls",
                arrow_rows(
                    "calls",
                    [
                        _calls_row(
                            {
                                "call": int(c[1:]),
                                "segment": 1,
                                "at": START + dt.timedelta(hours=h),
                                "customer_id": "k1",
                                "caller": None,
                                "direction": "in",
                                "outcome": "answered",
                                "agent": "a1",
                                "wrap_code": None,
                            }
                        )
                        for c, h in rows
                    ],
                ),
            )

    def nexts() -> dict[str, dt.datetime | None]:
        return dict(wh.sql("SELECT call_id, next_contact_at FROM calls"))

    def rate() -> float:
        return run_query(wh, KpiQuery(("repeat_contact_rate",))).rows[0]["repeat_contact_rate"]

    load([("c1", 0), ("c2", 1), ("c3", 30)])
    h = dt.timedelta(hours=1)
    assert nexts() == {"c1": START + h, "c2": START + 30 * h, "c3": None}
    assert rate() == 2 / 3
    load([("c2", 190)])  # c2 moves to 190 h: c1's next contact is c3 now
    assert nexts() == {"c1": START + 30 * h, "c2": None, "c3": START + 190 * h}
    assert rate() == 2 / 3  # c1 -> c3 (30 h), c3 -> c2 (160 h, within 168)
    _delete(wh, [(3, 1)])  # c3 is gone: c1's next contact is c2, 190 hours on
    assert nexts() == {"c1": START + 190 * h, "c2": None}
    assert rate() == 0.0
    assert wh.sql("SELECT sum(n_repeat) FROM calls_rollup_day") == [(0,)]


def test_a_version_2_file_is_read_as_it_is_and_migrated_when_opened_for_writing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.duckdb"
    calls = [
        _calls_row(
            {
                "call": i % 8,
                "segment": 1 + i // 8,
                "at": START + dt.timedelta(hours=7 * i),
                "customer_id": ["k1", "k2", None][i % 3],
                "caller": "555",
                "direction": "in" if i % 5 else "out",
                "outcome": "answered",
                "agent": ["a1", "a2"][i % 2],
                "wrap_code": None,
            }
        )
        for i in range(16)
    ]
    with Warehouse(path) as wh:
        with wh.transaction():
            wh.load("calls", arrow_rows("calls", calls))
        # what version 2 had: no next contacts, no repeat counts, no hour or wrap levels
        wh.con.execute("ALTER TABLE calls DROP COLUMN next_contact_at")
        wh.con.execute("ALTER TABLE calls_rollup DROP COLUMN repeat_contact")
        for level in ("calls_rollup_day", "calls_rollup_agent_day", "calls_rollup_queue"):
            wh.con.execute(f"ALTER TABLE {level} DROP COLUMN n_repeat")
        for level in ("calls_rollup_agent_wrap_day", "calls_rollup_agent_hour"):
            wh.con.execute(f"DROP TABLE {level}")
        wh.sql("UPDATE callkpi_meta SET value = '2' WHERE key = 'schema_version'")
    query = KpiQuery(("fcr", "answered"), by=("agent",), grain="day")
    with Warehouse(path, read_only=True) as old:
        window = Compiler(old, use_rollup=False).run(query).rows
        assert run_query(old, query).rows == window
        assert any(r["fcr"] is not None for r in window)
    with Warehouse(path) as wh:
        assert wh.schema_version == SCHEMA_VERSION
        _check_column(wh)
        assert run_query(wh, query).rows == window
        assert Compiler(wh, rollup_levels=("calls_rollup_agent_day",)).run(query).rows == window
        migrated = {level: wh.sql(f"SELECT * FROM {level} ORDER BY ALL") for level in LEVELS}
        with wh.transaction() as con:
            rollup.rebuild(con)
        for level in LEVELS:
            assert wh.sql(f"SELECT * FROM {level} ORDER BY ALL") == migrated[level], level
