"""Property tests: random event sequences, checked against invariants and a second path."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callkpi.ingest import queue_log
from callkpi.store import Warehouse

T0 = 1767261600

# (event, data fields) with valid data; agents and queues are drawn separately.
EVENT_DATA = {
    "ENTERQUEUE": lambda n: ["", "5550000", "1"],
    "CONNECT": lambda n: [str(n), "x.1", str(n % 7)],
    "COMPLETECALLER": lambda n: [str(n), str(n * 3), "1"],
    "COMPLETEAGENT": lambda n: [str(n), str(n * 2), "1"],
    "BLINDTRANSFER": lambda n: ["600", "ext", str(n), str(n * 2), "1"],
    "ATTENDEDTRANSFER": lambda n: ["LINK", "a", "b", str(n), str(n), "1"],
    "ABANDON": lambda n: ["1", "1", str(n)],
    "EXITWITHTIMEOUT": lambda n: ["1", "1", str(n)],
    "EXITWITHKEY": lambda n: ["5", "1", "1", str(n)],
    "EXITEMPTY": lambda n: ["1", "1", str(n)],
    "LEAVEEMPTY": lambda n: [],
    "SYSCOMPAT": lambda n: [],
    "FULL": lambda n: [],
    "CLOSED": lambda n: [],
    "RINGNOANSWER": lambda n: [str(n * 1000)],
    "AGENTDUMP": lambda n: [],
    "WRAPUPSTART": lambda n: [str(n)],
}

events = st.tuples(
    st.sampled_from(sorted(EVENT_DATA)),
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["q1", "q2"]),
    st.integers(0, 40),  # seconds since the previous line
    st.integers(0, 30),  # the number put in the data fields
)


def _lines(draw: list[tuple[str, str, str, int, int]]) -> list[str]:
    t, out = T0, []
    for event, callid, queue, gap, n in draw:
        t += gap
        agent = "NONE" if event in ("ENTERQUEUE", "ABANDON", "FULL", "CLOSED") else "Agent/1"
        out.append("|".join([str(t), callid, queue, agent, event, *EVENT_DATA[event](n)]))
    return out


SNAPSHOT = "SELECT * EXCLUDE (source_ref) FROM calls ORDER BY call_id, segment"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(events, min_size=1, max_size=14))
def test_plain_and_window_paths_agree_and_outcomes_add_up(tmp_path: Path, draw) -> None:
    path = tmp_path / "queue_log"
    path.write_text("\n".join(_lines(draw)) + "\n")
    db = tmp_path / "w.duckdb"
    db.unlink(missing_ok=True)
    with Warehouse(db) as wh:
        report = queue_log.ingest(wh, path)
        assert report.rejected_total == 0
        plain = wh.sql(SNAPSHOT)
        with wh.transaction() as con:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE ql_touched_calls AS "
                "SELECT DISTINCT callid FROM queue_log_events"
            )
            queue_log.rebuild_calls(con, force_window=True)
        assert wh.sql(SNAPSHOT) == plain
        # Every call's visits are numbered 1..n, and every visit has exactly one outcome.
        for call_id, segments in wh.sql(
            "SELECT call_id, list(segment ORDER BY segment) FROM calls GROUP BY 1"
        ):
            assert segments == list(range(1, len(segments) + 1)), call_id
        # A visit's times are in order: entered <= answered <= ended.
        disorder = wh.sql(
            "SELECT count(*) FROM calls WHERE answered_at < entered_at OR ended_at < entered_at"
            " OR ended_at < answered_at"
        )
        assert disorder == [(0,)]
