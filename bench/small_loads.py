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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-lines", type=int, default=700_000)
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
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
            for _ in range(args.repeat):
                with log.open("ab") as fh:
                    fh.write(b"".join(lines[at : at + size]))
                at += size
                counting.statements = 0
                wall, cpu = time.perf_counter(), time.process_time()
                report = queue_log.ingest(wh, log)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                statements.append(counting.statements)
                assert report.lines_read == size, report
            print(
                f"| {size:,} lines | {statistics.median(walls) * 1000:.0f} ms | "
                f"{statistics.median(cpus) * 1000:.0f} ms CPU | "
                f"{statistics.median(statements):.0f} statements |",
                flush=True,
            )
        wh.con = counting._con
        wh.close()


if __name__ == "__main__":
    main()
