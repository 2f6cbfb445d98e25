"""Shared fixtures: a real DuckDB warehouse file per test; for server tests, a free port
and users with API tokens."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callkpi.store import Warehouse

# The compiled-SQL disk cache stays off in tests (and in the processes they start), so a
# test's compile counts never depend on an earlier run; tests/kpi/test_sql_cache.py turns
# it on in a directory of its own.
os.environ["CALLKPI_SQL_CACHE"] = "off"

SHARED_DATA = (Path(__file__).resolve().parents[2] / "shared" / "data").resolve()


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse(tmp_path / "test.duckdb")
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a TCP port on 127.0.0.1 nothing listens on now."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return pick


@pytest.fixture(scope="session")
def token_headers() -> Callable[..., dict[str, str]]:
    """``token_headers(store, name, role, **scope)``: add that user (with a password, so
    nothing is left to change) to the AuthStore and return the headers that authenticate
    as them with a fresh API token."""
    from callkpi.server.auth import Scope

    def make(store: Any, name: str, role: str, **scope: list[str]) -> dict[str, str]:
        store.add_user(name, role, Scope.of(**scope), actor="test",
                       password="correct horse battery staple")
        token, _ = store.new_token(name, actor="test")
        return {"Authorization": f"Bearer {token}"}

    return make
