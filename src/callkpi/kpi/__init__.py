"""KPIs: the semantic layer, the typed catalog and the query compiler (DuckDB by default).

>>> from callkpi.kpi import KpiQuery, run_query  # doctest: +SKIP
>>> run_query(warehouse, KpiQuery(kpis=("offered", "answered"), by=("queue",)))  # doctest: +SKIP
"""

from callkpi.kpi.compiler import Compiler, KpiQuery, KpiResult, QueryError, run_query
from callkpi.kpi.definitions import Catalog, builtin_catalog
from callkpi.kpi.semantic import semantic_model

__all__ = [
    "Catalog",
    "Compiler",
    "KpiQuery",
    "KpiResult",
    "QueryError",
    "builtin_catalog",
    "run_query",
    "semantic_model",
]
