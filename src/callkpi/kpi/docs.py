"""The catalog presented to people: the dimensions each KPI supports, and docs/kpis.md.

``docs/kpis.md`` is generated from the catalog (``python -m callkpi.kpi.docs``); a test
fails when the two drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from callkpi.kpi.benchmarks import builtin_benchmarks
from callkpi.kpi.definitions import Catalog, builtin_catalog
from callkpi.kpi.semantic import SemanticModel, semantic_model

CATEGORIES = {
    "inbound": "Inbound and queue",
    "outbound": "Outbound and sales",
    "customer": "Customer",
    "workforce": "Workforce",
    "finance": "Finance",
}


def measures_of(kpi: Any, catalog: Catalog) -> list[str]:
    """Every measure a KPI needs, through the KPIs it refers to."""
    names: list[str] = []
    for item in catalog.closure([kpi.id]):
        names.extend(n for n in item.measures() if n not in names)
    return names


def dimensions_of(kpi: Any, catalog: Catalog, semantic: SemanticModel) -> list[str]:
    """The dimensions every one of the KPI's measures can be cut by."""
    tables = [semantic.measure(m).table for m in measures_of(kpi, catalog)]
    if not tables:
        return []
    common = list(semantic.dimensions(tables[0]))
    for table in tables[1:]:
        allowed = set(semantic.dimensions(table))
        common = [d for d in common if d in allowed]
    return common


def _params(kpi: Any) -> str:
    return ", ".join(f"`{k}` = {v}" for k, v in kpi.params.items()) or "—"


def _benchmark(kpi: Any) -> str:
    items = [b for b in builtin_benchmarks() if b.kpi == kpi.id]
    if not items:
        return "—"
    parts = []
    for b in items:
        text = b.describe() + (f" {b.currency}" if b.currency else "")
        text = f"{b.industry}: {text}" if b.industry else text
        parts.append("; ".join(p for p in (text, b.note, f"source: {b.source}") if p))
    return " | ".join(parts)


def markdown(catalog: Catalog | None = None, semantic: SemanticModel | None = None) -> str:
    catalog = catalog or builtin_catalog()
    semantic = semantic or semantic_model()
    lines = [
        "# KPI catalog",
        "",
        "Generated from `src/callkpi/kpi/catalog/*.yaml` by `python -m callkpi.kpi.docs`;",
        "do not edit by hand. `callkpi kpis show ID` prints the same for one KPI.",
        "",
        "Conventions: times are in seconds; ratios are between 0 and 1 and always",
        "`sum(numerator) / sum(denominator)` at the query's grain (never an average of",
        "ratios), null when the denominator is zero. Parameters change with",
        "`--set NAME=VALUE`. Inbound counts are queue visits, placed in time by when they",
        "entered the queue.",
        "",
    ]
    for category, title in CATEGORIES.items():
        kpis = [k for k in catalog if k.category == category]
        lines += [f"## {title} ({len(kpis)})", ""]
        for kpi in kpis:
            dims = ", ".join(dimensions_of(kpi, catalog, semantic)) or "—"
            lines += [
                f"### `{kpi.id}` — {kpi.name}",
                "",
                kpi.definition.strip(),
                "",
                f"- **Formula:** {kpi.formula}",
                f"- **Type:** {kpi.type}; **unit:** {kpi.unit}; **direction:** "
                f"{kpi.direction.replace('_', ' ')}; **impact on sales:** {kpi.impact}",
                f"- **Parameters:** {_params(kpi)}",
                f"- **Benchmark:** {_benchmark(kpi)}",
                f"- **Dimensions:** {dims}",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/kpis.md")
    target.write_text(markdown(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
