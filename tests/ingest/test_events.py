"""Live JSON events through the queue_log pipeline: calls and agent states by hand, batches
split anywhere, re-posts, and bad batches that write nothing."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from callkpi.ingest.events import EventError, EventSpool, parse_events
from callkpi.store import Warehouse

D = dt.datetime


def at(second: int, minute: int = 0) -> str:
    """10:MM:SS Moscow time (07:MM:SS UTC) on 24 Nov 2026."""
    return f"2026-11-24T10:{minute:02d}:{second:02d}+03:00"


def utc(second: int, minute: int = 0) -> dt.datetime:
    return D(2026, 11, 24, 7, minute, second)


CALLS = [
    {"type": "call_entered", "at": at(1), "call_id": "c1", "queue": "q",
     "caller": "+79161234567", "position": 1},
    {"type": "call_entered", "at": at(2), "call_id": "c2", "queue": "q"},
    {"type": "call_answered", "at": at(11), "call_id": "c1", "queue": "q", "agent": "a1"},
    {"type": "call_abandoned", "at": at(40), "call_id": "c2", "queue": "q"},
    {"type": "call_ended", "at": at(11, 1), "call_id": "c1", "queue": "q", "ended_by": "agent"},
]
COLUMNS = ("call_id, queue, tenant, agent, outcome, entered_at, answered_at, ended_at, wait_s, "
           "talk_s, ended_by")


def calls(wh: Warehouse) -> list[tuple[Any, ...]]:
    return wh.sql(f"SELECT {COLUMNS} FROM calls ORDER BY call_id")


EXPECTED = [
    ("c1", "q", "acme", "a1", "answered", utc(1), utc(11), utc(11, 1), 10.0, 60.0, "agent"),
    ("c2", "q", "acme", None, "abandoned", utc(2), None, utc(40), 38.0, None, None),
]


def test_a_call_answered_and_one_abandoned(wh: Warehouse, tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool")
    report = spool.post(wh, CALLS, tenant="acme")
    assert (report.loaded, report.rejected_total) == (5, 0)
    assert calls(wh) == EXPECTED
    # The spool holds the lines app_queue would have written.
    assert (tmp_path / "spool" / "acme.queue_log").read_text().splitlines() == [
        "1795503601|c1|q|NONE|ENTERQUEUE||+79161234567|1",
        "1795503602|c2|q|NONE|ENTERQUEUE|||",
        "1795503611|c1|q|a1|CONNECT|10||",
        "1795503640|c2|q|NONE|ABANDON|1||38",
        "1795503671|c1|q|a1|COMPLETEAGENT|10|60|1",
    ]


@pytest.mark.parametrize("cuts", [(1, 2, 3, 4), (2,), (3,), (4,)])
def test_batches_split_anywhere_give_the_same_calls(wh: Warehouse, tmp_path: Path,
                                                    cuts: tuple[int, ...]) -> None:
    spool = EventSpool(tmp_path / "spool")
    bounds = [0, *cuts, len(CALLS)]
    for lo, hi in itertools.pairwise(bounds):
        spool.post(wh, CALLS[lo:hi], tenant="acme")
    assert calls(wh) == EXPECTED


def test_in_progress_until_the_end_arrives(wh: Warehouse, tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool")
    spool.post(wh, CALLS[:3], tenant="acme")
    assert [r[4] for r in calls(wh)] == ["in_progress", "in_progress"]


def test_posting_the_same_batch_again_adds_nothing(wh: Warehouse, tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool")
    spool.post(wh, CALLS[:2], tenant="acme")
    again = spool.post(wh, CALLS[:2], tenant="acme")
    assert (again.loaded, again.duplicates) == (0, 2)
    spool.post(wh, CALLS[2:], tenant="acme")
    assert calls(wh) == EXPECTED


def test_epoch_seconds_and_iso_times_are_the_same(wh: Warehouse, tmp_path: Path) -> None:
    iso, epoch = parse_events([
        {"type": "call_entered", "at": "2026-11-24T07:00:01Z", "call_id": "x", "queue": "q"},
        {"type": "call_entered", "at": 1795503601, "call_id": "x", "queue": "q"},
    ])
    assert iso.epoch == epoch.epoch == 1795503601


def test_agent_login_pause_and_logout(wh: Warehouse, tmp_path: Path) -> None:
    EventSpool(tmp_path / "spool").post(wh, [
        {"type": "agent_logged_in", "at": at(0), "agent": "a1", "queue": "q"},
        {"type": "agent_paused", "at": at(0, 5), "agent": "a1", "reason": "lunch"},
        {"type": "agent_unpaused", "at": at(0, 35), "agent": "a1"},
        {"type": "agent_logged_out", "at": at(0, 50), "agent": "a1", "queue": "q"},
    ])
    rows = wh.sql("SELECT queue, state, reason, start_at, end_at FROM agent_states "
                  "WHERE agent = 'a1' ORDER BY state, queue NULLS FIRST")
    assert rows == [
        (None, "logged_in", None, utc(0), utc(0, 50)),
        ("q", "logged_in", None, utc(0), utc(0, 50)),
        (None, "paused", "lunch", utc(0, 5), utc(0, 35)),
    ]


@pytest.mark.parametrize(("event", "field", "message"), [
    ({"type": "call_entered", "at": "2026-11-24T10:00:00", "call_id": "c", "queue": "q"},
     "at", "needs its UTC offset"),
    ({"type": "call_parked", "at": at(0)}, "type", "Input should be"),
    ({"type": "call_answered", "at": at(0), "call_id": "c", "queue": "q"}, "agent",
     "required for call_answered"),
    ({"type": "call_entered", "at": at(0), "call_id": "c", "queue": "a|b"}, "queue",
     "must not contain '|'"),
    ({"type": "call_entered", "at": at(0), "call_id": "c", "queue": "q", "colour": "red"},
     "colour", "Extra inputs"),
    ({"type": "call_entered", "at": True, "call_id": "c", "queue": "q"}, "at", "epoch"),
])
def test_a_bad_event_is_named_and_nothing_is_written(
    wh: Warehouse, tmp_path: Path, event: dict[str, Any], field: str, message: str
) -> None:
    spool = EventSpool(tmp_path / "spool")
    with pytest.raises(EventError) as caught:
        spool.post(wh, [CALLS[0], event], tenant="acme")
    [problem] = caught.value.problems
    assert (problem.index, problem.field) == (1, field)
    assert message in problem.message
    assert not (tmp_path / "spool" / "acme.queue_log").exists()
    assert calls(wh) == []


@pytest.mark.parametrize(("events", "message"), [
    ([CALLS[2]], "never entered queue q"),
    ([CALLS[0], {**CALLS[4], "call_id": "c1"}], "was not answered: post call_abandoned"),
    ([CALLS[0], CALLS[2], {**CALLS[3], "call_id": "c1"}], "already answered: post call_ended"),
    ([{**CALLS[0], "at": at(30)}, CALLS[2]], "before the call entered"),
])
def test_events_that_contradict_the_call_are_refused(
    wh: Warehouse, tmp_path: Path, events: list[dict[str, Any]], message: str
) -> None:
    spool = EventSpool(tmp_path / "spool")
    with pytest.raises(EventError, match=message):
        spool.post(wh, events, tenant="acme")
    assert calls(wh) == []


def test_a_tenant_name_cannot_leave_the_spool_directory(wh: Warehouse, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        EventSpool(tmp_path).post(wh, CALLS[:1], tenant="../etc")


def test_a_new_spool_finds_the_open_visits_in_the_warehouse(
    wh: Warehouse, tmp_path: Path
) -> None:
    # As after a restart: the second spool never saw the calls enter.
    EventSpool(tmp_path / "spool").post(wh, CALLS[:2], tenant="acme")
    EventSpool(tmp_path / "spool").post(wh, CALLS[2:], tenant="acme")
    assert calls(wh) == EXPECTED


class _Statements:
    """The warehouse connection, noting the SQL it is given."""

    def __init__(self, con: Any) -> None:
        self._con, self.seen = con, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(query)
        return self._con.execute(query, *args, **kwargs)

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(query)
        return self._con.sql(query, *args, **kwargs)


def test_the_spool_remembers_the_open_visits_it_loaded(wh: Warehouse, tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool")
    spool.post(wh, CALLS[:2], tenant="acme")
    spy = _Statements(wh.con)
    wh.con = spy  # type: ignore[assignment]
    try:
        spool.post(wh, CALLS[2:4], tenant="acme")
    finally:
        wh.con = spy._con
    assert not [q for q in spy.seen if "outcome = 'in_progress'" in q]  # no look-up
    # c1 is still open: remembered with its answer; c2 ended and is forgotten.
    with pytest.raises(EventError, match="never entered queue q"):
        spool.post(wh, [{**CALLS[3], "at": at(50)}], tenant="acme")
    spool.post(wh, CALLS[4:], tenant="acme")
    assert calls(wh) == EXPECTED


def test_a_load_that_rejects_a_line_forgets_the_visits(wh: Warehouse, tmp_path: Path) -> None:
    # 1970-01-02 is a valid event time but not a queue_log one (quarantined: bad time),
    # so the call never entered as far as the warehouse knows.
    spool = EventSpool(tmp_path / "spool")
    report = spool.post(wh, [{"type": "call_entered", "at": 86_400, "call_id": "old",
                              "queue": "q"}], tenant="acme")
    assert (report.loaded, report.rejected_total) == (0, 1)
    with pytest.raises(EventError, match="call old never entered queue q"):
        spool.post(wh, [{"type": "call_answered", "at": 86_410, "call_id": "old",
                         "queue": "q", "agent": "a1"}], tenant="acme")


def test_a_failed_load_leaves_no_line_for_a_later_one(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callkpi.ingest import queue_log

    spool = EventSpool(tmp_path / "spool")
    spool.post(wh, CALLS[:2], tenant="acme")
    before = (tmp_path / "spool" / "acme.queue_log").read_text()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patched:  # the load fails inside its transaction
        patched.setattr(queue_log, "rebuild_calls", crash)
        with pytest.raises(RuntimeError, match="disk is full"):
            spool.post(wh, CALLS[2:4], tenant="acme")
    assert (tmp_path / "spool" / "acme.queue_log").read_text() == before
    # The next load takes only its own events: the refused answer and abandon stay out.
    spool.post(wh, [{"type": "call_entered", "at": at(50), "call_id": "c3", "queue": "q"}],
               tenant="acme")
    assert wh.sql("SELECT call_id, outcome FROM calls ORDER BY call_id") == [
        ("c1", "in_progress"), ("c2", "in_progress"), ("c3", "in_progress")]
    spool.post(wh, CALLS[2:], tenant="acme")
    assert calls(wh)[:2] == EXPECTED


def test_a_tenant_whose_load_fails_does_not_fail_the_others(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callkpi.ingest import queue_log

    ingest = queue_log.ingest

    def failing_for_beta(wh: Warehouse, path: Path, options: Any) -> Any:
        if options.tenant == "beta":
            raise RuntimeError("beta's load failed")
        return ingest(wh, path, options)

    monkeypatch.setattr(queue_log, "ingest", failing_for_beta)
    spool = EventSpool(tmp_path / "spool")
    acme, beta = spool.post_group(wh, [(parse_events(CALLS[:2]), "acme"),
                                       (parse_events(CALLS[:2]), "beta")])
    assert not isinstance(acme, Exception) and acme.loaded == 2
    assert isinstance(beta, RuntimeError)
    assert wh.sql("SELECT DISTINCT tenant FROM calls") == [("acme",)]
    assert (tmp_path / "spool" / "beta.queue_log").read_text() == ""
