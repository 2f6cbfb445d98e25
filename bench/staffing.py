"""Staffing benchmark: ``solve_many`` for a week of half-hour intervals of many queues.

    .venv/bin/python bench/staffing.py [--intervals 10000] [--repeat 3] [--seed 7]

The generator makes 30 queues x 7 days x 48 half-hours (the first ``--intervals`` rows):
each queue has a daily volume (log-normal, median 3,000 calls a day, a few very large
queues), a day curve (two peaks; 60 % of the queues closed at night, the others 24/7), weekday
factors (quieter weekends), Poisson noise per interval, an AHT (150-480 s, +-10 % noise)
and a mean patience (45-300 s). Timed (best of ``--repeat`` runs, in this process):

* Erlang C, service level 80 % in 20 s;
* Erlang A, service level 80 % in 20 s (offered) and at most 5 % abandoned;
* Erlang A, service level 80 % in 20 s of the answered calls and ASA at most 30 s: the
  solver's slowest case (no lower bound on N, so the search starts at one agent, and the
  ASA series is evaluated).

Prints a Markdown table and writes it to bench/results/staffing_<intervals>.md. Targets for 10,000
intervals: under 1 s with Erlang C, under 5 s with Erlang A.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callkpi.wfm.staffing import Constraints, StaffingTable, solve_many

HERE = Path(__file__).resolve().parent
INTERVAL_S = 1800.0
QUEUES = 30
SLOTS_PER_DAY = 48
DAYS = 7


@dataclass(frozen=True)
class Intervals:
    calls: np.ndarray
    aht_s: np.ndarray
    patience_s: np.ndarray


def generate(intervals: int, seed: int) -> Intervals:
    """Calls, AHT and patience for ``intervals`` half-hours (queue by queue, day by day)."""
    rng = np.random.default_rng(seed)
    per_queue = DAYS * SLOTS_PER_DAY
    queues = max(QUEUES, -(-intervals // per_queue))
    daily = rng.lognormal(mean=np.log(3000.0), sigma=1.2, size=queues)
    always_open = rng.random(queues) < 0.4
    aht = rng.uniform(150.0, 480.0, size=queues)
    patience = rng.uniform(45.0, 300.0, size=queues)

    hours = (np.arange(SLOTS_PER_DAY) + 0.5) / 2.0
    two_peaks = np.exp(-0.5 * ((hours - 10.5) / 1.8) ** 2) + 0.8 * np.exp(
        -0.5 * ((hours - 15.0) / 2.0) ** 2
    )
    office = np.where((hours >= 7.0) & (hours < 21.0), two_peaks, 0.0)
    round_the_clock = two_peaks + 0.05
    weekday = np.array([1.15, 1.05, 1.0, 1.0, 0.95, 0.55, 0.35])

    calls, handle, mean_patience = [], [], []
    for queue in range(queues):
        curve = round_the_clock if always_open[queue] else office
        shape = np.concatenate([curve / curve.sum() * factor for factor in weekday])
        expected = daily[queue] * shape
        calls.append(rng.poisson(expected).astype(np.float64))
        handle.append(aht[queue] * rng.uniform(0.9, 1.1, size=per_queue))
        mean_patience.append(np.full(per_queue, patience[queue]))
    return Intervals(
        calls=np.concatenate(calls)[:intervals],
        aht_s=np.round(np.concatenate(handle)[:intervals], 1),
        patience_s=np.concatenate(mean_patience)[:intervals],
    )


def _time(run: object, repeat: int) -> tuple[float, StaffingTable]:
    best = float("inf")
    table = None
    for _ in range(repeat):
        started = time.perf_counter()
        table = run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    assert table is not None
    return best, table


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data = generate(args.intervals, args.seed)
    loads = data.calls * data.aht_s / INTERVAL_S
    cases = [
        (
            "Erlang C",
            "SL 80/20",
            1.0,
            lambda: solve_many(data.calls, data.aht_s, INTERVAL_S, Constraints()),
        ),
        (
            "Erlang A",
            "SL 80/20, abandon <= 5 %",
            5.0,
            lambda: solve_many(
                data.calls,
                data.aht_s,
                INTERVAL_S,
                Constraints(max_abandon=0.05),
                model="erlang-a",
                patience_s=data.patience_s,
            ),
        ),
        (
            "Erlang A",
            "SL 80/20 of answered calls, ASA <= 30 s",
            5.0,
            lambda: solve_many(
                data.calls,
                data.aht_s,
                INTERVAL_S,
                Constraints(service_level_definition="answered", max_asa_s=30.0),
                model="erlang-a",
                patience_s=data.patience_s,
            ),
        ),
    ]
    lines = [
        f"{args.intervals:,} intervals ({(data.calls > 0).sum():,} with calls), load "
        f"median {np.median(loads[loads > 0]):.1f} / max {loads.max():.1f} Erlangs, "
        f"seed {args.seed}",
        "",
        f"| model | constraints | intervals | best of {args.repeat} | per interval "
        "| target | agents (sum / max) | date, commit |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for model, constraints, target, run in cases:
        seconds, table = _time(run, args.repeat)
        verdict = "met" if seconds < target else "MISSED"
        lines.append(
            f"| {model} | {constraints} | {args.intervals:,} | {seconds:.3f} s "
            f"| {seconds / args.intervals * 1e6:.0f} us | < {target:g} s ({verdict}) "
            f"| {int(table.agents.sum()):,} / {int(table.agents.max()):,} "
            f"| {dt.date.today().isoformat()}, {_commit()} |"
        )
    lines += [
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, NumPy "
        f"{np.__version__}",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = HERE / "results" / f"staffing_{args.intervals}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
