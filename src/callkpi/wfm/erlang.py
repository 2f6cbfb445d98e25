"""Erlang B, C and A: blocking, waiting and abandonment of a queue with ``agents`` agents.

All three models assume Poisson arrivals, exponential handle times with mean ``aht_s``,
first-come first-served and the steady state. The offered load is ``A = calls * aht_s /
interval_s`` Erlangs (:class:`~callkpi.wfm.types.Load`).

* **Erlang B** (M/M/N/N): no queue; a call that finds every line busy is lost.
* **Erlang C** (M/M/N): an unlimited queue; callers wait as long as it takes, so the queue
  is stable only with ``agents > load``.
* **Erlang A** (M/M/N+M, Palm 1946): callers in the queue hang up after an exponential
  patience with mean ``patience_s``; stable for any number of agents. The closed forms are
  those of Garnett, Mandelbaum & Reiman (2002) and Mandelbaum & Zeltyn ("The Palm/Erlang-A
  queue", 2007), derived again here as stated in :func:`erlang_a`.

Numerics. Erlang B comes from the recursion ``B(n) = A B(n-1) / (n + A B(n-1))``, which
never overflows and loses no precision (no factorials). Erlang C and A start from it.
Erlang A also needs ``S_a(z) = sum_k z^k / ((a+1)(a+2)...(a+k))`` (Kummer's 1F1(1; a+1; z),
``= Gamma(a+1) z^-a e^z P(a, z)`` with P the regularized lower incomplete gamma function):
it is evaluated in log space, from SciPy's ``gammainc`` with a prefactor computed without
cancellation (Stirling error and Loader's ``bd0``), or from its series where ``P`` would
underflow or lose relative accuracy.

Every model is written once, on NumPy arrays (:func:`erlang_c_arrays`,
:func:`erlang_a_arrays`), so that the staffing solver evaluates thousands of intervals at
once and gets exactly the numbers :func:`erlang_c` and :func:`erlang_a` return.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import TypeVar, get_args

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammainc, gammaln

from callkpi.wfm.types import Load, Metrics, Model, ServiceLevelDefinition

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_Blocking = TypeVar("_Blocking", float, FloatArray)

SERVICE_LEVEL_DEFINITIONS: tuple[ServiceLevelDefinition, ...] = get_args(ServiceLevelDefinition)


# --- Erlang B ------------------------------------------------------------------------------


def erlang_b_step(blocking: _Blocking, load_erlangs: _Blocking, lines: int) -> _Blocking:
    """Erlang B with ``lines`` lines from Erlang B with ``lines - 1`` lines (the stable
    recursion; ``B(0) = 1``). Works on floats and on NumPy arrays alike."""
    carried = load_erlangs * blocking
    return carried / (lines + carried)


def erlang_b(agents: int, load_erlangs: float) -> float:
    """The blocking probability of Erlang B: the share of calls that find all ``agents``
    lines busy and are lost, ``B = (A^N / N!) / sum_{k<=N} A^k / k!``, by the recursion
    (O(N), exact to a few units of rounding for any N). ``B(0, A) = 1``."""
    lines = _check_agents(agents)
    load = _check_load_erlangs(load_erlangs)
    blocking = 1.0
    for n in range(1, lines + 1):
        blocking = erlang_b_step(blocking, load, n)
    return blocking


def erlang_b_metrics(load: Load, lines: int) -> Metrics:
    """Erlang B as :class:`Metrics`: ``p_blocked`` = B, ``occupancy`` = carried load
    ``A (1 - B)`` over lines, ``service_level`` = the share of offered calls answered (at
    once: nobody waits) = ``1 - B``, waits 0. With no load there are no calls: nothing is
    blocked and the service level is 1 (the raw :func:`erlang_b` keeps ``B(0, 0) = 1``)."""
    n = _check_agents(lines)
    erlangs = load.erlangs
    blocked = 0.0 if erlangs == 0 else erlang_b(n, erlangs)
    return Metrics(
        model="erlang-b",
        load_erlangs=erlangs,
        agents=n,
        stable=True,
        p_wait=0.0,
        service_level=1.0 - blocked,
        service_level_definition="offered",
        answer_threshold_s=0.0,
        asa_s=0.0,
        avg_wait_s=0.0,
        avg_wait_of_waiting_s=None,
        occupancy=erlangs * (1.0 - blocked) / n if n > 0 else None,
        p_blocked=blocked,
    )


# --- metrics of many queues at once ---------------------------------------------------------


@dataclass(frozen=True)
class MetricArrays:
    """The :class:`Metrics` of many queues, one entry per queue; NaN where the model leaves
    a value undefined (``None`` in :class:`Metrics`)."""

    model: Model
    service_level_definition: ServiceLevelDefinition
    answer_threshold_s: float
    load_erlangs: FloatArray
    agents: IntArray
    stable: BoolArray
    p_wait: FloatArray
    service_level: FloatArray
    asa_s: FloatArray
    avg_wait_s: FloatArray
    avg_wait_of_waiting_s: FloatArray
    occupancy: FloatArray
    p_abandon: FloatArray

    def __len__(self) -> int:
        return int(self.load_erlangs.size)

    def at(self, index: int) -> Metrics:
        """The metrics of one queue."""

        def value(array: FloatArray) -> float | None:
            number = float(array[index])
            return None if math.isnan(number) else number

        return Metrics(
            model=self.model,
            load_erlangs=float(self.load_erlangs[index]),
            agents=int(self.agents[index]),
            stable=bool(self.stable[index]),
            p_wait=value(self.p_wait),
            service_level=value(self.service_level),
            service_level_definition=self.service_level_definition,
            answer_threshold_s=self.answer_threshold_s,
            asa_s=value(self.asa_s),
            avg_wait_s=value(self.avg_wait_s),
            avg_wait_of_waiting_s=value(self.avg_wait_of_waiting_s),
            occupancy=value(self.occupancy),
            p_abandon=value(self.p_abandon),
        )


def _nan(size: int) -> FloatArray:
    return np.full(size, np.nan)


def _float_array(values: npt.ArrayLike) -> FloatArray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


# --- Erlang C -------------------------------------------------------------------------------


def erlang_c(
    load: Load,
    agents: int,
    answer_threshold_s: float = 20.0,
    *,
    service_level_definition: ServiceLevelDefinition = "offered",
) -> Metrics:
    """Erlang C (M/M/N, callers never hang up) with ``agents`` agents.

    With ``A`` the load in Erlangs, ``N`` agents, ``B`` Erlang B and ``mu = 1 / aht_s``:

    * ``p_wait`` (Erlang C formula) ``C = N B / (N - A (1 - B))``;
    * ``service_level`` = P(wait <= answer_threshold_s) ``= 1 - C exp(-(N - A) mu t)``; the
      three service-level definitions are the same number (nobody abandons);
    * ``asa_s`` = ``avg_wait_s`` = ``C aht_s / (N - A)`` (every call is answered, so the
      average over answered calls is the average over all calls);
    * ``avg_wait_of_waiting_s`` = ``aht_s / (N - A)``;
    * ``occupancy`` = ``A / N``.

    With ``N <= A`` the queue grows without bound: ``stable=False``, ``p_wait`` 1 (every
    caller waits), ``occupancy`` 1 (every agent is always busy; None with no agents) and
    the waiting values None.
    With no load (no calls) nothing waits: ``p_wait`` 0, service level 1, waits 0,
    ``avg_wait_of_waiting_s`` None (nobody waits), occupancy 0 (None with 0 agents).
    """
    n = _check_agents(agents)
    threshold = _check_threshold(answer_threshold_s)
    _check_definition(service_level_definition)
    erlangs = load.erlangs
    return erlang_c_arrays(
        _float_array(erlangs),
        np.array([n], dtype=np.int64),
        _float_array(erlang_b(n, erlangs)),
        _float_array(load.aht_s),
        threshold,
        service_level_definition,
    ).at(0)


def erlang_c_arrays(
    load_erlangs: FloatArray,
    agents: IntArray,
    blocking: FloatArray,
    aht_s: FloatArray,
    answer_threshold_s: float,
    service_level_definition: ServiceLevelDefinition = "offered",
) -> MetricArrays:
    """:func:`erlang_c` for many queues: ``blocking`` is Erlang B of each queue's agents and
    load (from :func:`erlang_b` or :func:`erlang_b_step`)."""
    load = _float_array(load_erlangs)
    count = load.size
    lines = np.asarray(agents, dtype=np.int64)
    idle = load == 0
    stable = idle | (lines > load)
    queueing = np.flatnonzero(stable & ~idle)

    p_wait = np.where(stable, 0.0, 1.0)
    service_level = np.where(idle, 1.0, np.nan)
    avg_wait = np.where(idle, 0.0, np.nan)
    avg_wait_of_waiting = _nan(count)
    # Unstable: every agent is always busy; no agents: no occupancy.
    occupancy = np.where(lines > 0, np.where(idle, 0.0, 1.0), np.nan)

    if queueing.size:
        erlangs = load[queueing]
        servers = lines[queueing].astype(np.float64)
        block = _float_array(blocking)[queueing]
        handle = _float_array(aht_s)[queueing]
        spare = servers - erlangs
        waiting = servers * block / (spare + erlangs * block)
        wait_of_waiting = handle / spare
        p_wait[queueing] = waiting
        service_level[queueing] = 1.0 - waiting * np.exp(-spare * answer_threshold_s / handle)
        avg_wait[queueing] = waiting * wait_of_waiting
        avg_wait_of_waiting[queueing] = wait_of_waiting
        occupancy[queueing] = erlangs / servers

    return MetricArrays(
        model="erlang-c",
        service_level_definition=service_level_definition,
        answer_threshold_s=answer_threshold_s,
        load_erlangs=load,
        agents=lines,
        stable=stable,
        p_wait=p_wait,
        service_level=service_level,
        asa_s=avg_wait.copy(),
        avg_wait_s=avg_wait,
        avg_wait_of_waiting_s=avg_wait_of_waiting,
        occupancy=occupancy,
        p_abandon=_nan(count),
    )


# --- Erlang A -------------------------------------------------------------------------------


def erlang_a(
    load: Load,
    agents: int,
    patience_s: float,
    answer_threshold_s: float = 20.0,
    service_level_definition: ServiceLevelDefinition = "offered",
) -> Metrics:
    """Erlang A (M/M/N+M): callers in the queue hang up after an exponential patience with
    mean ``patience_s``; stable for any number of agents, even below the load.

    Notation: ``lambda`` arrivals per second, ``mu = 1 / aht_s``, ``theta = 1 / patience_s``,
    ``A = lambda / mu``, ``a = N mu / theta``, ``x = lambda / theta``, ``B`` Erlang B of N
    and A, ``S = S_a(x)`` (module docstring). In the steady state the probability that all
    agents are busy is ``pi_N = 1 / (1/B - 1 + S)``. A caller's wait ``W`` is the smaller of
    the wait ``V`` an infinitely patient caller would have and its patience; it is answered
    when ``V`` comes first. Values (PASTA: an arriving call sees the steady state):

    * ``p_wait`` = P(W > 0) = ``pi_N S``;
    * ``p_abandon`` = ``p_wait (1 - (N/A)(1 - 1/S))``;
    * ``avg_wait_s`` = E[W] over all callers, answered or not (0 for those who do not wait)
      ``= p_abandon * patience_s`` (abandons per second = theta x mean queue);
    * ``avg_wait_of_waiting_s`` = E[W | W > 0] = ``avg_wait_s / p_wait``;
    * ``asa_s`` = E[W | answered]: the average wait of answered calls, including the zero
      waits of calls answered at once (as the asa KPI computes it);
    * ``occupancy`` = the carried load ``A (1 - p_abandon)`` over ``N``;
    * ``service_level`` with ``t = answer_threshold_s``, in the definition asked for:

      - ``"offered"``: P(answered and W <= t), over all offered calls;
      - ``"answered"``: P(W <= t | answered) = P(answered and W <= t) / (1 - p_abandon);
      - ``"answered_and_abandoned"``: P(W <= t) over all calls: answered within t, or
        hung up within t.

    With ``y = exp(-theta t)``, ``F = y^(a+1) exp(x (1 - y))``:
    P(W > t) = ``pi_N F S_a(x y)`` and P(answered, W > t) = ``pi_N a/(a+1) F S_(a+1)(x y)``;
    ``E[W; answered] = pi_N / theta * sum_j w_j H_j`` with ``w_j = a x^j / ((a+1)...(a+j+1))``
    and ``H_j = sum_{i=1}^{j+1} 1 / (a+i)`` (a caller who finds j others waiting waits
    through phases of rates ``N mu + k theta``). Limits: as ``patience_s`` grows this tends
    to :func:`erlang_c` (for N > A); as it shrinks to 0, ``p_abandon`` tends to Erlang B.

    With 0 agents every caller waits and hangs up (service level 0, ``answered`` None,
    ``answered_and_abandoned`` = P(patience <= t)). With no load (no calls) nothing waits or
    abandons: service level 1, waits 0, occupancy 0 (None with 0 agents).
    """
    n = _check_agents(agents)
    patience = _check_patience(patience_s)
    threshold = _check_threshold(answer_threshold_s)
    _check_definition(service_level_definition)
    erlangs = load.erlangs
    return erlang_a_arrays(
        _float_array(erlangs),
        np.array([n], dtype=np.int64),
        _float_array(erlang_b(n, erlangs)),
        _float_array(load.aht_s),
        _float_array(patience),
        threshold,
        service_level_definition,
    ).at(0)


def erlang_a_arrays(
    load_erlangs: FloatArray,
    agents: IntArray,
    blocking: FloatArray,
    aht_s: FloatArray,
    patience_s: FloatArray,
    answer_threshold_s: float,
    service_level_definition: ServiceLevelDefinition = "offered",
    *,
    with_service_level: bool = True,
    with_asa: bool = True,
) -> MetricArrays:
    """:func:`erlang_a` for many queues (``blocking`` as in :func:`erlang_c_arrays`).
    ``with_service_level=False`` / ``with_asa=False`` skip those values (left NaN) where
    a caller does not need them: the ASA is a series, the costliest value."""
    load = _float_array(load_erlangs)
    count = load.size
    lines = np.asarray(agents, dtype=np.int64)
    patience = np.broadcast_to(_float_array(patience_s), (count,))
    idle = load == 0
    unstaffed = ~idle & (lines == 0)
    staffed = np.flatnonzero(~idle & ~unstaffed)

    p_wait = np.where(idle, 0.0, 1.0)
    p_abandon = p_wait.copy()
    avg_wait = np.where(idle, 0.0, patience)
    avg_wait_of_waiting = np.where(idle, np.nan, patience)
    asa = np.where(idle, 0.0, np.nan)
    occupancy = np.where(idle & (lines > 0), 0.0, np.nan)
    if service_level_definition == "answered_and_abandoned":
        service_level = np.where(idle, 1.0, -np.expm1(-answer_threshold_s / patience))
    else:
        unanswered = 0.0 if service_level_definition == "offered" else np.nan
        service_level = np.where(idle, 1.0, unanswered)
    if not with_service_level:
        service_level[:] = np.nan

    if staffed.size:
        queue = _ErlangAQueue(
            load[staffed],
            lines[staffed].astype(np.float64),
            _float_array(blocking)[staffed],
            _float_array(aht_s)[staffed],
            patience[staffed],
        )
        p_wait[staffed] = queue.p_wait
        p_abandon[staffed] = queue.p_abandon
        avg_wait[staffed] = queue.p_abandon * queue.patience
        avg_wait_of_waiting[staffed] = queue.p_abandon_if_waiting * queue.patience
        occupancy[staffed] = queue.load * (1.0 - queue.p_abandon) / queue.agents
        if with_service_level:
            service_level[staffed] = queue.service_level(
                answer_threshold_s, service_level_definition
            )
        if with_asa:
            asa[staffed] = queue.asa_s()

    return MetricArrays(
        model="erlang-a",
        service_level_definition=service_level_definition,
        answer_threshold_s=answer_threshold_s,
        load_erlangs=load,
        agents=lines,
        stable=np.ones(count, dtype=np.bool_),
        p_wait=p_wait,
        service_level=service_level,
        asa_s=asa,
        avg_wait_s=avg_wait,
        avg_wait_of_waiting_s=avg_wait_of_waiting,
        occupancy=occupancy,
        p_abandon=p_abandon,
    )


class _ErlangAQueue:
    """Erlang A for queues with a positive load and at least one agent (see
    :func:`erlang_a` for the notation and formulas)."""

    def __init__(
        self,
        load: FloatArray,
        agents: FloatArray,
        blocking: FloatArray,
        aht_s: FloatArray,
        patience_s: FloatArray,
    ) -> None:
        self.load = load
        self.agents = agents
        self.patience = patience_s
        scale = patience_s / aht_s  # mu / theta
        self.a = agents * scale
        self.x = load * scale
        self.log_s = _log_kummer(self.a, self.x)
        with np.errstate(divide="ignore"):
            # log(1/B - 1); B underflows to 0 only far above the load, where p_wait is 0.
            log_idle_ratio = np.log1p(-blocking) - np.log(blocking)
        self.log_pi_n = -np.logaddexp(log_idle_ratio, self.log_s)
        self.p_wait = np.exp(self.log_pi_n + self.log_s)
        self.p_abandon_if_waiting = np.clip(
            1.0 - agents / load * -np.expm1(-self.log_s), 0.0, 1.0
        )
        self.p_abandon = self.p_wait * self.p_abandon_if_waiting

    def service_level(
        self, answer_threshold_s: float, definition: ServiceLevelDefinition
    ) -> FloatArray:
        theta_t = answer_threshold_s / self.patience
        # log F = (a + 1) log y + x (1 - y) with y = exp(-theta t).
        log_f = -(self.a + 1.0) * theta_t - self.x * np.expm1(-theta_t)
        x_y = self.x * np.exp(-theta_t)
        if definition == "answered_and_abandoned":
            waited_longer = np.exp(self.log_pi_n + log_f + _log_kummer(self.a, x_y))
            return np.clip(1.0 - waited_longer, 0.0, 1.0)
        answered_later = (
            self.a
            / (self.a + 1.0)
            * np.exp(self.log_pi_n + log_f + _log_kummer(self.a + 1.0, x_y))
        )
        answered = 1.0 - self.p_abandon
        within = np.clip(answered - answered_later, 0.0, answered)
        return within if definition == "offered" else within / answered

    def asa_s(self) -> FloatArray:
        log_sum = _log_series(self.a + 1.0, self.x, harmonic=True)
        wait_if_answered = np.exp(self.log_pi_n + np.log(self.a / (self.a + 1.0)) + log_sum)
        return self.patience * wait_if_answered / (1.0 - self.p_abandon)


# --- S_a(z) = 1F1(1; a+1; z) in log space ----------------------------------------------------

# Below this z / (a + 1) the series converges at least as fast as 0.6^k, and gammainc's
# own prefactor would lose accuracy for large a.
_SERIES_RATIO = 0.6
# Where gammainc is this small it is near underflow: use the series instead.
_GAMMAINC_FLOOR = 1e-250
_SERIES_TOLERANCE = 1e-17
_LOG_SERIES_TOLERANCE = math.log(_SERIES_TOLERANCE)


def _log_kummer(a: FloatArray, z: FloatArray) -> FloatArray:
    """``log S_a(z)``, ``S_a(z) = sum_{k>=0} z^k / ((a+1)...(a+k))
    = Gamma(a+1) z^-a e^z P(a, z)``, for ``a > 0``, ``z >= 0``."""
    result = np.empty(a.size)
    use_series = z < _SERIES_RATIO * (a + 1.0)
    by_gamma = np.flatnonzero(~use_series)
    if by_gamma.size:
        lower = gammainc(a[by_gamma], z[by_gamma])
        usable = lower > _GAMMAINC_FLOOR
        done = by_gamma[usable]
        result[done] = _log_gamma_scale(a[done], z[done]) + np.log(lower[usable])
        use_series[by_gamma[~usable]] = True
    by_series = np.flatnonzero(use_series)
    if by_series.size:
        result[by_series] = _log_series(a[by_series], z[by_series], harmonic=False)
    return result


def _log_series(b: FloatArray, z: FloatArray, *, harmonic: bool) -> FloatArray:
    """``log sum_{k>=0} u_k h_k`` with ``u_k = prod_{i=1..k} z / (b+i)`` and ``h_k = 1``
    (then the sum is ``S_b(z)``), or with ``harmonic`` ``h_k = 1/b + sum_{i=1..k} 1/(b+i)``.

    Summed in log space chunk by chunk, until the terms left are bounded below ``1e-17``
    of the sum: from term k on the ratios are below ``r = z / (b+k+1) < 1`` and ``h`` grows
    by less than ``1 / (b+k+1)`` a term. When ``z > b`` the terms first grow: ``u_k`` is
    proportional to a Poisson(z) probability of ``b + k``, so the sum starts at
    ``k0 = z - b - 10 sqrt(z)`` (the terms before are below ``e^-50`` of the largest),
    which makes the cost O(sqrt z) instead of O(z)."""
    size = b.size
    result = np.empty(size)
    with np.errstate(divide="ignore"):
        log_z = np.log(z)
    pending = np.arange(size)
    first = np.floor(np.maximum(z - b - 10.0 * np.sqrt(z), 0.0))
    # log u_k0 = k0 log z - log((b+1)...(b+k0)); h_k0 = 1/b + digamma(b+k0+1) - digamma(b+1)
    skipped = first > 0
    log_u = np.zeros(size)
    if skipped.any():
        log_u[skipped] = first[skipped] * log_z[skipped] - (
            gammaln(b[skipped] + first[skipped] + 1.0) - gammaln(b[skipped] + 1.0)
        )
    h = np.ones(size)
    if harmonic:
        h = 1.0 / b + np.where(skipped, digamma(b + first + 1.0) - digamma(b + 1.0), 0.0)
    top = log_u + np.log(h)  # the largest log term so far, and the sum scaled by exp(-top)
    scaled_sum = np.ones(size)
    done_terms = first
    chunk = 80
    while pending.size:
        steps = done_terms[:, None] + np.arange(1, chunk + 1, dtype=np.float64)
        denominators = b[:, None] + steps
        log_u_chunk = log_u[:, None] + np.cumsum(log_z[:, None] - np.log(denominators), axis=1)
        log_terms = log_u_chunk
        if harmonic:
            h_chunk = h[:, None] + np.cumsum(1.0 / denominators, axis=1)
            log_terms = log_u_chunk + np.log(h_chunk)
            h = h_chunk[:, -1]
        new_top = np.maximum(top, log_terms.max(axis=1))
        scaled_sum = scaled_sum * np.exp(top - new_top) + np.exp(
            log_terms - new_top[:, None]
        ).sum(axis=1)
        top = new_top
        log_u = log_u_chunk[:, -1]
        done_terms += chunk

        next_denominator = b + done_terms + 1.0
        ratio = z / next_denominator
        log_total = top + np.log(scaled_sum)
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = ratio / (1.0 - ratio)
            if harmonic:
                rest = h * rest + ratio / ((1.0 - ratio) ** 2 * next_denominator)
            converged = (ratio < 1.0) & (log_u + np.log(rest) < log_total + _LOG_SERIES_TOLERANCE)
        result[pending[converged]] = log_total[converged]
        keep = ~converged
        pending, b, z, log_z = pending[keep], b[keep], z[keep], log_z[keep]
        done_terms = done_terms[keep]
        h, log_u, top, scaled_sum = h[keep], log_u[keep], top[keep], scaled_sum[keep]
        chunk = min(2 * chunk, 320)
    return result


_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_gamma_scale(a: FloatArray, z: FloatArray) -> FloatArray:
    """``log(Gamma(a+1) z^-a e^z)``. For large ``a`` the three terms are huge and nearly
    cancel; written as Stirling error + ``log sqrt(2 pi a)`` + ``bd0(a, z)`` it keeps full
    relative precision."""
    result = gammaln(a + 1.0) - a * np.log(z) + z
    large = np.flatnonzero(a >= 15.0)
    if large.size:
        a_large, z_large = a[large], z[large]
        result[large] = (
            _stirling_error(a_large)
            + _HALF_LOG_2PI
            + 0.5 * np.log(a_large)
            + _bd0(a_large, z_large)
        )
    return result


def _stirling_error(a: FloatArray) -> FloatArray:
    """``log Gamma(a+1) - (a + 1/2) log a + a - log sqrt(2 pi)`` for ``a >= 15`` (the
    asymptotic series; the next term is below 3e-16)."""
    inverse = 1.0 / a
    square = inverse * inverse
    series = 1.0 / 1680.0 - square / 1188.0
    series = 1.0 / 1260.0 - square * series
    series = 1.0 / 360.0 - square * series
    return inverse * (1.0 / 12.0 - square * series)


def _bd0(a: FloatArray, z: FloatArray) -> FloatArray:
    """``a log(a/z) + z - a >= 0`` without cancellation (Loader 2000): for ``a`` near ``z``
    by the series in ``v = (a-z)/(a+z)``."""
    result = a * np.log(a / z) + z - a
    near = np.flatnonzero(np.abs(a - z) < 0.25 * (a + z))
    if near.size:
        a_near, z_near = a[near], z[near]
        v = (a_near - z_near) / (a_near + z_near)
        v_squared = v * v
        total = (a_near - z_near) * v
        power = 2.0 * a_near * v
        for j in range(1, 16):  # |v| < 1/4: 16^-15 is below the rounding of total
            power = power * v_squared
            total = total + power / (2 * j + 1)
        result[near] = total
    return result


# --- argument checks -------------------------------------------------------------------------


def _check_agents(agents: int) -> int:
    if isinstance(agents, bool):
        raise TypeError(f"agents must be a whole number, got {agents!r}")
    try:
        count = operator.index(agents)
    except TypeError:
        raise TypeError(f"agents must be a whole number, got {agents!r}") from None
    if count < 0:
        raise ValueError(f"agents must be >= 0, got {count}")
    return count


def _check_load_erlangs(load_erlangs: float) -> float:
    load = float(load_erlangs)
    if not math.isfinite(load) or load < 0:
        raise ValueError(f"load_erlangs must be a finite number >= 0, got {load_erlangs}")
    return load


def _check_threshold(answer_threshold_s: float) -> float:
    threshold = float(answer_threshold_s)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(
            f"answer_threshold_s must be a finite number of seconds >= 0, "
            f"got {answer_threshold_s}"
        )
    return threshold


def _check_patience(patience_s: float) -> float:
    patience = float(patience_s)
    if not math.isfinite(patience) or patience <= 0:
        raise ValueError(
            f"patience_s must be a finite number of seconds above 0 (the mean time a "
            f"caller waits before hanging up), got {patience_s}"
        )
    return patience


def _check_definition(definition: str) -> None:
    if definition not in SERVICE_LEVEL_DEFINITIONS:
        raise ValueError(
            f"service_level_definition must be one of {', '.join(SERVICE_LEVEL_DEFINITIONS)}, "
            f"got {definition!r}"
        )
