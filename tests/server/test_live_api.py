"""The live routes: events posted over HTTP, the floor now and its stream, each caller
limited to their scope; and the real ``callkpi serve --follow`` tailing a growing
queue_log."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from callkpi.server.app import create_app
from callkpi.server.auth import AuthStore
from callkpi.store import Warehouse


def ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


def entered(call_id: str, queue: str, seconds_ago: float) -> dict[str, Any]:
    return {"type": "call_entered", "at": ago(seconds_ago), "call_id": call_id, "queue": queue}


@pytest.fixture
def live(wh: Warehouse, tmp_path: Path) -> Iterator[tuple[TestClient, AuthStore]]:
    store = AuthStore(tmp_path / "auth.sqlite")
    app = create_app(wh, auth=store, tz="Europe/Moscow", spool_dir=tmp_path / "spool")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, store


@pytest.fixture
def as_user(live: tuple[TestClient, AuthStore],
            token_headers: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
    _, store = live

    def make(name: str, role: str, **scope: list[str]) -> dict[str, str]:
        return token_headers(store, name, role, **scope)

    return make


def test_posted_events_show_on_the_floor_in_each_scope(
    live: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]]
) -> None:
    client, store = live
    admin = as_user("root", "admin")
    acme_manager = as_user("ann", "manager", tenant=["acme"])
    beta_client = as_user("bob", "client", tenant=["beta"])
    agent = as_user("al", "agent", agent=["a1"])

    posted = client.post("/api/events", headers=admin, json={"tenant": "beta", "events": [
        {"type": "agent_logged_in", "at": ago(600), "agent": "b1", "queue": "r"},
        entered("d1", "r", 40)]})
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"events": 2, "loaded": 2, "duplicates": 0, "rejected": 0}
    # A manager limited to acme posts without naming the tenant: it is acme.
    mine = client.post("/api/events", headers=acme_manager, json={"events": [
        {"type": "agent_logged_in", "at": ago(600), "agent": "a1", "queue": "q"},
        entered("c1", "q", 30), entered("c2", "q", 10)]})
    assert mine.status_code == 200, mine.text

    everything = client.get("/api/live", headers=admin).json()
    assert [(q["tenant"], q["queue"], q["waiting"]) for q in everything["queues"]] == [
        ("acme", "q", 2), ("beta", "r", 1)]
    assert 29 <= everything["queues"][0]["longest_wait_s"] <= 40

    beta = client.get("/api/live", headers=beta_client).json()
    assert [q["queue"] for q in beta["queues"]] == ["r"]
    assert [c["call_id"] for c in beta["waiting_calls"]] == ["d1"]
    assert [a["agent"] for a in beta["agents"]] == ["b1"]

    own = client.get("/api/live", headers=agent).json()
    assert [a["agent"] for a in own["agents"]] == ["a1"]
    assert [q["queue"] for q in own["queues"]] == ["q"]

    assert [e["action"] for e in store.audit_log(10)].count("events posted") == 2


@pytest.mark.parametrize(("role", "scope", "body", "status", "message"), [
    ("supervisor", {"team": ["t1"]}, {"tenant": "acme"}, 403, "cannot post events"),
    ("analyst", {}, {"tenant": "acme"}, 403, "cannot post events"),
    ("manager", {"tenant": ["acme"]}, {"tenant": "beta"}, 403, "tenant: expected one of acme"),
    ("manager", {"tenant": ["acme", "beta"]}, {}, 400, "tenant: expected one of acme, beta"),
    ("manager", {"team": ["t1"]}, {"tenant": "acme"}, 403, "a scope of tenants at most"),
])
def test_who_may_post_events(
    live: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]],
    role: str, scope: dict[str, list[str]], body: dict[str, Any], status: int, message: str,
) -> None:
    client, _ = live
    headers = as_user("u", role, **scope)
    response = client.post("/api/events", headers=headers,
                           json={**body, "events": [entered("c1", "q", 5)]})
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_a_bad_batch_gets_422_and_writes_nothing(
    live: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]], wh: Warehouse
) -> None:
    client, _ = live
    admin = as_user("root", "admin")
    response = client.post("/api/events", headers=admin, json={"tenant": "acme", "events": [
        entered("c1", "q", 5),
        {"type": "call_entered", "at": "2026-11-24T10:00:00", "call_id": "c2", "queue": "q"},
        {"type": "call_answered", "at": ago(1), "call_id": "c1", "queue": "q"}]})
    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"index": 1, "field": "at", "message": "a time needs its UTC offset (e.g. "
         "2026-11-24T10:00:00+03:00 or ...Z): a live event's time must not be ambiguous"},
        {"index": 2, "field": "agent", "message": "required for call_answered"}]
    assert wh.sql("SELECT count(*) FROM calls")[0][0] == 0
    unknown = client.post("/api/events", headers=admin, json={"tenant": "../x", "events": []})
    assert unknown.status_code == 400
    extra = client.post("/api/events", headers=admin, json={"events": [], "colour": 1})
    assert extra.status_code == 422


def test_the_stream_sends_the_floor_and_then_each_change(
    live: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]]
) -> None:
    client, _ = live
    admin = as_user("root", "admin")
    outsider = as_user("bob", "client", tenant=["beta"])

    def post_later() -> None:
        time.sleep(0.5)
        client.post("/api/events", headers=admin,
                    json={"tenant": "acme", "events": [entered("s1", "q", 3)]})

    poster = threading.Thread(target=post_later)
    messages = []
    with client.stream("GET", "/api/live/stream", headers=admin) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        poster.start()
        for line in stream.iter_lines():
            if line.startswith("data:"):
                messages.append(json.loads(line[5:]))
                if messages[-1]["waiting_calls"] or len(messages) > 20:
                    break
    poster.join()
    assert messages[0]["waiting_calls"] == []
    assert [c["call_id"] for c in messages[-1]["waiting_calls"]] == ["s1"]
    with client.stream("GET", "/api/live/stream", headers=outsider) as stream:
        first = next(json.loads(line[5:]) for line in stream.iter_lines()
                     if line.startswith("data:"))
    assert first["waiting_calls"] == [] and first["queues"] == []


def test_live_needs_a_login(live: tuple[TestClient, AuthStore]) -> None:
    client, _ = live
    assert client.get("/api/live").status_code == 401
    assert client.post("/api/events", json={"events": []}).status_code == 401


def _run(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "callkpi", *args], capture_output=True,
                          text=True, timeout=120, check=True).stdout


@pytest.mark.slow
def test_serve_follows_a_growing_queue_log(tmp_path: Path,
                                         free_port: Callable[[], int]) -> None:
    db = tmp_path / "w.duckdb"
    Warehouse(db).close()
    log = tmp_path / "queue_log"
    log.write_text("")
    _run("users", "add", "viewer", "--role", "client", "--tenant", "acme", "--db", str(db))
    token = _run("users", "token", "viewer", "--db", str(db)).strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "callkpi", "serve", "--db", str(db), "--port", str(port),
         "--follow", f"{log}=acme"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(300):
            try:
                if httpx2.get(f"{url}/api/health").status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        now = int(time.time())
        with log.open("a") as out:
            out.write(f"{now - 20}|g1|support|NONE|ENTERQUEUE||100|1\n")
            out.write(f"{now - 10}|g2|support|NONE|ENTERQUEUE||101|1\n")
            out.flush()
        waiting: list[str] = []
        for _ in range(100):
            floor = httpx2.get(f"{url}/api/live", headers=headers).json()
            waiting = [c["call_id"] for c in floor["waiting_calls"]]
            if waiting:
                break
            time.sleep(0.1)
        assert waiting == ["g1", "g2"]
        with log.open("a") as out:  # the log grows: g1 is answered
            out.write(f"{now}|g1|support|PJSIP/7|CONNECT|20|g1.1|0\n")
        for _ in range(100):
            floor = httpx2.get(f"{url}/api/live", headers=headers).json()
            waiting = [c["call_id"] for c in floor["waiting_calls"]]
            if waiting == ["g2"]:
                break
            time.sleep(0.1)
        assert waiting == ["g2"]
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert f"following {log} for tenant acme" in stderr
