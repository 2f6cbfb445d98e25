"""Core KPIs by site and region, computed by hand.

Roster: A at msk (region Moscow), B at kzn (Kazan), C at spb (Moscow). Calls carry their
own site and region; occupancy and CSAT take the agent's from the roster. October 2026:

    calls      answered (wait, handle)            abandoned  SL              AHT  FCR
    msk        40 (10 s, 200 s), 40 customers     10 (30 s)  40/50 = 0.8     200  40/40 = 1
    kzn        30 (300 s): 15 customers twice,    —          15/30 = 0.5     300  1 - 15/30 = 0.5
               first waits 10 s, repeat 30 s
    spb         5 (10 s, 100 s)                   —          5/5             100  1  (too few)
    (none)      2 (10 s, 100 s)                   —          2/2             100  1  (too few)

    agent  logged in  paused  talking  occupancy            CSAT answers (positive)
    A      28800 s    —       14400 s  14400/28800 = 0.5   40 (30): 0.75
    B      28800 s    7200 s  16200 s  16200/21600 = 0.75  10 (9): 0.9  (too few)

Center: SL (40+15+5+2)/(50+30+5+2) = 62/87 = 0.712644; AHT (40x200 + 30x300 + 5x100 +
2x100)/77 = 17700/77 = 229.870; FCR 1 - 15/77 = 0.805195; occupancy (14400 + 16200) /
(57600 - 7200) = 0.607143; CSAT 39/50 = 0.78; conversion (2 won deals over 10 handled
leads, the center only: leads carry no site) 0.2.
Region Moscow = msk + spb: SL 45/55 = 0.818182, AHT (8000 + 500)/45 = 188.889, FCR 1.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from insight_rows import at, call, load, minutes, span

from callkpi.goals.periods import parse_period
from callkpi.insights import locations
from callkpi.store import Warehouse

OCTOBER = parse_period("2026-10")
KPIS = ("service_level", "aht", "fcr", "occupancy", "conversion_rate", "csat")


def _calls(
    prefix: str, site: str | None, region: str | None, n: int, **columns: Any
) -> list[dict[str, Any]]:
    start = at(5, "10:00")
    return [
        call(
            f"{prefix}{i}",
            minutes(start, i),
            site=site,
            region=region,
            customer_id=f"{prefix}{i}",
            **columns,
        )
        for i in range(n)
    ]


@pytest.fixture
def sites(wh: Warehouse) -> Warehouse:
    roster = {"A": ("msk", "Moscow"), "B": ("kzn", "Kazan"), "C": ("spb", "Moscow")}
    load(wh, "agents", [{"agent": a, "site": s, "region": r} for a, (s, r) in roster.items()])
    kazan = [
        call(
            f"k{i}{visit}",
            at(5 + visit, "10:00") + dt.timedelta(minutes=i),
            agent="B",
            site="kzn",
            region="Kazan",
            customer_id=f"k{i}",
            wait_s=10.0 + 20 * visit,
            talk_s=300.0,
        )
        for i in range(15)
        for visit in (0, 1)
    ]
    abandoned = [
        call(f"x{i}", at(5, "11:00"), "abandoned", site="msk", region="Moscow", wait_s=30.0)
        for i in range(10)
    ]
    load(
        wh,
        "calls",
        [
            *_calls("m", "msk", "Moscow", 40, agent="A", wait_s=10.0, talk_s=200.0),
            *abandoned,
            *kazan,
            *_calls("s", "spb", "Moscow", 5, agent="C", wait_s=10.0, talk_s=100.0),
            *_calls("n", None, None, 2, agent="A", wait_s=10.0, talk_s=100.0),
        ],
    )
    load(
        wh,
        "agent_states",
        [
            span("A", "logged_in", at(5, "08:00"), at(5, "16:00")),
            span("A", "talking", at(5, "08:00"), at(5, "12:00"), call_id="ta"),
            span("B", "logged_in", at(5, "08:00"), at(5, "16:00")),
            span("B", "paused", at(5, "13:00"), at(5, "15:00")),
            span("B", "talking", at(5, "08:00"), at(5, "12:30"), call_id="tb"),
        ],
    )
    answers = [("A", 5.0)] * 30 + [("A", 2.0)] * 10 + [("B", 5.0)] * 9 + [("B", 1.0)]
    load(
        wh,
        "surveys",
        [
            {
                "survey_id": f"v{i}",
                "agent": agent,
                "kind": "csat",
                "score": score,
                "scale_max": 5.0,
                "answered_at": at(6, "12:00"),
            }
            for i, (agent, score) in enumerate(answers)
        ],
    )
    load(
        wh,
        "leads",
        [
            {"lead_id": f"L{i}", "created_at": at(2, "09:00"), "first_contact_at": at(2, "10:00")}
            for i in range(10)
        ],
    )
    load(
        wh,
        "deals",
        [
            {
                "deal_id": f"D{i}",
                "agent": "A",
                "status": "won",
                "amount": 100.0,
                "opened_at": at(2, "10:00"),
                "closed_at": at(3, "10:00"),
            }
            for i in range(2)
        ],
    )
    return wh


def _values(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["level"], row["location"], *(row[k] for k in KPIS))


def test_center_sites_and_regions(sites: Warehouse) -> None:
    rows = locations(sites, OCTOBER).rows
    approx = pytest.approx
    # fmt: off
    assert [_values(r) for r in rows] == [
        ("center", None, approx(62 / 87), approx(17700 / 77), approx(62 / 77),
         approx(30600 / 50400), 0.2, 0.78),
        ("site", "kzn", 0.5, 300.0, 0.5, 0.75, None, 0.9),
        ("site", "msk", 0.8, 200.0, 1.0, 0.5, None, 0.75),
        ("site", "spb", 1.0, 100.0, 1.0, None, None, None),
        ("site", None, 1.0, 100.0, 1.0, None, None, None),
        ("region", "Kazan", 0.5, 300.0, 0.5, 0.75, None, 0.9),
        ("region", "Moscow", approx(45 / 55), approx(8500 / 45), 1.0, 0.5, None, 0.75),
        ("region", None, 1.0, 100.0, 1.0, None, None, None),
    ]
    # fmt: on
    samples = [(r["service_level__n"], r["aht__n"], r["fcr__n"], r["csat__n"]) for r in rows]
    assert samples == [
        (87, 77, 77, 50),
        (30, 30, 30, 10),
        (50, 40, 40, 40),
        (5, 5, 5, 0),
        (2, 2, 2, 0),
        (30, 30, 30, 10),
        (55, 45, 45, 40),
        (2, 2, 2, 0),
    ]
    assert "occupancy__n" not in rows[0]  # a share of time: no sample size
    assert [r["note"] for r in rows] == [
        "too few to compare (< 30): conversion_rate (10)",
        "too few to compare (< 30): csat (10)",
        None,
        "too few to compare (< 30): service_level (5), aht (5), fcr (5)",
        "too few to compare (< 30): service_level (2), aht (2), fcr (2)",
        "too few to compare (< 30): csat (10)",
        None,
        "too few to compare (< 30): service_level (2), aht (2), fcr (2)",
    ]


def test_proportions_carry_wilson_intervals(sites: Warehouse) -> None:
    center, *_, moscow, _ = locations(sites, OCTOBER).rows
    # 62 of 87 -> (0.6102, 0.7971); 2 of 10 -> (0.0567, 0.5098); 45 of 55 -> (0.6967, 0.8981)
    assert (center["service_level_low"], center["service_level_high"]) == pytest.approx(
        (0.6102, 0.7971), abs=5e-5
    )
    assert (center["conversion_rate_low"], center["conversion_rate_high"]) == pytest.approx(
        (0.0567, 0.5098), abs=5e-5
    )
    assert (moscow["service_level_low"], moscow["service_level_high"]) == pytest.approx(
        (0.6967, 0.8981), abs=5e-5
    )
    assert "aht_low" not in center  # a mean of seconds: no Wilson interval


def test_reading(sites: Warehouse) -> None:
    assert locations(sites, OCTOBER).reading == (
        "In 2026-10 the center had service_level 71.3 %, aht 230 s, fcr 80.5 %, occupancy "
        "60.7 %, conversion_rate 20.0 %, csat 78.0 %. By site: service_level best at msk "
        "(80.0 %), worst at kzn (50.0 %); aht best at msk (200 s), worst at kzn (300 s); "
        "fcr best at msk (100.0 %), worst at kzn (50.0 %); occupancy from 50.0 % to 75.0 %. "
        "conversion_rate cannot be cut by site in the catalog. By region: service_level best "
        "at Moscow (81.8 %), worst at Kazan (50.0 %); aht best at Moscow (189 s), worst at "
        "Kazan (300 s); fcr best at Moscow (100.0 %), worst at Kazan (50.0 %); occupancy "
        "from 50.0 % to 75.0 %. conversion_rate cannot be cut by region in the catalog."
    )


def test_calls_without_sites(wh: Warehouse) -> None:
    load(
        wh,
        "calls",
        [call(f"c{i}", at(5, "10:00"), agent="A", wait_s=5.0, talk_s=60.0) for i in range(40)],
    )
    # No customer ids: FCR has no base at all; no agent states or surveys either.
    assert locations(wh, OCTOBER).reading == (
        "In 2026-10 the center had service_level 100.0 %, aht 60 s, fcr —, occupancy —, "
        "conversion_rate —, csat —. The data behind service_level and aht records no site "
        "(all of it is under (none)), so they cannot be compared by site. conversion_rate "
        "cannot be cut by site in the catalog. The data behind service_level and aht records "
        "no region (all of it is under (none)), so they cannot be compared by region. "
        "conversion_rate cannot be cut by region in the catalog."
    )
