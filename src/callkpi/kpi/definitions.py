"""Typed KPI definitions: one Pydantic model per KPI type, a discriminated union on ``type``.

Every KPI carries what a manager needs to trust it (name, definition, unit, direction,
parameters with defaults, the dimensions it can be cut by, a benchmark where one is known)
and refers to measures of the semantic layer by name. A ratio is
``sum(numerator) / sum(denominator)`` at the requested grain, never an average of ratios.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Unit = Literal["count", "ratio", "seconds", "currency", "score", "per_hour"]
Direction = Literal["higher_is_better", "lower_is_better", "neutral"]


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float | None = None
    high: float | None = None
    note: str = ""
    source: str = ""


class _Kpi(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    definition: str
    formula: str
    """The formula as a manager reads it, e.g. ``answered / offered``."""
    unit: Unit
    direction: Direction
    params: dict[str, float] = Field(default_factory=dict)
    benchmark: Benchmark | None = None

    def measures(self) -> tuple[str, ...]:
        raise NotImplementedError


class CountKpi(_Kpi):
    type: Literal["count"] = "count"
    measure: str

    def measures(self) -> tuple[str, ...]:
        return (self.measure,)


class SumKpi(_Kpi):
    type: Literal["sum"] = "sum"
    measure: str

    def measures(self) -> tuple[str, ...]:
        return (self.measure,)


class RatioKpi(_Kpi):
    type: Literal["ratio"] = "ratio"
    numerator: str
    denominator: str

    def measures(self) -> tuple[str, ...]:
        return (self.numerator, self.denominator)


Kpi = Annotated[CountKpi | SumKpi | RatioKpi, Field(discriminator="type")]
_KPI_LIST: TypeAdapter[list[Kpi]] = TypeAdapter(list[Kpi])


class Catalog:
    """The KPIs by id, in catalog order."""

    def __init__(self, kpis: list[Any]) -> None:
        self.kpis: dict[str, Any] = {}
        for kpi in kpis:
            if kpi.id in self.kpis:
                raise ValueError(f"KPI {kpi.id} is defined twice")
            self.kpis[kpi.id] = kpi

    def __getitem__(self, kpi_id: str) -> Any:
        try:
            return self.kpis[kpi_id]
        except KeyError:
            raise KeyError(
                f"unknown KPI {kpi_id!r}; `callkpi kpis list` shows the catalog"
            ) from None

    def __contains__(self, kpi_id: object) -> bool:
        return kpi_id in self.kpis

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.kpis.values())

    def __len__(self) -> int:
        return len(self.kpis)


def parse_catalog(documents: list[Any]) -> Catalog:
    kpis: list[Any] = []
    for doc in documents:
        kpis.extend(_KPI_LIST.validate_python(doc.get("kpis", [])))
    return Catalog(kpis)


@cache
def builtin_catalog() -> Catalog:
    folder = resources.files("callkpi.kpi").joinpath("catalog")
    docs = [
        yaml.safe_load(entry.read_text("utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml") and entry.name != "semantic.yaml"
    ]
    return parse_catalog(docs)
