"""The default period of the insights: the latest month the data covers to its end."""

from __future__ import annotations

import pytest
from insight_rows import at, call, load

from callkpi.goals.periods import parse_period
from callkpi.insights import InsightError, latest_full_month
from callkpi.store import Warehouse


def _calls(wh: Warehouse, *times: tuple[int, int, str]) -> None:
    load(
        wh,
        "calls",
        [call(f"c{i}", at(day, clock, month)) for i, (month, day, clock) in enumerate(times)],
    )


def test_data_to_the_last_day_of_a_month(wh: Warehouse) -> None:
    _calls(wh, (10, 2, "09:00"), (10, 31, "18:00"))
    assert latest_full_month(wh) == parse_period("2026-10")


def test_a_month_in_progress_gives_the_month_before(wh: Warehouse) -> None:
    _calls(wh, (9, 20, "09:00"), (10, 15, "18:00"))
    assert latest_full_month(wh) == parse_period("2026-09")


def test_only_a_partial_month_gives_that_month(wh: Warehouse) -> None:
    _calls(wh, (10, 3, "09:00"), (10, 15, "18:00"))
    assert latest_full_month(wh) == parse_period("2026-10")


def test_the_time_zone_decides_the_days(wh: Warehouse) -> None:
    # One call on 30 November 22:30 UTC: the last day of November in UTC, but 1 December
    # 01:30 in Moscow, where November has no activity at all.
    _calls(wh, (11, 30, "22:30"))
    assert latest_full_month(wh, "UTC") == parse_period("2026-11")
    assert latest_full_month(wh, "Europe/Moscow") == parse_period("2026-12")


def test_an_empty_warehouse(wh: Warehouse) -> None:
    with pytest.raises(InsightError, match="no calls, dials or agent logins"):
        latest_full_month(wh)
