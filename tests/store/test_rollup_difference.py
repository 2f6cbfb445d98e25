"""The coarser roll-up levels, updated by each change's difference (old 15-minute rows out,
new ones in), stay exactly what a full rebuild gives, through any sequence of loads,
replacements and deletions: the longest wait when its call goes, a sum whose last value
goes (NULL again), a row whose last call goes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from callkpi.model import ROLLUP_LEVELS
from callkpi.store import Warehouse, arrow_rows, rollup

START = dt.datetime(2026, 10, 1, 22)
LEVELS = tuple(level.table for level in ROLLUP_LEVELS)

# Values exact in binary (halves): sums are then exact in any order, as in a rebuild.
seconds = st.one_of(st.none(), st.integers(0, 9).map(lambda k: k / 2))
row = st.fixed_dictionaries(
    {
        "call": st.integers(0, 9),
        "segment": st.integers(1, 2),
        # 22:00 to 02:00 over two UTC days, a few quarter hours and hours each
        "at": st.integers(0, 16).map(lambda k: START + dt.timedelta(minutes=14 * k)),
        "agent": st.sampled_from(["a1", "a2", None]),
        "queue": st.sampled_from(["q1", "q2"]),
        "wrap_code": st.sampled_from(["w1", None]),
        "outcome": st.sampled_from(["answered", "abandoned"]),
        "customer_id": st.sampled_from([None, "k1"]),
        "wait_s": seconds,
        "talk_s": seconds,
        "hold_s": seconds,
        "acw_s": seconds,
        "transferred": st.sampled_from([False, True]),
        "resolved": st.sampled_from([None, False, True]),
    }
)
steps = st.lists(
    st.tuples(
        st.lists(row, max_size=6),
        st.lists(st.tuples(st.integers(0, 9), st.integers(1, 2)), max_size=2),
    ),
    min_size=1,
    max_size=6,
)


def _calls_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in r.items() if k not in ("call", "at")},
        "call_id": f"c{r['call']}",
        "entered_at": r["at"],
        "direction": "in",
        "tenant": "t1",
        "source": "test",
    }


def _load(wh: Warehouse, rows: list[dict[str, Any]]) -> None:
    with wh.transaction():
        wh.load("calls", arrow_rows("calls", rows))


def _delete(wh: Warehouse, keys: list[tuple[str, int]]) -> None:
    """Delete calls rows and refresh the quarter hours of their calls (the writers' way)."""
    with wh.transaction() as con:
        con.execute("CREATE OR REPLACE TEMP TABLE gone (call_id VARCHAR, segment INTEGER)")
        for call, segment in keys:
            con.execute("INSERT INTO gone VALUES (?, ?)", [call, segment])
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE old_b AS SELECT {rollup.buckets_of('entered_at')} "
            "AS b FROM calls WHERE call_id IN (SELECT call_id FROM gone)"
        )
        con.execute(
            "DELETE FROM calls WHERE (call_id, segment) IN (SELECT (call_id, segment) FROM gone)"
        )
        rollup.refresh(con, "SELECT b FROM old_b")


def _levels(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {level: wh.sql(f"SELECT * FROM {level} ORDER BY ALL") for level in LEVELS}


def _same_as_rebuild(wh: Warehouse) -> None:
    kept = _levels(wh)
    few = rollup.FEW_BUCKETS
    rollup.FEW_BUCKETS = 0  # the rebuild joins its quarter hours, never takes them as a list
    try:
        with wh.transaction() as con:
            rollup.rebuild(con)
    finally:
        rollup.FEW_BUCKETS = few
    rebuilt = _levels(wh)
    for level in LEVELS:
        assert kept[level] == rebuilt[level], level


# Examples are slow (a warehouse each); no shrinking (a failure prints its example).
_PROPERTY = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@settings(_PROPERTY, max_examples=60)
@given(steps=steps, difference=st.booleans(), few=st.booleans())
def test_every_level_equals_a_rebuild_after_any_changes(
    steps: list[tuple[list[dict[str, Any]], list[tuple[int, int]]]], difference: bool, few: bool
) -> None:
    """Both ways of following a change: the day levels by the difference always, or never
    (recomputing the buckets concerned); and both ways of naming the changed quarter
    hours in the statements: as a list parameter (few), or by a join."""
    kept = rollup.DIFFERENCE_BELOW, rollup.FEW_BUCKETS
    rollup.DIFFERENCE_BELOW = 2.0 if difference else 0.0
    rollup.FEW_BUCKETS = 64 if few else 0
    try:
        _check_steps(steps)
    finally:
        rollup.DIFFERENCE_BELOW, rollup.FEW_BUCKETS = kept


def _check_steps(steps: list[tuple[list[dict[str, Any]], list[tuple[int, int]]]]) -> None:
    with Warehouse(":memory:") as wh:
        for rows, deleted in steps:
            if rows:
                _load(wh, [_calls_row(r) for r in rows])
            if deleted:
                _delete(wh, [(f"c{c}", s) for c, s in deleted])
            # compared after every step: the next step starts from the rebuilt state,
            # which is the same when the difference was right
            _same_as_rebuild(wh)


def _call(call_id: str, minute: int, **values: Any) -> dict[str, Any]:
    base = {"agent": "a1", "queue": "q1", "wrap_code": None, "outcome": "answered"}
    base |= {"customer_id": None, "wait_s": None, "talk_s": None, "hold_s": None}
    base |= {"acw_s": None, "transferred": False, "resolved": None}
    return _calls_row({**base, **values, "call": 0, "at": START + dt.timedelta(minutes=minute)}) | {
        "call_id": call_id,
        "segment": 1,
    }


def _day_row(wh: Warehouse) -> tuple[Any, ...] | None:
    rows = wh.sql(
        "SELECT n, wait_s_max, talk_s_sum, n_transferred FROM calls_rollup_day "
        "WHERE queue = 'q1' AND bucket_utc = ?",
        [dt.datetime(2026, 10, 1)],
    )
    assert len(rows) <= 1
    return rows[0] if rows else None


@pytest.mark.parametrize("share", [2.0, 0.0])
def test_the_day_follows_its_longest_wait_its_last_value_and_its_last_call(
    wh: Warehouse, share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By the difference (``share`` 2: always) and by recomputing (0: never): three
    calls in different quarter hours of one day; the one with the longest wait goes (the
    day's max drops to the next), the only one with a talk time loses it (the day's sum
    is NULL again), then all go (no day row)."""
    monkeypatch.setattr(rollup, "DIFFERENCE_BELOW", share)
    _load(
        wh,
        [
            _call("c1", 0, wait_s=40.0, talk_s=30.0, transferred=True),
            _call("c2", 20, wait_s=12.0),
            _call("c3", 40, wait_s=7.0),
        ],
    )
    assert _day_row(wh) == (3, 40.0, 30.0, 1)
    _delete(wh, [("c1", 1)])
    assert _day_row(wh) == (2, 12.0, None, 0)
    _load(wh, [_call("c2", 20, wait_s=5.0, talk_s=8.5)])
    assert _day_row(wh) == (2, 7.0, 8.5, 0)
    _load(wh, [_call("c2", 20, wait_s=5.0)])
    assert _day_row(wh) == (2, 7.0, None, 0)
    _same_as_rebuild(wh)
    _delete(wh, [("c2", 1), ("c3", 1)])
    assert _day_row(wh) is None
    assert wh.sql("SELECT count(*) FROM calls_rollup_agent_wrap_day") == [(0,)]


# -- every level by the changed calls' difference (save_old_calls, refresh(new_calls=)) --

# Fewer values than ``row``: calls often share a 15-minute row, so that the longest wait
# or the last talk time of a row goes while other calls stay in it.
narrow_row = st.fixed_dictionaries(
    {
        "call": st.integers(0, 9),
        "segment": st.integers(1, 2),
        "at": st.sampled_from([0, 5, 10, 24 * 60 + 5]).map(
            lambda m: START + dt.timedelta(minutes=m)
        ),
        "agent": st.just("a1"),
        "queue": st.just("q1"),
        "wrap_code": st.just(None),
        "outcome": st.just("answered"),
        "customer_id": st.sampled_from([None, "k1"]),
        "wait_s": st.integers(0, 9).map(lambda k: k / 2),
        "talk_s": seconds,
        "hold_s": seconds,
        "acw_s": seconds,
        "transferred": st.just(False),
        "resolved": st.just(None),
    }
)
rebuilds = st.lists(
    st.tuples(
        st.lists(st.one_of(row, narrow_row, narrow_row), max_size=6),
        st.lists(st.integers(0, 9), max_size=2),
    ),
    min_size=1,
    max_size=6,
)


def _rebuild_by_difference(wh: Warehouse, rows: list[dict[str, Any]], gone: list[int]) -> None:
    """The queue_log writer's way: every row of the calls concerned (those of ``rows`` and
    ``gone``) is kept as it was, deleted, and the calls' new rows (``rows``, the last of
    each call and segment) inserted; the roll-up follows by the calls' difference."""
    new = {(r["call"], r["segment"]): _calls_row(r) for r in rows}
    calls = sorted({f"c{r['call']}" for r in rows} | {f"c{c}" for c in gone})
    where = "call_id IN (SELECT unnest($calls))"
    with wh.transaction() as con:
        rollup.save_old_calls(con, where, {"calls": calls})
        con.execute(
            "CREATE OR REPLACE TEMP TABLE old_b AS SELECT "
            f"{rollup.buckets_of('entered_at')} AS b FROM _rollup_old_calls"
        )
        con.execute(f"DELETE FROM calls WHERE {where}", {"calls": calls})
        if new:
            con.register("new_rows", arrow_rows("calls", list(new.values())))
            con.execute("INSERT INTO calls BY NAME SELECT * FROM new_rows")
            con.unregister("new_rows")
        rollup.refresh(
            con,
            f"SELECT b FROM old_b UNION ALL SELECT {rollup.buckets_of('entered_at')} "
            f"FROM calls WHERE call_id IN ({', '.join(repr(c) for c in calls)})",
            new_calls=f"call_id IN ({', '.join(repr(c) for c in calls)})",
        )


@settings(_PROPERTY, max_examples=80)
@given(steps=rebuilds, difference=st.booleans())
def test_every_level_by_the_calls_difference_equals_a_rebuild(
    steps: list[tuple[list[dict[str, Any]], list[int]]], difference: bool
) -> None:
    """Calls built, rebuilt with other values, keys or quarter hours, and deleted, over
    two UTC days (repeat contacts of one customer turn on and off in calls not touched);
    after every step each level is what rollup.rebuild gives (the day levels following
    the 15-minute rows' difference always, or never)."""
    kept = rollup.DIFFERENCE_BELOW
    rollup.DIFFERENCE_BELOW = 2.0 if difference else 0.0
    try:
        with Warehouse(":memory:") as wh:
            for rows, gone in steps:
                _rebuild_by_difference(wh, rows, gone)
                _same_as_rebuild(wh)
    finally:
        rollup.DIFFERENCE_BELOW = kept


def _quarter(wh: Warehouse, minute: int) -> list[tuple[Any, ...]]:
    return wh.sql(
        "SELECT outcome, customer_known, repeat_contact, n, wait_s_sum, wait_s_max, talk_s_sum "
        "FROM calls_rollup WHERE bucket_utc = ? ORDER BY ALL",
        [START + dt.timedelta(minutes=minute)],
    )


def test_the_quarter_hour_follows_a_call_by_its_difference(wh: Warehouse) -> None:
    """One quarter hour's calls changed one at a time, by hand (every wait between 5 and
    20 s: the same wait flags): a call answered (it leaves the in-progress row, which
    goes), the longest wait's call rebuilt with a shorter one (the max drops to the next),
    the only talk time removed (the sum is NULL again), and a later call of the same
    customer that makes an untouched call a repeat contact."""

    def call(call: int, minute: int, **values: Any) -> dict[str, Any]:
        base = {"call": call, "segment": 1, "at": START + dt.timedelta(minutes=minute)}
        base |= {"agent": "a1", "queue": "q1", "wrap_code": None, "outcome": "answered"}
        base |= {"customer_id": None, "wait_s": None, "talk_s": None, "hold_s": None}
        return base | {"acw_s": None, "transferred": False, "resolved": None} | values

    _rebuild_by_difference(
        wh,
        [
            call(1, 0, outcome="in_progress", wait_s=18.0),
            call(2, 1, wait_s=12.0),
            call(3, 2, wait_s=7.0, talk_s=50.0),
            call(4, 3, outcome="in_progress", customer_id="k1", wait_s=6.0),
        ],
        [],
    )
    assert _quarter(wh, 0) == [
        ("answered", False, False, 2, 19.0, 12.0, 50.0),
        ("in_progress", False, False, 1, 18.0, 18.0, None),
        ("in_progress", True, False, 1, 6.0, 6.0, None),
    ]
    _rebuild_by_difference(wh, [call(1, 0, wait_s=18.0, talk_s=10.0)], [])
    assert _quarter(wh, 0) == [
        ("answered", False, False, 3, 37.0, 18.0, 60.0),
        ("in_progress", True, False, 1, 6.0, 6.0, None),
    ]
    _rebuild_by_difference(wh, [call(1, 0, wait_s=6.0, talk_s=10.0)], [])
    assert _quarter(wh, 0)[0] == ("answered", False, False, 3, 25.0, 12.0, 60.0)
    _rebuild_by_difference(wh, [call(1, 0, wait_s=6.0)], [3])
    assert _quarter(wh, 0)[0] == ("answered", False, False, 2, 18.0, 12.0, None)
    # Customer k1 calls again a day later: call 4 (untouched) is now a repeat contact.
    _rebuild_by_difference(wh, [call(5, 24 * 60, customer_id="k1", wait_s=8.0)], [])
    assert _quarter(wh, 0)[1] == ("in_progress", True, True, 1, 6.0, 6.0, None)
    _same_as_rebuild(wh)
