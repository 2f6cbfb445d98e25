"""docs/kpis.md is generated from the catalog and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from callkpi.kpi import builtin_catalog
from callkpi.kpi.docs import markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"


def test_docs_match_the_catalog() -> None:
    assert DOCS.read_text(encoding="utf-8") == markdown(), (
        "docs/kpis.md is out of date: run .venv/bin/python -m callkpi.kpi.docs"
    )


def test_every_kpi_is_documented_with_its_fields() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for kpi in builtin_catalog():
        assert f"### `{kpi.id}` — {kpi.name}" in text
        assert kpi.definition and kpi.formula and kpi.unit and kpi.direction
