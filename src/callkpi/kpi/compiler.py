"""KPI queries: from a :class:`KpiQuery` to an Ibis expression, and to result rows.

The compiler groups the requested KPIs' measures by table, builds one aggregate per
table (time range, dimension filters, buckets and ``--by`` keys), joins them on the keys
when KPIs span tables, and computes each KPI from its measures last: a ratio divides
sums at the requested grain and gives null, never 0 or an error, on a zero denominator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from callkpi import timezones
from callkpi.kpi import buckets
from callkpi.kpi.definitions import Catalog, CountKpi, RatioKpi, SumKpi, builtin_catalog
from callkpi.kpi.semantic import DERIVED_DIMENSIONS, Filter, Measure, SemanticModel, semantic_model
from callkpi.store import Warehouse

BUCKET = "_bucket"
OFFSET = "_offset_s"


class QueryError(ValueError):
    """A query that cannot be answered as asked; the message says which part and why."""


@dataclass(frozen=True)
class KpiQuery:
    kpis: tuple[str, ...]
    by: tuple[str, ...] = ()
    grain: str = "all"
    start: dt.datetime | None = None
    """Inclusive. Naive means wall time in ``tz``."""
    end: dt.datetime | None = None
    """Exclusive. Naive means wall time in ``tz``."""
    tz: str = "UTC"
    where: tuple[tuple[str, str], ...] = ()
    params: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class KpiResult:
    query: KpiQuery
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


def _utc(value: dt.datetime | None, tz: str) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return timezones.local_to_utc(tz, value)
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _condition(t: ir.Table, f: Filter, params: Mapping[str, float]) -> ir.BooleanValue:
    col = t[f.column]
    if f.op == "is null":
        return col.isnull()
    if f.op == "is not null":
        return col.notnull()
    if f.param is not None:
        if f.param not in params:
            raise QueryError(f"filter on {f.column} needs parameter {f.param}, which has no value")
        value: Any = params[f.param]
    else:
        value = f.value
    ops = {
        "=": lambda: col == value,
        "!=": lambda: col != value,
        "in": lambda: col.isin(value),
        "not in": lambda: ~col.isin(value),
        "<": lambda: col < value,
        "<=": lambda: col <= value,
        ">": lambda: col > value,
        ">=": lambda: col >= value,
    }
    return ops[f.op]()


def _measure_expr(t: ir.Table, m: Measure, params: Mapping[str, float]) -> ir.Scalar:
    where = None
    for f in m.filters:
        cond = _condition(t, f, params)
        where = cond if where is None else where & cond
    if m.agg == "count":
        return t.count(where=where)
    col = t[m.column]
    if m.agg == "sum":
        return col.sum(where=where)
    if m.agg == "min":
        return col.min(where=where)
    if m.agg == "max":
        return col.max(where=where)
    return col.nunique(where=where)


class Compiler:
    def __init__(
        self,
        wh: Warehouse,
        catalog: Catalog | None = None,
        semantic: SemanticModel | None = None,
    ) -> None:
        self.wh = wh
        self.catalog = catalog or builtin_catalog()
        self.semantic = semantic or semantic_model()

    # -- validation -----------------------------------------------------------------------

    def _resolve(self, query: KpiQuery) -> tuple[list[Any], dict[str, list[Measure]]]:
        if not query.kpis:
            raise QueryError("no KPI asked for; `callkpi kpis list` shows the catalog")
        if query.grain not in buckets.GRAINS:
            raise QueryError(
                f"unknown grain {query.grain!r}; expected one of {', '.join(buckets.GRAINS)}"
            )
        timezones.zone(query.tz)
        kpis = []
        for kpi_id in query.kpis:
            try:
                kpis.append(self.catalog[kpi_id])
            except KeyError as exc:
                raise QueryError(str(exc.args[0])) from None
        by_table: dict[str, list[Measure]] = {}
        for kpi in kpis:
            for name in kpi.measures():
                m = self.semantic.measure(name)
                if all(x.name != name for x in by_table.get(m.table, [])):
                    by_table.setdefault(m.table, []).append(m)
        for table in by_table:
            dims = self.semantic.dimensions(table)
            for dim in (*query.by, *(d for d, _ in query.where)):
                if dim not in dims:
                    raise QueryError(
                        f"dimension {dim!r} is not available for {table}; "
                        f"expected one of {', '.join(dims)}"
                    )
        return kpis, by_table

    def _params(self, kpis: Sequence[Any], overrides: Mapping[str, float]) -> dict[str, float]:
        params: dict[str, float] = {}
        for kpi in kpis:
            params.update(kpi.params)
        unknown = [p for p in overrides if p not in params]
        if unknown:
            known = ", ".join(sorted(params)) or "none"
            raise QueryError(f"unknown parameter {unknown[0]!r} for these KPIs (known: {known})")
        params.update(overrides)
        return params

    # -- compilation ----------------------------------------------------------------------

    def _time_range(
        self, table: str, time_col: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> tuple[dt.datetime, dt.datetime]:
        if start is not None and end is not None:
            return start, end
        lo, hi = self.wh.sql(f'SELECT min("{time_col}"), max("{time_col}") FROM "{table}"')[0]
        now = dt.datetime(2000, 1, 1)
        return start or lo or now, end or hi or now

    def _table_aggregate(
        self, table: str, measures: Sequence[Measure], query: KpiQuery, params: Mapping[str, float]
    ) -> ir.Table:
        model = self.semantic.tables[table]
        t = self.wh.table(table)
        ts = t[model.time]
        start, end = _utc(query.start, query.tz), _utc(query.end, query.tz)
        if start is not None:
            t = t.filter(ts >= start)
        if end is not None:
            t = t.filter(ts < end)
        ts = t[model.time]
        needs_local = query.grain != "all" or any(
            d in DERIVED_DIMENSIONS for d in (*query.by, *(w for w, _ in query.where))
        )
        keys: dict[str, ir.Value] = {}
        if needs_local:
            lo, hi = self._time_range(table, model.time, start, end)
            offset = buckets.offset_seconds(ts, query.tz, lo, hi)
            local = buckets.local_time(ts, offset)
            t = t.mutate(_local=local, _offset=offset)
            local, offset = t["_local"], t["_offset"]
            derived = {"hour_of_day": buckets.hour_of_day(local), "weekday": buckets.weekday(local)}
            t = t.mutate(
                **{
                    d: derived[d]
                    for d in DERIVED_DIMENSIONS
                    if d in query.by or d in dict(query.where)
                }
            )
            if query.grain != "all":
                keys[BUCKET] = buckets.bucket(t["_local"], query.grain)
                if query.grain in buckets.SUB_DAY:
                    keys[OFFSET] = t["_offset"]
        for dim, value in query.where:
            col = t[dim]
            t = t.filter(col.cast("string") == str(value))
        for dim in query.by:
            keys[dim] = t[dim]
        aggs = {m.name: _measure_expr(t, m, params) for m in measures}
        if keys:
            return t.group_by(**keys).aggregate(**aggs)
        return t.aggregate(**aggs)

    def compile(self, query: KpiQuery) -> tuple[ir.Table, list[str]]:
        kpis, by_table = self._resolve(query)
        params = self._params(kpis, query.params)
        parts = [self._table_aggregate(tbl, ms, query, params) for tbl, ms in by_table.items()]
        keys = [k for k in parts[0].columns if k in (BUCKET, OFFSET, *query.by)]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined.outer_join(part, keys) if keys else joined.cross_join(part)
        values: dict[str, ir.Value] = {}
        for kpi in kpis:
            values[kpi.id] = self._kpi_value(joined, kpi)
        return joined.select(*[joined[k] for k in keys], **values), keys

    @staticmethod
    def _kpi_value(t: ir.Table, kpi: Any) -> ir.Value:
        if isinstance(kpi, CountKpi | SumKpi):
            return t[kpi.measure]
        if isinstance(kpi, RatioKpi):
            num = t[kpi.numerator].cast("float64")
            den = t[kpi.denominator].cast("float64")
            return ibis.ifelse(den == 0, ibis.null("float64"), num / den)
        raise QueryError(f"KPI {kpi.id}: type {kpi.type} is not supported yet")

    def run(self, query: KpiQuery) -> KpiResult:
        expr, keys = self.compile(query)
        table = expr.to_pyarrow()
        records = table.to_pylist()

        def order(record: dict[str, Any]) -> tuple[Any, ...]:
            # Chronological even across a DST fall-back: sort by the bucket's UTC start.
            start = record.get(BUCKET)
            if start is not None and record.get(OFFSET) is not None:
                start -= dt.timedelta(seconds=record[OFFSET])
            return (
                start or dt.datetime.min,
                *((record[d] is None, str(record[d])) for d in query.by),
            )

        rows = []
        for record in sorted(records, key=order):
            row: dict[str, Any] = {dim: record[dim] for dim in query.by}
            if BUCKET in record:
                row["period_start"] = buckets.period_start(
                    record[BUCKET], query.grain, query.tz, record.get(OFFSET)
                )
            row.update({kpi_id: record[kpi_id] for kpi_id in query.kpis})
            rows.append(row)
        columns = (*query.by, *(("period_start",) if BUCKET in keys else ()), *query.kpis)
        return KpiResult(query, columns, rows)


def run_query(wh: Warehouse, query: KpiQuery) -> KpiResult:
    return Compiler(wh).run(query)
