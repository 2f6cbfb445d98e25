"""Benchmarks. Timings live here, never in unit tests.

    python bench/run.py ingest [--lines 10000000] [--repeat 1]
    python bench/run.py kpi [--calls 20000000] [--repeat 3]

``ingest``: load a generated queue_log with ``callkpi ingest queue-log`` into a fresh
warehouse (a separate process, so its peak memory is measured on its own), and, as the
floor, DuckDB's own ``read_csv`` of the same file into a table; and, as the bound, the
least a loader of this design must do (``BOUND``). Prints a Markdown row
for bench/README.md and writes the numbers to bench/results/.

``kpi``: the inbound KPI catalog by queue x 30 minutes over a month of calls, against a
hand-written DuckDB query and pandas, and dashboard queries from the roll-up (bench/kpi.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate_queue_log import generate  # noqa: E402

import kpi  # noqa: E402
from callkpi.ingest.queue_log_events import Role, events_with  # noqa: E402

FLOOR = """
import duckdb, sys, time
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
columns = {f"c{i}": "VARCHAR" for i in range(12)}
started = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, delim='|', header=false, "
            "auto_detect=false, strict_mode=false, null_padding=true, quote='', escape='', "
            "columns=" + repr(columns) + ")", [sys.argv[1]])
elapsed = time.perf_counter() - started
print(elapsed, con.execute("SELECT count(*) FROM t").fetchall()[0][0],
      con.execute("SELECT count(*) FROM t WHERE c4 = 'ENTERQUEUE'").fetchall()[0][0])
"""

# The bound: the least a loader into this warehouse's design must do, with DuckDB doing
# all of it in four statements and no checks. It reads the file, journals every line
# (its fields, data list and content hash) into a table in a database file, groups the
# visit events into one row per call, writes the ringing and talking intervals, and
# checkpoints. It does no validation, quarantine, duplicate check, line numbers, sessions,
# roll-up or next contacts, so no real loader of this design can beat it; the ingest's
# distance to it is what better code could still win, and its distance to the floor is
# the design's own price. Which events end a visit and which are an agent's session events
# come from callkpi's event table (argv 3 and 4, comma-separated).
BOUND = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
columns = {f"c{i}": "VARCHAR" for i in range(12)}
ends, sessions = ("(" + ", ".join(f"'{e}'" for e in arg.split(",")) + ")" for arg in sys.argv[3:5])
started = time.perf_counter()
con.execute("CREATE TABLE journal AS SELECT make_timestamp(c0::BIGINT * 1000000) AS t, "
            "c1 AS callid, c2 AS queue, c3 AS agent, c4 AS event, "
            "[c5, c6, c7, c8, c9] AS data, "
            "hash(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9) AS event_key "
            "FROM read_csv(?, delim='|', header=false, auto_detect=false, strict_mode=false, "
            "null_padding=true, quote='', escape='', columns=" + repr(columns) + ")",
            [sys.argv[1]])
con.execute("CREATE TABLE calls AS SELECT callid, min(queue) AS queue, "
            "min(t) FILTER (event = 'ENTERQUEUE') AS entered_at, "
            "any_value(data[2]) FILTER (event = 'ENTERQUEUE') AS caller, "
            "min(t) FILTER (event = 'CONNECT') AS answered_at, "
            "any_value(agent) FILTER (event = 'CONNECT') AS agent, "
            "any_value(TRY_CAST(data[1] AS DOUBLE)) FILTER (event = 'CONNECT') AS wait_s, "
            "any_value(event) FILTER (event IN " + ends + ") AS outcome, "
            "max(t) FILTER (event IN " + ends + ") AS ended_at, "
            "any_value(TRY_CAST(data[2] AS DOUBLE)) FILTER (event IN "
            "('COMPLETECALLER', 'COMPLETEAGENT')) AS talk_s "
            "FROM journal WHERE event NOT IN " + sessions + " "
            "GROUP BY callid")
con.execute("CREATE TABLE agent_states AS SELECT agent, queue, 'ringing' AS state, "
            "event AS reason, callid, "
            "t - to_seconds(coalesce(TRY_CAST(data[3] AS DOUBLE), 0)) AS start_at, t AS end_at "
            "FROM journal WHERE event IN ('CONNECT', 'RINGNOANSWER')")
con.execute("INSERT INTO agent_states SELECT agent, queue, 'talking', NULL, callid, "
            "answered_at, ended_at FROM calls WHERE agent IS NOT NULL")
con.execute("CHECKPOINT")
elapsed = time.perf_counter() - started
print(elapsed, con.execute("SELECT count(*) FROM calls").fetchall()[0][0])
"""

# What the ingest built, read back from its warehouse: every generated call has one
# ENTERQUEUE and one queue visit, so `calls` must hold one row per ENTERQUEUE line.
BUILT = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
count = lambda sql: con.execute(sql).fetchall()[0][0]
print(json.dumps(dict(
    calls=count("SELECT count(*) FROM calls"),
    talking=count("SELECT count(*) FROM agent_states WHERE state = 'talking'"),
)))
"""


def _child(cmd: list[str]) -> tuple[float, int, str, float]:
    """Run ``cmd``; return wall seconds, its peak RSS in MB, stdout, and CPU seconds
    (user + system, all its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:6])} ... exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of children is the largest of any child so far: the floor's and the bound's
    # are far smaller (about 1.5 GB for the bound on 10M lines, against 3.2 GB).
    return elapsed, max(after.ru_maxrss, before.ru_maxrss) // 1024, proc.stdout, cpu


def bench_ingest(lines: int, repeat: int) -> dict[str, object]:
    data = HERE / "data" / f"queue_log_{lines}"
    if not data.exists():
        print(f"generating {lines:,} lines ...", flush=True)
        generate(lines, data)
    size_mb = data.stat().st_size / 1e6
    floors, bounds, runs = [], [], []
    load_before = os.getloadavg()[0]
    for _ in range(repeat):
        _, _, out, _ = _child([sys.executable, "-c", FLOOR, str(data)])
        floors.append(float(out.split()[0]))
        entered = int(out.split()[2])
        with tempfile.TemporaryDirectory() as tmp:
            _, _, out, bound_cpu = _child(
                [
                    sys.executable,
                    "-c",
                    BOUND,
                    str(data),
                    str(Path(tmp) / "bound.duckdb"),
                    ",".join(events_with(Role.END_ANSWERED, Role.END_UNANSWERED, Role.STANDALONE)),
                    ",".join(events_with(Role.SESSION)),
                ]
            )
            seconds, bound_calls = out.split()
            if int(bound_calls) != entered:
                sys.exit(f"the bound built {bound_calls} calls for {entered:,} ENTERQUEUE lines")
            bounds.append((float(seconds), bound_cpu))
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.duckdb"
            elapsed, peak_mb, out, cpu = _child(
                [
                    sys.executable,
                    "-m",
                    "callkpi",
                    "ingest",
                    "queue-log",
                    str(data),
                    "--db",
                    str(db),
                    "--format",
                    "json",
                ]
            )
            report = json.loads(out)[0]
            built = json.loads(_child([sys.executable, "-c", BUILT, str(db)])[2])
            if built["calls"] != entered:
                sys.exit(
                    f"the ingest built {built['calls']:,} calls for {entered:,} ENTERQUEUE lines"
                )
            report.update(built)
            runs.append((elapsed, peak_mb, report, cpu))
            print(
                f"run: {elapsed:.1f} s, {cpu:.1f} CPU s, load {os.getloadavg()[0]:.1f}", flush=True
            )
    floor = min(floors)
    bound, bound_cpu = min(bounds)
    elapsed, peak_mb, report, cpu = min(runs, key=lambda r: r[0])
    result = {
        "lines": lines,
        "file_mb": round(size_mb),
        "floor_read_csv_s": round(floor, 2),
        "bound_s": round(bound, 2),
        "bound_cpu_s": round(bound_cpu, 1),
        "ingest_s": round(elapsed, 2),
        "lines_per_s": round(lines / elapsed),
        "ratio_to_floor": round(elapsed / floor, 2),
        "bound_ratio_to_floor": round(bound / floor, 2),
        "ratio_to_bound": round(elapsed / bound, 2),
        "peak_rss_mb": peak_mb,
        "cpu_s": round(cpu, 1),
        "cpu_s_all_runs": [round(r[3], 1) for r in runs],
        "load_avg_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "loaded": report["loaded"],
        "duplicates": report["duplicates"],
        "rejected": report["rejected"],
        "calls": report["calls"],
        "talking_states": report["talking"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"ingest_{lines}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(
        f"| {lines:,} | {size_mb:,.0f} MB | {floor:.1f} s | {elapsed:.1f} s | "
        f"{result['lines_per_s']:,} | {result['ratio_to_floor']}x | {peak_mb:,} MB | "
        f"{cpu:.1f} s |"
    )
    print(
        f"bound: {bound:.1f} s, {bound_cpu:.1f} CPU s ({bound / floor:.1f}x the floor); "
        f"the ingest is {elapsed / bound:.1f}x the bound"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    ingest = sub.add_parser("ingest", help="queue_log ingest vs DuckDB read_csv")
    ingest.add_argument("--lines", type=int, default=10_000_000)
    ingest.add_argument("--repeat", type=int, default=1)
    kpi.add_arguments(sub.add_parser("kpi", help="inbound KPIs vs hand-written SQL and pandas"))
    args = parser.parse_args()
    if args.bench == "ingest":
        bench_ingest(args.lines, args.repeat)
    elif args.bench == "kpi":
        kpi.bench_kpi(args.calls, args.repeat, args.seed, args.pandas_repeat, args.also)


if __name__ == "__main__":
    main()
