"""A scorecard without recommendation rules (the dashboard's overview tiles): the same rows
as the full scorecard but for the recommendations, read with fewer queries (neither the
rules' own KPIs nor the previous period)."""

from __future__ import annotations

import pytest

from callkpi.goals.periods import parse_period
from callkpi.goals.scorecard import build_scorecard
from callkpi.goals.targets import TargetSpec, set_targets
from callkpi.store import Warehouse

OCTOBER = parse_period("2026-10")


@pytest.mark.parametrize(("by", "where"), [
    (None, ()), (None, (("team", "t1"),)), ("agent", ()), ("team", (("tenant", "acme"),))])
def test_rows_are_the_full_scorecards_without_recommendations(
    center: Warehouse, by: str | None, where: tuple[tuple[str, str], ...]
) -> None:
    set_targets(center, [TargetSpec(kpi="service_level", target=0.8, period="2026-10"),
                         TargetSpec(kpi="aht", target=200, period="2026-Q4")])
    kpis = ["offered", "abandon_rate"]
    full = build_scorecard(center, OCTOBER, by=by, kpis=kpis, where=where)
    bare = build_scorecard(center, OCTOBER, by=by, kpis=kpis, where=where, rules=())
    assert any(r["recommendations"] for r in full.rows) or by is not None or where
    assert [{**r, "recommendations": []} for r in full.rows] == bare.rows
    assert bare.skipped == full.skipped
    assert all(found == [] for found in bare.recommendations.values())


def test_values_by_hand(center: Warehouse) -> None:
    bare = build_scorecard(center, OCTOBER, kpis=["service_level", "aht", "offered"],
                           rules=())
    rows = {r["kpi"]: r for r in bare.rows}
    # 45 of 100 calls answered within 20 s; 14,650 s of handling over 85 answered calls.
    assert (rows["service_level"]["actual"], rows["service_level"]["n"]) == (0.45, 100)
    assert rows["aht"]["actual"] == pytest.approx(14_650 / 85)
    assert rows["offered"]["actual"] == 100
