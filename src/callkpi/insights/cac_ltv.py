"""Customer acquisition cost and lifetime value per agent and per supervisor.

Deals won and sales amount come from the catalog, cut by agent and supervisor. CAC and
LTV cannot be cut that way (marketing costs are booked per tenant and campaign, customers
and their churn per tenant), so they are allocated:

* **Marketing cost of an agent**: each campaign's marketing costs (the catalog's
  ``cost_marketing``, spread over the period by time) shared among the agents by their
  share of the campaign's dial attempts; marketing booked to a tenant without a campaign
  shared by the agents' share of the tenant's won deals. Dials without an agent and
  campaigns without dials leave their share unallocated (reported in the reading).
* **CAC of an agent**: allocated marketing cost over the agent's won deals (a won deal
  stands for an acquired customer). No marketing allocated: no CAC (the agent sold without
  campaign spend, e.g. on inbound calls).
* **LTV of an agent**: the catalog's ``ltv`` of each tenant the agent won deals for,
  weighted by those deals (an average customer of that tenant).
* A supervisor's figures are the sums over their agents (costs, deals, LTV x deals).

Rows with fewer than MIN_SAMPLE won deals are flagged and not ranked; the rank is by CAC,
lowest first.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from callkpi.goals.periods import Period
from callkpi.goals.stats import MIN_SAMPLE
from callkpi.insights.common import (
    Insight,
    enough,
    kpi_rows,
    names,
    num,
    only,
    plural,
    share,
    too_few,
    when,
)
from callkpi.store import Warehouse

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
    "note",
)
UNITS = {
    "dials": "count",
    "deals_won": "count",
    "sales_amount": "currency",
    "marketing_cost": "currency",
    "cac": "currency",
    "cac__n": "count",
    "ltv": "currency",
    "ltv_cac": "times",
}
SUMS = ("dials", "deals_won", "sales_amount", "marketing_cost", "ltv_value", "ltv_deals")


def cac_ltv(wh: Warehouse, period: Period, tz: str = "UTC") -> Insight:
    """Per agent, then per supervisor: dials, deals won, sales amount, allocated marketing
    cost, CAC (with its base, won deals), LTV and LTV:CAC, ranked by CAC."""
    dials = kpi_rows(wh, period, tz, ("dials",), by=("campaign", "agent", "supervisor"))
    deals = kpi_rows(
        wh, period, tz, ("deals_won", "sales_amount"), by=("tenant", "agent", "supervisor")
    )
    costs = kpi_rows(wh, period, tz, ("marketing_cost",), by=("tenant", "campaign"))
    ltv = {r["tenant"]: r["ltv"] for r in kpi_rows(wh, period, tz, ("ltv",), by=("tenant",))}
    agents, supervisor_of, unallocated = _allocate(dials, deals, costs, ltv)
    agent_rows = [_finish("agent", a, supervisor_of.get(a), sums) for a, sums in agents.items()]
    by_supervisor: dict[Any, dict[str, float]] = defaultdict(lambda: dict.fromkeys(SUMS, 0.0))
    for agent, sums in agents.items():
        for k in SUMS:
            by_supervisor[supervisor_of.get(agent)][k] += sums[k]
    supervisor_rows = [_finish("supervisor", None, s, sums) for s, sums in by_supervisor.items()]
    _rank(agent_rows)
    _rank(supervisor_rows)
    center = only(kpi_rows(wh, period, tz, ("cac", "deals_won", "sales_amount")))
    summary = {
        "marketing_cost": sum(r["marketing_cost"] or 0.0 for r in costs),
        "unallocated_marketing_cost": unallocated,
        "cac": center.get("cac"),
        "new_customers": center.get("cac__n"),
        "deals_won": center.get("deals_won"),
        "sales_amount": center.get("sales_amount"),
        "ltv_by_tenant": ltv,
    }
    rows = agent_rows + supervisor_rows
    return Insight(
        analysis="cac-ltv",
        title="CAC and LTV per agent and supervisor",
        period=period,
        tz=tz,
        columns=COLUMNS,
        rows=rows,
        reading=_reading(agent_rows, supervisor_rows, summary, period),
        center=summary,
        units=UNITS,
    )


def _allocate(
    dials: list[dict[str, Any]],
    deals: list[dict[str, Any]],
    costs: list[dict[str, Any]],
    ltv: dict[Any, float | None],
) -> tuple[dict[Any, dict[str, float]], dict[Any, Any], float]:
    """Per agent the sums behind the row; each agent's supervisor; marketing cost left
    unallocated (no dials or deals to share it by, or dials and deals without an agent)."""
    campaign_cost: dict[Any, float] = defaultdict(float)
    tenant_cost: dict[Any, float] = defaultdict(float)
    for c in costs:
        amount = c["marketing_cost"] or 0.0
        if c["campaign"] is not None:
            campaign_cost[c["campaign"]] += amount
        else:
            tenant_cost[c["tenant"]] += amount
    campaign_dials: dict[Any, int] = defaultdict(int)
    for d in dials:
        campaign_dials[d["campaign"]] += d["dials"]
    tenant_deals: dict[Any, int] = defaultdict(int)
    for d in deals:
        tenant_deals[d["tenant"]] += d["deals_won"]

    agents: dict[Any, dict[str, float]] = defaultdict(lambda: dict.fromkeys(SUMS, 0.0))
    supervisor_of: dict[Any, Any] = {}
    allocated = 0.0
    for d in dials:
        if d["agent"] is None or not d["dials"]:
            continue
        supervisor_of[d["agent"]] = d["supervisor"]
        sums = agents[d["agent"]]
        sums["dials"] += d["dials"]
        if d["campaign"] in campaign_cost:
            cost = campaign_cost[d["campaign"]] * d["dials"] / campaign_dials[d["campaign"]]
            sums["marketing_cost"] += cost
            allocated += cost
    for d in deals:
        if d["agent"] is None or not (d["deals_won"] or d["sales_amount"]):
            continue
        supervisor_of[d["agent"]] = d["supervisor"]
        sums = agents[d["agent"]]
        sums["deals_won"] += d["deals_won"]
        sums["sales_amount"] += d["sales_amount"] or 0.0
        if tenant_cost.get(d["tenant"]) and tenant_deals[d["tenant"]]:
            cost = tenant_cost[d["tenant"]] * d["deals_won"] / tenant_deals[d["tenant"]]
            sums["marketing_cost"] += cost
            allocated += cost
        if ltv.get(d["tenant"]) is not None:
            sums["ltv_value"] += d["deals_won"] * ltv[d["tenant"]]
            sums["ltv_deals"] += d["deals_won"]
    total = sum(campaign_cost.values()) + sum(tenant_cost.values())
    return agents, supervisor_of, total - allocated


def _finish(level: str, agent: Any, supervisor: Any, sums: dict[str, float]) -> dict[str, Any]:
    deals_won = int(sums["deals_won"])
    cost = sums["marketing_cost"]
    cac = share(cost, deals_won) if cost > 0 else None
    ltv = share(sums["ltv_value"], sums["ltv_deals"])
    row: dict[str, Any] = {
        "level": level,
        "agent": agent,
        "supervisor": supervisor,
        "dials": int(sums["dials"]),
        "deals_won": deals_won,
        "sales_amount": sums["sales_amount"],
        "marketing_cost": cost,
        "cac": cac,
        "cac__n": deals_won,
        "ltv": ltv,
        "ltv_cac": share(ltv, cac) if ltv is not None and cac else None,
        "rank": None,
    }
    if cost <= 0:
        row["note"] = "no campaign dials: no CAC"
    elif not enough(deals_won):
        row["note"] = too_few(deals_won, "won deals")
    else:
        row["note"] = None
    return row


def _rank(rows: list[dict[str, Any]]) -> None:
    """Rank by CAC, lowest first, among rows with a CAC and enough won deals; the rest
    follow by won deals."""
    eligible = sorted(
        (r for r in rows if r["cac"] is not None and r["note"] is None), key=lambda r: r["cac"]
    )
    for rank, row in enumerate(eligible, start=1):
        row["rank"] = rank
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, -r["deals_won"]))


def _money(value: float | None) -> str:
    return num(value, 2) if value is not None and abs(value) < 1000 else num(value)


def _reading(
    agents: list[dict[str, Any]],
    supervisors: list[dict[str, Any]],
    summary: dict[str, Any],
    period: Period,
) -> str:
    if not agents:
        return f"No dials or won deals by agents {when(period)}."
    text = [
        f"{when(period).capitalize()} marketing cost {_money(summary['marketing_cost'])}; it is "
        "allocated to agents by their share of each campaign's dials (marketing without a "
        "campaign by their share of the tenant's won deals), and an agent's CAC is that "
        "cost over their won deals."
    ]
    if summary["cac"] is not None:
        text.append(
            f"For reference, the catalog's CAC of the center (marketing over "
            f"{num(summary['new_customers'])} new customers) is {_money(summary['cac'])}."
        )
    ranked = [r for r in agents if r["rank"] is not None]
    if ranked:
        best, worst = ranked[0], ranked[-1]
        text.append(
            f"Among {plural(len(ranked), 'agent')} with at least {MIN_SAMPLE} won deals, CAC "
            f"runs from {_money(best['cac'])} ({best['agent']}, {num(best['deals_won'])} deals) "
            f"to {_money(worst['cac'])} ({worst['agent']}, {num(worst['deals_won'])} deals)."
        )
        with_ratio = [r for r in ranked if r["ltv_cac"] is not None]
        if with_ratio:
            top = max(with_ratio, key=lambda r: r["ltv_cac"])
            low = min(with_ratio, key=lambda r: r["ltv_cac"])
            text.append(
                f"LTV:CAC is best for {top['agent']} ({num(top['ltv_cac'], 1)}x) and lowest "
                f"for {low['agent']} ({num(low['ltv_cac'], 1)}x); above 3x is usually "
                "considered healthy."
            )
    ranked_supervisors = [r for r in supervisors if r["rank"] is not None]
    if len(ranked_supervisors) > 1:
        text.append(
            "By supervisor, CAC runs from "
            f"{_money(ranked_supervisors[0]['cac'])} ({ranked_supervisors[0]['supervisor']}) "
            f"to {_money(ranked_supervisors[-1]['cac'])} "
            f"({ranked_supervisors[-1]['supervisor']})."
        )
    unspent = [r["agent"] for r in agents if r["marketing_cost"] <= 0 and r["deals_won"]]
    if unspent:
        text.append(
            f"{plural(len(unspent), 'agent')} won deals without campaign dials, so no "
            f"marketing is allocated to them and they have no CAC ({names(unspent)})."
        )
    few = [r["agent"] for r in agents if r["marketing_cost"] > 0 and r["rank"] is None]
    if few:
        text.append(
            f"{plural(len(few), 'agent')} with marketing allocated won fewer than {MIN_SAMPLE} "
            f"deals, too few to rank ({names(few)})."
        )
    if summary["unallocated_marketing_cost"] > 0.005:
        text.append(
            f"{_money(summary['unallocated_marketing_cost'])} of marketing cost had no agent "
            "to share it (a campaign without dials, dials without an agent, or a tenant "
            "without won deals)."
        )
    return " ".join(text)
