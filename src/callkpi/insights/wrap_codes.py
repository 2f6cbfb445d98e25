"""Handling time by call reason (wrap-up code): which reasons to automate first.

A reason's total handling time is its answered calls times its AHT (exactly the talk,
hold and after-call work of those calls). Reasons are ranked by it, and each gets its
share of all handling time and the running (cumulative) share down the ranking. Calls
without a wrap code count in the total but are no reason to rank; reasons with fewer
than MIN_SAMPLE answered calls are flagged, not ranked.
"""

from __future__ import annotations

from typing import Any

from callkpi.goals.periods import Period
from callkpi.goals.stats import MIN_SAMPLE
from callkpi.insights.common import (
    Insight,
    enough,
    kpi_rows,
    names,
    num,
    pct,
    plural,
    secs,
    share,
    too_few,
    when,
)
from callkpi.store import Warehouse

COLUMNS = (
    "rank",
    "wrap_code",
    "answered",
    "aht",
    "handling_h",
    "handling_share",
    "cumulative_share",
    "note",
)
UNITS = {
    "answered": "count",
    "aht": "seconds",
    "handling_h": "hours",
    "handling_share": "ratio",
    "cumulative_share": "ratio",
}


def wrap_codes(
    wh: Warehouse, period: Period, tz: str = "UTC", *, queue: str | None = None
) -> Insight:
    """Per wrap code: answered calls, AHT, total handling time in hours and its share,
    ranked by handling time (largest first)."""
    where = (("queue", queue),) if queue else ()
    codes = kpi_rows(wh, period, tz, ("answered", "aht"), by=("wrap_code",), where=where)
    handling_s = {r["wrap_code"]: (r["aht"] or 0.0) * r["aht__n"] for r in codes if r["answered"]}
    total_s = sum(handling_s.values())
    rows = []
    for r in codes:
        if not r["answered"]:
            continue
        rows.append(
            {
                "rank": None,
                "wrap_code": r["wrap_code"],
                "answered": r["answered"],
                "aht": r["aht"],
                "handling_h": handling_s[r["wrap_code"]] / 3600,
                "handling_share": share(handling_s[r["wrap_code"]], total_s),
                "cumulative_share": None,
                "note": _note(r),
            }
        )
    rows.sort(key=lambda r: -r["handling_h"])
    cumulative = 0.0
    for rank, row in enumerate((r for r in rows if r["note"] is None), start=1):
        row["rank"] = rank
        cumulative += row["handling_share"] or 0.0
        row["cumulative_share"] = cumulative
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, -r["handling_h"]))
    return Insight(
        analysis="wrap-codes",
        title="Handling time by wrap code",
        period=period,
        tz=tz,
        columns=COLUMNS,
        rows=rows,
        reading=_reading(rows, total_s, period, queue),
        center={"handling_h": total_s / 3600, "answered": sum(r["answered"] for r in rows)},
        units=UNITS,
    )


def _note(row: dict[str, Any]) -> str | None:
    if row["wrap_code"] is None:
        return "no wrap code: not a reason to rank"
    if not enough(row["answered"]):
        return too_few(row["answered"], "answered")
    return None


def _reading(rows: list[dict[str, Any]], total_s: float, period: Period, queue: str | None) -> str:
    where = f" in queue {queue}" if queue else ""
    if not rows:
        return f"No answered calls{where} {when(period)}."
    answered = sum(r["answered"] for r in rows)
    text = [
        f"{when(period).capitalize()} agents spent {num(total_s / 3600)} hours handling "
        f"{num(answered)} answered calls{where}."
    ]
    ranked = [r for r in rows if r["rank"] is not None]
    if ranked:
        top = ranked[:3]
        listed = names([f"{r['wrap_code']} ({pct(r['handling_share'])})" for r in top])
        text.append(
            f"The top {plural(len(top), 'reason')} by handling time, {listed}, take "
            f"{pct(top[-1]['cumulative_share'])} of it: automating or deflecting them "
            "(self-service, IVR, a better process) frees the most agent time."
        )
        longest = max(ranked, key=lambda r: r["aht"] or 0.0)
        text.append(f"The longest calls are {longest['wrap_code']} at {secs(longest['aht'])} each.")
    uncoded = [r for r in rows if r["wrap_code"] is None]
    if uncoded:
        text.append(
            f"{num(uncoded[0]['answered'])} answered calls ({pct(uncoded[0]['handling_share'])} "
            "of the handling time) have no wrap code: their reasons are unknown."
        )
    few = [r["wrap_code"] for r in rows if r["wrap_code"] is not None and r["rank"] is None]
    if few:
        text.append(
            f"{plural(len(few), 'code')} had fewer than {MIN_SAMPLE} answered calls, too few "
            f"to rank ({names(few)})."
        )
    return " ".join(text)
