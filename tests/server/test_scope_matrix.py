"""Roles and scopes against the engine: for each role, which endpoints answer and which
numbers come back, checked against the engine's own numbers for that scope. A client of one
tenant never gets another tenant's numbers, through any KPI, cut or filter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callkpi.kpi import KpiQuery, builtin_catalog, run_query
from callkpi.kpi.semantic import semantic_model
from callkpi.server.scopes import kpi_tables
from callkpi.store import Warehouse

Bearer = Callable[..., dict[str, str]]
TENANT = "nordbank"
OTHERS = ("marketplus", "telesfera")
CORE = ("offered", "answered", "abandoned", "service_level", "aht", "fcr", "transfer_rate")


def engine(wh: Warehouse, kpis: tuple[str, ...], **kw: Any) -> list[dict[str, Any]]:
    rows = run_query(wh, KpiQuery(kpis=kpis, **kw)).rows
    return [{k: v for k, v in r.items() if not k.endswith("__n")} for r in rows]


def api(client: TestClient, auth: dict[str, str], **params: Any) -> Any:
    response = client.get("/api/kpi", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def _agent_of(wh: Warehouse, tenant: str) -> tuple[str, str]:
    """An agent who answered calls of ``tenant``, and another one."""
    rows = wh.sql(
        "SELECT agent FROM calls WHERE tenant = ? AND agent IS NOT NULL AND direction = 'in' "
        "GROUP BY agent ORDER BY count(*) DESC, agent LIMIT 2",
        [tenant],
    )
    return rows[0][0], rows[1][0]


ROLE_USERS: dict[str, dict[str, list[str]]] = {
    "admin": {},
    "manager": {},
    "analyst": {},
    "supervisor": {"team": ["bank_msk"]},
    "client": {"tenant": [TENANT]},
    "agent": {},  # filled with a real agent id in the test
}


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_endpoints_and_numbers_per_role(
    role: str, client: TestClient, bearer: Bearer, demo_wh: Warehouse
) -> None:
    scope = dict(ROLE_USERS[role])
    if role == "agent":
        scope = {"agent": [_agent_of(demo_wh, TENANT)[0]]}
    auth = bearer(f"u_{role}", role, **scope)

    answers = {
        path: client.get(path, headers=auth).status_code
        for path in ("/api/me", "/api/kpis", "/api/kpis/aht", "/api/tokens", "/api/users",
                     "/api/audit")
    }
    admin_only = 200 if role == "admin" else 403
    assert answers == {
        "/api/me": 200,
        "/api/kpis": 200,
        "/api/kpis/aht": 200,
        "/api/tokens": 200,
        "/api/users": admin_only,
        "/api/audit": admin_only,
    }

    where = tuple((d, v[0]) for d, v in scope.items())
    got = api(client, auth, kpis=",".join(CORE), by="queue", grain="day", tz="Europe/Moscow")
    expected = engine(demo_wh, CORE, by=("queue",), grain="day", tz="Europe/Moscow",
                      where=where)
    assert got == expected and got
    if scope:  # the scope made a difference: the unscoped numbers are not what came back
        assert got != engine(demo_wh, CORE, by=("queue",), grain="day", tz="Europe/Moscow")


def test_client_gets_only_its_tenant_through_every_kpi(
    client: TestClient, bearer: Bearer, demo_wh: Warehouse
) -> None:
    auth = bearer("bank", "client", tenant=[TENANT])
    catalog, semantic = builtin_catalog(), semantic_model()
    answerable, refused = [], []
    for kpi in catalog:
        tables = kpi_tables(catalog, semantic, [kpi.id])
        if all("tenant" in semantic.dimensions(t) for t in tables):
            answerable.append(kpi.id)
        else:
            refused.append(kpi.id)
    assert len(answerable) > 50 and "ivr_containment" in refused

    # Every KPI the tenant can be cut by: exactly the engine's numbers for that tenant.
    kpis = tuple(answerable)
    got = api(client, auth, kpis=kpis[:25]) + api(client, auth, kpis=kpis[25:50]) + api(
        client, auth, kpis=kpis[50:]
    )
    expected = [
        *engine(demo_wh, kpis[:25], where=(("tenant", TENANT),)),
        *engine(demo_wh, kpis[25:50], where=(("tenant", TENANT),)),
        *engine(demo_wh, kpis[50:], where=(("tenant", TENANT),)),
    ]
    assert got == expected
    everyone = engine(demo_wh, ("offered", "answered", "aht"))
    assert api(client, auth, kpis="offered,answered,aht") != everyone

    # The rest cannot be limited to a tenant: refused, never answered for everyone.
    for kpi_id in refused:
        r = client.get("/api/kpi", params={"kpis": kpi_id}, headers=auth)
        assert r.status_code == 403, kpi_id
        assert "cannot be limited to your tenant scope" in r.json()["detail"]
    mixed = client.get("/api/kpi", params={"kpis": f"offered,{refused[0]}"}, headers=auth)
    assert mixed.status_code == 403


@pytest.mark.parametrize("other", OTHERS)
def test_client_cannot_reach_another_tenant(
    other: str, client: TestClient, bearer: Bearer, demo_wh: Warehouse
) -> None:
    auth = bearer("bank", "client", tenant=[TENANT])
    for params in (
        {"kpis": "offered", "where": f"tenant={other}"},
        {"kpis": "offered", "where": [f"tenant={TENANT}", f"tenant={other}"]},
        {"kpis": "offered", "by": "tenant", "where": f"tenant={other}"},
    ):
        r = client.get("/api/kpi", params=params, headers=auth)
        assert r.status_code == 403 and f"tenant={other}: outside your scope" in r.json()["detail"]

    # Cut by tenant: only its own row.
    by_tenant = api(client, auth, kpis="offered,aht,conversion_rate", by="tenant")
    assert [r["tenant"] for r in by_tenant] == [TENANT]
    assert by_tenant == engine(demo_wh, ("offered", "aht", "conversion_rate"), by=("tenant",),
                               where=(("tenant", TENANT),))

    # Filters on what belongs to the other tenant give nothing (zeros and nulls, no rows).
    (campaign,) = demo_wh.sql(
        "SELECT min(campaign) FROM calls WHERE tenant = ? AND campaign IS NOT NULL", [other]
    )[0]
    queue = demo_wh.sql("SELECT min(queue) FROM calls WHERE tenant = ?", [other])[0][0]
    their_agent = demo_wh.sql(
        "SELECT agent FROM calls WHERE agent IS NOT NULL GROUP BY agent "
        "HAVING bool_and(tenant = ?) ORDER BY agent LIMIT 1", [other]
    )[0][0]
    checks = [
        ("offered,answered,aht,service_level", where, by)
        for where in (f"campaign={campaign}", f"queue={queue}", f"agent={their_agent}")
        for by in ("", "queue", "agent")
    ] + [
        ("dials,connect_rate,avg_deal_size", where, by)
        for where in (f"campaign={campaign}", f"agent={their_agent}")
        for by in ("", "agent", "campaign")
    ]
    for kpis, where, by in checks:
        rows = api(client, auth, kpis=kpis, where=where, **({"by": by} if by else {}))
        values = [v for r in rows for k, v in r.items() if k not in ("queue", "agent", "campaign")]
        assert all(v in (0, None) for v in values), (kpis, where, by, rows)
    # ... while the unscoped engine does have numbers there.
    assert engine(demo_wh, ("offered",), where=(("queue", queue),))[0]["offered"] > 0

    # Per agent: agents' numbers over this tenant's calls only.
    per_agent = api(client, auth, kpis="answered,aht", by="agent")
    assert per_agent == engine(demo_wh, ("answered", "aht"), by=("agent",),
                               where=(("tenant", TENANT),))


def test_campaign_client_sees_its_campaign_only(
    client: TestClient, bearer: Bearer, demo_wh: Warehouse
) -> None:
    auth = bearer("xsell", "client", campaign=["nb_credit_card_xsell"])
    kpis = ("dials", "connect_rate", "avg_deal_size")
    got = api(client, auth, kpis=",".join(kpis), by="agent", grain="day")
    assert got == engine(demo_wh, kpis, by=("agent",), grain="day",
                         where=(("campaign", "nb_credit_card_xsell"),))
    assert got
    r = client.get("/api/kpi", params={"kpis": "dials", "where": "campaign=ts_winback"},
                   headers=auth)
    assert r.status_code == 403


def test_several_tenants_come_back_cut_by_tenant(
    client: TestClient, bearer: Bearer, demo_wh: Warehouse
) -> None:
    auth = bearer("duo", "manager", tenant=[TENANT, "telesfera"])
    kpis = ("offered", "service_level", "aht", "occupancy")
    got = api(client, auth, kpis=",".join(kpis), by="tenant,queue", grain="day",
              tz="Europe/Moscow")
    everyone = engine(demo_wh, kpis, by=("tenant", "queue"), grain="day", tz="Europe/Moscow")
    assert got == [r for r in everyone if r["tenant"] in (TENANT, "telesfera")]
    assert {r["tenant"] for r in everyone} - {r["tenant"] for r in got} == {"marketplus"}

    unsplit = client.get("/api/kpi", params={"kpis": "aht"}, headers=auth)
    assert unsplit.status_code == 400
    assert "several tenant values (nordbank, telesfera)" in unsplit.json()["detail"]
    one = api(client, auth, kpis="aht", where="tenant=telesfera")
    assert one == engine(demo_wh, ("aht",), where=(("tenant", "telesfera"),))
    r = client.get("/api/kpi", params={"kpis": "aht", "where": "tenant=marketplus"},
                   headers=auth)
    assert r.status_code == 403


def test_agent_sees_only_their_own_numbers(
    client: TestClient, bearer: Bearer, demo_wh: Warehouse
) -> None:
    mine, theirs = _agent_of(demo_wh, TENANT)
    auth = bearer("ag", "agent", agent=[mine])
    kpis = ("answered", "aht", "talk_time", "occupancy", "adherence", "csat")
    got = api(client, auth, kpis=",".join(kpis), by="agent", grain="day")
    assert got == engine(demo_wh, kpis, by=("agent",), grain="day", where=(("agent", mine),))
    assert {r["agent"] for r in got} == {mine}
    r = client.get("/api/kpi", params={"kpis": "aht", "where": f"agent={theirs}"},
                   headers=auth)
    assert r.status_code == 403
    team = client.get("/api/kpi", params={"kpis": "aht", "by": "team"}, headers=auth)
    assert team.json() == engine(demo_wh, ("aht",), by=("team",), where=(("agent", mine),))
    costs = client.get("/api/kpi", params={"kpis": "cost_per_call"}, headers=auth)
    assert costs.status_code == 403


def test_supervisor_sees_their_team(
    client: TestClient, bearer: Bearer, demo_wh: Warehouse
) -> None:
    auth = bearer("sup", "supervisor", team=["bank_msk"])
    kpis = ("answered", "aht", "occupancy", "pause_time")
    got = api(client, auth, kpis=",".join(kpis), by="agent")
    assert got == engine(demo_wh, kpis, by=("agent",), where=(("team", "bank_msk"),))
    roster = {a for (a,) in demo_wh.sql("SELECT agent FROM agents WHERE team = 'bank_msk'")}
    assert got and {r["agent"] for r in got} <= roster
