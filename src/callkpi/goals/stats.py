"""Statistics that keep comparisons honest: sample sizes and confidence intervals."""

from __future__ import annotations

import math
from statistics import NormalDist

MIN_SAMPLE = 30
"""Fewer observations than this and a rate is flagged, not ranked."""


def wilson(proportion: float, n: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion observed over ``n`` trials (None without
    trials). Better than the normal approximation near 0 and 1 and for small samples."""
    if n is None or n <= 0 or proportion is None:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = min(max(proportion, 0.0), 1.0)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At p = 0 (or 1) the bound is exactly 0 (or 1); float rounding would miss it.
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return low, high


def percentile_rank(value: float, peers: list[float]) -> float | None:
    """The share of peers strictly below ``value`` plus half of those equal (0..1)."""
    if value is None or not peers:
        return None
    below = sum(1 for p in peers if p < value)
    equal = sum(1 for p in peers if p == value)
    return (below + 0.5 * equal) / len(peers)
