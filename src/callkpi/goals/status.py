"""How far an actual value is from its target, and what that means given the KPI's direction.

Deviation is relative and signed: ``(actual - target) / |target|``, so +10 % means 10 %
above target, good for conversion and bad for AHT. The *shortfall* is the deviation in
the bad direction (for a neutral KPI, any distance from the target):

* on track: shortfall up to ``warning`` (default 5 %) — the threshold itself is on track;
* warning: shortfall above ``warning`` up to ``critical`` (default 15 %);
* critical: shortfall above ``critical``.

A target of 0 has no relative deviation: being on the good side of it (or at it) is on
track, anything else critical.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_WARNING = 0.05
DEFAULT_CRITICAL = 0.15


class Status(StrEnum):
    ON_TRACK = "on track"
    WARNING = "warning"
    CRITICAL = "critical"
    NO_TARGET = "no target"
    NO_DATA = "no data"


SEVERITY = {Status.CRITICAL: 0, Status.WARNING: 1, Status.ON_TRACK: 2, Status.NO_DATA: 3,
            Status.NO_TARGET: 4}


@dataclass(frozen=True)
class Thresholds:
    warning: float = DEFAULT_WARNING
    critical: float = DEFAULT_CRITICAL

    def __post_init__(self) -> None:
        if not 0 <= self.warning <= self.critical:
            raise ValueError(
                f"thresholds: expected 0 <= warning ({self.warning}) <= critical "
                f"({self.critical})"
            )


DEFAULT_THRESHOLDS = Thresholds()


def deviation(actual: float | None, target: float | None) -> float | None:
    if actual is None or target is None or target == 0:
        return None
    return (actual - target) / abs(target)


def shortfall(dev: float, direction: str) -> float:
    """The deviation in the bad direction (negative when the KPI beats its target)."""
    if direction == "higher_is_better":
        return -dev
    if direction == "lower_is_better":
        return dev
    return abs(dev)


def status(actual: float | None, target: float | None, direction: str,
           thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Status:
    if target is None:
        return Status.NO_TARGET
    if actual is None:
        return Status.NO_DATA
    if target == 0:
        good = (
            actual >= 0 if direction == "higher_is_better"
            else actual <= 0 if direction == "lower_is_better"
            else actual == 0
        )
        return Status.ON_TRACK if good else Status.CRITICAL
    dev = deviation(actual, target)
    assert dev is not None
    # Rounded so that a deviation of exactly the threshold is not lost to float noise.
    miss = round(shortfall(dev, direction), 12)
    if miss <= thresholds.warning:
        return Status.ON_TRACK
    if miss <= thresholds.critical:
        return Status.WARNING
    return Status.CRITICAL
