"""AHT vs transfer rate per agent, computed by hand.

Queue ``support``, 5 October 2026 (UTC). Per agent: answered calls, the handle time of
each (talk + hold + after-call work) and how many were transferred:

    agent  answered  handle per call          transferred  AHT  transfer rate
    A      100       talk 200 + acw 40 = 240  50           240  50/100 = 0.5
    B       40       talk 360 + hold 40 = 400  2           400   2/40  = 0.05
    C       60       talk 300 = 300            0           300   0/60  = 0
    D       30       talk 150 = 150           12           150  12/30  = 0.4
    F       50       talk 450 + acw 50 = 500  25           500  25/50  = 0.5
    E       10       talk 1000                 5          1000   5/10  (too few)

Center: answered 290; handle 100x240 + 40x400 + 60x300 + 30x150 + 50x500 + 10x1000
= 24000 + 16000 + 18000 + 4500 + 25000 + 10000 = 97500 s, AHT 97500 / 290 = 336.2069 s;
transferred 50 + 2 + 0 + 12 + 25 + 5 = 94, transfer rate 94 / 290 = 0.324138.
Five abandoned calls (no agent) are not agents' calls; ten answered calls of A in queue
``billing`` only count without the queue filter.
"""

from __future__ import annotations

from typing import Any

import pytest
from insight_rows import at, call, load, minutes

from callkpi.goals.periods import parse_period
from callkpi.insights import aht_transfers
from callkpi.store import Warehouse

OCTOBER = parse_period("2026-10")
CENTER_AHT = 97500 / 290
CENTER_TRANSFERS = 94 / 290


def _calls(agent: str, n: int, transferred: int, **handle: float) -> list[dict[str, Any]]:
    start = at(5, "09:00")
    return [
        call(
            f"{agent}{i}",
            minutes(start, i),
            agent=agent,
            wait_s=5.0,
            transferred=i < transferred,
            **handle,
        )
        for i in range(n)
    ]


@pytest.fixture
def center(wh: Warehouse) -> Warehouse:
    rows = [
        *_calls("A", 100, 50, talk_s=200.0, acw_s=40.0),
        *_calls("B", 40, 2, talk_s=360.0, hold_s=40.0),
        *_calls("C", 60, 0, talk_s=300.0),
        *_calls("D", 30, 12, talk_s=150.0),
        *_calls("F", 50, 25, talk_s=450.0, acw_s=50.0),
        *_calls("E", 10, 5, talk_s=1000.0),
        *(call(f"x{i}", at(5, "11:00"), "abandoned", wait_s=30.0) for i in range(5)),
        *(
            call(f"b{i}", at(6, "11:00"), agent="A", queue="billing", talk_s=60.0)
            for i in range(10)
        ),
        # 30 September 23:30 UTC: outside October in UTC, 1 October 02:30 in Moscow
        call("early", at(30, "23:30", month=9), agent="A", talk_s=240.0),
    ]
    load(wh, "calls", rows)
    return wh


def test_quadrants_against_the_center(center: Warehouse) -> None:
    result = aht_transfers(center, OCTOBER, "UTC", queue="support")
    assert result.center == {
        "answered": 290,
        "aht": pytest.approx(CENTER_AHT),
        "transfer_rate": pytest.approx(CENTER_TRANSFERS),
    }
    placed = [
        (r["agent"], r["answered"], r["aht"], r["transfer_rate"], r["quadrant"])
        for r in result.rows
    ]
    assert placed == [
        # 500 > 336.2 and 0.5 > 0.324: needs training
        ("F", 50, 500.0, 0.5, "high AHT, high transfers"),
        # 400 > 336.2 and 0.05 < 0.324: slow but resolves
        ("B", 40, 400.0, 0.05, "high AHT, low transfers"),
        # 240 and 150 < 336.2, 0.5 and 0.4 > 0.324: passes calls on (more calls first)
        ("A", 100, 240.0, 0.5, "low AHT, high transfers"),
        ("D", 30, 150.0, 0.4, "low AHT, high transfers"),
        # 300 < 336.2 and 0 < 0.324: fine
        ("C", 60, 300.0, 0.0, "low AHT, low transfers"),
        # 10 answered < 30: flagged, placed nowhere, listed last
        ("E", 10, 1000.0, 0.5, None),
    ]
    advice = {r["agent"]: r["advice"] for r in result.rows}
    assert advice == {
        "F": "needs training",
        "B": "slow but resolves — coach on efficiency",
        "A": "passes calls on — knowledge or authority",
        "D": "passes calls on — knowledge or authority",
        "C": "fine",
        "E": None,
    }


def test_transfer_rates_carry_sample_sizes_and_wilson_intervals(center: Warehouse) -> None:
    rows = {r["agent"]: r for r in aht_transfers(center, OCTOBER, queue="support").rows}
    # Wilson 95 %: p = 0.5, n = 100 -> (0.4038, 0.5962); 2 of 40 -> (0.0138, 0.1650);
    # 0 of 60 -> (0, 0.0602); 12 of 30 -> (0.2459, 0.5768); 25 of 50 -> (0.3664, 0.6336)
    expected = {
        "A": (100, 0.4038, 0.5962),
        "B": (40, 0.0138, 0.1650),
        "C": (60, 0.0, 0.0602),
        "D": (30, 0.2459, 0.5768),
        "F": (50, 0.3664, 0.6336),
    }
    for agent, (n, low, high) in expected.items():
        row = rows[agent]
        assert row["transfer_rate__n"] == n
        assert row["transfer_rate_low"] == pytest.approx(low, abs=5e-5)
        assert row["transfer_rate_high"] == pytest.approx(high, abs=5e-5)
    # D's interval (0.2459, 0.5768) holds the center's 0.3241: its high side may be chance.
    assert rows["D"]["note"] == "transfer rate ≈ center's (within noise)"
    assert [a for a, r in rows.items() if r["note"] is None] == ["F", "B", "A", "C"]
    assert rows["E"]["note"] == "too few to rank (10 answered < 30)"


def test_reading_names_the_groups_and_the_flagged(center: Warehouse) -> None:
    reading = aht_transfers(center, OCTOBER, queue="support").reading
    assert reading.startswith(
        "In 2026-10 the center answered 290 calls in queue support with an AHT of 336 s "
        "and a transfer rate of 32.4 %;"
    )
    assert "needs training: 1 (high AHT, high transfers: F)" in reading
    assert "passes calls on — knowledge or authority: 2 (low AHT, high transfers: A and D)" in (
        reading
    )
    assert "fine: 1." in reading
    assert "For 1 of them the transfer rate is within the noise" in reading
    assert "1 agent answered fewer than 30 calls, too few to rank (E)." in reading


def test_queue_filter_period_and_time_zone(center: Warehouse) -> None:
    everything = {r["agent"]: r for r in aht_transfers(center, OCTOBER).rows}
    assert everything["A"]["answered"] == 110  # + 10 in billing
    # In Moscow, 30 September 23:30 UTC is 1 October 02:30: one more call of A.
    moscow = {r["agent"]: r for r in aht_transfers(center, OCTOBER, "Europe/Moscow").rows}
    assert moscow["A"]["answered"] == 111
    assert aht_transfers(center, parse_period("2026-11")).rows == []
    assert aht_transfers(center, parse_period("2026-11")).reading == (
        "No answered calls in 2026-11: nothing to compare."
    )


def test_agents_are_compared_with_their_team(center: Warehouse) -> None:
    # Teams t1 = A, B, F, E and t3 = C, D (queue support):
    # t1: answered 100 + 40 + 50 + 10 = 200, handle 24000 + 16000 + 25000 + 10000 = 75000,
    #     AHT 375; transferred 50 + 2 + 25 + 5 = 82, rate 0.41.
    # t3: answered 60 + 30 = 90, handle 18000 + 4500 = 22500, AHT 250; transferred 12,
    #     rate 12 / 90 = 0.1333.
    load(center, "agents", [{"agent": a, "team": t} for a, t in
                            (("A", "t1"), ("B", "t1"), ("F", "t1"), ("E", "t1"),
                             ("C", "t3"), ("D", "t3"))])
    result = aht_transfers(center, OCTOBER, queue="support")
    placed = [(r["agent"], r["compared_with"], r["quadrant"]) for r in result.rows]
    assert placed == [
        ("F", "team t1", "high AHT, high transfers"),  # 500 > 375, 0.5 > 0.41
        # C: 300 > 250 in a short-call team: slow there, though under the center's 336
        ("C", "team t3", "high AHT, low transfers"),
        ("B", "team t1", "high AHT, low transfers"),  # 400 > 375, 0.05 < 0.41
        ("A", "team t1", "low AHT, high transfers"),  # 240 < 375, 0.5 > 0.41
        ("D", "team t3", "low AHT, high transfers"),  # 150 < 250, 0.4 > 0.133
        ("E", "team t1", None),
    ]
    notes = {r["agent"]: r["note"] for r in result.rows}
    # A (0.4038, 0.5962) and F (0.3664, 0.6336) hold t1's 0.41; D (0.2459, 0.5768)
    # does not hold t3's 0.1333.
    assert notes["A"] == notes["F"] == "transfer rate ≈ team t1's (within noise)"
    assert notes["D"] is None and notes["C"] is None
    everyone = aht_transfers(center, OCTOBER, queue="support", against="center")
    assert {r["agent"]: r["quadrant"] for r in everyone.rows}["C"] == "low AHT, low transfers"
    with pytest.raises(ValueError, match="against 'site'"):
        aht_transfers(center, OCTOBER, against="site")
