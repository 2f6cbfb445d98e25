"""CAC and LTV per agent and supervisor, computed by hand. October 2026, UTC.

Roster: A1 and A2 under S1; A3, B1 and B2 under S2. Marketing costs for October: 10,000
on campaign alpha (tenant acme), 6,000 on beta (globex), 2,000 on acme without a campaign;
a 50,000 acme salary is not marketing.

    dials: alpha A1 60, A2 40 (100); beta A3 50 and 50 without an agent (100)
    won deals: A1 40 acme x 100, A2 10 acme x 100, A3 35 globex x 200,
               B1 30 acme x 50, B2 5 globex x 200 (acme 80 deals, globex 40)

    marketing allocated                                     CAC = cost / won deals
    A1  10000 x 60/100 + 2000 x 40/80 = 6000 + 1000 = 7000   7000/40 = 175
    A2  10000 x 40/100 + 2000 x 10/80 = 4000 +  250 = 4250   4250/10 = 425 (too few)
    A3   6000 x 50/100               = 3000                  3000/35 = 85.714
    B1                  2000 x 30/80 =  750                   750/30 = 25
    B2  0 (no campaign dials, no globex marketing without one)  no CAC
    unallocated: beta's 3000 for the dials without an agent

LTV (catalog, per tenant) = sales / customers lost: acme 6500 / 2 = 3250 (10 customers at
the start, 2 churned); globex 8000 / 1 = 8000 (20 at the start, 1 churned).
Supervisors: S1 cost 11250, 50 deals, CAC 225, LTV 3250; S2 cost 3750, 70 deals, CAC
53.571, LTV (35 x 8000 + 30 x 3250 + 5 x 8000) / 70 = 417500 / 70 = 5964.29.
The center's catalog CAC: marketing 18000 over 5 customers acquired in October = 3600.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from insight_rows import at, load, minutes

from callkpi.goals.periods import parse_period
from callkpi.insights import cac_ltv
from callkpi.store import Warehouse

OCTOBER = parse_period("2026-10")
FIRST, LAST = dt.date(2026, 10, 1), dt.date(2026, 10, 31)


def _dials(agent: str | None, campaign: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "attempt_id": f"{campaign}-{agent}-{i}",
            "campaign": campaign,
            "agent": agent,
            "dialed_at": minutes(at(5, "10:00"), i),
            "connected": False,
        }
        for i in range(n)
    ]


def _won(
    agent: str, tenant: str, campaign: str | None, n: int, amount: float
) -> list[dict[str, Any]]:
    return [
        {
            "deal_id": f"{agent}-{i}",
            "agent": agent,
            "tenant": tenant,
            "campaign": campaign,
            "status": "won",
            "amount": amount,
            "opened_at": at(4, "10:00"),
            "closed_at": minutes(at(6, "10:00"), i),
        }
        for i in range(n)
    ]


def _customers(tenant: str, before: int, churned: int, new: int) -> list[dict[str, Any]]:
    rows = [
        {
            "customer_id": f"{tenant}{i}",
            "tenant": tenant,
            "acquired_at": at(1, "00:00", 1),
            "churned_at": at(10, "12:00") if i < churned else None,
        }
        for i in range(before)
    ]
    rows += [
        {"customer_id": f"{tenant}-new{i}", "tenant": tenant, "acquired_at": at(12, "12:00")}
        for i in range(new)
    ]
    return rows


@pytest.fixture
def sales(wh: Warehouse) -> Warehouse:
    supervisors = {"A1": "S1", "A2": "S1", "A3": "S2", "B1": "S2", "B2": "S2"}
    load(wh, "agents", [{"agent": a, "supervisor": s} for a, s in supervisors.items()])
    load(
        wh,
        "dials",
        [
            *_dials("A1", "alpha", 60),
            *_dials("A2", "alpha", 40),
            *_dials("A3", "beta", 50),
            *_dials(None, "beta", 50),
        ],
    )
    load(
        wh,
        "deals",
        [
            *_won("A1", "acme", "alpha", 40, 100.0),
            *_won("A2", "acme", "alpha", 10, 100.0),
            *_won("A3", "globex", "beta", 35, 200.0),
            *_won("B1", "acme", None, 30, 50.0),
            *_won("B2", "globex", None, 5, 200.0),
        ],
    )
    load(
        wh,
        "costs",
        [
            {
                "tenant": t,
                "campaign": c,
                "category": k,
                "amount": a,
                "period_start": FIRST,
                "period_end": LAST,
            }
            for t, c, k, a in [
                ("acme", "alpha", "marketing", 10000.0),
                ("globex", "beta", "marketing", 6000.0),
                ("acme", None, "marketing", 2000.0),
                ("acme", None, "salary", 50000.0),
            ]
        ],
    )
    load(wh, "customers", [*_customers("acme", 10, 2, 3), *_customers("globex", 20, 1, 2)])
    return wh


COLUMNS = (
    "level",
    "agent",
    "supervisor",
    "dials",
    "deals_won",
    "sales_amount",
    "marketing_cost",
    "cac",
    "cac__n",
    "ltv",
    "ltv_cac",
    "rank",
)


def test_agents_and_supervisors(sales: Warehouse) -> None:
    result = cac_ltv(sales, OCTOBER)
    approx = pytest.approx
    # fmt: off
    assert [tuple(r[c] for c in COLUMNS) for r in result.rows] == [
        ("agent", "B1", "S2", 0, 30, 1500.0, approx(750), approx(25), 30, 3250.0,
         approx(130), 1),
        ("agent", "A3", "S2", 50, 35, 7000.0, approx(3000), approx(3000 / 35), 35, 8000.0,
         approx(8000 * 35 / 3000), 2),
        ("agent", "A1", "S1", 60, 40, 4000.0, approx(7000), approx(175), 40, 3250.0,
         approx(3250 / 175), 3),
        ("agent", "A2", "S1", 40, 10, 1000.0, approx(4250), approx(425), 10, 3250.0,
         approx(3250 / 425), None),
        ("agent", "B2", "S2", 0, 5, 1000.0, 0.0, None, 5, 8000.0, None, None),
        ("supervisor", None, "S2", 50, 70, 9500.0, approx(3750), approx(3750 / 70), 70,
         approx(417500 / 70), approx(417500 / 3750), 1),
        ("supervisor", None, "S1", 100, 50, 5000.0, approx(11250), approx(225), 50, 3250.0,
         approx(3250 / 225), 2),
    ]
    assert [r["note"] for r in result.rows] == [
        None, None, None, "too few to rank (10 won deals < 30)", "no campaign dials: no CAC",
        None, None,
    ]
    # fmt: on
    assert result.center["marketing_cost"] == approx(18000)
    assert result.center["unallocated_marketing_cost"] == approx(3000)
    assert result.center["cac"] == approx(3600)
    assert result.center["ltv_by_tenant"] == {"acme": 3250.0, "globex": 8000.0}


def test_reading(sales: Warehouse) -> None:
    assert cac_ltv(sales, OCTOBER).reading == (
        "In 2026-10 marketing cost 18,000; it is allocated to agents by their share of each "
        "campaign's dials (marketing without a campaign by their share of the tenant's won "
        "deals), and an agent's CAC is that cost over their won deals. For reference, the "
        "catalog's CAC of the center (marketing over 5 new customers) is 3,600. Among 3 "
        "agents with at least 30 won deals, CAC runs from 25.00 (B1, 30 deals) to 175.00 "
        "(A1, 40 deals). LTV:CAC is best for B1 (130.0x) and lowest for A1 (18.6x); above 3x "
        "is usually considered healthy. By supervisor, CAC runs from 53.57 (S2) to 225.00 "
        "(S1). 1 agent won deals without campaign dials, so no marketing is allocated to them "
        "and they have no CAC (B2). 1 agent with marketing allocated won fewer than 30 deals, "
        "too few to rank (A2). 3,000 of marketing cost had no agent to share it (a campaign "
        "without dials, dials without an agent, or a tenant without won deals)."
    )


def test_nothing_sold(wh: Warehouse) -> None:
    result = cac_ltv(wh, OCTOBER)
    assert result.rows == []
    assert result.reading == "No dials or won deals by agents in 2026-10."
