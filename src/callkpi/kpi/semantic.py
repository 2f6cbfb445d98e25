"""The semantic layer: per warehouse table, its time column, dimensions and measures.

A measure is an additive aggregate over one table (a count or sum of rows matching
filters); KPIs are built from measures by name (``callkpi.kpi.definitions``). Measures,
filters and dimensions are data, in ``catalog/semantic.yaml``; a filter compares a column
with a literal or with a KPI parameter, never with user SQL.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from callkpi.model import TABLES

Op = Literal["=", "!=", "in", "not in", "<", "<=", ">", ">=", "is null", "is not null"]

DERIVED_DIMENSIONS = ("hour_of_day", "weekday")
"""Dimensions computed from a table's time column in the query's time zone."""


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
    agg: Literal["count", "sum", "min", "max", "count_distinct"]
    column: str | None = None
    """The summed/compared column (count: none, counts rows)."""
    filters: Filters = ()
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> Measure:
        spec = TABLES.get(self.table)
        if spec is None:
            raise ValueError(f"measure {self.name}: unknown table {self.table}")
        if self.agg != "count" and not self.column:
            raise ValueError(f"measure {self.name}: {self.agg} needs a column")
        for col in [self.column, *(f.column for f in self.filters)]:
            if col and col not in spec.by_name:
                raise ValueError(f"measure {self.name}: {self.table} has no column {col}")
        return self


class TableModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    time: str
    """The column that places a row in time (a call counts when it entered the queue)."""
    dimensions: tuple[str, ...]


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
        return (*self.tables[table].dimensions, *DERIVED_DIMENSIONS)


def parse_semantic(data: dict[str, Any]) -> SemanticModel:
    tables = {name: TableModel(table=name, **spec) for name, spec in data.get("tables", {}).items()}
    measures = {}
    for table, entries in data.get("measures", {}).items():
        for name, spec in entries.items():
            measures[name] = Measure(name=name, table=table, **spec)
    for name, t in tables.items():
        missing = [d for d in (t.time, *t.dimensions) if d not in TABLES[name].by_name]
        if missing:
            raise ValueError(f"semantic model {name}: no such columns {missing}")
    return SemanticModel(tables=tables, measures=measures)


@cache
def semantic_model() -> SemanticModel:
    text = resources.files("callkpi.kpi").joinpath("catalog/semantic.yaml").read_text("utf-8")
    return parse_semantic(yaml.safe_load(text))


__all__ = [
    "DERIVED_DIMENSIONS",
    "Filter",
    "Measure",
    "SemanticModel",
    "TableModel",
    "semantic_model",
]
