"""``callkpi staff`` as scripts call it: a real process, JSON, exit codes; the numbers
checked against Erlang B/C computed here with exact fractions."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction

import pytest


def staff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callkpi", "staff", *args],
                          capture_output=True, text=True, timeout=120)


def staff_json(*args: str) -> dict[str, object]:
    result = staff(*args, "--format", "json")
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)
    assert isinstance(value, dict)
    return value


def erlang_c_exact(load: Fraction, agents: int) -> Fraction:
    """P(wait) from the Erlang B recursion in exact arithmetic."""
    b = Fraction(1)
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return agents * b / (agents - load * (1 - b))


def test_the_worked_example() -> None:
    out = staff_json("--calls", "100", "--interval-min", "30", "--aht-s", "180",
                     "--shrinkage", "0.3")
    assert out["model"] == "erlang-c"
    assert out["load_erlangs"] == 10.0
    assert (out["agents"], out["scheduled_agents"]) == (14, 20)
    assert round(float(out["p_wait"]), 6) == 0.174132  # type: ignore[arg-type]
    assert round(float(out["service_level"]), 6) == 0.888350  # type: ignore[arg-type]
    assert round(float(out["asa_s"]), 5) == 7.83594  # type: ignore[arg-type]
    assert round(float(out["occupancy"]), 6) == 0.714286  # type: ignore[arg-type]
    assert out["binding"] == ["service_level"]
    assert out["sqrt_staffing"] == 14
    assert "p_abandon" not in out


@pytest.mark.parametrize(("calls", "aht", "agents"), [(100, 180, 11), (100, 180, 13),
                                                      (37, 240, 7), (1, 60, 1)])
def test_evaluating_a_given_number_of_agents(calls: int, aht: int, agents: int) -> None:
    out = staff_json("--calls", str(calls), "--aht-s", str(aht), "--agents", str(agents))
    load = Fraction(calls * aht, 1800)
    p_wait = erlang_c_exact(load, agents)
    assert out["agents"] == agents
    assert out["p_wait"] == pytest.approx(float(p_wait), rel=1e-9)
    assert out["service_level"] == pytest.approx(
        1 - float(p_wait) * math.exp(-float(agents - load) * 20 / aht), rel=1e-9)
    assert out["asa_s"] == pytest.approx(float(p_wait * aht / (agents - load)), rel=1e-9)
    assert out["occupancy"] == pytest.approx(float(load / agents), rel=1e-15)


def test_too_few_agents_is_unstable_not_a_number() -> None:
    out = staff_json("--calls", "100", "--aht-s", "180", "--agents", "10")
    assert (out["p_wait"], out["occupancy"], out["stable"]) == (1.0, 1.0, False)
    assert (out["service_level"], out["asa_s"]) == (None, None)
    table = staff("--calls", "100", "--aht-s", "180", "--agents", "9")
    assert table.returncode == 0
    assert "unstable" in table.stderr


def test_erlang_a_reports_abandonment_and_meets_the_cap() -> None:
    out = staff_json("--calls", "100", "--aht-s", "180", "--patience-s", "120",
                     "--max-abandon", "0.03")
    assert out["model"] == "erlang-a"
    assert float(out["p_abandon"]) <= 0.03  # type: ignore[arg-type]
    fewer = staff_json("--calls", "100", "--aht-s", "180", "--patience-s", "120",
                       "--agents", str(int(out["agents"]) - 1))  # type: ignore[call-overload]
    assert float(fewer["p_abandon"]) > 0.03  # type: ignore[arg-type]
    assert out["binding"] == ["max_abandon"]


@pytest.mark.parametrize(("args", "message"), [
    (("--model", "erlang-a"), "--model erlang-a needs --patience-s"),
    (("--max-abandon", "0.05"), "--max-abandon needs --patience-s"),
    (("--shrinkage", "1"), "--shrinkage 1.0"),
    (("--model", "erlang-x"), "--model 'erlang-x'"),
    (("--sl-definition", "all"), "--sl-definition 'all'"),
    (("--sl", "1.5"), "service_level must be a share"),
])
def test_bad_input_names_the_option(args: tuple[str, ...], message: str) -> None:
    result = staff("--calls", "100", "--aht-s", "180", *args)
    assert result.returncode == 1
    assert message in result.stderr
