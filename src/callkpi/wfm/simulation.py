"""A discrete-event simulation of one call queue with many agents and abandonment: for what
the Erlang formulas do not cover (lognormal or empirical handle times, patience that is not
exponential, arrivals and agents that change by interval within the day).

The queue
---------
* One FCFS queue in front of ``agents`` identical agents. A call that finds a free agent is
  answered at once; otherwise it waits. Each caller has a patience: a caller still waiting
  when it runs out hangs up (abandons). A call is answered when its wait is at most its
  patience (an agent freeing up at the very instant the patience ends answers the call);
  patience ``None`` means nobody abandons. A caller who hangs up takes no agent time.
* Arrivals are Poisson: at a constant rate, or at a rate constant within each interval of a
  day (a non-homogeneous Poisson process generated piece by piece: a Poisson number of calls
  per interval, placed uniformly in it).
* Agents: a constant number, or one number per interval. When the number rises, the new
  agents are free at the start of the interval. When it drops, idle agents leave at once and
  busy agents finish their call first: an agent who finishes a call takes the next one only
  while busy plus idle agents are fewer than the interval's number, so the agents who finish
  first leave first. An interval with zero agents answers no call: its callers (and those
  still waiting from before) wait until agents come back in a later interval, or hang up
  when their patience runs out. A change of agents at an interval's start takes effect
  before a call answered at that same instant.

Two kinds of run
----------------
* **Stationary** (``calls`` is one number): the steady state of one interval's load. Each
  replication starts empty, runs a warm-up of ``warmup_s`` seconds whose calls are not
  counted, then counts the calls arriving in the next ``duration_s`` seconds. Every counted
  call is followed to its end, even past the window.
* **A day** (``calls`` is one number per interval): each replication is one day that starts
  with an empty queue and idle agents at the start of the first interval; there is no
  warm-up. Calls count in the interval they arrive in. After the last interval no call
  arrives and the last interval's agents stay until the queue is empty; if that interval has
  no agents, the callers still waiting hang up at their patience, and callers with no
  patience limit are counted as abandoned at the end of the day (their wait runs to it).

Estimates and standard errors
-----------------------------
Every value is a ratio (p_wait = calls that waited / calls, ASA = seconds waited by
answered calls / answered calls, occupancy = busy agent-seconds / agent-seconds present...)
summed over independent replications and divided last. Its standard error comes from the
spread between the replications (the ratio estimator's delta method:
``sqrt(sum((y_r - R * x_r)^2) / (n (n - 1))) / mean(x)`` for numerators ``y_r`` and
denominators ``x_r`` of ``n`` replications). Replications are independent (one child seed
each, spawned from ``seed``), so these errors are honest; batch means are not used. With
few replications the error is itself rough (a 95 % band is about +-2.26 errors for 10), and
near full load without abandonment short replications give skewed waits: ask for longer
runs (``duration_s``) where the precision matters. A value with no calls behind it (an
interval without calls, ASA when nothing was answered) is None.

Definitions used by the results (they match :class:`~callkpi.wfm.types.Metrics` and the
service_level KPI; thresholds compare with ``<=`` like the KPI):

* a call *waited* when every agent was busy at its arrival (its offered wait was above 0);
* a call's *wait* is its time in queue: until an agent answered, or until it hung up;
* service level ``offered``: answered with wait <= threshold over all calls (short abandons
  are not taken out, unlike the KPI's default); ``answered``:
  the same over answered calls; ``answered_and_abandoned``: answered or abandoned with wait
  <= threshold over answered plus abandoned calls (here every call ends one of the two ways);
* occupancy: busy agent-seconds over agent-seconds present in the measured time, where an
  agent finishing a call after their number dropped counts as present until they finish
  (so occupancy never exceeds 1). Time after the day's last interval is not measured.

The same ``seed`` gives the same result. The calls of a replication (arrivals, handle times,
patience) are drawn before and independently of the agents, so runs with the same seed and
different agent numbers see the same callers (common random numbers), which keeps the
comparison of staffing options steady.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard, get_args, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from callkpi.wfm.types import Load, Metrics, ServiceLevelDefinition, clean

FloatArray = NDArray[np.float64]

DEFAULT_CALLS_PER_REPLICATION = 5_000
"""Stationary runs without ``duration_s``: the window holds this many calls on average."""


# --- distributions -------------------------------------------------------------------------


@runtime_checkable
class Distribution(Protocol):
    """A distribution of durations in seconds (handle times, patience)."""

    @property
    def mean_s(self) -> float: ...

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray: ...


def _check_mean(name: str, value: float) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}")


@dataclass(frozen=True)
class Exponential:
    """Exponential durations with mean ``mean_s`` (the Erlang models' assumption)."""

    mean_s: float

    def __post_init__(self) -> None:
        _check_mean("mean_s", self.mean_s)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.exponential(self.mean_s, size)


@dataclass(frozen=True)
class Lognormal:
    """Lognormal durations given by their mean and coefficient of variation (standard
    deviation over mean). The underlying normal has ``sigma^2 = ln(1 + cv^2)`` and
    ``mu = ln(mean_s) - sigma^2 / 2``, so that ``exp(mu + sigma^2 / 2) = mean_s`` and the
    standard deviation is ``cv * mean_s``. ``cv = 0`` gives the constant ``mean_s``."""

    mean_s: float
    cv: float

    def __post_init__(self) -> None:
        _check_mean("mean_s", self.mean_s)
        if not _is_number(self.cv) or not math.isfinite(self.cv) or self.cv < 0:
            raise ValueError(f"cv must be a finite number >= 0, got {self.cv!r}")

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def mu(self) -> float:
        return math.log(self.mean_s) - self.sigma**2 / 2

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        if self.cv == 0:
            return np.full(size, float(self.mean_s))
        return rng.lognormal(self.mu, self.sigma, size)


@dataclass(frozen=True)
class Gamma:
    """Gamma durations given by mean and coefficient of variation: shape ``1 / cv^2``, scale
    ``mean_s * cv^2`` (cv = 1 is the exponential)."""

    mean_s: float
    cv: float

    def __post_init__(self) -> None:
        _check_mean("mean_s", self.mean_s)
        _check_mean("cv", self.cv)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.gamma(1 / self.cv**2, self.mean_s * self.cv**2, size)


@dataclass(frozen=True)
class Weibull:
    """Weibull durations given by mean and shape ``k`` (k = 1 is the exponential; k < 1 has
    more very short and very long values). Scale ``mean_s / Gamma(1 + 1/k)``."""

    mean_s: float
    shape: float

    def __post_init__(self) -> None:
        _check_mean("mean_s", self.mean_s)
        _check_mean("shape", self.shape)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        scale = self.mean_s / math.gamma(1 + 1 / self.shape)
        return rng.weibull(self.shape, size) * scale


@dataclass(frozen=True)
class Deterministic:
    """Every duration is ``value_s`` (patience 0: nobody waits, the Erlang B loss system)."""

    value_s: float

    def __post_init__(self) -> None:
        if not _is_number(self.value_s) or not math.isfinite(self.value_s) or self.value_s < 0:
            raise ValueError(f"value_s must be a finite number >= 0, got {self.value_s!r}")

    @property
    def mean_s(self) -> float:
        return float(self.value_s)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return np.full(size, float(self.value_s))


@dataclass(frozen=True)
class Empirical:
    """Durations resampled (with replacement, equal weights) from observed ``values_s``,
    e.g. the handle times of last month's calls."""

    values_s: tuple[float, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.values_s, dtype=float).ravel()
        if values.size == 0:
            raise ValueError("values_s must hold at least one value")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("values_s must be finite numbers >= 0")
        object.__setattr__(self, "values_s", tuple(float(v) for v in values))

    @property
    def mean_s(self) -> float:
        return math.fsum(self.values_s) / len(self.values_s)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.choice(np.asarray(self.values_s), size)


# --- the queue itself ----------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecords:
    """What happened to each call of one run, in arrival order (seconds from the start)."""

    arrival_s: FloatArray
    handle_s: FloatArray
    patience_s: FloatArray
    """inf when the caller never hangs up."""
    offered_wait_s: FloatArray
    """How long the caller would wait with unlimited patience (inf if no agent ever comes)."""
    answered: NDArray[np.bool_]
    wait_s: FloatArray
    """Time in queue: until answered, or until the caller hung up."""

    @property
    def answer_s(self) -> FloatArray:
        """When an agent answered (nan for abandoned calls)."""
        return np.where(self.answered, self.arrival_s + self.wait_s, np.nan)


def run_queue(
    arrival_s: ArrayLike,
    handle_s: ArrayLike,
    patience_s: ArrayLike | None,
    agents: int | Sequence[int],
    interval_s: float | None = None,
) -> CallRecords:
    """Run given calls through the FCFS queue (no randomness: the simulation's engine, usable
    for hand-made cases). ``arrival_s`` must be sorted; simultaneous arrivals queue in array
    order. ``agents`` is a number, or one number per interval of ``interval_s`` seconds
    starting at 0 (then every arrival must fall before the last interval's end).

    Under FCFS a call's fate depends only on the calls before it, so the calls are taken in
    arrival order against a heap of the times each agent becomes free; the agent changes at
    interval starts are applied before any call that would be answered at or after them."""
    arrival = _float_array("arrival_s", arrival_s)
    handle = _float_array("handle_s", handle_s)
    if patience_s is None:
        patience = np.full(arrival.size, math.inf)
    else:
        patience = _float_array("patience_s", patience_s, allow_inf=True)
    for name, values in (("handle_s", handle), ("patience_s", patience)):
        if values.size != arrival.size:
            raise ValueError(f"{name} must hold one value per arrival ({arrival.size})")
    if arrival.size and (arrival[0] < 0 or np.any(np.diff(arrival) < 0)):
        raise ValueError("arrival_s must be sorted and >= 0")
    staff, day_end_s = _staffing(agents, interval_s)
    if arrival.size and arrival[-1] >= day_end_s:
        raise ValueError(f"arrival_s must be before the last interval's end ({day_end_s} s)")
    if day_end_s == math.inf and staff[0] == 0 and np.any(patience == math.inf):
        raise ValueError("agents must be >= 1 when some caller never hangs up")
    return _run(arrival, handle, patience, staff, interval_s or math.inf, day_end_s)


def _staffing(agents: int | Sequence[int], interval_s: float | None) -> tuple[list[int], float]:
    """Agents per interval and the end of the last interval (inf for a constant number)."""
    if _is_count(agents):
        return [int(agents)], math.inf
    if isinstance(agents, str | bytes) or not isinstance(agents, Sequence | np.ndarray):
        raise ValueError(f"agents must be a whole number >= 0 or a sequence of them, got "
                         f"{agents!r}")
    staff = list(agents)
    if not staff or not all(_is_count(n) for n in staff):
        raise ValueError("agents must be a non-empty sequence of whole numbers >= 0")
    if interval_s is None:
        raise ValueError("interval_s is required when agents change by interval")
    _check_mean("interval_s", interval_s)
    return [int(n) for n in staff], len(staff) * float(interval_s)


def _run(
    arrival: FloatArray,
    handle: FloatArray,
    patience: FloatArray,
    staff: list[int],
    interval_s: float,
    day_end_s: float,
) -> CallRecords:
    starts = _serve(arrival.tolist(), handle.tolist(), patience.tolist(), staff, interval_s)
    offered_wait = np.asarray(starts) - arrival  # inf - a = inf when no agent ever comes
    answered = (offered_wait <= patience) & np.isfinite(offered_wait)
    gave_up_after = np.where(np.isfinite(patience), patience, day_end_s - arrival)
    wait = np.where(answered, offered_wait, gave_up_after)
    return CallRecords(arrival, handle, patience, offered_wait, answered, wait)


def _serve(
    arrival: list[float],
    handle: list[float],
    patience: list[float],
    staff: list[int],
    interval_s: float,
) -> list[float]:
    """Each call's answer time if it waited without limit (inf when no agent ever comes).

    ``free`` is a heap of the times the current agents become free (at most the interval's
    number of agents); ``leaving`` holds the finish times of busy agents above the number
    after a drop. Answering a call replaces the earliest free time by the call's end."""
    inf = math.inf
    free = [0.0] * staff[0]
    leaving: list[float] = []
    intervals = len(staff)
    next_interval = 1
    next_change_s = interval_s if intervals > 1 else inf
    starts: list[float] = []
    append = starts.append
    heapreplace = heapq.heapreplace
    for arrived_s, handle_s, patience_s in zip(arrival, handle, patience, strict=True):
        start_s = free[0] if free else inf
        if start_s < arrived_s:
            start_s = arrived_s
        # The agents change before this call would be answered: apply, then look again.
        while next_change_s <= start_s and next_interval < intervals:
            free, leaving = _restaff(free, leaving, next_change_s, staff[next_interval])
            next_interval += 1
            next_change_s = next_interval * interval_s
            start_s = free[0] if free else inf
            if start_s < arrived_s:
                start_s = arrived_s
        append(start_s)
        if start_s - arrived_s <= patience_s and start_s < inf:
            heapreplace(free, start_s + handle_s)
    return starts


def _restaff(
    free: list[float], leaving: list[float], at_s: float, agents: int
) -> tuple[list[float], list[float]]:
    """The agents after the number changes to ``agents`` at ``at_s``: every busy agent (kept
    or leaving) finishes their call; the ones finishing last stay, up to the number, and idle
    agents fill the rest (free from ``at_s``)."""
    busy = sorted(t for t in (*free, *leaving) if t > at_s)
    if len(busy) >= agents:
        cut = len(busy) - agents
        return busy[cut:], busy[:cut]  # a sorted list is a valid heap
    return [at_s] * (agents - len(busy)) + busy, []


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandardErrors:
    """Standard errors of the estimates in :class:`Metrics`, from the spread between
    independent replications (None where the estimate is None)."""

    p_wait: float | None
    service_level: float | None
    p_abandon: float | None
    asa_s: float | None
    avg_wait_s: float | None
    occupancy: float | None
    avg_wait_of_waiting_s: float | None


@dataclass(frozen=True)
class IntervalResult:
    """One interval of a simulated day: counts are means per replication (per day); the
    ratios are summed over replications and divided last."""

    index: int
    start_s: float
    agents: int
    offered: float
    answered: float
    abandoned: float
    service_level: float | None
    """In the run's service level definition; calls count in the interval they arrive in."""
    asa_s: float | None
    avg_wait_s: float | None
    p_abandon: float | None
    occupancy: float | None


@dataclass(frozen=True)
class SimulationResult:
    metrics: Metrics
    """model "simulation". For a day: load_erlangs is the day's average offered load and
    agents the largest number in any interval (per-interval values are in ``intervals``)."""
    standard_errors: StandardErrors
    calls: int
    """Calls counted, over all replications (warm-up calls are not counted)."""
    replications: int
    warmup_s: float
    """Per replication; 0 for a day."""
    measured_s: float
    """Per replication: the counting window of a stationary run, or the day's length."""
    intervals: tuple[IntervalResult, ...] = ()
    """One per interval for a day; empty for a stationary run."""
    records: tuple[CallRecords, ...] = field(default=(), repr=False)
    """Every call of each replication (warm-up included) when asked with ``keep_calls``."""


# Columns of a tally: sums over calls (or agent time) that the ratios are built from.
_CALLS, _WAITED, _ANSWERED, _ABANDONED, _ANSWERED_IN, _ABANDONED_IN = range(6)
_WAIT_ANSWERED_S, _WAIT_S, _WAIT_OF_WAITING_S, _BUSY_S, _PRESENT_S = range(6, 11)
_COLUMNS = 11


def _tally(records: CallRecords, group: NDArray[np.intp], groups: int,
           answer_threshold_s: float) -> FloatArray:
    """Sums per group (rows) of the call columns; calls with group -1 are not counted."""
    counted = group >= 0
    group = group[counted]
    wait = records.wait_s[counted]
    answered = records.answered[counted]
    within = wait <= answer_threshold_s
    waited = records.offered_wait_s[counted] > 0
    columns = {
        _CALLS: np.ones(group.size),
        _WAITED: waited,
        _ANSWERED: answered,
        _ABANDONED: ~answered,
        _ANSWERED_IN: answered & within,
        _ABANDONED_IN: ~answered & within,
        _WAIT_ANSWERED_S: np.where(answered, wait, 0.0),
        _WAIT_S: wait,
        _WAIT_OF_WAITING_S: np.where(waited, wait, 0.0),
    }
    out = np.zeros((groups, _COLUMNS))
    for column, weights in columns.items():
        out[:, column] = np.bincount(group, weights=weights, minlength=groups)
    return out


def _service_level_columns(definition: ServiceLevelDefinition) -> tuple[list[int], list[int]]:
    if definition == "offered":
        return [_ANSWERED_IN], [_CALLS]
    if definition == "answered":
        return [_ANSWERED_IN], [_ANSWERED]
    return [_ANSWERED_IN, _ABANDONED_IN], [_ANSWERED, _ABANDONED]


def _ratio(sums: FloatArray, numerator: list[int], denominator: list[int]) -> float | None:
    den = float(sums[..., denominator].sum())
    return float(sums[..., numerator].sum()) / den if den > 0 else None


def _ratio_se(per_replication: FloatArray, numerator: list[int], denominator: list[int]
              ) -> float | None:
    """Delta-method standard error of sum(y) / sum(x) over independent replications."""
    y = per_replication[:, numerator].sum(axis=1)
    x = per_replication[:, denominator].sum(axis=1)
    n = len(x)
    if n < 2 or x.sum() <= 0:
        return None
    estimate = y.sum() / x.sum()
    spread = float(np.sum((y - estimate * x) ** 2)) / (n * (n - 1))
    return math.sqrt(spread) / float(x.mean())


_P_WAIT = ([_WAITED], [_CALLS])
_P_ABANDON = ([_ABANDONED], [_CALLS])
_ASA = ([_WAIT_ANSWERED_S], [_ANSWERED])
_AVG_WAIT = ([_WAIT_S], [_CALLS])
_AVG_WAIT_OF_WAITING = ([_WAIT_OF_WAITING_S], [_WAITED])
_OCCUPANCY = ([_BUSY_S], [_PRESENT_S])


def _metrics(sums: FloatArray, load_erlangs: float, agents: int, answer_threshold_s: float,
             definition: ServiceLevelDefinition) -> Metrics:
    return Metrics(
        model="simulation",
        load_erlangs=load_erlangs,
        agents=agents,
        stable=True,
        p_wait=_ratio(sums, *_P_WAIT),
        service_level=_ratio(sums, *_service_level_columns(definition)),
        service_level_definition=definition,
        answer_threshold_s=answer_threshold_s,
        asa_s=_ratio(sums, *_ASA),
        avg_wait_s=_ratio(sums, *_AVG_WAIT),
        avg_wait_of_waiting_s=_ratio(sums, *_AVG_WAIT_OF_WAITING),
        occupancy=_ratio(sums, *_OCCUPANCY),
        p_abandon=_ratio(sums, *_P_ABANDON),
    )


def _standard_errors(per_replication: FloatArray, definition: ServiceLevelDefinition
                     ) -> StandardErrors:
    return StandardErrors(
        p_wait=_ratio_se(per_replication, *_P_WAIT),
        service_level=_ratio_se(per_replication, *_service_level_columns(definition)),
        p_abandon=_ratio_se(per_replication, *_P_ABANDON),
        asa_s=_ratio_se(per_replication, *_ASA),
        avg_wait_s=_ratio_se(per_replication, *_AVG_WAIT),
        occupancy=_ratio_se(per_replication, *_OCCUPANCY),
        avg_wait_of_waiting_s=_ratio_se(per_replication, *_AVG_WAIT_OF_WAITING),
    )


# --- busy time -----------------------------------------------------------------------------


def _busy_in_window(records: CallRecords, from_s: float, to_s: float) -> float:
    start = records.arrival_s[records.answered] + records.wait_s[records.answered]
    end = start + records.handle_s[records.answered]
    overlap = np.minimum(end, to_s) - np.maximum(start, from_s)
    return float(np.sum(np.clip(overlap, 0.0, None)))


def _busy_by_interval(records: CallRecords, staff: NDArray[np.intp], interval_s: float
                      ) -> tuple[FloatArray, FloatArray]:
    """Busy and present agent-seconds per interval: the number of busy agents is a step
    function of the answer and end times; present agents are max(number, busy)."""
    start = records.arrival_s[records.answered] + records.wait_s[records.answered]
    end = start + records.handle_s[records.answered]
    bounds = np.arange(staff.size + 1) * interval_s
    times = np.concatenate([start, end, bounds])
    steps = np.concatenate([np.ones(start.size), -np.ones(end.size), np.zeros(bounds.size)])
    order = np.argsort(times, kind="stable")
    times, busy = times[order], np.cumsum(steps[order])
    length = np.diff(times)
    begin, busy = times[:-1], busy[:-1]
    inside = (begin >= 0) & (begin < bounds[-1]) & (length > 0)
    interval = np.searchsorted(bounds, begin[inside], side="right") - 1
    length, busy = length[inside], busy[inside]
    present = np.maximum(busy, staff[interval])
    busy_s = np.bincount(interval, weights=busy * length, minlength=staff.size)
    present_s = np.bincount(interval, weights=present * length, minlength=staff.size)
    return busy_s.astype(np.float64), present_s.astype(np.float64)


# --- simulate ------------------------------------------------------------------------------


def simulate(
    calls: float | Sequence[float],
    interval_s: float,
    agents: int | Sequence[int],
    handle: Distribution,
    patience: Distribution | None = None,
    *,
    answer_threshold_s: float = 20.0,
    service_level_definition: ServiceLevelDefinition = "offered",
    replications: int = 10,
    duration_s: float | None = None,
    warmup_s: float | None = None,
    seed: int | None = 0,
    keep_calls: bool = False,
) -> SimulationResult:
    """Simulate the queue and estimate its :class:`Metrics` with standard errors.

    ``calls`` is the expected number of calls per ``interval_s``: one number for a
    stationary run (``agents`` one number; each replication counts ``duration_s`` seconds
    after ``warmup_s`` seconds of warm-up), or one number per interval for a day
    (``agents`` one number or one per interval; each replication is a day that starts
    empty; ``duration_s`` and ``warmup_s`` do not apply). ``handle`` and ``patience`` are
    the distributions of handle times and of how long callers are willing to wait
    (``None``: forever). ``seed`` None draws a fresh one (not reproducible).

    Stationary defaults: ``duration_s`` holds :data:`DEFAULT_CALLS_PER_REPLICATION` calls on
    average; ``warmup_s`` is the larger of 20 mean handle times and a tenth of
    ``duration_s``. Two stationary cases are not simulated and come back with the values
    :func:`~callkpi.wfm.erlang.erlang_c` gives: no load (nothing waits: p_wait 0, service
    level 1, waits 0) and, without abandonment, ``agents`` at or below the offered load (no
    steady state: ``stable=False``, p_wait 1, occupancy 1, the other waiting values None)."""
    _check_mean("interval_s", interval_s)
    if not isinstance(handle, Distribution):
        raise ValueError(f"handle must be a distribution (Exponential, Lognormal...), got "
                         f"{handle!r}")
    if patience is not None and not isinstance(patience, Distribution):
        raise ValueError(f"patience must be a distribution or None, got {patience!r}")
    _check_threshold(answer_threshold_s)
    _check_definition(service_level_definition)
    if not _is_count(replications) or replications < 2:
        raise ValueError(f"replications must be a whole number >= 2, got {replications!r}")
    if isinstance(keep_calls, np.ndarray) or keep_calls not in (True, False):
        raise ValueError(f"keep_calls must be True or False, got {keep_calls!r}")
    if not (seed is None or _is_count(seed)):
        raise ValueError(f"seed must be a whole number >= 0 or None, got {seed!r}")
    generators = [np.random.default_rng(child)
                  for child in np.random.SeedSequence(seed).spawn(int(replications))]
    if not isinstance(calls, Sequence | np.ndarray):
        _check_calls("calls", calls)
        return _simulate_stationary(
            float(calls), float(interval_s), agents, handle, patience, answer_threshold_s,
            service_level_definition, generators, duration_s, warmup_s, keep_calls)
    if isinstance(calls, str):
        _check_calls("calls", calls)
    if duration_s is not None or warmup_s is not None:
        raise ValueError("duration_s and warmup_s apply to a stationary run (calls a number); "
                         "a day with intervals starts empty and runs its intervals")
    return _simulate_day(calls, float(interval_s), agents, handle, patience,
                         answer_threshold_s, service_level_definition, generators, keep_calls)


def simulate_interval(
    load: Load,
    agents: int,
    patience_s: float | None,
    answer_threshold_s: float = 20.0,
    service_level_definition: ServiceLevelDefinition = "offered",
    handle_cv: float | None = None,
    *,
    replications: int = 10,
    duration_s: float | None = None,
    warmup_s: float | None = None,
    seed: int | None = 0,
) -> SimulationResult:
    """The steady state of one interval's load (a stationary :func:`simulate`), with the
    Erlang A inputs: exponential patience of mean ``patience_s`` (None: nobody abandons;
    0: nobody waits, callers who find every agent busy hang up) and handle times of mean
    ``load.aht_s``, exponential when ``handle_cv`` is None, else lognormal with that
    coefficient of variation."""
    if not isinstance(load, Load):
        raise ValueError(f"load must be a Load, got {load!r}")
    if patience_s is not None and (not _is_number(patience_s) or not math.isfinite(patience_s)
                                   or patience_s < 0):
        raise ValueError(f"patience_s must be a finite number >= 0 or None, got {patience_s!r}")
    if handle_cv is not None and (not _is_number(handle_cv) or not math.isfinite(handle_cv)
                                  or handle_cv < 0):
        raise ValueError(f"handle_cv must be a finite number >= 0 or None, got {handle_cv!r}")
    handle: Distribution
    if load.aht_s == 0:
        handle = Deterministic(0.0)
    elif handle_cv is None:
        handle = Exponential(load.aht_s)
    else:
        handle = Lognormal(load.aht_s, handle_cv)
    patience: Distribution | None = None
    if patience_s is not None:
        patience = Exponential(patience_s) if patience_s > 0 else Deterministic(0.0)
    return simulate(load.calls, load.interval_s, agents, handle, patience,
                    answer_threshold_s=answer_threshold_s,
                    service_level_definition=service_level_definition,
                    replications=replications, duration_s=duration_s, warmup_s=warmup_s,
                    seed=seed)


def _simulate_stationary(
    calls: float,
    interval_s: float,
    agents: int | Sequence[int],
    handle: Distribution,
    patience: Distribution | None,
    answer_threshold_s: float,
    definition: ServiceLevelDefinition,
    generators: list[np.random.Generator],
    duration_s: float | None,
    warmup_s: float | None,
    keep_calls: bool,
) -> SimulationResult:
    if not _is_count(agents):
        raise ValueError(f"agents must be one whole number >= 0 for a stationary run (calls a "
                         f"number), got {agents!r}")
    servers = int(agents)
    rate_per_s = calls / interval_s
    load_erlangs = clean(rate_per_s * handle.mean_s)
    if duration_s is None:
        duration_s = (DEFAULT_CALLS_PER_REPLICATION / rate_per_s if rate_per_s > 0
                      else interval_s)
    _check_mean("duration_s", duration_s)
    if warmup_s is None:
        warmup_s = max(20 * handle.mean_s, duration_s / 10)
    if not _is_number(warmup_s) or not math.isfinite(warmup_s) or warmup_s < 0:
        raise ValueError(f"warmup_s must be a finite number >= 0, got {warmup_s!r}")
    if load_erlangs == 0 or (patience is None and servers <= load_erlangs):
        return _without_simulation(load_erlangs, servers, answer_threshold_s, definition,
                                   len(generators), warmup_s, duration_s)
    end_s = warmup_s + duration_s
    per_replication = np.zeros((len(generators), _COLUMNS))
    kept: list[CallRecords] = []
    for r, rng in enumerate(generators):
        arrival = _poisson_arrivals(rng, [rate_per_s * end_s], end_s)
        records = _run(arrival, _checked_sample("handle", handle, rng, arrival.size),
                       _patience(patience, rng, arrival.size), [servers], math.inf, math.inf)
        counted = arrival >= warmup_s
        group = np.where(counted, 0, -1).astype(np.intp)
        per_replication[r] = _tally(records, group, 1, answer_threshold_s)[0]
        per_replication[r, _BUSY_S] = _busy_in_window(records, warmup_s, end_s)
        per_replication[r, _PRESENT_S] = servers * duration_s
        if keep_calls:
            kept.append(records)
    sums = per_replication.sum(axis=0)
    return SimulationResult(
        metrics=_metrics(sums, load_erlangs, servers, answer_threshold_s, definition),
        standard_errors=_standard_errors(per_replication, definition),
        calls=int(sums[_CALLS]),
        replications=len(generators),
        warmup_s=float(warmup_s),
        measured_s=float(duration_s),
        records=tuple(kept),
    )


def _simulate_day(
    calls: Sequence[float] | NDArray[np.float64],
    interval_s: float,
    agents: int | Sequence[int],
    handle: Distribution,
    patience: Distribution | None,
    answer_threshold_s: float,
    definition: ServiceLevelDefinition,
    generators: list[np.random.Generator],
    keep_calls: bool,
) -> SimulationResult:
    expected = [float(c) if _is_number(c) else math.nan for c in calls]
    if not expected:
        raise ValueError("calls must hold at least one interval")
    for c in expected:
        _check_calls("calls", c)
    intervals = len(expected)
    staff_list, _ = _staffing(agents, interval_s)
    if len(staff_list) == 1 and _is_count(agents):
        staff_list = staff_list * intervals
    if len(staff_list) != intervals:
        raise ValueError(f"agents must hold one number per interval of calls ({intervals}), "
                         f"got {len(staff_list)}")
    staff = np.asarray(staff_list, dtype=np.intp)
    day_end_s = intervals * interval_s
    bounds = np.arange(intervals + 1) * interval_s
    per_replication = np.zeros((len(generators), intervals, _COLUMNS))
    kept: list[CallRecords] = []
    for r, rng in enumerate(generators):
        arrival = _poisson_arrivals(rng, expected, interval_s)
        records = _run(arrival, _checked_sample("handle", handle, rng, arrival.size),
                       _patience(patience, rng, arrival.size), staff_list, interval_s,
                       day_end_s)
        group = (np.searchsorted(bounds, arrival, side="right") - 1).astype(np.intp)
        per_replication[r] = _tally(records, group, intervals, answer_threshold_s)
        busy, present = _busy_by_interval(records, staff, interval_s)
        per_replication[r, :, _BUSY_S] = busy
        per_replication[r, :, _PRESENT_S] = present
        if keep_calls:
            kept.append(records)
    by_interval = per_replication.sum(axis=0)
    sums = by_interval.sum(axis=0)
    load_erlangs = clean(sum(expected) * handle.mean_s / day_end_s)
    n = len(generators)
    return SimulationResult(
        metrics=_metrics(sums, load_erlangs, int(staff.max()), answer_threshold_s, definition),
        standard_errors=_standard_errors(per_replication.sum(axis=1), definition),
        calls=int(sums[_CALLS]),
        replications=n,
        warmup_s=0.0,
        measured_s=day_end_s,
        intervals=tuple(
            IntervalResult(
                index=k,
                start_s=float(bounds[k]),
                agents=int(staff[k]),
                offered=float(row[_CALLS]) / n,
                answered=float(row[_ANSWERED]) / n,
                abandoned=float(row[_ABANDONED]) / n,
                service_level=_ratio(row, *_service_level_columns(definition)),
                asa_s=_ratio(row, *_ASA),
                avg_wait_s=_ratio(row, *_AVG_WAIT),
                p_abandon=_ratio(row, *_P_ABANDON),
                occupancy=_ratio(row, *_OCCUPANCY),
            )
            for k, row in enumerate(by_interval)
        ),
        records=tuple(kept),
    )


def _without_simulation(load_erlangs: float, agents: int, answer_threshold_s: float,
                        definition: ServiceLevelDefinition, replications: int,
                        warmup_s: float, duration_s: float) -> SimulationResult:
    """The two stationary cases known without simulating (the values of :func:`erlang_c`):
    no calls (nothing waits) and no steady state (no abandonment, agents <= load)."""
    idle = load_erlangs == 0
    exact = 0.0 if idle else None
    metrics = Metrics(
        model="simulation", load_erlangs=load_erlangs, agents=agents, stable=idle,
        p_wait=0.0 if idle else 1.0, service_level=1.0 if idle else None,
        service_level_definition=definition, answer_threshold_s=answer_threshold_s,
        asa_s=exact, avg_wait_s=exact, avg_wait_of_waiting_s=None,
        occupancy=None if agents == 0 else exact if idle else 1.0, p_abandon=0.0,
    )
    errors = StandardErrors(0.0, 0.0 if idle else None, 0.0, exact, exact,
                            None if agents == 0 else 0.0, None)
    return SimulationResult(metrics, errors, 0, replications, float(warmup_s),
                            float(duration_s))


def _poisson_arrivals(rng: np.random.Generator, expected_calls: Sequence[float],
                      interval_s: float) -> FloatArray:
    """Poisson arrivals with ``expected_calls[k]`` calls on average, uniformly spread, in
    the k-th interval: a Poisson process whose rate is constant within each interval."""
    counts = rng.poisson(expected_calls)
    pieces = [np.sort(rng.uniform(k * interval_s, (k + 1) * interval_s, count))
              for k, count in enumerate(counts)]
    return np.concatenate(pieces) if pieces else np.zeros(0)


def _patience(patience: Distribution | None, rng: np.random.Generator, size: int
              ) -> FloatArray:
    if patience is None:
        return np.full(size, math.inf)
    return _checked_sample("patience", patience, rng, size)


def _checked_sample(name: str, distribution: Distribution, rng: np.random.Generator,
                    size: int) -> FloatArray:
    values = np.asarray(distribution.sample(rng, size), dtype=float)
    if values.shape != (size,) or not np.all(values >= 0):
        raise ValueError(f"{name} must sample {size} durations >= 0")
    return values


# --- input checks --------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_)


def _is_count(value: object) -> TypeGuard[int]:
    return bool(isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
                and value >= 0)


def _check_calls(name: str, value: object) -> None:
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number or a sequence of numbers, each finite and "
                         f">= 0 (expected calls per interval), got {value!r}")


def _check_threshold(answer_threshold_s: float) -> None:
    if (not _is_number(answer_threshold_s) or not math.isfinite(answer_threshold_s)
            or answer_threshold_s < 0):
        raise ValueError(f"answer_threshold_s must be a finite number >= 0, got "
                         f"{answer_threshold_s!r}")


def _check_definition(definition: object) -> None:
    allowed = get_args(ServiceLevelDefinition)
    if definition not in allowed:
        raise ValueError(f"service_level_definition must be one of {', '.join(allowed)}, got "
                         f"{definition!r}")


def _float_array(name: str, values: ArrayLike, allow_inf: bool = False) -> FloatArray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numbers: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a one-dimensional sequence of seconds")
    if np.any(np.isnan(array)) or np.any(array < 0) or (
            not allow_inf and not np.all(np.isfinite(array))):
        raise ValueError(f"{name} must be {'' if allow_inf else 'finite '}numbers >= 0")
    return array
