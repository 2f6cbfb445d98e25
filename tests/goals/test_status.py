"""Deviation, status, periods and the statistics behind the scorecard, computed by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from callkpi.goals.periods import Period, PeriodError, parse_period
from callkpi.goals.stats import percentile_rank, wilson
from callkpi.goals.status import Status, Thresholds, deviation, status

D = dt.date
UP, DOWN, NEUTRAL = "higher_is_better", "lower_is_better", "neutral"


def test_deviation_is_relative_and_signed() -> None:
    assert deviation(0.33, 0.30) == pytest.approx(0.10)  # 10 % above
    assert deviation(270.0, 300.0) == pytest.approx(-0.10)  # 10 % below
    assert deviation(-6.0, -4.0) == pytest.approx(-0.5)  # against |target|: NPS -6 vs -4
    assert deviation(None, 0.8) is None
    assert deviation(0.5, None) is None
    assert deviation(0.5, 0.0) is None  # no relative distance from zero


@pytest.mark.parametrize(
    ("actual", "target", "direction", "expected"),
    [
        # 10 % above target: good for conversion, bad for AHT.
        (0.33, 0.30, UP, Status.ON_TRACK),
        (330.0, 300.0, DOWN, Status.WARNING),
        # 10 % below target: bad for conversion, good for AHT.
        (0.27, 0.30, UP, Status.WARNING),
        (270.0, 300.0, DOWN, Status.ON_TRACK),
        # 20 % off in the bad direction: critical either way.
        (0.24, 0.30, UP, Status.CRITICAL),
        (360.0, 300.0, DOWN, Status.CRITICAL),
        # Exactly at the thresholds (5 % and 15 %): the threshold itself is the milder state.
        (0.95, 1.0, UP, Status.ON_TRACK),
        (105.0, 100.0, DOWN, Status.ON_TRACK),
        (0.85, 1.0, UP, Status.WARNING),
        (115.0, 100.0, DOWN, Status.WARNING),
        # Just past them.
        (0.9499, 1.0, UP, Status.WARNING),
        (115.01, 100.0, DOWN, Status.CRITICAL),
        # A neutral KPI (occupancy) is judged by distance either way.
        (0.88, 0.80, NEUTRAL, Status.WARNING),  # +10 %
        (0.72, 0.80, NEUTRAL, Status.WARNING),  # -10 %
        (0.82, 0.80, NEUTRAL, Status.ON_TRACK),  # +2.5 %
        (0.60, 0.80, NEUTRAL, Status.CRITICAL),  # -25 %
        # No target, no data.
        (0.5, None, UP, Status.NO_TARGET),
        (None, 0.5, UP, Status.NO_DATA),
        # A target of zero: on its good side or at it is on track, else critical.
        (0.0, 0.0, DOWN, Status.ON_TRACK),
        (0.01, 0.0, DOWN, Status.CRITICAL),
        (3.0, 0.0, UP, Status.ON_TRACK),
        (-1.0, 0.0, UP, Status.CRITICAL),
        (0.0, 0.0, NEUTRAL, Status.ON_TRACK),
        (2.0, 0.0, NEUTRAL, Status.CRITICAL),
    ],
)
def test_status_follows_the_direction(
    actual: float | None, target: float | None, direction: str, expected: Status
) -> None:
    assert status(actual, target, direction) is expected


def test_thresholds_are_configurable() -> None:
    tight = Thresholds(warning=0.01, critical=0.03)
    assert status(0.97, 1.0, UP, tight) is Status.WARNING  # 3 %: at critical, so warning
    assert status(0.96, 1.0, UP, tight) is Status.CRITICAL
    assert status(0.995, 1.0, UP, tight) is Status.ON_TRACK
    loose = Thresholds(warning=0.2, critical=0.5)
    assert status(0.6, 1.0, UP, loose) is Status.WARNING  # 40 % short
    with pytest.raises(ValueError, match="warning"):
        Thresholds(warning=0.2, critical=0.1)
    with pytest.raises(ValueError, match="warning"):
        Thresholds(warning=-0.1, critical=0.1)


def test_wilson_interval_against_published_values() -> None:
    # 50 of 100: the textbook 95 % Wilson interval is 0.4038 .. 0.5962.
    low, high = wilson(0.5, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    # 0 of 10: 0 .. 0.2775 (the normal approximation would give 0 .. 0).
    low, high = wilson(0.0, 10)
    assert (low, round(high, 4)) == (0.0, 0.2775)
    # Symmetric: 10 of 10 mirrors 0 of 10.
    low, high = wilson(1.0, 10)
    assert (round(low, 4), high) == (0.7225, 1.0)
    # 99 % is wider than 95 %.
    low99, high99 = wilson(0.5, 100, confidence=0.99)
    assert low99 < 0.4038 and high99 > 0.5962
    assert wilson(0.5, 0) is None


def test_percentile_rank_counts_ties_as_half() -> None:
    peers = [1.0, 2.0, 2.0, 3.0]
    assert percentile_rank(3.0, peers) == (3 + 0.5) / 4
    assert percentile_rank(2.0, peers) == (1 + 1.0) / 4
    assert percentile_rank(1.0, peers) == 0.5 / 4
    assert percentile_rank(5.0, []) is None


@pytest.mark.parametrize(
    ("text", "first", "last", "label", "previous"),
    [
        ("2026-10", D(2026, 10, 1), D(2026, 10, 31), "2026-10", ("2026-09-01", "2026-09-30")),
        ("2026-03", D(2026, 3, 1), D(2026, 3, 31), "2026-03", ("2026-02-01", "2026-02-28")),
        ("2026-01", D(2026, 1, 1), D(2026, 1, 31), "2026-01", ("2025-12-01", "2025-12-31")),
        ("2026-Q4", D(2026, 10, 1), D(2026, 12, 31), "2026-Q4", ("2026-07-01", "2026-09-30")),
        ("2026-q1", D(2026, 1, 1), D(2026, 3, 31), "2026-Q1", ("2025-10-01", "2025-12-31")),
        ("2026", D(2026, 1, 1), D(2026, 12, 31), "2026", ("2025-01-01", "2025-12-31")),
        ("2026-10-05", D(2026, 10, 5), D(2026, 10, 5), "2026-10-05", ("2026-10-04", "2026-10-04")),
        # A custom range: the same number of days just before (10 days).
        ("2026-10-01..2026-10-10", D(2026, 10, 1), D(2026, 10, 10), "2026-10-01..2026-10-10",
         ("2026-09-21", "2026-09-30")),
    ],
)
def test_periods(
    text: str, first: dt.date, last: dt.date, label: str, previous: tuple[str, str]
) -> None:
    period = parse_period(text)
    assert (period.first, period.last, period.label()) == (first, last, label)
    before = period.previous()
    assert (before.first.isoformat(), before.last.isoformat()) == previous
    assert period.end_datetime() == dt.datetime.combine(last + dt.timedelta(days=1), dt.time())


def test_period_containment_and_errors() -> None:
    assert parse_period("2026-Q4").contains(parse_period("2026-11"))
    assert not parse_period("2026-11").contains(parse_period("2026-Q4"))
    assert Period(D(2026, 10, 1), D(2026, 10, 31)).days == 31
    with pytest.raises(PeriodError, match="'2026-13'"):
        parse_period("2026-13")
    with pytest.raises(PeriodError, match="end is before the start"):
        parse_period("2026-10-10..2026-10-01")
    with pytest.raises(PeriodError, match="expected a month"):
        parse_period("October")
