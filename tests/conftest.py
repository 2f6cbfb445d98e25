"""Shared fixtures: a real DuckDB warehouse file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callkpi.store import Warehouse

SHARED_DATA = (Path(__file__).resolve().parents[2] / "shared" / "data").resolve()


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse(tmp_path / "test.duckdb")
    yield warehouse
    warehouse.close()
