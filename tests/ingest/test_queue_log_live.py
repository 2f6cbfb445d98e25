"""queue_log under real conditions: a process killed mid-ingest, and a log being written."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from callkpi.ingest import queue_log
from callkpi.ingest.options import IngestOptions
from callkpi.store import Warehouse

T0 = 1767261600

KILLER = """
import os, signal, sys
from callkpi.ingest import queue_log
from callkpi.ingest.options import IngestOptions
from callkpi.store import Warehouse

db, log, kill_in_batch, batch_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
target = sys.argv[5]
rebuild, batches = getattr(queue_log, target), []

def rebuild_then_die(con, **kwargs):
    # Inside the batch's transaction: events journaled, calls rebuilt, not committed.
    rebuild(con, **kwargs)
    batches.append(1)
    if len(batches) == kill_in_batch:
        os.kill(os.getpid(), signal.SIGKILL)

setattr(queue_log, target, rebuild_then_die)
queue_log.ingest(Warehouse(db), log, IngestOptions(batch_bytes=batch_bytes))
"""


def _log(path: Path, calls: int) -> Path:
    lines = []
    for i in range(calls):
        t = T0 + 60 * i
        lines += [
            f"{t}|c{i}|support|NONE|ENTERQUEUE||555{i:04d}|1",
            f"{t + 5}|c{i}|support|Agent/{i % 3}|CONNECT|5|c{i}.1|2",
            f"{t + 50}|c{i}|support|Agent/{i % 3}|COMPLETECALLER|5|45|1",
        ]
    lines += [f"{T0}|NONE|support|Agent/{a}|PAUSE|lunch" for a in range(3)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _killed_ingest(db: Path, log: Path, kill_in_batch: int, batch_bytes: int,
                   target: str = "rebuild_calls") -> int:
    """Ingest in another process that SIGKILLs itself in its n-th call of ``target``."""
    env = dict(os.environ, PYTHONPATH=str(Path(queue_log.__file__).parents[2]))
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(db), str(log), str(kill_in_batch), str(batch_bytes),
         target],
        env=env,
        capture_output=True,
        timeout=120,
    )
    return proc.returncode


def _snapshot(wh: Warehouse) -> dict[str, list[tuple[object, ...]]]:
    return {
        "calls": wh.sql("SELECT * EXCLUDE (source_ref) FROM calls ORDER BY call_id, segment"),
        "states": wh.sql("SELECT * EXCLUDE (source_ref) FROM agent_states ORDER BY ALL"),
        "events": wh.sql("SELECT event_key FROM queue_log_events ORDER BY event_key"),
    }


def test_killed_in_the_first_batch_leaves_nothing(tmp_path: Path) -> None:
    log = _log(tmp_path / "queue_log", calls=40)
    db = tmp_path / "w.duckdb"
    assert _killed_ingest(db, log, kill_in_batch=1, batch_bytes=1 << 20) == -9
    with Warehouse(db) as wh:
        for table in (
            "queue_log_events",
            "calls",
            "agent_states",
            "ingest_files",
            "ingest_batches",
            "quarantine",
        ):
            assert wh.count(table) == 0, table
        report = queue_log.ingest(wh, log)
        assert (report.lines_read, report.loaded) == (123, 123)
        assert wh.count("calls", "outcome = 'answered'") == 40


def test_killed_in_a_later_batch_keeps_whole_batches_and_resumes(tmp_path: Path) -> None:
    log = _log(tmp_path / "queue_log", calls=40)
    db = tmp_path / "w.duckdb"
    assert _killed_ingest(db, log, kill_in_batch=3, batch_bytes=1500) == -9
    with Warehouse(db) as wh:
        committed = wh.sql("SELECT count(*), sum(lines_read) FROM ingest_batches")[0]
        assert committed[0] == 2
        # Exactly the lines of the committed batches are in, and the resume point agrees.
        assert wh.count("queue_log_events") == committed[1]
        assert wh.sql("SELECT lines_read FROM ingest_files") == [(committed[1],)]
        resumed = queue_log.ingest(wh, log, IngestOptions(batch_bytes=1500))
        assert resumed.loaded == 123 - committed[1]
        assert resumed.duplicates == 0
        after_crash = _snapshot(wh)
    with Warehouse(tmp_path / "clean.duckdb") as clean:
        queue_log.ingest(clean, log)
        assert _snapshot(clean) == after_crash


def test_killed_while_rebuilding_sessions_leaves_them_for_the_next_run(tmp_path: Path) -> None:
    log = _log(tmp_path / "queue_log", calls=5)
    db = tmp_path / "w.duckdb"
    # The batches commit, then the process dies rebuilding the agents' sessions.
    assert _killed_ingest(db, log, kill_in_batch=1, batch_bytes=1 << 20,
                          target="rebuild_sessions") == -9
    with Warehouse(db) as wh:
        assert wh.count("queue_log_events") == 18
        assert wh.count("agent_states", "state = 'paused'") == 0
        assert wh.sql("SELECT agent FROM pending_agent_states ORDER BY agent") == [
            ("Agent/0",), ("Agent/1",), ("Agent/2",)]
        other = tmp_path / "other_queue_log"
        other.write_text("")
        queue_log.ingest(wh, other)  # any later ingest settles what was left
        assert wh.count("pending_agent_states") == 0
        assert wh.count("agent_states", "state = 'paused' AND queue IS NULL") == 3


def test_follow_loads_lines_as_they_are_written(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("")
    with Warehouse(tmp_path / "w.duckdb") as wh:
        stop = threading.Event()
        follower = threading.Thread(
            target=queue_log.follow, args=(wh, log), kwargs={"poll_s": 0.05, "stop": stop}
        )
        follower.start()
        reader = wh.con.cursor()

        def outcome() -> list[tuple[object, ...]]:
            return reader.execute("SELECT outcome, talk_s FROM calls").fetchall()

        def wait_for(expected: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
            deadline = time.monotonic() + 10
            while outcome() != expected and time.monotonic() < deadline:
                time.sleep(0.02)
            return outcome()

        try:
            with log.open("a") as fh:
                fh.write(f"{T0}|c1|support|NONE|ENTERQUEUE||5550000|1\n")
                fh.write(f"{T0 + 4}|c1|support|Agent/1|CONNECT|4|c1.1|1\n")
            assert wait_for([("in_progress", None)]) == [("in_progress", None)]
            with log.open("a") as fh:  # Asterisk is half-way through writing a line
                fh.write(f"{T0 + 64}|c1|support|Agent/1|COMPLETEAGENT|4|6")
            time.sleep(0.3)
            assert outcome() == [("in_progress", None)]
            with log.open("a") as fh:
                fh.write("0|1\n")
            assert wait_for([("answered", 60.0)]) == [("answered", 60.0)]
        finally:
            stop.set()
            follower.join(timeout=10)
        assert not follower.is_alive()


def test_cli_follow_stops_after_idle_timeout(tmp_path: Path) -> None:
    log = _log(tmp_path / "queue_log", calls=2)
    db = tmp_path / "w.duckdb"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "callkpi",
            "ingest",
            "queue-log",
            str(log),
            "--db",
            str(db),
            "--follow",
            "--idle-timeout",
            "0.5",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"loaded": 9' in proc.stdout
    assert time.monotonic() - started < 30
