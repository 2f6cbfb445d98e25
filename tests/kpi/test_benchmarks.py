"""Industry benchmarks: valid data, and placement that follows each KPI's direction."""

from __future__ import annotations

import pytest

from callkpi.kpi import builtin_catalog
from callkpi.kpi.benchmarks import Verdict, builtin_benchmarks, for_kpi, place


def test_every_benchmark_names_a_kpi_and_a_source() -> None:
    catalog = builtin_catalog()
    for bench in builtin_benchmarks():
        assert bench.kpi in catalog, bench.kpi
        assert bench.source


def test_the_issue_benchmarks_are_all_there() -> None:
    ranges = {b.kpi: (b.low, b.high) for b in builtin_benchmarks() if b.industry is None}
    assert ranges["fcr"] == (0.70, 0.75)
    assert ranges["abandon_rate"] == (0.05, 0.08)
    assert ranges["service_level"] == (0.80, None)
    assert ranges["avg_acw"] == (60, 120)
    assert ranges["occupancy"] == (0.80, 0.90)
    assert ranges["adherence"] == (0.85, None)
    assert ranges["cost_per_call"] == (2.70, 5.60)
    assert ranges["conversion_rate"] == (0.03, 0.10)
    by_industry = {
        b.industry: b.value for b in builtin_benchmarks() if b.kpi == "lead_response_time"
    }
    assert by_industry == {
        "healthcare": 7500,
        "telecom": 960,
        "small_business": 2880,
        "mid_market": 5880,
        "enterprise": 5280,
    }


@pytest.mark.parametrize(
    ("kpi", "value", "direction", "verdict", "position"),
    [
        ("fcr", 0.80, "higher_is_better", Verdict.BETTER, "above"),
        ("fcr", 0.72, "higher_is_better", Verdict.IN_LINE, "within"),
        ("fcr", 0.60, "higher_is_better", Verdict.WORSE, "below"),
        ("abandon_rate", 0.10, "lower_is_better", Verdict.WORSE, "above"),
        ("abandon_rate", 0.03, "lower_is_better", Verdict.BETTER, "below"),
        ("abandon_rate", 0.05, "lower_is_better", Verdict.IN_LINE, "within"),  # the edge
        ("occupancy", 0.95, "neutral", Verdict.WORSE, "above"),
        ("service_level", 0.80, "higher_is_better", Verdict.IN_LINE, "within"),
    ],
)
def test_placement_follows_the_direction(
    kpi: str, value: float, direction: str, verdict: Verdict, position: str
) -> None:
    placed = place(kpi, value, direction)
    assert placed is not None
    assert (placed["verdict"], placed["position"]) == (verdict.value, position)


def test_overstaffing_flag_currency_and_industry() -> None:
    assert place("abandon_rate", 0.03, "lower_is_better")["overstaffed"] is True
    assert place("abandon_rate", 0.06, "lower_is_better")["overstaffed"] is False
    assert place("cost_per_call", 4.0, "lower_is_better", currency="RUB")["verdict"] == (
        Verdict.NOT_COMPARABLE.value
    )
    assert place("cost_per_call", 4.0, "lower_is_better", currency="usd")["verdict"] == (
        Verdict.IN_LINE.value
    )
    assert for_kpi("lead_response_time", industry="telecom").value == 960
    assert for_kpi("lead_response_time") is None  # only per industry
    assert (
        place("lead_response_time", 600, "lower_is_better", industry="telecom")["verdict"]
        == Verdict.BETTER.value
    )
    assert place("aht", 300, "lower_is_better") is None
