"""The command line as users and scripts call it: a real process, exit codes, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

T0 = 1767261600  # 2026-01-01 10:00:00 UTC


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callkpi", *args], capture_output=True,
                          text=True, timeout=120)


def _queue_log(path: Path) -> Path:
    lines = [
        f"{T0}|c1|support|NONE|ENTERQUEUE||79161234567|1",
        f"{T0 + 9}|c1|support|Agent/1|CONNECT|9|c1.1|2",
        f"{T0 + 99}|c1|support|Agent/1|COMPLETECALLER|9|90|1",
        f"{T0 + 3600}|c2|sales|NONE|ENTERQUEUE||79161234568|1",
        f"{T0 + 3604}|c2|sales|NONE|ABANDON|1|1|4",
        f"{T0 + 3700}|c3|sales|NONE|ENTERQUEUE||79161234569|1",
        f"{T0 + 3760}|c3|sales|NONE|EXITWITHTIMEOUT|1|1|60",
        "not a queue_log line",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ingest_then_kpi_json(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    log = _queue_log(tmp_path / "queue_log")
    ingest = run("ingest", "queue-log", str(log), "--db", db, "--format", "json")
    assert ingest.returncode == 0, ingest.stderr
    report = json.loads(ingest.stdout)
    assert report[0]["loaded"] == 7
    assert report[0]["rejected_by_reason"] == {"too few fields": 1}
    assert "79161234567" not in ingest.stdout + ingest.stderr

    by_queue = run("kpi", "offered", "answered", "abandoned", "timed_out", "--db", db,
                   "--by", "queue", "--format", "json")
    assert by_queue.returncode == 0, by_queue.stderr
    assert json.loads(by_queue.stdout) == [
        {"queue": "sales", "offered": 2, "answered": 0, "abandoned": 1, "timed_out": 1},
        {"queue": "support", "offered": 1, "answered": 1, "abandoned": 0, "timed_out": 0},
    ]
    hourly = run("kpi", "offered", "--db", db, "--grain", "hour", "--tz", "Europe/Moscow",
                 "--from", "2026-01-01T13:00", "--to", "2026-01-01T14:00", "--format", "json")
    assert json.loads(hourly.stdout) == [
        {"period_start": "2026-01-01T13:00:00+03:00", "offered": 1}]
    csv_out = run("kpi", "answered", "--db", db, "--by", "agent", "--format", "csv",
                  "--where", "queue=support")
    assert csv_out.stdout.splitlines() == ["agent,answered", "Agent/1,1"]


def test_default_kpis_and_table_output(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    run("ingest", "queue-log", str(_queue_log(tmp_path / "queue_log")), "--db", db)
    table = run("kpi", "--db", db)
    assert table.returncode == 0
    for name in ("offered", "answered", "abandoned", "timed_out", "exited_key", "blocked",
                 "overflowed", "closed"):
        assert name in table.stdout


def test_bad_input_exits_1_with_a_message(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    missing = run("ingest", "queue-log", str(tmp_path / "nope"), "--db", db)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
    garbage = tmp_path / "garbage"
    garbage.write_text("hello\nworld\n")
    all_rejected = run("ingest", "queue-log", str(garbage), "--db", db)
    assert all_rejected.returncode == 1  # nothing could be loaded
    no_db = run("kpi", "--db", str(tmp_path / "absent.duckdb"))
    assert no_db.returncode == 1 and "no warehouse" in no_db.stderr
    run("ingest", "queue-log", str(_queue_log(tmp_path / "queue_log")), "--db", db)
    for args, message in [
        (("kpi", "nope", "--db", db), "unknown KPI 'nope'"),
        (("kpi", "--db", db, "--by", "colour"), "dimension 'colour'"),
        (("kpi", "--db", db, "--tz", "Mars/Base"), "unknown time zone"),
        (("kpi", "--db", db, "--from", "yesterday"), "--from 'yesterday'"),
        (("kpi", "--db", db, "--format", "xml"), "--format 'xml'"),
        (("ingest", "teleport", "x", "--db", db), "unknown source 'teleport'"),
        (("kpi", "--no-such-option"), "No such option"),
    ]:
        result = run(*args)
        assert result.returncode == 1, args
        assert message in result.stderr, (args, result.stderr)


def test_strict_exits_1_and_loads_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    strict = run("ingest", "queue-log", str(_queue_log(tmp_path / "queue_log")), "--db", db,
                 "--strict", "--format", "json")
    assert strict.returncode == 1
    assert json.loads(strict.stdout)[0]["loaded"] == 0
    count = run("kpi", "offered", "--db", db, "--format", "json")
    assert json.loads(count.stdout) == [{"offered": 0}]


def test_kpis_catalog(tmp_path: Path) -> None:
    listed = run("kpis", "list", "--format", "json")
    ids = [k["id"] for k in json.loads(listed.stdout)]
    assert {"offered", "answered", "abandoned", "service_level", "nps", "cac"} <= set(ids)
    shown = run("kpis", "show", "abandoned", "--format", "json")
    assert json.loads(shown.stdout)[0]["unit"] == "count"
    assert run("kpis", "show", "nope").returncode == 1
