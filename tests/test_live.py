"""The live floor from posted events, worked out by hand: calls waiting, agents by state,
today's and this interval's KPIs, targets, and tenant scope."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from callkpi.goals.targets import TargetSpec, set_targets
from callkpi.ingest.events import EventError, EventSpool
from callkpi.ingest.report import IngestReport
from callkpi.kpi import KpiQuery, compiler, run_query
from callkpi.live import LIVE_KPIS, LiveHub, LiveScope, read_floor, snapshot, view
from callkpi.store import Warehouse

MSK = "Europe/Moscow"
NOW = dt.datetime(2026, 11, 24, 10, 5, tzinfo=dt.timezone(dt.timedelta(hours=3)))


def t(hour: int, minute: int, second: int = 0, day: int = 24) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+03:00"


def ev(kind: str, when: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "at": when, **fields}


ACME = [
    ev("call_entered", t(20, 0, day=23), call_id="old", queue="q"),  # never ended: stale
    *[ev("agent_logged_in", t(9, 0), agent=a, queue="q") for a in ("a1", "a2", "a3", "a4")],
    ev("agent_logged_out", t(9, 30), agent="a4", queue="q"),
    ev("call_entered", t(9, 40), call_id="c4", queue="q"),
    ev("call_abandoned", t(9, 40, 50), call_id="c4", queue="q"),  # waited 50 s
    ev("call_entered", t(9, 50), call_id="c0", queue="q"),
    ev("call_answered", t(9, 50, 5), call_id="c0", queue="q", agent="a3"),  # 5 s
    ev("call_ended", t(9, 55, 5), call_id="c0", queue="q"),
    ev("wrapup_started", t(9, 55, 5), call_id="c0", queue="q", agent="a3", wrapup_s=30),
    ev("call_entered", t(10, 0, 1), call_id="c1", queue="q"),
    ev("call_answered", t(10, 0, 11), call_id="c1", queue="q", agent="a1"),  # still talking
    ev("call_entered", t(10, 1), call_id="c5", queue="q"),
    ev("call_answered", t(10, 1, 25), call_id="c5", queue="q", agent="a3"),  # 25 s
    ev("call_ended", t(10, 3), call_id="c5", queue="q"),
    ev("agent_paused", t(10, 2), agent="a2", reason="lunch"),
    ev("call_entered", t(10, 4), call_id="c2", queue="q"),
    ev("call_entered", t(10, 4, 30), call_id="c3", queue="q"),
]
BETA = [
    ev("agent_logged_in", t(9, 0), agent="b1", queue="r"),
    ev("call_entered", t(10, 3), call_id="d1", queue="r"),
]


@pytest.fixture
def floor(wh: Warehouse, tmp_path: Path) -> Warehouse:
    spool = EventSpool(tmp_path / "spool")
    spool.post(wh, ACME, tenant="acme")
    spool.post(wh, BETA, tenant="beta")
    return wh


def test_the_floor_at_five_past_ten(floor: Warehouse) -> None:
    snap = snapshot(floor, tz=MSK, now=NOW).to_json()
    assert snap["at"] == "2026-11-24T10:05:00+03:00"
    assert snap["interval_start"] == "2026-11-24T10:00:00+03:00"
    q, r = snap["queues"]
    assert (q["tenant"], q["queue"], q["waiting"], q["longest_wait_s"]) == ("acme", "q", 2, 60.0)
    assert q["agents"] == {"talking": 1, "ringing": 0, "wrapup": 0, "paused": 1, "idle": 1}
    # Today: c4 abandoned after 50 s, c0 answered after 5 s, c5 after 25 s; c1 is still in
    # progress (not offered yet), the stale visit is yesterday's.
    today = q["today"]
    assert (today["offered"], today["answered"], today["abandoned"]) == (3, 2, 1)
    assert today["service_level"] == pytest.approx(1 / 3)
    assert today["abandon_rate"] == pytest.approx(1 / 3)
    assert (today["asa"], today["max_wait"]) == (15.0, 50.0)
    assert today["aht"] == pytest.approx((300 + 30 + 95) / 2)  # talk + wrap-up per answer
    interval = q["interval"]  # 10:00-10:30: c5 only
    assert (interval["offered"], interval["answered"], interval["service_level"],
            interval["asa"]) == (1, 1, 0.0, 25.0)
    assert (r["tenant"], r["queue"], r["waiting"], r["longest_wait_s"]) == ("beta", "r", 1, 120.0)
    assert r["agents"]["idle"] == 1
    assert (r["today"]["offered"], r["today"]["service_level"]) == (0, None)  # nothing ended

    assert [(c["queue"], c["call_id"], c["wait_s"]) for c in snap["waiting_calls"]] == [
        ("r", "d1", 120.0), ("q", "c2", 60.0), ("q", "c3", 30.0)]
    assert all("caller" not in c for c in snap["waiting_calls"])
    agents = {a["agent"]: (a["state"], a["reason"], a["queues"], a["in_state_s"])
              for a in snap["agents"]}
    assert agents == {
        "a1": ("talking", None, ["q"], 289.0),  # since 10:00:11
        "a2": ("paused", "lunch", ["q"], 180.0),  # since 10:02
        "a3": ("idle", None, ["q"], 120.0),  # since c5 ended at 10:03
        "b1": ("idle", None, ["r"], 3900.0),  # since login at 09:00
    }  # a4 logged out


def test_wrapup_shows_while_it_lasts(floor: Warehouse) -> None:
    during = snapshot(floor, tz=MSK, now=NOW.replace(hour=9, minute=55, second=20))
    a3 = next(a for a in during.agents if a["agent"] == "a3")
    assert (a3["state"], a3["in_state_s"]) == ("wrapup", 15.0)


def test_a_closed_interval_equals_the_historical_query(floor: Warehouse) -> None:
    later = snapshot(floor, tz=MSK, now=NOW.replace(hour=10, minute=40))
    live = next(q for q in later.queues if q.queue == "q").today
    query = run_query(floor, KpiQuery(kpis=LIVE_KPIS, by=("queue",), tz=MSK,
                                      start=dt.datetime(2026, 11, 24),
                                      end=dt.datetime(2026, 11, 25),
                                      where=(("queue", "q"),)))
    [row] = query.rows
    assert live == pytest.approx({k: row[k] for k in LIVE_KPIS}, rel=1e-12)


def test_the_compiled_kpi_query_stays_current_as_events_arrive(
    floor: Warehouse, tmp_path: Path
) -> None:
    """Today's KPIs run the engine's kept SQL: after more events they are the engine's
    fresh answer (compiled and run anew by run_query), not the first one's."""
    first = snapshot(floor, tz=MSK, now=NOW)
    compiled_before = compiler.cache_info()["misses"]
    assert next(q for q in first.queues if q.queue == "q").today["offered"] == 3
    # c1 (answered 10:00:11 after 10 s) ends; c2 is abandoned after 40 s.
    EventSpool(tmp_path / "more").post(floor, [
        ev("call_ended", t(10, 4, 11), call_id="c1", queue="q"),
        ev("call_abandoned", t(10, 4, 40), call_id="c2", queue="q")], tenant="acme")
    later = snapshot(floor, tz=MSK, now=NOW)
    assert compiler.cache_info()["misses"] == compiled_before  # the kept SQL answered
    q = next(q for q in later.queues if q.queue == "q")
    assert (q.today["offered"], q.today["answered"], q.today["abandoned"]) == (5, 3, 2)
    assert (q.today["max_wait"], q.interval["offered"]) == (50.0, 3)  # c1, c5, c2 since 10:00
    query = run_query(floor, KpiQuery(kpis=LIVE_KPIS, by=("queue",), tz=MSK,
                                      start=dt.datetime(2026, 11, 24),
                                      end=dt.datetime(2026, 11, 25),
                                      where=(("queue", "q"),)), use_rollup=False)
    [row] = query.rows
    assert q.today == pytest.approx({k: row[k] for k in LIVE_KPIS}, rel=1e-12)


def test_one_floor_cut_to_each_scope_is_each_scopes_snapshot(floor: Warehouse) -> None:
    read = read_floor(floor, tz=MSK, now=NOW)
    for tenants, agents in [(None, None), ({"acme"}, None), ({"beta"}, None),
                            (None, {"a2"}), ({"acme"}, {"b1"}), (set(), None)]:
        assert view(read, tenants=tenants, agents=agents).to_json() == snapshot(
            floor, tz=MSK, now=NOW, tenants=tenants, agents=agents).to_json()
    beta = view(read, tenants={"beta"}).to_json()
    assert {c["tenant"] for c in beta["waiting_calls"]} == {"beta"}
    assert [a["agent"] for a in beta["agents"]] == ["b1"]
    assert next(a for a in read.agents if a["agent"] == "a1")["queues"] == ["q"]  # not cut


def test_an_agent_on_several_calls_at_once(wh: Warehouse, tmp_path: Path) -> None:
    """Several open rows of one state (two calls talking at once): the agent is talking
    since the first, counted once."""
    EventSpool(tmp_path / "spool").post(wh, [
        ev("agent_logged_in", t(9, 0), agent="a1", queue="q"),
        ev("call_entered", t(10, 0), call_id="x1", queue="q"),
        ev("call_answered", t(10, 0, 5), call_id="x1", queue="q", agent="a1"),
        ev("call_entered", t(10, 2), call_id="x2", queue="q"),
        ev("call_answered", t(10, 2, 5), call_id="x2", queue="q", agent="a1"),
    ], tenant="acme")
    snap = snapshot(wh, tz=MSK, now=NOW)
    assert [(a["agent"], a["state"], a["queues"], a["in_state_s"]) for a in snap.agents] == [
        ("a1", "talking", ["q"], 295.0)]
    assert [(q.queue, q.agents["talking"]) for q in snap.queues] == [("q", 1)]


def test_a_tenant_sees_only_its_queues_calls_and_agents(floor: Warehouse) -> None:
    snap = snapshot(floor, tz=MSK, now=NOW, tenants={"acme"}).to_json()
    assert [q["queue"] for q in snap["queues"]] == ["q"]
    assert {c["call_id"] for c in snap["waiting_calls"]} == {"c2", "c3"}
    assert {a["agent"] for a in snap["agents"]} == {"a1", "a2", "a3"}
    a2 = snapshot(floor, tz=MSK, now=NOW, agents={"a2"}).to_json()
    assert [a["agent"] for a in a2["agents"]] == ["a2"]
    assert [q["queue"] for q in a2["queues"]] == ["q"]  # the queue a2 is logged in to
    assert {c["call_id"] for c in a2["waiting_calls"]} == {"c2", "c3"}
    b1 = snapshot(floor, tz=MSK, now=NOW, agents={"b1"}, tenants={"acme"}).to_json()
    assert (b1["queues"], b1["agents"]) == ([], [])
    nobody = snapshot(floor, tz=MSK, now=NOW, tenants={"gamma"}).to_json()
    assert (nobody["queues"], nobody["waiting_calls"], nobody["agents"]) == ([], [], [])


def test_service_level_targets_per_tenant_or_center(floor: Warehouse) -> None:
    set_targets(floor, [TargetSpec(kpi="service_level", target=0.8, period="2026-11",
                                   scope="tenant=acme"),
                        TargetSpec(kpi="service_level", target=0.7, period="2026-11")])
    snap = snapshot(floor, tz=MSK, now=NOW)
    assert {q.queue: q.service_level_target for q in snap.queues} == {"q": 0.8, "r": 0.7}


def test_bad_arguments(floor: Warehouse) -> None:
    with pytest.raises(ValueError, match="aware"):
        snapshot(floor, now=dt.datetime(2026, 11, 24, 10))
    with pytest.raises(ValueError, match="15, 30 or 60"):
        snapshot(floor, now=NOW, interval_min=7)


# -- the hub ---------------------------------------------------------------------------


async def _next_where(stream: Any, check: Any, timeout_s: float = 5.0) -> dict[str, Any]:
    """The first snapshot from ``stream`` for which ``check`` holds."""
    async def find() -> dict[str, Any]:
        async for message in stream:
            if check(message):
                return message  # type: ignore[no-any-return]
        raise AssertionError("stream ended")
    return await asyncio.wait_for(find(), timeout_s)


def test_posted_events_reach_subscribers_in_their_scope(wh: Warehouse, tmp_path: Path) -> None:
    hub = LiveHub(wh, spool_dir=tmp_path / "spool", tz=MSK, tick_s=0.5)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], float]:
        acme = hub.subscribe(LiveScope(tenants=frozenset({"acme"})))
        beta = hub.subscribe(LiveScope(tenants=frozenset({"beta"})))
        first = await anext(acme)
        assert first["queues"] == [] and first["waiting_calls"] == []
        await anext(beta)
        now = dt.datetime.now(dt.UTC)
        posted = time.monotonic()
        await asyncio.to_thread(hub.post, [
            ev("call_entered", now.isoformat(), call_id="live1", queue="q")], "acme")
        seen = await _next_where(acme, lambda m: m["waiting_calls"])
        latency = time.monotonic() - posted
        other = await _next_where(beta, lambda m: m["version"] >= seen["version"])
        await acme.aclose()
        await beta.aclose()
        return seen, other, latency

    try:
        seen, other, latency = asyncio.run(scenario())
    finally:
        hub.close()
    assert [c["call_id"] for c in seen["waiting_calls"]] == ["live1"]
    assert seen["queues"][0]["waiting"] == 1
    assert other["waiting_calls"] == [] and other["queues"] == []  # beta sees nothing of acme
    assert latency < 5  # generous on a loaded CI machine; the benchmark measures it
    assert hub.subscribers == 0 and hub.errors == []


def test_a_followed_queue_log_reaches_subscribers(wh: Warehouse, tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("")
    hub = LiveHub(wh, spool_dir=tmp_path / "spool", tz="UTC", tick_s=0.5)
    hub.follow(log, tenant="acme", poll_s=0.05)

    async def scenario() -> dict[str, Any]:
        stream = hub.subscribe()
        await anext(stream)
        epoch = int(time.time()) - 5
        with log.open("a") as out:
            out.write(f"{epoch}|t1|q|NONE|ENTERQUEUE||100|1\n")
            out.write(f"{epoch + 1}|t1|q|PJSIP/7|CONNECT|1|t1.1|0\n")
            out.write(f"{epoch + 2}|t2|q|NONE|ENTERQUEUE||101|1\n")
            out.write(f"{epoch + 3}|t3|q|NONE|ENTERQU")  # a line still being written
        message = await _next_where(stream, lambda m: m["waiting_calls"])
        await stream.aclose()
        return message

    try:
        message = asyncio.run(scenario())
    finally:
        hub.close()
    assert [(c["tenant"], c["call_id"]) for c in message["waiting_calls"]] == [("acme", "t2")]
    assert wh.sql("SELECT count(*) FROM calls")[0][0] == 2  # t3 waits for its newline
    assert hub.errors == []


def test_the_waiting_list_keeps_the_longest_waits(wh: Warehouse, tmp_path: Path) -> None:
    calls = [ev("call_entered", t(10, 0, s), call_id=f"w{s:03d}", queue="q")
             for s in range(59)] + [
             ev("call_entered", t(10, 1, s), call_id=f"w{60 + s:03d}", queue="q")
             for s in range(59)]
    EventSpool(tmp_path / "spool").post(wh, calls, tenant="acme")
    snap = snapshot(wh, tz=MSK, now=NOW)
    assert snap.queues[0].waiting == 118
    assert snap.queues[0].longest_wait_s == 300.0
    assert [c["call_id"] for c in snap.waiting_calls] == [f"w{n:03d}" for n in range(59)] + [
        f"w{60 + s:03d}" for s in range(41)]  # the 100 longest, in order of arrival


def test_each_scope_lists_its_own_longest_waits(wh: Warehouse, tmp_path: Path) -> None:
    # acme's queue q: 130 calls from 10:00:00, one every 2 s (the last at 10:04:18);
    # acme's queue s: 40 calls from 10:00:01, one every 3 s; beta's queue r: 30 calls
    # from 10:00:00, one every 4 s. NOW is 10:05:00.
    def entered(prefix: str, queue: str, n: int, first: int, step: int
                ) -> list[tuple[int, str, str]]:
        return [(first + step * i, f"{prefix}{i:03d}", queue) for i in range(n)]

    q, s_ = entered("q", "q", 130, 0, 2), entered("s", "s", 40, 1, 3)
    r = entered("r", "r", 30, 0, 4)
    spool = EventSpool(tmp_path / "spool")
    for tenant, calls in (("acme", q + s_), ("beta", r)):
        spool.post(wh, [ev("call_entered", t(10, sec // 60, sec % 60), call_id=c, queue=qu)
                        for sec, c, qu in calls], tenant=tenant)
    floor = read_floor(wh, tz=MSK, now=NOW)

    def longest(calls: list[tuple[int, str, str]]) -> list[str]:
        """The 100 longest waits (the earliest entries; ties by call id), in order of
        arrival: worked out here from the entry times."""
        return [c for _, c, _ in sorted(calls)[:100]]

    everyone = view(floor)
    assert [c["call_id"] for c in everyone.waiting_calls] == longest(q + s_ + r)
    assert {(x.queue, x.waiting, x.longest_wait_s) for x in everyone.queues} == {
        ("q", 130, 300.0), ("s", 40, 299.0), ("r", 30, 300.0)}
    acme = view(floor, tenants={"acme"})
    assert [c["call_id"] for c in acme.waiting_calls] == longest(q + s_)
    beta = view(floor, tenants={"beta"})
    assert [c["call_id"] for c in beta.waiting_calls] == longest(r)
    assert [c["wait_s"] for c in beta.waiting_calls][:2] == [300.0, 296.0]


def test_batches_posted_at_once_are_loaded_together_each_on_its_own(
    wh: Warehouse, tmp_path: Path
) -> None:
    hub = LiveHub(wh, spool_dir=tmp_path / "spool", tz=MSK)
    results: dict[int, Any] = {}

    def post(n: int) -> None:
        batch = [ev("call_entered", t(10, n), call_id=f"p{n}", queue="q"),
                 ev("call_answered", t(10, n, 10), call_id=f"p{n}", queue="q", agent="a1")]
        if n == 3:  # refused alone: answers a call that never entered
            batch.append(ev("call_answered", t(10, n, 20), call_id="nobody", queue="q",
                            agent="a1"))
        try:
            results[n] = hub.post(batch, "acme")
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hub.close()
    assert isinstance(results.pop(3), EventError)
    assert all(isinstance(r, IngestReport) for r in results.values())
    rows = wh.sql("SELECT call_id, wait_s FROM calls ORDER BY call_id")
    assert rows == [(f"p{n}", 10.0) for n in range(8) if n != 3]


def test_the_hub_checkpoints_at_quiet_moments_not_in_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's own checkpoint (inside the COMMIT of a load) is pushed to 1 GB of log; the
    hub's publisher checkpoints once nothing was loaded for ``tick_s``."""
    from callkpi import live

    monkeypatch.setattr(live, "IDLE_CHECKPOINT_BYTES", 1)
    wh = Warehouse(tmp_path / "w.duckdb")
    wal = Path(f"{wh.path}.wal")
    hub = LiveHub(wh, spool_dir=tmp_path / "spool", tz=MSK, tick_s=1.0)
    try:
        assert wh.sql("SELECT current_setting('checkpoint_threshold')") == [("953.6 MiB",)]
        hub.post([ev("call_entered", t(10, 0), call_id="k1", queue="q")], "acme")
        assert wal.stat().st_size > 0  # the load is in the log, not yet in the file
        assert not hub.checkpoint_if_idle()  # loaded less than tick_s ago
        deadline = time.monotonic() + 10
        while wal.exists() and wal.stat().st_size > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not wal.exists() or wal.stat().st_size == 0  # the publisher checkpointed
        assert wh.sql("SELECT call_id FROM calls") == [("k1",)]
    finally:
        hub.close()
        wh.close()


def test_a_live_process_collects_garbage_rarely_and_skips_its_start_up_objects() -> None:
    """tune_gc_for_live_loads (callkpi serve, ingest --follow): young collections after
    50,000 allocations, and what exists at start-up frozen out of every scan."""
    import gc

    from callkpi.live import tune_gc_for_live_loads

    kept = gc.get_threshold()
    gc.unfreeze()
    try:
        tune_gc_for_live_loads()
        assert gc.get_threshold() == (50_000, 20, 20)
        assert gc.get_freeze_count() > 1_000  # the modules and objects of this process
    finally:
        gc.unfreeze()
        gc.set_threshold(*kept)


def test_a_live_process_still_ends_cleanly() -> None:
    """Frozen objects are let go at exit: DuckDB's bindings report none never freed."""
    import subprocess
    import sys

    script = ("from callkpi.live import tune_gc_for_live_loads\n"
              "from callkpi.store import Warehouse\n"
              "tune_gc_for_live_loads()\n"
              "Warehouse(':memory:').close()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "leaked" not in done.stderr, done.stderr
