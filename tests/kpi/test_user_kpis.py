"""Users' own KPI files and the safe formula language: what passes, what is refused."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from callkpi.kpi import (
    CatalogError,
    FormulaError,
    KpiQuery,
    QueryError,
    formula,
    load_catalog,
    query,
    run_query,
)
from callkpi.store import Warehouse, arrow_rows

DAY = dt.datetime(2026, 10, 1, 9)


def _calls(wh: Warehouse) -> None:
    rows = []
    for i, (outcome, wait_s, talk_s) in enumerate(
        [
            ("answered", 10, 100),
            ("answered", 40, 200),
            ("abandoned", 30, None),
            ("answered", 5, 60),
        ]
    ):
        rows.append(
            {
                "call_id": f"c{i}",
                "segment": 1,
                "direction": "in",
                "queue": "q1",
                "entered_at": DAY + dt.timedelta(minutes=i),
                "outcome": outcome,
                "wait_s": wait_s,
                "talk_s": talk_s,
                "transferred": False,
                "source": "test",
            }
        )
    with wh.transaction():
        wh.load("calls", arrow_rows("calls", rows))


def _write(path: Path, kpis: list[dict[str, object]]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"kpis": kpis}))
    return path


def _kpi(**fields: object) -> dict[str, object]:
    base = {
        "name": "mine",
        "category": "inbound",
        "definition": "d",
        "formula": "f",
        "unit": "ratio",
        "direction": "higher_is_better",
    }
    return {**base, **fields}


def test_a_user_kpi_file_adds_derived_and_ratio_kpis(wh: Warehouse, tmp_path: Path) -> None:
    _calls(wh)
    path = _write(
        tmp_path / "mine.yaml",
        [
            _kpi(
                id="quick_answer_share",
                type="ratio",
                numerator="answered_in_threshold",
                denominator="answered",
                params={"answer_threshold_s": 20, "short_abandon_s": 5},
            ),
            _kpi(id="talk_minutes", type="derived", expression="talk_s / 60", unit="count"),
            _kpi(id="asa_over_aht", type="derived", expression="asa / aht", unit="ratio"),
            _kpi(
                id="lost_share",
                type="derived",
                expression="abandoned / nullif(offered, 0) * scale",
                params={"scale": 100},
                unit="score",
            ),
        ],
    )
    catalog = load_catalog([path])
    rows = run_query(
        wh,
        KpiQuery(kpis=("quick_answer_share", "talk_minutes", "asa_over_aht", "lost_share")),
        catalog=catalog,
    ).rows
    assert rows == [
        {
            "quick_answer_share": pytest.approx(2 / 3),  # waits 10 and 5 within 20 s, of 3
            "talk_minutes": pytest.approx(6.0),  # (100 + 200 + 60) / 60
            # asa = (10 + 40 + 5) / 3; aht = (100 + 200 + 60) / 3: 55 / 360
            "asa_over_aht": pytest.approx(55 / 360),
            "lost_share": pytest.approx(25.0),  # 1 / 4 * 100
        }
    ]
    # the same through the Python API, and with a parameter changed
    table = query(
        wh, ["quick_answer_share"], catalog_files=[path], params={"answer_threshold_s": 40}
    )
    assert table.to_pylist() == [{"quick_answer_share": 1.0}]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("answered + tipo", "unknown name 'tipo'"),
        ("system('rm -rf /')", "function 'system' is not allowed"),
        ("answered; DROP TABLE calls", "must be a single expression"),
        ("(SELECT count(*) FROM calls)", "is not allowed in a formula"),
        ("read_csv('/etc/passwd')", "function 'read_csv' is not allowed"),
        ("calls.answered", "names cannot be qualified with a table"),
        ("answered::VARCHAR", "function 'cast' is not allowed"),
        ("answered +", "cannot be read"),
        ("", "is empty"),
    ],
)
def test_bad_formulas_are_refused_with_the_token(
    tmp_path: Path, expression: str, message: str
) -> None:
    path = _write(tmp_path / "bad.yaml", [_kpi(id="bad", type="derived", expression=expression)])
    with pytest.raises(CatalogError, match=message) as info:
        load_catalog([path])
    assert "bad" in str(info.value)


def test_the_error_points_at_the_bad_token() -> None:
    with pytest.raises(FormulaError) as info:
        formula.parse("answered / offered + pg_sleep(10)")
    lines = str(info.value).splitlines()
    assert lines[1].strip() == "answered / offered + pg_sleep(10)"
    column = lines[1].index("pg_sleep")
    assert lines[2][column : column + len("pg_sleep")] == "^" * len("pg_sleep")


@pytest.mark.parametrize(
    ("kpis", "message"),
    [
        ([_kpi(id="offered", type="count", measure="offered")], "KPI offered is defined twice"),
        ([_kpi(id="x", type="count", measure="nonexistent")], "unknown measure 'nonexistent'"),
        (
            [_kpi(id="x", type="ratio", numerator="answered", denominator="offered + bogus")],
            "unknown measure 'bogus'",
        ),
        (
            [
                _kpi(id="x", type="derived", expression="y"),
                _kpi(id="y", type="derived", expression="x"),
            ],
            "refers to itself",
        ),
        ([_kpi(id="x", type="magic", measure="offered")], "type"),
        ([{"id": "x", "type": "count", "measure": "offered"}], "Field required"),
        ([_kpi(id="Not An Id", type="count", measure="offered")], "id"),
    ],
)
def test_bad_kpi_files_are_refused(
    tmp_path: Path, kpis: list[dict[str, object]], message: str
) -> None:
    path = _write(tmp_path / "bad.yaml", kpis)
    with pytest.raises(CatalogError, match=message) as info:
        load_catalog([path])
    assert str(path) in str(info.value) or "KPI" in str(info.value)


def test_a_file_that_is_not_a_kpi_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(CatalogError, match="expected a mapping with a 'kpis' list"):
        load_catalog([path])
    with pytest.raises(CatalogError, match="cannot read the KPI file"):
        load_catalog([tmp_path / "missing.yaml"])


def test_a_user_kpi_cannot_reach_sql_through_parameters(wh: Warehouse) -> None:
    _calls(wh)
    # A parameter value is a literal, never SQL: this compares wait_s with a string.
    with pytest.raises(QueryError, match="expected a number"):
        run_query(
            wh,
            KpiQuery(
                kpis=("service_level",), params={"answer_threshold_s": "20; DROP TABLE calls"}
            ),
        )
    assert wh.count("calls") == 4


def test_cli_with_a_user_catalog(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with Warehouse(db) as wh:
        _calls(wh)
    path = _write(
        tmp_path / "mine.yaml",
        [_kpi(id="talk_minutes", type="derived", expression="talk_s / 60", unit="count")],
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "callkpi",
            "kpi",
            "talk_minutes",
            "answered",
            "--db",
            str(db),
            "--catalog",
            str(path),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"talk_minutes": 6.0, "answered": 3}]
    bad = _write(tmp_path / "bad.yaml", [_kpi(id="x", type="derived", expression="evil()")])
    refused = subprocess.run(
        [sys.executable, "-m", "callkpi", "kpis", "list", "--catalog", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "function 'evil' is not allowed" in refused.stderr
