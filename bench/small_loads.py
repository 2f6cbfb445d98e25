"""The fixed cost of a small queue_log load into a warehouse that already holds a lot.

    python bench/small_loads.py [--base-lines 700000] [--sizes 200,2000] [--repeat 5]

Live ingestion (``--follow``, posted events) loads a few hundred lines at a time into a
warehouse that already holds the day's or month's journal. This loads the first
``--base-lines`` lines of the generated 1M-line queue_log (bench/data/, made by
``bench/run.py ingest --lines 1000000``) into a fresh warehouse, then appends the next
lines in loads of each size and times each ``queue_log.ingest`` call in-process (wall
and process CPU seconds, median of ``--repeat``). Also counts the SQL statements a load
runs. Timings only; nothing here is a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from callkpi.ingest import queue_log  # noqa: E402
from callkpi.store import Warehouse  # noqa: E402


class _Timing:
    """A connection wrapper that sums the wall time of each statement (by its first
    words)."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.spent: dict[str, float] = {}
        self.commits: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._con.execute(query, *args, **kwargs)
        finally:
            spent = time.perf_counter() - started
            key = " ".join(query.split())[:70]
            self.spent[key] = self.spent.get(key, 0.0) + spent
            if key == "COMMIT":
                self.commits.append(spent)


class _Counting:
    """A connection wrapper that counts ``execute``/``sql`` calls."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self._con.execute(*args, **kwargs)

    def sql(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self._con.sql(*args, **kwargs)


def _time_parts() -> dict[str, float]:
    """Wrap the roll-up refresh's parts so that each load's wall time in them is summed."""
    from callkpi.store import rollup

    parts: dict[str, float] = {}
    names = ("refresh", "_refresh_next_contacts", "_insert_quarter_hours")
    for name in (*names, "_update_coarse", "_recompute_coarse", "_refresh_coarse"):
        if not hasattr(rollup, name):
            continue
        parts[name] = 0.0
        original = getattr(rollup, name)

        def timed(*a: Any, _f: Any = original, _n: str = name, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                parts[_n] += time.perf_counter() - t

        setattr(rollup, name, timed)
    return parts


def _live(
    seconds: float, parts: dict[str, float], statements: bool = False, floor: bool = False
) -> None:
    """Posted events at a simulated 2,000 a second, loaded every 0.5 s of simulated time
    through the live path (EventSpool.post_group), in-process; prints per simulated minute
    the median wall and CPU time of a load and of the refresh's parts (``floor``: and of a
    publication's read of the floor, :func:`callkpi.live.read_floor`, after each load)."""
    import datetime as dt
    import importlib.util

    from callkpi.ingest.events import EventSpool, parse_events
    from callkpi.live import tune_gc_for_live_loads

    tune_gc_for_live_loads()  # as the server does

    spec = importlib.util.spec_from_file_location("bench_server", HERE / "server.py")
    assert spec and spec.loader
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    sources = [server.Calls(f"s{i}-") for i in range(4)]
    t0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC).timestamp()
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "live.duckdb")
        spool = EventSpool(Path(tmp) / "spool")
        timing = _Timing(wh.con)
        if statements:
            wh.con = timing  # type: ignore[assignment]
        sim, minute, rows, floors = 0.0, 0, [], []
        while sim < seconds:
            sim += 0.5
            batches = [(parse_events(s.events(250, t0 + sim)), None) for s in sources]
            for k in parts:
                parts[k] = 0.0
            wall, cpu = time.perf_counter(), time.process_time()
            spool.post_group(wh, batches)
            rows.append((time.perf_counter() - wall, time.process_time() - cpu, dict(parts)))
            if floor:
                from callkpi.live import read_floor

                started = time.process_time()
                read_floor(wh, now=dt.datetime.fromtimestamp(t0 + sim, dt.UTC))
                floors.append(time.process_time() - started)
            if sim >= (minute + 1) * 60 or sim >= seconds:
                calls = wh.sql("SELECT count(*) FROM calls")[0][0]
                split = " ".join(
                    f"{k} {statistics.median(r[2][k] for r in rows) * 1000:.0f}" for k in parts
                )
                print(
                    f"| {minute * 60:.0f}-{sim:.0f} s | {calls:,} calls | "
                    f"{statistics.median(r[0] for r in rows) * 1000:.0f} ms | "
                    f"{statistics.median(r[1] for r in rows) * 1000:.0f} ms CPU | {split} |",
                    flush=True,
                )
                if floors:
                    print(
                        f"    floor read: {statistics.median(floors) * 1000:.0f} ms CPU median, "
                        f"{max(floors) * 1000:.0f} ms max",
                        flush=True,
                    )
                if statements:
                    top = sorted(timing.spent.items(), key=lambda kv: -kv[1])[:8]
                    for key, spent in top:
                        print(f"    {spent / len(rows) * 1000:5.1f} ms/load  {key}", flush=True)
                    commits = sorted(timing.commits)
                    print(
                        f"    COMMIT: median {statistics.median(commits) * 1000:.0f} ms, "
                        f"90 % {commits[int(0.9 * len(commits))] * 1000:.0f} ms, "
                        f"max {commits[-1] * 1000:.0f} ms",
                        flush=True,
                    )
                    timing.spent, timing.commits = {}, []
                minute, rows, floors = minute + 1, [], []
        wh.con = timing._con
        wh.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-lines", type=int, default=700_000)
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--split",
        action="store_true",
        help="also time the roll-up refresh's parts per load (next contacts, coarse levels)",
    )
    parser.add_argument(
        "--live-seconds",
        type=float,
        default=0,
        help="instead: post the live server benchmark's events (bench/server.py, 2,000 a "
        "second, a load every 0.5 s of simulated time) for this many simulated seconds into "
        "a fresh warehouse, and print each minute's median load cost",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="with --live-seconds: each minute's 8 dearest SQL statements per load",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="with --live-seconds: also time a publication's read of the floor after each load",
    )
    args = parser.parse_args()
    parts = _time_parts() if args.split else {}
    if args.live_seconds:
        _live(args.live_seconds, parts, args.statements, args.floor)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    source = HERE / "data" / "queue_log_1000000"
    if not source.exists():
        sys.exit(f"{source} is missing: run bench/run.py ingest --lines 1000000 first")
    with source.open("rb") as fh:
        lines = fh.readlines()
    need = args.base_lines + sum(sizes) * args.repeat
    if need > len(lines):
        sys.exit(f"needs {need:,} lines, the file has {len(lines):,}")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "queue_log"
        log.write_bytes(b"".join(lines[: args.base_lines]))
        wh = Warehouse(Path(tmp) / "small.duckdb")
        started = time.perf_counter()
        queue_log.ingest(wh, log)
        print(
            f"base: {args.base_lines:,} lines loaded in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        counting = _Counting(wh.con)
        wh.con = counting  # type: ignore[assignment]
        at = args.base_lines
        for size in sizes:
            walls, cpus, statements = [], [], []
            split: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                with log.open("ab") as fh:
                    fh.write(b"".join(lines[at : at + size]))
                at += size
                counting.statements = 0
                for k in parts:
                    parts[k] = 0.0
                wall, cpu = time.perf_counter(), time.process_time()
                report = queue_log.ingest(wh, log)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                statements.append(counting.statements)
                assert report.lines_read == size, report
                for k, v in parts.items():
                    split.setdefault(k, []).append(v)
            print(
                f"| {size:,} lines | {statistics.median(walls) * 1000:.0f} ms | "
                f"{statistics.median(cpus) * 1000:.0f} ms CPU | "
                f"{statistics.median(statements):.0f} statements |",
                flush=True,
            )
            for k, v in split.items():
                print(f"    {k}: {statistics.median(v) * 1000:.0f} ms (median)", flush=True)
        wh.con = counting._con
        wh.close()


if __name__ == "__main__":
    main()
