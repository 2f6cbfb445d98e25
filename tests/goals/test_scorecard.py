"""Scorecards and benchmark reports on the hand-computed center of conftest.py, through the
Python API and the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from callkpi.goals.benchmark import agent_report, center_report
from callkpi.goals.periods import parse_period
from callkpi.goals.scorecard import ScorecardError, build_scorecard
from callkpi.goals.status import Thresholds
from callkpi.goals.targets import TargetSpec, set_targets
from callkpi.kpi import KpiQuery, run_query
from callkpi.store import Warehouse

OCTOBER = parse_period("2026-10")
AHT = 14_650 / 85  # (40*120 + 40*240 + 5*50) / 85 answered

TARGETS = [
    TargetSpec(kpi="service_level", target=0.8, period="2026-10", owner="Head of service"),
    TargetSpec(kpi="service_level", target=0.9, period="2026-Q4"),  # the month's wins
    TargetSpec(kpi="abandon_rate", target=0.05, period="2026-10", impact="low"),
    TargetSpec(kpi="aht", target=200, period="2026-10"),
    TargetSpec(kpi="aht", target=150, scope="team=t1", period="2026-10"),
    TargetSpec(kpi="aht", target=220, scope="agent=B", period="2026-10"),
]

SERVICE_ACTION = ("Staff each interval to the forecast (callkpi plan) and watch adherence "
                  "at the peaks.")
ABANDON_ACTION = ("Review the IVR and staffing in the peak intervals, and offer a callback "
                  "instead of a long wait.")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callkpi", *args], capture_output=True,
                          text=True, timeout=120)


def _by_kpi(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["kpi"]: r for r in rows}


def test_center_scorecard(center: Warehouse) -> None:
    set_targets(center, TARGETS)
    card = build_scorecard(center, OCTOBER)
    rows = _by_kpi(card.rows)
    # Ordered by impact (high first; abandon_rate's target says low), then severity.
    assert [r["kpi"] for r in card.rows] == ["service_level", "aht", "abandon_rate"]

    sl = rows["service_level"]
    assert (sl["target"], sl["actual"], sl["n"]) == (0.8, 0.45, 100)
    assert sl["deviation"] == pytest.approx((0.45 - 0.8) / 0.8)  # -43.75 %
    assert (sl["status"], sl["impact"], sl["target_scope"]) == ("critical", "high", "center")
    assert sl["owner"] == "Head of service"
    # Wilson 95 % for 45 of 100, worked out with the textbook formula (z = 1.95996).
    assert (round(sl["ci_low"], 4), round(sl["ci_high"], 4)) == (0.3561, 0.5476)
    assert sl["few_observations"] is False
    assert sl["recommendations"] == [SERVICE_ACTION]

    aht = rows["aht"]
    assert aht["actual"] == pytest.approx(AHT)
    assert aht["deviation"] == pytest.approx((AHT - 200) / 200)  # -13.8 %: good for AHT
    assert (aht["status"], aht["n"], aht["ci_low"]) == ("on track", 85, None)  # not a share
    assert aht["recommendations"] == []

    ab = rows["abandon_rate"]
    assert (ab["actual"], ab["deviation"]) == (0.15, pytest.approx(2.0))  # 3x the target
    assert (ab["status"], ab["impact"]) == ("critical", "low")
    assert ab["recommendations"] == [ABANDON_ACTION]
    assert [r.rule for r in card.recommendations[None]] == ["abandonment", "service_level"]


def test_thresholds_and_impacts_are_options(center: Warehouse) -> None:
    set_targets(center, TARGETS)
    card = build_scorecard(center, OCTOBER, thresholds=Thresholds(0.3, 0.5),
                           impacts={"aht": "low", "abandon_rate": "high"})
    rows = _by_kpi(card.rows)
    assert rows["service_level"]["status"] == "warning"  # 43.75 % short: over 30, under 50
    assert rows["aht"]["impact"] == "low"
    assert rows["abandon_rate"]["impact"] == "low"  # the target's own impact wins


def test_scorecard_by_agent_uses_the_nearest_target(center: Warehouse) -> None:
    set_targets(center, TARGETS)
    card = build_scorecard(center, OCTOBER, by="agent", kpis=["answered"])
    aht = {r["agent"]: r for r in card.rows if r["kpi"] == "aht"}
    assert sorted(aht) == ["A", "B", "C"]  # abandoned calls have no agent: no None row
    assert (aht["A"]["actual"], aht["A"]["target"], aht["A"]["target_scope"]) == (
        120.0, 150.0, "team=t1")
    assert (aht["A"]["deviation"], aht["A"]["status"]) == (pytest.approx(-0.2), "on track")
    # B's own target: 240 vs 220 is 9.1 % over, a warning.
    assert (aht["B"]["target"], aht["B"]["target_scope"], aht["B"]["status"]) == (
        220.0, "agent=B", "warning")
    assert aht["C"]["n"] == 5 and aht["C"]["few_observations"] is True
    answered = {r["agent"]: r for r in card.rows if r["kpi"] == "answered"}
    assert {a: r["actual"] for a, r in answered.items()} == {"A": 40, "B": 40, "C": 5}
    assert answered["A"]["status"] == "no target"
    sl = {r["agent"]: r for r in card.rows if r["kpi"] == "service_level"}
    assert {a: r["actual"] for a, r in sl.items()} == {"A": 1.0, "B": 0.0, "C": 1.0}
    assert sl["B"]["recommendations"] == [SERVICE_ACTION] and sl["A"]["recommendations"] == []


def test_kpis_that_cannot_be_cut_are_listed(center: Warehouse) -> None:
    set_targets(center, [*TARGETS, TargetSpec(kpi="csat", target=0.85, period="2026-10")])
    card = build_scorecard(center, OCTOBER, by="queue")
    assert card.skipped == ["csat"]  # surveys carry no queue
    assert {r["kpi"] for r in card.rows} == {"service_level", "abandon_rate", "aht"}
    with pytest.raises(ScorecardError, match="--by 'room'"):
        build_scorecard(center, OCTOBER, by="room")
    with pytest.raises(ScorecardError, match="unknown KPI 'nope'"):
        build_scorecard(center, OCTOBER, kpis=["nope"])


def test_scorecard_where_limits_every_kpi_and_picks_the_subjects_targets(
    center: Warehouse,
) -> None:
    set_targets(center, [*TARGETS, TargetSpec(kpi="csat", target=0.85, period="2026-10")])
    agent = _by_kpi(build_scorecard(center, OCTOBER, where=[("agent", "A")]).rows)
    # A's numbers only, against the nearest target in A's chain (team t1's AHT target).
    assert (agent["aht"]["actual"], agent["aht"]["target"]) == (120.0, 150.0)
    assert agent["aht"]["target_scope"] == "team=t1"
    assert (agent["service_level"]["actual"], agent["service_level"]["n"]) == (1.0, 40)
    team = _by_kpi(build_scorecard(center, OCTOBER, where=[("team", "t1")]).rows)
    assert team["aht"]["actual"] == pytest.approx((40 * 120 + 5 * 50) / 45)
    assert team["aht"]["target_scope"] == "team=t1"
    # Another tenant's scorecard has no data from acme, and the center's targets.
    other = build_scorecard(center, OCTOBER, where=[("tenant", "globex")])
    assert {r["kpi"]: (r["actual"], r["status"]) for r in other.rows}["aht"] == (
        None, "no data")
    # A KPI that cannot be limited by a where dimension is left out, never unfiltered.
    by_queue = build_scorecard(center, OCTOBER, where=[("queue", "support")])
    assert by_queue.skipped == ["csat"]
    assert "csat" not in {r["kpi"] for r in by_queue.rows}
    # With by, the where limits each group's numbers.
    per_agent = build_scorecard(center, OCTOBER, by="agent", where=[("team", "t1")])
    assert sorted({r["agent"] for r in per_agent.rows}) == ["A", "C"]


def test_sample_sizes_only_count_observations(center: Warehouse) -> None:
    result = run_query(center, KpiQuery(kpis=("aht", "service_level", "occupancy", "asa"),
                                        samples=True, start=OCTOBER.start_datetime(),
                                        end=OCTOBER.end_datetime()))
    row = result.rows[0]
    assert (row["aht__n"], row["service_level__n"], row["asa__n"]) == (85, 100, 85)
    assert "occupancy__n" not in row  # a share of seconds has no sample size


def test_scorecard_cli_json_csv_xlsx(center_db: Path, tmp_path: Path) -> None:
    db = str(center_db)
    targets = tmp_path / "t.yaml"
    targets.write_text(
        "targets:\n"
        "  - {kpi: service_level, target: 0.8, period: 2026-10}\n"
        "  - {kpi: aht, target: 150, scope: team=t1, period: 2026-10}\n"
        "  - {kpi: aht, target: 200, period: 2026-10}\n", "utf-8")
    imported = cli("targets", "import", str(targets), "--db", db)
    assert imported.returncode == 0, imported.stderr
    assert "3 added, 0 changed, 0 unchanged" in imported.stderr
    again = cli("targets", "import", str(targets), "--db", db)
    assert "0 added, 0 changed, 3 unchanged" in again.stderr

    result = cli("scorecard", "--period", "2026-10", "--by", "team", "--db", db,
                 "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert set(rows[0]) >= {"team", "kpi", "unit", "target", "actual", "deviation", "status",
                            "impact", "recommendations", "n"}
    got = {(r["team"], r["kpi"]): (r["target"], r["actual"], r["status"], r["n"])
           for r in rows}
    # t1 = A + C: 45 answered, AHT (40*120 + 5*50) / 45 = 112.22; SL 45/45. t2 = B.
    assert got[("t1", "aht")] == (150.0, pytest.approx(5050 / 45), "on track", 45)
    assert got[("t2", "aht")] == (200.0, 240.0, "critical", 40)
    assert got[("t1", "service_level")] == (0.8, 1.0, "on track", 45)
    assert got[("t2", "service_level")] == (0.8, 0.0, "critical", 40)
    assert len(rows) == 4

    csv_out = cli("scorecard", "--period", "2026-10", "--db", db, "--format", "csv")
    header, *lines = csv_out.stdout.splitlines()
    assert header.startswith("kpi,name,unit,target,actual,deviation,status,impact,"
                             "recommendations,n")
    assert lines[0].startswith("service_level,Service level,ratio,0.8,0.45,-0.4375,critical,"
                               f"high,{SERVICE_ACTION},100")

    book_path = tmp_path / "card.xlsx"
    written = cli("scorecard", "--period", "2026-10", "--db", db, "--format", "xlsx",
                  "--output", str(book_path))
    assert written.returncode == 0, written.stderr
    book = openpyxl.load_workbook(book_path)
    assert book.sheetnames == ["Scorecard 2026-10", "Recommendations"]
    sheet = book["Scorecard 2026-10"]
    header_row = [c.value for c in sheet[1]]
    first = dict(zip(header_row, [c.value for c in sheet[2]], strict=True))
    assert (first["kpi"], first["target"], first["actual"], first["n"]) == (
        "service_level", 0.8, 0.45, 100)
    assert sheet.cell(2, header_row.index("actual") + 1).number_format == "0.0%"
    assert sheet.cell(2, header_row.index("deviation") + 1).number_format == "+0.0%;-0.0%;0.0%"
    advice = [[c.value for c in row] for row in book["Recommendations"].iter_rows()]
    # The center's abandonment (15 %) is worse than the industry's 5-8 %: advised too,
    # though it has no target here.
    assert advice == [["rule", "action", "kpis"], ["abandonment", ABANDON_ACTION, "abandon_rate"],
                      ["service_level", SERVICE_ACTION, "service_level"]]

    table = cli("scorecard", "--period", "2026-10", "--db", db)
    assert "critical" in table.stdout and f"[1] {SERVICE_ACTION}" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "Oct"), "period 'Oct': expected a month"),
        (("--period", "2026-10", "--format", "pdf"), "--format 'pdf': expected one of table"),
        (("--period", "2026-10", "--format", "xlsx"), "--format xlsx needs --output"),
        (("--period", "2026-10", "--warning", "0.3", "--critical", "0.1"),
         "--warning/--critical: thresholds: expected 0 <= warning (0.3) <= critical (0.1)"),
        (("--period", "2026-10", "--impact", "aht=huge"), "--impact aht=huge: expected high"),
        (("--period", "2026-10", "--by", "room"), "--by 'room': expected one of agent"),
        (("--period", "2026-10", "--kpis", "nope"), "unknown KPI 'nope'"),
    ],
)
def test_scorecard_cli_errors(center_db: Path, args: tuple[str, ...], message: str) -> None:
    result = cli("scorecard", "--db", str(center_db), *args)
    assert result.returncode == 1
    assert message in result.stderr, result.stderr


def test_benchmark_report_against_industry_and_own_past(center: Warehouse) -> None:
    rows = _by_kpi(center_report(center, OCTOBER, kpis=["service_level", "abandon_rate",
                                                        "aht"]))
    sl = rows["service_level"]
    # 0.45 against the 80/20 standard; September was 1.0: a 55 % fall, the best was September.
    assert (sl["actual"], sl["low"], sl["high"], sl["position"], sl["verdict"]) == (
        0.45, 0.8, None, "below", "worse")
    assert (sl["previous"], sl["change"], sl["trend"]) == (1.0, pytest.approx(-0.55),
                                                          "worsening")
    assert (sl["best_period"], sl["best"]) == ("2026-09", 1.0)
    ab = rows["abandon_rate"]
    assert (ab["actual"], ab["position"], ab["verdict"], ab["overstaffed"]) == (
        0.15, "above", "worse", False)
    assert (ab["previous"], ab["trend"]) == (0.0, None)  # no change from zero
    aht = rows["aht"]
    assert (aht["benchmark"], aht["verdict"]) == (None, None)  # no industry benchmark
    assert (aht["previous"], aht["trend"], aht["best_period"]) == (120.0, "worsening", "2026-09")
    # Without history: no previous, the period itself is its best.
    alone = _by_kpi(center_report(center, OCTOBER, kpis=["aht"], history=0))
    assert (alone["aht"]["previous"], alone["aht"]["best_period"]) == (None, "2026-10")


def test_default_benchmark_report_covers_every_benchmarked_kpi(center: Warehouse) -> None:
    from callkpi.kpi.benchmarks import builtin_benchmarks

    rows = center_report(center, OCTOBER)
    assert [r["kpi"] for r in rows] == list(dict.fromkeys(b.kpi for b in builtin_benchmarks()))
    lead = _by_kpi(center_report(center, OCTOBER, industry="telecom"))["lead_response_time"]
    assert (lead["low"], lead["high"]) == (960.0, 960.0)  # the telecom figure, 16 min


def test_agents_percentile_among_peers(center: Warehouse) -> None:
    rows = agent_report(center, OCTOBER, kpis=["aht", "service_level"])
    got = {(r["agent"], r["kpi"]): r for r in rows}
    # AHT, lower is better; peers are A (120, 40 calls) and B (240, 40 calls); C has 5 calls.
    a, b, c = got[("A", "aht")], got[("B", "aht")], got[("C", "aht")]
    assert (a["percentile"], a["rank"], a["peers"], a["team"]) == (0.75, 1, 2, "t1")
    assert (b["percentile"], b["rank"], b["peers"]) == (0.25, 2, 2)
    assert (c["actual"], c["n"], c["percentile"], c["rank"], c["few_observations"]) == (
        50.0, 5, None, None, True)
    # Service level, higher is better: A 1.0 beats B 0.0.
    assert got[("A", "service_level")]["percentile"] == 0.75
    assert got[("B", "service_level")]["verdict"] == "worse"
    # Best first within each KPI.
    assert [r["agent"] for r in rows if r["kpi"] == "aht"] == ["C", "A", "B"]
    with pytest.raises(ValueError, match="lead_response_time cannot be cut by agent"):
        agent_report(center, OCTOBER, kpis=["lead_response_time"])


def test_benchmark_cli(center_db: Path) -> None:
    result = cli("benchmark", "--period", "2026-10", "--db", str(center_db), "--kpis",
                 "service_level", "--format", "json")
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert (row["kpi"], row["actual"], row["verdict"], row["trend"], row["best_period"]) == (
        "service_level", 0.45, "worse", "worsening", "2026-09")
    agents = cli("benchmark", "--period", "2026-10", "--db", str(center_db), "--by", "agent",
                 "--kpis", "aht", "--format", "json")
    assert [(r["agent"], r["rank"]) for r in json.loads(agents.stdout)] == [
        ("C", None), ("A", 1), ("B", 2)]
    table = cli("benchmark", "--period", "2026-10", "--db", str(center_db))
    assert "80.0 %" in table.stdout and "Sources:" in table.stdout
    bad = cli("benchmark", "--period", "2026-10", "--db", str(center_db), "--by", "team")
    assert bad.returncode == 1 and "--by 'team': expected agent" in bad.stderr
