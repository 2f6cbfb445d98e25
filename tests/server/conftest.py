"""Fixtures for the server tests: a small demo warehouse (two days of the demo center,
loaded through the real adapters), an auth file and a TestClient on both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callkpi.demo import build_demo
from callkpi.server.app import create_app
from callkpi.server.auth import AuthStore
from callkpi.store import Warehouse


@pytest.fixture(scope="session")
def demo_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("server-demo")
    wh = Warehouse(root / "demo.duckdb")
    build_demo(wh, days=2, seed=7, data_dir=root / "data")
    yield wh
    wh.close()


@pytest.fixture
def store(tmp_path: Path) -> AuthStore:
    return AuthStore(tmp_path / "auth.sqlite")


@pytest.fixture
def client(demo_wh: Warehouse, store: AuthStore) -> Iterator[TestClient]:
    app = create_app(demo_wh, auth=store)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def bearer(store: AuthStore,
           token_headers: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
    """``bearer(name, role, **scope)``: a user with that role and scope, and the headers
    that authenticate as them with a fresh API token."""

    def make(name: str, role: str, **scope: list[str]) -> dict[str, str]:
        return token_headers(store, name, role, **scope)

    return make
