"""Availability against agent answer rate per agent, and whether a missed service level is
the agents' doing or the center's staffing.

Availability is the share of logged-in time an agent was not paused; the agent answer
rate the share of the calls presented (rung) to them that they answered. Quadrants are
placed against the center's two values. When the service level misses its target while
most agents are available and answering by absolute bars, the center is overloaded
(understaffed for its calls), not failed by its agents.
"""

from __future__ import annotations

from typing import Any

from callkpi.goals.periods import Period
from callkpi.goals.stats import MIN_SAMPLE
from callkpi.insights.common import (
    Insight,
    above,
    add_interval,
    enough,
    interval_columns,
    kpi_rows,
    names,
    only,
    pct,
    plural,
    too_few,
    when,
    within_noise,
)
from callkpi.kpi.benchmarks import for_kpi
from callkpi.store import Warehouse

AGENT_KPIS = ("logged_in_time", "availability", "agent_answer_rate")
CENTER_KPIS = (*AGENT_KPIS, "service_level", "occupancy")

AVAILABLE_MIN = 0.85
"""An agent is "available" at 85 % of logged-in time unpaused or more: breaks and lunch of
about an hour in an eight-hour shift leave 85-88 %."""
ANSWERING_MIN = 0.90
"""An agent is "answering" at 90 % or more of the calls presented to them."""

# (high availability, high answer rate) -> quadrant, advice; in the order rows are listed.
QUADRANTS: dict[tuple[bool, bool], tuple[str, str]] = {
    (False, False): ("low availability, low answer rate", "needs support or coaching"),
    (True, False): ("high availability, low answer rate", "misses calls while ready — attention"),
    (False, True): ("low availability, high answer rate", "answers, but often paused"),
    (True, True): ("high availability, high answer rate", "fine"),
}
COLUMNS = (
    "agent",
    "logged_in_h",
    "availability",
    *interval_columns("agent_answer_rate"),
    "quadrant",
    "advice",
    "note",
)
UNITS = {
    "logged_in_h": "hours",
    "availability": "ratio",
    "agent_answer_rate": "ratio",
    "agent_answer_rate__n": "count",
    "agent_answer_rate_low": "ratio",
    "agent_answer_rate_high": "ratio",
}


def _benchmark_low(kpi_id: str, default: float) -> float:
    bench = for_kpi(kpi_id)
    return bench.low if bench is not None and bench.low is not None else default


def service_level_target() -> float:
    """The shipped service-level benchmark's lower bound (80 % in 20 s)."""
    return _benchmark_low("service_level", 0.8)


def availability(
    wh: Warehouse,
    period: Period,
    tz: str = "UTC",
    *,
    target: float | None = None,
    available_min: float = AVAILABLE_MIN,
    answering_min: float = ANSWERING_MIN,
) -> Insight:
    """Per agent: logged-in hours, availability and agent answer rate (with its Wilson
    interval over the calls presented), in quadrants around the center's values; and a
    verdict on the center's service level against ``target`` (default: the benchmark)."""
    target = service_level_target() if target is None else target
    center = only(kpi_rows(wh, period, tz, CENTER_KPIS))
    agents = kpi_rows(wh, period, tz, AGENT_KPIS, by=("agent",))
    rows = [_place(a, center) for a in agents if a["agent"] is not None and a["logged_in_time"]]
    order = list(QUADRANTS.values())

    def rank(row: dict[str, Any]) -> tuple[int, float]:
        placed = (row["quadrant"], row["advice"])
        return (order.index(placed) if placed in order else len(order), -row["logged_in_h"])

    rows.sort(key=rank)
    placed = [r for r in rows if r["quadrant"] is not None]
    healthy = [
        r
        for r in placed
        if (r["availability"] or 0) >= available_min
        and (r["agent_answer_rate"] or 0) >= answering_min
    ]
    sl = center.get("service_level")
    overloaded = sl is not None and sl < target and len(healthy) * 2 > len(placed)
    summary = {
        **{k: center.get(k) for k in CENTER_KPIS},
        "service_level_target": target,
        "available_min": available_min,
        "answering_min": answering_min,
        "agents_available_and_answering": len(healthy),
        "agents_ranked": len(placed),
        "overloaded": overloaded,
    }
    return Insight(
        analysis="availability",
        title="Availability vs agent answer rate per agent",
        period=period,
        tz=tz,
        columns=COLUMNS,
        rows=rows,
        reading=_reading(rows, summary, period),
        center=summary,
        units=UNITS,
    )


def _place(agent: dict[str, Any], center: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "agent": agent["agent"],
        "logged_in_h": agent["logged_in_time"] / 3600,
        "availability": agent["availability"],
        "agent_answer_rate": agent["agent_answer_rate"],
        "agent_answer_rate__n": agent["agent_answer_rate__n"],
    }
    add_interval(row, "agent_answer_rate")
    row["quadrant"] = row["advice"] = None
    presented = row["agent_answer_rate__n"]
    if not enough(presented):
        row["note"] = too_few(presented, "calls presented")
        return row
    high_availability = above(row["availability"], center.get("availability"))
    high_answering = above(row["agent_answer_rate"], center.get("agent_answer_rate"))
    row["quadrant"], row["advice"] = QUADRANTS[(high_availability, high_answering)]
    row["note"] = (
        "answer rate ≈ center's (within noise)"
        if within_noise(row, "agent_answer_rate", center.get("agent_answer_rate"))
        else None
    )
    return row


def _reading(rows: list[dict[str, Any]], summary: dict[str, Any], period: Period) -> str:
    if not rows:
        return f"No agent was logged in {when(period)}: nothing to compare."
    text = [
        f"{when(period).capitalize()} agents were available "
        f"{pct(summary['availability'])} of their logged-in time and answered "
        f"{pct(summary['agent_answer_rate'])} of the calls presented to them; agents are "
        "placed against these two values."
    ]
    placed = [r for r in rows if r["quadrant"] is not None]
    parts = []
    for label, advice in QUADRANTS.values():
        group = [r["agent"] for r in placed if r["quadrant"] == label]
        if group and advice != "fine":
            parts.append(f"{advice}: {len(group)} ({label}: {names(group)})")
    if placed:
        fine = sum(1 for r in placed if r["advice"] == "fine")
        text.append(
            f"Of {plural(len(placed), 'agent')} with at least {MIN_SAMPLE} calls presented, "
            + "; ".join([*parts, f"fine: {fine}"])
            + "."
        )
        noisy = sum(1 for r in placed if r["note"])
        if noisy:
            text.append(
                f"For {noisy} of them the answer rate is within the noise of the center's "
                "(its 95 % interval holds the center's value): their high or low answer "
                "side may be chance."
            )
    flagged = [r["agent"] for r in rows if r["quadrant"] is None]
    if flagged:
        text.append(
            f"{plural(len(flagged), 'agent')} had fewer than {MIN_SAMPLE} calls presented, "
            f"too few to rank ({names(flagged)})."
        )
    text.append(_verdict(summary))
    return " ".join(t for t in text if t)


def _verdict(summary: dict[str, Any]) -> str:
    sl, target = summary["service_level"], summary["service_level_target"]
    if sl is None:
        return ""
    healthy, ranked = summary["agents_available_and_answering"], summary["agents_ranked"]
    bars = (
        f"available (at least {pct(summary['available_min'])} of logged-in time) and "
        f"answering (at least {pct(summary['answering_min'])} of calls presented)"
    )
    if sl >= target:
        return f"The service level, {pct(sl)}, meets its {pct(target)} target."
    if summary["overloaded"]:
        text = (
            f"The service level, {pct(sl)}, misses its {pct(target)} target while "
            f"{healthy} of {ranked} ranked agents are {bars}: the center is overloaded "
            "(understaffed for its calls) rather than its agents failing."
        )
    else:
        text = (
            f"The service level, {pct(sl)}, misses its {pct(target)} target and only "
            f"{healthy} of {ranked} ranked agents are {bars}: win back the lost ready time "
            "(pauses, missed rings) before adding staff."
        )
    occupancy = summary.get("occupancy")
    if occupancy is not None and occupancy < _benchmark_low("occupancy", 0.8):
        text += (
            f" Occupancy is only {pct(occupancy)}, so agents wait idle much of their ready "
            "time: staff and calls are probably at different times of day (see insights "
            "patience)."
        )
    return text
