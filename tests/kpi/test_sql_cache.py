"""The compiled-SQL disk cache (:mod:`callkpi.kpi.sql_cache`): a new process runs a shape
another process compiled without compiling it, with the same rows; anything that would
change the SQL finds no file; a damaged file is ignored and written again."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from callkpi.demo import build_demo
from callkpi.kpi import Compiler, KpiQuery, run_query, sql_cache
from callkpi.kpi.compiler import cache_info, clear_cache
from callkpi.store import Warehouse

QUERY = KpiQuery(
    kpis=("offered", "service_level", "p90_wait", "aht", "occupancy", "peak_interval_calls"),
    by=("queue",),
    grain="30min",
    tz="Europe/Berlin",
    start=dt.datetime(2026, 10, 24),
    end=dt.datetime(2026, 10, 27),
)
# A fresh interpreter runs QUERY (or its other day) and prints the rows and its counts.
CHILD = """
import datetime as dt, json, sys
from callkpi.kpi import KpiQuery, run_query
from callkpi.kpi.compiler import cache_info
from callkpi.store import Warehouse
spec = json.loads(sys.argv[2])
spec["start"], spec["end"] = (dt.datetime.fromisoformat(spec[k]) for k in ("start", "end"))
spec["kpis"], spec["by"] = tuple(spec["kpis"]), tuple(spec["by"])
with Warehouse(sys.argv[1], read_only=True) as wh:
    rows = run_query(wh, KpiQuery(**spec)).rows
print(json.dumps({"rows": rows, "info": cache_info()}, default=str))
"""


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sql-cache-demo")
    with Warehouse(root / "demo.duckdb") as wh:
        build_demo(wh, days=3, seed=5, end=dt.date(2026, 10, 26), data_dir=root / "data")
    return root / "demo.duckdb"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "sql"
    monkeypatch.setenv(sql_cache.ENV, str(folder))
    clear_cache()
    yield folder
    clear_cache()


def _child(db: Path, folder: Path, query: KpiQuery) -> dict[str, object]:
    spec = {
        "kpis": list(query.kpis),
        "by": list(query.by),
        "grain": query.grain,
        "tz": query.tz,
        "start": query.start.isoformat(),  # type: ignore[union-attr]
        "end": query.end.isoformat(),  # type: ignore[union-attr]
    }
    env = {**os.environ, sql_cache.ENV: str(folder)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_a_new_process_runs_the_sql_another_compiled(demo_file: Path, cache_dir: Path) -> None:
    first = _child(demo_file, cache_dir, QUERY)
    assert first["info"] == {"size": 1, "hits": 0, "disk_hits": 0, "misses": 1}
    assert len(list(cache_dir.glob("*.json"))) == 1
    second = _child(demo_file, cache_dir, QUERY)
    assert second["info"] == {"size": 1, "hits": 0, "disk_hits": 1, "misses": 0}
    assert second["rows"] == first["rows"]
    # another day of the same shape: the file's SQL, the numbers of a fresh compile
    other = replace(QUERY, start=dt.datetime(2026, 10, 25), end=dt.datetime(2026, 10, 26))
    third = _child(demo_file, cache_dir, other)
    assert third["info"] == {"size": 1, "hits": 0, "disk_hits": 1, "misses": 0}
    with Warehouse(demo_file, read_only=True) as wh:
        fresh = Compiler(wh, cached=False).run(other).rows
    assert third["rows"] == json.loads(json.dumps(fresh, default=str))
    assert any(r["offered"] for r in fresh)


def test_what_changes_the_sql_finds_no_file(demo_file: Path, cache_dir: Path) -> None:
    with Warehouse(demo_file, read_only=True) as wh:
        run_query(wh, QUERY)
        for changed in (
            replace(QUERY, tz="Asia/Kolkata"),  # other offsets
            replace(QUERY, grain="hour"),
            replace(QUERY, kpis=("offered", "aht")),
        ):
            clear_cache()
            run_query(wh, changed)
            assert cache_info()["misses"] == 1, changed
        clear_cache()
        run_query(wh, QUERY)  # and the first shape is still there
        assert cache_info() == {"size": 1, "hits": 0, "disk_hits": 1, "misses": 0}
    assert len(list(cache_dir.glob("*.json"))) == 4


def _same_record(a: dict[str, object], b: dict[str, object]) -> bool:
    """Equal but for the name a compile gives the calendar table (new every time)."""

    def plain(r: dict[str, object]) -> dict[str, object]:
        return r | {"sql": str(r["sql"]).replace(str(r["calendar"]), "CAL"), "calendar": None}

    return plain(a) == plain(b)


def test_a_damaged_file_is_ignored_and_written_again(demo_file: Path, cache_dir: Path) -> None:
    with Warehouse(demo_file, read_only=True) as wh:
        expected = run_query(wh, QUERY).rows
        (path,) = cache_dir.glob("*.json")
        good = json.loads(path.read_text())
        damages = (
            '{"sql": "SELECT',
            json.dumps({"sql": 1}),
            "[]",
            json.dumps(good | {"schema": {"offered": "no such type"}}),
            json.dumps(good | {"sql": "SELECT * FROM no_such_table"}),  # read, fails, replaced
        )
        for damage in damages:
            path.write_text(damage)
            clear_cache()
            assert run_query(wh, QUERY).rows == expected
            assert cache_info()["misses"] == 1
            assert _same_record(json.loads(path.read_text()), good)  # written again


def test_off_writes_nothing(
    demo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sql_cache.ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    clear_cache()
    with Warehouse(demo_file, read_only=True) as wh:
        run_query(wh, QUERY)
        clear_cache()
        run_query(wh, QUERY)
    assert cache_info()["misses"] == 1
    assert list(tmp_path.iterdir()) == []
    monkeypatch.delenv(sql_cache.ENV)
    assert sql_cache.directory() == tmp_path / "callkpi" / "sql"
