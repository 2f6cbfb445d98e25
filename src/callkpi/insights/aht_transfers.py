"""AHT against transfer rate per agent, in quadrants around their team's values.

Agents are compared with their own team by default (``against="team"``): teams work
different queues, and an agent on a long-call queue is not slow for being above the
center's AHT. An agent with no team in the roster, or whose team answered fewer than
MIN_SAMPLE calls, is compared with the center; ``against="center"`` compares everyone
with the center.

An agent whose calls are long *and* often transferred has not learnt the calls; long but
rarely transferred calls get resolved, only slowly; short calls that are often
transferred are passed on (missing knowledge or authority). Agents with fewer than
MIN_SAMPLE answered calls are flagged and placed nowhere.
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
    secs,
    too_few,
    when,
    within_noise,
)
from callkpi.store import Warehouse

KPIS = ("answered", "aht", "transfer_rate")

# (high AHT, high transfer rate) -> quadrant, advice; in the order rows are listed.
QUADRANTS: dict[tuple[bool, bool], tuple[str, str]] = {
    (True, True): ("high AHT, high transfers", "needs training"),
    (True, False): ("high AHT, low transfers", "slow but resolves — coach on efficiency"),
    (False, True): ("low AHT, high transfers", "passes calls on — knowledge or authority"),
    (False, False): ("low AHT, low transfers", "fine"),
}
COLUMNS = (
    "agent",
    "compared_with",
    "answered",
    "aht",
    *interval_columns("transfer_rate"),
    "quadrant",
    "advice",
    "note",
)
UNITS = {
    "answered": "count",
    "aht": "seconds",
    "transfer_rate": "ratio",
    "transfer_rate__n": "count",
    "transfer_rate_low": "ratio",
    "transfer_rate_high": "ratio",
}


def aht_transfers(
    wh: Warehouse,
    period: Period,
    tz: str = "UTC",
    *,
    queue: str | None = None,
    against: str = "team",
) -> Insight:
    """Per agent: answered calls, AHT and transfer rate (with its Wilson interval), placed
    in a quadrant against their team's AHT and transfer rate (or the center's)."""
    if against not in ("team", "center"):
        raise ValueError(f"against {against!r}: expected team or center")
    where = (("queue", queue),) if queue else ()
    center = only(kpi_rows(wh, period, tz, KPIS, where=where))
    references: dict[Any, tuple[str, dict[str, Any]]] = {}
    if against == "team":
        teams = {r["team"]: r for r in kpi_rows(wh, period, tz, KPIS, by=("team",), where=where)
                 if r["team"] is not None and enough(r["answered"])}
        for agent, team in wh.sql("SELECT agent, team FROM agents WHERE team IS NOT NULL"):
            if team in teams:
                references[agent] = (f"team {team}", teams[team])
    agents = kpi_rows(wh, period, tz, KPIS, by=("agent",), where=where)
    rows = [
        _place(row, *references.get(row["agent"], ("center", center)))
        for row in agents
        if row["agent"] is not None
    ]
    order = list(QUADRANTS.values())

    def rank(row: dict[str, Any]) -> tuple[int, int]:
        placed = (row["quadrant"], row["advice"])
        return (order.index(placed) if placed in order else len(order), -row["answered"])

    rows.sort(key=rank)
    return Insight(
        analysis="aht-transfers",
        title="AHT vs transfer rate per agent",
        period=period,
        tz=tz,
        columns=COLUMNS,
        rows=rows,
        reading=_reading(rows, center, period, queue),
        center={k: center.get(k) for k in KPIS},
        units=UNITS,
    )


def _place(agent: dict[str, Any], compared_with: str, center: dict[str, Any]) -> dict[str, Any]:
    row = {k: agent.get(k) for k in ("agent", *KPIS, "transfer_rate__n")}
    row["compared_with"] = compared_with
    add_interval(row, "transfer_rate")
    row["quadrant"] = row["advice"] = None
    if not enough(row["answered"]):
        row["note"] = too_few(row["answered"], "answered")
        return row
    high_aht = above(row["aht"], center.get("aht"))
    high_transfers = above(row["transfer_rate"], center.get("transfer_rate"))
    row["quadrant"], row["advice"] = QUADRANTS[(high_aht, high_transfers)]
    row["note"] = (
        f"transfer rate ≈ {compared_with}'s (within noise)"
        if within_noise(row, "transfer_rate", center.get("transfer_rate"))
        else None
    )
    return row


def _reading(
    rows: list[dict[str, Any]], center: dict[str, Any], period: Period, queue: str | None
) -> str:
    where = f" in queue {queue}" if queue else ""
    if not center.get("answered"):
        return f"No answered calls{where} {when(period)}: nothing to compare."
    text = [
        f"{when(period).capitalize()} the center answered "
        f"{plural(center['answered'], 'call')}{where} with an AHT of {secs(center['aht'])}"
        f" and a transfer rate of {pct(center['transfer_rate'])}; agents are placed against"
        " their team's two values (the center's for agents without a team)."
    ]
    placed = [r for r in rows if r["quadrant"] is not None]
    if placed:
        parts = []
        for label, advice in QUADRANTS.values():
            group = [r["agent"] for r in placed if r["quadrant"] == label]
            if group and advice != "fine":
                parts.append(f"{advice}: {len(group)} ({label}: {names(group)})")
        fine = sum(1 for r in placed if r["advice"] == "fine")
        text.append(
            f"Of {plural(len(placed), 'agent')} with at least {MIN_SAMPLE} answered calls, "
            + "; ".join([*parts, f"fine: {fine}"])
            + "."
        )
        noisy = sum(1 for r in placed if r["note"])
        if noisy:
            text.append(
                f"For {noisy} of them the transfer rate is within "
                "the noise of the compared value (its 95 % interval holds it): "
                "their high or low transfer side may be chance."
            )
    flagged = [r for r in rows if r["quadrant"] is None]
    if flagged:
        text.append(
            f"{plural(len(flagged), 'agent')} answered fewer than {MIN_SAMPLE} calls, "
            f"too few to rank ({names([r['agent'] for r in flagged])})."
        )
    return " ".join(text)
