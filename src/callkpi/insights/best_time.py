"""The best time to call: connect rate and sales conversion by weekday and hour of day.

Cells are local hours (``tz``) of the dial attempts. A deal here is a connected dial
attempt whose disposition is a sale (``sale`` unless told otherwise), so the deal sits in
the hour the call was made and conversion (deals over connects) is a true share of the
connects. The catalog's ``conversion_rate`` is not used: cut by hour it divides deals
by the hour they *closed* in the CRM by leads by the hour they were *created*, which says
nothing about when to call.
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
    plural,
    share,
    too_few,
    when,
)
from callkpi.store import Warehouse

SALE_DISPOSITIONS = ("sale",)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO 1..7
CELL = ("weekday", "hour_of_day")
COLUMNS = (
    "weekday",
    "day",
    "hour_of_day",
    "dials",
    "connects",
    *interval_columns("connect_rate"),
    "deals",
    *interval_columns("conversion"),
    "connect_rank",
    "conversion_rank",
    "note",
)
UNITS = {
    "dials": "count",
    "connects": "count",
    "connect_rate": "ratio",
    "connect_rate__n": "count",
    "connect_rate_low": "ratio",
    "connect_rate_high": "ratio",
    "deals": "count",
    "conversion": "ratio",
    "conversion__n": "count",
    "conversion_low": "ratio",
    "conversion_high": "ratio",
}


def best_time(
    wh: Warehouse,
    period: Period,
    tz: str = "UTC",
    *,
    campaign: str | None = None,
    sale_dispositions: Sequence[str] = SALE_DISPOSITIONS,
) -> Insight:
    """Per weekday and local hour: dials, connects, connect rate, deals, conversion (deals
    over connects), each rate with its Wilson interval, ranked where the sample allows."""
    where = (("campaign", campaign),) if campaign else ()
    kpis = ("dials", "connects", "connect_rate")
    cells = kpi_rows(wh, period, tz, kpis, by=CELL, where=where)
    deals: dict[tuple[int, int], int] = {}
    for disposition in dict.fromkeys(sale_dispositions):
        sales = kpi_rows(
            wh, period, tz, ("connects",), by=CELL, where=(*where, ("disposition", disposition))
        )
        for s in sales:
            cell = (s["weekday"], s["hour_of_day"])
            deals[cell] = deals.get(cell, 0) + s["connects"]
    rows = [_cell(c, deals.get((c["weekday"], c["hour_of_day"]), 0)) for c in cells]
    rows.sort(key=lambda r: (r["weekday"], r["hour_of_day"]))
    _rank(rows, "connect_rate", "connect_rank")
    _rank(rows, "conversion", "conversion_rank")
    center = only(kpi_rows(wh, period, tz, kpis, where=where))
    total_deals = sum(deals.values())
    summary = {
        "dials": center.get("dials"),
        "connects": center.get("connects"),
        "connect_rate": center.get("connect_rate"),
        "deals": total_deals,
        "conversion": share(total_deals, center.get("connects")),
        "sale_dispositions": list(dict.fromkeys(sale_dispositions)),
    }
    return Insight(
        analysis="best-time",
        title="Best time to call: weekday x hour",
        period=period,
        tz=tz,
        columns=COLUMNS,
        rows=rows,
        reading=_reading(rows, summary, period, tz, campaign),
        center=summary,
        units=UNITS,
    )


def _cell(c: dict[str, Any], deals: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "weekday": c["weekday"],
        "day": WEEKDAYS[c["weekday"] - 1],
        "hour_of_day": c["hour_of_day"],
        "dials": c["dials"],
        "connects": c["connects"],
        "connect_rate": c["connect_rate"],
        "connect_rate__n": c["connect_rate__n"],
        "deals": deals,
        "conversion": share(deals, c["connects"]),
        "conversion__n": c["connects"],
    }
    add_interval(row, "connect_rate")
    add_interval(row, "conversion")
    notes = []
    if not enough(row["dials"]):
        notes.append(too_few(row["dials"], "dials"))
    elif not enough(row["connects"]):
        notes.append(too_few(row["connects"], "connects") + " for conversion")
    row["note"] = "; ".join(notes) or None
    return row


def _rank(rows: list[dict[str, Any]], kpi: str, column: str) -> None:
    """1 = best, among the cells with at least MIN_SAMPLE trials (the rest get no rank)."""
    for row in rows:
        row[column] = None
    eligible = [r for r in rows if enough(r[f"{kpi}__n"]) and r[kpi] is not None]
    eligible.sort(key=lambda r: (-r[kpi], -r[f"{kpi}__n"]))
    for rank, row in enumerate(eligible, start=1):
        row[column] = rank


def _label(row: dict[str, Any]) -> str:
    return f"{row['day']} {row['hour_of_day']:02d}-{row['hour_of_day'] + 1:02d} h"


def _best(rows: list[dict[str, Any]], kpi: str, column: str, reference: float | None) -> str:
    ranked = sorted((r for r in rows if r[column] is not None), key=lambda r: r[column])[:3]
    if not ranked:
        return ""
    listed = names([f"{_label(r)} ({pct(r[kpi])}, n={num(r[f'{kpi}__n'])})" for r in ranked])
    clearly = [r for r in ranked if reference is not None and (r[f"{kpi}_low"] or 0) > reference]
    if len(clearly) == len(ranked):
        caveat = "each clearly above the average (its 95 % interval lies above it)"
    elif clearly:
        caveat = f"{len(clearly)} of them clearly above the average"
    else:
        caveat = "none clearly above the average: the differences may be chance"
    return f"{listed}; {caveat}"


def _reading(
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    period: Period,
    tz: str,
    campaign: str | None,
) -> str:
    scope = f" for campaign {campaign}" if campaign else ""
    if not summary.get("dials"):
        return f"No dial attempts{scope} {when(period)}."
    sales = "/".join(summary["sale_dispositions"])
    text = [
        f"{when(period).capitalize()} ({tz}) {num(summary['dials'])} dials{scope} reached a person "
        f"{pct(summary['connect_rate'])} of the time, and {pct(summary['conversion'])} of "
        f"the connects ended in a sale (disposition {sales})."
    ]
    best_connect = _best(rows, "connect_rate", "connect_rank", summary["connect_rate"])
    if best_connect:
        text.append(f"Best hours to reach people: {best_connect}.")
    best_sale = _best(rows, "conversion", "conversion_rank", summary["conversion"])
    if best_sale:
        text.append(f"Best hours to sell once connected: {best_sale}.")
    elif summary["deals"] == 0:
        text.append(
            f"No connect had a sale disposition ({sales}); name yours with --sale-disposition."
        )
    few = [r for r in rows if r["connect_rank"] is None]
    if few:
        text.append(
            f"{plural(len(few), 'hour')} had fewer than {MIN_SAMPLE} dials, too few to rank."
        )
    return " ".join(text)
