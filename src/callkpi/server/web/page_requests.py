"""The data requests each page makes for its default view, for the warm-up.

A page's script (``static/PAGE.js``) asks for its numbers once its filter bar has read
``/api/filters``: the default period (``default_period``) and, for each dimension the
caller's scope limits to several values, the first of them (the filter bar must choose
one); a dimension the scope limits to one value is not sent. :func:`page_jobs` makes the
same requests in the same order, each through the same function as its route, so that
the answers the warm-up keeps are those a page's first visit asks for.

The scripts remain the pages' own description of their requests: when one changes,
``tests/web/test_warm_pages.py`` fails (it opens every page in Chromium on a warmed
server and checks that no answer had to be computed) until this list follows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from callkpi.goals.periods import Period
from callkpi.server.auth import Scope
from callkpi.server.web import data

Job = Callable[[], Any]

AGENT_KPIS = ("answered", "aht", "fcr", "transfer_rate", "agent_answer_rate", "availability",
              "occupancy")
QUEUE_KPIS = ("offered", "answered", "service_level", "abandon_rate", "asa", "avg_wait",
              "avg_abandon_wait", "aht")
SALES_TOTAL_KPIS = ("leads_handled", "connects", "conversations", "deals_won",
                    "conversion_rate", "avg_deal_size", "sales_amount")
SALES_CAMPAIGN_KPIS = ("leads_handled", "dials", "connects", "connect_rate", "conversations",
                       "deals_won", "conversion_rate", "sales_amount", "avg_deal_size",
                       "cost_per_sale")

TableAsk = dict[str, Any]
"""``/api/table``'s parameters (``kpis``, ``by``, ``grain``, ``samples``) as
:func:`callkpi.server.web.data.kpi_table` takes them."""

TABLES: dict[str, tuple[TableAsk, ...]] = {
    # trends.js: the KPI select's default (service_level) at the grain select's (day).
    "trends": ({"kpis": ("service_level",), "grain": "day"},),
    # agents.js: the leaderboard.
    "agents": ({"kpis": AGENT_KPIS, "by": ("agent",), "samples": True},),
    # queues.js: heatmap, intervals, per queue, IVR options, IVR containment.
    "queues": ({"kpis": ("offered",), "by": ("hour_of_day", "weekday")},
               {"kpis": ("offered", "service_level", "abandon_rate"), "grain": "30min"},
               {"kpis": QUEUE_KPIS, "by": ("queue",)},
               {"kpis": ("ivr_option_share",), "by": ("node", "option")},
               {"kpis": ("ivr_containment", "ivr_abandon_rate")}),
    # sales.js: totals and per campaign (and, for a scoped caller, the connect rate by
    # hour and weekday instead of the center-wide best-time analysis).
    "sales": ({"kpis": SALES_TOTAL_KPIS}, {"kpis": SALES_CAMPAIGN_KPIS, "by": ("campaign",)}),
    # planning.js: calls per queue (the queues to forecast) and per 30 minutes (the
    # actual series, whose last day with calls starts the forecast).
    "planning": ({"kpis": ("offered",), "by": ("queue",)},
                 {"kpis": ("offered",), "grain": "30min"}),
}
SCOPED_TABLES: dict[str, tuple[TableAsk, ...]] = {
    "sales": ({"kpis": ("connect_rate",), "by": ("hour_of_day", "weekday")},),
}
INSIGHTS: dict[str, tuple[str, ...]] = {
    # Unscoped callers only, with the default month and the zone (agents.js: the filter
    # bar's period, asked for with the leaderboard; sales.js: the totals table's).
    "agents": ("aht-transfers", "availability"),
    "sales": ("best-time", "cac-ltv"),
}
FORECAST_DAYS = 3
"""planning.js: ``/api/forecast?tz=&start=LAST&horizon_days=3&queue=...``."""
PLAN_DAYS = 2
"""planning.js: ``/api/plan?tz=&horizon_days=2&queue=...``."""


def default_filters(options: Mapping[str, Any]) -> dict[str, str]:
    """The filters the filter bar sends by default (app.js ``initFilters``): the first
    value of each dimension the scope limits to several values."""
    return {dim: info["values"][0] for dim, info in options["dimensions"].items()
            if not info["all"] and len(info["values"]) > 1}


def page_jobs(engine: data.Engine, scope: Scope,
              ops: Mapping[str, Callable[..., Any]] | None) -> tuple[list[Job], list[Job]]:
    """The default view's requests of every page for a caller of ``scope``: the cheap
    ones (filter choices, overview, scorecard, the pages' tables and analyses; the
    Overview first) and the dear ones (the Planning page's forecast and plan), as jobs
    that each compute (and keep) one answer. ``ops``: the planning and analysis routes'
    answers (``app.state.ops_pages``; None: none)."""
    limits = scope.limits

    def view() -> tuple[Period, dict[str, str]]:
        options = data.filter_options(engine, scope)
        period = data.period_of(options["default_period"])
        assert period is not None
        return period, default_filters(options)

    def table(ask: TableAsk) -> Job:
        def job() -> dict[str, Any]:
            period, filters = view()
            return data.kpi_table(engine, scope, period, filters, list(ask["kpis"]),
                                  list(ask.get("by", ())), ask.get("grain", "all"),
                                  False, ask.get("samples", False))
        return job

    def overview() -> Any:
        period, filters = view()
        return data.overview(engine, scope, period, filters)

    def scorecard() -> Any:
        period, filters = view()
        return data.scorecard(engine, scope, period, filters, None)

    cheap: list[Job] = [lambda: data.filter_options(engine, scope), overview, scorecard]
    dear: list[Job] = []
    for page, asks in TABLES.items():
        cheap += [table(ask) for ask in asks]
        if limits:
            cheap += [table(ask) for ask in SCOPED_TABLES.get(page, ())]
        elif ops is not None:
            for name in INSIGHTS.get(page, ()):
                cheap.append(_insight(ops, table(asks[0]), name, engine.tz))
    if ops is not None:
        per_queue, per_slot = (table(ask) for ask in TABLES["planning"])

        def queues_and_last() -> tuple[list[str] | None, str]:
            queues = [r["queue"] for r in per_queue()["rows"] if r.get("offered")
                      and r.get("queue")]
            total = per_slot()
            days = [r["period_start"][:10] for r in total["rows"] if r.get("offered")]
            return queues or None, days[-1] if days else total["to"]

        def forecast() -> Any:
            queues, last = queues_and_last()
            return ops["forecast"](limits, tz=engine.tz, start=last,
                                   horizon_days=FORECAST_DAYS, queue=queues)

        def plan() -> Any:
            queues, _ = queues_and_last()
            return ops["plan"](limits, tz=engine.tz, horizon_days=PLAN_DAYS, queue=queues)

        dear += [forecast, plan]
    return cheap, dear


def _insight(ops: Mapping[str, Callable[..., Any]], first_table: Job, name: str,
             tz: str) -> Job:
    def job() -> Any:
        return ops["insight"]({}, name, first_table()["period"], tz)
    return job


__all__ = ["FORECAST_DAYS", "INSIGHTS", "PLAN_DAYS", "SCOPED_TABLES", "TABLES",
           "default_filters", "page_jobs"]
