"""KPIs: the semantic layer, the typed catalog and the query compiler (DuckDB by default).

For notebooks and scripts, :func:`query` returns an Arrow table (``.to_pandas()`` for a
DataFrame)::

    from callkpi.kpi import query
    table = query("callkpi.duckdb", ["service_level", "aht"], by=["queue"], grain="day",
                  tz="Europe/Moscow", start="2026-10-01", end="2026-11-01")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from callkpi.kpi.compiler import Compiler, KpiQuery, KpiResult, QueryError, run_query
from callkpi.kpi.definitions import Catalog, CatalogError, builtin_catalog, load_catalog
from callkpi.kpi.formula import FormulaError
from callkpi.kpi.semantic import semantic_model
from callkpi.store import Warehouse


def _time(value: str | dt.datetime | dt.date | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return dt.datetime.fromisoformat(value)


def query(
    warehouse: Warehouse | str | Path,
    kpis: Sequence[str],
    *,
    by: Sequence[str] = (),
    grain: str = "all",
    start: str | dt.datetime | dt.date | None = None,
    end: str | dt.datetime | dt.date | None = None,
    tz: str = "UTC",
    where: Mapping[str, str] | None = None,
    params: Mapping[str, float | str] | None = None,
    catalog_files: Sequence[str | Path] = (),
) -> pa.Table:
    """Compute ``kpis`` as an Arrow table: one column per ``by`` dimension, then
    ``period_start`` (unless grain is ``all``), then one column per KPI. ``start``
    (inclusive) and ``end`` (exclusive) are read in ``tz`` when they have no offset."""
    kpi_query = KpiQuery(
        kpis=tuple(kpis),
        by=tuple(by),
        grain=grain,
        start=_time(start),
        end=_time(end),
        tz=tz,
        where=tuple((where or {}).items()),
        params=dict(params or {}),
    )
    catalog = load_catalog([Path(p) for p in catalog_files]) if catalog_files else None
    owned = not isinstance(warehouse, Warehouse)
    wh = Warehouse(warehouse) if not isinstance(warehouse, Warehouse) else warehouse
    try:
        result = run_query(wh, kpi_query, catalog=catalog)
    finally:
        if owned:
            wh.close()
    return result.table


__all__ = [
    "Catalog",
    "CatalogError",
    "Compiler",
    "FormulaError",
    "KpiQuery",
    "KpiResult",
    "QueryError",
    "builtin_catalog",
    "load_catalog",
    "query",
    "run_query",
    "semantic_model",
]
