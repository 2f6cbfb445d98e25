"""Insights: combined analyses built on the KPI engine (issue 4).

Each analysis is one function in its own module, taking a warehouse, a reporting period
and a time zone, and returning an :class:`Insight`: rows of plain values plus a paragraph
that reads them. Every rate that compares agents, hours or sites carries its sample size
(``<kpi>__n``) and, for shares of counts, a 95 % Wilson interval (``<kpi>_low``,
``<kpi>_high``); rows with fewer than ``MIN_SAMPLE`` observations are flagged "too few to
rank" and never placed in a quadrant or a ranking. See docs/insights.md.
"""

from __future__ import annotations

from callkpi.insights.aht_transfers import aht_transfers
from callkpi.insights.availability import availability
from callkpi.insights.best_time import best_time
from callkpi.insights.cac_ltv import cac_ltv
from callkpi.insights.common import TOO_FEW, Insight, InsightError, latest_full_month
from callkpi.insights.locations import locations
from callkpi.insights.patience import patience
from callkpi.insights.wrap_codes import wrap_codes

__all__ = [
    "TOO_FEW",
    "Insight",
    "InsightError",
    "aht_transfers",
    "availability",
    "best_time",
    "cac_ltv",
    "latest_full_month",
    "locations",
    "patience",
    "wrap_codes",
]
