"""Core KPIs by site and by region, next to the whole center's.

Each KPI is cut the way the engine cuts it: call KPIs (service level, AHT, FCR) by the
site and region recorded on the calls, workforce and survey KPIs (occupancy, CSAT) by the
site and region of the agent in the roster. A KPI the catalog cannot cut by a location
(conversion rate: leads carry no site) is shown for the center only; calls or agents
without a location are one group, ``(none)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callkpi.goals.periods import Period
from callkpi.goals.stats import MIN_SAMPLE
from callkpi.insights.common import (
    Insight,
    add_interval,
    enough,
    interval_columns,
    kpi_rows,
    names,
    num,
    only,
    pct,
    when,
)
from callkpi.kpi import builtin_catalog
from callkpi.kpi.docs import dimensions_of
from callkpi.kpi.semantic import semantic_model
from callkpi.store import Warehouse

KPIS = ("service_level", "aht", "fcr", "occupancy", "conversion_rate", "csat")
LEVELS = ("site", "region")
PROPORTIONS = frozenset({"service_level", "fcr", "conversion_rate", "csat"})
"""Ratios of counts: they get Wilson intervals. AHT is a mean (seconds) and occupancy a
share of time, so they carry their base but no interval."""
COUNTED = frozenset({"service_level", "aht", "fcr", "conversion_rate", "csat"})
"""KPIs whose base counts observations (calls, leads, answers): they carry ``__n`` and are
flagged under MIN_SAMPLE. Occupancy's base is time, not a sample size."""


def columns_for(kpis: Sequence[str]) -> tuple[str, ...]:
    cols: list[str] = ["level", "location"]
    for k in kpis:
        if k in PROPORTIONS:
            cols.extend(interval_columns(k))
        else:
            cols.extend((k, f"{k}__n") if k in COUNTED else (k,))
    return (*cols, "note")


def locations(
    wh: Warehouse, period: Period, tz: str = "UTC", *, kpis: Sequence[str] = KPIS
) -> Insight:
    """One row for the center, then one per site and one per region, with each KPI, its
    base (``__n``) and, for proportions, its Wilson interval."""
    catalog, semantic = builtin_catalog(), semantic_model()
    cuttable = {
        level: [k for k in kpis if level in dimensions_of(catalog[k], catalog, semantic)]
        for level in LEVELS
    }
    center = _row("center", None, only(kpi_rows(wh, period, tz, kpis)), kpis)
    rows = [center]
    for level in LEVELS:
        found = kpi_rows(wh, period, tz, cuttable[level], by=(level,)) if cuttable[level] else []
        found.sort(key=lambda r: (r[level] is None, str(r[level])))
        rows.extend(_row(level, r[level], r, kpis) for r in found)
    units = {k: builtin_catalog()[k].unit for k in kpis}
    units.update({f"{k}__n": "count" for k in kpis if k in COUNTED})
    units.update({f"{k}_{end}": "ratio" for k in PROPORTIONS for end in ("low", "high")})
    return Insight(
        analysis="locations",
        title="Core KPIs by site and region",
        period=period,
        tz=tz,
        columns=columns_for(kpis),
        rows=rows,
        reading=_reading(rows, kpis, cuttable, period),
        center={k: center.get(k) for k in kpis},
        units=units,
    )


def _row(level: str, location: Any, found: dict[str, Any], kpis: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"level": level, "location": location}
    few = []
    for k in kpis:
        row[k] = found.get(k)
        if k in COUNTED:
            row[f"{k}__n"] = found.get(f"{k}__n")
        if k in PROPORTIONS:
            add_interval(row, k)
        if k in COUNTED and row[f"{k}__n"] and not enough(row[f"{k}__n"]):
            few.append(f"{k} ({num(row[f'{k}__n'])})")
    row["note"] = f"too few to compare (< {MIN_SAMPLE}): {', '.join(few)}" if few else None
    return row


def _show(kpi: str, value: float | None) -> str:
    return pct(value) if kpi in PROPORTIONS or kpi == "occupancy" else f"{num(value)} s"


def _overlap(a: dict[str, Any], b: dict[str, Any], kpi: str) -> bool:
    """The two 95 % intervals of a proportion overlap: the gap may be chance."""
    if kpi not in PROPORTIONS or None in (a[f"{kpi}_low"], b[f"{kpi}_low"]):
        return False
    return bool(a[f"{kpi}_low"] <= b[f"{kpi}_high"] and b[f"{kpi}_low"] <= a[f"{kpi}_high"])


def _reading(
    rows: list[dict[str, Any]],
    kpis: Sequence[str],
    cuttable: dict[str, list[str]],
    period: Period,
) -> str:
    center = rows[0]
    text = [
        f"{when(period).capitalize()} the center had "
        + ", ".join(f"{k} {_show(k, center[k])}" for k in kpis)
        + "."
    ]
    direction = {k: builtin_catalog()[k].direction for k in kpis}
    for level in LEVELS:
        located = [r for r in rows if r["level"] == level]
        if not located:
            text.append(f"No {level} is recorded for calls or agents.")
            continue
        spreads, unlocated = [], []
        for k in cuttable[level]:
            have = [r for r in located if r[k] is not None]
            named = [r for r in have if r["location"] is not None]
            if have and not named:
                unlocated.append(k)
                continue
            comparable = [r for r in named if k not in COUNTED or enough(r[f"{k}__n"])]
            if len(comparable) < 2:
                continue
            best = (max if direction[k] == "higher_is_better" else min)(
                comparable, key=lambda r: r[k]
            )
            worst = (min if direction[k] == "higher_is_better" else max)(
                comparable, key=lambda r: r[k]
            )
            if best is not worst and direction[k] != "neutral":
                spreads.append(
                    f"{k} best at {best['location']} ({_show(k, best[k])}), worst at "
                    f"{worst['location']} ({_show(k, worst[k])})"
                    + (
                        " (their 95 % intervals overlap: may be chance)"
                        if _overlap(best, worst, k)
                        else ""
                    )
                )
            elif best is not worst:
                spreads.append(
                    f"{k} from {_show(k, min(r[k] for r in comparable))} to "
                    f"{_show(k, max(r[k] for r in comparable))}"
                )
        if spreads:
            text.append(f"By {level}: " + "; ".join(spreads) + ".")
        if unlocated:
            text.append(
                f"The data behind {names(unlocated)} records no {level} (all of it is under "
                f"(none)), so they cannot be compared by {level}."
            )
        missing = [k for k in kpis if k not in cuttable[level]]
        if missing:
            text.append(f"{names(missing)} cannot be cut by {level} in the catalog.")
    return " ".join(text)
