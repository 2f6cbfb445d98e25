"""Scope enforcement: a caller's KPI query turned into the queries the engine may answer.

A scope limits dimensions to values (``tenant=nordbank``; ``agent=A017`` for an agent).
The server, never the client, adds them as filters:

* a KPI whose data cannot be cut by a scoped dimension (IVR steps have no tenant) is
  refused: the engine could not keep other scopes' rows out of it;
* a ``where`` on a scoped dimension must name an allowed value, or the query is refused;
* with no ``where`` on it, a dimension limited to one value gets ``where dim=value``;
* limited to several values, the query must be cut ``by`` that dimension: it is then run
  once per allowed value and the rows are put together, which is exact because each group
  of the result holds one value of the dimension. Without that cut the caller is asked to
  pick (a ratio over several tenants cannot be assembled from per-tenant answers, and the
  engine's filters are equalities).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from callkpi.kpi import Catalog, KpiQuery, QueryError
from callkpi.kpi.definitions import ShareKpi
from callkpi.kpi.semantic import SemanticModel
from callkpi.server.auth import Scope

MAX_SPLITS = 50


class ScopeError(Exception):
    """The query reaches outside the caller's scope (HTTP 403)."""


class ScopeChoice(ValueError):
    """The caller's scope has several values and the query must say which (HTTP 400)."""


def kpi_tables(
    catalog: Catalog, semantic: SemanticModel, kpis: Sequence[str]
) -> dict[str, set[str]]:
    """For each table the query reads, the requested KPIs that read it."""
    try:
        closure = {k: catalog.closure([k]) for k in kpis}
    except KeyError as exc:
        raise QueryError(str(exc.args[0])) from None
    tables: dict[str, set[str]] = {}
    for kpi_id, defs in closure.items():
        for kpi in defs:  # a ratio's measures() covers all its variants
            for name in kpi.measures():
                measure = semantic.measures.get(name)
                if measure is not None:
                    tables.setdefault(measure.table, set()).add(kpi_id)
    return tables


def scoped_queries(
    query: KpiQuery, scope: Scope, catalog: Catalog, semantic: SemanticModel
) -> list[KpiQuery]:
    """The queries to run for a caller with ``scope`` (see the module's docstring)."""
    if not scope.limits:
        return [query]
    tables = kpi_tables(catalog, semantic, query.kpis)
    where = list(query.where)
    splits: list[list[tuple[str, str]]] = []
    for dim, allowed in scope.limits.items():
        for table, users in sorted(tables.items()):
            if dim not in semantic.dimensions(table):
                raise ScopeError(
                    f"{', '.join(sorted(users))} cannot be limited to your {dim} scope "
                    f"(its data, table {table}, has no {dim}); ask an admin or manager"
                )
        asked = [v for d, v in where if d == dim]
        outside = [v for v in asked if v not in allowed]
        if outside:
            raise ScopeError(f"where {dim}={outside[0]}: outside your scope")
        if asked:
            continue
        if len(allowed) == 1:
            where.append((dim, allowed[0]))
            continue
        if dim not in query.by:
            raise ScopeChoice(
                f"your scope has several {dim} values ({', '.join(allowed)}): add "
                f"where {dim}=VALUE, or by={dim} to get one row per {dim}"
            )
        shares = [
            k.id
            for k in catalog.closure(query.kpis)
            if isinstance(k, ShareKpi) and k.of == dim
        ]
        if shares:
            raise ScopeChoice(
                f"{shares[0]} is a share across {dim}: add where {dim}=VALUE "
                f"(your scope has {', '.join(allowed)})"
            )
        splits.append([(dim, v) for v in allowed])
    combos = list(itertools.product(*splits)) if splits else [()]
    if len(combos) > MAX_SPLITS:
        raise ScopeChoice(
            f"your scope makes {len(combos)} combinations of "
            f"{', '.join(s[0][0] for s in splits)}: narrow the query with where filters"
        )
    return [replace(query, where=(*where, *combo)) for combo in combos]


def merge_rows(query: KpiQuery, parts: Sequence[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of several scoped runs in the engine's order: by period (its UTC start), then
    the ``by`` dimensions (nulls last)."""
    if len(parts) == 1:
        return parts[0]

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        start = row.get("period_start")
        when = (
            dt.datetime.fromisoformat(start).astimezone(dt.UTC)
            if isinstance(start, str)
            else dt.datetime.min.replace(tzinfo=dt.UTC)
        )
        return (when, *((row.get(d) is None, str(row.get(d))) for d in query.by))

    return sorted((r for part in parts for r in part), key=order)


def tenant_to_write(scope: Scope, tenant: str | None, what: str) -> str | None:
    """The tenant a write (posted events, an uploaded file) goes to. Writers may be scoped
    to tenants at most; one allowed tenant is taken when none is named, several must be
    chosen from (ScopeChoice, HTTP 400); a tenant outside the scope is refused (ScopeError,
    HTTP 403)."""
    limits = scope.limits
    if set(limits) - {"tenant"}:
        raise ScopeError(f"{what} needs a scope of tenants at most")
    allowed = limits.get("tenant")
    if allowed is None:
        return tenant
    if tenant is None and len(allowed) == 1:
        return allowed[0]
    if tenant not in allowed:
        message = f"tenant: expected one of {', '.join(allowed)}"
        raise ScopeError(message) if tenant is not None else ScopeChoice(message)
    return tenant
