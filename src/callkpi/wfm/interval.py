"""One interval's staffing as one result: the fewest agents for the constraints (or the
metrics of a given number), by Erlang C, Erlang A or simulation, with the headcount after
shrinkage and a square-root-staffing cross-check. What ``callkpi staff`` prints and
``GET /api/staff`` returns."""

from __future__ import annotations

import dataclasses
from typing import Any

from callkpi.wfm.erlang import erlang_a, erlang_c
from callkpi.wfm.staffing import Constraints, scheduled_agents, solve, sqrt_staffing
from callkpi.wfm.types import Load, Metrics

MODELS = ("erlang-c", "erlang-a", "simulation")
SL_DEFINITIONS = ("offered", "answered", "answered_and_abandoned")


def staff_interval(
    *, calls: float, aht_s: float, interval_s: float = 1800.0, service_level: float | None = 0.8,
    answer_threshold_s: float = 20.0, sl_definition: str = "offered",
    patience_s: float | None = None, max_asa_s: float | None = None,
    max_occupancy: float | None = None, max_abandon: float | None = None,
    shrinkage: float = 0.0, model: str | None = None, agents: int | None = None,
    handle_cv: float | None = None, seed: int = 1,
) -> dict[str, Any]:
    """The result as a dict (keys ``model, load_erlangs, agents, scheduled_agents, p_wait,
    service_level, asa_s, occupancy``, ``p_abandon`` unless Erlang C, and the inputs).
    The model defaults to Erlang A with a patience, else Erlang C. Raises ValueError with
    the option's name for bad input."""
    chosen = model or ("erlang-a" if patience_s is not None else "erlang-c")
    if chosen not in MODELS:
        raise ValueError(f"--model {chosen!r}: expected one of {', '.join(MODELS)}")
    if sl_definition not in SL_DEFINITIONS:
        raise ValueError(
            f"--sl-definition {sl_definition!r}: expected one of {', '.join(SL_DEFINITIONS)}")
    if chosen != "erlang-c" and patience_s is None:
        raise ValueError(f"--model {chosen} needs --patience-s")
    if max_abandon is not None and patience_s is None:
        raise ValueError("--max-abandon needs --patience-s (with Erlang C nobody hangs up)")
    if agents is not None and agents < 0:
        raise ValueError("--agents must be 0 or more")
    if not 0 <= shrinkage < 1:
        raise ValueError(f"--shrinkage {shrinkage}: expected 0 <= shrinkage < 1")
    load = Load(calls=calls, interval_s=interval_s, aht_s=aht_s)
    constraints = Constraints(
        service_level=service_level, answer_threshold_s=answer_threshold_s,
        max_asa_s=max_asa_s, max_occupancy=max_occupancy, max_abandon=max_abandon,
        service_level_definition=sl_definition,  # type: ignore[arg-type]
    )
    binding: tuple[str, ...] = ()
    standard_errors: dict[str, Any] = {}
    if chosen == "simulation":
        metrics, standard_errors = _simulate(load, constraints, agents, patience_s, handle_cv,
                                             seed)
    elif agents is not None:
        metrics = (
            erlang_c(load, agents, answer_threshold_s) if chosen == "erlang-c"
            else erlang_a(load, agents, patience_s or 0.0, answer_threshold_s,
                          sl_definition)  # type: ignore[arg-type]
        )
    else:
        solved = solve(load, constraints, model=chosen,  # type: ignore[arg-type]
                       patience_s=patience_s, shrinkage=shrinkage)
        metrics, binding = solved.metrics, solved.binding
    row: dict[str, Any] = {
        "model": chosen,
        "load_erlangs": load.erlangs,
        "agents": metrics.agents,
        "scheduled_agents": scheduled_agents(metrics.agents, shrinkage),
        "p_wait": metrics.p_wait,
        "service_level": metrics.service_level,
        "asa_s": metrics.asa_s,
        "avg_wait_s": metrics.avg_wait_s,
        "avg_wait_of_waiting_s": metrics.avg_wait_of_waiting_s,
        "occupancy": metrics.occupancy,
        **({"p_abandon": metrics.p_abandon} if metrics.model != "erlang-c" else {}),
        "stable": metrics.stable,
        "service_level_definition": metrics.service_level_definition,
        "answer_threshold_s": answer_threshold_s,
        "shrinkage": shrinkage,
        "calls": calls,
        "interval_s": load.interval_s,
        "aht_s": aht_s,
        "patience_s": patience_s,
        "binding": list(binding),
        "sqrt_staffing": (_sqrt_check(load.erlangs, metrics.p_wait) if chosen == "erlang-c"
                          else None),
    }
    if standard_errors:
        row["standard_errors"] = standard_errors
    return row


def _sqrt_check(load_erlangs: float, p_wait: float | None) -> int | None:
    """Square-root staffing for the P(wait) the answer reaches: a quick cross-check of N
    (None where P(wait) is 0, 1 or unknown)."""
    if p_wait is None or not 0 < p_wait < 1:
        return None
    return sqrt_staffing(load_erlangs, p_wait=p_wait)


def meets(metrics: Metrics, constraints: Constraints) -> bool:
    """Whether ``metrics`` meet every constraint given (a missing value meets nothing)."""
    checks = (
        (constraints.service_level, metrics.service_level, True),
        (constraints.max_asa_s, metrics.asa_s, False),
        (constraints.max_occupancy, metrics.occupancy, False),
        (constraints.max_abandon, metrics.p_abandon, False),
    )
    for limit, value, at_least in checks:
        if limit is None:
            continue
        if value is None or (value < limit if at_least else value > limit):
            return False
    return True


def _simulate(load: Load, constraints: Constraints, agents: int | None,
              patience_s: float | None, handle_cv: float | None,
              seed: int) -> tuple[Metrics, dict[str, Any]]:
    """Simulated metrics for ``agents``; without it, the fewest agents whose simulated
    metrics meet the constraints, searched from the Erlang answer (C, or A with patience)
    one agent at a time, each run with the same seed (common random numbers)."""
    from callkpi.wfm.simulation import simulate_interval

    def run(n: int) -> Any:
        return simulate_interval(load, n, patience_s, constraints.answer_threshold_s,
                                 constraints.service_level_definition, handle_cv, seed=seed)

    if agents is not None:
        result = run(agents)
        return result.metrics, dataclasses.asdict(result.standard_errors)
    first = solve(load, constraints, model="erlang-a" if patience_s else "erlang-c",
                  patience_s=patience_s).agents
    n = max(first, 1)
    result = run(n)
    while not meets(result.metrics, constraints):
        if n > 2 * first + 20:
            raise ValueError(f"no number of agents up to {n} meets the constraints in "
                             "simulation")
        n += 1
        result = run(n)
    while n > 1:
        fewer = run(n - 1)
        if not meets(fewer.metrics, constraints):
            break
        n, result = n - 1, fewer
    return result.metrics, dataclasses.asdict(result.standard_errors)


__all__ = ["MODELS", "SL_DEFINITIONS", "meets", "staff_interval"]
