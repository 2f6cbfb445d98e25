"""Targets: stored per KPI, scope and period, imported idempotently, chosen by precedence,
and every mistake named with its file, entry and field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callkpi.goals.periods import parse_period
from callkpi.goals.targets import (
    TargetError,
    TargetSpec,
    applicable,
    import_file,
    list_targets,
    parse_scope,
    read_file,
    remove_target,
    set_targets,
)
from callkpi.store import LoadCounts, Warehouse

TARGETS = """\
targets:
  - {kpi: aht, target: 300, period: 2026-10, owner: Quality lead, due: 2026-10-31}
  - {kpi: aht, target: 250, scope: team=t1, period: 2026-Q4}
  - {kpi: aht, target: 200, scope: agent=A, period: 2026-10, warning: 0.02, critical: 0.1}
  - {kpi: service_level, target: 0.8, period: 2026-Q4, impact: low, note: 80/20}
"""


def _file(tmp_path: Path, text: str = TARGETS, name: str = "targets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def test_import_is_idempotent_and_changes_are_updates(wh: Warehouse, tmp_path: Path) -> None:
    path = _file(tmp_path)
    assert import_file(wh, path) == LoadCounts(loaded=4, updated=0, duplicates=0)
    assert import_file(wh, path) == LoadCounts(loaded=0, updated=0, duplicates=4)
    assert wh.sql("SELECT count(*) FROM targets") == [(4,)]
    _file(tmp_path, TARGETS.replace("target: 300", "target: 280"))
    assert import_file(wh, path) == LoadCounts(loaded=0, updated=1, duplicates=3)
    stored = list_targets(wh)
    assert [(t["kpi"], t["scope"], t["scope_value"], t["target"]) for t in stored] == [
        ("aht", "agent", "A", 200.0),
        ("aht", "center", None, 280.0),
        ("aht", "team", "t1", 250.0),
        ("service_level", "center", None, 0.8),
    ]
    center = stored[1]
    assert (center["period_start"], center["period_end"]) == (dt.date(2026, 10, 1),
                                                             dt.date(2026, 10, 31))
    assert (center["owner"], center["due_date"]) == ("Quality lead", dt.date(2026, 10, 31))
    agent = stored[0]
    assert (agent["warning"], agent["critical"]) == (0.02, 0.1)
    assert stored[3]["impact"] == "low" and stored[3]["note"] == "80/20"


def test_set_replaces_and_remove_deletes(wh: Warehouse) -> None:
    spec = TargetSpec(kpi="asa", target=20, period="2026-10")
    assert set_targets(wh, [spec]) == LoadCounts(loaded=1)
    assert set_targets(wh, [spec.model_copy(update={"target": 15.0})]) == LoadCounts(updated=1)
    assert [t["target"] for t in list_targets(wh)] == [15.0]
    # Only the exact scope and period are removed.
    assert not remove_target(wh, "asa", parse_period("2026-Q4"))
    assert not remove_target(wh, "asa", parse_period("2026-10"), "queue=support")
    assert remove_target(wh, "asa", parse_period("2026-10"))
    assert list_targets(wh) == []


def test_list_by_period_keeps_overlapping_targets(wh: Warehouse, tmp_path: Path) -> None:
    import_file(wh, _file(tmp_path))
    assert len(list_targets(wh, parse_period("2026-11"))) == 2  # the two Q4 targets
    assert len(list_targets(wh, parse_period("2026-10-15"))) == 4
    assert list_targets(wh, parse_period("2026-09")) == []


def test_precedence_agent_team_center_and_shorter_periods(wh: Warehouse,
                                                          tmp_path: Path) -> None:
    import_file(wh, _file(tmp_path))
    october = parse_period("2026-10")
    targets = list_targets(wh, october)

    def chosen(chain: list[tuple[str, str | None]], period: str = "2026-10") -> float | None:
        found = applicable(targets, "aht", parse_period(period), chain)
        return found["target"] if found else None

    center: list[tuple[str, str | None]] = [("center", None)]
    assert chosen([("agent", "A"), ("team", "t1"), *center]) == 200  # the agent's own
    assert chosen([("agent", "C"), ("team", "t1"), *center]) == 250  # the team's
    assert chosen([("agent", "B"), ("team", "t2"), *center]) == 300  # the center's
    assert chosen([("team", "t2")]) is None  # no center in the chain: nothing
    # November: the October targets do not cover it, the team's Q4 one does.
    targets = list_targets(wh)
    assert chosen([("agent", "A"), ("team", "t1"), *center], "2026-11") == 250
    assert chosen(center, "2026-11") is None
    # The whole quarter is only covered by the quarter's target.
    assert chosen([("agent", "A"), ("team", "t1"), *center], "2026-Q4") == 250
    # A month and a quarter target on the same scope: the month wins for the month.
    set_targets(wh, [TargetSpec(kpi="aht", target=260, scope="team=t1", period="2026-10")])
    targets = list_targets(wh)
    assert chosen([("team", "t1"), *center]) == 260
    assert chosen([("team", "t1"), *center], "2026-11") == 250


def test_scopes() -> None:
    assert parse_scope("center") == ("center", None)
    assert parse_scope("") == ("center", None)
    assert parse_scope("queue=bank_vip") == ("queue", "bank_vip")
    assert parse_scope("agent=PJSIP/1201") == ("agent", "PJSIP/1201")
    for bad in ("room=5", "queue", "queue=", "center=x"):
        with pytest.raises(TargetError, match="expected center or one of tenant=VALUE"):
            parse_scope(bad)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{kpi: nope, target: 1, period: 2026-10}", "target 2: unknown KPI 'nope'"),
        ("{kpi: aht, target: 1, period: 2026-13}", "target 2: period: Value error, period "
         "'2026-13': expected a month"),
        ("{kpi: aht, target: fast, period: 2026-10}", "target 2: target: Input should be a "
         "valid number"),
        ("{kpi: aht, period: 2026-10}", "target 2: target: Field required"),
        ("{kpi: aht, target: 1, period: 2026-10, scope: room=1}", "target 2: scope: Value "
         "error, scope 'room=1'"),
        ("{kpi: aht, target: 1, period: 2026-10, owner: me, colour: red}", "target 2: colour: "
         "Extra inputs are not permitted"),
        ("{kpi: aht, target: 1, period: 2026-10, impact: huge}", "target 2: impact: Input "
         "should be 'high', 'medium' or 'low'"),
        ("{kpi: aht, target: 1, period: 2026-10, warning: 0.3, critical: 0.1}",
         "target 2: expected 0 <= warning <= critical"),
    ],
)
def test_bad_entries_name_file_entry_and_field(wh: Warehouse, tmp_path: Path, entry: str,
                                               message: str) -> None:
    path = _file(tmp_path, f"targets:\n  - {{kpi: asa, target: 20, period: 2026-10}}\n"
                           f"  - {entry}\n")
    with pytest.raises(TargetError) as caught:
        import_file(wh, path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert wh.sql("SELECT count(*) FROM targets") == [(0,)]  # nothing half-loaded


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot read"):
        read_file(tmp_path / "missing.yaml")
    with pytest.raises(TargetError, match="not valid YAML"):
        read_file(_file(tmp_path, "targets: [\n"))
    with pytest.raises(TargetError, match="expected a mapping with a 'targets' list"):
        read_file(_file(tmp_path, "- {kpi: aht}\n"))


def test_the_demo_targets_file_loads(wh: Warehouse) -> None:
    path = Path(__file__).parents[2] / "src/callkpi/goals/examples/demo_targets.yaml"
    counts = import_file(wh, path)
    entries = path.read_text("utf-8").count("{kpi:")
    assert counts == LoadCounts(loaded=entries)
    assert entries >= 20
