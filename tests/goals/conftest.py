"""A small center whose KPIs are easy to work out by hand (all times UTC).

October 2026, queue ``support`` of tenant ``acme``:

* agent A (team t1): 40 answered calls, wait 10 s, talk 100 s, after-call work 20 s;
* agent B (team t2): 40 answered calls, wait 30 s, talk 200 s, after-call work 40 s;
* agent C (team t1): 5 answered calls, wait 10 s, talk 50 s, no after-call work;
* 15 abandoned calls after 60 s (none short), no agent.

So offered 100, answered 85, answered within 20 s 45 (A and C), service level
45 / 100 = 0.45, abandon rate 15 / 100 = 0.15, AHT (40*120 + 40*240 + 5*50) / 85
= 14_650 / 85 = 172.35294..., per agent 120, 240 and 50.

September 2026: 10 calls answered by A, wait 10 s, talk 100 s, after-call work 20 s
(service level 1.0, AHT 120).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from callkpi.store import Warehouse, arrow_rows

OCT = dt.datetime(2026, 10, 6, 9)
SEP = dt.datetime(2026, 9, 15, 9)


def _call(n: int, at: dt.datetime, outcome: str, agent: str | None, wait: float,
          talk: float | None, acw: float | None) -> dict[str, object]:
    return {
        "call_id": f"c{n}", "segment": 1, "direction": "in", "queue": "support",
        "tenant": "acme", "agent": agent, "entered_at": at + dt.timedelta(minutes=n),
        "outcome": outcome, "wait_s": wait, "talk_s": talk, "acw_s": acw, "transferred": False,
        "source": "test", "source_ref": f"c{n}",
    }


def center_calls() -> list[dict[str, object]]:
    calls = []
    n = 0
    for agent, count, wait, talk, acw in (("A", 40, 10, 100, 20), ("B", 40, 30, 200, 40),
                                          ("C", 5, 10, 50, None)):
        for _ in range(count):
            n += 1
            calls.append(_call(n, OCT, "answered", agent, wait, talk, acw))
    for _ in range(15):
        n += 1
        calls.append(_call(n, OCT, "abandoned", None, 60, None, None))
    for _ in range(10):
        n += 1
        calls.append(_call(n, SEP, "answered", "A", 10, 100, 20))
    return calls


AGENTS = [
    {"agent": "A", "team": "t1", "tenant": "acme", "source": "test", "source_ref": "A"},
    {"agent": "B", "team": "t2", "tenant": "acme", "source": "test", "source_ref": "B"},
    {"agent": "C", "team": "t1", "tenant": "acme", "source": "test", "source_ref": "C"},
]


def build_center(path: Path) -> Path:
    with Warehouse(path) as wh, wh.transaction():
        wh.load("calls", arrow_rows("calls", center_calls()))
        wh.load("agents", arrow_rows("agents", AGENTS))
    return path


@pytest.fixture
def center_db(tmp_path: Path) -> Path:
    return build_center(tmp_path / "center.duckdb")


@pytest.fixture
def center(center_db: Path) -> Iterator[Warehouse]:
    with Warehouse(center_db) as wh:
        yield wh
