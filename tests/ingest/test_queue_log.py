"""queue_log scenarios written by hand, with the expected calls rows written out.

Times are seconds after T0 = 2026-01-01 10:00:00 UTC (epoch 1767261600).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from callkpi.ingest import queue_log
from callkpi.ingest.options import IngestOptions
from callkpi.model import SCHEMA_VERSION
from callkpi.store import Warehouse, rollup

T0 = 1767261600
BASE = dt.datetime(2026, 1, 1, 10, 0, 0)


def at(seconds: float) -> dt.datetime:
    return BASE + dt.timedelta(seconds=seconds)


def line(offset: int, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
    return "|".join([str(T0 + offset), callid, queue, agent, event, *map(str, data)])


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def load(
    wh: Warehouse, tmp_path: Path, lines: list[str], name: str = "queue_log", **options: Any
) -> queue_log.IngestReport:
    return queue_log.ingest(wh, write(tmp_path / name, lines), IngestOptions(**options))


CALL_COLUMNS = (
    "call_id",
    "segment",
    "queue",
    "agent",
    "outcome",
    "entered_at",
    "answered_at",
    "ended_at",
    "wait_s",
    "ring_s",
    "talk_s",
    "transferred",
    "transfer_kind",
    "transfer_target",
    "ended_by",
)


def calls(wh: Warehouse, columns: tuple[str, ...] = CALL_COLUMNS) -> list[dict[str, Any]]:
    cols = ", ".join(columns)
    rows = wh.sql(f"SELECT {cols} FROM calls ORDER BY call_id, segment")
    return [dict(zip(columns, r, strict=True)) for r in rows]


def one_call(wh: Warehouse, **expected: Any) -> None:
    rows = calls(wh, tuple(expected))
    assert rows == [expected]


# -- outcomes -----------------------------------------------------------------------------


def test_answered_completecaller(wh: Warehouse, tmp_path: Path) -> None:
    report = load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5551234", 1),
            line(15, "c1", "support", "Agent/1001", "RINGNOANSWER", 15000),
            line(22, "c1", "support", "Agent/1002", "CONNECT", 22, "c1.2", 7),
            line(142, "c1", "support", "Agent/1002", "COMPLETECALLER", 22, 120, 1),
        ],
    )
    assert (report.lines_read, report.loaded, report.rejected_total) == (4, 4, 0)
    one_call(
        wh,
        call_id="c1",
        segment=1,
        queue="support",
        agent="Agent/1002",
        outcome="answered",
        entered_at=at(0),
        answered_at=at(22),
        ended_at=at(142),
        wait_s=22.0,
        ring_s=7.0,
        talk_s=120.0,
        transferred=False,
        ended_by="caller",
        caller="5551234",
        enter_position=1,
        direction="in",
        source="queue_log",
    )


def test_answered_completeagent(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "sales", "NONE", "ENTERQUEUE", "", "5551234", 3),
            line(5, "c1", "sales", "Agent/7", "CONNECT", 5, "c1.9", 5),
            line(65, "c1", "sales", "Agent/7", "COMPLETEAGENT", 5, 60, 3),
        ],
    )
    one_call(
        wh,
        outcome="answered",
        agent="Agent/7",
        wait_s=5.0,
        talk_s=60.0,
        ended_by="agent",
        enter_position=3,
        ended_at=at(65),
    )


@pytest.mark.parametrize(
    ("event", "data", "outcome", "wait_s"),
    [
        ("ABANDON", (1, 1, 9), "abandoned", 9.0),
        ("EXITWITHTIMEOUT", (1, 1, 300), "timed_out", 300.0),
        ("EXITWITHKEY", ("5", 1, 1, 30), "exited_key", 30.0),
        ("EXITEMPTY", (1, 1, 12), "blocked", 12.0),
        ("WITHDRAW", (1, 1, 40, "to-voicemail"), "overflowed", 40.0),
    ],
)
def test_unanswered_endings(
    wh: Warehouse, tmp_path: Path, event: str, data: tuple[object, ...], outcome: str, wait_s: float
) -> None:
    end = int(wait_s)
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(end, "c1", "support", "NONE", event, *data),
        ],
    )
    one_call(
        wh,
        outcome=outcome,
        entered_at=at(0),
        answered_at=None,
        ended_at=at(end),
        wait_s=wait_s,
        agent=None,
        talk_s=None,
        transferred=False,
    )


def test_exitwithkey_old_form_takes_wait_from_times(wh: Warehouse, tmp_path: Path) -> None:
    # Asterisk 1.4/1.8 write only key|position.
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000"),
            line(17, "c1", "support", "NONE", "EXITWITHKEY", "2", 1),
        ],
    )
    one_call(wh, outcome="exited_key", wait_s=17.0, ended_at=at(17))


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ("FULL", "overflowed"),
        ("JOINEMPTY", "blocked"),
        ("CLOSED", "closed"),
        ("DIVERT_CA_RATIO", "overflowed"),
        ("DIVERT_HOLDTIME", "overflowed"),
    ],
)
def test_one_event_visits(wh: Warehouse, tmp_path: Path, event: str, outcome: str) -> None:
    # Dialplan-written (Wazo): the caller never joined, so there is no ENTERQUEUE.
    load(wh, tmp_path, [line(100, "c1", "support", "NONE", event, "")])
    one_call(
        wh, outcome=outcome, entered_at=at(100), ended_at=at(100), wait_s=0.0, answered_at=None
    )


def test_leaveempty_after_exitempty_is_one_visit(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(30, "c1", "support", "NONE", "EXITEMPTY", 1, 1, 30),
            line(30, "c1", "support", "NONE", "LEAVEEMPTY", ""),
        ],
    )
    one_call(wh, segment=1, outcome="blocked", wait_s=30.0, ended_at=at(30))


def test_syscompat_then_abandon_is_one_failed_visit(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(8, "c1", "support", "Agent/1", "SYSCOMPAT", ""),
            line(8, "c1", "support", "NONE", "ABANDON", 1, 1, 8),
        ],
    )
    one_call(wh, segment=1, outcome="failed", wait_s=8.0, ended_at=at(8), agent=None)


def test_agentdump_does_not_end_the_visit(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(10, "c1", "support", "Agent/1", "AGENTDUMP", ""),
            line(25, "c1", "support", "Agent/2", "CONNECT", 25, "c1.5", 4),
            line(85, "c1", "support", "Agent/2", "COMPLETEAGENT", 25, 60, 1),
        ],
    )
    one_call(wh, segment=1, outcome="answered", agent="Agent/2", wait_s=25.0, talk_s=60.0)
    rings = wh.sql(
        "SELECT agent, reason, start_at, end_at FROM agent_states "
        "WHERE state = 'ringing' ORDER BY start_at"
    )
    assert rings == [("Agent/1", "dumped", at(10), at(10)), ("Agent/2", "answered", at(21), at(25))]


def test_double_abandon_is_one_visit(wh: Warehouse, tmp_path: Path) -> None:
    # Asterisk 1.8/13 can log ABANDON twice when the caller hangs up during the announce.
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(20, "c1", "support", "Agent/1", "ABANDON", 1, 1, 20),
            line(20, "c1", "support", "NONE", "ABANDON", 1, 1, 20),
        ],
    )
    one_call(wh, segment=1, outcome="abandoned", wait_s=20.0, agent=None)


# -- transfers and re-entering ------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "data", "kind", "target", "talk_s"),
    [
        ("TRANSFER", ("2001", "from-internal", 10, 50, 1), "transfer", "2001@from-internal", 50.0),
        ("TRANSFER", ("2001", "from-internal", 10, 50), "transfer", "2001@from-internal", 50.0),
        ("BLINDTRANSFER", ("600", "ext-queues", 10, 70, 1), "blind", "600@ext-queues", 70.0),
        ("ATTENDEDTRANSFER", ("BRIDGE", "b4f1-11", 10, 80, 1), "attended", "bridge:b4f1-11", 80.0),
        ("ATTENDEDTRANSFER", ("APP", "VoiceMail", 10, 90, 1), "attended", "app:VoiceMail", 90.0),
        (
            "ATTENDEDTRANSFER",
            ("LINK", "PJSIP/1001-0001", "PJSIP/2002-0002", 10, 95, 1),
            "attended",
            "link:PJSIP/2002-0002",
            95.0,
        ),
    ],
)
def test_transfers(
    wh: Warehouse,
    tmp_path: Path,
    event: str,
    data: tuple[object, ...],
    kind: str,
    target: str,
    talk_s: float,
) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(10, "c1", "support", "Agent/1", "CONNECT", 10, "c1.2", 3),
            line(10 + int(talk_s), "c1", "support", "Agent/1", event, *data),
        ],
    )
    one_call(
        wh,
        outcome="answered",
        transferred=True,
        transfer_kind=kind,
        transfer_target=target,
        talk_s=talk_s,
        wait_s=10.0,
        agent="Agent/1",
        ended_at=at(10 + talk_s),
    )


def test_transfer_to_another_queue_makes_two_segments(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "tier1", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(12, "c1", "tier1", "Agent/1", "CONNECT", 12, "c1.2", 2),
            line(72, "c1", "tier1", "Agent/1", "BLINDTRANSFER", "700", "ext-queues", 12, 60, 1),
            line(73, "c1", "tier2", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(113, "c1", "tier2", "Agent/9", "CONNECT", 40, "c1.7", 5),
            line(413, "c1", "tier2", "Agent/9", "COMPLETECALLER", 40, 300, 1),
        ],
    )
    assert calls(
        wh,
        ("segment", "queue", "agent", "outcome", "entered_at", "wait_s", "talk_s", "transferred"),
    ) == [
        {
            "segment": 1,
            "queue": "tier1",
            "agent": "Agent/1",
            "outcome": "answered",
            "entered_at": at(0),
            "wait_s": 12.0,
            "talk_s": 60.0,
            "transferred": True,
        },
        {
            "segment": 2,
            "queue": "tier2",
            "agent": "Agent/9",
            "outcome": "answered",
            "entered_at": at(73),
            "wait_s": 40.0,
            "talk_s": 300.0,
            "transferred": False,
        },
    ]


def test_reentering_the_same_queue_is_a_new_segment(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(60, "c1", "support", "NONE", "EXITWITHTIMEOUT", 1, 1, 60),
            line(61, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 2),
            line(70, "c1", "support", "NONE", "ABANDON", 2, 2, 9),
        ],
    )
    assert calls(wh, ("segment", "outcome", "entered_at", "wait_s")) == [
        {"segment": 1, "outcome": "timed_out", "entered_at": at(0), "wait_s": 60.0},
        {"segment": 2, "outcome": "abandoned", "entered_at": at(61), "wait_s": 9.0},
    ]


def test_open_visit_superseded_by_a_new_one(wh: Warehouse, tmp_path: Path) -> None:
    # End events lost: a connected visit is closed as an inferred transfer, a waiting
    # one as overflowed, at the moment the next visit starts.
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "q1", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(5, "c1", "q1", "Agent/1", "CONNECT", 5, "c1.2", 1),
            line(65, "c1", "q2", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(80, "c1", "q3", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(90, "c1", "q3", "NONE", "ABANDON", 1, 1, 10),
        ],
    )
    assert calls(
        wh,
        (
            "segment",
            "queue",
            "outcome",
            "ended_at",
            "wait_s",
            "talk_s",
            "transfer_kind",
            "transfer_target",
        ),
    ) == [
        {
            "segment": 1,
            "queue": "q1",
            "outcome": "answered",
            "ended_at": at(65),
            "wait_s": 5.0,
            "talk_s": 60.0,
            "transfer_kind": "inferred",
            "transfer_target": "queue:q2",
        },
        {
            "segment": 2,
            "queue": "q2",
            "outcome": "overflowed",
            "ended_at": at(80),
            "wait_s": 15.0,
            "talk_s": None,
            "transfer_kind": None,
            "transfer_target": None,
        },
        {
            "segment": 3,
            "queue": "q3",
            "outcome": "abandoned",
            "ended_at": at(90),
            "wait_s": 10.0,
            "talk_s": None,
            "transfer_kind": None,
            "transfer_target": None,
        },
    ]


# -- calls at the edges of the loaded range ---------------------------------------------------


def test_connect_without_enterqueue_in_range(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(50, "c1", "support", "Agent/1", "CONNECT", 35, "c1.2", 4),
            line(170, "c1", "support", "Agent/1", "COMPLETECALLER", 35, 120, 2),
        ],
    )
    one_call(
        wh,
        segment=1,
        outcome="answered",
        entered_at=at(15),
        answered_at=at(50),
        ended_at=at(170),
        wait_s=35.0,
        talk_s=120.0,
    )


def test_complete_alone_computes_back_from_hold_and_call_time(
    wh: Warehouse, tmp_path: Path
) -> None:
    load(wh, tmp_path, [line(200, "c1", "support", "Agent/1", "COMPLETEAGENT", 30, 100, 1)])
    one_call(
        wh,
        outcome="answered",
        entered_at=at(70),
        answered_at=at(100),
        ended_at=at(200),
        wait_s=30.0,
        talk_s=100.0,
        agent="Agent/1",
    )


def test_abandon_without_enterqueue_in_range(wh: Warehouse, tmp_path: Path) -> None:
    load(wh, tmp_path, [line(40, "c1", "support", "NONE", "ABANDON", 3, 4, 25)])
    one_call(wh, outcome="abandoned", entered_at=at(15), ended_at=at(40), wait_s=25.0)


def test_a_visit_never_begins_after_its_first_event(wh: Warehouse, tmp_path: Path) -> None:
    # A negative hold time would reckon the entry 5 s after the CONNECT (at 55); the visit
    # began no later than its first event (50). Completed by a later ingest, the call is
    # rebuilt from the journal's events since its row began: the CONNECT must be among them.
    path = write(tmp_path / "queue_log", [line(50, "c1", "support", "Agent/1", "CONNECT", -5,
                                               "c1.2", 4)])
    queue_log.ingest(wh, path)
    one_call(wh, outcome="in_progress", entered_at=at(50), answered_at=at(50))
    with path.open("a") as fh:
        fh.write(line(170, "c1", "support", "Agent/1", "COMPLETECALLER", -5, 120, 2) + "\n")
    queue_log.ingest(wh, path)
    one_call(wh, segment=1, outcome="answered", entered_at=at(50), answered_at=at(50),
             ended_at=at(170), wait_s=-5.0, talk_s=120.0)


def test_a_version_3_file_gets_its_late_visit_starts_rebuilt(tmp_path: Path) -> None:
    # Version 3 reckoned c1's entry 5 s after its CONNECT (a negative hold time) and that
    # of c3 from its end's wait alone (a negative wait: after the ABANDON); c2 is sound.
    path = tmp_path / "w.duckdb"
    lines = [
        line(50, "c1", "support", "Agent/1", "CONNECT", -5, "c1.2", 4),
        line(0, "c2", "support", "NONE", "ENTERQUEUE", "", "5550002", 1),
        line(30, "c2", "support", "NONE", "ABANDON", 1, 1, 30),
        line(40, "c3", "support", "NONE", "ABANDON", 1, 1, -7),
    ]
    with Warehouse(path) as wh:
        load(wh, tmp_path, lines)
        expected = wh.sql("SELECT * FROM calls ORDER BY call_id")
        rollup_rows = wh.sql("SELECT * FROM calls_rollup ORDER BY ALL")
        talking = wh.sql("SELECT * FROM agent_states ORDER BY ALL")
        wh.sql("UPDATE calls SET entered_at = ? WHERE call_id = 'c1'", [at(55)])
        wh.sql("UPDATE calls SET entered_at = ? WHERE call_id = 'c3'", [at(47)])
        wh.sql("UPDATE callkpi_meta SET value = '3' WHERE key = 'schema_version'")
    with Warehouse(path) as wh:
        assert wh.sql("SELECT entered_at FROM calls ORDER BY call_id") == [
            (at(50),), (at(0),), (at(40),)]
        assert wh.schema_version == SCHEMA_VERSION
        assert wh.sql("SELECT * FROM calls ORDER BY call_id") == expected
        assert wh.sql("SELECT * FROM calls_rollup ORDER BY ALL") == rollup_rows
        assert wh.sql("SELECT * FROM agent_states ORDER BY ALL") == talking


def test_a_version_4_file_gets_the_calls_duckdb_2_0_0_lost_rebuilt(tmp_path: Path) -> None:
    # DuckDB 2.0.0 lost every new call of a big batch, their talking states and their
    # roll-up; the journal, the ringing states and the other calls were stored. c1 and c3
    # are lost here; c2 (another queue and quarter hour) is sound and has c1's caller, so
    # its next contact (c3, the caller's later call) must come back too.
    path = tmp_path / "w.duckdb"
    lines = [
        line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550001", 1),
        line(4, "c1", "support", "Agent/1", "RINGNOANSWER", 4000),
        line(9, "c1", "support", "Agent/2", "CONNECT", 9, "c1.2", 3),
        line(99, "c1", "support", "Agent/2", "COMPLETECALLER", 9, 90, 1),
        line(1000, "c2", "sales", "NONE", "ENTERQUEUE", "", "5550001", 1),
        line(1030, "c2", "sales", "NONE", "ABANDON", 1, 1, 30),
        line(2000, "c3", "support", "NONE", "ENTERQUEUE", "", "5550001", 1),
        line(2005, "c3", "support", "Agent/1", "CONNECT", 5, "c3.2", 2),
        line(2100, "c3", "support", "Agent/1", "COMPLETEAGENT", 5, 95, 1),
    ]
    with Warehouse(path) as wh:
        load(wh, tmp_path, lines)
        expected = {
            name: wh.sql(f"SELECT * FROM {name} ORDER BY ALL")
            for name in ("calls", "agent_states", "calls_rollup", "calls_rollup_day")
        }
        assert len(expected["calls"]) == 3
        assert wh.sql(
            "SELECT agent, state, reason, call_id FROM agent_states ORDER BY ALL"
        ) == [
            ("Agent/1", "ringing", "answered", "c3"),
            ("Agent/1", "ringing", "noanswer", "c1"),
            ("Agent/1", "talking", None, "c3"),
            ("Agent/2", "ringing", "answered", "c1"),
            ("Agent/2", "talking", None, "c1"),
        ]
        with wh.transaction() as con:
            con.execute("DELETE FROM calls WHERE call_id IN ('c1', 'c3')")
            con.execute("DELETE FROM agent_states WHERE state = 'talking'")
            con.execute("UPDATE calls SET next_contact_at = NULL")
            rollup.rebuild(con)
            con.execute("UPDATE callkpi_meta SET value = '4' WHERE key = 'schema_version'")
        assert wh.sql("SELECT call_id FROM calls") == [("c2",)]
    with Warehouse(path) as wh:
        assert wh.schema_version == SCHEMA_VERSION
        for name, rows in expected.items():
            assert wh.sql(f"SELECT * FROM {name} ORDER BY ALL") == rows, name
        assert wh.sql("SELECT call_id, next_contact_at FROM calls ORDER BY call_id") == [
            ("c1", at(1000)), ("c2", at(2000)), ("c3", None)]


def test_in_progress_visits(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "waiting", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(0, "talking", "support", "NONE", "ENTERQUEUE", "", "5550001", 2),
            line(9, "talking", "support", "Agent/1", "CONNECT", 9, "t.2", 3),
        ],
    )
    assert calls(wh, ("call_id", "outcome", "answered_at", "ended_at", "wait_s", "agent")) == [
        {
            "call_id": "talking",
            "outcome": "in_progress",
            "answered_at": at(9),
            "ended_at": None,
            "wait_s": 9.0,
            "agent": "Agent/1",
        },
        {
            "call_id": "waiting",
            "outcome": "in_progress",
            "answered_at": None,
            "ended_at": None,
            "wait_s": None,
            "agent": None,
        },
    ]
    talking = wh.sql("SELECT agent, start_at, end_at FROM agent_states WHERE state = 'talking'")
    assert talking == [("Agent/1", at(9), None)]


def test_call_completed_by_a_later_ingest(wh: Warehouse, tmp_path: Path) -> None:
    first = [
        line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
        line(6, "c1", "support", "Agent/1", "CONNECT", 6, "c1.2", 2),
    ]
    path = write(tmp_path / "queue_log", first)
    queue_log.ingest(wh, path)
    one_call(wh, outcome="in_progress", ended_at=None)
    with path.open("a") as fh:
        fh.write(line(96, "c1", "support", "Agent/1", "COMPLETECALLER", 6, 90, 1) + "\n")
    report = queue_log.ingest(wh, path)
    assert (report.lines_read, report.loaded, report.duplicates) == (1, 1, 0)
    one_call(wh, segment=1, outcome="answered", ended_at=at(96), talk_s=90.0)


def test_did_and_wrapup(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(-1, "c1", "support", "NONE", "DID", "74951234567"),
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(4, "c1", "support", "Agent/1", "CONNECT", 4, "c1.2", 1),
            line(64, "c1", "support", "Agent/1", "COMPLETECALLER", 4, 60, 1),
            line(64, "c1", "support", "Agent/1", "WRAPUPSTART", 30),
        ],
    )
    one_call(wh, did="74951234567", acw_s=30.0, outcome="answered")
    wrap = wh.sql(
        "SELECT agent, queue, call_id, start_at, end_at FROM agent_states WHERE state = 'wrapup'"
    )
    assert wrap == [("Agent/1", "support", "c1", at(64), at(94))]


@pytest.mark.parametrize("older_warehouse", [False, True])
def test_did_of_a_call_completed_by_a_later_ingest(
    wh: Warehouse, tmp_path: Path, older_warehouse: bool
) -> None:
    # Whether the journal holds DIDs is remembered (callkpi_meta), not looked up per load;
    # a warehouse written before it was remembered reads it from the journal once.
    path = write(tmp_path / "queue_log", [line(0, "c0", "support", "NONE", "ENTERQUEUE", "",
                                               "5550000", 1)])
    queue_log.ingest(wh, path)
    assert wh.sql("SELECT value FROM callkpi_meta WHERE key = 'queue_log_dids'") == [("0",)]
    with path.open("a") as fh:
        fh.write(line(9, "c1", "support", "NONE", "DID", "74951234567") + "\n")
        fh.write(line(10, "c1", "support", "NONE", "ENTERQUEUE", "", "5550001", 1) + "\n")
    queue_log.ingest(wh, path)
    assert wh.sql("SELECT value FROM callkpi_meta WHERE key = 'queue_log_dids'") == [("1",)]
    if older_warehouse:
        wh.sql("DELETE FROM callkpi_meta WHERE key = 'queue_log_dids'")
    with path.open("a") as fh:
        fh.write(line(14, "c1", "support", "Agent/1", "CONNECT", 4, "c1.2", 1) + "\n")
    queue_log.ingest(wh, path)
    assert calls(wh, ("call_id", "did", "outcome")) == [
        {"call_id": "c0", "did": None, "outcome": "in_progress"},
        {"call_id": "c1", "did": "74951234567", "outcome": "in_progress"},
    ]
    assert wh.sql("SELECT value FROM callkpi_meta WHERE key = 'queue_log_dids'") == [("1",)]


def test_visit_counts_in_the_interval_it_entered(wh: Warehouse, tmp_path: Path) -> None:
    from callkpi.kpi import KpiQuery, run_query

    # Entered 23:59:50 UTC on Jan 1st, answered and ended on Jan 2nd.
    start = 14 * 3600 - 10
    load(
        wh,
        tmp_path,
        [
            line(start, "late", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(start + 20, "late", "support", "Agent/1", "CONNECT", 20, "l.2", 2),
            line(start + 200, "late", "support", "Agent/1", "COMPLETECALLER", 20, 180, 1),
            line(start + 3600, "next", "support", "NONE", "ENTERQUEUE", "", "5550001", 1),
            line(start + 3605, "next", "support", "NONE", "ABANDON", 1, 1, 5),
        ],
    )
    by_day = run_query(wh, KpiQuery(kpis=("offered", "answered", "abandoned"), grain="day"))
    assert by_day.rows == [
        {"period_start": "2026-01-01T00:00:00+00:00", "offered": 1, "answered": 1, "abandoned": 0},
        {"period_start": "2026-01-02T00:00:00+00:00", "offered": 1, "answered": 0, "abandoned": 1},
    ]
    by_hour = run_query(wh, KpiQuery(kpis=("offered",), grain="hour"))
    assert [r["period_start"] for r in by_hour.rows] == [
        "2026-01-01T23:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
    ]


# -- agent states -------------------------------------------------------------------------


def states(wh: Warehouse, state: str) -> list[tuple[Any, ...]]:
    return wh.sql(
        "SELECT agent, queue, reason, start_at, end_at FROM agent_states WHERE state = ? "
        "ORDER BY agent, queue NULLS FIRST, start_at",
        [state],
    )


def test_membership_sessions_open_and_closed(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "MANAGER", "q1", "Agent/1", "ADDMEMBER", ""),
            line(0, "MANAGER", "q2", "Agent/1", "ADDMEMBER", ""),
            line(3600, "MANAGER", "q1", "Agent/1", "REMOVEMEMBER", ""),
        ],
    )
    assert states(wh, "logged_in") == [
        ("Agent/1", None, None, at(0), None),
        ("Agent/1", "q1", None, at(0), at(3600)),
        ("Agent/1", "q2", None, at(0), None),
    ]


def test_agent_login_sessions_across_days(wh: Warehouse, tmp_path: Path) -> None:
    day = 86400
    load(
        wh,
        tmp_path,
        [
            # a logoff whose login is before the range: starts logintime seconds earlier
            line(100, "NONE", "NONE", "Agent/2", "AGENTLOGOFF", "PJSIP/2-01", 3700),
            line(200, "c9", "NONE", "Agent/1", "AGENTLOGIN", "PJSIP/1-01"),
            line(2 * day + 200, "NONE", "NONE", "Agent/1", "AGENTLOGOFF", "PJSIP/1-01", 2 * day),
            line(300, "NONE", "NONE", "Agent/3", "AGENTCALLBACKLOGIN", "1003@agents"),
            line(
                400,
                "NONE",
                "NONE",
                "Agent/3",
                "AGENTCALLBACKLOGOFF",
                "1003@agents",
                100,
                "Autologoff",
            ),
            line(500, "NONE", "NONE", "Agent/4", "AGENTLOGIN", "PJSIP/4-01"),
        ],
    )
    assert states(wh, "logged_in") == [
        ("Agent/1", None, None, at(200), at(2 * day + 200)),
        ("Agent/2", None, None, at(-3600), at(100)),
        ("Agent/3", None, None, at(300), at(400)),
        ("Agent/4", None, None, at(500), None),
    ]


def test_pauseall_with_per_queue_pauses_counts_once(wh: Warehouse, tmp_path: Path) -> None:
    # One key press: Asterisk writes PAUSEALL and one PAUSE per queue.
    load(
        wh,
        tmp_path,
        [
            line(0, "MANAGER", "q1", "Agent/1", "ADDMEMBER", ""),
            line(0, "MANAGER", "q2", "Agent/1", "ADDMEMBER", ""),
            line(600, "NONE", "NONE", "Agent/1", "PAUSEALL", "lunch"),
            line(600, "NONE", "q1", "Agent/1", "PAUSE", "lunch"),
            line(600, "NONE", "q2", "Agent/1", "PAUSE", "lunch"),
            line(2400, "NONE", "NONE", "Agent/1", "UNPAUSEALL", ""),
            line(2400, "NONE", "q1", "Agent/1", "UNPAUSE", ""),
            line(2400, "NONE", "q2", "Agent/1", "UNPAUSE", ""),
        ],
    )
    assert states(wh, "paused") == [
        ("Agent/1", None, "lunch", at(600), at(2400)),
        ("Agent/1", "q1", "lunch", at(600), at(2400)),
        ("Agent/1", "q2", "lunch", at(600), at(2400)),
    ]


def test_pauseall_overlapping_a_per_queue_pause(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "NONE", "q1", "Agent/1", "PAUSE", "break"),
            line(600, "NONE", "NONE", "Agent/1", "PAUSEALL", "lunch"),
            line(2400, "NONE", "NONE", "Agent/1", "UNPAUSEALL", ""),
        ],
    )
    # UNPAUSEALL ends the per-queue pause too; the agent-level timeline carries the reason
    # of the pause started last, without counting the overlap twice.
    assert states(wh, "paused") == [
        ("Agent/1", None, "break", at(0), at(600)),
        ("Agent/1", None, "lunch", at(600), at(2400)),
        ("Agent/1", "q1", "break", at(0), at(2400)),
    ]


def test_overlapping_queue_pauses_merge_and_end_at_logoff(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "NONE", "NONE", "Agent/1", "AGENTLOGIN", "PJSIP/1-1"),
            line(100, "NONE", "q1", "Agent/1", "PAUSE", "a"),
            line(200, "NONE", "q2", "Agent/1", "PAUSE", "b"),
            line(300, "NONE", "q2", "Agent/1", "UNPAUSE", ""),
            line(400, "NONE", "q1", "Agent/1", "UNPAUSE", ""),
            line(500, "NONE", "q1", "Agent/1", "PAUSE", "c"),
            line(900, "NONE", "NONE", "Agent/1", "AGENTLOGOFF", "PJSIP/1-1", 900),
        ],
    )
    assert states(wh, "paused") == [
        ("Agent/1", None, "a", at(100), at(200)),
        ("Agent/1", None, "b", at(200), at(300)),
        ("Agent/1", None, "a", at(300), at(400)),
        ("Agent/1", None, "c", at(500), at(900)),
        ("Agent/1", "q1", "a", at(100), at(400)),
        ("Agent/1", "q1", "c", at(500), at(900)),
        ("Agent/1", "q2", "b", at(200), at(300)),
    ]


def test_ringing_and_talking_states(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(15, "c1", "support", "Agent/1", "RINGNOANSWER", 15000),
            line(18, "c1", "support", "Agent/2", "RINGCANCELED", 2500),
            line(18, "c1", "support", "NONE", "ABANDON", 1, 1, 18),
        ],
    )
    assert states(wh, "ringing") == [
        ("Agent/1", "support", "noanswer", at(0), at(15)),
        ("Agent/2", "support", "canceled", at(15.5), at(18)),
    ]


# -- the table export form ----------------------------------------------------------------


def test_table_export_with_header_commas_and_local_times(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "queue_log.csv"
    path.write_text(
        "time,callid,queuename,agent,event,data1,data2,data3,data4,data5\n"
        # 13:00:00.25 Moscow (UTC+3) = 10:00:00.25 UTC
        "2026-01-01 13:00:00.250000,c1,support,NONE,ENTERQUEUE,,5550000,1,,\n"
        "2026-01-01 13:00:10.500000,c1,support,Agent/1,CONNECT,10,c1.2,3,,\n"
        "2026-01-01 13:02:10.500000,c1,support,Agent/1,ATTENDEDTRANSFER,LINK,PJSIP/1-1,PJSIP/5-2,"
        '10,"120|1"\n'
    )
    report = queue_log.ingest(wh, path, IngestOptions(tz="Europe/Moscow"))
    assert (report.lines_read, report.loaded, report.skipped, report.rejected_total) == (4, 3, 1, 0)
    one_call(
        wh,
        entered_at=at(0.25),
        answered_at=at(10.5),
        ended_at=at(130.5),
        wait_s=10.0,
        talk_s=120.0,
        transfer_kind="attended",
        transfer_target="link:PJSIP/5-2",
        enter_position=1,
    )


def test_table_export_pipe_delimited_without_header(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "queue_log.txt"
    path.write_text(
        "2026-01-01 10:00:00.000001|c1|support|NONE|ENTERQUEUE||5550000|1||\n"
        "2026-01-01 10:00:07.000001|c1|support|NONE|ABANDON|1|1|7||\n"
    )
    queue_log.ingest(wh, path)
    one_call(wh, outcome="abandoned", entered_at=at(0.000001), wait_s=7.0)


def test_offsets_in_the_time_column_are_honoured(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "queue_log.txt"
    path.write_text(
        "2026-01-01 12:00:00+02|c1|support|NONE|ENTERQUEUE||5550000|1\n"
        "2026-01-01T10:00:09Z|c1|support|NONE|ABANDON|1|1|9\n"
    )
    queue_log.ingest(wh, path, IngestOptions(tz="Asia/Tokyo"))
    one_call(wh, entered_at=at(0), ended_at=at(9))


def test_naive_times_in_the_repeated_dst_hour_read_as_the_first(
    wh: Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "queue_log.txt"
    # Europe/Berlin falls back at 2026-10-25 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    path.write_text(
        "2026-10-25 02:30:00|c1|q|NONE|ENTERQUEUE||1|1\n"
        "2026-10-25 02:30:05|c1|q|NONE|ABANDON|1|1|5\n"
    )
    queue_log.ingest(wh, path, IngestOptions(tz="Europe/Berlin"))
    one_call(wh, entered_at=dt.datetime(2026, 10, 25, 0, 30))


# -- rejects and the quarantine -----------------------------------------------------------


def test_every_reject_reason_is_quarantined(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    good = line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1)
    path.write_bytes(
        "\n".join(
            [
                good,
                "just some text",
                "yesterday|c2|support|NONE|ENTERQUEUE||1|1",
                line(1, "c3", "support", "NONE", "FROBNICATE", ""),
                line(2, "NONE", "support", "NONE", "ABANDON", 1, 1, 5),
                line(3, "NONE", "support", "NONE", "PAUSE", "lunch"),
                line(4, "c4", "support", "NONE", "ABANDON", 1, 1),
                line(5, "c5", "support", "Agent/1", "CONNECT", "soon", "c5.1", 2),
                line(6, "c6", "support", "Agent/1", "ATTENDEDTRANSFER", "TELEPORT", "x", 1, 2, 3),
                "",
                "",
            ]
        ).encode()
        + line(7, "c7", "support", "NONE", "ENTERQUEUE", "", "caf\xe9", 1).encode("latin-1")
        + b"\n"
    )
    report = queue_log.ingest(wh, path)
    assert report.loaded == 1
    assert report.skipped == 1  # the blank line
    assert dict(report.rejected) == {
        "too few fields": 1,
        "bad time": 1,
        "unknown event": 1,
        "no call id": 1,
        "no agent": 1,
        "bad field": 3,
        "invalid utf-8": 1,
    }
    reasons = dict(wh.sql("SELECT source_ref, reason FROM quarantine"))
    p = str(path)
    assert reasons == {
        f"{p}:2": "too few fields: expected at least 5 (time, callid, queuename, agent, event), "
        "found 1",
        f"{p}:3": 'bad time: time = "yesterday" is neither a Unix epoch nor a date-time',
        f"{p}:4": 'unknown event: "FROBNICATE" is not a queue_log event callkpi knows',
        f"{p}:5": "no call id: ABANDON needs the caller's uniqueid in the callid field",
        f"{p}:6": "no agent: PAUSE needs the agent field",
        f"{p}:7": "bad field: ABANDON data3 (waittime) is missing",
        f"{p}:8": 'bad field: CONNECT data1 (holdtime) = "soon", expected a whole number',
        f"{p}:9": 'bad field: ATTENDEDTRANSFER data1 (form) = "TELEPORT", expected one of '
        "BRIDGE, APP, LINK",
        f"{p}:11": "invalid utf-8: the line has bytes that are not UTF-8",
    }
    raw = wh.sql(f"SELECT raw FROM quarantine WHERE source_ref = '{p}:4'")
    assert raw == [(line(1, "c3", "support", "NONE", "FROBNICATE", ""),)]


def test_strict_loads_nothing_from_a_batch_with_rejects(wh: Warehouse, tmp_path: Path) -> None:
    path = write(
        tmp_path / "queue_log",
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
            line(1, "c1", "support", "NONE", "FROBNICATE", ""),
        ],
    )
    with pytest.raises(queue_log.StrictRejected) as info:
        queue_log.ingest(wh, path, IngestOptions(strict=True))
    assert info.value.report.rejected == {"unknown event": 1}
    assert wh.count("queue_log_events") == 0
    assert wh.count("calls") == 0
    assert wh.count("quarantine") == 1


def test_masked_callers(wh: Warehouse, tmp_path: Path) -> None:
    load(
        wh,
        tmp_path,
        [
            line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "79161234567", 1),
            line(1, "c2", "support", "NONE", "ENTERQUEUE", "", "79161234567", 1),
            line(2, "c3", "support", "NONE", "ENTERQUEUE", "", "79997654321", 1),
        ],
        mask_callers=True,
    )
    callers = [c["caller"] for c in calls(wh, ("caller",))]
    assert all(c.startswith("anon:") and len(c) == 21 for c in callers)
    assert callers[0] == callers[1] != callers[2]
    stored = wh.sql(
        "SELECT count(*) FROM queue_log_events WHERE list_contains(data, '79161234567')"
    )
    assert stored == [(0,)]


# -- idempotent and incremental -----------------------------------------------------------


LINES = [
    line(0, "c1", "support", "NONE", "ENTERQUEUE", "", "5550000", 1),
    line(9, "c1", "support", "NONE", "ABANDON", 1, 1, 9),
    line(20, "c2", "support", "NONE", "ENTERQUEUE", "", "5550001", 1),
    line(25, "c2", "support", "Agent/1", "CONNECT", 5, "c2.1", 2),
    line(85, "c2", "support", "Agent/1", "COMPLETEAGENT", 5, 60, 1),
]


def test_same_file_twice_loads_nothing_new(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path / "queue_log", LINES)
    first = queue_log.ingest(wh, path)
    second = queue_log.ingest(wh, path)
    assert (first.loaded, second.lines_read, second.loaded) == (5, 0, 0)
    assert wh.count("calls") == 2


def test_same_lines_in_another_file_are_duplicates(wh: Warehouse, tmp_path: Path) -> None:
    queue_log.ingest(wh, write(tmp_path / "a", LINES))
    copy = queue_log.ingest(wh, write(tmp_path / "b", LINES[1:] + LINES[:1]))
    assert (copy.lines_read, copy.loaded, copy.duplicates) == (5, 0, 5)
    assert wh.count("calls") == 2
    assert wh.count("queue_log_events") == 5


def test_grown_file_loads_only_new_lines(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path / "queue_log", LINES[:3])
    queue_log.ingest(wh, path)
    write(path, LINES)
    grown = queue_log.ingest(wh, path)
    assert (grown.lines_read, grown.loaded, grown.duplicates) == (2, 2, 0)
    assert [c["outcome"] for c in calls(wh, ("outcome",))] == ["abandoned", "answered"]


def test_rotated_file_is_read_from_its_start(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path / "queue_log", LINES[:2])
    queue_log.ingest(wh, path)
    write(path, LINES[2:])  # logrotate: a new file at the same path
    rotated = queue_log.ingest(wh, path)
    assert (rotated.lines_read, rotated.loaded) == (3, 3)
    assert wh.count("calls") == 2


def test_unterminated_last_line_is_loaded_once(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("\n".join(LINES[:2]))  # no newline at the end
    assert queue_log.ingest(wh, path).loaded == 2
    path.write_text("\n".join(LINES[:2]) + "\n" + "\n".join(LINES[2:]) + "\n")
    again = queue_log.ingest(wh, path)
    assert (again.lines_read, again.loaded, again.duplicates) == (4, 3, 1)
    assert wh.count("queue_log_events") == 5


def test_batches_commit_in_order_and_complete_calls_across_them(
    wh: Warehouse, tmp_path: Path
) -> None:
    path = write(tmp_path / "queue_log", LINES)
    report = queue_log.ingest(wh, path, IngestOptions(batch_bytes=100))
    assert report.batches >= 3  # 100-byte reads hold one or two of these ~60-byte lines
    assert wh.sql("SELECT count(*), sum(lines_read), sum(loaded) FROM ingest_batches") == [
        (report.batches, 5, 5)
    ]
    assert [c["outcome"] for c in calls(wh, ("outcome",))] == ["abandoned", "answered"]
