"""Typed KPI definitions: one Pydantic model per KPI type, a discriminated union on ``type``.

Every KPI carries what a manager needs to trust it (name, definition, formula as read by a
person, unit, direction, parameters with defaults; industry benchmarks are in
``catalog/benchmarks.yaml``) and
refers to measures of the semantic layer by name. A ratio is
``sum(numerator) / sum(denominator)`` at the requested grain, never an average of ratios,
and a zero denominator gives null. The dimensions a KPI can be cut by follow from its
measures' tables, so they cannot drift from the data.

Types: ``count`` and ``sum`` (a measure), ``ratio`` (with named variants chosen by a
parameter, e.g. the service-level denominators other systems use), ``mean`` (a sum over a
count), ``percentile`` (a quantile measure), ``derived`` (a formula over measures, other
KPIs, parameters and ``period_s``, the bucket's length), ``share`` (a measure over its
total across one dimension) and ``peak`` (the busiest sub-interval: max or mean of a
measure over 15/30/60-minute intervals inside each bucket).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from callkpi.kpi import formula

Unit = Literal["count", "ratio", "seconds", "hours", "currency", "score", "per_hour", "days"]
Direction = Literal["higher_is_better", "lower_is_better", "neutral"]
Category = Literal["inbound", "outbound", "customer", "workforce", "finance"]
ParamValue = float | str

PERIOD_S = "period_s"
"""A name every derived formula can use: the length of the result row's bucket, in seconds."""


class CatalogError(ValueError):
    """A KPI file that cannot be used; the message names the file, the KPI and the field."""


class _Kpi(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    category: Category
    definition: str
    formula: str
    """The formula as a manager reads it, e.g. ``answered / offered``."""
    unit: Unit
    direction: Direction
    params: dict[str, ParamValue] = Field(default_factory=dict)
    impact: Literal["high", "medium", "low"] = "medium"
    """How strongly the KPI drives sales, for scorecards."""

    def measures(self) -> tuple[str, ...]:
        return ()

    def kpi_refs(self) -> tuple[str, ...]:
        return ()


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


def _measure_names(*texts: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for t in texts for n in sorted(formula.parse(t).names)))


class RatioVariant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    numerator: str
    """A measure, or a sum/difference of measures (``offered - short_abandoned``)."""
    denominator: str
    description: str = ""


class RatioKpi(_Kpi):
    """``numerator / denominator``, each a measure or a formula over measures, both summed
    at the query's grain before dividing."""

    type: Literal["ratio"] = "ratio"
    numerator: str | None = None
    denominator: str | None = None
    variant_param: str | None = None
    """A parameter naming one of ``variants`` (its default is in ``params``)."""
    variants: dict[str, RatioVariant] = Field(default_factory=dict)

    def pick(self, params: dict[str, ParamValue]) -> RatioVariant:
        if self.variant_param is None:
            assert self.numerator and self.denominator
            return RatioVariant(numerator=self.numerator, denominator=self.denominator)
        chosen = str(params.get(self.variant_param, self.params.get(self.variant_param)))
        if chosen not in self.variants:
            raise ValueError(
                f"{self.id}: {self.variant_param} = {chosen!r}; expected one of "
                f"{', '.join(self.variants)}"
            )
        return self.variants[chosen]

    def measures(self) -> tuple[str, ...]:
        if self.variant_param is None:
            return _measure_names(*(t for t in (self.numerator, self.denominator) if t))
        return _measure_names(
            *(t for v in self.variants.values() for t in (v.numerator, v.denominator))
        )


class MeanKpi(_Kpi):
    type: Literal["mean"] = "mean"
    sum: str
    count: str

    def measures(self) -> tuple[str, ...]:
        return (self.sum, self.count)


class PercentileKpi(_Kpi):
    type: Literal["percentile"] = "percentile"
    measure: str
    """A measure with ``agg: quantile``: computed from the rows, never pre-aggregated."""

    def measures(self) -> tuple[str, ...]:
        return (self.measure,)


class DerivedKpi(_Kpi):
    type: Literal["derived"] = "derived"
    expression: str
    """A formula (see callkpi.kpi.formula) over measures, KPI ids, parameters, period_s."""
    uses: tuple[str, ...] = ()
    """Filled in by the catalog: the measures the expression names."""
    uses_kpis: tuple[str, ...] = ()

    def measures(self) -> tuple[str, ...]:
        return self.uses

    def kpi_refs(self) -> tuple[str, ...]:
        return self.uses_kpis


class ShareKpi(_Kpi):
    type: Literal["share"] = "share"
    measure: str
    of: str
    """The dimension the shares add up to 1 across (e.g. ivr_option)."""

    def measures(self) -> tuple[str, ...]:
        return (self.measure,)


class PeakKpi(_Kpi):
    type: Literal["peak"] = "peak"
    measure: str
    """A point measure (counted per interval)."""
    interval: Literal["15min", "30min", "hour"] = "30min"

    def measures(self) -> tuple[str, ...]:
        return (self.measure,)


Kpi = Annotated[
    CountKpi | SumKpi | RatioKpi | MeanKpi | PercentileKpi | DerivedKpi | ShareKpi | PeakKpi,
    Field(discriminator="type"),
]
_KPI_LIST: TypeAdapter[list[Kpi]] = TypeAdapter(list[Kpi])


class Catalog:
    """The KPIs by id, in catalog order, checked against the semantic layer."""

    def __init__(self, kpis: Iterable[Any], measures: Iterable[str] = ()) -> None:
        self.kpis: dict[str, Any] = {}
        self.measure_names = frozenset(measures)
        for kpi in kpis:
            if kpi.id in self.kpis:
                raise CatalogError(f"KPI {kpi.id} is defined twice")
            self.kpis[kpi.id] = kpi
        for kpi_id, kpi in list(self.kpis.items()):
            if isinstance(kpi, DerivedKpi):
                self.kpis[kpi_id] = self._resolve_derived(kpi)
            elif self.measure_names:
                self._check_measures(kpi)
        self._check_cycles()

    def _check_measures(self, kpi: Any) -> None:
        try:
            names = kpi.measures()
        except formula.FormulaError as err:
            raise CatalogError(f"KPI {kpi.id}: {err}") from None
        unknown = [n for n in names if n not in self.measure_names]
        if unknown:
            raise CatalogError(f"KPI {kpi.id}: unknown measure {unknown[0]!r}")

    def _resolve_derived(self, kpi: DerivedKpi) -> DerivedKpi:
        try:
            parsed = formula.parse(kpi.expression)
        except formula.FormulaError as err:
            raise CatalogError(f"KPI {kpi.id}: {err}") from None
        uses, uses_kpis = [], []
        for name in sorted(parsed.names):
            if name in self.measure_names:
                uses.append(name)
            elif name in self.kpis:
                uses_kpis.append(name)
            elif name not in kpi.params and name != PERIOD_S:
                raise CatalogError(
                    str(
                        formula.FormulaError(
                            kpi.expression,
                            f"unknown name {name!r} (not a measure, KPI, parameter "
                            "of this KPI or period_s)",
                            name,
                        )
                    )
                    + f"  (KPI {kpi.id})"
                )
        return kpi.model_copy(update={"uses": tuple(uses), "uses_kpis": tuple(uses_kpis)})

    def _check_cycles(self) -> None:
        def visit(kpi_id: str, path: tuple[str, ...]) -> None:
            if kpi_id in path:
                raise CatalogError(f"KPI {kpi_id} refers to itself: {' -> '.join((*path, kpi_id))}")
            for ref in self.kpis[kpi_id].kpi_refs():
                visit(ref, (*path, kpi_id))

        for kpi_id in self.kpis:
            visit(kpi_id, ())

    def __getitem__(self, kpi_id: str) -> Any:
        try:
            return self.kpis[kpi_id]
        except KeyError:
            raise KeyError(
                f"unknown KPI {kpi_id!r}; `callkpi kpis list` shows the catalog"
            ) from None

    def __contains__(self, kpi_id: object) -> bool:
        return kpi_id in self.kpis

    def __iter__(self) -> Iterator[Any]:
        return iter(self.kpis.values())

    def __len__(self) -> int:
        return len(self.kpis)

    def closure(self, kpi_ids: Sequence[str]) -> list[Any]:
        """The KPIs asked for and every KPI they refer to, referred ones first."""
        seen: dict[str, Any] = {}

        def add(kpi_id: str) -> None:
            if kpi_id in seen:
                return
            kpi = self[kpi_id]
            for ref in kpi.kpi_refs():
                add(ref)
            seen[kpi_id] = kpi

        for kpi_id in kpi_ids:
            add(kpi_id)
        return list(seen.values())


def _documents(source: str, text: str) -> list[Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CatalogError(f"{source}: not valid YAML ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("kpis"), list):
        raise CatalogError(f"{source}: expected a mapping with a 'kpis' list")
    try:
        return _KPI_LIST.validate_python(data["kpis"])
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        index = first["loc"][0] if first["loc"] else None
        kpi_id = data["kpis"][index].get("id") if isinstance(index, int) else None
        raise CatalogError(f"{source}: KPI {kpi_id or index}: {where}: {first['msg']}") from None


def parse_catalog(documents: list[dict[str, Any]], measures: Iterable[str]) -> Catalog:
    """A catalog from already-loaded YAML documents (for tests)."""
    kpis: list[Any] = []
    for i, doc in enumerate(documents):
        kpis.extend(_documents(f"document {i}", yaml.safe_dump(doc)))
    return Catalog(kpis, measures)


CATALOG_FILES = ("inbound", "outbound", "customer", "workforce", "finance")


def _builtin_texts() -> list[tuple[str, str]]:
    folder = resources.files("callkpi.kpi").joinpath("catalog")
    return [
        (f"catalog/{name}.yaml", folder.joinpath(f"{name}.yaml").read_text("utf-8"))
        for name in CATALOG_FILES
    ]


def load_catalog(extra: Sequence[Path] = ()) -> Catalog:
    """The built-in catalog plus the user's KPI files (a user KPI may not reuse a built-in
    id; it may refer to built-in KPIs and measures)."""
    from callkpi.kpi.semantic import semantic_model

    kpis: list[Any] = []
    for source, text in _builtin_texts():
        kpis.extend(_documents(source, text))
    for path in extra:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as err:
            raise CatalogError(f"{path}: cannot read the KPI file ({err.strerror})") from None
        kpis.extend(_documents(str(path), text))
    return Catalog(kpis, semantic_model().measures)


@cache
def builtin_catalog() -> Catalog:
    return load_catalog()
