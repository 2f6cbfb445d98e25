"""What every combined analysis shares: its result, KPI queries over a reporting period,
sample sizes and Wilson intervals (statistical honesty), and the words of the readings.

Every number comes from the KPI engine (:func:`callkpi.kpi.run_query` with
``samples=True``), so a value here is the one ``callkpi kpi`` shows for the same cut.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from callkpi.goals.periods import Period
from callkpi.goals.stats import MIN_SAMPLE, wilson
from callkpi.kpi import Catalog, KpiQuery, load_catalog, run_query
from callkpi.store import Warehouse

TOO_FEW = "too few to rank"
"""The flag of a row with fewer than MIN_SAMPLE observations: never placed or ranked."""


class InsightError(ValueError):
    """An analysis that cannot run as asked (e.g. a warehouse without any activity)."""


@dataclass(frozen=True)
class Insight:
    """One analysis over one period: rows of plain values and how to read them."""

    analysis: str
    """The CLI name, e.g. ``aht-transfers``."""
    title: str
    period: Period
    tz: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    reading: str
    """One paragraph in plain language: what the rows say."""
    center: dict[str, Any] = field(default_factory=dict)
    """The reference values the rows are compared with (the whole center's)."""
    units: Mapping[str, str] = field(default_factory=dict)
    """The unit of each numeric column (ratio, seconds, hours, count, currency), for display."""


@cache
def insights_catalog() -> Catalog:
    """The built-in catalog plus ``kpis.yaml``: totals the analyses need (marketing cost)."""
    return load_catalog([Path(__file__).with_name("kpis.yaml")])


def kpi_rows(
    wh: Warehouse,
    period: Period,
    tz: str,
    kpis: Sequence[str],
    *,
    by: Sequence[str] = (),
    grain: str = "all",
    where: Iterable[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """The engine's rows for ``kpis`` over the period's local days, with ``<kpi>__n``."""
    query = KpiQuery(
        kpis=tuple(kpis),
        by=tuple(by),
        grain=grain,
        start=period.start_datetime(),
        end=period.end_datetime(),
        tz=tz,
        where=tuple(where),
        samples=True,
    )
    return run_query(wh, query, catalog=insights_catalog()).rows


def only(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The single row of a query without ``by`` (an empty dict if the engine gave none)."""
    return rows[0] if rows else {}


def latest_full_month(wh: Warehouse, tz: str = "UTC") -> Period:
    """The latest month the data covers to its last day: the month of the latest activity
    (calls, dials, agent logins) if that is the month's last day, else the month before,
    or, when the month before has no activity at all, the latest activity's month."""
    activity = ("offered", "dials", "logged_in_time")
    rows = run_query(wh, KpiQuery(kpis=activity, grain="day", tz=tz)).rows
    days = sorted(
        dt.date.fromisoformat(r["period_start"][:10]) for r in rows if any(r[k] for k in activity)
    )
    if not days:
        raise InsightError(
            "the warehouse has no calls, dials or agent logins: load data first "
            "(callkpi ingest ... or callkpi demo)"
        )
    last = days[-1]
    month = _month(last)
    if last == month.last:
        return month
    previous = month.previous()
    return previous if any(previous.first <= d <= previous.last for d in days) else month


def _month(day: dt.date) -> Period:
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return Period(first, following - dt.timedelta(days=1))


# -- statistical honesty --------------------------------------------------------------------


def enough(n: float | None) -> bool:
    """At least MIN_SAMPLE observations: enough to place or rank a row."""
    return n is not None and n >= MIN_SAMPLE


def too_few(n: float | None, what: str) -> str:
    return f"{TOO_FEW} ({n or 0:,.0f} {what} < {MIN_SAMPLE})"


def add_interval(row: dict[str, Any], kpi: str) -> None:
    """``<kpi>_low`` and ``<kpi>_high``: the 95 % Wilson interval of a proportion KPI (a
    ratio of counts) over its ``<kpi>__n`` trials; None without trials."""
    value = row.get(kpi)
    bounds = wilson(value, row.get(f"{kpi}__n") or 0) if value is not None else None
    if value is None or bounds is None:
        row[f"{kpi}_low"] = row[f"{kpi}_high"] = None
        return
    # An observed 0 or 1 is its own bound exactly (not 1e-17 off from rounding).
    row[f"{kpi}_low"] = 0.0 if value <= 0 else bounds[0]
    row[f"{kpi}_high"] = 1.0 if value >= 1 else bounds[1]


def within_noise(row: dict[str, Any], kpi: str, reference: float | None) -> bool:
    """The row's 95 % interval holds the reference: the difference may be chance."""
    low, high = row.get(f"{kpi}_low"), row.get(f"{kpi}_high")
    if reference is None or low is None or high is None:
        return False
    return bool(low <= reference <= high)


def interval_columns(kpi: str) -> tuple[str, ...]:
    return (kpi, f"{kpi}__n", f"{kpi}_low", f"{kpi}_high")


def above(value: float | None, reference: float | None) -> bool:
    """High side of a quadrant: strictly above the center (equal counts as low)."""
    return value is not None and reference is not None and value > reference


def share(part: float | None, whole: float | None) -> float | None:
    """``part / whole`` as a float; None when the whole is zero (never 0, never an error)."""
    if part is None or not whole:
        return None
    return float(part) / float(whole)


# -- words ------------------------------------------------------------------------------------


def when(period: Period) -> str:
    """``in 2026-10``, ``on 2026-10-05``: the period as a reading names it."""
    return f"{'on' if period.days == 1 else 'in'} {period.label()}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def secs(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} s"


def num(value: float | None, decimals: int = 0) -> str:
    return "—" if value is None else f"{value:,.{decimals}f}"


def names(items: Sequence[Any], limit: int = 4) -> str:
    """``a, b and c`` or ``a, b, c, d and 3 more``."""
    shown = [str(i) for i in items[:limit]]
    rest = len(items) - len(shown)
    if rest > 0:
        return f"{', '.join(shown)} and {rest} more"
    if len(shown) > 1:
        return f"{', '.join(shown[:-1])} and {shown[-1]}"
    return shown[0] if shown else "none"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
