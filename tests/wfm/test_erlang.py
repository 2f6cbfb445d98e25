"""Erlang B, C and A against numbers computed another way: exact fractions and mpmath
direct sums (B, C), and a birth-death chain solved numerically (A), written here."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import scipy.linalg

from callkpi.wfm.erlang import (
    erlang_a,
    erlang_a_arrays,
    erlang_b,
    erlang_b_metrics,
    erlang_c,
    erlang_c_arrays,
)
from callkpi.wfm.types import Load

DEFINITIONS = ("offered", "answered", "answered_and_abandoned")


# --- independent references ----------------------------------------------------------------


def exact_erlang_b(lines: int, load: float) -> Fraction:
    """(A^N / N!) / sum_{k<=N} A^k / k! in exact rational arithmetic."""
    erlangs = Fraction(load)
    terms = [erlangs**k / math.factorial(k) for k in range(lines + 1)]
    return terms[-1] / sum(terms)


def mp_erlang_c(agents: int, load: float, aht_s: float, threshold_s: float) -> dict[str, float]:
    """The textbook Erlang C by direct sums with 40 digits:
    C = (A^N/N! N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! N/(N-A))."""
    with mpmath.workdps(40):
        erlangs = mpmath.mpf(load)
        term = mpmath.mpf(1)
        below = mpmath.mpf(0)
        for k in range(agents):
            below += term
            term = term * erlangs / (k + 1)
        top = term * agents / (agents - erlangs)
        p_wait = top / (below + top)
        spare = agents - erlangs
        return {
            "p_wait": float(p_wait),
            "service_level": float(1 - p_wait * mpmath.exp(-spare * threshold_s / aht_s)),
            "asa_s": float(p_wait * aht_s / spare),
            "occupancy": float(erlangs / agents),
        }


def chain_erlang_a(
    load: Load, agents: int, patience_s: float, threshold_s: float
) -> dict[str, float]:
    """M/M/N+M solved as a birth-death chain (states = calls in the system; births at the
    arrival rate, deaths at min(n, N) mu + max(n - N, 0) theta), truncated where the
    stationary probabilities fall below e^-60 of the largest. Waits: a call arriving to
    state N + j has j calls ahead; the calls ahead leave at N mu + k theta (k ahead), it
    hangs up at theta; that small absorbing chain is solved by a matrix exponential
    (P(answered by t), P(hung up by t)) and by linear solves (E[wait; answered])."""
    arrival = load.calls / load.interval_s
    mu = 1.0 / load.aht_s
    theta = 1.0 / patience_s
    log_weights = [0.0]
    n = 0
    while True:
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        log_weights.append(log_weights[-1] + math.log(arrival / death))
        if n > agents and log_weights[-1] < max(log_weights) - 60 and arrival < death:
            break
    weights = np.exp(np.array(log_weights) - max(log_weights))
    stationary = weights / weights.sum()
    queue = np.maximum(np.arange(stationary.size) - agents, 0)
    p_wait = stationary[agents:].sum()
    p_abandon = theta * (queue @ stationary) / arrival

    ahead = stationary.size - agents  # positions 0 .. ahead - 1
    answered, hung_up = ahead, ahead + 1
    generator = np.zeros((ahead + 2, ahead + 2))
    for k in range(ahead):
        moves = agents * mu + k * theta
        generator[k, k] = -(moves + theta)
        generator[k, k - 1 if k else answered] = moves
        generator[k, hung_up] = theta
    start = np.zeros(ahead + 2)
    start[:ahead] = stationary[agents:]
    at_threshold = start @ scipy.linalg.expm(generator * threshold_s)
    answered_in_time = stationary[:agents].sum() + at_threshold[answered]
    transient = generator[:ahead, :ahead]
    wait_answered = start[:ahead] @ np.linalg.solve(
        transient, np.linalg.solve(transient, generator[:ahead, answered])
    )
    return {
        "p_wait": p_wait,
        "p_abandon": p_abandon,
        "offered": answered_in_time,
        "answered": answered_in_time / (1 - p_abandon),
        "answered_and_abandoned": 1 - at_threshold[:ahead].sum(),
        "asa_s": wait_answered / (1 - p_abandon),
        "avg_wait_s": (queue @ stationary) / arrival,
        "occupancy": (np.minimum(np.arange(stationary.size), agents) @ stationary) / agents,
    }


# --- the worked example ---------------------------------------------------------------------


def test_worked_example_100_calls_in_30_minutes_aht_180_s_14_agents() -> None:
    metrics = erlang_c(Load(calls=100, interval_s=1800, aht_s=180), 14, 20)
    assert metrics.load_erlangs == 10
    assert metrics.stable
    assert metrics.p_wait == pytest.approx(0.174132, abs=5e-7)
    assert metrics.service_level == pytest.approx(0.888350, abs=5e-7)
    assert metrics.asa_s == pytest.approx(7.83594, abs=5e-6)
    assert metrics.avg_wait_s == metrics.asa_s  # nobody hangs up: all calls are answered
    assert metrics.avg_wait_of_waiting_s == pytest.approx(180 / (14 - 10), rel=1e-15)
    assert metrics.occupancy == pytest.approx(10 / 14, rel=1e-15)
    assert metrics.p_abandon is None


def test_one_agent_is_mm1_by_hand() -> None:
    # M/M/1 with rho = 0.3 (a load under 0.5 Erlang): P(wait) = rho, the wait of waiting
    # callers is exponential with rate mu - lambda: mean aht / (1 - rho) = 300 s.
    metrics = erlang_c(Load(calls=3, interval_s=2100, aht_s=210), 1, 60)
    assert metrics.load_erlangs == 0.3
    assert metrics.p_wait == pytest.approx(0.3, rel=1e-14)
    assert metrics.service_level == pytest.approx(1 - 0.3 * math.exp(-60 / 300), rel=1e-14)
    assert metrics.asa_s == pytest.approx(0.3 * 300, rel=1e-14)
    assert metrics.avg_wait_of_waiting_s == pytest.approx(300, rel=1e-14)
    assert erlang_b(1, 0.3) == pytest.approx(0.3 / 1.3, rel=1e-15)


# --- Erlang B -------------------------------------------------------------------------------


@pytest.mark.parametrize("load", [0.05, 0.3, 0.49, 1.0, 2.5, 10.0, 37.75, 100.0])
@pytest.mark.parametrize("lines", [0, 1, 2, 5, 13, 40, 120])
def test_erlang_b_matches_exact_fractions(lines: int, load: float) -> None:
    assert erlang_b(lines, load) == pytest.approx(float(exact_erlang_b(lines, load)), rel=1e-13)


def test_erlang_b_20000_lines_matches_mpmath() -> None:
    with mpmath.workdps(40):
        load = mpmath.mpf(19_700)
        term, total = mpmath.mpf(1), mpmath.mpf(1)
        for k in range(1, 20_001):
            term = term * load / k
            total += term
        expected = float(term / total)
    assert erlang_b(20_000, 19_700.0) == pytest.approx(expected, rel=1e-11)


def test_erlang_b_metrics() -> None:
    load = Load(calls=100, interval_s=1800, aht_s=180)
    blocked = float(exact_erlang_b(12, 10.0))
    metrics = erlang_b_metrics(load, 12)
    assert metrics.model == "erlang-b"
    assert metrics.p_blocked == pytest.approx(blocked, rel=1e-13)
    assert metrics.service_level == pytest.approx(1 - blocked, rel=1e-13)
    assert metrics.occupancy == pytest.approx(10 * (1 - blocked) / 12, rel=1e-13)
    assert metrics.p_wait == 0 and metrics.asa_s == 0
    idle = erlang_b_metrics(Load(calls=0, interval_s=1800, aht_s=180), 2)
    assert idle.p_blocked == 0 and idle.service_level == 1 and idle.occupancy == 0


# --- Erlang C -------------------------------------------------------------------------------

ERLANG_C_CASES = [
    # calls, interval_s, aht_s: loads 0.2 .. 333.3 Erlangs, whole and not
    (4, 3600, 180),  # 0.2
    (9, 3600, 180),  # 0.45
    (20, 3600, 180),  # 1
    (74, 1800, 90),  # 3.7
    (100, 1800, 180),  # 10
    (255, 1800, 180),  # 25.5
    (600, 1800, 300),  # 100
    (3333, 1800, 180),  # 333.3
]


@pytest.mark.parametrize(("calls", "interval_s", "aht_s"), ERLANG_C_CASES)
@pytest.mark.parametrize("above", [1, 2, 4, 9])
@pytest.mark.parametrize("threshold_s", [0.0, 20.0, 60.0])
def test_erlang_c_matches_mpmath(
    calls: int, interval_s: int, aht_s: int, above: int, threshold_s: float
) -> None:
    load = Load(calls=calls, interval_s=interval_s, aht_s=aht_s)
    agents = math.floor(load.erlangs) + above
    expected = mp_erlang_c(agents, load.erlangs, aht_s, threshold_s)
    metrics = erlang_c(load, agents, threshold_s)
    assert metrics.stable
    for name, value in expected.items():
        assert getattr(metrics, name) == pytest.approx(value, rel=1e-12, abs=1e-300), name
    assert metrics.avg_wait_s == metrics.asa_s


@pytest.mark.parametrize(("load_erlangs", "agents"), [(19_850.5, 20_000), (19_999.5, 20_000)])
def test_erlang_c_20000_agents_matches_mpmath(load_erlangs: float, agents: int) -> None:
    load = Load(calls=load_erlangs * 10, interval_s=1800, aht_s=180)
    assert load.erlangs == load_erlangs
    expected = mp_erlang_c(agents, load_erlangs, 180, 20)
    metrics = erlang_c(load, agents, 20)
    for name, value in expected.items():
        assert getattr(metrics, name) == pytest.approx(value, rel=1e-10), name


@pytest.mark.parametrize(
    ("load", "agents"),
    [
        (Load(calls=100, interval_s=1800, aht_s=180), 10),  # N = A, a whole number
        (Load(calls=100, interval_s=1800, aht_s=180), 7),
        (Load(calls=375, interval_s=900, aht_s=160.8), 67),  # 67.00000000000001 is 67
        (Load(calls=375, interval_s=900, aht_s=278.4), 116),  # 115.99999999999999 is 116
        (Load(calls=2, interval_s=3600, aht_s=900), 0),  # 0.5 Erlang, no agent
    ],
)
def test_erlang_c_at_or_below_the_load_is_unstable(load: Load, agents: int) -> None:
    metrics = erlang_c(load, agents)
    assert not metrics.stable
    assert metrics.p_wait == 1.0
    assert metrics.occupancy == (1.0 if agents else None)
    for name in ("service_level", "asa_s", "avg_wait_s", "avg_wait_of_waiting_s"):
        assert getattr(metrics, name) is None, name


def test_float_noise_loads_are_whole_numbers() -> None:
    noisy = Load(calls=375, interval_s=900, aht_s=160.8)
    assert noisy.calls * noisy.aht_s / noisy.interval_s == 67.00000000000001
    assert noisy.erlangs == 67
    assert not erlang_c(noisy, 67).stable
    expected = mp_erlang_c(68, 67, 160.8, 20)
    metrics = erlang_c(noisy, 68)
    for name, value in expected.items():
        assert getattr(metrics, name) == pytest.approx(value, rel=1e-12), name
    below = Load(calls=375, interval_s=900, aht_s=278.4)
    assert below.calls * below.aht_s / below.interval_s == 115.99999999999999
    assert not erlang_c(below, 116).stable  # 116 agents do not outrun 116 Erlangs
    assert erlang_c(below, 117).p_wait == pytest.approx(
        mp_erlang_c(117, 116, 278.4, 20)["p_wait"], rel=1e-12
    )


def test_no_load_answers_everything_at_once() -> None:
    no_calls = Load(calls=0, interval_s=1800, aht_s=180)
    no_handling = Load(calls=50, interval_s=1800, aht_s=0)
    for load in (no_calls, no_handling):
        for agents in (0, 3):
            for metrics in (erlang_c(load, agents), erlang_a(load, agents, 60.0)):
                assert metrics.stable
                assert metrics.p_wait == 0
                assert metrics.service_level == 1
                assert metrics.asa_s == 0 and metrics.avg_wait_s == 0
                assert metrics.avg_wait_of_waiting_s is None
                assert metrics.occupancy == (0 if agents else None)
            assert erlang_a(load, agents, 60.0).p_abandon == 0


def test_many_queues_at_once_give_the_single_queue_numbers_exactly() -> None:
    loads = [Load(calls=c, interval_s=1800, aht_s=a) for c, a in [(100, 180), (7, 300), (0, 200)]]
    for agents in range(0, 16):
        for definition in DEFINITIONS:
            erlangs = np.array([load.erlangs for load in loads])
            lines = np.full(len(loads), agents, dtype=np.int64)
            blocking = np.array([erlang_b(agents, load.erlangs) for load in loads])
            aht = np.array([load.aht_s for load in loads])
            many_c = erlang_c_arrays(erlangs, lines, blocking, aht, 20.0, definition)
            many_a = erlang_a_arrays(
                erlangs, lines, blocking, aht, np.array([90.0, 30.0, 60.0]), 20.0, definition
            )
            for i, load in enumerate(loads):
                assert many_c.at(i) == erlang_c(
                    load, agents, 20.0, service_level_definition=definition
                )
                patience = (90.0, 30.0, 60.0)[i]
                assert many_a.at(i) == erlang_a(load, agents, patience, 20.0, definition)


# --- Erlang A -------------------------------------------------------------------------------

ERLANG_A_CASES = [
    # calls, interval_s, aht_s, agents, patience_s, threshold_s
    (100, 1800, 180, 14, 600.0, 20.0),  # the worked example's load, patient callers
    (100, 1800, 180, 14, 60.0, 20.0),
    (100, 1800, 180, 10, 120.0, 20.0),  # agents = load (whole number)
    (100, 1800, 180, 6, 300.0, 30.0),  # agents well below the load
    (300, 1800, 240, 30, 120.0, 30.0),
    (4, 3600, 180, 1, 90.0, 20.0),  # 0.2 Erlang, one agent
    (9, 3600, 180, 2, 30.0, 15.0),  # 0.45 Erlang
    (40, 1800, 300, 3, 200.0, 60.0),  # 6.7 Erlangs, 3 agents
    (100, 1800, 180, 14, 30.0, 0.0),  # threshold 0
    (100, 1800, 180, 12, 15.0, 120.0),  # impatient callers, threshold above patience
    (1170, 1800, 180, 120, 240.0, 20.0),
]


@pytest.mark.parametrize(
    ("calls", "interval_s", "aht_s", "agents", "patience_s", "threshold_s"), ERLANG_A_CASES
)
def test_erlang_a_matches_a_birth_death_chain(
    calls: int,
    interval_s: int,
    aht_s: int,
    agents: int,
    patience_s: float,
    threshold_s: float,
) -> None:
    load = Load(calls=calls, interval_s=interval_s, aht_s=aht_s)
    chain = chain_erlang_a(load, agents, patience_s, threshold_s)
    for definition in DEFINITIONS:
        metrics = erlang_a(load, agents, patience_s, threshold_s, definition)
        assert metrics.stable and metrics.model == "erlang-a"
        assert metrics.service_level_definition == definition
        assert metrics.service_level == pytest.approx(chain[definition], abs=1e-9), definition
        assert metrics.p_wait == pytest.approx(chain["p_wait"], abs=1e-9)
        assert metrics.p_abandon == pytest.approx(chain["p_abandon"], abs=1e-9)
        assert metrics.asa_s == pytest.approx(chain["asa_s"], rel=1e-9)
        assert metrics.avg_wait_s == pytest.approx(chain["avg_wait_s"], rel=1e-9)
        assert metrics.avg_wait_of_waiting_s == pytest.approx(
            chain["avg_wait_s"] / chain["p_wait"], rel=1e-9
        )
        assert metrics.occupancy == pytest.approx(chain["occupancy"], rel=1e-9)
        # the carried load is what the agents are busy with
        assert metrics.occupancy == pytest.approx(
            load.erlangs * (1 - chain["p_abandon"]) / agents, rel=1e-9
        )


def test_erlang_a_20000_agents_matches_the_chain() -> None:
    load = Load(calls=197_000, interval_s=1800, aht_s=180)  # 19,700 Erlangs
    chain = chain_erlang_a(load, 20_000, 300.0, 20.0)
    metrics = erlang_a(load, 20_000, 300.0, 20.0)
    assert metrics.p_wait == pytest.approx(chain["p_wait"], abs=1e-9)
    assert metrics.p_abandon == pytest.approx(chain["p_abandon"], abs=1e-9)
    assert metrics.service_level == pytest.approx(chain["offered"], abs=1e-9)
    assert metrics.asa_s == pytest.approx(chain["asa_s"], rel=1e-9)


@pytest.mark.parametrize(("calls", "agents"), [(100, 11), (100, 14), (100, 20), (1000, 110)])
def test_very_patient_callers_are_erlang_c(calls: int, agents: int) -> None:
    load = Load(calls=calls, interval_s=1800, aht_s=180)
    patient = erlang_a(load, agents, 1e10, 20.0)
    waiting = erlang_c(load, agents, 20.0)
    for name in ("p_wait", "service_level", "asa_s", "avg_wait_s", "avg_wait_of_waiting_s"):
        assert getattr(patient, name) == pytest.approx(getattr(waiting, name), rel=1e-6), name
    assert patient.occupancy == pytest.approx(waiting.occupancy, rel=1e-6)
    assert patient.p_abandon is not None and 0 < patient.p_abandon < 1e-6


@pytest.mark.parametrize(("calls", "agents"), [(100, 3), (100, 10), (100, 14), (4, 1)])
def test_very_impatient_callers_are_erlang_b(calls: int, agents: int) -> None:
    load = Load(calls=calls, interval_s=1800, aht_s=180)
    blocked = float(exact_erlang_b(agents, load.erlangs))
    impatient = erlang_a(load, agents, 1e-6, 20.0)
    assert impatient.p_abandon == pytest.approx(blocked, rel=1e-6)
    assert impatient.p_wait == pytest.approx(blocked, rel=1e-6)
    assert impatient.service_level == pytest.approx(1 - blocked, rel=1e-6)
    assert impatient.occupancy == pytest.approx(load.erlangs * (1 - blocked) / agents, rel=1e-6)
    assert impatient.asa_s is not None and impatient.asa_s < 1e-6


def test_erlang_a_with_no_agents_loses_every_caller() -> None:
    load = Load(calls=100, interval_s=1800, aht_s=180)
    offered = erlang_a(load, 0, 100.0, 20.0)
    assert offered.p_wait == 1 and offered.p_abandon == 1 and offered.service_level == 0
    assert offered.asa_s is None and offered.occupancy is None
    assert offered.avg_wait_s == 100 and offered.avg_wait_of_waiting_s == 100
    assert erlang_a(load, 0, 100.0, 20.0, "answered").service_level is None
    assert erlang_a(load, 0, 100.0, 20.0, "answered_and_abandoned").service_level == (
        pytest.approx(1 - math.exp(-20 / 100), rel=1e-15)
    )


@pytest.mark.parametrize("agents", [1, 2, 5, 9, 10, 11, 30])
def test_erlang_a_values_are_probabilities_at_any_staffing(agents: int) -> None:
    load = Load(calls=100, interval_s=1800, aht_s=180)
    for definition in DEFINITIONS:
        metrics = erlang_a(load, agents, 45.0, 20.0, definition)
        for name in ("p_wait", "p_abandon", "service_level", "occupancy"):
            value = getattr(metrics, name)
            assert value is not None and 0 <= value <= 1, name


def test_bad_arguments_name_the_field() -> None:
    load = Load(calls=100, interval_s=1800, aht_s=180)
    with pytest.raises(ValueError, match="agents must be >= 0"):
        erlang_c(load, -1)
    with pytest.raises(TypeError, match="agents must be a whole number"):
        erlang_c(load, 14.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="patience_s must be a finite number"):
        erlang_a(load, 14, 0.0)
    with pytest.raises(ValueError, match="answer_threshold_s"):
        erlang_c(load, 14, -1.0)
    with pytest.raises(ValueError, match="service_level_definition must be one of"):
        erlang_a(load, 14, 60.0, 20.0, "abandoned")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="load_erlangs"):
        erlang_b(3, -0.5)
