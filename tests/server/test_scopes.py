"""Scope enforcement on queries, without a server: which filters are added, what is
refused, and how several allowed values are answered."""

from __future__ import annotations

import pytest

from callkpi.kpi import KpiQuery, QueryError, builtin_catalog
from callkpi.kpi.semantic import semantic_model
from callkpi.server.auth import Scope
from callkpi.server.scopes import (
    ScopeChoice,
    ScopeError,
    kpi_tables,
    merge_rows,
    scoped_queries,
)

CATALOG = builtin_catalog()
SEMANTIC = semantic_model()


def scoped(query: KpiQuery, **scope: list[str]) -> list[KpiQuery]:
    return scoped_queries(query, Scope.of(**scope), CATALOG, SEMANTIC)


def test_no_scope_changes_nothing() -> None:
    q = KpiQuery(kpis=("aht", "ivr_containment"), where=(("queue", "q1"),))
    assert scoped(q) == [q]


def test_one_allowed_value_becomes_a_filter() -> None:
    q = KpiQuery(kpis=("aht",), by=("queue",))
    (only,) = scoped(q, tenant=["nordbank"], team=["bank_msk"])
    assert only.where == (("tenant", "nordbank"), ("team", "bank_msk"))
    assert (only.kpis, only.by) == (q.kpis, q.by)


def test_a_filter_inside_the_scope_stays_and_outside_is_refused() -> None:
    inside = KpiQuery(kpis=("aht",), where=(("tenant", "b"),))
    assert scoped(inside, tenant=["a", "b"]) == [inside]
    with pytest.raises(ScopeError, match="where tenant=c: outside your scope"):
        scoped(KpiQuery(kpis=("aht",), where=(("tenant", "a"), ("tenant", "c"))), tenant=["a"])
    with pytest.raises(ScopeError, match="where agent=A2: outside your scope"):
        scoped(KpiQuery(kpis=("aht",), where=(("agent", "A2"),)), agent=["A1"])


def test_a_kpi_that_cannot_be_cut_by_the_scope_is_refused() -> None:
    with pytest.raises(ScopeError, match=r"ivr_containment cannot be limited to your tenant"):
        scoped(KpiQuery(kpis=("aht", "ivr_containment")), tenant=["a"])
    # costs have tenants and campaigns but no agents
    with pytest.raises(ScopeError, match="table costs, has no agent"):
        scoped(KpiQuery(kpis=("cost_per_call",)), agent=["A1"])
    # derived KPIs are checked through the KPIs they use
    tables = kpi_tables(CATALOG, SEMANTIC, ["cost_per_call"])
    assert {"calls", "costs"} <= set(tables)


def test_several_allowed_values_need_a_choice_or_a_cut() -> None:
    with pytest.raises(ScopeChoice, match="several tenant values \\(a, b\\)"):
        scoped(KpiQuery(kpis=("aht",)), tenant=["a", "b"])
    split = scoped(KpiQuery(kpis=("aht",), by=("tenant", "queue")), tenant=["a", "b"])
    assert [q.where for q in split] == [(("tenant", "a"),), (("tenant", "b"),)]
    both = scoped(
        KpiQuery(kpis=("aht",), by=("tenant", "team")), tenant=["a", "b"], team=["t1", "t2"]
    )
    assert len(both) == 4
    with pytest.raises(ScopeChoice, match="share across option"):
        scoped_queries(
            KpiQuery(kpis=("ivr_option_share",), by=("option",)),
            Scope({"option": ("1", "2")}),  # not a real scope dimension: the rule itself
            CATALOG,
            SEMANTIC,
        )


def test_unknown_kpi_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="unknown KPI 'nope'"):
        scoped(KpiQuery(kpis=("nope",)), tenant=["a"])


def test_merged_rows_follow_the_engines_order() -> None:
    q = KpiQuery(kpis=("offered",), by=("tenant",), grain="day", tz="Europe/Moscow")
    a = [
        {"tenant": "a", "period_start": "2026-10-01T00:00:00+03:00", "offered": 1},
        {"tenant": "a", "period_start": "2026-10-02T00:00:00+03:00", "offered": 2},
    ]
    b = [{"tenant": "b", "period_start": "2026-10-01T00:00:00+03:00", "offered": 3}]
    assert [(r["tenant"], r["offered"]) for r in merge_rows(q, [a, b])] == [
        ("a", 1),
        ("b", 3),
        ("a", 2),
    ]
