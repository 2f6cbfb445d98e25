"""Industry benchmarks (shipped as data, with sources) and where a value falls against them.

A benchmark is a range (``low``..``high``, either end open) or a single reference
``value``; some apply to one industry (lead response time). :func:`place` says whether a
value is below, within or above the range and whether that is better or worse, following
the KPI's direction.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator


class BenchmarkError(ValueError):
    pass


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kpi: str
    low: float | None = None
    high: float | None = None
    value: float | None = None
    industry: str | None = None
    currency: str | None = None
    """Money benchmarks only compare with data in the same currency."""
    overstaffed_below: float | None = None
    """A value below this suggests too many agents for the calls (abandonment)."""
    params: dict[str, float] = Field(default_factory=dict)
    """KPI parameters the benchmark assumes (service level: 20 s)."""
    note: str = ""
    source: str

    @model_validator(mode="after")
    def _check(self) -> Benchmark:
        if self.value is None and self.low is None and self.high is None:
            raise ValueError(f"benchmark for {self.kpi}: give low, high or value")
        return self

    def describe(self) -> str:
        if self.value is not None:
            return f"{self.value:g}"
        if self.low is not None and self.high is not None:
            return f"{self.low:g} – {self.high:g}"
        return f">= {self.low:g}" if self.low is not None else f"<= {self.high:g}"


class Position(StrEnum):
    BELOW = "below"
    WITHIN = "within"
    ABOVE = "above"


class Verdict(StrEnum):
    BETTER = "better"
    IN_LINE = "in line"
    WORSE = "worse"
    NOT_COMPARABLE = "not comparable"


_LIST: TypeAdapter[list[Benchmark]] = TypeAdapter(list[Benchmark])


def _parse(source: str, text: str) -> list[Benchmark]:
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise BenchmarkError(f"{source}: expected a mapping with a 'benchmarks' list")
    try:
        return _LIST.validate_python(data["benchmarks"])
    except ValidationError as err:
        first = err.errors()[0]
        raise BenchmarkError(
            f"{source}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


@cache
def builtin_benchmarks() -> tuple[Benchmark, ...]:
    text = resources.files("callkpi.kpi").joinpath("catalog/benchmarks.yaml").read_text("utf-8")
    return tuple(_parse("benchmarks.yaml", text))


def load_benchmarks(extra: list[Path] | None = None) -> tuple[Benchmark, ...]:
    items = list(builtin_benchmarks())
    for path in extra or []:
        items.extend(_parse(str(path), Path(path).read_text("utf-8")))
    return tuple(items)


def for_kpi(
    kpi_id: str, benchmarks: tuple[Benchmark, ...] | None = None, industry: str | None = None
) -> Benchmark | None:
    """The benchmark of a KPI: the industry's own if there is one, else the general one."""
    candidates = [b for b in (benchmarks or builtin_benchmarks()) if b.kpi == kpi_id]
    if industry:
        own = [b for b in candidates if b.industry == industry]
        if own:
            return own[0]
    general = [b for b in candidates if b.industry is None]
    return general[0] if general else None


def position(value: float, bench: Benchmark) -> Position:
    low = bench.low if bench.value is None else bench.value
    high = bench.high if bench.value is None else bench.value
    if low is not None and value < low:
        return Position.BELOW
    if high is not None and value > high:
        return Position.ABOVE
    return Position.WITHIN


def verdict(
    value: float | None, bench: Benchmark, direction: str, currency: str | None = None
) -> Verdict:
    """Better, in line or worse than the benchmark, given the KPI's direction."""
    if value is None:
        return Verdict.NOT_COMPARABLE
    if bench.currency and currency and bench.currency.upper() != currency.upper():
        return Verdict.NOT_COMPARABLE
    where = position(value, bench)
    if where is Position.WITHIN:
        return Verdict.IN_LINE
    if direction == "neutral":
        return Verdict.WORSE
    good_side = Position.ABOVE if direction == "higher_is_better" else Position.BELOW
    return Verdict.BETTER if where is good_side else Verdict.WORSE


def place(
    kpi_id: str,
    value: float | None,
    direction: str,
    *,
    industry: str | None = None,
    currency: str | None = None,
    benchmarks: tuple[Benchmark, ...] | None = None,
) -> dict[str, Any] | None:
    """Where ``value`` falls against the KPI's benchmark (None if it has none)."""
    bench = for_kpi(kpi_id, benchmarks, industry)
    if bench is None:
        return None
    result: dict[str, Any] = {
        "benchmark": bench.describe(),
        "position": position(value, bench).value if value is not None else None,
        "verdict": verdict(value, bench, direction, currency).value,
        "note": bench.note,
        "source": bench.source,
    }
    if bench.overstaffed_below is not None and value is not None:
        result["overstaffed"] = value < bench.overstaffed_below
    return result
