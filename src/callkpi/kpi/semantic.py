"""The semantic layer: per warehouse table, how it sits in time, what it can be cut by,
and the measures over it.

* **Point tables** place each row at one moment (``time``: a call at ``entered_at``).
* **Interval tables** (``end`` is set) hold spans: agent states, schedules, employment,
  cost periods. Their interval measures are split across the query's time buckets (a
  login from 09:30 to 11:15 gives 30, 60 and 15 minutes to the hours 9, 10 and 11), and an
  open span counts until the end of the queried range. Point measures on them count rows
  at one of their times (new customers at ``acquired_at``).

A measure is an aggregate over one table (count, sum, min, max, count of distinct values,
a quantile; for interval tables the seconds inside the bucket, a prorated amount, the
rows active at the bucket's start or end, or those active at its start that ended inside
it) of the rows matching its filters. A row is active at instant t when it started
before t and has not ended before t (``start < t <= end``): so one that starts exactly
at a bucket's start is new in that bucket, and one that ends exactly there ends in it. Filters
compare a column with a literal or a KPI parameter. Tables can also have computed columns
(formulas over their columns) and dimensions joined from another table (an agent's team).
All of it is data, in ``catalog/semantic.yaml``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from callkpi.kpi import formula
from callkpi.model import TABLES

Op = Literal["=", "!=", "in", "not in", "<", "<=", ">", ">=", "is null", "is not null"]

DERIVED_DIMENSIONS = ("hour_of_day", "weekday")
"""Dimensions computed from a point table's time in the query's time zone."""

POINT_AGGS = ("count", "sum", "min", "max", "count_distinct", "quantile")
INTERVAL_AGGS = ("duration", "prorate", "active_at_start", "active_at_end", "ended_in")
ADDITIVE_AGGS = ("count", "sum", "min", "max", "duration", "prorate")
"""Aggregates whose values over parts combine exactly into the whole (min and max by
taking the min or max), so a pre-aggregate can serve them."""


class Filter(BaseModel):
    """``column op value`` (or ``column op param``: the value of a KPI parameter)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    op: Op = "="
    value: Any = None
    param: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Filter:
        if self.op in ("is null", "is not null"):
            return self
        if (self.value is None) == (self.param is None):
            raise ValueError(f"filter on {self.column}: give exactly one of value or param")
        if self.op in ("in", "not in") and self.param is None and not isinstance(self.value, list):
            raise ValueError(f"filter on {self.column}: {self.op} needs a list value")
        return self

    def key(self) -> str:
        """A stable text form, to compare filters."""
        return f"{self.column} {self.op} {self.value!r} {self.param}"


def _filters(raw: Any) -> Any:
    """Accept the short form ``{column: value}`` / ``{column: [values]}`` for equality."""
    if isinstance(raw, dict):
        return [
            {"column": k, "op": "in" if isinstance(v, list) else "=", "value": v}
            for k, v in raw.items()
        ]
    return raw


Filters = Annotated[tuple[Filter, ...], BeforeValidator(_filters)]


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    table: str
    agg: Literal[
        "count",
        "sum",
        "min",
        "max",
        "count_distinct",
        "quantile",
        "duration",
        "prorate",
        "active_at_start",
        "active_at_end",
        "ended_in",
    ]
    column: str | None = None
    """The summed, compared or counted column (count: none; prorate: the amount)."""
    q: float | None = None
    """For quantile: 0.9 is the 90th percentile (exact)."""
    time: str | None = None
    """Point measures: the column that places a row in time, if not the table's."""
    filters: Filters = ()
    description: str = ""

    @property
    def is_interval(self) -> bool:
        return self.agg in INTERVAL_AGGS

    @property
    def additive(self) -> bool:
        return self.agg in ADDITIVE_AGGS

    @model_validator(mode="after")
    def _check(self) -> Measure:
        counts_rows = self.agg in (
            "count",
            "duration",
            "active_at_start",
            "active_at_end",
            "ended_in",
        )
        if not counts_rows and not self.column:
            raise ValueError(f"measure {self.name}: {self.agg} needs a column")
        if self.agg == "quantile" and not (self.q is not None and 0 < self.q < 1):
            raise ValueError(f"measure {self.name}: quantile needs q between 0 and 1")
        return self


class Join(BaseModel):
    """Dimensions looked up in another table by a shared key (``agents`` by ``agent``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    key: str
    dimensions: tuple[str, ...]


class WindowColumn(BaseModel):
    """A column computed over all of a table's rows (before any time filter), per ``key``
    in time order:

    * ``next_gap_days``: days from the row to the next row of the same key (among rows
      matching ``filters``; with ``distinct``, rows sharing that column with this one, such
      as the segments of one call, are not "next"); null when there is none.
    * ``row_number``: 1 for the key's first row ever, 2 for the next, ...

    Rows of a key that begin at the same time are in order of ``distinct`` (then the
    table's key). ``stored``: a column of the table that holds, for ``next_gap_days``, the
    time of the next row, kept current by the store; used instead of the window when the
    warehouse has it (an older file read as it is does not).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["next_gap_days", "row_number"]
    key: str
    distinct: str | None = None
    filters: Filters = ()
    stored: str | None = None


class TableModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    time: str
    """Point tables: when a row happened. Interval tables: when its span starts."""
    end: str | None = None
    """Interval tables: when the span ends (null = still open). A DATE end is inclusive."""
    dimensions: tuple[str, ...] = ()
    joins: tuple[Join, ...] = ()
    computed: dict[str, str] = Field(default_factory=dict)
    """Computed columns: name -> formula over the table's columns."""
    windows: dict[str, WindowColumn] = Field(default_factory=dict)
    reference: bool = False
    """Long-lived records (customers, the roster, cost periods): their spans do not set a
    query's default time range; the activity tables (calls, dials, states, ...) do."""

    @property
    def is_interval(self) -> bool:
        return self.end is not None

    def joined_dimensions(self) -> dict[str, Join]:
        return {d: j for j in self.joins for d in j.dimensions if d not in self.dimensions}

    def all_dimensions(self) -> tuple[str, ...]:
        derived = () if self.is_interval else DERIVED_DIMENSIONS
        return (*self.dimensions, *self.joined_dimensions(), *derived)

    def has_column(self, name: str) -> bool:
        return name in TABLES[self.table].by_name or name in self.computed or name in self.windows


class SemanticModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: dict[str, TableModel]
    measures: dict[str, Measure]

    def measure(self, name: str) -> Measure:
        try:
            return self.measures[name]
        except KeyError:
            raise KeyError(f"unknown measure {name!r}") from None

    def dimensions(self, table: str) -> tuple[str, ...]:
        return self.tables[table].all_dimensions()


def parse_semantic(data: dict[str, Any]) -> SemanticModel:
    tables: dict[str, TableModel] = {}
    for name, spec in data.get("tables", {}).items():
        model = TableModel(table=name, **spec)
        columns = TABLES[name].by_name
        own = [model.time, *(c for c in (model.end,) if c), *model.dimensions]
        missing = [c for c in own if c not in columns and c not in model.computed]
        if missing:
            raise ValueError(f"semantic model {name}: no such columns {missing}")
        for join in model.joins:
            other = TABLES[join.table].by_name
            bad = [c for c in (join.key, *join.dimensions) if c not in other]
            if bad or join.key not in columns:
                raise ValueError(f"semantic model {name}: join {join.table} has bad columns")
        for column, text in model.computed.items():
            parsed = formula.parse(text)
            unknown = sorted(n for n in parsed.names if n not in columns)
            if unknown:
                raise ValueError(
                    f"semantic model {name}: computed {column} uses unknown columns {unknown}"
                )
        tables[name] = model
    measures: dict[str, Measure] = {}
    for table, entries in data.get("measures", {}).items():
        for name, spec in entries.items():
            if name in measures:
                raise ValueError(f"measure {name} is defined twice")
            m = Measure(name=name, table=table, **spec)
            _check_measure(m, tables)
            measures[name] = m
    return SemanticModel(tables=tables, measures=measures)


def _check_measure(m: Measure, tables: dict[str, TableModel]) -> None:
    model = tables.get(m.table)
    if model is None:
        raise ValueError(f"measure {m.name}: table {m.table} has no semantic model")
    if m.is_interval and not model.is_interval:
        raise ValueError(f"measure {m.name}: {m.agg} needs an interval table; {m.table} is not")
    for col in (m.column, m.time, *(f.column for f in m.filters)):
        if col and not model.has_column(col):
            raise ValueError(f"measure {m.name}: {m.table} has no column {col}")


@cache
def semantic_model() -> SemanticModel:
    text = resources.files("callkpi.kpi").joinpath("catalog/semantic.yaml").read_text("utf-8")
    return parse_semantic(yaml.safe_load(text))


__all__ = [
    "ADDITIVE_AGGS",
    "DERIVED_DIMENSIONS",
    "Filter",
    "Join",
    "Measure",
    "SemanticModel",
    "TableModel",
    "semantic_model",
]
