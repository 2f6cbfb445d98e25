"""Property tests: random event sequences, checked against invariants and a second path."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callkpi.ingest import queue_log
from callkpi.ingest.options import IngestOptions
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


# Agent events for the batched-vs-whole test: sessions, pauses and membership too.
AGENT_DATA = {
    "AGENTLOGIN": lambda n: ["SIP/1"],
    "AGENTLOGOFF": lambda n: ["SIP/1", str(n)],
    "ADDMEMBER": lambda n: [],
    "REMOVEMEMBER": lambda n: [],
    "PAUSE": lambda n: ["lunch" if n % 2 else ""],
    "UNPAUSE": lambda n: [],
    "PAUSEALL": lambda n: ["break"],
    "UNPAUSEALL": lambda n: [],
}

any_events = st.one_of(
    events,
    st.tuples(
        st.sampled_from(sorted(AGENT_DATA)),
        st.just("NONE"),
        st.sampled_from(["q1", "q2"]),
        st.integers(0, 40),
        st.integers(0, 30),
    ),
)


def _any_lines(draw: list[tuple[str, str, str, int, int]]) -> list[str]:
    t, out = T0, []
    for event, callid, queue, gap, n in draw:
        t += gap
        if event in AGENT_DATA:
            fields = [str(t), callid, queue, f"Agent/{n % 2}", event, *AGENT_DATA[event](n)]
            out.append("|".join(fields))
        else:
            out.append(f"{t}|" + _lines([(event, callid, queue, 0, n)])[0].split("|", 1)[1])
    return out


def _everything(wh: Warehouse) -> dict[str, list[tuple[object, ...]]]:
    return {
        "calls": wh.sql("SELECT * FROM calls ORDER BY call_id, segment"),
        "states": wh.sql("SELECT * FROM agent_states ORDER BY ALL"),
        "events": wh.sql(
            'SELECT event_key, "time", callid, queue, agent, event, data, line_no '
            "FROM queue_log_events ORDER BY line_no"
        ),
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(any_events, min_size=1, max_size=24), st.integers(30, 400), st.booleans())
def test_batched_and_whole_loads_agree(tmp_path: Path, draw, batch_bytes: int, grow) -> None:
    """The same lines loaded at once, in small batches, or as a file that grows between
    two runs give the same journal, calls and agent states."""
    lines = _any_lines(draw)
    text = "\n".join(lines) + "\n"
    whole_path, batched_path = tmp_path / "whole", tmp_path / "batched"
    whole_path.write_text(text)
    for db in ("whole.duckdb", "batched.duckdb"):
        (tmp_path / db).unlink(missing_ok=True)
    with Warehouse(tmp_path / "whole.duckdb") as wh:
        report = queue_log.ingest(wh, whole_path)
        assert report.rejected_total == 0
        assert report.loaded + report.duplicates == len(lines)  # a line twice is one event
        whole = _everything(wh)
    with Warehouse(tmp_path / "batched.duckdb") as wh:
        options = IngestOptions(batch_bytes=batch_bytes)
        if grow:  # a first run on the first half, then the rest appended
            half = len(lines) // 2
            batched_path.write_text("".join(f"{line}\n" for line in lines[:half]))
            queue_log.ingest(wh, batched_path, options)
        batched_path.write_text(text)
        queue_log.ingest(wh, batched_path, options)
        batched = _everything(wh)
    # source_ref names the file: compare it without the file's name.
    assert _strip_paths(batched, batched_path) == _strip_paths(whole, whole_path)


def _strip_paths(snapshot: dict[str, list[tuple[object, ...]]], path: Path) -> object:
    def strip(value: object) -> object:
        return value.replace(str(path), "FILE") if isinstance(value, str) else value

    return {k: [tuple(strip(v) for v in row) for row in rows] for k, rows in snapshot.items()}
