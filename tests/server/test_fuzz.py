"""Schemathesis against the server's own OpenAPI schema: requests generated from every
operation (valid and invalid inputs) never get a 5xx. Bounded: a few examples per
operation, no deadline. Left out: the live stream (it never ends), changing the caller's
own password or revoking their tokens (the rest of the run would be logged out), and the
login (its rate limit would only answer 429)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from callkpi.server.app import create_app
from callkpi.server.auth import AuthStore, Scope
from callkpi.store import Warehouse, arrow_rows

SKIPPED = {("GET", "/api/live/stream"), ("POST", "/api/me/password"),
           ("DELETE", "/api/tokens/{token_id}"), ("POST", "/api/login"),
           ("POST", "/api/logout")}


def _calls() -> list[dict[str, Any]]:
    rows = []
    for n in range(40):
        entered = dt.datetime(2026, 10, 1, 9) + dt.timedelta(minutes=17 * n)
        answered = n % 5 != 0
        rows.append({
            "call_id": f"f{n}", "segment": 1, "tenant": "acme" if n % 2 else "beta",
            "direction": "in", "queue": f"q{n % 3}",
            "agent": f"A{n % 4}" if answered else None, "entered_at": entered,
            "outcome": "answered" if answered else "abandoned", "wait_s": 3.0 + n,
            "talk_s": 100.0 + n if answered else None, "transferred": False,
            "source": "test", "source_ref": f"f{n}"})
    return rows


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    root = tmp_path_factory.mktemp("fuzz")
    wh = Warehouse(root / "w.duckdb")
    with wh.transaction():
        wh.load("calls", arrow_rows("calls", _calls()))
    store = AuthStore(root / "auth.sqlite")
    store.add_user("fuzzer", "admin", Scope.of(), actor="test",
                   password="correct horse battery staple")
    token, _ = store.new_token("fuzzer", actor="test")
    app = create_app(wh, auth=store, spool_dir=root / "spool")
    yield app, {"Authorization": f"Bearer {token}"}
    app.state.live.close()
    wh.close()


def test_no_request_gets_a_server_error(served: tuple[Any, dict[str, str]]) -> None:
    app, headers = served
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        tried.append(f"{operation.method.upper()} {operation.path}")

        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        call()
    assert "GET /api/kpi" in tried and "POST /api/events" in tried and len(tried) >= 20
