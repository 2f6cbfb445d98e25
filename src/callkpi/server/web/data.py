"""What the dashboard pages show, computed on the server in the caller's scope.

Every number a page shows comes from here (through the JSON routes of
:mod:`callkpi.server.web.routes`), never from the browser's own arithmetic: the page sends
its filters (period, tenant, site, team, queue, campaign, agent) and gets numbers back.

Scope: :func:`subject_where` turns the filters and the caller's scope into ``where``
filters. A filter on a scoped dimension must name an allowed value (else
:class:`ScopeError`, 403); a scoped dimension without a filter gets its one allowed value,
or, with several, the caller must choose one (:class:`ScopeChoice`, 400: the filter bar
always does). A KPI whose data cannot be cut by one of the ``where`` dimensions is not
shown (never computed unfiltered), and every engine query still goes through
:func:`callkpi.server.scopes.scoped_queries` as the last check.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callkpi.export import Sheet, write_xlsx
from callkpi.goals.benchmark import currency_of
from callkpi.goals.periods import Period, PeriodError, parse_period
from callkpi.goals.scorecard import (
    BY_DIMENSIONS,
    ScorecardError,
    build_scorecard,
    subject_chain,
)
from callkpi.goals.targets import applicable, list_targets
from callkpi.kpi import Catalog, KpiQuery, QueryError, run_query
from callkpi.kpi.benchmarks import for_kpi
from callkpi.kpi.docs import dimensions_of
from callkpi.kpi.semantic import SemanticModel
from callkpi.server.auth import Scope
from callkpi.server.scopes import ScopeChoice, ScopeError, merge_rows, scoped_queries
from callkpi.server.web.cache import AnswerCache, data_version, scope_key
from callkpi.store import Warehouse

FILTER_DIMENSIONS = ("tenant", "site", "team", "queue", "campaign", "agent")
"""The filter bar's dimensions, in its order."""

TILE_KPIS = ("offered", "service_level", "abandon_rate", "asa", "aht", "fcr", "occupancy",
             "adherence", "csat", "nps", "conversion_rate", "avg_deal_size")
"""The overview's tiles, in order (those without data in the scope are left out)."""

# Where a dimension's values come from (a KPI whose data has the dimension).
_OPTION_SOURCES = {"tenant": ("offered",), "site": ("logged_in_time",), "team": ("offered",),
                   "queue": ("offered",), "campaign": ("dials", "leads_handled"),
                   "agent": ("offered",)}
MAX_OPTIONS = 500
MAX_FILTER = 200


class WebError(ValueError):
    """A page request that cannot be answered as asked (HTTP 400); the message says why."""


@dataclass(frozen=True)
class Engine:
    """The warehouse connection the pages read through, its lock, the catalog and zone,
    and the answers kept until the data changes (:mod:`callkpi.server.web.cache`)."""

    wh: Warehouse
    lock: threading.Lock
    catalog: Catalog
    semantic: SemanticModel
    tz: str
    cache: AnswerCache = field(default_factory=AnswerCache, compare=False)
    versions: Callable[[], tuple[Any, ...]] | None = field(default=None, compare=False)
    """Reads the data version without the lock (a
    :class:`callkpi.server.web.cache.VersionReader`); None: under the lock."""

    def version(self) -> tuple[Any, ...]:
        """The data version (:func:`callkpi.server.web.cache.data_version`)."""
        if self.versions is not None:
            return self.versions()
        return data_version(self.wh, self.lock)

    def kept(self, what: str, scope: Scope, params: tuple[Any, ...],
             compute: Callable[[], Any]) -> Any:
        """``compute()``'s answer, kept per data version, caller's scope and parameters."""
        return self.cache.kept(self.version, (what, scope_key(scope.limits), self.tz, params),
                               compute)

    def run(self, query: KpiQuery, scope: Scope) -> list[dict[str, Any]]:
        """Rows of ``query`` limited to ``scope`` (the server's scope check)."""
        parts = scoped_queries(query, scope, self.catalog, self.semantic)
        with self.lock:
            results = [run_query(self.wh, q, catalog=self.catalog) for q in parts]
        return merge_rows(query, [r.rows for r in results])


def clean_filters(raw: Mapping[str, str | None]) -> dict[str, str]:
    """The filter bar's values that are set (an empty value is "all")."""
    found = {}
    for dim in FILTER_DIMENSIONS:
        value = (raw.get(dim) or "").strip()
        if len(value) > MAX_FILTER:
            raise WebError(f"{dim}: longer than {MAX_FILTER} characters")
        if value:
            found[dim] = value
    return found


def subject_where(scope: Scope, filters: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``where`` filters for the caller's filters within their scope."""
    where = []
    for dim in FILTER_DIMENSIONS:
        value = filters.get(dim)
        allowed = scope.limits.get(dim)
        if value:
            if allowed is not None and value not in allowed:
                raise ScopeError(f"{dim}={value}: outside your scope")
            where.append((dim, value))
        elif allowed is not None:
            if len(allowed) > 1:
                raise ScopeChoice(
                    f"your scope has several {dim} values ({', '.join(allowed)}): "
                    f"choose one with {dim}=VALUE")
            where.append((dim, allowed[0]))
    return where


def usable(kpis: Sequence[str], where: Sequence[tuple[str, str]], engine: Engine) -> list[str]:
    """The KPIs whose data can be cut by every ``where`` dimension."""
    dims = {d for d, _ in where}
    return [k for k in kpis
            if dims <= set(dimensions_of(engine.catalog[k], engine.catalog, engine.semantic))]


def period_of(text: str | None) -> Period | None:
    """The period a page asks for (None: not given)."""
    if text is None or not text.strip():
        return None
    if len(text) > 40:
        raise WebError("period: longer than 40 characters")
    try:
        period = parse_period(text)
    except PeriodError as exc:
        raise WebError(str(exc)) from None
    if not (period.first.year >= 1900 and period.last.year < 2200):
        raise WebError(f"period {text!r}: expected years from 1900 to 2199")
    if period.days > 3700:
        raise WebError(f"period {text!r}: at most ten years")
    return period


def _default_where(scope: Scope) -> list[tuple[str, str]]:
    """The scope's first value of each scoped dimension (what the filter bar starts with)."""
    return [(dim, values[0]) for dim, values in scope.limits.items()]


def data_days(engine: Engine, scope: Scope) -> tuple[dt.date, dt.date] | None:
    """The first and last day (in the server's zone) with calls in the caller's scope."""
    where = _default_where(scope)
    kpis = usable(["offered"], where, engine)
    if not kpis:
        return None
    rows = engine.run(KpiQuery(kpis=tuple(kpis), grain="day", tz=engine.tz,
                               where=tuple(where)), scope)
    days = [dt.date.fromisoformat(r["period_start"][:10]) for r in rows if r.get("offered")]
    return (min(days), max(days)) if days else None


def _kept_days(engine: Engine, scope: Scope) -> tuple[dt.date, dt.date] | None:
    days: tuple[dt.date, dt.date] | None = engine.kept(
        "data_days", scope, (), lambda: data_days(engine, scope))
    return days


def default_period(engine: Engine, scope: Scope) -> Period:
    """The month of the latest data in the scope (this month without data)."""
    days = _kept_days(engine, scope)
    last = days[1] if days else dt.datetime.now(dt.UTC).date()
    return parse_period(f"{last:%Y-%m}")


def filter_options(engine: Engine, scope: Scope) -> dict[str, Any]:
    """For the filter bar: each dimension's values in the caller's scope, whether "all" is
    a choice (not for a scoped dimension), the months with data and the default period.

    Kept per scope until the data changes (a new ingest batch: uploads, posted events, a
    tailed log, ``callkpi ingest``): every page asks for it, and it reads each dimension's
    values from the raw tables."""
    return engine.kept("filters", scope, (), lambda: _filter_options(engine, scope))


def _option_values(engine: Engine, scope: Scope, kpi: str, dims: Sequence[str],
                   many: Sequence[str]) -> dict[str, set[str]] | None:
    """The values of each of ``dims`` among the groups of ``kpi``'s data in the scope
    (None: this KPI's data cannot be cut so)."""
    query = KpiQuery(kpis=(kpi,), by=tuple(dict.fromkeys((*dims, *many))), tz=engine.tz)
    try:
        rows = engine.run(query, scope)
    except (ScopeError, ScopeChoice, QueryError):
        return None
    return {d: {str(r[d]) for r in rows if r.get(d) is not None} for d in dims}


def _filter_options(engine: Engine, scope: Scope) -> dict[str, Any]:
    many = [d for d, v in scope.limits.items() if len(v) > 1]
    free = [d for d in FILTER_DIMENSIONS if d not in scope.limits]
    found: dict[str, set[str]] = {d: set() for d in free}
    # One query per source KPI for all the dimensions it gives the values of (each
    # dimension's values are those of the groups by it alone); one query per dimension
    # where that query cannot be made.
    sources: dict[str, list[str]] = {}
    for dim in free:
        for kpi in _OPTION_SOURCES[dim]:
            sources.setdefault(kpi, []).append(dim)
    for kpi, kpi_dims in sources.items():
        got = _option_values(engine, scope, kpi, kpi_dims, many)
        if got is None and len(kpi_dims) > 1:
            got = {}
            for dim in kpi_dims:
                got |= _option_values(engine, scope, kpi, [dim], many) or {}
        for dim, values in (got or {}).items():
            found[dim] |= values
    dims: dict[str, Any] = {}
    for dim in FILTER_DIMENSIONS:
        allowed = scope.limits.get(dim)
        dims[dim] = ({"values": list(allowed), "all": False} if allowed is not None
                     else {"values": sorted(found[dim])[:MAX_OPTIONS], "all": True})
    days = _kept_days(engine, scope)
    months: list[str] = []
    if days:
        month = days[0].replace(day=1)
        while month <= days[1]:
            months.append(f"{month:%Y-%m}")
            month = (month + dt.timedelta(days=32)).replace(day=1)
    return {
        "dimensions": dims,
        "months": months[::-1],
        "first_day": days[0].isoformat() if days else None,
        "last_day": days[1].isoformat() if days else None,
        "default_period": default_period(engine, scope).label(),
        "tz": engine.tz,
    }


def _kpi_info(engine: Engine, kpi_id: str) -> dict[str, Any]:
    kpi = engine.catalog[kpi_id]
    return {"kpi": kpi_id, "name": kpi.name, "unit": kpi.unit, "direction": kpi.direction}


def _period_key(period: Period) -> tuple[str, str]:
    return (period.first.isoformat(), period.last.isoformat())


def _filters_key(filters: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(filters.items()))


def overview(engine: Engine, scope: Scope, period: Period,
             filters: Mapping[str, str]) -> dict[str, Any]:
    """KPI tiles: the value for the period, its target, deviation and status (exactly the
    scorecard's), and the trend by day (kept until the data or a target changes)."""
    return engine.kept(
        "overview", scope, (_period_key(period), _filters_key(filters)),
        lambda: _overview(engine, scope, period, filters))


def _overview(engine: Engine, scope: Scope, period: Period,
              filters: Mapping[str, str]) -> dict[str, Any]:
    where = subject_where(scope, filters)
    kpis = usable(TILE_KPIS, where, engine)
    card_rows: dict[str, dict[str, Any]] = {}
    series: dict[str, list[list[Any]]] = {k: [] for k in kpis}
    if kpis:
        with engine.lock:  # the tiles show no recommendation: no rules (nor their KPIs)
            card = build_scorecard(engine.wh, period, tz=engine.tz, kpis=kpis, where=where,
                                   catalog=engine.catalog, rules=())
        card_rows = {r["kpi"]: r for r in card.rows}
        days = engine.run(KpiQuery(kpis=tuple(kpis), grain="day", tz=engine.tz,
                                   start=period.start_datetime(), end=period.end_datetime(),
                                   where=tuple(where)), scope)
        for row in days:
            for k in kpis:
                series[k].append([row["period_start"][:10], row.get(k)])
    tiles = []
    for k in kpis:
        row = card_rows.get(k, {})
        if row.get("actual") is None and all(v is None for _, v in series[k]):
            continue
        tiles.append({**_kpi_info(engine, k), "value": row.get("actual"),
                      "target": row.get("target"), "deviation": row.get("deviation"),
                      "status": row.get("status", "no target"), "n": row.get("n"),
                      "target_scope": row.get("target_scope"), "series": series[k]})
    return {
        "period": period.label(), "from": period.first.isoformat(),
        "to": period.last.isoformat(), "tz": engine.tz, "where": dict(where),
        "currency": _currency(engine), "tiles": tiles,
        "unavailable": [k for k in TILE_KPIS if k not in kpis],
    }


def scorecard(engine: Engine, scope: Scope, period: Period, filters: Mapping[str, str],
              by: str | None) -> dict[str, Any]:
    """The scorecard (:func:`callkpi.goals.scorecard.build_scorecard`) limited to the
    caller's scope and filters, optionally one row group per ``by`` value (kept until the
    data or a target changes)."""
    return engine.kept(
        "scorecard", scope, (_period_key(period), _filters_key(filters), by),
        lambda: _scorecard(engine, scope, period, filters, by))


def _scorecard(engine: Engine, scope: Scope, period: Period, filters: Mapping[str, str],
               by: str | None) -> dict[str, Any]:
    if by is not None and by not in BY_DIMENSIONS:
        raise WebError(f"by {by[:40]!r}: expected one of {', '.join(BY_DIMENSIONS)}")
    where = subject_where(scope, filters)
    # The same check as every KPI query: a scoped dimension must be among the filters.
    missing = [d for d in scope.limits if d not in {w for w, _ in where}]
    if missing:  # pragma: no cover - subject_where always adds them
        raise ScopeError(f"{missing[0]}: not limited to your scope")
    try:
        with engine.lock:
            card = build_scorecard(engine.wh, period, by=by, tz=engine.tz, where=where,
                                   catalog=engine.catalog)
    except ScorecardError as exc:
        raise WebError(str(exc)) from None
    recommendations = [
        {"group": group, "rule": r.rule, "action": r.action, "texts": dict(r.texts),
         "kpis": list(r.kpis)}
        for group, found in card.recommendations.items() for r in found
    ]
    return {
        "period": period.label(), "from": period.first.isoformat(),
        "to": period.last.isoformat(), "tz": engine.tz, "by": by, "where": dict(where),
        "currency": _currency(engine), "columns": list(card.columns), "rows": card.rows,
        "skipped": card.skipped, "recommendations": recommendations,
    }


MAX_TABLE_KPIS = 12
MAX_TABLE_BY = 3


def _benchmark(kpi_id: str) -> dict[str, Any] | None:
    found = for_kpi(kpi_id)
    if found is None:
        return None
    return {"low": found.low, "high": found.high, "value": found.value,
            "currency": found.currency, "source": found.source}


def kpi_table(engine: Engine, scope: Scope, period: Period, filters: Mapping[str, str],
              kpis: Sequence[str], by: Sequence[str] = (), grain: str = "all",
              previous: bool = False, samples: bool = False) -> dict[str, Any]:
    """KPIs for the period and the filters at a cut and grain (the pages' charts and
    tables): the rows of the KPI engine in the caller's scope, each KPI's unit, the target
    that applies to the selection (as the overview's) and the industry benchmark; with
    ``previous`` also the rows of the period before (for "compare with"); with
    ``samples`` each ratio's sample size as ``KPI__n``. Kept until the data or a target
    changes."""
    return engine.kept(
        "table", scope, (_period_key(period), _filters_key(filters), tuple(kpis), tuple(by),
                         grain, previous, samples),
        lambda: _kpi_table(engine, scope, period, filters, kpis, by, grain, previous,
                           samples))


def _kpi_table(engine: Engine, scope: Scope, period: Period, filters: Mapping[str, str],
               kpis: Sequence[str], by: Sequence[str] = (), grain: str = "all",
               previous: bool = False, samples: bool = False) -> dict[str, Any]:
    if not kpis:
        raise WebError("kpis: name at least one KPI")
    if len(kpis) > MAX_TABLE_KPIS or len(by) > MAX_TABLE_BY:
        raise WebError(f"at most {MAX_TABLE_KPIS} KPIs and {MAX_TABLE_BY} by dimensions")
    unknown = [k for k in kpis if k not in engine.catalog]
    if unknown:
        raise WebError(f"unknown KPI {unknown[0][:60]!r}")
    where = subject_where(scope, filters)
    shown = usable(kpis, where, engine)

    def rows_of(p: Period) -> list[dict[str, Any]]:
        if not shown:
            return []
        try:
            return engine.run(KpiQuery(kpis=tuple(shown), by=tuple(by), grain=grain,
                                       tz=engine.tz, start=p.start_datetime(),
                                       end=p.end_datetime(), where=tuple(where),
                                       samples=samples), scope)
        except QueryError as exc:
            raise WebError(str(exc)) from None

    rows = rows_of(period)
    before = period.previous()
    with engine.lock:
        chain = subject_chain(engine.wh, where)
        targets = list_targets(engine.wh, period)
    info = []
    for k in shown:
        target = applicable(targets, k, period, chain)
        info.append({**_kpi_info(engine, k), "benchmark": _benchmark(k),
                     "target": target["target"] if target else None,
                     "target_scope": (None if target is None else target["scope"] if
                                      target["scope_value"] is None else
                                      f"{target['scope']}={target['scope_value']}")})
    result: dict[str, Any] = {
        "period": period.label(), "from": period.first.isoformat(),
        "to": period.last.isoformat(), "tz": engine.tz, "where": dict(where),
        "by": list(by), "grain": grain, "currency": _currency(engine), "kpis": info,
        "unavailable": [k for k in kpis if k not in shown],
        "columns": [*by, *([] if grain == "all" else ["period_start"]), *shown,
                    *[f"{k}__n" for k in shown if rows and f"{k}__n" in rows[0]]],
        "rows": rows,
    }
    if previous:
        result |= {"previous": {"period": before.label(), "from": before.first.isoformat(),
                                "to": before.last.isoformat(), "rows": rows_of(before)}}
    return result


def _currency(engine: Engine) -> str | None:
    with engine.lock:
        return currency_of(engine.wh)


# -- tables for export -------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    name: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    units: Mapping[str, str]
    row_unit: str | None = None
    value_columns: Sequence[str] = ()


OVERVIEW_COLUMNS = ("kpi", "name", "unit", "value", "target", "deviation", "status", "n",
                    "target_scope")
WALLBOARD_COLUMNS = ("tenant", "queue", "waiting", "longest_wait_s", "talking", "ringing",
                     "wrapup", "paused", "idle", "offered_today", "answered_today",
                     "abandoned_today", "service_level_today", "abandon_rate_today",
                     "asa_today", "aht_today", "service_level_interval",
                     "abandon_rate_interval", "service_level_target")


def overview_table(data: Mapping[str, Any]) -> Table:
    return Table(f"overview {data['period']}", OVERVIEW_COLUMNS, data["tiles"],
                 {"deviation": "ratio"}, row_unit="unit", value_columns=("value", "target"))


def scorecard_table(data: Mapping[str, Any]) -> Table:
    return Table(f"scorecard {data['period']}", data["columns"], data["rows"],
                 {"ci_low": "ratio", "ci_high": "ratio", "n": "count"}, row_unit="unit",
                 value_columns=("target", "actual"))


def kpi_table_table(data: Mapping[str, Any]) -> Table:
    units = {k["kpi"]: k["unit"] for k in data["kpis"]}
    units |= {f"{k}__n": "count" for k in units}
    cut = "-".join([*data["by"], *([] if data["grain"] == "all" else [data["grain"]])])
    return Table(f"kpis {cut} {data['period']}".replace("  ", " "), data["columns"],
                 data["rows"], units)


def wallboard_table(snapshot: Mapping[str, Any]) -> Table:
    rows = []
    for q in snapshot.get("queues", []):
        today, interval = q.get("today") or {}, q.get("interval") or {}
        rows.append({
            "tenant": q.get("tenant"), "queue": q.get("queue"), "waiting": q.get("waiting"),
            "longest_wait_s": q.get("longest_wait_s"), **(q.get("agents") or {}),
            **{f"{k}_today": today.get(k) for k in
               ("offered", "answered", "abandoned", "service_level", "abandon_rate", "asa",
                "aht")},
            "service_level_interval": interval.get("service_level"),
            "abandon_rate_interval": interval.get("abandon_rate"),
            "service_level_target": q.get("service_level_target"),
        })
    units = {c: "ratio" for c in WALLBOARD_COLUMNS if "service_level" in c or "rate" in c}
    units |= {"longest_wait_s": "seconds", "asa_today": "seconds", "aht_today": "seconds"}
    return Table(f"wallboard {str(snapshot.get('at', ''))[:10]}", WALLBOARD_COLUMNS, rows,
                 units)


def _text(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return "" if value is None else value


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Cyrillic names right), one header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_text(row.get(c)) for c in table.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    """One sheet with number formats (:mod:`callkpi.export`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.xlsx"
        write_xlsx(path, [Sheet(table.name.replace(":", "-"), table.columns, table.rows,
                                units=table.units, row_unit=table.row_unit,
                                value_columns=table.value_columns)])
        return path.read_bytes()


__all__ = [
    "FILTER_DIMENSIONS", "TILE_KPIS", "Engine", "Table", "WebError", "clean_filters",
    "filter_options", "kpi_table", "kpi_table_table", "overview", "overview_table",
    "period_of", "scorecard",
    "scorecard_table", "subject_where", "to_csv", "to_xlsx", "usable", "wallboard_table",
]
