"""The values the queueing models share: an offered load and a queue's performance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Model = Literal["erlang-b", "erlang-c", "erlang-a", "simulation"]

ServiceLevelDefinition = Literal["offered", "answered", "answered_and_abandoned"]
"""The same variants as the service_level KPI (``service_level_denominator``):

* ``offered``: calls answered within the threshold over all calls offered;
* ``answered``: answered within the threshold over answered calls;
* ``answered_and_abandoned``: answered or abandoned within the threshold over all calls
  (an abandon within the threshold counts as met).

Without abandonment (Erlang C) the three are the same number.
"""


def clean(value: float, digits: int = 12) -> float:
    """``value`` rounded to ``digits`` significant digits, so that float noise in a product
    (100.00000000000001 Erlangs) does not change an answer: that load is 100."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


@dataclass(frozen=True)
class Load:
    """Calls offered in an interval and their average handle time."""

    calls: float
    interval_s: float
    aht_s: float

    def __post_init__(self) -> None:
        for name in ("calls", "interval_s", "aht_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.interval_s == 0:
            raise ValueError("interval_s must be above 0")

    @property
    def arrival_rate_per_s(self) -> float:
        return self.calls / self.interval_s

    @property
    def erlangs(self) -> float:
        """The offered load ``calls * aht_s / interval_s``, with float noise removed."""
        return clean(self.calls * self.aht_s / self.interval_s)


@dataclass(frozen=True)
class Metrics:
    """How a queue performs with ``agents`` agents under a load. Probabilities are in 0..1
    and times in seconds; None where the model does not define the value."""

    model: Model
    load_erlangs: float
    agents: int
    stable: bool
    """False when the queue grows without bound (Erlang C with agents <= load); then the
    waiting values are None, never negative or above 1."""
    p_wait: float | None
    """The probability that a call has to wait (all agents busy when it arrives)."""
    service_level: float | None
    service_level_definition: ServiceLevelDefinition
    answer_threshold_s: float
    asa_s: float | None
    """The average wait of answered calls (ASA as the asa KPI computes it)."""
    avg_wait_s: float | None
    """The average wait over all calls (answered or not; a call that never waits counts 0)."""
    avg_wait_of_waiting_s: float | None
    """The average wait of the calls that wait."""
    occupancy: float | None
    """Busy agents over agents: the load actually carried (after abandonment) over agents."""
    p_abandon: float | None = None
    """Erlang A and simulation: the share of callers who hang up before an answer."""
    p_blocked: float | None = None
    """Erlang B: the share of calls lost because every line is busy."""
