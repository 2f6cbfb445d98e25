"""The scorecard: KPI | unit | target | actual | deviation | status | impact | what to do.

For a period (and optionally per agent, team, queue, campaign, tenant or site) every KPI
that has a target, and any asked for, is computed with the KPI engine; the target that
applies is found by precedence (:func:`callkpi.goals.targets.applicable`); deviation and
status follow the KPI's direction (:mod:`callkpi.goals.status`); proportions carry
their sample size and a 95 % Wilson interval, and fewer than ``MIN_SAMPLE``
observations is flagged; the rule library turns statuses, benchmarks and trends into
recommendations.

``where`` limits every KPI to some dimension values (``[("tenant", "acme")]``: a client's
scorecard, or the scorecard of one team or agent). A KPI whose data cannot be cut by a
``where`` dimension is never computed unfiltered: it is left out and listed in
``skipped``, like a KPI that cannot be cut by ``by``. Without ``by``, the targets that apply
are those of the most specific ``where`` value (an agent's, else their team's, ...), then the
center's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callkpi.goals.benchmark import currency_of
from callkpi.goals.periods import Period
from callkpi.goals.recommendations import Facts, Recommendation, Rule, builtin_rules, kpis_of
from callkpi.goals.recommendations import recommend as run_rules
from callkpi.goals.stats import MIN_SAMPLE, wilson
from callkpi.goals.status import DEFAULT_THRESHOLDS, SEVERITY, Status, Thresholds, deviation, status
from callkpi.goals.targets import Scope, applicable, list_targets
from callkpi.kpi import Catalog, KpiQuery, builtin_catalog, run_query
from callkpi.kpi.benchmarks import place
from callkpi.kpi.definitions import DerivedKpi, RatioKpi
from callkpi.kpi.docs import dimensions_of, measures_of
from callkpi.kpi.semantic import semantic_model
from callkpi.store import Warehouse

BY_DIMENSIONS = ("agent", "team", "queue", "campaign", "tenant", "site")
IMPACT_ORDER = {"high": 0, "medium": 1, "low": 2}
COLUMNS = ("kpi", "name", "unit", "target", "actual", "deviation", "status", "impact",
           "recommendations", "n", "ci_low", "ci_high", "few_observations", "target_scope",
           "owner", "due_date")


class ScorecardError(ValueError):
    """A scorecard that cannot be built as asked (an unknown KPI or dimension)."""


@dataclass(frozen=True)
class Scorecard:
    period: Period
    by: str | None
    rows: list[dict[str, Any]]
    recommendations: dict[str | None, list[Recommendation]] = field(default_factory=dict)
    """Per group value (None for the center)."""
    skipped: list[str] = field(default_factory=list)
    """KPIs that cannot be cut by ``by`` (left out, with the reason)."""

    @property
    def columns(self) -> tuple[str, ...]:
        return ((self.by,) if self.by else ()) + COLUMNS


def _is_proportion(kpi: Any, catalog: Catalog) -> bool:
    """A ratio of counts (answered of offered): the Wilson interval fits it."""
    semantic = semantic_model()
    if isinstance(kpi, DerivedKpi) and not kpi.uses and len(kpi.uses_kpis) == 1:
        kpi = catalog[kpi.uses_kpis[0]]  # fcr = 1 - repeat_contact_rate
    if not isinstance(kpi, RatioKpi) or kpi.unit != "ratio":
        return False
    return all(semantic.measure(m).agg == "count" for m in measures_of(kpi, catalog))


_PARENTS_SQL = {
    # For each scope, where its parent scopes come from (the most common one wins).
    "agent": "SELECT agent, team, site, tenant FROM agents",
    "team": "SELECT team, mode(site), mode(tenant) FROM agents WHERE team IS NOT NULL "
            "GROUP BY team",
    "site": "SELECT site, mode(tenant) FROM agents WHERE site IS NOT NULL GROUP BY site",
    "queue": "SELECT queue, mode(tenant) FROM calls WHERE queue IS NOT NULL GROUP BY queue",
    "campaign": "SELECT campaign, mode(tenant) FROM (SELECT campaign, tenant FROM calls "
                "UNION ALL SELECT campaign, tenant FROM leads) WHERE campaign IS NOT NULL "
                "GROUP BY campaign",
}
_PARENT_KINDS = {"agent": ("team", "site", "tenant"), "team": ("site", "tenant"),
                 "site": ("tenant",), "queue": ("tenant",), "campaign": ("tenant",)}


def _chains(wh: Warehouse, by: str | None, groups: Sequence[Any]) -> dict[Any, list[Scope]]:
    """For each group, the scopes whose targets may apply, most specific first: an agent's
    own, their team's, site's, tenant's, then the center's; a team's, site's, queue's or
    campaign's own, then its tenant's (and site's), then the center's."""
    if by is None:
        return {None: [("center", None)]}
    parents = {row[0]: row[1:] for row in wh.sql(_PARENTS_SQL[by])} if by in _PARENTS_SQL else {}
    kinds = _PARENT_KINDS.get(by, ())
    chains = {}
    for group in groups:
        found = parents.get(group, (None,) * len(kinds))
        chain: list[Scope] = [(by, group)]
        chain += [(kind, value) for kind, value in zip(kinds, found, strict=True) if value]
        chains[group] = [*chain, ("center", None)]
    return chains


# The most specific first: without ``by``, a where on one of these chooses the targets.
_WHERE_SUBJECTS = ("agent", "team", "queue", "campaign", "site", "tenant")


def subject_chain(wh: Warehouse, where: Sequence[tuple[str, str]]) -> list[Scope]:
    """The scopes whose targets apply to numbers limited by ``where`` (without ``by``):
    the chain of its most specific value (an agent's own, their team's, ..., the
    center's), or the center's alone."""
    for kind in _WHERE_SUBJECTS:
        values = [v for d, v in where if d == kind]
        if len(values) == 1:
            return _chains(wh, kind, values)[values[0]]
    return [("center", None)]


def _values(wh: Warehouse, kpis: Sequence[str], by: str | None, period: Period, tz: str,
            catalog: Catalog, where: Sequence[tuple[str, str]] = ()
            ) -> dict[Any, dict[str, Any]]:
    if not kpis:
        return {}
    result = run_query(wh, KpiQuery(
        kpis=tuple(kpis), by=(by,) if by else (), start=period.start_datetime(),
        end=period.end_datetime(), tz=tz, samples=True, where=tuple(where)), catalog=catalog)
    # Rows without the dimension (abandoned calls have no agent) belong to no group.
    return {
        (row[by] if by else None): row for row in result.rows if not by or row[by] is not None
    }


def build_scorecard(
    wh: Warehouse,
    period: Period,
    *,
    by: str | None = None,
    tz: str = "UTC",
    kpis: Sequence[str] = (),
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    rules: Sequence[Rule] | None = None,
    impacts: Mapping[str, str] | None = None,
    industry: str | None = None,
    catalog: Catalog | None = None,
    where: Sequence[tuple[str, str]] = (),
) -> Scorecard:
    if by is not None and by not in BY_DIMENSIONS:
        raise ScorecardError(f"--by {by!r}: expected one of {', '.join(BY_DIMENSIONS)}")
    catalog = catalog or builtin_catalog()
    rules = builtin_rules() if rules is None else rules
    targets = list_targets(wh, period)
    shown = list(dict.fromkeys([*(t["kpi"] for t in targets), *kpis]))
    unknown = [k for k in shown if k not in catalog]
    if unknown:
        raise ScorecardError(f"unknown KPI {unknown[0]!r}; `callkpi kpis list` shows the catalog")
    wanted = list(dict.fromkeys([*shown, *(k for k in kpis_of(rules) if k in catalog)]))
    semantic = semantic_model()
    cuts = list(dict.fromkeys([*((by,) if by else ()), *(d for d, _ in where)]))
    skipped = []
    if cuts:
        fits = [k for k in wanted
                if set(cuts) <= set(dimensions_of(catalog[k], catalog, semantic))]
        skipped = [k for k in shown if k not in fits]
        wanted = fits
    current = _values(wh, wanted, by, period, tz, catalog, where)
    # Only the rules look at the previous period: without rules it is not read.
    previous = _values(wh, wanted, by, period.previous(), tz, catalog, where) if rules else {}
    currency = currency_of(wh)
    chains = (_chains(wh, by, list(current)) if by is not None
              else {None: subject_chain(wh, where)})
    rows: list[dict[str, Any]] = []
    advice: dict[Any, list[Recommendation]] = {}
    for group, values in current.items():
        statuses: dict[str, str] = {}
        benchmarks: dict[str, Any] = {}
        group_rows = []
        for kpi_id in wanted:
            kpi = catalog[kpi_id]
            actual = values.get(kpi_id)
            target_row = applicable(targets, kpi_id, period, chains.get(group, []))
            target = target_row["target"] if target_row else None
            local = Thresholds(
                target_row["warning"] if target_row and target_row["warning"] is not None
                else thresholds.warning,
                target_row["critical"] if target_row and target_row["critical"] is not None
                else thresholds.critical,
            )
            state = status(actual, target, kpi.direction, local)
            statuses[kpi_id] = state.value
            placed = place(kpi_id, actual, kpi.direction, industry=industry, currency=currency)
            if placed:
                benchmarks[kpi_id] = placed
            if kpi_id not in shown:
                continue
            n = values.get(f"{kpi_id}__n")
            interval = (
                wilson(actual, n)
                if n and actual is not None and _is_proportion(kpi, catalog)
                else None
            )
            scope = (f"{target_row['scope']}" + (f"={target_row['scope_value']}"
                                                 if target_row["scope_value"] else "")
                     if target_row else None)
            group_rows.append({
                **({by: group} if by else {}),
                "kpi": kpi_id, "name": kpi.name, "unit": kpi.unit, "target": target,
                "actual": actual, "deviation": deviation(actual, target),
                "status": state.value,
                "impact": (target_row or {}).get("impact") or (impacts or {}).get(kpi_id)
                or kpi.impact,
                "recommendations": [],
                "n": n, "ci_low": interval[0] if interval else None,
                "ci_high": interval[1] if interval else None,
                "few_observations": n is not None and n < MIN_SAMPLE,
                "target_scope": scope,
                "owner": (target_row or {}).get("owner"),
                "due_date": _iso((target_row or {}).get("due_date")),
            })
        facts = Facts(values=values, statuses=statuses, benchmarks=benchmarks,
                      previous=previous.get(group, {}))
        found = run_rules(rules, facts)
        advice[group] = found
        for row in group_rows:
            row["recommendations"] = [r.action for r in found if row["kpi"] in r.kpis]
        group_rows.sort(key=lambda r: (IMPACT_ORDER.get(r["impact"], 3),
                                       SEVERITY[Status(r["status"])], shown.index(r["kpi"])))
        rows.extend(group_rows)
    return Scorecard(period, by, rows, advice, skipped)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value
