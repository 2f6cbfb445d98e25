"""The staffing solver: the fewest agents that meet every service constraint, for one
interval (:func:`solve`) or many at once (:func:`solve_many`), shrinkage on top
(:func:`scheduled_agents`), and the square-root staffing rule as a quick cross-check
(:func:`sqrt_staffing`).

The search. The metrics of N + 1 agents need Erlang B of N + 1, which the recursion gives
from Erlang B of N in O(1); so the solver walks N upwards from 1, updating Erlang B for all
intervals at once (NumPy), and evaluates the constraints from a lower bound on: Erlang C
from the first stable N (``floor(load) + 1``, or ``load / max_occupancy`` if higher),
Erlang A from proven bounds (below). The first N meeting every constraint is the answer:
no monotonicity is assumed. An interval with no load needs 0 agents.

Erlang A lower bounds: the carried load ``A (1 - P(abandon))`` is the mean number of busy
agents, below N; so ``1 - P(abandon) < N / A``. A service level (``offered``) of ``s``
needs ``s <= 1 - P(abandon)``, hence ``N > s A``; ``P(abandon) <= max_abandon`` needs
``N > (1 - max_abandon) A``. The ``answered`` and ``answered_and_abandoned`` service levels,
the ASA and the occupancy give no such bound (impatient callers can make them good with
one agent), so without the other constraints the search starts at 1 (slower for queues
of thousands of Erlangs: every N is evaluated). Erlang A's ASA, its costliest value (a
series), is only computed where every other constraint is already met.

Float noise never costs an agent: a value within 1e-12 (relative) of its limit meets it,
and loads are rounded to 12 significant digits (:func:`~callkpi.wfm.types.clean`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import log_ndtr

from callkpi.wfm.erlang import (
    SERVICE_LEVEL_DEFINITIONS,
    FloatArray,
    IntArray,
    MetricArrays,
    erlang_a_arrays,
    erlang_b_step,
    erlang_c_arrays,
)
from callkpi.wfm.types import Load, Metrics, ServiceLevelDefinition, clean

StaffingModel = Literal["erlang-c", "erlang-a"]

_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Constraints:
    """What an interval's staffing must meet; None switches a constraint off.

    * ``service_level``: at least this share (0.8 = 80 %) of calls answered within
      ``answer_threshold_s`` seconds, in ``service_level_definition``
      (:data:`~callkpi.wfm.types.ServiceLevelDefinition`; the same number for Erlang C);
    * ``max_asa_s``: average wait of answered calls at most this many seconds;
    * ``max_occupancy``: busy agents over agents at most this share;
    * ``max_abandon``: at most this share of callers hang up (Erlang A only).
    """

    service_level: float | None = 0.8
    answer_threshold_s: float = 20.0
    max_asa_s: float | None = None
    max_occupancy: float | None = None
    max_abandon: float | None = None
    service_level_definition: ServiceLevelDefinition = "offered"

    def __post_init__(self) -> None:
        if self.service_level is not None and not 0 < self.service_level < 1:
            raise ValueError(
                f"service_level must be a share above 0 and below 1 (0.8 for 80 %; no "
                f"finite staff answers every call within a threshold), got {self.service_level}"
            )
        if not math.isfinite(self.answer_threshold_s) or self.answer_threshold_s < 0:
            raise ValueError(
                f"answer_threshold_s must be a finite number of seconds >= 0, "
                f"got {self.answer_threshold_s}"
            )
        if self.max_asa_s is not None and not (
            math.isfinite(self.max_asa_s) and self.max_asa_s > 0
        ):
            raise ValueError(
                f"max_asa_s must be a finite number of seconds above 0, got {self.max_asa_s}"
            )
        if self.max_occupancy is not None and not 0 < self.max_occupancy <= 1:
            raise ValueError(
                f"max_occupancy must be a share above 0 and at most 1 (0.85 for 85 %), "
                f"got {self.max_occupancy}"
            )
        if self.max_abandon is not None and not 0 < self.max_abandon <= 1:
            raise ValueError(
                f"max_abandon must be a share above 0 and at most 1 (0.05 for 5 %; some "
                f"callers always hang up with finite patience), got {self.max_abandon}"
            )
        if self.service_level_definition not in SERVICE_LEVEL_DEFINITIONS:
            raise ValueError(
                f"service_level_definition must be one of "
                f"{', '.join(SERVICE_LEVEL_DEFINITIONS)}, got {self.service_level_definition!r}"
            )


# The names Staffing.binding uses, in the order of their bits.
_CONSTRAINT_NAMES = ("service_level", "max_asa_s", "max_occupancy", "max_abandon")
MINIMUM_AGENTS = "minimum_agents"
_BINDING_NAMES = (*_CONSTRAINT_NAMES, MINIMUM_AGENTS)
_MINIMUM_BIT = 1 << _BINDING_NAMES.index(MINIMUM_AGENTS)


def _binding_names(bits: int) -> tuple[str, ...]:
    return tuple(name for bit, name in enumerate(_BINDING_NAMES) if bits >> bit & 1)


@dataclass(frozen=True)
class Staffing:
    """The staffing of one interval.

    ``agents`` answer the phones (the solver's N); ``scheduled_agents`` =
    ``ceil(agents / (1 - shrinkage))`` are on the schedule. ``binding`` names what decided N:
    the constraints (``Constraints`` field names) that ``agents - 1`` would not meet, or
    ``"minimum_agents"`` when N is the fewest the model allows for the load (Erlang C: the
    first stable N, ``floor(load) + 1``; Erlang A: one agent). Empty for an interval with no
    load (0 agents)."""

    agents: int
    scheduled_agents: int
    shrinkage: float
    metrics: Metrics
    binding: tuple[str, ...]


@dataclass(frozen=True)
class StaffingTable:
    """The staffing of many intervals (:func:`solve_many`), one entry per interval."""

    agents: IntArray
    scheduled_agents: IntArray
    shrinkage: FloatArray
    binding_bits: IntArray
    """Bit i set: ``(*Constraints names, "minimum_agents")[i]`` decided N (see binding)."""
    metrics: MetricArrays

    def __len__(self) -> int:
        return int(self.agents.size)

    def binding(self, index: int) -> tuple[str, ...]:
        """What decided the agents of interval ``index`` (as :attr:`Staffing.binding`)."""
        return _binding_names(int(self.binding_bits[index]))

    def staffing(self, index: int) -> Staffing:
        return Staffing(
            agents=int(self.agents[index]),
            scheduled_agents=int(self.scheduled_agents[index]),
            shrinkage=float(self.shrinkage[index]),
            metrics=self.metrics.at(index),
            binding=self.binding(index),
        )


def scheduled_agents(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that ``agents`` remain after ``shrinkage`` (breaks, meetings,
    absence: the share of paid time not available for calls): ``ceil(agents / (1 -
    shrinkage))``, the quotient rounded to 12 significant digits first so that float noise
    does not add an agent (14 agents at 30 % is 20, not 21)."""
    if isinstance(agents, bool) or not isinstance(agents, int | np.integer) or agents < 0:
        raise ValueError(f"agents must be a whole number >= 0, got {agents!r}")
    if not (math.isfinite(shrinkage) and 0 <= shrinkage < 1):
        raise ValueError(f"shrinkage must be a share in [0, 1) (0.3 for 30 %), got {shrinkage}")
    return math.ceil(clean(int(agents) / (1.0 - shrinkage)))


def solve(
    load: Load,
    constraints: Constraints,
    *,
    model: StaffingModel = "erlang-c",
    patience_s: float | None = None,
    shrinkage: float = 0.0,
    max_agents: int = 200_000,
) -> Staffing:
    """The smallest number of agents N meeting every constraint in ``constraints`` under
    ``model`` (``"erlang-a"`` needs ``patience_s``, the callers' mean patience), with its
    metrics and scheduled agents after ``shrinkage``.

    Erlang C: N is at least the first stable N, ``floor(load) + 1`` (100.00000000000001
    Erlangs is 100: 101 agents at least). Erlang A: N can be below the load. No load (no
    calls or no handle time): 0 agents, nothing to answer. No constraint at all: the
    fewest agents the model allows. Raises ValueError when no N up to ``max_agents``
    meets the constraints, or a constraint does not apply to the model (``max_abandon``
    with Erlang C)."""
    table = solve_many(
        [load.calls],
        [load.aht_s],
        load.interval_s,
        constraints,
        model=model,
        patience_s=patience_s,
        shrinkage=shrinkage,
        max_agents=max_agents,
    )
    return table.staffing(0)


def solve_many(
    calls: npt.ArrayLike,
    aht_s: npt.ArrayLike,
    interval_s: float,
    constraints: Constraints,
    *,
    model: StaffingModel = "erlang-c",
    patience_s: npt.ArrayLike | None = None,
    shrinkage: npt.ArrayLike = 0.0,
    max_agents: int = 200_000,
) -> StaffingTable:
    """:func:`solve` for many intervals of ``interval_s`` seconds at once: ``calls`` and
    ``aht_s`` (and ``patience_s`` for Erlang A, ``shrinkage``) per interval, or one value
    for all. Interval i's load is ``Load(calls[i], interval_s, aht_s[i]).erlangs`` and its
    answer and metrics are exactly those of :func:`solve` for that load."""
    if model not in ("erlang-c", "erlang-a"):
        raise ValueError(f"model must be 'erlang-c' or 'erlang-a', got {model!r}")
    if not math.isfinite(interval_s) or interval_s <= 0:
        raise ValueError(f"interval_s must be a finite number of seconds above 0, got {interval_s}")
    if isinstance(max_agents, bool) or not isinstance(max_agents, int) or max_agents < 1:
        raise ValueError(f"max_agents must be a whole number >= 1, got {max_agents!r}")
    call_counts = _per_interval("calls", calls, None)
    count = call_counts.size
    handle = _per_interval("aht_s", aht_s, count)
    shrink = _per_interval("shrinkage", shrinkage, count)
    bad = np.flatnonzero(shrink >= 1)
    if bad.size:
        raise ValueError(f"shrinkage[{bad[0]}] must be a share in [0, 1), got {shrink[bad[0]]}")
    patience = _check_model(model, constraints, patience_s, count)
    loads = np.array(
        [clean(value) for value in (call_counts * handle / interval_s).tolist()], dtype=np.float64
    )

    agents, blocking, bits = _search(model, loads, handle, patience, constraints, max_agents)
    metrics = _evaluate(model, loads, agents, blocking, handle, patience, constraints, full=True)
    return StaffingTable(
        agents=agents,
        scheduled_agents=_scheduled(agents, shrink),
        shrinkage=shrink,
        binding_bits=bits,
        metrics=metrics,
    )


def _per_interval(name: str, values: npt.ArrayLike, count: int | None) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim > 1:
        raise ValueError(f"{name} must be one number or a list of numbers, got shape {array.shape}")
    if count is not None:
        if array.ndim == 1 and array.size != count:
            raise ValueError(f"{name} has {array.size} values, calls has {count}")
        array = np.broadcast_to(array, (count,))
    array = np.atleast_1d(array)
    bad = np.flatnonzero(~np.isfinite(array) | (array < 0))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] must be a finite number >= 0, got {array[bad[0]]}")
    return array


def _check_model(
    model: StaffingModel,
    constraints: Constraints,
    patience_s: npt.ArrayLike | None,
    count: int,
) -> FloatArray | None:
    if model == "erlang-c":
        if patience_s is not None:
            raise ValueError("patience_s applies to model='erlang-a' only (Erlang C callers wait)")
        if constraints.max_abandon is not None:
            raise ValueError(
                "max_abandon needs model='erlang-a' with patience_s: Erlang C callers never "
                "hang up"
            )
        return None
    if patience_s is None:
        raise ValueError("model='erlang-a' needs patience_s, the callers' mean patience in seconds")
    patience = _per_interval("patience_s", patience_s, count)
    bad = np.flatnonzero(patience == 0)
    if bad.size:
        raise ValueError(f"patience_s[{bad[0]}] must be above 0")
    return patience


def _scheduled(agents: IntArray, shrinkage: FloatArray) -> IntArray:
    pairs, where = np.unique(
        np.stack([agents.astype(np.float64), shrinkage], axis=1), axis=0, return_inverse=True
    )
    values = [scheduled_agents(int(n), float(share)) for n, share in pairs.tolist()]
    return np.asarray(values, dtype=np.int64)[where.ravel()]


# --- the search ----------------------------------------------------------------------------


def _minimum_agents(model: StaffingModel, loads: FloatArray) -> IntArray:
    """The fewest agents the model allows: Erlang C the first stable N, Erlang A one."""
    if model == "erlang-c":
        return np.floor(loads).astype(np.int64) + 1
    return np.ones(loads.size, dtype=np.int64)


def _first_candidates(
    model: StaffingModel, loads: FloatArray, constraints: Constraints
) -> IntArray:
    """A lower bound on the answer (module docstring), slightly low against rounding."""
    start = _minimum_agents(model, loads)
    slack = 1.0 - 1e-9
    shares: list[float] = []
    if model == "erlang-c" and constraints.max_occupancy is not None:
        start = np.maximum(start, np.floor(loads / constraints.max_occupancy * slack))
    if model == "erlang-a":
        if constraints.service_level is not None and (
            constraints.service_level_definition == "offered"
        ):
            shares.append(constraints.service_level)
        if constraints.max_abandon is not None:
            shares.append(1.0 - constraints.max_abandon)
    for share in shares:
        start = np.maximum(start, np.floor(loads * share * slack))
    return start.astype(np.int64)


def _search(
    model: StaffingModel,
    loads: FloatArray,
    aht_s: FloatArray,
    patience_s: FloatArray | None,
    constraints: Constraints,
    max_agents: int,
) -> tuple[IntArray, FloatArray, IntArray]:
    """Agents, Erlang B at those agents, and binding bits per interval (no load: 0, 1, 0).

    N walks up from 1 for all intervals with a load at once; Erlang B is updated by the
    recursion, and each interval is evaluated from its first candidate on until it meets
    every constraint. An interval's binding is what fails at N - 1 (evaluated at the end)."""
    count = loads.size
    agents = np.zeros(count, dtype=np.int64)
    blocking = np.ones(count)
    blocking_below = np.ones(count)  # Erlang B of agents - 1, for the binding

    active = np.flatnonzero(loads > 0)
    load = loads[active]
    handle = aht_s[active]
    patience = patience_s[active] if patience_s is not None else None
    start = _first_candidates(model, load, constraints)
    current = np.ones(active.size)  # Erlang B of n - 1 lines
    n = 1
    while active.size:
        lowest = int(start.min())
        if max(lowest, n) > max_agents:
            _raise_unreachable(active, loads, max_agents, model)
        while n < lowest:
            current = erlang_b_step(current, load, n)
            n += 1
        previous = current
        current = erlang_b_step(current, load, n)
        ready = np.flatnonzero(start <= n)
        failed = _failed(
            model,
            load[ready],
            np.full(ready.size, n, dtype=np.int64),
            current[ready],
            handle[ready],
            patience[ready] if patience is not None else None,
            constraints,
            complete=False,
        )
        done = ready[failed == 0]
        if done.size:
            targets = active[done]
            agents[targets] = n
            blocking[targets] = current[done]
            blocking_below[targets] = previous[done]
            keep = np.ones(active.size, dtype=np.bool_)
            keep[done] = False
            active, load, handle = active[keep], load[keep], handle[keep]
            start, current = start[keep], current[keep]
            if patience is not None:
                patience = patience[keep]
        n += 1
    return agents, blocking, _binding_bits(
        model, loads, agents, blocking_below, aht_s, patience_s, constraints
    )


def _binding_bits(
    model: StaffingModel,
    loads: FloatArray,
    agents: IntArray,
    blocking_below: FloatArray,
    aht_s: FloatArray,
    patience_s: FloatArray | None,
    constraints: Constraints,
) -> IntArray:
    """What decided each interval's agents: the minimum, or what agents - 1 fails."""
    bits = np.zeros(loads.size, dtype=np.int64)
    staffed = loads > 0
    at_minimum = staffed & (agents == _minimum_agents(model, loads))
    bits[at_minimum] = _MINIMUM_BIT
    rows = np.flatnonzero(staffed & ~at_minimum)
    if rows.size:
        bits[rows] = _failed(
            model,
            loads[rows],
            agents[rows] - 1,
            blocking_below[rows],
            aht_s[rows],
            patience_s[rows] if patience_s is not None else None,
            constraints,
            complete=True,
        )
    return bits


def _raise_unreachable(
    active: IntArray, loads: FloatArray, max_agents: int, model: StaffingModel
) -> None:
    first = int(active[0])
    raise ValueError(
        f"no number of agents up to max_agents={max_agents} meets the constraints with "
        f"{model} for {active.size} interval(s), the first is interval {first} with a load "
        f"of {loads[first]:g} Erlangs; loosen the constraints or raise max_agents"
    )


def _evaluate(
    model: StaffingModel,
    loads: FloatArray,
    agents: IntArray,
    blocking: FloatArray,
    aht_s: FloatArray,
    patience_s: FloatArray | None,
    constraints: Constraints,
    *,
    full: bool,
    asa: bool = True,
) -> MetricArrays:
    """The metrics; unless ``full``, only those the constraints need (and no ASA unless
    ``asa``: Erlang A's costliest value)."""
    threshold = float(constraints.answer_threshold_s)
    definition = constraints.service_level_definition
    if model == "erlang-c":
        return erlang_c_arrays(loads, agents, blocking, aht_s, threshold, definition)
    assert patience_s is not None
    return erlang_a_arrays(
        loads,
        agents,
        blocking,
        aht_s,
        patience_s,
        threshold,
        definition,
        with_service_level=full or constraints.service_level is not None,
        with_asa=full or (asa and constraints.max_asa_s is not None),
    )


def _failed(
    model: StaffingModel,
    loads: FloatArray,
    agents: IntArray,
    blocking: FloatArray,
    aht_s: FloatArray,
    patience_s: FloatArray | None,
    constraints: Constraints,
    *,
    complete: bool,
) -> IntArray:
    """Per interval, the bits of the constraints its agents do not meet (0: all met). An
    undefined value (NaN) does not meet its constraint. Unless ``complete``, Erlang A's
    ASA is only computed where everything else is met (its bit may then be missing where
    another one is set)."""
    lazy_asa = model == "erlang-a" and not complete and constraints.max_asa_s is not None
    metrics = _evaluate(
        model, loads, agents, blocking, aht_s, patience_s, constraints, full=False,
        asa=not lazy_asa
    )
    failed = np.zeros(loads.size, dtype=np.int64)
    checks = (
        (constraints.service_level, metrics.service_level, True),
        (constraints.max_asa_s, metrics.asa_s, False),
        (constraints.max_occupancy, metrics.occupancy, False),
        (constraints.max_abandon, metrics.p_abandon, False),
    )
    asa_bit = _CONSTRAINT_NAMES.index("max_asa_s")
    for bit, (limit, values, at_least) in enumerate(checks):
        if limit is None or (lazy_asa and bit == asa_bit):
            continue
        failed |= np.where(_meets(values, limit, at_least=at_least), 0, 1 << bit)
    if lazy_asa and constraints.max_asa_s is not None:
        rows = np.flatnonzero(failed == 0)
        if rows.size:
            assert patience_s is not None
            asa = erlang_a_arrays(
                loads[rows],
                agents[rows],
                blocking[rows],
                aht_s[rows],
                patience_s[rows],
                float(constraints.answer_threshold_s),
                with_service_level=False,
            ).asa_s
            failed[rows] |= np.where(
                _meets(asa, constraints.max_asa_s, at_least=False), 0, 1 << asa_bit
            )
    return failed


def _meets(values: FloatArray, limit: float, *, at_least: bool) -> npt.NDArray[np.bool_]:
    if at_least:
        return values >= limit * (1.0 - _TOLERANCE)
    return values <= limit * (1.0 + _TOLERANCE)


# --- square-root staffing -------------------------------------------------------------------


def halfin_whitt_p_wait(beta: float) -> float:
    """The Halfin-Whitt (1981) limit of Erlang C's P(wait) when ``N = R + beta sqrt(R)``
    and R grows: ``1 / (1 + beta Phi(beta) / phi(beta))`` (Phi, phi: standard normal cdf
    and density)."""
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number above 0, got {beta}")
    return 1.0 / (1.0 + math.exp(_log_beta_ratio(beta)))


def halfin_whitt_beta(p_wait: float) -> float:
    """The ``beta`` whose Halfin-Whitt P(wait) is ``p_wait`` (in (0, 1))."""
    if not (math.isfinite(p_wait) and 0 < p_wait < 1):
        raise ValueError(f"p_wait must be a share above 0 and below 1, got {p_wait}")
    target = math.log(1.0 / p_wait - 1.0)
    return float(brentq(lambda beta: _log_beta_ratio(beta) - target, 1e-300, 40.0, xtol=1e-14))


def _log_beta_ratio(beta: float) -> float:
    """``log(beta Phi(beta) / phi(beta))``, without overflow for large beta."""
    return (
        math.log(beta)
        + float(log_ndtr(beta))
        + 0.5 * beta * beta
        + 0.5 * math.log(2.0 * math.pi)
    )


def sqrt_staffing(
    load_erlangs: float, *, p_wait: float | None = None, beta: float | None = None
) -> int:
    """Square-root staffing: ``N = ceil(R + beta sqrt(R))`` for a load of R Erlangs, with
    ``beta`` given or from the Halfin-Whitt relation for a target ``p_wait``
    (:func:`halfin_whitt_beta`; 0.2 gives beta 1.06). An approximation of the smallest N
    whose Erlang C P(wait) is at most ``p_wait``, asymptotically exact as R grows and good
    to an agent or so from a few Erlangs on (the tests state the distance over a grid): a
    cross-check for :func:`solve`, not a replacement. No load: 0."""
    if (p_wait is None) == (beta is None):
        raise ValueError("give exactly one of p_wait (a target P(wait)) or beta")
    load = clean(float(load_erlangs))
    if not math.isfinite(load) or load < 0:
        raise ValueError(f"load_erlangs must be a finite number >= 0, got {load_erlangs}")
    if beta is None:
        assert p_wait is not None
        beta = halfin_whitt_beta(p_wait)
    elif not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number above 0, got {beta}")
    if load == 0:
        return 0
    return max(math.ceil(clean(load + beta * math.sqrt(load))), math.floor(load) + 1)


__all__ = [
    "MINIMUM_AGENTS",
    "Constraints",
    "Staffing",
    "StaffingModel",
    "StaffingTable",
    "halfin_whitt_beta",
    "halfin_whitt_p_wait",
    "scheduled_agents",
    "solve",
    "solve_many",
    "sqrt_staffing",
]
