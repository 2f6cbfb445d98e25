"""The demo center: deterministic files that load cleanly and say what the simulation did.

The simulation keeps its own account of every queue visit (``DemoData.visits``); after the
files go through the real adapters, the KPI engine must count exactly the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from callkpi.cli import main
from callkpi.demo import (
    DemoData,
    SourceFile,
    build_demo,
    generate,
    inbound,
    ivr,
    load_files,
    write_files,
)
from callkpi.demo.arrivals import dispersion_index, draw_arrivals
from callkpi.demo.callers import Caller, Contact
from callkpi.demo.center import QUEUES, build_center
from callkpi.demo.clock import Period
from callkpi.demo.inbound import QueueSimulation
from callkpi.demo.pbx import Pbx
from callkpi.demo.staffing import PlannedShift, WorkedShift
from callkpi.ingest import IngestReport
from callkpi.kpi import KpiQuery, run_query
from callkpi.store import Warehouse

OUTCOMES = ("offered", "answered", "abandoned", "timed_out", "exited_key")
SOURCES = ["agents", "schedules", "absences", "queue-log", "queue-log", "queue-log", "cdr", "cdr",
           "cdr", "dispositions", "ivr-steps", "dials", "leads", "deals", "customers", "surveys",
           "costs"]


def _hashes(files: list[SourceFile], root: Path) -> dict[str, str]:
    return {str(f.path.relative_to(root)): hashlib.sha256(f.path.read_bytes()).hexdigest()
            for f in files}


class Loaded:
    def __init__(self, data: DemoData, files: list[SourceFile], reports: list[IngestReport],
                 wh: Warehouse) -> None:
        self.data, self.files, self.reports, self.wh = data, files, reports, wh

    def sql(self, query: str) -> list[tuple[object, ...]]:
        return self.wh.con.sql(query).fetchall()


def _load(tmp: Path, **kwargs: object) -> Loaded:
    data = generate(**kwargs)  # type: ignore[arg-type]
    files = write_files(data, tmp / "data")
    wh = Warehouse(tmp / "demo.duckdb")
    return Loaded(data, files, load_files(wh, files), wh)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """Three days ending on a Saturday, loaded."""
    loaded = _load(tmp_path_factory.mktemp("small"), days=3, seed=11)
    yield loaded
    loaded.wh.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """Two days, written as at 15:00 on the last: some calls are still going on."""
    loaded = _load(tmp_path_factory.mktemp("live"), days=2, seed=5,
                   now=dt.datetime(2026, 10, 31, 15, 0))
    yield loaded
    loaded.wh.close()


def _simulated_counts(data: DemoData) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for visit in data.visits():
        outcome = data.outcome(visit)
        per_queue = counts.setdefault(visit.queue, Counter())
        per_queue[outcome] += 1
        if outcome != "in_progress":
            per_queue["offered"] += 1
    return {q: {k: c[k] for k in (*OUTCOMES, "in_progress")} for q, c in counts.items()}


def _engine_counts(loaded: Loaded) -> dict[str, dict[str, int]]:
    result = run_query(loaded.wh, KpiQuery(kpis=OUTCOMES, by=("queue",)))
    in_progress = dict(loaded.sql(  # type: ignore[arg-type]
        "SELECT queue, count(*) FROM calls WHERE outcome = 'in_progress' GROUP BY queue"))
    return {row["queue"]: {**{k: row[k] for k in OUTCOMES},
                           "in_progress": in_progress.get(row["queue"], 0)}
            for row in result.rows if row["queue"] is not None}


# -- determinism ------------------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = _hashes(write_files(generate(days=2, seed=3), tmp_path / "a"), tmp_path / "a")
    again = _hashes(write_files(generate(days=2, seed=3), tmp_path / "b"), tmp_path / "b")
    other = _hashes(write_files(generate(days=2, seed=4), tmp_path / "c"), tmp_path / "c")

    assert len(first) == 17
    assert first == again
    assert [name for name in first if first[name] == other[name]] == []


def test_writing_again_overwrites_the_files(tmp_path: Path) -> None:
    data = generate(days=1, seed=1)
    files = write_files(data, tmp_path)
    (tmp_path / "pbx-nordbank" / "queue_log").write_text("garbage\n")

    assert _hashes(write_files(data, tmp_path), tmp_path) == _hashes(files, tmp_path)


# -- loading ----------------------------------------------------------------------------------


def test_every_file_loads_with_no_rejected_row(small: Loaded) -> None:
    assert [r.source for r in small.reports] == [
        "records:agents", "records:schedules", "records:absences", "queue_log", "queue_log",
        "queue_log", "cdr", "cdr", "cdr", "records:dispositions", "records:ivr_steps",
        "records:dials", "records:leads", "records:deals", "records:customers",
        "records:surveys", "records:costs"]
    assert [f.source for f in small.files] == SOURCES
    assert {r.path: r.rejected_total for r in small.reports} == {r.path: 0 for r in small.reports}
    assert all(r.loaded > 0 for r in small.reports)
    assert small.sql("SELECT count(*) FROM quarantine") == [(0,)]


def test_loading_the_same_files_again_adds_nothing(small: Loaded) -> None:
    before = small.sql("SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM dials)")
    reports = load_files(small.wh, small.files)

    assert sum(r.loaded + r.updated for r in reports) == 0
    assert small.sql("SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM dials)") == before


def test_the_engine_counts_the_outcomes_the_simulation_recorded(small: Loaded) -> None:
    simulated = _simulated_counts(small.data)

    assert _engine_counts(small) == simulated
    assert sum(q["in_progress"] for q in simulated.values()) == 0
    assert sum(q["answered"] for q in simulated.values()) > 1000


def test_calls_still_going_on_at_now_are_in_progress(live: Loaded) -> None:
    simulated = _simulated_counts(live.data)
    cut = dt.datetime(2026, 10, 31, 12, 0)  # 15:00 Moscow in UTC

    assert _engine_counts(live) == simulated
    assert sum(q["in_progress"] for q in simulated.values()) >= 3
    assert live.sql(f"SELECT count(*) FROM calls WHERE entered_at > '{cut}'") == [(0,)]
    assert live.sql(f"SELECT count(*) FROM dials WHERE dialed_at > '{cut}'") == [(0,)]
    for table, column in (("dispositions", "recorded_at"), ("surveys", "answered_at"),
                          ("deals", "opened_at"), ("ivr_steps", "at")):
        assert live.sql(f"SELECT count(*) FROM {table} WHERE \"{column}\" > '{cut}'") == [(0,)]
    assert live.sql("SELECT count(*) FROM calls WHERE outcome = 'in_progress' "
                    "AND wrap_code IS NOT NULL") == [(0,)]


def test_each_client_pbx_loads_as_its_tenant(small: Loaded) -> None:
    tenants = dict(small.sql(  # type: ignore[arg-type]
        "SELECT queue, any_value(tenant) FROM calls WHERE queue IS NOT NULL GROUP BY queue"))
    assert tenants == {q.queue: q.tenant for q in QUEUES if q.queue in tenants}
    assert len(tenants) == 6


def test_wrap_up_codes_land_on_every_answered_visit(small: Loaded) -> None:
    answered = sum(1 for v in small.data.visits() if v.outcome == "answered")
    coded = small.sql(
        "SELECT count(*), count(wrap_code), count(resolved) FROM calls "
        "WHERE source = 'queue_log' AND outcome = 'answered'")
    escalated = sum(1 for v in small.data.visits()
                    if v.transfer is not None and v.transfer.escalation)

    assert coded == [(answered, answered, answered)]
    assert small.sql("SELECT count(*) FROM calls WHERE escalated") == [(escalated,)]
    assert small.sql("SELECT count(*) FROM calls WHERE queue = 'telecom_tier2' AND segment = 2"
                     ) == [(sum(1 for v in small.data.visits() if v.queue == "telecom_tier2"),)]


def test_every_dial_attempt_is_an_outbound_call_of_its_campaign(small: Loaded) -> None:
    attempts = len(small.data.attempts)
    rows = small.sql(
        "SELECT count(*), count(DISTINCT d.attempt_id) FROM dials d JOIN calls c "
        "ON c.call_id = d.attempt_id AND c.direction = 'out' AND c.campaign = d.campaign "
        "AND c.lead_id = d.lead_id AND c.agent = d.agent")
    connected = sum(1 for _, a in small.data.attempts if a.connected)

    assert rows == [(attempts, attempts)]
    assert small.sql("SELECT count(*) FROM dials WHERE connected") == [(connected,)]


def test_only_calls_that_chose_an_agent_reach_the_queue_log(small: Loaded) -> None:
    reached = small.sql(
        "SELECT count(*) FROM ivr_steps WHERE result = 'to_queue'")[0][0]
    first_visits = small.sql(
        "SELECT count(*) FROM calls WHERE source = 'queue_log' AND segment = 1")[0][0]
    self_served = small.sql("SELECT count(*) FROM ivr_steps WHERE result = 'self_served'")[0][0]
    calls = small.sql("SELECT count(DISTINCT call_id) FROM ivr_steps")[0][0]

    assert reached == first_visits
    assert 0.15 <= self_served / calls <= 0.25


def test_agent_sessions_follow_the_worked_shifts(small: Loaded) -> None:
    worked = [w for w in small.data.staffing.worked if not w.agent.outbound]
    sessions = small.sql(
        "SELECT count(*) FROM agent_states WHERE queue IS NULL AND state = 'logged_in'")
    paused = Counter(reason for (reason,) in small.sql(
        "SELECT reason FROM agent_states WHERE queue IS NULL AND state = 'paused'"))

    assert sessions == [(len(worked),)]
    assert {"break", "lunch", "personal"} <= set(paused)


def test_surveys_and_deals_point_at_loaded_calls_and_leads(small: Loaded) -> None:
    assert small.sql("SELECT count(*) FROM surveys s ANTI JOIN calls c ON c.call_id = s.call_id"
                     ) == [(0,)]
    assert small.sql("SELECT count(*) FROM deals d ANTI JOIN leads l ON l.lead_id = d.lead_id"
                     ) == [(0,)]
    assert small.sql("SELECT DISTINCT kind FROM surveys ORDER BY 1") == [("ces",), ("csat",),
                                                                          ("nps",)]


def test_the_queue_log_reads_like_app_queue_wrote_it(small: Loaded) -> None:
    uniqueid = re.compile(r"\d{10}\.\d+")
    for f in small.files[3:6]:
        lines = [line.split("|") for line in f.path.read_text().splitlines()]
        epochs = [int(fields[0]) for fields in lines]
        calls = {fields[1] for fields in lines if fields[1] != "NONE"}

        assert epochs == sorted(epochs)
        assert all(uniqueid.fullmatch(c) for c in calls)
        assert all(int(fields[1].split(".")[0]) <= int(fields[0])
                   for fields in lines if fields[1] != "NONE")
        assert all(uniqueid.fullmatch(fields[6]) for fields in lines if fields[4] == "CONNECT")
        pauses = Counter((fields[0], fields[3]) for fields in lines if fields[4] == "PAUSEALL")
        per_queue = Counter((fields[0], fields[3]) for fields in lines if fields[4] == "PAUSE")
        assert set(pauses) == set(per_queue)


def test_uniqueids_never_repeat_within_a_pbx(small: Loaded) -> None:
    for pbx in small.data.pbxes.values():
        ids = [pbx.uniqueid(i) for i in range(len(pbx.channel_epochs))]
        assert len(set(ids)) == len(ids)


def test_outbound_rows_of_master_csv_come_from_the_agents_phones(small: Loaded) -> None:
    rows = small.sql(
        "SELECT count(*), count(*) FILTER (WHERE agent SIMILAR TO '20[0-9][0-9]'), "
        "count(DISTINCT tenant) FROM calls WHERE source = 'cdr' AND direction = 'out'")
    assert rows == [(len(small.data.attempts), len(small.data.attempts), 3)]


# -- the models -------------------------------------------------------------------------------


def test_daily_volume_is_over_dispersed_as_configured() -> None:
    period = Period.ending(dt.date(2026, 10, 31), 30)
    rng = np.random.default_rng(7)
    counts: list[float] = []
    expected: list[float] = []
    for queue in QUEUES:
        if queue.volume.calls_per_weekday:
            draw = draw_arrivals(rng, queue.volume, period)
            counts += draw.count_per_day.tolist()
            expected += draw.expected_per_day.tolist()
            assert len(draw.epochs) == draw.count_per_day.sum()
            assert np.all(np.diff(draw.epochs) >= 0)

    index = dispersion_index(counts, expected)
    assert 1.5 <= index <= 4
    assert sum(counts) == pytest.approx(sum(expected), rel=0.03)


def test_poisson_days_have_a_dispersion_index_near_one() -> None:
    rng = np.random.default_rng(1)
    expected = np.full(2000, 400.0)

    assert dispersion_index(rng.poisson(expected), expected) == pytest.approx(1.0, abs=0.1)


def test_abandonment_rises_with_the_wait() -> None:
    data = generate(days=5, seed=2)
    visits = [v for v in data.visits() if v.wait_s is not None]

    def abandon_share(low_s: int, high_s: float) -> float:
        waited = [v for v in visits if low_s <= (v.wait_s or 0) < high_s]
        return sum(1 for v in waited if v.outcome == "abandoned") / len(waited)

    short = abandon_share(0, 20)
    long = abandon_share(61, float("inf"))
    assert long > 2 * short
    assert 0 < short < 0.1


def _erlang_c_service_level(agents: int, load: float, handle_s: float, within_s: float) -> float:
    below = sum(load ** k / math.factorial(k) for k in range(agents))
    top = load ** agents / math.factorial(agents) * agents / (agents - load)
    return 1 - top / (below + top) * math.exp(-(agents - load) * within_s / handle_s)


def test_the_queue_simulation_agrees_with_erlang_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten agents all day, Poisson callers who never hang up: the share answered within
    20 s is what Erlang C predicts for the measured load (it assumes exponential handle
    times; these are lognormal, close enough at this load)."""
    monkeypatch.setattr(inbound, "RING_NO_ANSWER_PROB", 0.0)
    period = Period.ending(dt.date(2026, 10, 31), 1)
    center = build_center(np.random.default_rng(1), period)
    spec = replace(center.queue("bank_cards"), patience_s=1e9, short_abandon_share=0.0,
                   transfers=(), acw_median_s=1)
    agents = [replace(a, skills=("bank_cards",)) for a in center.agents
              if "bank_cards" in a.skills][:10]
    rng = np.random.default_rng(3)
    sim = QueueSimulation(rng, Pbx("pbx-test", "nordbank"), period, [spec], agents)
    day_start = period.start_epoch
    for agent in agents:
        planned = PlannedShift(agent, period.first_day, day_start, day_start + 86_400, (), 8)
        sim.add_shift(WorkedShift(agent, planned, day_start, day_start + 86_400, ()))
    path = ivr.IvrPath((ivr.IvrStep("menu", "0", 1),), ivr.TO_QUEUE, 1)
    arrivals = day_start + 600 + np.cumsum(rng.exponential(30, size=2600)).astype(int)
    for at in arrivals[arrivals < day_start + 80_000]:
        sim.add_contact(Contact("bank_cards", int(at), Caller("79990000000", None),
                                spec.wrap_codes[0], True, False), path)
    sim.run()

    answered = [v for v in sim.visits if v.outcome == "answered"]
    handle_s = float(np.mean([(v.ring_s or 0) + (v.talk_s or 0) + (v.acw_s or 0)
                              for v in answered]))
    load = len(sim.visits) / (int(arrivals[-1]) - day_start - 600) * handle_s
    simulated = sum(1 for v in answered if (v.wait_s or 0) <= 20) / len(answered)

    assert len(answered) == len(sim.visits)
    assert 6 < load < 8
    assert simulated == pytest.approx(_erlang_c_service_level(10, load, handle_s, 20), abs=0.03)


def test_build_demo_and_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Warehouse(tmp_path / "a.duckdb") as wh:
        reports = build_demo(wh, days=1, seed=9, data_dir=tmp_path / "a")
    assert [r.rejected_total for r in reports] == [0] * 17

    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--days", "1", "--seed", "9", "--db", str(tmp_path / "b.duckdb"),
              "--data-dir", str(tmp_path / "b")])
    assert exit_.value.code == 0
    assert (tmp_path / "b" / "pbx-nordbank" / "queue_log").read_bytes() == (
        tmp_path / "a" / "pbx-nordbank" / "queue_log").read_bytes()
    # The example targets are imported and October's scorecard printed with its advice.
    printed = capsys.readouterr().out
    assert "Scorecard 2026-10" in printed and "service_level" in printed
    # And next week's required agents per queue (one day of history is enough to plan).
    assert "Agents required from 2026-11-01" in printed and "bank_cards" in printed
    with Warehouse(tmp_path / "b.duckdb") as wh:
        assert wh.sql("SELECT count(*) FROM targets")[0][0] >= 20
