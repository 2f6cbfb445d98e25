"""The warehouse file: schema on first use, its version, and idempotent loads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callkpi.model import SCHEMA_VERSION, TABLES
from callkpi.store import Warehouse, WarehouseError, arrow_rows


def test_schema_is_created_once_with_its_version(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        assert wh.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in wh.sql("SELECT table_name FROM information_schema.tables")}
        assert set(TABLES) <= tables
    with Warehouse(path) as again:  # opening again neither fails nor changes anything
        assert again.schema_version == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        wh.sql(
            "UPDATE callkpi_meta SET value = ? WHERE key = 'schema_version'",
            [str(SCHEMA_VERSION + 1)],
        )
    with pytest.raises(WarehouseError, match="newer than this callkpi understands"):
        Warehouse(path)


def _deal(deal_id: str, status: str, amount: float) -> dict[str, object]:
    return {
        "deal_id": deal_id,
        "opened_at": dt.datetime(2026, 10, 1),
        "status": status,
        "amount": amount,
        "source": "test",
        "source_ref": f"f:{deal_id}",
    }


def test_load_skips_duplicates_and_updates_changed_rows(wh: Warehouse) -> None:
    with wh.transaction():
        first = wh.load(
            "deals", arrow_rows("deals", [_deal("d1", "open", 100.0), _deal("d2", "open", 50.0)])
        )
    assert (first.loaded, first.updated, first.duplicates) == (2, 0, 0)
    with wh.transaction():
        second = wh.load(
            "deals",
            arrow_rows(
                "deals",
                [
                    _deal("d1", "open", 100.0),  # identical: a duplicate
                    _deal("d2", "won", 55.0),  # same key, new content: an update
                    _deal("d3", "lost", 0.0),  # new
                    _deal("d3", "won", 10.0),  # same key twice in one batch: the last one wins
                ],
            ),
        )
    assert (second.loaded, second.updated, second.duplicates) == (1, 1, 2)
    assert wh.sql("SELECT deal_id, status, amount FROM deals ORDER BY deal_id") == [
        ("d1", "open", 100.0),
        ("d2", "won", 55.0),
        ("d3", "won", 10.0),
    ]


def test_a_failed_transaction_leaves_nothing(wh: Warehouse) -> None:
    with pytest.raises(RuntimeError), wh.transaction():
        wh.load("deals", arrow_rows("deals", [_deal("d1", "open", 1.0)]))
        raise RuntimeError("crash mid-batch")
    assert wh.count("deals") == 0


def test_memory_limit_from_the_caller_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def limit(wh: Warehouse) -> str:
        return str(wh.sql("SELECT current_setting('memory_limit')")[0][0])

    with Warehouse(tmp_path / "a.duckdb", memory_limit="512MiB") as wh:
        assert limit(wh) == "512.0 MiB"
    monkeypatch.setenv("CALLKPI_MEMORY_LIMIT", "1GiB")
    with Warehouse(tmp_path / "a.duckdb", read_only=True) as wh:
        assert limit(wh) == "1.0 GiB"
    with pytest.raises(WarehouseError, match="memory limit '1 GB; DROP TABLE calls'"):
        Warehouse(tmp_path / "a.duckdb", memory_limit="1 GB; DROP TABLE calls")
