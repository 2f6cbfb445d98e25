"""``callkpi insights ...`` in a real process: JSON rows, the reading, the default period,
bad input; and every command documented in docs/insights.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from insight_rows import at, call, load, minutes

from callkpi.cli.insights import app
from callkpi.store import Warehouse

DOCS = Path(__file__).resolve().parents[2] / "docs" / "insights.md"
# `callkpi insights ...` through the main CLI's error handling (exit codes of DESIGN.md),
# registering the sub-app if the main CLI does not yet.
MAIN_WITH_INSIGHTS = """
import sys
from callkpi.cli import app, main
from callkpi.cli.insights import app as insights
if not any(group.name == "insights" for group in app.registered_groups):
    app.add_typer(insights, name="insights")
main(["insights", *sys.argv[1:]])
"""


def _registered() -> bool:
    from callkpi.cli import app as main_app

    return any(group.name == "insights" for group in main_app.registered_groups)


def run(*args: str, main: bool = False) -> subprocess.CompletedProcess[str]:
    command = ["-m", "callkpi", "insights"] if main else ["-c", MAIN_WITH_INSIGHTS]
    return subprocess.run(
        [sys.executable, *command, *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    """September and October 2026: 40 calls of A (handle 100 s, 10 transferred) and 5 of B
    on 5 October, one call on 30 September; data to 31 October, so October is the default
    period."""
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        rows = [
            call(f"a{i}", minutes(at(5, "09:00"), i), agent="A", talk_s=100.0, transferred=i < 10)
            for i in range(40)
        ]
        rows += [
            call(f"b{i}", minutes(at(5, "11:00"), i), agent="B", talk_s=300.0) for i in range(5)
        ]
        rows += [
            call("sep", at(30, "10:00", 9), agent="B", talk_s=300.0),
            call("end", at(31, "17:00"), "abandoned", wait_s=20.0),
        ]
        load(wh, "calls", rows)
    return str(path)


def test_json_rows_and_the_reading(db: str) -> None:
    done = run("aht-transfers", "--db", db, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    # Center: 45 answered, (40 x 100 + 5 x 300) / 45 = 122.2 s; 10 / 45 = 0.2222 transferred
    # A: 100 s < 122.2, 10/40 = 0.25 > 0.2222: passes calls on; B: 5 calls, too few.
    assert [
        (r["agent"], r["answered"], r["aht"], r["transfer_rate"], r["quadrant"]) for r in rows
    ] == [
        ("A", 40, 100.0, 0.25, "low AHT, high transfers"),
        ("B", 5, 300.0, 0.0, None),
    ]
    assert rows[0]["transfer_rate__n"] == 40
    assert rows[1]["note"] == "too few to rank (5 answered < 30)"
    assert "In 2026-10 the center answered 45 calls" in done.stderr


def test_table_period_and_time_zone(db: str) -> None:
    done = run("aht-transfers", "--db", db, "--period", "2026-09", "--tz", "Europe/Moscow")
    assert done.returncode == 0, done.stderr
    assert "AHT vs transfer rate per agent, 2026-09 (Europe/Moscow)" in done.stdout
    assert "In 2026-09 the center answered 1 call with" in done.stdout


def test_bad_input(db: str, tmp_path: Path) -> None:
    # DESIGN: bad input exits 1 with a message on stderr that says what and where
    bad_period = run("patience", "--db", db, "--period", "October")
    assert bad_period.returncode == 1
    assert "period 'October': expected a month (2026-10)" in bad_period.stderr
    missing = run("locations", "--db", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 1
    assert f"no warehouse at {tmp_path / 'none.duckdb'}" in missing.stderr
    assert not (tmp_path / "none.duckdb").exists()
    bad_format = run("wrap-codes", "--db", db, "--format", "xml")
    assert bad_format.returncode == 1 and "--format 'xml'" in bad_format.stderr
    bad_zone = run("best-time", "--db", db, "--tz", "Mars/Base")
    assert bad_zone.returncode == 1 and "unknown time zone 'Mars/Base'" in bad_zone.stderr
    empty = tmp_path / "empty.duckdb"
    Warehouse(empty).close()
    nothing = run("cac-ltv", "--db", str(empty))
    assert nothing.returncode == 1 and "has no calls, dials or agent logins" in nothing.stderr
    bad_target = run("availability", "--db", db, "--target", "80")
    assert bad_target.returncode == 1 and "--target 80.0" in bad_target.stderr


@pytest.mark.skipif(not _registered(), reason="`insights` is not registered in the main CLI")
def test_through_the_main_cli(db: str) -> None:
    done = run("wrap-codes", "--db", db, "--format", "json", main=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["answered"] == 45
    bad = run("best-time", "--db", db, "--period", "2026-13", main=True)
    assert bad.returncode == 1


def test_every_command_is_documented() -> None:
    docs = DOCS.read_text("utf-8")
    for command in app.registered_commands:
        assert f"## `{command.name}`" in docs, command.name
