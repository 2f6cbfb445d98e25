"""The best time to call, computed by hand, in Moscow time (UTC+3).

Dial attempts in October 2026; a deal is a connected attempt with disposition ``sale``:

    local cell     UTC              dials  connects  sales  connect rate  conversion
    Mon 10-11 h    5 Oct 07:00      40     20        5      20/40 = 0.5   5/20 = 0.25
    Mon 18-19 h    5 Oct 15:00      100    50        15     50/100 = 0.5  15/50 = 0.3
    Tue 11-12 h    6 Oct 08:00      60     12 (2 "order")  0  12/60 = 0.2  0/12 = 0
    Wed 09-10 h    7 Oct 06:00      10     9         1      0.9           1/9
    Thu 01-02 h    30 Sep 22:30     1      0         0      0             —

Center: 211 dials, 91 connects (91/211 = 0.431280), 21 sales (21/91 = 0.230769).
Connect ranks (30 dials or more): Mon 18 and Mon 10 tie at 0.5, the larger sample first;
then Tue 11. Conversion ranks (30 connects or more): Mon 18 only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from insight_rows import at, load, pick

from callkpi.goals.periods import parse_period
from callkpi.insights import best_time
from callkpi.store import Warehouse

OCTOBER = parse_period("2026-10")
MOSCOW = "Europe/Moscow"


def _dials(
    start: dt.datetime, n: int, connected: int, dispositions: dict[str, int]
) -> list[dict[str, Any]]:
    """``n`` attempts a minute apart; the first ``connected`` connected, the first of those
    with the given dispositions, the other connects not interested."""
    labels = [d for d, count in dispositions.items() for _ in range(count)]
    rows = []
    for i in range(n):
        if i < connected:
            disposition = labels[i] if i < len(labels) else "not_interested"
        else:
            disposition = "no_answer"
        rows.append(
            {
                "attempt_id": f"{start:%d%H}-{i}",
                "campaign": "alpha",
                "agent": "A",
                "dialed_at": start + dt.timedelta(minutes=i % 60),
                "connected": i < connected,
                "disposition": disposition,
            }
        )
    return rows


@pytest.fixture
def dialer(wh: Warehouse) -> Warehouse:
    load(
        wh,
        "dials",
        [
            *_dials(at(5, "07:00"), 40, 20, {"sale": 5}),
            *_dials(at(5, "15:00"), 100, 50, {"sale": 15}),
            *_dials(at(6, "08:00"), 60, 12, {"order": 2}),
            *_dials(at(7, "06:00"), 10, 9, {"sale": 1}),
            *_dials(at(30, "22:30", month=9), 1, 0, {}),
        ],
    )
    return wh


def test_cells_in_local_time(dialer: Warehouse) -> None:
    result = best_time(dialer, OCTOBER, MOSCOW)
    columns = ("day", "hour_of_day", "dials", "connects", "connect_rate", "deals", "conversion")
    assert pick(result.rows, *columns, "connect_rank", "conversion_rank") == [
        ("Mon", 10, 40, 20, 0.5, 5, 0.25, 2, None),
        ("Mon", 18, 100, 50, 0.5, 15, 0.3, 1, 1),
        ("Tue", 11, 60, 12, 0.2, 0, 0.0, 3, None),
        ("Wed", 9, 10, 9, 0.9, 1, pytest.approx(1 / 9), None, None),
        ("Thu", 1, 1, 0, 0.0, 0, None, None, None),
    ]
    assert [r["weekday"] for r in result.rows] == [1, 1, 2, 3, 4]
    assert result.center == {
        "dials": 211,
        "connects": 91,
        "connect_rate": pytest.approx(91 / 211),
        "deals": 21,
        "conversion": pytest.approx(21 / 91),
        "sale_dispositions": ["sale"],
    }


def test_rates_carry_sample_sizes_intervals_and_flags(dialer: Warehouse) -> None:
    rows = {(r["day"], r["hour_of_day"]): r for r in best_time(dialer, OCTOBER, MOSCOW).rows}
    mon18 = rows[("Mon", 18)]
    # p = 0.5, n = 100 -> (0.4038, 0.5962); 15 of 50 -> (0.1910, 0.4375)
    assert mon18["connect_rate__n"] == 100
    assert (mon18["connect_rate_low"], mon18["connect_rate_high"]) == pytest.approx(
        (0.4038, 0.5962), abs=5e-5
    )
    assert mon18["conversion__n"] == 50
    assert (mon18["conversion_low"], mon18["conversion_high"]) == pytest.approx(
        (0.1910, 0.4375), abs=5e-5
    )
    mon10 = rows[("Mon", 10)]
    # 20 of 40 -> (0.3520, 0.6480); 5 of 20 -> (0.1119, 0.4687)
    assert (mon10["connect_rate_low"], mon10["connect_rate_high"]) == pytest.approx(
        (0.3520, 0.6480), abs=5e-5
    )
    assert (mon10["conversion_low"], mon10["conversion_high"]) == pytest.approx(
        (0.1119, 0.4687), abs=5e-5
    )
    # 0 of 12 -> (0, 0.2425)
    assert (rows[("Tue", 11)]["conversion_low"], rows[("Tue", 11)]["conversion_high"]) == (
        pytest.approx((0.0, 0.2425), abs=5e-5)
    )
    assert {k: r["note"] for k, r in rows.items()} == {
        ("Mon", 10): "too few to rank (20 connects < 30) for conversion",
        ("Mon", 18): None,
        ("Tue", 11): "too few to rank (12 connects < 30) for conversion",
        ("Wed", 9): "too few to rank (10 dials < 30)",
        ("Thu", 1): "too few to rank (1 dials < 30)",
    }


def test_reading(dialer: Warehouse) -> None:
    assert best_time(dialer, OCTOBER, MOSCOW).reading == (
        "In 2026-10 (Europe/Moscow) 211 dials reached a person 43.1 % of the time, and "
        "23.1 % of the connects ended in a sale (disposition sale). Best hours to reach "
        "people: Mon 18-19 h (50.0 %, n=100), Mon 10-11 h (50.0 %, n=40) and Tue 11-12 h "
        "(20.0 %, n=60); none clearly above the average: the differences may be chance. "
        "Best hours to sell once connected: Mon 18-19 h (30.0 %, n=50); none clearly above "
        "the average: the differences may be chance. 2 hours had fewer than 30 dials, too "
        "few to rank."
    )


def test_sale_dispositions_campaign_and_time_zone(dialer: Warehouse) -> None:
    both = best_time(dialer, OCTOBER, MOSCOW, sale_dispositions=("sale", "order"))
    assert both.center["deals"] == 23
    assert [r["deals"] for r in both.rows] == [5, 15, 2, 1, 0]
    assert best_time(dialer, OCTOBER, MOSCOW, campaign="beta").rows == []
    utc = best_time(dialer, OCTOBER, "UTC")
    # In UTC the Monday cells are 07 and 15 h, and 30 September is outside October.
    assert [(r["day"], r["hour_of_day"]) for r in utc.rows] == [
        ("Mon", 7),
        ("Mon", 15),
        ("Tue", 8),
        ("Wed", 6),
    ]
    assert utc.center["dials"] == 210
