"""The filter bar's choices are kept per scope until new data arrives: a queue that first
appears in posted events is a choice at once, and a cached answer is never another
scope's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callkpi.server.app import create_app
from callkpi.server.auth import AuthStore
from callkpi.store import Warehouse


@pytest.fixture
def client(wh: Warehouse, tmp_path: Path) -> Iterator[tuple[TestClient, AuthStore]]:
    store = AuthStore(tmp_path / "auth.sqlite")
    with TestClient(create_app(wh, auth=store, spool_dir=tmp_path / "spool")) as c:
        yield c, store


def _call(call_id: str, queue: str) -> list[dict[str, object]]:
    at = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    return [{"type": "call_entered", "at": at.isoformat(), "call_id": call_id, "queue": queue},
            {"type": "call_abandoned", "at": (at + dt.timedelta(seconds=30)).isoformat(),
             "call_id": call_id, "queue": queue}]


def test_choices_follow_new_data_and_stay_in_scope(
    client: tuple[TestClient, AuthStore], token_headers: Callable[..., dict[str, str]]
) -> None:
    c, store = client
    admin = token_headers(store, "root", "admin")
    acme = token_headers(store, "ac", "client", tenant=["acme"])
    assert c.post("/api/events", headers=admin,
                  json={"tenant": "acme", "events": _call("x1", "q_acme")}).status_code == 200
    assert c.post("/api/events", headers=admin,
                  json={"tenant": "beta", "events": _call("y1", "q_beta")}).status_code == 200

    def queues(headers: dict[str, str]) -> list[str]:
        body = c.get("/api/filters", headers=headers).json()
        return list(body["dimensions"]["queue"]["values"])

    assert queues(admin) == ["q_acme", "q_beta"]
    assert queues(acme) == ["q_acme"]  # the cache never hands out another scope's answer
    assert queues(admin) == ["q_acme", "q_beta"]
    c.post("/api/events", headers=admin,
           json={"tenant": "acme", "events": _call("x2", "q_new")})
    assert queues(admin) == ["q_acme", "q_beta", "q_new"]  # new data: computed again
    assert queues(acme) == ["q_acme", "q_new"]
