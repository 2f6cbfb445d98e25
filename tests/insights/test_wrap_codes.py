"""Handling time by wrap code, computed by hand.

Answered calls in October 2026 (UTC), each with the same handle time per code:

    wrap code   answered  handle per call           total (s)  share of 43500
    complaint   30        talk 500 + acw 100 = 600  18000      0.413793
    billing     40        talk 240 + hold 60 = 300  12000      0.275862
    password    60        talk 120                   7200      0.165517
    rare         5        talk 900                   4500      0.103448  (too few to rank)
    (none)      10        talk 180                   1800      0.041379  (no reason)

Total 43500 s = 12.0833 h. Ranked: complaint, billing, password; running shares
0.413793, 0.689655, 0.855172. Three abandoned calls coded billing are not handled calls.
"""

from __future__ import annotations

from typing import Any

import pytest
from insight_rows import at, call, load, minutes

from callkpi.goals.periods import parse_period
from callkpi.insights import wrap_codes
from callkpi.store import Warehouse

OCTOBER = parse_period("2026-10")


def _coded(code: str | None, n: int, **handle: float) -> list[dict[str, Any]]:
    start = at(7, "09:00")
    return [
        call(f"{code}{i}", minutes(start, i), agent="A", wrap_code=code, **handle) for i in range(n)
    ]


@pytest.fixture
def reasons(wh: Warehouse) -> Warehouse:
    load(
        wh,
        "calls",
        [
            *_coded("complaint", 30, talk_s=500.0, acw_s=100.0),
            *_coded("billing", 40, talk_s=240.0, hold_s=60.0),
            *_coded("password", 60, talk_s=120.0),
            *_coded("rare", 5, talk_s=900.0),
            *_coded(None, 10, talk_s=180.0),
            *(
                call(f"x{i}", at(8, "10:00"), "abandoned", wrap_code="billing", wait_s=40.0)
                for i in range(3)
            ),
        ],
    )
    return wh


def test_ranked_by_handling_time(reasons: Warehouse) -> None:
    result = wrap_codes(reasons, OCTOBER)
    assert [
        (r["rank"], r["wrap_code"], r["answered"], r["aht"], r["handling_h"], r["note"])
        for r in result.rows
    ] == [
        (1, "complaint", 30, 600.0, 5.0, None),  # 18000 s
        (2, "billing", 40, 300.0, pytest.approx(12000 / 3600), None),
        (3, "password", 60, 120.0, 2.0, None),  # 7200 s
        (None, "rare", 5, 900.0, 1.25, "too few to rank (5 answered < 30)"),
        (None, None, 10, 180.0, 0.5, "no wrap code: not a reason to rank"),
    ]
    shares = [r["handling_share"] for r in result.rows]
    assert shares == pytest.approx(
        [18000 / 43500, 12000 / 43500, 7200 / 43500, 4500 / 43500, 1800 / 43500]
    )
    cumulative = [r["cumulative_share"] for r in result.rows]
    assert cumulative[:3] == pytest.approx([18000 / 43500, 30000 / 43500, 37200 / 43500])
    assert cumulative[3:] == [None, None]
    assert result.center == {"handling_h": pytest.approx(43500 / 3600), "answered": 145}


def test_reading(reasons: Warehouse) -> None:
    assert wrap_codes(reasons, OCTOBER).reading == (
        "In 2026-10 agents spent 12 hours handling 145 answered calls. The top 3 reasons by "
        "handling time, complaint (41.4 %), billing (27.6 %) and password (16.6 %), take "
        "85.5 % of it: automating or deflecting them (self-service, IVR, a better process) "
        "frees the most agent time. The longest calls are complaint at 600 s each. 10 "
        "answered calls (4.1 % of the handling time) have no wrap code: their reasons are "
        "unknown. 1 code had fewer than 30 answered calls, too few to rank (rare)."
    )


def test_queue_filter(reasons: Warehouse) -> None:
    assert wrap_codes(reasons, OCTOBER, queue="sales").rows == []
    assert len(wrap_codes(reasons, OCTOBER, queue="support").rows) == 5
