"""Call arrivals: intraday profile, weekly pattern, over-dispersed daily volume, Poisson
arrivals within 15-minute intervals.

The model (docs/demo.md explains it for users):

* A day's expected volume is ``calls_per_weekday * weekday_factors[weekday]``.
* The realised day is that mean times a gamma day factor with mean 1, whose shape is
  chosen so that the day's count has ``variance = daily_dispersion * mean`` (a Poisson
  count would have variance = mean). Real centers' day-to-day volume is over-dispersed
  like this: weather, outages, mailings and paydays move whole days.
* Within the day, each 15-minute interval gets the day's volume times the intraday
  profile's share of that interval, and the count in the interval is Poisson; arrival
  times are uniform within their interval (a Poisson process with a piecewise-constant
  rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from callkpi.demo.clock import INTERVAL_S, INTERVALS_PER_DAY, Period


@dataclass(frozen=True)
class Peak:
    """A bump of the intraday profile: a normal curve in local hours."""

    hour: float
    width_h: float
    height: float


@dataclass(frozen=True)
class IntradayProfile:
    peaks: tuple[Peak, ...]
    floor: float = 0.15
    """The profile's level between peaks, relative to the peak heights."""
    open_hour: float = 8.0
    close_hour: float = 22.0
    """Calls arrive from ``open_hour`` to ``close_hour`` (local)."""

    def shares(self) -> np.ndarray:
        """The share of the day's calls in each 15-minute interval (sums to 1)."""
        mid_h = (np.arange(INTERVALS_PER_DAY) + 0.5) * INTERVAL_S / 3600
        level = np.full(INTERVALS_PER_DAY, self.floor)
        for peak in self.peaks:
            level += peak.height * np.exp(-0.5 * ((mid_h - peak.hour) / peak.width_h) ** 2)
        start = mid_h - INTERVAL_S / 7200
        level[(start < self.open_hour) | (start >= self.close_hour)] = 0.0
        return level / level.sum()


@dataclass(frozen=True)
class VolumeModel:
    calls_per_weekday: float
    """Expected calls on a weekday with factor 1."""
    weekday_factors: tuple[float, float, float, float, float, float, float]
    """Monday first."""
    profile: IntradayProfile
    daily_dispersion: float = 2.5
    """Variance / mean of a day's count (1 = Poisson)."""

    def expected_per_day(self, period: Period) -> np.ndarray:
        return np.array(
            [self.calls_per_weekday * self.weekday_factors[d.weekday()] for d in period.days]
        )


@dataclass(frozen=True)
class ArrivalDraw:
    """Arrival epochs (sorted) and the model's expected and realised count per day."""

    epochs: np.ndarray
    expected_per_day: np.ndarray
    count_per_day: np.ndarray


def gamma_day_factors(
    rng: np.random.Generator, expected_per_day: np.ndarray, daily_dispersion: float
) -> np.ndarray:
    """Mean-1 gamma factors whose shape makes each day's count have variance
    ``daily_dispersion * mean``: Var = m + m**2 / shape, so shape = m / (dispersion - 1)."""
    if daily_dispersion <= 1:
        return np.ones_like(expected_per_day)
    shape = np.maximum(expected_per_day, 1e-9) / (daily_dispersion - 1)
    return rng.gamma(shape, 1 / shape)


def draw_arrivals(rng: np.random.Generator, model: VolumeModel, period: Period) -> ArrivalDraw:
    """Arrival epochs over the period, whole seconds, sorted."""
    expected = model.expected_per_day(period)
    factors = gamma_day_factors(rng, expected, model.daily_dispersion)
    shares = model.profile.shares()
    chunks: list[np.ndarray] = []
    counts = np.zeros(len(period.days), dtype=np.int64)
    for index, midnight in enumerate(period.midnights):
        per_interval = rng.poisson(expected[index] * factors[index] * shares)
        counts[index] = per_interval.sum()
        starts = np.repeat(midnight + np.arange(INTERVALS_PER_DAY) * INTERVAL_S, per_interval)
        offsets = rng.integers(0, INTERVAL_S, size=len(starts))
        chunks.append(np.sort(starts + offsets))
    epochs = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    return ArrivalDraw(epochs.astype(np.int64), expected, counts)


def dispersion_index(counts: Sequence[float], expected: Sequence[float]) -> float:
    """Mean of (count - expected)**2 / expected over days: about 1 for Poisson counts,
    about ``daily_dispersion`` for this model (the weekday pattern is taken out)."""
    pairs = [(c, e) for c, e in zip(counts, expected, strict=True) if e > 0]
    return sum((c - e) ** 2 / e for c, e in pairs) / len(pairs) if pairs else math.nan
