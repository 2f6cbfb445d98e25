"""The call-queue simulation: against exact queueing results (an independent birth-death
solver for Erlang A and C, Pollaczek-Khinchine for one agent, Erlang B for zero patience),
hand-traced days, agents changing by interval, seeds and bad input.

Statistical comparisons use fixed seeds and the simulation's own standard errors (from
independent replications): an estimate passes when it lies within 2 of them of the exact
value."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.linalg import expm

from callkpi.wfm.simulation import (
    Deterministic,
    Distribution,
    Empirical,
    Exponential,
    Gamma,
    Lognormal,
    SimulationResult,
    Weibull,
    run_queue,
    simulate,
    simulate_interval,
)
from callkpi.wfm.types import Load, Metrics, ServiceLevelDefinition

INF = math.inf


# --- an independent exact solver: the Erlang A birth-death chain --------------------------


@dataclass(frozen=True)
class Exact:
    p_wait: float
    p_abandon: float
    asa_s: float
    avg_wait_s: float
    avg_wait_of_waiting_s: float
    occupancy: float
    service_level: dict[ServiceLevelDefinition, float]


def birth_death(rate_per_s: float, aht_s: float, agents: int, patience_s: float | None,
                answer_threshold_s: float) -> Exact:
    """Erlang A (M/M/N+M) from its continuous-time Markov chain. State n = calls in the
    system; births at the arrival rate, deaths at ``min(n, N) mu + max(n - N, 0) theta``.

    An arrival sees the stationary distribution (PASTA). One finding n >= N calls enters the
    queue at position j = n - N + 1 and moves up (or is answered from position 1) at rate
    ``N mu + (j - 1) theta`` and hangs up at rate theta; the times to answer and to hang up
    come from the matrix exponential of that small absorbing chain."""
    mu = 1 / aht_s
    theta = 0.0 if patience_s is None else 1 / patience_s
    log_weight = [0.0]
    n = 0
    while True:  # the chain until its stationary weights are negligible
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        log_weight.append(log_weight[-1] + math.log(rate_per_s / death))
        if n > agents + 10 and log_weight[-1] < max(log_weight) - 32:
            break
    weights = np.exp(np.array(log_weight) - max(log_weight))
    pi = weights / weights.sum()
    queued = pi[agents:]
    positions = queued.size
    # Absorbing chain: 0 answered, 1 abandoned, 1 + j for position j.
    generator = np.zeros((positions + 2, positions + 2))
    p_answer, wait_if_answered = np.zeros(positions), np.zeros(positions)
    for j in range(1, positions + 1):
        move = agents * mu + (j - 1) * theta
        leave = move + theta
        generator[1 + j, 0 if j == 1 else j] = move
        generator[1 + j, 1] = theta
        generator[1 + j, 1 + j] = -leave
        # P(answered) and E[wait; answered] from position j, one step at a time.
        before_p = 1.0 if j == 1 else p_answer[j - 2]
        before_w = 0.0 if j == 1 else wait_if_answered[j - 2]
        p_answer[j - 1] = move / leave * before_p
        wait_if_answered[j - 1] = move / leave * (before_p / leave + before_w)
    at_threshold = expm(generator * answer_threshold_s)
    answered_by = at_threshold[2:, 0]
    abandoned_by = at_threshold[2:, 1]
    free = pi[:agents].sum()
    p_answered = free + float(queued @ p_answer)
    p_abandon = 1 - p_answered
    queue_length = float(np.arange(positions) @ queued[:positions])  # n - N for n >= N
    answered_in = free + float(queued @ answered_by)
    abandoned_in = float(queued @ abandoned_by)
    return Exact(
        p_wait=float(queued.sum()),
        p_abandon=p_abandon,
        asa_s=float(queued @ wait_if_answered) / p_answered,
        avg_wait_s=queue_length / rate_per_s,  # Little's law for the queue
        avg_wait_of_waiting_s=queue_length / rate_per_s / float(queued.sum()),
        occupancy=rate_per_s * aht_s * p_answered / agents,
        service_level={
            "offered": answered_in,
            "answered": answered_in / p_answered,
            "answered_and_abandoned": answered_in + abandoned_in,
        },
    )


def test_birth_death_solver_matches_closed_forms() -> None:
    # M/M/1: P(wait) = rho, ASA = rho / (1 - rho) * aht, P(W <= t) = 1 - rho exp(-(mu-lambda) t).
    exact = birth_death(0.5 / 100, 100, 1, None, 30)
    assert exact.p_wait == pytest.approx(0.5)
    assert exact.asa_s == pytest.approx(100)
    assert exact.service_level["offered"] == pytest.approx(1 - 0.5 * math.exp(-0.005 * 30))
    # Erlang C for 2 agents and 1 Erlang: C = 1/3, ASA = C * aht / (N - A) = 20 s.
    exact = birth_death(1 / 60, 60, 2, None, 0)
    assert exact.p_wait == pytest.approx(1 / 3)
    assert exact.asa_s == pytest.approx(20.0)
    # With abandonment, P(abandon) from the answered side equals theta E[Q] / lambda.
    exact = birth_death(10 / 60, 60, 9, 45.0, 20)
    assert exact.p_abandon == pytest.approx(exact.avg_wait_s / 45.0)


# --- agreement with Erlang A and C ---------------------------------------------------------


def known(value: float | None) -> float:
    assert value is not None
    return value


ESTIMATES = ("p_wait", "p_abandon", "service_level", "asa_s", "avg_wait_s",
             "avg_wait_of_waiting_s", "occupancy")


def within_two_se(result: SimulationResult, exact: Exact | Metrics
                  ) -> dict[str, tuple[float, float, float]]:
    """name -> (simulated, exact, standard error) for the values that fail the 2 SE test."""
    failures = {}
    for name in ESTIMATES:
        simulated = getattr(result.metrics, name)
        error = getattr(result.standard_errors, name)
        expected = getattr(exact, name)
        if name == "service_level" and isinstance(exact, Exact):
            expected = exact.service_level[result.metrics.service_level_definition]
        if name == "p_abandon" and expected is None:  # Erlang C: nobody abandons
            expected = 0.0
        assert simulated is not None and error is not None, name
        if error == 0:  # no abandonment: 0 exactly, the chain's 1e-16 aside
            assert simulated == pytest.approx(expected, abs=1e-12), name
        elif abs(simulated - expected) > 2 * error:
            failures[name] = (simulated, expected, error)
    return failures


# (calls per 30 min, aht, agents, mean patience, threshold)
ERLANG_A_CASES = [
    pytest.param(400, 240.0, 55, 120.0, 20.0, id="53 Erlangs, 55 agents"),
    pytest.param(60, 180.0, 6, 60.0, 30.0, id="6 Erlangs, 6 agents, impatient"),
]
CALLS_PER_REPLICATION = 40_000
"""Long replications: each one's estimate is then close to normal, so that the standard
error from 20 of them is itself reliable (with short runs near full load, ASA per
replication is skewed and a 2 SE band covers the truth less often than it should)."""


@functools.cache
def simulate_long(load: Load, agents: int, patience_s: float | None, threshold_s: float,
                  definition: ServiceLevelDefinition) -> SimulationResult:
    """Cached: the tests against the chain and against the formulas share the runs."""
    return simulate_interval(load, agents, patience_s, threshold_s, definition,
                             replications=20,
                             duration_s=CALLS_PER_REPLICATION / load.arrival_rate_per_s,
                             seed=1)


@pytest.mark.parametrize(("calls", "aht_s", "agents", "patience_s", "threshold_s"),
                         ERLANG_A_CASES)
def test_exponential_inputs_agree_with_erlang_a_birth_death(
        calls: int, aht_s: float, agents: int, patience_s: float, threshold_s: float) -> None:
    load = Load(calls=calls, interval_s=1800, aht_s=aht_s)
    result = simulate_long(load, agents, patience_s, threshold_s, "offered")
    exact = birth_death(load.arrival_rate_per_s, aht_s, agents, patience_s, threshold_s)
    assert result.metrics.model == "simulation"
    assert result.metrics.load_erlangs == load.erlangs
    assert result.calls == pytest.approx(20 * CALLS_PER_REPLICATION, rel=0.01)
    assert within_two_se(result, exact) == {}


@pytest.mark.parametrize("definition", ["answered", "answered_and_abandoned"])
def test_service_level_definitions_agree_with_erlang_a_birth_death(
        definition: ServiceLevelDefinition) -> None:
    load = Load(calls=60, interval_s=1800, aht_s=180.0)
    result = simulate_long(load, 6, 60.0, 30.0, definition)
    exact = birth_death(load.arrival_rate_per_s, 180.0, 6, 60.0, 30.0)
    assert result.metrics.service_level_definition == definition
    assert within_two_se(result, exact) == {}


def test_no_abandonment_agrees_with_erlang_c_birth_death() -> None:
    load = Load(calls=400, interval_s=1800, aht_s=240)
    result = simulate_long(load, 58, None, 20.0, "offered")
    exact = birth_death(load.arrival_rate_per_s, 240, 58, None, 20.0)
    assert result.metrics.p_abandon == 0
    assert within_two_se(result, exact) == {}


@pytest.mark.parametrize(("calls", "aht_s", "agents", "patience_s", "threshold_s"),
                         ERLANG_A_CASES)
@pytest.mark.parametrize("definition", ["offered", "answered", "answered_and_abandoned"])
def test_exponential_inputs_agree_with_erlang_a(
        calls: int, aht_s: float, agents: int, patience_s: float, threshold_s: float,
        definition: ServiceLevelDefinition) -> None:
    erlang = pytest.importorskip("callkpi.wfm.erlang")
    load = Load(calls=calls, interval_s=1800, aht_s=aht_s)
    expected = erlang.erlang_a(load, agents, patience_s, threshold_s, definition)
    # The formulas and the birth-death chain agree to rounding...
    exact = birth_death(load.arrival_rate_per_s, aht_s, agents, patience_s, threshold_s)
    for name in ESTIMATES:
        wanted = (exact.service_level[definition] if name == "service_level"
                  else getattr(exact, name))
        assert getattr(expected, name) == pytest.approx(wanted, rel=1e-8), name
    # ...and the simulation agrees with both within its standard errors.
    assert within_two_se(simulate_long(load, agents, patience_s, threshold_s, definition),
                         expected) == {}


def test_no_abandonment_agrees_with_erlang_c() -> None:
    erlang = pytest.importorskip("callkpi.wfm.erlang")
    load = Load(calls=400, interval_s=1800, aht_s=240)
    expected = erlang.erlang_c(load, 58, 20.0)
    assert within_two_se(simulate_long(load, 58, None, 20.0, "offered"), expected) == {}


def test_zero_patience_is_the_erlang_b_loss_system() -> None:
    # Patience 0: a caller who finds every agent busy hangs up at once (blocked).
    load = Load(calls=300, interval_s=1800, aht_s=60)  # 10 Erlangs
    result = simulate_interval(load, 12, 0.0, 20.0, replications=20, seed=1)
    blocking = 1.0
    for n in range(1, 13):  # Erlang B recursion
        blocking = load.erlangs * blocking / (n + load.erlangs * blocking)
    metrics, errors = result.metrics, result.standard_errors
    assert metrics.p_abandon == pytest.approx(blocking, abs=2 * known(errors.p_abandon))
    assert metrics.p_wait == metrics.p_abandon
    assert metrics.asa_s == 0 and metrics.avg_wait_s == 0


# --- other handle-time and patience distributions ------------------------------------------


@pytest.mark.parametrize("cv", [0.5, 1.5])
def test_one_agent_lognormal_matches_pollaczek_khinchine(cv: float) -> None:
    # M/G/1 exactly: P(wait) = rho whatever the handle times (PASTA: the agent is busy a
    # share rho of the time), and ASA = rho / (1 - rho) * aht * (1 + cv^2) / 2.
    rho, aht_s = 0.7, 240.0
    rate = rho / aht_s
    result = simulate(rate * 1800, 1800, 1, Lognormal(aht_s, cv), replications=20,
                      duration_s=20_000 / rate, seed=1)
    metrics, errors = result.metrics, result.standard_errors
    assert metrics.p_wait == pytest.approx(rho, abs=2 * known(errors.p_wait))
    assert metrics.occupancy == pytest.approx(rho, abs=2 * known(errors.occupancy))
    pollaczek_khinchine_s = rho / (1 - rho) * aht_s * (1 + cv**2) / 2
    assert metrics.asa_s == pytest.approx(pollaczek_khinchine_s, abs=2 * known(errors.asa_s))


@pytest.mark.parametrize(("calls", "agents"), [(25, 5), (400, 58)])
def test_many_agents_lognormal_p_wait_close_to_erlang_c(calls: int, agents: int) -> None:
    """M/G/N has no closed form. Two things hold exactly: without abandonment every call is
    answered, so occupancy = load / agents for any handle times; and the waits grow with the
    handle-time variability. P(wait) is only insensitive-ish: the usual M/G/N approximations
    (Whitt's, Kimura's) take Erlang C's; over cv 0.25..2 this simulation moved it by at most
    0.035 from Erlang C at these loads, so cv 0.5 and 1.5 are held to 0.03."""
    rate, aht_s = calls / 1800, 240.0
    erlang_c = birth_death(rate, aht_s, agents, None, 20.0)
    runs = {cv: simulate(calls, 1800, agents, Lognormal(aht_s, cv), replications=10,
                         duration_s=40_000 / rate, seed=1) for cv in (0.5, 1.5)}
    for result in runs.values():
        metrics, errors = result.metrics, result.standard_errors
        assert metrics.p_wait == pytest.approx(erlang_c.p_wait, abs=0.03)
        assert metrics.occupancy == pytest.approx(rate * aht_s / agents,
                                                  abs=2 * known(errors.occupancy))
    low, high = runs[0.5], runs[1.5]
    assert known(low.metrics.asa_s) + 2 * known(low.standard_errors.asa_s) < erlang_c.asa_s
    assert erlang_c.asa_s < known(high.metrics.asa_s) - 2 * known(high.standard_errors.asa_s)


def test_deterministic_patience() -> None:
    result = simulate(130, 1800, 12, Lognormal(180, 0.8), Deterministic(30.0),
                      replications=4, duration_s=200 * 1800, warmup_s=0.0, seed=1,
                      keep_calls=True)
    answered = np.concatenate([r.answered for r in result.records])
    wait = np.concatenate([r.wait_s for r in result.records])
    offered_wait = np.concatenate([r.offered_wait_s for r in result.records])
    assert answered.sum() > 0 and (~answered).sum() > 100  # both outcomes occur
    assert wait[answered].max() <= 30.0  # nobody answered after their patience ran out
    assert np.all(wait[~answered] == 30.0)  # the others hung up at exactly 30 s
    # The abandon share is the share whose offered wait (the wait with unlimited patience)
    # is above the patience: P(W > 30).
    assert result.metrics.p_abandon == pytest.approx(np.mean(offered_wait > 30.0), rel=1e-12)
    assert result.metrics.p_abandon == pytest.approx(np.mean(~answered), rel=1e-12)


@pytest.mark.parametrize(
    "distribution",
    [Exponential(200.0), Lognormal(200.0, 0.6), Gamma(200.0, 0.6), Weibull(200.0, 1.7),
     Deterministic(200.0), Empirical((100.0, 150.0, 350.0))],
    ids=lambda d: type(d).__name__,
)
def test_distributions_sample_their_mean(distribution: Distribution) -> None:
    values = distribution.sample(np.random.default_rng(5), 200_000)
    assert values.shape == (200_000,) and values.min() >= 0
    assert distribution.mean_s == pytest.approx(200.0)
    assert values.mean() == pytest.approx(200.0, rel=0.01)


def test_lognormal_parameters_from_mean_and_cv() -> None:
    lognormal = Lognormal(300.0, 0.5)
    assert lognormal.sigma == pytest.approx(math.sqrt(math.log(1.25)))
    assert math.exp(lognormal.mu + lognormal.sigma**2 / 2) == pytest.approx(300.0)
    values = lognormal.sample(np.random.default_rng(3), 400_000)
    assert values.std() / values.mean() == pytest.approx(0.5, rel=0.02)
    assert np.all(Lognormal(300.0, 0.0).sample(np.random.default_rng(3), 5) == 300.0)


# --- a day of intervals --------------------------------------------------------------------


def test_day_counts_calls_in_their_interval() -> None:
    calls = [40.0, 120.0, 0.0, 80.0]
    result = simulate(calls, 900, [3, 9, 1, 6], Exponential(150.0), Exponential(90.0),
                      replications=50, seed=1)
    offered = [interval.offered for interval in result.intervals]
    assert sum(offered) * result.replications == result.calls
    for interval, expected in zip(result.intervals, calls, strict=True):
        # Poisson counts: the mean of 50 days within 3 standard errors of the rate.
        assert abs(interval.offered - expected) <= 3 * math.sqrt(expected / 50)
        assert interval.answered + interval.abandoned == pytest.approx(interval.offered)
    assert result.intervals[2].offered == 0 and result.intervals[2].service_level is None
    assert [interval.agents for interval in result.intervals] == [3, 9, 1, 6]
    assert [interval.start_s for interval in result.intervals] == [0, 900, 1800, 2700]
    assert result.warmup_s == 0 and result.measured_s == 3600
    assert result.metrics.agents == 9
    assert result.metrics.load_erlangs == pytest.approx(240 * 150 / 3600)
    for interval in result.intervals:
        assert interval.occupancy is not None and 0 <= interval.occupancy <= 1


def test_interval_without_agents_answers_nobody() -> None:
    """Calls arriving while nobody works wait for the next interval's agents or hang up."""
    for patience in (Exponential(200.0), None):
        result = simulate([30.0, 30.0, 30.0], 600, [3, 0, 3], Exponential(60.0), patience,
                          replications=20, seed=1, keep_calls=True)
        for records in result.records:
            answer_s = records.answer_s[records.answered]
            assert not np.any((answer_s >= 600) & (answer_s < 1200))
            in_gap = (records.arrival_s >= 600) & (records.arrival_s < 1200)
            assert np.all(records.answer_s[in_gap & records.answered] >= 1200)
            if patience is None:
                assert records.answered.all()
        gap = result.intervals[1]
        # Agents still finishing a call from before count as present and busy.
        assert gap.occupancy in (None, 1.0)
        if patience is None:
            # Only calls in its last 20 s can be answered within 20 s (at 1200).
            late = sum(np.sum((r.arrival_s >= 1180) & (r.arrival_s < 1200))
                       for r in result.records)
            assert gap.abandoned == 0 and gap.service_level is not None
            assert gap.service_level * gap.offered * result.replications <= late
        else:
            assert gap.abandoned > 0.5 * gap.offered


def test_last_interval_without_agents_closes_the_queue() -> None:
    # Nobody after 600 s: callers who never hang up are counted abandoned at the day's end.
    records = run_queue([0.0, 100.0, 650.0], [700.0, 10.0, 10.0], None, [1, 0], 600)
    assert records.answered.tolist() == [True, False, False]
    assert records.wait_s.tolist() == [0.0, 1100.0, 550.0]
    assert records.offered_wait_s.tolist() == [0.0, INF, INF]
    # With patience they hang up when it runs out, even after the day's end.
    records = run_queue([0.0, 100.0, 650.0], [700.0, 10.0, 10.0], [INF, 1500.0, 30.0],
                        [1, 0], 600)
    assert records.wait_s.tolist() == [0.0, 1500.0, 30.0]


def test_hand_traced_day() -> None:
    """Four 100 s intervals with 1, 2, 0 and 1 agents; every wait worked out by hand."""
    calls = [  # arrival, handle, patience -> answered, wait, offered wait
        (0, 50, INF, True, 0, 0),  # agent A free: answered at once, ends 50
        (10, 60, 100, True, 40, 40),  # waits for A at 50, ends 110
        # B logs in at 100, the first free agent: the caller would wait 80 s but hangs up at 25.
        (20, 30, 25, False, 25, 80),
        (30, 40, INF, True, 70, 70),  # answered by B at 100, ends 140 (A ends 110)
        (150, 100, INF, True, 0, 0),  # A is free again since 110: ends 250
        (160, 20, 30, True, 0, 0),  # B free since 140: ends 180
        (190, 10, INF, True, 0, 0),  # B free since 180: ends 200
        # B would be free at 200, but the number drops to 0 at 200 and the change comes first;
        # A finishes its call (to 250) and leaves. The next agent logs in at 300.
        (195, 10, INF, True, 105, 105),  # answered at 300, ends 310
        (250, 30, 40, False, 40, 60),  # would be answered at 310: hangs up at 290
        (260, 30, INF, True, 50, 50),  # answered at 310, ends 340
        (350, 100, INF, True, 0, 0),  # ends 450, after the day: the agent stays for it
        (360, 10, 60, False, 60, 90),  # would wait until 450
        (390, 10, 60, True, 60, 60),  # answered at 450 exactly as the patience runs out
    ]
    arrival, handle, patience, answered, wait, offered_wait = zip(*calls, strict=True)
    records = run_queue(arrival, handle, patience, [1, 2, 0, 1], 100)
    assert records.answered.tolist() == list(answered)
    assert records.wait_s.tolist() == list(wait)
    assert records.offered_wait_s.tolist() == list(offered_wait)


def test_agents_leaving_finish_their_call_first() -> None:
    # Two busy agents (to 150 and 130), the number drops to 1 at 100: the agent finishing
    # first (130) leaves, the other answers the waiting call at 150.
    records = run_queue([0, 10, 20, 120], [150, 120, 10, 10], None, [2, 1], 100)
    assert records.wait_s.tolist() == [0, 0, 130, 40]
    # Rising to 3 at 100 brings two idle agents at once.
    records = run_queue([0, 10], [150, 10], None, [1, 3], 100)
    assert records.wait_s.tolist() == [0, 90]
    # 2 -> 1 at 100 (the agent ending at 181 is leaving) -> 2 at 200: gone by then,
    # so a new agent logs in at 200 and answers.
    records = run_queue([0, 1, 150], [250, 180, 10], None, [2, 1, 2], 100)
    assert records.wait_s.tolist() == [0, 0, 50]
    # Same, but the leaving agent is still busy at 200 (to 221): they count toward the 2
    # agents, stay, and answer at 221.
    records = run_queue([0, 1, 150], [250, 220, 10], None, [2, 1, 2], 100)
    assert records.wait_s.tolist() == [0, 0, 71]


def test_service_level_definitions_from_the_calls() -> None:
    threshold = 20.0
    definitions: tuple[ServiceLevelDefinition, ...] = (
        "offered", "answered", "answered_and_abandoned")
    runs = {definition: simulate(90, 1800, 9, Gamma(200.0, 0.7), Weibull(80.0, 0.8),
                                 answer_threshold_s=threshold,
                                 service_level_definition=definition,
                                 replications=3, duration_s=50 * 1800, seed=4, keep_calls=True)
            for definition in definitions}
    result = runs["offered"]
    counted = [r.arrival_s >= result.warmup_s for r in result.records]
    answered = np.concatenate([r.answered[c] for r, c in zip(result.records, counted,
                                                              strict=True)])
    within = np.concatenate([r.wait_s[c] <= threshold for r, c in zip(result.records, counted,
                                                                       strict=True)])
    assert result.calls == answered.size
    assert runs["offered"].metrics.service_level == pytest.approx(
        np.sum(answered & within) / answered.size)
    assert runs["answered"].metrics.service_level == pytest.approx(
        np.sum(answered & within) / answered.sum())
    assert runs["answered_and_abandoned"].metrics.service_level == pytest.approx(
        np.mean(within))
    # The definition changes the service level only: the same calls in every run.
    assert runs["answered"].metrics.p_wait == runs["offered"].metrics.p_wait


def test_unstable_without_abandonment_is_not_simulated() -> None:
    result = simulate_interval(Load(calls=100, interval_s=900, aht_s=180), 20, None)
    assert result.metrics.stable is False and result.calls == 0
    assert result.metrics.p_wait == 1 and result.metrics.occupancy == 1  # as Erlang C
    assert result.metrics.service_level is None and result.metrics.asa_s is None
    # With abandonment the same load has a steady state.
    result = simulate_interval(Load(calls=100, interval_s=900, aht_s=180), 20, 60.0)
    assert result.metrics.stable is True and known(result.metrics.p_abandon) > 0.05


def test_no_calls_is_not_simulated() -> None:
    metrics = simulate_interval(Load(calls=0, interval_s=900, aht_s=180), 3, None).metrics
    assert (metrics.stable, metrics.p_wait, metrics.service_level, metrics.asa_s,
            metrics.occupancy, metrics.p_abandon) == (True, 0, 1, 0, 0, 0)


# --- seeds ---------------------------------------------------------------------------------


def test_same_seed_same_result_different_seed_different() -> None:
    def run(seed: int) -> SimulationResult:
        return simulate([20.0, 50.0, 30.0], 900, [2, 5, 3], Lognormal(200.0, 0.9),
                        Exponential(100.0), replications=5, seed=seed)

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first.metrics != other.metrics
    stationary = simulate_interval(Load(calls=50, interval_s=900, aht_s=200), 13, 100.0,
                                   seed=3)
    assert stationary == simulate_interval(Load(calls=50, interval_s=900, aht_s=200), 13,
                                           100.0, seed=3)


# --- bad input -----------------------------------------------------------------------------


def _day(**overrides: object) -> SimulationResult:
    arguments: dict[str, object] = {
        "calls": [10.0, 20.0], "interval_s": 900, "agents": [2, 3],
        "handle": Exponential(180.0), "patience": None}
    arguments.update(overrides)
    return simulate(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "parameter"),
    [
        ({"calls": -1.0}, "calls"),
        ({"calls": [10.0, math.nan]}, "calls"),
        ({"calls": "many"}, "calls"),
        ({"interval_s": 0}, "interval_s"),
        ({"agents": [2]}, "agents"),
        ({"agents": [2, -1]}, "agents"),
        ({"agents": 2.5}, "agents"),
        ({"handle": 180.0}, "handle"),
        ({"patience": 60}, "patience"),
        ({"answer_threshold_s": -5}, "answer_threshold_s"),
        ({"service_level_definition": "abandoned"}, "service_level_definition"),
        ({"replications": 1}, "replications"),
        ({"seed": -3}, "seed"),
        ({"duration_s": 3600}, "duration_s"),
        ({"calls": 10.0, "agents": 2, "duration_s": -1}, "duration_s"),
        ({"calls": 10.0, "agents": 2, "warmup_s": math.inf}, "warmup_s"),
        ({"calls": 10.0, "agents": [2, 3]}, "agents"),
    ],
)
def test_bad_input_names_the_parameter(overrides: dict[str, object], parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        _day(**overrides)


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: Exponential(0.0), "mean_s"),
        (lambda: Lognormal(100.0, -0.5), "cv"),
        (lambda: Gamma(100.0, 0.0), "cv"),
        (lambda: Weibull(100.0, 0.0), "shape"),
        (lambda: Deterministic(-1.0), "value_s"),
        (lambda: Empirical(()), "values_s"),
        (lambda: simulate_interval(Load(10, 900, 180), 2, -1.0), "patience_s"),
        (lambda: simulate_interval(Load(10, 900, 180), 2, None, handle_cv=-1), "handle_cv"),
        (lambda: run_queue([5.0, 1.0], [1.0, 1.0], None, 1), "arrival_s"),
        (lambda: run_queue([1.0], [1.0, 2.0], None, 1), "handle_s"),
        (lambda: run_queue([1.0], [1.0], None, 0), "agents"),
        (lambda: run_queue([150.0], [1.0], None, [1], 100), "arrival_s"),
        (lambda: run_queue([1.0], [1.0], None, [1, 2]), "interval_s"),
    ],
)
def test_bad_input_elsewhere_names_the_parameter(make: Callable[[], object], parameter: str
                                                 ) -> None:
    with pytest.raises(ValueError, match=parameter):
        make()


# --- speed ---------------------------------------------------------------------------------


def test_simulates_a_hundred_thousand_calls_quickly() -> None:
    import time

    load = Load(calls=1000, interval_s=1800, aht_s=300)  # 167 Erlangs
    started = time.perf_counter()
    result = simulate_interval(load, 172, 90.0, replications=4, duration_s=180_000, seed=2)
    elapsed = time.perf_counter() - started
    assert result.calls > 350_000
    assert result.calls / elapsed > 100_000  # generous: about 1e6 calls/s when idle
