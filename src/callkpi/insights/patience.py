"""Caller patience per 30-minute interval: how long callers wait before they give up, how
long all callers wait, the share who abandon, and how many agents were staffed.

Agents staffed is the agent-level logged-in time of the interval over its 1,800 seconds
(two agents logged in for the whole half hour and one for half of it: 2.5). The engine
keeps logins per agent, not per queue, so with a queue filter the staffing is still the
whole center's.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from callkpi.goals.periods import Period
from callkpi.insights.common import (
    Insight,
    add_interval,
    enough,
    interval_columns,
    kpi_rows,
    num,
    only,
    pct,
    plural,
    secs,
    share,
    too_few,
    when,
)
from callkpi.store import Warehouse

INTERVAL_S = 1800
CALL_KPIS = ("offered", "abandoned", "avg_abandon_wait", "avg_wait")
UNITS = {
    "offered": "count",
    "abandoned": "count",
    "abandoned_share": "ratio",
    "abandoned_share__n": "count",
    "abandoned_share_low": "ratio",
    "abandoned_share_high": "ratio",
    "avg_abandon_wait": "seconds",
    "avg_wait": "seconds",
    "agents_staffed": "agents",
}
COLUMNS = (
    "offered",
    "abandoned",
    *interval_columns("abandoned_share"),
    "avg_abandon_wait",
    "avg_wait",
    "agents_staffed",
    "note",
)


def patience(
    wh: Warehouse,
    period: Period,
    tz: str = "UTC",
    *,
    queue: str | None = None,
    time_of_day: bool = False,
) -> Insight:
    """One row per 30-minute interval with calls or staff (``time_of_day``: one per time of
    day, the period's days folded together), and a summary of patience against staffing."""
    where = (("queue", queue),) if queue else ()
    calls = kpi_rows(wh, period, tz, CALL_KPIS, grain="30min", where=where)
    staffed = kpi_rows(wh, period, tz, ("logged_in_time",), grain="30min")
    intervals = _join(calls, staffed)
    key = "time" if time_of_day else "period_start"
    rows = _fold(intervals, period.days) if time_of_day else intervals
    total = only(kpi_rows(wh, period, tz, CALL_KPIS, where=where))
    summary = _summary(intervals, total)
    return Insight(
        analysis="patience",
        title="Caller patience per " + ("time of day" if time_of_day else "30-minute interval"),
        period=period,
        tz=tz,
        columns=(key, *COLUMNS),
        rows=[_output(row, key) for row in rows],
        reading=_reading(summary, period, queue),
        center=summary,
        units=UNITS,
    )


SUMS = ("offered", "abandoned", "abandon_wait_s", "wait_s", "logged_in_s")
"""What an interval row keeps: counts and sums, so intervals add up exactly."""


def _empty(**key: str) -> dict[str, Any]:
    return {**key, **dict.fromkeys(SUMS, 0)}


def _join(calls: list[dict[str, Any]], staffed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interval rows with the sums behind the averages (so they add up when folded)."""
    by_start: dict[str, dict[str, Any]] = {}
    for c in calls:
        by_start[c["period_start"]] = {
            "period_start": c["period_start"],
            "offered": c["offered"],
            "abandoned": c["abandoned"],
            "abandon_wait_s": (c["avg_abandon_wait"] or 0.0) * c["avg_abandon_wait__n"],
            "wait_s": (c["avg_wait"] or 0.0) * c["avg_wait__n"],
            "logged_in_s": 0.0,
        }
    for s in staffed:
        row = by_start.setdefault(s["period_start"], _empty(period_start=s["period_start"]))
        row["logged_in_s"] = s["logged_in_time"] or 0.0
    rows = [r for r in by_start.values() if r["offered"] or r["logged_in_s"]]
    for r in rows:
        r["agents_staffed"] = r["logged_in_s"] / INTERVAL_S
    # Chronological even across a DST fall-back (the repeated local hour).
    return sorted(rows, key=lambda r: dt.datetime.fromisoformat(r["period_start"]))


def _fold(intervals: list[dict[str, Any]], days: int) -> list[dict[str, Any]]:
    """Sum the intervals of each local time of day; agents staffed is the average over
    all the period's days (days with nobody logged in count as zero)."""
    folded: dict[str, dict[str, Any]] = {}
    for r in intervals:
        time = r["period_start"][11:16]
        row = folded.setdefault(time, _empty(time=time))
        for k in SUMS:
            row[k] += r[k]
    for row in folded.values():
        row["agents_staffed"] = row["logged_in_s"] / (INTERVAL_S * days)
    return sorted(folded.values(), key=lambda r: r["time"])


def _output(row: dict[str, Any], key: str) -> dict[str, Any]:
    out = {
        key: row[key],
        "offered": row["offered"],
        "abandoned": row["abandoned"],
        "abandoned_share": share(row["abandoned"], row["offered"]),
        "abandoned_share__n": row["offered"],
    }
    add_interval(out, "abandoned_share")
    out["avg_abandon_wait"] = share(row["abandon_wait_s"], row["abandoned"])
    out["avg_wait"] = share(row["wait_s"], row["offered"])
    out["agents_staffed"] = row["agents_staffed"]
    if not row["offered"]:
        out["note"] = "no calls"
    else:
        out["note"] = None if enough(row["offered"]) else too_few(row["offered"], "offered")
    return out


def _summary(intervals: list[dict[str, Any]], total: dict[str, Any]) -> dict[str, Any]:
    """The period's totals, the median interval's time to abandon, and abandonment in the
    busier and the calmer half of the staffed intervals (by calls per staffed agent)."""
    summary: dict[str, Any] = {k: total.get(k) for k in CALL_KPIS}
    summary["abandoned_share"] = share(total.get("abandoned"), total.get("offered"))
    patience_s = [r["abandon_wait_s"] / r["abandoned"] for r in intervals if r["abandoned"]]
    summary["median_interval_abandon_wait"] = statistics.median(patience_s) if patience_s else None
    staffed = sorted(
        (r for r in intervals if r["offered"] and r["agents_staffed"] > 0),
        key=lambda r: r["offered"] / r["agents_staffed"],
    )
    unstaffed = [r for r in intervals if r["offered"] and r["agents_staffed"] == 0]
    summary["unstaffed_intervals"] = len(unstaffed)
    summary["unstaffed"] = _pool(unstaffed)
    if len(staffed) >= 2:
        half = len(staffed) // 2
        calm, busy = staffed[:half], staffed[half:]
        summary["busy_from_calls_per_agent"] = busy[0]["offered"] / busy[0]["agents_staffed"]
        summary["calmer_half"] = _pool(calm)
        summary["busier_half"] = _pool(busy)
    return summary


def _pool(intervals: list[dict[str, Any]]) -> dict[str, Any]:
    offered = sum(r["offered"] for r in intervals)
    abandoned = sum(r["abandoned"] for r in intervals)
    pooled = {
        "intervals": len(intervals),
        "offered": offered,
        "abandoned": abandoned,
        "abandoned_share": share(abandoned, offered),
        "abandoned_share__n": offered,
        "avg_wait": share(sum(r["wait_s"] for r in intervals), offered),
        "avg_abandon_wait": share(sum(r["abandon_wait_s"] for r in intervals), abandoned),
    }
    add_interval(pooled, "abandoned_share")
    return pooled


def _reading(summary: dict[str, Any], period: Period, queue: str | None) -> str:
    where = f" to queue {queue}" if queue else ""
    if not summary.get("offered"):
        return f"No calls were offered{where} {when(period)}."
    text = [
        f"{when(period).capitalize()} {num(summary['offered'])} calls were offered{where}; "
        f"{num(summary['abandoned'])} ({pct(summary['abandoned_share'])}) were abandoned, "
        f"after waiting {secs(summary['avg_abandon_wait'])} on average (all callers waited "
        f"{secs(summary['avg_wait'])} on average)."
    ]
    if summary["median_interval_abandon_wait"] is not None:
        text.append(
            "In the median half hour with abandons, callers who gave up did so after "
            f"{secs(summary['median_interval_abandon_wait'])} on average: about how long "
            "callers are willing to wait."
        )
    busy, calm = summary.get("busier_half"), summary.get("calmer_half")
    if busy and calm:
        verdict = (
            "more agents per call keep callers on the line"
            if (busy["abandoned_share"] or 0) > (calm["abandoned_share"] or 0)
            else "abandonment does not rise with the load per agent here"
        )
        text.append(
            "In the busier half of the staffed intervals "
            f"({num(summary['busy_from_calls_per_agent'], 1)} "
            f"or more calls per staffed agent) {pct(busy['abandoned_share'])} abandoned and "
            f"calls waited {secs(busy['avg_wait'])} on average; in the calmer half "
            f"{pct(calm['abandoned_share'])} and {secs(calm['avg_wait'])}: {verdict}."
        )
    if summary["unstaffed_intervals"]:
        lost = summary["unstaffed"]
        text.append(
            f"{plural(summary['unstaffed_intervals'], 'interval')} had calls but no agent "
            f"logged in ({plural(lost['offered'], 'call')}, {pct(lost['abandoned_share'])} "
            "abandoned)."
        )
    if queue:
        text.append("Agents staffed counts every logged-in agent, not only this queue's.")
    return " ".join(text)
