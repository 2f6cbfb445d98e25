"""Every inbound KPI of the catalog, checked against values computed by hand.

One small contact center (below) is loaded into a real DuckDB warehouse; each KPI's value
is worked out in the comment next to its literal from the rows listed here, never by
asking another engine function. Engine disagreements with a KPI's written definition are
strict xfails whose reason starts with ``BUG:``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callkpi.kpi import KpiQuery, builtin_catalog, run_query
from callkpi.kpi.definitions import ParamValue
from callkpi.store import Warehouse, arrow_rows

D = dt.datetime
DAY = D(2026, 10, 6)  # a Tuesday; all times are UTC unless a test says otherwise
START, END = D(2026, 10, 1), D(2026, 12, 1)  # 61 days = 5_270_400 s


def _at(hour: int, minute: int) -> dt.datetime:
    return DAY.replace(hour=hour, minute=minute)


def _call(
    call_id: str,
    entered: dt.datetime,
    outcome: str,
    queue: str | None = "support",
    *,
    agent: str | None = None,
    wait_s: float | None = None,
    talk_s: float | None = None,
    hold_s: float | None = None,
    acw_s: float | None = None,
    customer_id: str | None = None,
    caller: str | None = None,
    transferred: bool = False,
    escalated: bool | None = None,
    resolved: bool | None = None,
    segment: int = 1,
    direction: str = "in",
) -> dict[str, object]:
    return {
        "call_id": call_id,
        "segment": segment,
        "direction": direction,
        "queue": queue,
        "agent": agent,
        "customer_id": customer_id,
        "caller": caller,
        "entered_at": entered,
        "outcome": outcome,
        "wait_s": wait_s,
        "talk_s": talk_s,
        "hold_s": hold_s,
        "acw_s": acw_s,
        "transferred": transferred,
        "escalated": escalated,
        "resolved": resolved,
        "source": "test",
        "source_ref": f"{call_id}/{segment}",
    }


def _step(
    call_id: str,
    seq: int,
    node: str,
    option: str | None,
    at: dt.datetime,
    result: str | None = None,
) -> dict[str, object]:
    return {
        "call_id": call_id,
        "seq": seq,
        "node": node,
        "option": option,
        "at": at,
        "result": result,
        "source": "test",
        "source_ref": f"{call_id}:{seq}",
    }


def _load(wh: Warehouse, table: str, rows: list[dict[str, object]]) -> None:
    with wh.transaction():
        wh.load(table, arrow_rows(table, rows))


# The center. w = wait, t/h/a = talk/hold/acw seconds, cust = customer id, esc/res = escalated,
# resolved. A "-" is NULL.
#
#  row  queue    entered (UTC)   outcome      agent  w    t    h   a   cust  transf esc res
#  s1   support  10-06 09:05     answered     A1     10   300  20  40  C1    -      F   T
#  s2   support  10-06 09:12     answered     A2     25   200  0   30  C2    yes    T   F
#  s2/2 sales    10-06 09:16     answered     A3     5    100  10  10  C2    -      F   T  (leg 2)
#  s3   support  10-06 09:20     abandoned    -      3                 (caller +4930111)
#  b2   sales    10-06 09:35     answered     A2     12   180  0   60  C5    -      F   T
#  s4   support  10-06 09:40     abandoned    -      40
#  s5   support  10-06 09:50     answered     A1     15   120  -   -   C3    -      -   -
#  s6   support  10-06 10:05     timed_out    -      300
#  s7   support  10-06 10:35     answered     A3     60   400  60  20  C1    -      F   T  (again)
#  s8   support  10-06 10:40     exited_key   -      30
#  s9   support  10-06 10:50     abandoned    -      8
#  s10  support  10-06 11:10     blocked      -      0
#  s11  support  10-06 11:15     overflowed   -      0
#  s13  support  10-06 12:00     in_progress  -      -
#  p1   billing  10-06 12:30     in_progress  -      -                       (billing: only this)
#  d1   (none)   10-06 13:00     answered     A1     -    90           C9    (direct, not queued)
#  b4   sales    10-06 15:00     failed       -      0
#  b5   sales    10-06 15:10     answered     A1     18   240  30  30  C6    -      F   F
#  o1   sales    10-06 16:10     answered out A1     -    500          C6    (outbound callback)
#  s12  support  10-06 23:40     closed       -      0
#  b3   sales    10-09 14:00     abandoned    -      20                C5    (C5 again, 3.18 d)
#  b6   sales    11-02 10:00     answered     A2     22   150  0   30  -     -      T   -
#
# Offered (inbound, queued, final outcome): support s1-s12 = 12, sales s2/2 b2 b3 b4 b5 b6 = 6,
# billing 0; 18 in all. Answered: s1 s2 s5 s7 s2/2 b2 b5 b6 = 8 (d1 has no queue).
# Waits of the 18 offered, sorted: 0 0 0 0 3 5 8 10 12 15 18 20 22 25 30 40 60 300 (sum 568).
# Handle time of the answered (null parts as 0): s1 360, s2 230, s5 120, s7 480, s2/2 120,
# b2 240, b5 300, b6 180 = 2030 (talk 1690, hold 120, acw 220).
CALLS = [
    _call("s1", _at(9, 5), "answered", agent="A1", wait_s=10, talk_s=300, hold_s=20, acw_s=40,
          customer_id="C1", escalated=False, resolved=True),
    _call("s2", _at(9, 12), "answered", agent="A2", wait_s=25, talk_s=200, hold_s=0, acw_s=30,
          customer_id="C2", transferred=True, escalated=True, resolved=False),
    _call("s2", _at(9, 16), "answered", "sales", agent="A3", wait_s=5, talk_s=100, hold_s=10,
          acw_s=10, customer_id="C2", escalated=False, resolved=True, segment=2),
    _call("s3", _at(9, 20), "abandoned", wait_s=3, caller="+4930111"),
    _call("b2", _at(9, 35), "answered", "sales", agent="A2", wait_s=12, talk_s=180, hold_s=0,
          acw_s=60, customer_id="C5", escalated=False, resolved=True),
    _call("s4", _at(9, 40), "abandoned", wait_s=40),
    _call("s5", _at(9, 50), "answered", agent="A1", wait_s=15, talk_s=120, customer_id="C3"),
    _call("s6", _at(10, 5), "timed_out", wait_s=300),
    _call("s7", _at(10, 35), "answered", agent="A3", wait_s=60, talk_s=400, hold_s=60, acw_s=20,
          customer_id="C1", escalated=False, resolved=True),
    _call("s8", _at(10, 40), "exited_key", wait_s=30),
    _call("s9", _at(10, 50), "abandoned", wait_s=8),
    _call("s10", _at(11, 10), "blocked", wait_s=0),
    _call("s11", _at(11, 15), "overflowed", wait_s=0),
    _call("s13", _at(12, 0), "in_progress"),
    _call("p1", _at(12, 30), "in_progress", "billing"),
    _call("d1", _at(13, 0), "answered", None, agent="A1", talk_s=90, customer_id="C9"),
    _call("b4", _at(15, 0), "failed", "sales", wait_s=0),
    _call("b5", _at(15, 10), "answered", "sales", agent="A1", wait_s=18, talk_s=240, hold_s=30,
          acw_s=30, customer_id="C6", escalated=False, resolved=False),
    _call("o1", _at(16, 10), "answered", "sales", agent="A1", talk_s=500, customer_id="C6",
          direction="out"),
    _call("s12", _at(23, 40), "closed", wait_s=0),
    _call("b3", D(2026, 10, 9, 14, 0), "abandoned", "sales", wait_s=20, customer_id="C5"),
    _call("b6", D(2026, 11, 2, 10, 0), "answered", "sales", agent="A2", wait_s=22, talk_s=150,
          hold_s=0, acw_s=30, escalated=True),
]  # fmt: skip

# Six calls through the IVR, 08:00-08:51 on 10-06; the last step of each carries the result.
# Option picks: main 1,2,1,3,2 (one caller hung up without choosing), billing_menu 2,1.
IVR_STEPS = [
    _step("i1", 1, "main", "1", _at(8, 0)),
    _step("i1", 2, "billing_menu", "2", _at(8, 1), "self_served"),
    _step("i2", 1, "main", "2", _at(8, 10), "to_queue"),
    _step("i3", 1, "main", None, _at(8, 20), "hung_up"),
    _step("i4", 1, "main", "1", _at(8, 30)),
    _step("i4", 2, "billing_menu", "1", _at(8, 31), "to_queue"),
    _step("i5", 1, "main", "3", _at(8, 40), "self_served"),
    _step("i6", 1, "main", "2", _at(8, 50), "to_queue"),
]

AGENTS: list[dict[str, object]] = [
    {"agent": "A1", "team": "red", "source": "test"},
    {"agent": "A2", "team": "red", "source": "test"},
    {"agent": "A3", "team": "blue", "source": "test"},
]


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """Read-only for every test of the module, so it is built once."""
    warehouse = Warehouse(Path(tmp_path_factory.mktemp("inbound")) / "center.duckdb")
    _load(warehouse, "calls", CALLS)
    _load(warehouse, "ivr_steps", IVR_STEPS)
    _load(warehouse, "agents", AGENTS)
    yield warehouse
    warehouse.close()


def _rows(wh: Warehouse, *kpis: str, **options: Any) -> list[dict[str, Any]]:
    return run_query(wh, KpiQuery(kpis=kpis, **options)).rows


def _approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-12)


def _bug(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"BUG: {reason}")


SL = "service_level_denominator"

# (KPI id, parameters, value over the whole center from START to END, grain all).
CASES: list[tuple[str, dict[str, ParamValue], Any]] = [
    ("offered", {}, 18),  # 12 support + 6 sales; in progress, outbound, direct left out
    ("answered", {}, 8),  # s1 s2 s5 s7 s2/2 b2 b5 b6
    ("abandoned", {}, 4),  # s3 s4 s9 b3, the short one included
    ("short_abandoned", {}, 1),  # s3 (3 s < 5 s)
    ("timed_out", {}, 1),  # s6
    ("exited_key", {}, 1),  # s8
    ("blocked", {}, 1),  # s10
    ("overflowed", {}, 1),  # s11
    ("closed", {}, 1),  # s12
    ("answer_rate", {}, _approx(8 / 18)),  # 8 answered of 18 offered
    ("abandon_rate", {}, _approx(3 / 17)),  # (4 abandoned - 1 short) / (18 - 1)
    # answered with wait <= 20: s1 10, s5 15, s2/2 5, b2 12, b5 18 = 5 (s2 25, s7 60, b6 22 not)
    ("service_level", {}, _approx(5 / 17)),  # 5 / (18 offered - 1 short)
    ("service_level", {SL: "offered"}, _approx(5 / 17)),  # the default, named
    ("service_level", {SL: "answered"}, 5 / 8),  # 5 within 20 s of 8 answered
    # abandoned with wait <= 20: s3 3, s9 8, b3 20 = 3 (s4 40 not): (5 + 3) / (8 + 4)
    ("service_level", {SL: "answered_and_abandoned"}, _approx(8 / 12)),
    ("asa", {}, 167 / 8),  # waits 10+25+15+60+5+12+18+22 = 167 over 8 answered
    ("avg_wait", {}, _approx(568 / 18)),  # sum of the 18 offered waits / 18
    ("avg_abandon_wait", {}, 71 / 4),  # (3 + 40 + 8 + 20) / 4
    ("max_wait", {}, 300.0),  # s6 timed out after 300 s
    # 18 sorted waits, position 0.9 * (18 - 1) = 15.3: 40 + 0.3 * (60 - 40)
    ("p90_wait", {}, _approx(46.0)),
    ("aht", {}, 2030 / 8),  # (1690 talk + 120 hold + 220 acw) / 8 answered = 253.75
    ("avg_talk", {}, 1690 / 8),  # 300+200+120+400+100+180+240+150 = 1690
    ("avg_hold", {}, 120 / 8),  # 20+0+0+60+10+0+30+0 (s5's null hold as 0)
    ("avg_acw", {}, 220 / 8),  # 40+30+0+20+10+60+30+30
    ("transfer_rate", {}, 1 / 8),  # s2 of 8 answered
    ("escalation_rate", {}, 2 / 8),  # s2 and b6 of 8 answered
    # Answered with a known customer: s1 C1, s2 C2, s2/2 C2, s5 C3, s7 C1, b2 C5, b5 C6 = 7
    # (b6 has none). Called again within 7 days: s1 (C1 at 10:35, s7), b2 (C5 3.18 days
    # later, b3). s2 is followed only by its own transfer leg; b5 only by an outbound call.
    ("repeat_contact_rate", {}, _approx(2 / 7)),
    ("fcr", {}, _approx(5 / 7)),  # 1 - 2/7
    # dispositions known on s1 s2 s7 s2/2 b2 b5 (6); resolved s1 s7 s2/2 b2 (4)
    ("resolution_rate", {}, _approx(4 / 6)),
    ("blocked_rate", {}, _approx(1 / 18)),  # s10 of 18 offered
    # 18 offered over 5_270_400 s / 1800 s = 2928 half hours
    ("calls_per_interval", {}, _approx(18 / 2928)),
    ("calls_per_interval", {"interval_s": 3600}, _approx(18 / 1464)),  # per hour: 1464 hours
    # 30-min intervals: 10-06 09:00 s1 s2 s2/2 s3 = 4; 09:30 3; 10:30 3; others fewer
    ("peak_interval_calls", {}, 4),
    ("ivr_containment", {}, _approx(2 / 6)),  # i1 i5 self-served of 6 IVR calls
    ("ivr_abandon_rate", {}, _approx(1 / 6)),  # i3 hung up of 6
    ("ivr_option_share", {}, 1.0),  # not cut by option: all 7 picks of all 7 picks
]


KNOWN_BUGS: dict[str, str] = {}  # kpi id -> the engine bug its case is an xfail for


def _param(kpi_id: str, params: dict[str, ParamValue], expected: Any) -> Any:
    bug = KNOWN_BUGS.get(kpi_id)
    return pytest.param(
        kpi_id,
        params,
        expected,
        id="-".join([kpi_id, *map(str, params.values())]),
        marks=_bug(bug) if bug else (),
    )


@pytest.mark.parametrize(("kpi_id", "params", "expected"), [_param(*case) for case in CASES])
def test_inbound_kpi_by_hand(
    center: Warehouse, kpi_id: str, params: dict[str, ParamValue], expected: Any
) -> None:
    rows = _rows(center, kpi_id, start=START, end=END, params=params)
    assert rows == [{kpi_id: expected}]


def test_every_inbound_kpi_has_a_hand_test() -> None:
    inbound = {kpi.id for kpi in builtin_catalog() if kpi.category == "inbound"}
    covered = {kpi_id for kpi_id, _, _ in CASES}
    assert inbound - covered == set(), "write a hand test for the new inbound KPIs"
    assert covered - inbound == set()
    variants = {p[SL] for kpi_id, p, _ in CASES if kpi_id == "service_level" and p}
    assert variants == set(builtin_catalog()["service_level"].variants)


def test_ivr_option_share_by_option(center: Warehouse) -> None:
    assert _rows(center, "ivr_option_share", by=("option",)) == [
        {"option": "1", "ivr_option_share": _approx(3 / 7)},  # main 1 twice, billing_menu 1
        {"option": "2", "ivr_option_share": _approx(3 / 7)},  # main 2 twice, billing_menu 2
        {"option": "3", "ivr_option_share": _approx(1 / 7)},  # main 3
    ]
    assert _rows(center, "ivr_option_share", by=("node", "option")) == [
        {"node": "billing_menu", "option": "1", "ivr_option_share": 0.5},  # 1 of 2 picks
        {"node": "billing_menu", "option": "2", "ivr_option_share": 0.5},
        {"node": "main", "option": "1", "ivr_option_share": _approx(2 / 5)},  # of 5 picks
        {"node": "main", "option": "2", "ivr_option_share": _approx(2 / 5)},
        {"node": "main", "option": "3", "ivr_option_share": _approx(1 / 5)},
    ]


def test_short_abandon_s_moves_abandons_out_of_the_rate(center: Warehouse) -> None:
    kpis = ("short_abandoned", "abandon_rate", "service_level")
    # "less than": s9 waited exactly 8 s, so it is not short at 8 but is at 10.
    assert _rows(center, *kpis, params={"short_abandon_s": 8}) == [
        {
            "short_abandoned": 1,  # s3
            "abandon_rate": _approx(3 / 17),  # (4 - 1) / (18 - 1)
            "service_level": _approx(5 / 17),
        }
    ]
    assert _rows(center, *kpis, params={"short_abandon_s": 10}) == [
        {
            "short_abandoned": 2,  # s3 3 s, s9 8 s
            "abandon_rate": 2 / 16,  # (4 - 2) / (18 - 2)
            "service_level": 5 / 16,  # 5 within 20 s / (18 - 2)
        }
    ]
    assert _rows(center, "short_abandoned", "abandon_rate", params={"short_abandon_s": 0}) == [
        {"short_abandoned": 0, "abandon_rate": _approx(4 / 18)}  # every abandon counts
    ]


def test_answer_threshold_s_is_inclusive(center: Warehouse) -> None:
    def level(threshold: float, denominator: str) -> Any:
        params = {"answer_threshold_s": threshold, SL: denominator}
        return _rows(center, "service_level", params=params)[0]["service_level"]

    # answered waits: 5 10 12 15 18 22 25 60; abandoned waits: 3 8 20 40
    assert level(25, "offered") == _approx(7 / 17)  # 25 s itself is within
    assert level(10, "offered") == _approx(2 / 17)  # s2/2 5, s1 10
    assert level(10, "answered") == 2 / 8
    assert level(10, "answered_and_abandoned") == _approx(4 / 12)  # 2 answered + s3, s9
    assert level(300, "answered") == 1.0


def test_repeat_window_days(center: Warehouse) -> None:
    # Sales, answered with a known customer: s2/2 (C2, never again), b2 (C5, again 3.18 days
    # later in b3), b5 (C6, only called back by the center: outbound does not count).
    sales = {"where": (("queue", "sales"),)}
    assert _rows(center, "repeat_contact_rate", "fcr", **sales) == [
        {"repeat_contact_rate": _approx(1 / 3), "fcr": _approx(2 / 3)}
    ]
    three_days = {"repeat_window_days": 3}  # b3 came 3.18 days after b2: too late
    assert _rows(center, "repeat_contact_rate", "fcr", params=three_days, **sales) == [
        {"repeat_contact_rate": 0.0, "fcr": 1.0}
    ]
    assert _rows(center, "repeat_contact_rate", params={"repeat_window_days": 3.2}, **sales) == [
        {"repeat_contact_rate": _approx(1 / 3)}
    ]


def test_a_transfer_leg_is_not_a_repeat_contact(wh: Warehouse) -> None:
    # One call, answered in support and transferred to sales: the customer called once.
    _load(
        wh,
        "calls",
        [
            _call("t1", _at(9, 0), "answered", agent="A1", wait_s=5, customer_id="C1",
                  transferred=True),
            _call("t1", _at(9, 3), "answered", "sales", agent="A2", wait_s=5,
                  customer_id="C1", segment=2),
        ],
    )  # fmt: skip
    assert _rows(wh, "repeat_contact_rate", "fcr") == [{"repeat_contact_rate": 0.0, "fcr": 1.0}]


def test_abandon_without_a_wait_is_not_short(wh: Warehouse) -> None:
    # Written formula: (abandoned - short_abandoned) / (offered - short_abandoned).
    _load(
        wh,
        "calls",
        [
            _call("n1", _at(9, 0), "abandoned"),  # a source that records no wait
            _call("n2", _at(9, 1), "abandoned", wait_s=2),
            _call("n3", _at(9, 2), "answered", wait_s=4),
        ],
    )
    assert _rows(wh, "abandoned", "short_abandoned", "abandon_rate") == [
        {"abandoned": 2, "short_abandoned": 1, "abandon_rate": 0.5}  # (2 - 1) / (3 - 1)
    ]


NULL_WHEN_NO_CALLS = (
    "answer_rate", "abandon_rate", "service_level", "asa", "avg_wait", "avg_abandon_wait",
    "max_wait", "p90_wait", "aht", "avg_talk", "avg_hold", "avg_acw", "transfer_rate",
    "escalation_rate", "repeat_contact_rate", "fcr", "resolution_rate", "blocked_rate",
)  # fmt: skip
ZERO_WHEN_NO_CALLS = (
    "offered", "answered", "abandoned", "short_abandoned", "timed_out", "exited_key",
    "blocked", "overflowed", "closed", "peak_interval_calls",
)  # fmt: skip


@pytest.mark.parametrize(
    "where", [(("queue", "billing"),), (("queue", "no_such_queue"),)], ids=["in_progress", "none"]
)
def test_zero_denominators_give_null(center: Warehouse, where: tuple[tuple[str, str]]) -> None:
    # billing has only the in-progress p1: nothing offered, answered or abandoned.
    kpis = (*ZERO_WHEN_NO_CALLS, *NULL_WHEN_NO_CALLS, "calls_per_interval")
    expected = {
        **dict.fromkeys(ZERO_WHEN_NO_CALLS, 0),
        **dict.fromkeys(NULL_WHEN_NO_CALLS, None),
        "calls_per_interval": 0.0,
    }
    assert _rows(center, *kpis, start=START, end=END, where=where) == [expected]
    for denominator in ("answered", "answered_and_abandoned"):
        params = {SL: denominator}
        assert _rows(center, "service_level", where=where, params=params) == [
            {"service_level": None}
        ]
    ivr = _rows(center, "ivr_containment", "ivr_abandon_rate", where=(("node", "nope"),))
    assert ivr == [{"ivr_containment": None, "ivr_abandon_rate": None}]


ROLL_UP_KPIS = ("offered", "answered", "answer_rate")
# (queue, period_start, offered, answered, answer_rate) per grain, UTC.
ROLL_UPS = {
    "30min": [
        ("sales", "2026-10-06T09:00:00+00:00", 1, 1, 1.0),  # s2/2
        ("support", "2026-10-06T09:00:00+00:00", 3, 2, 2 / 3),  # s1 s2 s3
        ("sales", "2026-10-06T09:30:00+00:00", 1, 1, 1.0),  # b2
        ("support", "2026-10-06T09:30:00+00:00", 2, 1, 0.5),  # s4 s5
        ("support", "2026-10-06T10:00:00+00:00", 1, 0, 0.0),  # s6
        ("support", "2026-10-06T10:30:00+00:00", 3, 1, 1 / 3),  # s7 s8 s9
        ("support", "2026-10-06T11:00:00+00:00", 2, 0, 0.0),  # s10 s11
        ("support", "2026-10-06T12:00:00+00:00", 0, 0, None),  # s13 in progress
        ("billing", "2026-10-06T12:30:00+00:00", 0, 0, None),  # p1 in progress
        ("sales", "2026-10-06T15:00:00+00:00", 2, 1, 0.5),  # b4 b5
        ("support", "2026-10-06T23:30:00+00:00", 1, 0, 0.0),  # s12
        ("sales", "2026-10-09T14:00:00+00:00", 1, 0, 0.0),  # b3
        ("sales", "2026-11-02T10:00:00+00:00", 1, 1, 1.0),  # b6
    ],
    "hour": [
        ("sales", "2026-10-06T09:00:00+00:00", 2, 2, 1.0),  # s2/2 b2
        ("support", "2026-10-06T09:00:00+00:00", 5, 3, 3 / 5),  # s1 .. s5
        ("support", "2026-10-06T10:00:00+00:00", 4, 1, 1 / 4),  # s6 .. s9
        ("support", "2026-10-06T11:00:00+00:00", 2, 0, 0.0),
        ("billing", "2026-10-06T12:00:00+00:00", 0, 0, None),
        ("support", "2026-10-06T12:00:00+00:00", 0, 0, None),
        ("sales", "2026-10-06T15:00:00+00:00", 2, 1, 0.5),
        ("support", "2026-10-06T23:00:00+00:00", 1, 0, 0.0),
        ("sales", "2026-10-09T14:00:00+00:00", 1, 0, 0.0),
        ("sales", "2026-11-02T10:00:00+00:00", 1, 1, 1.0),
    ],
    "day": [
        ("billing", "2026-10-06T00:00:00+00:00", 0, 0, None),
        ("sales", "2026-10-06T00:00:00+00:00", 4, 3, 3 / 4),  # s2/2 b2 b4 b5
        ("support", "2026-10-06T00:00:00+00:00", 12, 4, 4 / 12),  # 3+2+1+3+2+0+1, 2+1+0+1
        ("sales", "2026-10-09T00:00:00+00:00", 1, 0, 0.0),
        ("sales", "2026-11-02T00:00:00+00:00", 1, 1, 1.0),
    ],
    "month": [
        ("billing", "2026-10-01T00:00:00+00:00", 0, 0, None),
        ("sales", "2026-10-01T00:00:00+00:00", 5, 3, 3 / 5),
        ("support", "2026-10-01T00:00:00+00:00", 12, 4, 4 / 12),
        ("sales", "2026-11-01T00:00:00+00:00", 1, 1, 1.0),
    ],
}


@pytest.mark.parametrize("grain", list(ROLL_UPS))
def test_roll_up_by_queue_and_grain(center: Warehouse, grain: str) -> None:
    rows = _rows(center, *ROLL_UP_KPIS, by=("queue",), grain=grain)
    assert [tuple(row.values()) for row in rows] == [
        (*row[:4], None if row[4] is None else _approx(row[4])) for row in ROLL_UPS[grain]
    ]


def test_day_ratio_divides_the_sums_of_the_30_minute_rows(center: Warehouse) -> None:
    def support_on_day(grain: str) -> list[dict[str, Any]]:
        rows = _rows(center, *ROLL_UP_KPIS, by=("queue",), grain=grain)
        return [r for r in rows if r["queue"] == "support" and r["period_start"] < "2026-10-07"]

    halves = support_on_day("30min")
    (day,) = support_on_day("day")
    answered, offered = sum(r["answered"] for r in halves), sum(r["offered"] for r in halves)
    assert (answered, offered) == (4, 12)
    assert day["answer_rate"] == _approx(answered / offered)
    ratios = [r["answer_rate"] for r in halves if r["answer_rate"] is not None]
    # the average of the ratios, (2/3 + 1/2 + 0 + 1/3 + 0 + 0) / 6 = 0.25, is not the answer
    assert sum(ratios) / len(ratios) == _approx(0.25)
    assert day["answer_rate"] != _approx(0.25)


def test_by_team_adds_up_the_agents(center: Warehouse) -> None:
    kpis = ("offered", "answered", "aht", "transfer_rate")
    by_agent = _rows(center, *kpis, by=("agent",))
    assert by_agent == [
        # A1: s1 360, s5 120, b5 300 (d1 is not queued, o1 is outbound)
        {"agent": "A1", "offered": 3, "answered": 3, "aht": 260.0, "transfer_rate": 0.0},
        # A2: s2 230 (transferred), b2 240, b6 180
        {"agent": "A2", "offered": 3, "answered": 3, "aht": _approx(650 / 3),
         "transfer_rate": _approx(1 / 3)},
        {"agent": "A3", "offered": 2, "answered": 2, "aht": 300.0, "transfer_rate": 0.0},
        # the 10 visits nobody answered; no answered call: no AHT
        {"agent": None, "offered": 10, "answered": 0, "aht": None, "transfer_rate": None},
    ]  # fmt: skip
    by_team = _rows(center, *kpis, by=("team",))
    assert by_team == [
        {"team": "blue", "offered": 2, "answered": 2, "aht": 300.0, "transfer_rate": 0.0},
        # red = A1 + A2: (780 + 650) / 6, 1 transfer of 6
        {"team": "red", "offered": 6, "answered": 6, "aht": _approx(1430 / 6),
         "transfer_rate": _approx(1 / 6)},
        {"team": None, "offered": 10, "answered": 0, "aht": None, "transfer_rate": None},
    ]  # fmt: skip
    team_of = {"A1": "red", "A2": "red", "A3": "blue", None: None}
    for team in ("red", "blue", None):
        (row,) = [r for r in by_team if r["team"] == team]
        agents = [r for r in by_agent if team_of[r["agent"]] == team]
        for count in ("offered", "answered"):
            assert row[count] == sum(r[count] for r in agents)
    assert _rows(center, "answered", where=(("team", "red"),)) == [{"answered": 6}]


def test_dst_fall_back_in_berlin(wh: Warehouse) -> None:
    # 2026-10-25 03:00 CEST (+02:00) falls back to 02:00 CET (+01:00) at 01:00 UTC.
    _load(
        wh,
        "calls",
        [
            _call("x1", D(2026, 10, 24, 21, 50), "answered", wait_s=10),  # 10-24 23:50 +02
            _call("x2", D(2026, 10, 24, 22, 10), "abandoned", wait_s=30),  # 10-25 00:10 +02
            _call("x3", D(2026, 10, 25, 0, 20), "answered", wait_s=10),  # 02:20 +02
            _call("x4", D(2026, 10, 25, 0, 25), "abandoned", wait_s=40),  # 02:25 +02
            _call("x5", D(2026, 10, 25, 1, 10), "answered", wait_s=30),  # 02:10 +01
            _call("x6", D(2026, 10, 25, 1, 20), "answered", wait_s=5),  # 02:20 +01
            _call("x7", D(2026, 10, 25, 1, 25), "abandoned", wait_s=50),  # 02:25 +01
            _call("x8", D(2026, 10, 25, 22, 59), "answered", wait_s=15),  # 23:59 +01
            _call("x9", D(2026, 10, 25, 23, 0), "answered", wait_s=15),  # 10-26 00:00 +01
        ],
    )
    berlin = {"tz": "Europe/Berlin", "start": D(2026, 10, 24), "end": D(2026, 10, 27)}
    kpis = ("offered", "answered", "calls_per_interval", "peak_interval_calls")
    hours = _rows(wh, *kpis, grain="hour", **berlin)
    assert [tuple(r.values()) for r in hours] == [
        # period_start, offered, answered, offered per half hour, busiest half hour
        ("2026-10-24T23:00:00+02:00", 1, 1, 0.5, 1),
        ("2026-10-25T00:00:00+02:00", 1, 0, 0.5, 1),
        ("2026-10-25T02:00:00+02:00", 2, 1, 1.0, 2),  # x3 x4
        ("2026-10-25T02:00:00+01:00", 3, 2, 1.5, 3),  # x5 x6 x7: the repeated hour
        ("2026-10-25T23:00:00+01:00", 1, 1, 0.5, 1),
        ("2026-10-26T00:00:00+01:00", 1, 1, 0.5, 1),
    ]
    halves = _rows(wh, "offered", "peak_interval_calls", grain="30min", **berlin)
    # at the interval's own grain the busiest interval of a bucket is the bucket
    assert [r["peak_interval_calls"] for r in halves] == [r["offered"] for r in halves]
    assert sum(r["offered"] for r in halves) == 9
    days = _rows(wh, *kpis, "answer_rate", grain="day", **berlin)
    assert [tuple(r.values()) for r in days] == [
        ("2026-10-24T00:00:00+02:00", 1, 1, _approx(1800 / 86400), 1, 1.0),
        # a 25-hour day: 7 offered * 1800 / 90000; busiest half hour 02:00+01:00 (3), not
        # the two 02:00 half hours merged (5)
        ("2026-10-25T00:00:00+02:00", 7, 4, _approx(0.14), 3, _approx(4 / 7)),
        ("2026-10-26T00:00:00+01:00", 1, 1, _approx(1800 / 86400), 1, 1.0),
    ]
    # the whole range: 3 days + 1 hour = 262_800 s
    assert _rows(wh, "offered", "calls_per_interval", **berlin) == [
        {"offered": 9, "calls_per_interval": _approx(9 * 1800 / 262_800)}
    ]
