"""``callkpi benchmark``: where the center stands against the industry and against its own
past, and where each agent stands among peers.

* **Industry**: every KPI with a shipped benchmark (``kpi/catalog/benchmarks.yaml``) is
  computed for the period with the parameters the benchmark assumes and placed below,
  within or above its range; better or worse follows the KPI's direction. Money
  benchmarks compare only with data in their currency ("not comparable" otherwise).
* **Own past**: the same KPI in the ``history`` periods before (the previous month for a
  month...): the change from the previous period as a trend (improving / worsening /
  steady, steady meaning within 5 % of the old value) and the best period.
* **Peers**: each agent's percentile among the agents with at least ``MIN_SAMPLE``
  observations: the share of those peers doing worse, plus half of those doing equally
  (the agent counts among their own peers), so 1.0 is unreachable and the median agent
  is 0.5; rank 1 is the best. Agents with fewer observations are shown, flagged and not
  ranked. A neutral KPI has no ranking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from callkpi.goals.periods import Period
from callkpi.goals.recommendations import TREND_THRESHOLD
from callkpi.goals.stats import MIN_SAMPLE, percentile_rank
from callkpi.kpi import Catalog, KpiQuery, builtin_catalog, run_query
from callkpi.kpi.benchmarks import builtin_benchmarks, for_kpi, place
from callkpi.kpi.docs import dimensions_of
from callkpi.kpi.semantic import semantic_model
from callkpi.store import Warehouse

HISTORY = 6
"""Earlier periods compared by default."""

AGENT_KPIS = ("aht", "fcr", "avg_acw", "transfer_rate", "agent_answer_rate", "occupancy",
              "adherence", "conversion_rate", "csat")
"""KPIs ranked among agents by default: the ones an agent's own work moves."""

CENTER_COLUMNS = ("kpi", "name", "unit", "actual", "benchmark", "low", "high", "position",
                  "verdict", "previous", "change", "trend", "best_period", "best", "source")
AGENT_COLUMNS = ("agent", "team", "kpi", "unit", "actual", "n", "percentile", "rank", "peers",
                 "few_observations", "verdict")


def currency_of(wh: Warehouse) -> str | None:
    """The warehouse's money currency (the most common in costs)."""
    rows = wh.sql("SELECT currency FROM costs WHERE currency IS NOT NULL GROUP BY 1 "
                  "ORDER BY count(*) DESC, 1 LIMIT 1")
    return rows[0][0] if rows else None


def better(a: float, b: float, direction: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` for a KPI of this direction."""
    if direction == "higher_is_better":
        return a > b
    if direction == "lower_is_better":
        return a < b
    return False


def trend(
    before: float | None, now: float | None, direction: str
) -> tuple[float | None, str | None]:
    """The relative change from ``before`` to ``now`` and what it means."""
    if before is None or now is None or before == 0:
        return None, None
    change = (now - before) / abs(before)
    if abs(change) <= TREND_THRESHOLD or direction == "neutral":
        return change, "steady" if abs(change) <= TREND_THRESHOLD else "changed"
    improving = change > 0 if direction == "higher_is_better" else change < 0
    return change, "improving" if improving else "worsening"


def _grain(period: Period) -> str | None:
    """The calendar grain of a month, quarter, year or day; None for a custom range."""
    label = period.label()
    if ".." in label:
        return None
    if "-Q" in label:
        return "quarter"
    return {4: "year", 7: "month", 10: "day"}[len(label)]


def _values(wh: Warehouse, kpis: Sequence[str], periods: Sequence[Period], tz: str,
            params: dict[str, Any], catalog: Catalog,
            where: Sequence[tuple[str, str]] = ()) -> dict[Period, dict[str, Any]]:
    """The KPIs in each period: one query at the periods' grain when they are calendar
    periods, else one query per period."""
    grain = _grain(periods[0])
    if grain is not None:
        result = run_query(wh, KpiQuery(
            kpis=tuple(kpis), grain=grain, start=periods[-1].start_datetime(),
            end=periods[0].end_datetime(), tz=tz, params=params, where=tuple(where)),
            catalog=catalog)
        by_start = {dt.date.fromisoformat(row["period_start"][:10]): row for row in result.rows}
        return {p: by_start.get(p.first, {}) for p in periods}
    found = {}
    for p in periods:
        result = run_query(wh, KpiQuery(
            kpis=tuple(kpis), start=p.start_datetime(), end=p.end_datetime(), tz=tz,
            params=params, where=tuple(where)), catalog=catalog)
        found[p] = result.rows[0] if result.rows else {}
    return found


def center_report(
    wh: Warehouse,
    period: Period,
    *,
    tz: str = "UTC",
    industry: str | None = None,
    kpis: Sequence[str] = (),
    history: int = HISTORY,
    catalog: Catalog | None = None,
    where: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """One row per KPI: the period's value against the industry and the center's past.
    ``where`` limits every KPI to dimension values (a client's numbers); a KPI whose data
    cannot be cut by a ``where`` dimension is left out, never computed unfiltered."""
    catalog = catalog or builtin_catalog()
    ids = list(kpis) or list(dict.fromkeys(
        b.kpi for b in builtin_benchmarks() if b.kpi in catalog))
    for kpi_id in ids:
        catalog[kpi_id]  # an unknown KPI is a clear error here
    if where:
        semantic = semantic_model()
        cuts = {d for d, _ in where}
        ids = [k for k in ids if cuts <= set(dimensions_of(catalog[k], catalog, semantic))]
    periods = [period]
    for _ in range(history):
        periods.append(periods[-1].previous())
    # KPIs are computed with the parameters their benchmark assumes (grouped by them).
    groups: dict[tuple[tuple[str, Any], ...], list[str]] = {}
    for kpi_id in ids:
        bench = for_kpi(kpi_id, industry=industry)
        groups.setdefault(tuple(sorted(bench.params.items())) if bench else (), []).append(kpi_id)
    values: dict[Period, dict[str, Any]] = {p: {} for p in periods}
    for params, members in groups.items():
        for p, found in _values(wh, members, periods, tz, dict(params), catalog,
                                where).items():
            values[p].update(found)
    currency = currency_of(wh)
    rows = []
    for kpi_id in ids:
        kpi = catalog[kpi_id]
        actual = values[period].get(kpi_id)
        placed = place(kpi_id, actual, kpi.direction, industry=industry, currency=currency)
        bench = for_kpi(kpi_id, industry=industry)
        before = values[periods[1]].get(kpi_id) if history else None
        change, direction = trend(before, actual, kpi.direction)
        seen = [(p, values[p][kpi_id]) for p in periods if values[p].get(kpi_id) is not None]
        best: tuple[Period, float] | None = None
        for p, v in seen:
            if best is None or better(v, best[1], kpi.direction):
                best = (p, v)
        if kpi.direction == "neutral":
            best = None
        rows.append({
            "kpi": kpi_id, "name": kpi.name, "unit": kpi.unit, "actual": actual,
            "benchmark": placed["benchmark"] if placed else None,
            "low": bench.low if bench and bench.value is None else bench.value if bench else None,
            "high": bench.high if bench and bench.value is None else bench.value if bench else None,
            "currency": bench.currency if bench else None,
            "position": placed["position"] if placed else None,
            "verdict": placed["verdict"] if placed else None,
            "previous": before, "change": change, "trend": direction,
            "best_period": best[0].label() if best else None,
            "best": best[1] if best else None,
            "source": placed["source"] if placed else None,
            "note": placed["note"] if placed else None,
            "overstaffed": placed.get("overstaffed") if placed else None,
        })
    return rows


def agent_report(
    wh: Warehouse,
    period: Period,
    *,
    tz: str = "UTC",
    industry: str | None = None,
    kpis: Sequence[str] = (),
    catalog: Catalog | None = None,
) -> list[dict[str, Any]]:
    """One row per agent and KPI: the value, sample size, percentile and rank among peers."""
    catalog = catalog or builtin_catalog()
    semantic = semantic_model()
    if kpis:
        for kpi_id in kpis:
            if "agent" not in dimensions_of(catalog[kpi_id], catalog, semantic):
                raise ValueError(f"{kpi_id} cannot be cut by agent")
        ids = list(kpis)
    else:
        ids = [k for k in AGENT_KPIS
               if k in catalog and "agent" in dimensions_of(catalog[k], catalog, semantic)]
    result = run_query(wh, KpiQuery(
        kpis=tuple(ids), by=("agent",), start=period.start_datetime(),
        end=period.end_datetime(), tz=tz, samples=True), catalog=catalog)
    agents = [r for r in result.rows if r["agent"] is not None]
    teams = dict(wh.sql("SELECT agent, team FROM agents"))
    currency = currency_of(wh)
    rows = []
    for kpi_id in ids:
        kpi = catalog[kpi_id]
        scored = [r for r in agents if r.get(kpi_id) is not None]

        def enough(row: dict[str, Any], kpi_id: str = kpi_id) -> bool:
            n = row.get(f"{kpi_id}__n")
            return n is None or n >= MIN_SAMPLE

        sign = {"higher_is_better": 1, "lower_is_better": -1}.get(kpi.direction)
        peers = [sign * r[kpi_id] for r in scored if enough(r)] if sign else []
        for r in sorted(scored, key=lambda r: (-(sign or 0) * r[kpi_id], r["agent"])):
            ranked = sign is not None and enough(r)
            mine = sign * r[kpi_id] if sign else None
            placed = place(kpi_id, r[kpi_id], kpi.direction, industry=industry,
                           currency=currency)
            n = r.get(f"{kpi_id}__n")
            rows.append({
                "agent": r["agent"], "team": teams.get(r["agent"]), "kpi": kpi_id,
                "unit": kpi.unit, "actual": r[kpi_id], "n": n,
                "percentile": percentile_rank(mine, peers) if ranked and mine is not None
                else None,
                "rank": 1 + sum(1 for p in peers if mine is not None and p > mine)
                if ranked else None,
                "peers": len(peers) if sign else None,
                "few_observations": n is not None and n < MIN_SAMPLE,
                "verdict": placed["verdict"] if placed else None,
            })
    return rows
