"""KPI queries: from a :class:`KpiQuery` to one Ibis expression, and to result rows.

The compiler collects the measures of the requested KPIs (and of the KPIs they refer
to), groups them by table and by how the table sits in time, and builds one aggregate
per group with the query's keys (bucket, offset, ``--by`` dimensions):

* point measures: rows are placed in a bucket by an expression on their time column;
* interval measures: spans are clipped to the queried range and cut along the listed
  buckets (:mod:`callkpi.kpi.calendar`), so time is split exactly across boundaries.

The aggregates are joined on the keys, and each KPI is computed from its measures last:
a ratio divides sums at the requested grain, and a zero denominator gives null.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import ibis
import ibis.expr.datatypes as dt_
import ibis.expr.schema as sch
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends.duckdb.converter import DuckDBPyArrowData

from callkpi import timezones
from callkpi.kpi import buckets, calendar, formula, sql_cache
from callkpi.kpi.definitions import (
    PERIOD_S,
    Catalog,
    CountKpi,
    DerivedKpi,
    MeanKpi,
    ParamValue,
    PeakKpi,
    PercentileKpi,
    RatioKpi,
    ShareKpi,
    SumKpi,
    builtin_catalog,
)
from callkpi.kpi.semantic import (
    DERIVED_DIMENSIONS,
    Filter,
    Join,
    Measure,
    SemanticModel,
    TableModel,
    WindowColumn,
    semantic_model,
)
from callkpi.model import (
    ROLLUP_ANSWER_THRESHOLD_S,
    ROLLUP_COUNTS,
    ROLLUP_LEVELS,
    ROLLUP_REPEAT_WINDOW_DAYS,
    ROLLUP_SHORT_ABANDON_S,
    TABLES,
    RollupLevel,
)
from callkpi.store import Warehouse

BUCKET = "_bucket"
OFFSET = "_offset_s"
PERIOD = "_period_s"


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
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    samples: bool = False
    """Also return ``<kpi>__n`` for ratio and mean KPIs: the denominator (the number of
    observations behind the value, for sample sizes and confidence intervals)."""


@dataclass(frozen=True)
class KpiResult:
    """A query's answer: ``table`` holds it as Arrow (the ``by`` dimensions, then
    ``period_start`` unless the grain is ``all``, then the KPIs and their ``__n`` sample
    sizes), in the order of :func:`_result`; ``rows`` as dicts, made on first use."""

    query: KpiQuery
    columns: tuple[str, ...]
    table: pa.Table

    @functools.cached_property
    def rows(self) -> list[dict[str, Any]]:
        names = self.table.column_names
        columns = [self.table.column(name).to_pylist() for name in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _utc(value: dt.datetime | None, tz: str) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return timezones.local_to_utc(tz, value)
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass
class _Plan:
    """What one query needs, resolved and checked."""

    query: KpiQuery
    kpis: list[Any]
    params: dict[str, ParamValue]
    measures: dict[str, Measure]
    start: dt.datetime | None
    end: dt.datetime | None
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Choice:
    """A roll-up level that answers a query's calls measures (see
    :meth:`Compiler._rollup_choice`): alone, or for the runs of whole UTC days with
    ``fine`` for the rest of the range."""

    level: RollupLevel
    measures: list[Measure]
    fine: RollupLevel | None = None
    columns: tuple[str, ...] = ()
    runs: tuple[tuple[dt.datetime, dt.datetime], ...] = ()

    def shape(self) -> tuple[Any, ...]:
        return (self.level.table, None if self.fine is None else self.fine.table, len(self.runs))


@dataclass(frozen=True)
class _Compiled:
    """A query shape's SQL with ``$n`` parameters for its values: ``slots[n - 1]`` names
    the nth (see :meth:`Compiler._value`); the calendar, if any, is read from the table
    named ``calendar`` in the SQL, registered afresh for each run."""

    sql: str
    slots: tuple[str, ...]
    calendar: str | None
    schema: sch.Schema
    keys: tuple[str, ...]
    semantic: SemanticModel


CACHE_SIZE = 256
"""How many query shapes' SQL :meth:`Compiler.run` keeps (least recently used first out)."""
_cache: OrderedDict[tuple[Any, ...], _Compiled] = OrderedDict()
_cache_lock = threading.Lock()
_cache_stats = {"hits": 0, "disk_hits": 0, "misses": 0}
_semantic_digests: dict[int, tuple[SemanticModel, str]] = {}


# The types KPI results have, by the text Ibis writes for them: reading them back with
# ibis.dtype() parses each text (~15 ms for each new one in a new process).
_TYPES = {
    str(t): t
    for base in (dt_.float64, dt_.int64, dt_.int32, dt_.string, dt_.boolean, dt_.timestamp)
    for t in (base, base.copy(nullable=False))
}


def _schema_to_text(schema: sch.Schema) -> dict[str, str]:
    return {name: str(t) for name, t in schema.items()}


def _schema_from_text(types: dict[str, str]) -> sch.Schema | None:
    try:
        return sch.Schema({name: _TYPES.get(t) or ibis.dtype(t) for name, t in types.items()})
    except Exception:  # not a type this version of Ibis knows
        return None


def _semantic_digest(semantic: SemanticModel) -> str:
    """The semantic model's definitions as text (kept per model object)."""
    with _cache_lock:
        kept = _semantic_digests.get(id(semantic))
        if kept is None or kept[0] is not semantic:
            if len(_semantic_digests) > 64:
                _semantic_digests.clear()
            kept = (semantic, semantic.model_dump_json())
            _semantic_digests[id(semantic)] = kept
    return kept[1]


def clear_cache() -> None:
    """Forget every kept query shape (and the hit and miss counts)."""
    with _cache_lock:
        _cache.clear()
        _cache_stats.update(hits=0, disk_hits=0, misses=0)


def cache_info() -> dict[str, int]:
    """How many shapes are kept in memory, and how many runs found theirs there (hits),
    in the disk cache (disk_hits, :mod:`callkpi.kpi.sql_cache`) or compiled (misses)."""
    with _cache_lock:
        return {"size": len(_cache), **_cache_stats}


# What the calls roll-up can stand in for: flag columns (or, on the coarser levels, flag
# counts) for the default thresholds, and the stored sums and maximum.
_ROLLUP_FLAGS = {
    ("wait_s", "<", "short_abandon_s"): ("wait_lt_short", True, ROLLUP_SHORT_ABANDON_S),
    ("wait_s", ">=", "short_abandon_s"): ("wait_lt_short", False, ROLLUP_SHORT_ABANDON_S),
    ("wait_s", "<=", "answer_threshold_s"): ("wait_le_threshold", True, ROLLUP_ANSWER_THRESHOLD_S),
    ("next_contact_days", "<=", "repeat_window_days"): (
        "repeat_contact",
        True,
        ROLLUP_REPEAT_WINDOW_DAYS,
    ),
}
_ROLLUP_COUNT_OF = {
    # (column, op, value or parameter): the coarser levels' count column, and the
    # parameter's value it was counted with
    ("wait_s", "<", "short_abandon_s"): ("n_wait_lt_short", ROLLUP_SHORT_ABANDON_S),
    ("wait_s", "<=", "answer_threshold_s"): ("n_wait_le_threshold", ROLLUP_ANSWER_THRESHOLD_S),
    ("customer_key", "is not null", ""): ("n_customer_known", None),
    ("transferred", "=", "True"): ("n_transferred", None),
    ("escalated", "=", "True"): ("n_escalated", None),
    ("resolved", "=", "True"): ("n_resolved", None),
    ("resolved", "is not null", ""): ("n_resolution_known", None),
    ("next_contact_days", "<=", "repeat_window_days"): ("n_repeat", ROLLUP_REPEAT_WINDOW_DAYS),
}
_REPEAT_KEY = ("next_contact_days", "<=", "repeat_window_days")
# A call with a next contact has a known customer: that filter goes without saying.
_IMPLIED_BY_REPEAT = ("customer_key", "is not null", "")
_ROLLUP_SUMS = {
    "wait_s": "wait_s_sum",
    "talk_s": "talk_s_sum",
    "hold_s": "hold_s_sum",
    "acw_s": "acw_s_sum",
    "handle_s": "handle_s_sum",
}
_ROLLUP_FLAG_COLUMNS = {"transferred", "escalated", "resolved"}
# The parameters whose default value lets a roll-up level answer (its flags and counts
# are stored for that value): whether a query's value is the default is part of its shape.
_ROLLUP_PARAM_DEFAULTS = {key[2]: default for key, (_, _, default) in _ROLLUP_FLAGS.items()} | {
    key[2]: default for key, (_, default) in _ROLLUP_COUNT_OF.items() if default is not None
}
_AGENT_JOIN = Join(table="agents", key="agent", dimensions=("team", "supervisor"))
_ROLLUP_MODELS = {
    level.table: TableModel(
        table=level.table,
        time="bucket_utc",
        dimensions=level.dimensions,
        joins=(_AGENT_JOIN,) if "agent" in level.dimensions else (),
    )
    for level in ROLLUP_LEVELS
}
_EPOCH = dt.datetime(1970, 1, 1)
_DAY_S = 86_400
_GRAIN_S = {"15min": 900, "30min": 1800, "hour": 3600}


class Compiler:
    def __init__(
        self,
        wh: Warehouse,
        catalog: Catalog | None = None,
        semantic: SemanticModel | None = None,
        *,
        use_rollup: bool = True,
        rollup_levels: Sequence[str] | None = None,
        cached: bool = True,
    ) -> None:
        """``rollup_levels``: the roll-up tables a query may use (default: all of them;
        tests and benchmarks name one to check or time it). ``cached``: :meth:`run` keeps
        the compiled SQL of each query shape and reruns it with other values (see
        :class:`_Compiled`); False compiles every query afresh through Ibis."""
        self.wh = wh
        self.catalog = catalog or builtin_catalog()
        self.semantic = semantic or semantic_model()
        self.use_rollup = use_rollup
        self.rollup_levels = None if rollup_levels is None else frozenset(rollup_levels)
        self.cached = cached
        # The SQL runs on the warehouse's DuckDB: group by bucket numbers (buckets.NUMBERED).
        self.native_buckets = wh.ibis.name == "duckdb"
        self._spans: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        self._plan_now: _Plan | None = None
        self._tokens: dict[str, str] | None = None  # slot name -> its token in the SQL
        self._choices: dict[tuple[str, str, tuple[str, ...]], _Choice | None] = {}
        self._calls_choice: _Choice | None = None  # the level the calls measures read
        self._existing: frozenset[str] | None = None  # the warehouse's tables, per query
        self._calendar_name: str | None = None
        self._schema: list[tuple[Any, ...]] | None = None  # (table, column, type), by _shape

    # -- planning -------------------------------------------------------------------------

    def _plan(self, query: KpiQuery) -> _Plan:
        if not query.kpis:
            raise QueryError("no KPI asked for; `callkpi kpis list` shows the catalog")
        if query.grain not in buckets.GRAINS:
            raise QueryError(
                f"unknown grain {query.grain!r}; expected one of {', '.join(buckets.GRAINS)}"
            )
        timezones.zone(query.tz)
        try:
            kpis = self.catalog.closure(query.kpis)
        except KeyError as exc:
            raise QueryError(str(exc.args[0])) from None
        params = self._params(kpis, query.params)
        measures: dict[str, Measure] = {}
        for kpi in kpis:
            if isinstance(kpi, RatioKpi) and kpi.variant_param:
                chosen = kpi.pick(params)
                names: Sequence[str] = [
                    *formula.parse(chosen.numerator).names,
                    *formula.parse(chosen.denominator).names,
                ]
            else:
                names = kpi.measures()
            for name in names:
                if name not in self.semantic.measures:
                    raise QueryError(f"KPI {kpi.id}: unknown measure {name!r}")
                measures[name] = self.semantic.measure(name)
        dims = (*query.by, *(d for d, _ in query.where))
        for m in measures.values():
            available = self.semantic.dimensions(m.table)
            for dim in dims:
                if dim not in available:
                    users = [k.id for k in kpis if m.name in k.measures()] or [m.name]
                    raise QueryError(
                        f"dimension {dim!r} is not available for {', '.join(users)} "
                        f"(table {m.table}); expected one of {', '.join(available)}"
                    )
        start, end = _utc(query.start, query.tz), _utc(query.end, query.tz)
        return _Plan(query, kpis, params, measures, start, end)

    def _params(
        self, kpis: Sequence[Any], overrides: Mapping[str, ParamValue]
    ) -> dict[str, ParamValue]:
        params: dict[str, ParamValue] = {}
        for kpi in kpis:
            params.update(kpi.params)
        unknown = [p for p in overrides if p not in params]
        if unknown:
            known = ", ".join(sorted(params)) or "none"
            raise QueryError(f"unknown parameter {unknown[0]!r} for these KPIs (known: {known})")
        for name, value in overrides.items():
            default = params[name]
            if isinstance(default, float | int) and not isinstance(value, float | int):
                try:
                    value = float(value)
                except ValueError:
                    raise QueryError(f"parameter {name} = {value!r}: expected a number") from None
            params[name] = value
        for kpi in kpis:
            if isinstance(kpi, RatioKpi) and kpi.variant_param:
                try:
                    kpi.pick(params)
                except ValueError as exc:
                    raise QueryError(str(exc)) from None
        return params

    # -- values -------------------------------------------------------------------------

    def _value(self, plan: _Plan, name: str) -> Any:
        """The value of a named slot for ``plan``: ``start``/``end`` (the bounds, UTC),
        ``lo``/``hi`` (the queried range), ``where:N`` (the Nth where value, as text),
        ``param:NAME`` (a numeric parameter), ``run:N:a``/``run:N:b`` (the Nth run of
        whole days a day roll-up level answers for)."""
        kind, _, rest = name.partition(":")
        if kind == "start":
            return plan.start
        if kind == "end":
            return plan.end
        if kind in ("lo", "hi"):
            return self._range(plan)[0 if kind == "lo" else 1]
        if kind == "where":
            return str(plan.query.where[int(rest)][1])
        if kind == "param":
            return float(plan.params[rest])
        if kind == "run":
            choice = self._calls_choice
            assert choice is not None
            index, side = rest.split(":")
            return choice.runs[int(index)][0 if side == "a" else 1]
        raise AssertionError(name)

    def _slot(self, name: str, dtype: str) -> ir.Value:
        """A value of the query as an Ibis literal: the value itself, or (when compiling
        for the cache) a token that becomes a bound parameter of the kept SQL."""
        assert self._plan_now is not None
        if self._tokens is None:
            return ibis.literal(self._value(self._plan_now, name), type=dtype)
        token = self._tokens.get(name)
        if token is None:
            token = self._tokens[name] = f"callkpi_slot_{uuid.uuid4().hex}"
        literal = ibis.literal(token)
        return literal if dtype == "string" else literal.cast(dtype)

    def _param(self, params: Mapping[str, ParamValue], name: str) -> Any:
        """A parameter's value in an expression: numbers are slots, text (a variant's
        name, part of the query's shape) a literal."""
        value = params[name]
        if isinstance(value, str) or self._plan_now is None or params is not self._plan_now.params:
            return value
        return self._slot(f"param:{name}", "float64")

    # -- building blocks ------------------------------------------------------------------

    def _table(
        self, model: TableModel, needed: set[str], *, rows: ir.Table | None = None
    ) -> ir.Table:
        """The table with its computed columns and the joined dimensions in ``needed``
        (next-contact columns only when needed: they take a window over the table)."""
        t = self.wh.table(model.table) if rows is None else rows
        if model.computed:
            columns = {c: t[c] for c in t.columns}

            def resolve(name: str) -> ir.Value:
                return columns[name]

            t = t.mutate(
                **{
                    name: formula.to_ibis(formula.parse(text), resolve)
                    for name, text in model.computed.items()
                }
            )
        for name, spec in model.windows.items():
            if name in needed:
                t = self._window_column(t, model, name, spec)
        joined = model.joined_dimensions()
        for join in {j.table: j for d, j in joined.items() if d in needed}.values():
            dims = [d for d in join.dimensions if d in needed and d in joined]
            other = self.wh.table(join.table).select(
                **{"_join_key": join.key}, **{d: d for d in dims}
            )
            t = t.left_join(other, t[join.key] == other["_join_key"]).drop("_join_key")
        return t

    def _window_column(
        self, t: ir.Table, model: TableModel, name: str, spec: WindowColumn
    ) -> ir.Table:
        """Add a window column (see :class:`WindowColumn`), over all rows of the table."""
        ts = t[model.time]
        if spec.kind == "row_number":
            order = [ts, *(t[k] for k in TABLES[model.table].key if k != model.time)]
            number = ibis.row_number().over(group_by=[t[spec.key]], order_by=order) + 1
            return t.mutate(**{name: ibis.ifelse(t[spec.key].isnull(), ibis.null("int64"), number)})
        if spec.stored is not None and spec.stored in t.columns:
            # The store keeps the next row's time (null where the window's would be).
            gap = t[spec.stored].delta(ts, unit="millisecond").cast("float64") / 86_400_000.0
            return t.mutate(**{name: gap})
        eligible = self._where(t, [*spec.filters, Filter(column=spec.key, op="is not null")], {})
        t = t.mutate(_eligible=eligible)
        group = spec.distinct or "_row_id"
        if spec.distinct is None:
            key = [t[k] for k in TABLES[model.table].key if k != model.time]
            t = t.mutate(_row_id=ibis.row_number().over(order_by=[ts, *key]))
        firsts = (
            t.filter(t["_eligible"])
            .group_by(_k=t[spec.key], _g=t[group])
            .aggregate(_first=ts.min())
        )
        firsts = firsts.mutate(
            _next=firsts["_first"]
            .lead()
            .over(group_by=firsts["_k"], order_by=[firsts["_first"], firsts["_g"]])
        )
        t = t.left_join(
            firsts, [t[spec.key] == firsts["_k"], t[group] == firsts["_g"], t["_eligible"]]
        )
        gap = t["_next"].delta(ts, unit="millisecond").cast("float64") / 86_400_000.0
        t = t.mutate(**{name: ibis.ifelse(t["_eligible"], gap, ibis.null("float64"))})
        return t.drop(
            "_k",
            "_g",
            "_first",
            "_next",
            "_eligible",
            *(("_row_id",) if spec.distinct is None else ()),
        )

    def _ts(
        self,
        t: ir.Table,
        model: TableModel,
        column: str,
        tz: str,
        range_: tuple[dt.datetime, dt.datetime],
        *,
        inclusive_end: bool = False,
    ) -> ir.Value:
        """A column as naive UTC; a DATE is the start of that local day in ``tz`` (the end
        of it when ``inclusive_end``)."""
        col = t[column]
        if TABLES[model.table].by_name[column].type != "DATE":
            return col
        local = col.cast("timestamp")
        if inclusive_end:
            local = local + ibis.interval(days=1)
        table = timezones.offsets_from_local(
            tz, range_[0] - dt.timedelta(days=400), range_[1] + dt.timedelta(days=400)
        )
        offset = (
            ibis.cases(
                *(
                    (local < ibis.timestamp(b), o)
                    for b, o in zip(table.boundaries, table.offsets_s, strict=False)
                ),
                else_=table.offsets_s[-1],
            )
            if table.boundaries
            else ibis.literal(table.offsets_s[0])
        )
        return local - offset.as_interval("s")

    def _condition(
        self, t: ir.Table, f: Filter, params: Mapping[str, ParamValue]
    ) -> ir.BooleanValue:
        col = t[f.column]
        if f.op == "is null":
            return col.isnull()
        if f.op == "is not null":
            return col.notnull()
        value = self._param(params, f.param) if f.param is not None else f.value
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

    def _where(
        self, t: ir.Table, filters: Sequence[Filter], params: Mapping[str, ParamValue]
    ) -> ir.BooleanValue | None:
        cond = None
        for f in filters:
            c = self._condition(t, f, params)
            cond = c if cond is None else cond & c
        return cond

    # -- aggregates -----------------------------------------------------------------------

    def _range(self, plan: _Plan) -> tuple[dt.datetime, dt.datetime]:
        """The queried range in UTC: --from/--to, else the span of all the activity in the
        warehouse (calls, dials, agent states, ...; not long-lived reference records), the
        same for every query, so one KPI's value never depends on the others asked with
        it. An open span (an agent still logged in) counts until the range's end."""
        if plan.start is not None and plan.end is not None:  # no need to look at the data
            return plan.start, max(plan.end, plan.start + dt.timedelta(microseconds=1))
        lo, hi = self._activity_span(plan.query.tz)
        start = plan.start or lo
        end = plan.end or hi
        return start, max(end, start + dt.timedelta(microseconds=1))

    def _activity_span(self, tz: str) -> tuple[dt.datetime, dt.datetime]:
        cached = self._spans.get(tz)
        if cached is not None:
            return cached
        lows, highs = [], []
        for name, model in sorted(self.semantic.tables.items()):
            if model.reference or TABLES[name].view is not None:
                continue
            times = {
                model.time,
                *(m.time for m in self.semantic.measures.values() if m.table == name and m.time),
            }
            for col in sorted({*times, *((model.end,) if model.end else ())}):
                lo, hi = self.wh.sql(f'SELECT min("{col}"), max("{col}") FROM "{name}"')[0]
                if lo is None:
                    continue
                if isinstance(lo, dt.datetime):
                    lows.append(lo)
                    highs.append(hi)
                else:  # DATE: whole local days
                    lows.append(timezones.local_to_utc(tz, dt.datetime.combine(lo, dt.time())))
                    highs.append(
                        timezones.local_to_utc(
                            tz, dt.datetime.combine(hi + dt.timedelta(days=1), dt.time())
                        )
                    )
        fallback = dt.datetime(2000, 1, 1)
        span = (min(lows) if lows else fallback, max(highs) if highs else fallback)
        self._spans[tz] = span
        return span

    def _point_aggregate(
        self,
        plan: _Plan,
        model: TableModel,
        time_col: str,
        measures: Sequence[Measure],
        *,
        rows: ir.Table | None = None,
    ) -> ir.Table:
        """``rows``: read these instead of the model's table (with its columns)."""
        q = plan.query
        needed = {*q.by, *(d for d, _ in q.where)}
        t = self._table(model, needed | _columns_of(measures), rows=rows)
        if TABLES[model.table].by_name[time_col].type == "DATE":
            # A date is a local day: place it at the local midnight it starts with.
            t = t.mutate(_time=self._ts(t, model, time_col, q.tz, self._range(plan)))
            time_col = "_time"
        ts = t[time_col]
        bounds = (
            ("start" if plan.start is not None else None),
            ("end" if plan.end is not None else None),
        )
        if model.reference and None in bounds:
            # Reference rows reach far back (customers since 1998): keep the activity's period.
            bounds = ("lo", "hi")
        if bounds[0] is not None:
            t = t.filter(ts >= self._slot(bounds[0], "timestamp"))
        if bounds[1] is not None:
            t = t.filter(ts < self._slot(bounds[1], "timestamp"))
        common = _common_filters(measures)
        if common:
            t = t.filter(self._where(t, common, plan.params))
        keys: dict[str, ir.Value] = {}
        numbered = False
        needs_local = q.grain != "all" or any(d in DERIVED_DIMENSIONS for d in needed)
        if needs_local:
            lo, hi = self._range(plan)
            offset = buckets.offset_seconds(t[time_col], q.tz, lo, hi)
            t = t.mutate(_local=buckets.local_time(t[time_col], offset), _offset=offset)
            derived = {
                "hour_of_day": buckets.hour_of_day(t["_local"]),
                "weekday": buckets.weekday(t["_local"]),
            }
            t = t.mutate(**{d: derived[d] for d in DERIVED_DIMENSIONS if d in needed})
            if q.grain != "all":
                numbered = self.native_buckets and q.grain in buckets.NUMBERED
                keys[BUCKET] = (
                    buckets.bucket_number(t["_local"], q.grain)
                    if numbered
                    else buckets.bucket(t["_local"], q.grain)
                )
                if q.grain in buckets.SUB_DAY:
                    keys[OFFSET] = t["_offset"].cast("int32")
        for i, (dim, _) in enumerate(q.where):
            t = t.filter(t[dim].cast("string") == self._slot(f"where:{i}", "string"))
        for dim in q.by:
            keys[dim] = t[dim]
        common_keys = {f.key() for f in common}
        aggs = {}
        for m in measures:
            own = [f for f in m.filters if f.key() not in common_keys]
            aggs[m.name] = self._point_measure(t, m, self._where(t, own, plan.params))
        if not keys:
            return t.aggregate(**aggs)
        out = t.group_by(**keys).aggregate(**aggs)
        if numbered:
            out = out.mutate(**{BUCKET: buckets.bucket_start(out[BUCKET], q.grain)})
        return out

    @staticmethod
    def _point_measure(t: ir.Table, m: Measure, where: ir.BooleanValue | None) -> ir.Scalar:
        if m.agg == "count":
            return t.count(where=where)
        col = t[m.column]
        if m.agg == "sum":
            return col.sum(where=where)
        if m.agg == "min":
            return col.min(where=where)
        if m.agg == "max":
            return col.max(where=where)
        if m.agg == "quantile":
            return col.quantile(m.q, where=where)
        return col.nunique(where=where)

    def _interval_aggregate(
        self, plan: _Plan, model: TableModel, measures: Sequence[Measure], cal: ir.Table
    ) -> ir.Table:
        """Spans cut along the calendar's buckets. A span is active at instant t when it
        started before t and had not ended before t (``start < t <= end``); time inside
        a bucket is clipped to the queried range, and an open span runs to its end."""
        q = plan.query
        needed = {*q.by, *(d for d, _ in q.where)}
        t = self._table(model, needed | _columns_of(measures))
        lo, hi = self._range(plan)
        assert model.end is not None
        start = self._ts(t, model, model.time, q.tz, (lo, hi))
        end = self._ts(t, model, model.end, q.tz, (lo, hi), inclusive_end=True)
        t = t.mutate(_s=start, _e=end)
        lo_v, hi_v = self._slot("lo", "timestamp"), self._slot("hi", "timestamp")
        t = t.filter(t["_s"] < hi_v, t["_e"].isnull() | (t["_e"] >= lo_v))
        t = t.mutate(
            _s_clip=ibis.greatest(t["_s"], lo_v),
            _e_clip=ibis.least(ibis.coalesce(t["_e"], hi_v), hi_v),
        )
        common = _common_filters(measures)
        if common:
            t = t.filter(self._where(t, common, plan.params))
        for i, (dim, _) in enumerate(q.where):
            t = t.filter(t[dim].cast("string") == self._slot(f"where:{i}", "string"))
        # A span ending exactly at a bucket's start is still active at that instant (it
        # ends there); only counts of active spans need such a bucket.
        counts_active = any(
            m.agg in ("active_at_start", "active_at_end", "ended_in") for m in measures
        )
        reaches = (t["_e"] >= cal["_utc_start"]) if counts_active else (t["_e"] > cal["_utc_start"])
        j = t.join(cal, [t["_s"] < cal["_utc_end"], t["_e"].isnull() | reaches])
        seconds = (
            ibis.least(j["_e_clip"], j["_utc_end"])
            .delta(ibis.greatest(j["_s_clip"], j["_utc_start"]), unit="millisecond")
            .cast("float64")
            / 1000.0
        )
        j = j.mutate(_overlap_s=ibis.greatest(seconds, 0.0))
        keys: dict[str, ir.Value] = {}
        if q.grain != "all":
            keys[BUCKET] = j["_bucket"]
            if q.grain in buckets.SUB_DAY:
                keys[OFFSET] = j["_offset_s"]
        for dim in q.by:
            keys[dim] = j[dim]
        common_keys = {f.key() for f in common}
        aggs = {}
        for m in measures:
            own = [f for f in m.filters if f.key() not in common_keys]
            where = self._where(j, own, plan.params)
            aggs[m.name] = self._interval_measure(j, m, where)
        return j.group_by(**keys).aggregate(**aggs) if keys else j.aggregate(**aggs)

    @staticmethod
    def _interval_measure(j: ir.Table, m: Measure, where: ir.BooleanValue | None) -> ir.Scalar:
        if m.agg == "duration":
            return j["_overlap_s"].sum(where=where)
        if m.agg == "prorate":
            full = j["_e"].delta(j["_s"], unit="millisecond").cast("float64") / 1000.0
            share = ibis.ifelse(full > 0, j["_overlap_s"] / full, 0.0)
            return (j[m.column] * share).sum(where=where)

        def active_at(t: ir.Value) -> ir.BooleanValue:
            return (j["_s"] < t) & (j["_e"].isnull() | (j["_e"] >= t))

        if m.agg == "active_at_start":
            active = active_at(j["_utc_start"])
        elif m.agg == "active_at_end":
            active = active_at(j["_utc_end"])
        else:  # ended_in: active at the start, ended before the end
            active = active_at(j["_utc_start"]) & (j["_e"] < j["_utc_end"])
        return j.count(where=active if where is None else active & where)

    # -- KPIs -----------------------------------------------------------------------------

    def compile(self, query: KpiQuery) -> tuple[ir.Table, list[str]]:
        """The query as one Ibis expression (its values as literals), and its keys."""
        plan = self._plan(query)
        self._start(plan, tokens=None)
        return self._build(plan)

    def _start(self, plan: _Plan, *, tokens: dict[str, str] | None) -> None:
        self._plan_now = plan
        self._tokens = tokens
        self._choices = {}
        self._calls_choice = None
        self._schema = None
        self._existing = None

    def _needs_calendar(self, plan: _Plan) -> bool:
        return (
            plan.query.grain != "all"
            or any(m.is_interval for m in plan.measures.values())
            or any(
                isinstance(k, DerivedKpi) and PERIOD_S in formula.parse(k.expression).names
                for k in plan.kpis
            )
        )

    def _calendar(self, plan: _Plan) -> pa.Table:
        lo, hi = self._range(plan)
        return calendar.to_arrow(calendar.buckets(plan.query.grain, plan.query.tz, lo, hi))

    def _groups(self, plan: _Plan) -> dict[tuple[str, str | None], list[Measure]]:
        """The measures by table and time column (None: interval measures)."""
        groups: dict[tuple[str, str | None], list[Measure]] = {}
        for m in plan.measures.values():
            model = self.semantic.tables[m.table]
            key = (m.table, None if m.is_interval else (m.time or model.time))
            groups.setdefault(key, []).append(m)
        return groups

    def _build(self, plan: _Plan) -> tuple[ir.Table, list[str]]:
        query = plan.query
        cal = None
        self._calendar_name = None
        if self._needs_calendar(plan):
            cal = ibis.memtable(self._calendar(plan))
            self._calendar_name = cal.op().name  # the kept SQL reads it by this name
        groups = self._groups(plan)
        parts = []
        for (table, time_col), ms in groups.items():
            model = self.semantic.tables[table]
            if time_col is None:
                assert cal is not None
                parts.append(self._interval_aggregate(plan, model, ms, cal))
                continue
            choice, raw = self._rollup_split(plan, table, time_col, ms)
            if choice is not None:
                rows = None
                if choice.fine is not None:
                    rows = self._union_days(
                        choice.level, choice.fine, choice.columns, len(choice.runs)
                    )
                level_model = _ROLLUP_MODELS[choice.level.table]
                parts.append(
                    self._point_aggregate(
                        plan, level_model, "bucket_utc", choice.measures, rows=rows
                    )
                )
            if raw:
                parts.append(self._point_aggregate(plan, model, time_col, raw))
        keys = [k for k in (BUCKET, OFFSET, *query.by) if parts and k in parts[0].columns]
        joined = _outer_join(parts, keys)
        if cal is not None:
            period = cal.select(*(k for k in (BUCKET, OFFSET) if k in keys), PERIOD)
            joined = (
                joined.left_join(period, [k for k in (BUCKET, OFFSET) if k in keys]).drop(
                    *(f"{k}_right" for k in (BUCKET, OFFSET) if k in keys)
                )
                if any(k in keys for k in (BUCKET, OFFSET))
                else joined.cross_join(period)
            )
        for kpi in plan.kpis:
            if isinstance(kpi, PeakKpi):
                joined = self._join_peak(plan, kpi, joined, keys)
        values: dict[str, ir.Value] = {}
        for kpi in plan.kpis:
            values[kpi.id] = self._kpi_value(joined, kpi, plan, values, keys)
        if query.samples:
            by_id = {k.id: k for k in plan.kpis}
            for kpi in plan.kpis:
                if kpi.id not in query.kpis:
                    continue
                base = kpi
                if isinstance(kpi, DerivedKpi) and not kpi.uses and len(kpi.uses_kpis) == 1:
                    base = by_id[kpi.uses_kpis[0]]  # fcr = 1 - repeat_contact_rate: its n
                if isinstance(base, RatioKpi | MeanKpi) and self._counts(base, plan):
                    values[f"{kpi.id}__n"] = self._denominator(joined, base, plan)
        result = joined.select(*[joined[k] for k in keys], **values)
        return result, keys

    def _counts(self, kpi: RatioKpi | MeanKpi, plan: _Plan) -> bool:
        """Whether the KPI's denominator counts observations (calls, answers, leads), not
        seconds or money: only then is it a sample size."""
        if isinstance(kpi, MeanKpi):
            names = [kpi.count]
        else:
            names = sorted(formula.parse(kpi.pick(plan.params).denominator).names)
        return all(self.semantic.measure(n).agg == "count" for n in names)

    @staticmethod
    def _denominator(t: ir.Table, kpi: RatioKpi | MeanKpi, plan: _Plan) -> ir.Value:
        def measure(name: str) -> ir.Value:
            return ibis.coalesce(t[name], 0)

        if isinstance(kpi, MeanKpi):
            return measure(kpi.count)
        return formula.to_ibis(formula.parse(kpi.pick(plan.params).denominator), measure)

    def _rollup_split(
        self, plan: _Plan, table: str, time_col: str, measures: Sequence[Measure]
    ) -> tuple[_Choice | None, list[Measure]]:
        """The roll-up level that answers these measures (see :meth:`_rollup_choice`), and
        the measures to read from the table itself: none when the level answers them all.

        When no level answers them all, a level may still answer the additive ones while
        the others (a percentile, a threshold other than the roll-up's) are read from the
        calls, the two aggregates joined on their keys: the same groups as reading them
        all from the calls, when the measures the level answers share exactly the filters
        all the measures share (those decide which groups there are)."""
        everything = list(measures)
        choice = self._rollup_choice(plan, table, time_col, measures)
        if choice is not None:
            self._calls_choice = choice
            return choice, []
        if not self.use_rollup or table != "calls" or time_col != "entered_at":
            return None, everything
        levels = self._levels()
        raw = [
            m for m in measures if all(_rewrite_for_level(plan, lv, [m]) is None for lv in levels)
        ]
        served = [m for m in measures if m.name not in {r.name for r in raw}]
        if not raw or not served:
            return None, everything
        if {f.key() for f in _common_filters(served)} != {
            f.key() for f in _common_filters(everything)
        }:
            return None, everything
        choice = self._rollup_choice(plan, table, time_col, served)
        if choice is None:
            return None, everything
        self._calls_choice = choice
        return choice, raw

    def _levels(self) -> list[RollupLevel]:
        """The roll-up levels this warehouse has and the query may use, fewest rows first."""
        if self._existing is None:
            self._existing = self.wh.existing_tables()
        existing = self._existing
        return [
            level
            for level in ROLLUP_LEVELS
            if level.table in existing
            and (self.rollup_levels is None or level.table in self.rollup_levels)
        ]

    def _rollup_choice(
        self, plan: _Plan, table: str, time_col: str, measures: Sequence[Measure]
    ) -> _Choice | None:
        """The first roll-up level (fewest rows first) that can answer these measures;
        None when none can (a dimension none keeps, a non-default threshold, a quantile, a
        range or zone that splits their buckets). Decided in Python (no Ibis), once per
        query: the kept SQL's shape depends on it.

        A day level whose days do not all fit the query (a zone with an offset, bounds
        within a day) still answers for the days that lie whole in one of the query's
        buckets, with the rest of the range read from a quarter-hour level."""
        if not self.use_rollup or table != "calls" or time_col != "entered_at":
            return None
        memo = (table, time_col, tuple(m.name for m in measures))
        if memo in self._choices:
            return self._choices[memo]
        levels = self._levels()
        choice = None
        for i, level in enumerate(levels):
            rewritten = _rewrite_for_level(plan, level, measures)
            if rewritten is None:
                continue
            if any(f.column == _REPEAT_KEY[0] for m in measures for f in m.filters) and not (
                {"repeat_contact", "n_repeat"} & self._columns_of_table(level.table)
            ):
                continue  # an older file, read as it is: no repeat counts
            if self._level_fits(plan, level):
                choice = _Choice(level, rewritten)
                break
            mixed = self._whole_days_and_the_rest(plan, level, rewritten, levels[i + 1 :])
            if mixed is not None:
                choice = _Choice(level, rewritten, *mixed)
                break
        self._choices[memo] = choice
        return choice

    def _columns_of_table(self, table: str) -> set[str]:
        if self._schema is not None:
            return {column for name, column, _ in self._schema if name == table}
        return set(self.wh.table(table).columns)

    def _whole_days_and_the_rest(
        self,
        plan: _Plan,
        level: RollupLevel,
        measures: Sequence[Measure],
        finer: Sequence[RollupLevel],
    ) -> tuple[RollupLevel, tuple[str, ...], tuple[tuple[dt.datetime, dt.datetime], ...]] | None:
        """For a day level: the first finer level that fits the query, the columns to read
        from both, and the runs of consecutive UTC days (as [start, end)) that lie whole in
        one bucket of the query (and in one local day when cut by weekday); the day level
        answers for those, the finer one for the rest."""
        q = plan.query
        needed = {*q.by, *(d for d, _ in q.where)}
        if level.seconds != _DAY_S or "hour_of_day" in needed or q.grain in _GRAIN_S:
            return None
        if not needed <= {*_ROLLUP_MODELS[level.table].all_dimensions(), *DERIVED_DIMENSIONS}:
            return None
        lo, hi = self._range(plan)
        cuts = {lo, hi}
        if q.grain != "all":
            cuts |= {b.utc_start for b in calendar.buckets(q.grain, q.tz, lo, hi)}
        if "weekday" in needed:
            cuts |= {b.utc_start for b in calendar.buckets("day", q.tz, lo, hi)}
        day = dt.timedelta(days=1)
        first = lo + (-(lo - _EPOCH)) % day
        whole = []
        d = first
        while d + day <= hi:
            if not any(d < c < d + day for c in cuts):
                whole.append(d)
            d += day
        if not whole:
            return None
        joined = {d for d, j in _ROLLUP_MODELS[level.table].joined_dimensions().items()}
        dims = {d for d in needed if d not in DERIVED_DIMENSIONS and d not in joined}
        if needed & joined:
            dims.add("agent")
        columns = ("bucket_utc", *sorted(dims | _columns_of(measures)))
        for fine in finer:
            if fine.seconds >= _DAY_S or not self._level_fits(plan, fine):
                continue
            stored = {"bucket_utc", *fine.dimensions, "n", *ROLLUP_COUNTS, *_ROLLUP_SUMS.values()}
            if not {*columns} <= {*stored, "wait_s_max"}:
                continue
            runs: list[tuple[dt.datetime, dt.datetime]] = []  # consecutive whole days
            for d in whole:
                if runs and runs[-1][1] == d:
                    runs[-1] = (runs[-1][0], d + day)
                else:
                    runs.append((d, d + day))
            return fine, columns, tuple(runs)
        return None

    def _union_days(
        self,
        level: RollupLevel,
        fine: RollupLevel,
        columns: Sequence[str],
        n_runs: int,
    ) -> ir.Table:
        """The day level's rows of the runs of whole days (slots ``run:N:a``/``run:N:b``)
        and the finer level's rows of the other days, in ``columns`` (the query's bounds
        are applied to both later)."""
        runs = [
            (self._slot(f"run:{i}:a", "timestamp"), self._slot(f"run:{i}:b", "timestamp"))
            for i in range(n_runs)
        ]
        coarse = self.wh.table(level.table)
        coarse = coarse.filter(
            _any_of([(coarse.bucket_utc >= a) & (coarse.bucket_utc < b) for a, b in runs])
        )
        t = self.wh.table(fine.table)
        rest = [t.bucket_utc < runs[0][0], t.bucket_utc >= runs[-1][1]]
        rest += [
            (t.bucket_utc >= runs[i][1]) & (t.bucket_utc < runs[i + 1][0])
            for i in range(len(runs) - 1)
        ]
        t = t.filter(_any_of(rest))
        if not fine.flags_as_counts:  # the flags' counts, row by row
            flags = {
                "n_transferred": t.transferred,
                "n_escalated": t.escalated,
                "n_resolved": t.resolved,
                "n_resolution_known": t.resolved.notnull(),
                "n_customer_known": t.customer_known,
                "n_repeat": t.repeat_contact,
                "n_wait_lt_short": t.wait_lt_short,
                "n_wait_le_threshold": t.wait_le_threshold,
            }
            counts = {
                c: ibis.ifelse(flag.fill_null(False), t.n, 0).cast("int64")
                for c, flag in flags.items()
                if c in columns
            }
            t = t.mutate(**counts)

        def typed(table: ir.Table) -> ir.Table:  # the same types, nullable, on both sides
            return table.select(
                **{c: table[c].cast(table[c].type().copy(nullable=True)) for c in columns}
            )

        return typed(coarse).union(typed(t))

    def _level_fits(self, plan: _Plan, level: RollupLevel) -> bool:
        """Whether every bucket of the level lies whole in one bucket of the query, inside
        its range, with the query's dimensions kept by the level."""
        q = plan.query
        allowed = {*_ROLLUP_MODELS[level.table].all_dimensions(), *DERIVED_DIMENSIONS}
        needed = (*q.by, *(d for d, _ in q.where))
        if any(d not in allowed for d in needed):
            return False
        if "hour_of_day" in needed and 3600 % level.seconds:
            return False
        if q.grain in _GRAIN_S and _GRAIN_S[q.grain] % level.seconds:
            return False
        for bound in (plan.start, plan.end):
            if bound is not None and (bound - _EPOCH) % dt.timedelta(seconds=level.seconds):
                return False
        lo, hi = self._range(plan)
        offsets = timezones.offsets_from_utc(q.tz, lo, hi).offsets_s
        if level.seconds >= _DAY_S:  # local days must be UTC days
            return all(o == 0 for o in offsets)
        return not any(o % level.seconds for o in offsets)

    def _join_peak(self, plan: _Plan, kpi: PeakKpi, joined: ir.Table, keys: list[str]) -> ir.Table:
        """The measure per ``kpi.interval`` inside each result bucket, and its maximum."""
        q = plan.query
        order = list(buckets.GRAINS)
        if order.index(q.grain) < order.index(kpi.interval):
            raise QueryError(
                f"{kpi.id} is the busiest {kpi.interval} interval; ask for a "
                f"grain of {kpi.interval} or coarser"
            )
        m = plan.measures[kpi.measure]
        if m.is_interval:
            raise QueryError(f"{kpi.id}: peak needs a point measure, {m.name} is not one")
        column = f"_peak_{kpi.id}"
        if q.grain == kpi.interval and m.name in joined.columns:
            # The busiest interval of a bucket that is one interval: the measure itself
            # (a group without it is 0 either way).
            return joined.mutate(**{column: joined[m.name]})
        model = self.semantic.tables[m.table]
        fine_plan = _Plan(
            replace(q, grain=kpi.interval),
            plan.kpis,
            plan.params,
            plan.measures,
            plan.start,
            plan.end,
        )
        fine = self._point_aggregate(fine_plan, model, m.time or model.time, [m])
        outer: dict[str, ir.Value] = {}
        if q.grain != "all":
            outer[BUCKET] = (
                fine[BUCKET] if q.grain == kpi.interval else buckets.bucket(fine[BUCKET], q.grain)
            )
            if q.grain in buckets.SUB_DAY:
                outer[OFFSET] = fine[OFFSET]
        for dim in q.by:
            outer[dim] = fine[dim]
        peak = (
            fine.group_by(**outer).aggregate(**{column: fine[m.name].max()})
            if outer
            else fine.aggregate(**{column: fine[m.name].max()})
        )
        if not keys:
            return joined.cross_join(peak)
        right = peak.rename({f"{k}_r": k for k in keys})
        return joined.left_join(
            right, [joined[k].identical_to(right[f"{k}_r"]) for k in keys]
        ).drop(*(f"{k}_r" for k in keys))

    def _kpi_value(
        self, t: ir.Table, kpi: Any, plan: _Plan, done: dict[str, ir.Value], keys: list[str]
    ) -> ir.Value:
        if isinstance(kpi, CountKpi | SumKpi):
            # A count or a total of nothing is 0; a maximum of nothing has no value.
            m = plan.measures[kpi.measure]
            totals = m.agg in (
                "count",
                "sum",
                "duration",
                "prorate",
                "active_at_start",
                "active_at_end",
                "ended_in",
            )
            return ibis.coalesce(t[kpi.measure], 0) if totals else t[kpi.measure]
        if isinstance(kpi, RatioKpi | MeanKpi):

            def measure(name: str) -> ir.Value:
                return ibis.coalesce(t[name], 0)

            if isinstance(kpi, RatioKpi):
                pair = kpi.pick(plan.params)
                num = formula.to_ibis(formula.parse(pair.numerator), measure)
                den = formula.to_ibis(formula.parse(pair.denominator), measure)
            else:
                num, den = measure(kpi.sum), measure(kpi.count)
            num, den = num.cast("float64"), den.cast("float64")
            return ibis.ifelse(den == 0, ibis.null("float64"), num / den)
        if isinstance(kpi, PercentileKpi):
            return t[kpi.measure]
        if isinstance(kpi, ShareKpi):
            others = [t[k] for k in keys if k != kpi.of]
            value = ibis.coalesce(t[kpi.measure], 0).cast("float64")
            total = value.sum().over(ibis.window(group_by=others) if others else ibis.window())
            return ibis.ifelse(total == 0, ibis.null("float64"), value / total)
        if isinstance(kpi, DerivedKpi):

            def resolve(name: str) -> ir.Value:
                if name in kpi.uses:
                    return ibis.coalesce(t[name], 0)
                if name in done:
                    return done[name]
                if name == PERIOD_S:
                    return t[PERIOD]
                if name in plan.params:
                    value = self._param(plan.params, name)
                    return value if isinstance(value, ir.Value) else ibis.literal(value)
                raise formula.FormulaError(kpi.expression, f"unknown name {name!r}", name)

            return formula.to_ibis(formula.parse(kpi.expression), resolve)
        if isinstance(kpi, PeakKpi):
            return ibis.coalesce(t[f"_peak_{kpi.id}"], 0)
        raise QueryError(f"KPI {kpi.id}: type {kpi.type} is not supported")

    # -- the kept SQL ---------------------------------------------------------------------

    def _shape(self, plan: _Plan) -> tuple[Any, ...]:
        """Everything the compiled SQL depends on but its slots' values: the warehouse's
        schema and backend, the definitions of the KPIs and the semantic model, the query
        without its values (KPIs, dimensions, grain, zone, which where dimensions, which
        bounds), the text parameters and whether each numeric one has the value a roll-up
        level was built with, the zone's offset tables for the range's years, and the
        roll-up level chosen for the calls."""
        q = plan.query
        schema = self._schema = self.wh.sql(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE NOT internal AND schema_name = 'main' "
            "AND database_name = current_database() ORDER BY table_name, column_index"
        )
        params = tuple(
            (name, value)
            if isinstance(value, str)
            else (name, float(value) == _ROLLUP_PARAM_DEFAULTS.get(name))
            for name, value in sorted(plan.params.items())
        )
        lo, hi = self._range(plan)
        dates = any(  # a DATE column is placed in time with the offsets of +-400 days
            TABLES[m.table].by_name[c].type == "DATE"
            for m in plan.measures.values()
            for model in [self.semantic.tables[m.table]]
            for c in (m.time, model.time, model.end)
            if c
        )
        choices = tuple(
            (table, time_col, choice and choice.shape(), tuple(m.name for m in raw))
            for (table, time_col), ms in self._groups(plan).items()
            if time_col is not None
            for choice, raw in [self._rollup_split(plan, table, time_col, ms)]
        )
        # _disk_key reads this tuple by position: [2] is the semantic model's id (replaced
        # by its text on disk), [-3] and [-2] the years whose zone offsets the SQL holds.
        return (
            self.wh.ibis.name,
            hashlib.sha256(repr(schema).encode()).hexdigest(),
            id(self.semantic),
            tuple(k.model_dump_json() for k in plan.kpis),
            self.use_rollup,
            None if self.rollup_levels is None else tuple(sorted(self.rollup_levels)),
            q.kpis,
            q.by,
            q.grain,
            q.tz,
            tuple(d for d, _ in q.where),
            q.samples,
            plan.start is None,
            plan.end is None,
            params,
            (lo.year, hi.year),
            ((lo - dt.timedelta(days=400)).year, (hi + dt.timedelta(days=400)).year)
            if dates
            else None,
            choices,
        )

    def _compiled(self, plan: _Plan, *, disk: bool = True) -> _Compiled:
        """The kept SQL of the plan's shape (in memory, or on disk unless not ``disk``),
        compiled now if not kept."""
        self._start(plan, tokens=None)
        key = self._shape(plan)
        with _cache_lock:
            entry = _cache.get(key)
            if entry is not None and entry.semantic is self.semantic:
                _cache.move_to_end(key)
                _cache_stats["hits"] += 1
                return entry
        disk_key = None if sql_cache.directory() is None else self._disk_key(plan, key)
        entry = self._from_disk(disk_key) if disk and disk_key else None
        with _cache_lock:
            _cache_stats["disk_hits" if entry else "misses"] += 1
        if entry is None:
            entry = self._compile_entry(plan)
            if disk_key:
                self._to_disk(disk_key, entry)
        with _cache_lock:
            _cache[key] = entry
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        return entry

    def _disk_key(self, plan: _Plan, key: tuple[Any, ...]) -> str:
        """The on-disk cache's name for the shape ``key``: its parts with the semantic
        model by content instead of by object, and the zone's offsets the SQL holds."""
        q = plan.query
        *_, years, date_years, _ = key
        offsets: list[timezones.OffsetTable] = []
        for span in (years, date_years):
            if span is not None:
                lo, hi = dt.datetime(span[0], 1, 1), dt.datetime(span[1], 12, 31)
                offsets.append(timezones.offsets_from_utc(q.tz, lo, hi))
                if span is date_years:
                    offsets.append(timezones.offsets_from_local(q.tz, lo, hi))
        return sql_cache.digest(
            repr(key[:2] + key[3:]), _semantic_digest(self.semantic), repr(offsets)
        )

    def _from_disk(self, disk_key: str) -> _Compiled | None:
        record = sql_cache.load(disk_key)
        schema = None if record is None else _schema_from_text(record["schema"])
        if record is None or schema is None:
            return None
        return _Compiled(
            sql=record["sql"],
            slots=tuple(record["slots"]),
            calendar=record["calendar"],
            schema=schema,
            keys=tuple(record["keys"]),
            semantic=self.semantic,
        )

    def _to_disk(self, disk_key: str, entry: _Compiled) -> None:
        schema = _schema_to_text(entry.schema)
        if _schema_from_text(schema) != entry.schema:  # keep only what reads back the same
            return
        record = {
            "sql": entry.sql,
            "slots": list(entry.slots),
            "calendar": entry.calendar,
            "schema": schema,
            "keys": list(entry.keys),
        }
        sql_cache.save(disk_key, record)

    def _compile_entry(self, plan: _Plan) -> _Compiled:
        """Compile the plan's shape: its SQL with ``$n`` for the values."""
        tokens: dict[str, str] = {}
        self._tokens = tokens
        try:
            expr, keys = self._build(plan)
        finally:
            self._tokens = None
        calendar_name = self._calendar_name
        sql = str(self.wh.ibis.compile(expr))
        slots = []
        for name, token in tokens.items():
            quoted = f"'{token}'"
            if sql.count(token) != sql.count(quoted) or quoted not in sql:
                raise AssertionError(f"slot {name} is not a plain literal in the SQL")
            slots.append(name)
            sql = sql.replace(quoted, f"${len(slots)}")
        return _Compiled(
            sql=sql,
            slots=tuple(slots),
            calendar=calendar_name if calendar_name and f'"{calendar_name}"' in sql else None,
            schema=expr.schema(),
            keys=tuple(keys),
            semantic=self.semantic,
        )

    def kept_sql(self, query: KpiQuery) -> str:
        """The SQL :meth:`run` runs for ``query`` (kept, or compiled and kept now), with
        ``$n`` parameters for its values."""
        return self._compiled(self._plan(query)).sql

    def _execute(self, plan: _Plan, entry: _Compiled) -> pa.Table:
        """Run kept SQL with the plan's values; the table as Ibis would give it."""
        values = [self._value(plan, name) for name in entry.slots]
        sql = entry.sql
        con = self.wh.con
        name = None
        if entry.calendar is not None:
            name = f"callkpi_calendar_{uuid.uuid4().hex}"
            sql = sql.replace(f'"{entry.calendar}"', f'"{name}"')
            cal = self._calendar(plan)
        with self.wh._lock:
            if name is not None:
                con.register(name, cal)
            try:
                table = con.sql(sql, params=values).to_arrow_table()
            finally:
                if name is not None:
                    con.unregister(name)
        converted: pa.Table = DuckDBPyArrowData.convert_table(table, entry.schema)
        return converted

    def run(self, query: KpiQuery) -> KpiResult:
        if not self.cached:
            expr, key_list = self.compile(query)
            table = expr.to_pyarrow()
            keys: Sequence[str] = key_list
        else:
            plan = self._plan(query)
            entry = self._compiled(plan)
            try:
                table = self._execute(plan, entry)
            except duckdb.Error:  # e.g. the schema changed under it: compile afresh
                with _cache_lock:
                    for k in [k for k, v in _cache.items() if v is entry]:
                        del _cache[k]
                entry = self._compiled(plan, disk=False)
                table = self._execute(plan, entry)
            keys = entry.keys
        return _result(query, keys, table)


def _result(query: KpiQuery, keys: Sequence[str], table: pa.Table) -> KpiResult:
    """The result's rows from the query's Arrow table, column-wise (a month by 30 minutes
    is tens of thousands of rows): chronological even across a DST fall-back (by each
    bucket's UTC start), then by each dimension's text, empty values last; NaN as None."""
    import pyarrow.compute as pc

    names = set(table.column_names)
    bucketed = BUCKET in keys
    order: list[tuple[str, str]] = []
    if bucketed:
        start = table.column(BUCKET).cast(pa.timestamp("us"))
        if OFFSET in names:
            offset = table.column(OFFSET).cast(pa.int64())
            shifted = pc.subtract(start, pc.multiply(offset, 1_000_000).cast(pa.duration("us")))
            start = pc.if_else(pc.is_null(offset), start, shifted)
        start = pc.fill_null(start, pa.scalar(dt.datetime.min, pa.timestamp("us")))
        table = table.append_column("_utc_start", start)
        order.append(("_utc_start", "ascending"))
    for i, dim in enumerate(query.by):
        table = table.append_column(f"_text_{i}", table.column(dim).cast(pa.string()))
        order.append((f"_text_{i}", "ascending"))
    if order:
        # Empty values last: Arrow's default null placement.
        table = table.take(pc.sort_indices(table, sort_keys=order))
    samples = tuple(f"{k}__n" for k in query.kpis if f"{k}__n" in names)
    sample_keys = [k for k in table.column_names if k.endswith("__n")]

    def values(name: str) -> pa.ChunkedArray:
        column = table.column(name)
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), None, column)
        return column

    columns = [values(name) for name in query.by]
    if bucketed:
        starts: dict[tuple[Any, Any], str] = {}  # a bucket's period_start, made once
        periods = []
        offsets = table.column(OFFSET).to_pylist() if OFFSET in names else None
        for i, bucket_start in enumerate(table.column(BUCKET).to_pylist()):
            bucket = (bucket_start, None if offsets is None else offsets[i])
            period = starts.get(bucket)
            if period is None:
                period = starts[bucket] = buckets.period_start(
                    bucket[0], query.grain, query.tz, bucket[1]
                )
            periods.append(period)
        columns.append(pa.chunked_array([pa.array(periods, pa.string())]))
    columns += [values(name) for name in (*query.kpis, *sample_keys)]
    out = (*query.by, *(("period_start",) if bucketed else ()), *query.kpis, *sample_keys)
    header = (*query.by, *(("period_start",) if bucketed else ()), *query.kpis, *samples)
    return KpiResult(query, header, pa.table(dict(zip(out, columns, strict=True))))


def _number(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _columns_of(measures: Sequence[Measure]) -> set[str]:
    return {c for m in measures for c in (m.column, *(f.column for f in m.filters)) if c}


def _common_filters(measures: Sequence[Measure]) -> list[Filter]:
    """Filters every measure has: applied once, before grouping, so groups that no measure
    counts (outbound calls in a table of queue KPIs) do not appear at all."""
    if not measures:
        return []
    shared = {f.key() for f in measures[0].filters}
    for m in measures[1:]:
        shared &= {f.key() for f in m.filters}
    return [f for f in measures[0].filters if f.key() in shared]


def _rewrite_for_level(
    plan: _Plan, level: RollupLevel, measures: Sequence[Measure]
) -> list[Measure] | None:
    """The measures over a roll-up level's stored columns, or None when one of them needs
    something the level does not keep. The 15-minute level groups by the flags, so any
    combination of them is a filter; the coarser ones keep one count per flag, so a
    count may have one flag (its count column, required above 0 so that groups no call
    matches do not appear, as on the calls) and a sum or maximum none."""
    columns = {*level.dimensions, *(() if level.flags_as_counts else _ROLLUP_FLAG_COLUMNS)}
    rewritten = []
    for m in measures:
        filters: list[Filter] = []
        count_column = None
        keys = [
            (f.column, f.op, f.param or ("" if f.value is None else str(f.value)))
            for f in m.filters
        ]
        for f, flag_key in zip(m.filters, keys, strict=True):
            if level.flags_as_counts and flag_key == _IMPLIED_BY_REPEAT and _REPEAT_KEY in keys:
                # The repeat count is the one counted; a bucket with repeats has known
                # customers, so this only keeps the groups the other measures keep.
                filters.append(Filter(column="n_customer_known", op=">", value=0))
                continue
            if level.flags_as_counts and flag_key in _ROLLUP_COUNT_OF:
                column, default = _ROLLUP_COUNT_OF[flag_key]
                if (
                    default is not None
                    and float(plan.params.get(f.param or "", default)) != default
                ):
                    return None
                if count_column is not None:
                    return None
                count_column = column
                filters.append(Filter(column=column, op=">", value=0))
                continue
            flag = _ROLLUP_FLAGS.get((f.column, f.op, f.param or ""))
            if not level.flags_as_counts and flag is not None:
                column, value, default = flag
                if float(plan.params.get(f.param or "", default)) != default:
                    return None
                filters.append(Filter(column=column, value=value))
            elif not level.flags_as_counts and f.column == "customer_key" and f.op == "is not null":
                filters.append(Filter(column="customer_known", value=True))
            elif f.column in columns and f.param is None:
                filters.append(f)
            else:
                return None
        if m.agg == "count":
            stored = Measure(name=m.name, table=level.table, agg="sum", column=count_column or "n")
        elif count_column is not None:
            return None
        elif m.agg == "sum" and m.column in _ROLLUP_SUMS:
            stored = Measure(
                name=m.name, table=level.table, agg="sum", column=_ROLLUP_SUMS[m.column]
            )
        elif m.agg == "max" and m.column == "wait_s":
            stored = Measure(name=m.name, table=level.table, agg="max", column="wait_s_max")
        else:
            return None
        rewritten.append(stored.model_copy(update={"filters": tuple(filters)}))
    return rewritten


def _any_of(conditions: Sequence[ir.BooleanValue]) -> ir.BooleanValue:
    out = conditions[0]
    for c in conditions[1:]:
        out = out | c
    return out


def _outer_join(parts: Sequence[ir.Table], keys: Sequence[str]) -> ir.Table:
    """Join the aggregates on their keys; a null dimension (calls without an agent) is a
    group like any other, so it matches null."""
    joined = parts[0]
    for part in parts[1:]:
        if not keys:
            joined = joined.cross_join(part)
            continue
        right = part.rename({f"{k}_r": k for k in keys})
        joined = joined.outer_join(right, [joined[k].identical_to(right[f"{k}_r"]) for k in keys])
        joined = joined.mutate(
            **{k: ibis.coalesce(joined[k], joined[f"{k}_r"]) for k in keys}
        ).drop(*(f"{k}_r" for k in keys))
    return joined


def run_query(
    wh: Warehouse, query: KpiQuery, catalog: Catalog | None = None, *, use_rollup: bool = True
) -> KpiResult:
    return Compiler(wh, catalog=catalog, use_rollup=use_rollup).run(query)
