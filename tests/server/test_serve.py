"""The real thing: ``callkpi serve`` under uvicorn on a free port, called over HTTP, with
``callkpi users`` run in other processes while it serves (they share the auth file)."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from callkpi.store import Warehouse, arrow_rows

PASSWORD = "correct horse battery staple"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callkpi", *args], capture_output=True,
                          text=True, timeout=120)


def _call(call_id: str, tenant: str, queue: str, minute: int, outcome: str) -> dict[str, object]:
    entered = dt.datetime(2026, 10, 1, 9, 0) + dt.timedelta(minutes=minute)
    answered = outcome == "answered"
    return {
        "call_id": call_id, "segment": 1, "tenant": tenant, "direction": "in",
        "queue": queue, "agent": f"Agent/{minute % 3}" if answered else None,
        "entered_at": entered, "outcome": outcome, "wait_s": 5.0 + minute,
        "talk_s": 60.0 + 10 * minute if answered else None, "transferred": False,
        "source": "test", "source_ref": call_id,
    }


def _warehouse(path: Path) -> None:
    rows = [
        _call(f"a{i}", "acme", "acme_support", i, "answered" if i % 4 else "abandoned")
        for i in range(12)
    ] + [_call(f"b{i}", "globex", "globex_sales", i, "answered") for i in range(7)]
    with Warehouse(path) as wh, wh.transaction():
        wh.load("calls", arrow_rows("calls", rows))



@pytest.mark.slow
def test_serve_over_http(tmp_path: Path, free_port: Callable[[], int]) -> None:
    db = tmp_path / "w.duckdb"
    _warehouse(db)
    kpis = ["offered", "answered", "abandoned", "aht", "service_level"]
    expected = {}
    for tenant in ("acme", "globex"):
        cli = run("kpi", *kpis, "--db", str(db), "--by", "queue", "--where", f"tenant={tenant}",
                  "--format", "json")
        assert cli.returncode == 0, cli.stderr
        expected[tenant] = json.loads(cli.stdout)
    assert expected["acme"][0]["offered"] == 12

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "callkpi", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(server.stdout.readline, "")),
                              daemon=True)  # type: ignore[union-attr]
    reader.start()
    base = f"http://127.0.0.1:{port}"
    secrets: list[str] = []
    try:
        http = httpx2.Client(base_url=base, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "".join(output)
            try:
                if http.get("/api/health").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "".join(output)
            time.sleep(0.2)

        found = re.search(r"one-time password\s+(\S+)", "".join(output))
        assert found, "".join(output)
        admin_password = found.group(1)
        assert (tmp_path / "w.duckdb.auth.sqlite").exists()

        # The admin logs in, must change the one-time password, then may query.
        login = http.post("/api/login", json={"name": "admin", "password": admin_password})
        assert login.status_code == 200 and login.json()["user"]["must_change_password"]
        assert http.get("/api/kpi").status_code == 403
        assert http.post("/api/me/password",
                         json={"old": admin_password, "new": PASSWORD}).status_code == 204
        everyone = http.get("/api/kpi", params={"kpis": kpis, "by": "tenant"}).json()
        assert [r["tenant"] for r in everyone] == ["acme", "globex"]
        assert http.get("/docs").status_code == 200
        assert "/api/kpi" in http.get("/api/openapi.json").json()["paths"]

        # Another process adds a client and issues its token while the server runs.
        added = run("users", "add", "acme_viewer", "--role", "client", "--tenant", "acme",
                    "--db", str(db))
        assert added.returncode == 0, added.stderr
        secrets.append(added.stdout.strip())
        issued = run("users", "token", "acme_viewer", "--days", "30", "--db", str(db))
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()
        assert re.fullmatch(r"ck_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
        secrets.append(token)
        auth = {"Authorization": f"Bearer {token}"}
        got = httpx2.get(f"{base}/api/kpi", params={"kpis": kpis, "by": "queue"}, headers=auth,
                         timeout=30)
        assert got.status_code == 200 and got.json() == expected["acme"]
        other = httpx2.get(f"{base}/api/kpi", headers=auth, timeout=30,
                           params={"kpis": kpis, "where": "tenant=globex"})
        assert other.status_code == 403
        bad = httpx2.get(f"{base}/api/kpi", headers=auth, params={"tz": "Nowhere/Land"},
                         timeout=30)
        assert bad.status_code == 400 and "unknown time zone" in bad.json()["detail"]

        listed = run("users", "tokens", "acme_viewer", "--db", str(db), "--format", "json")
        (info,) = json.loads(listed.stdout)
        assert info["revoked_at"] is None and info["last_used_at"] is not None
        assert token not in listed.stdout
        revoked = run("users", "revoke", info["id"], "--db", str(db))
        assert revoked.returncode == 0, revoked.stderr
        after = httpx2.get(f"{base}/api/me", headers=auth, timeout=30)
        assert after.status_code == 401 and after.json()["detail"] == "token revoked"

        audit = run("users", "audit", "--db", str(db), "--format", "json")
        actions = [e["action"] for e in json.loads(audit.stdout)]
        assert actions[:4] == ["token.revoke", "token.create", "user.add", "user.password"]
        assert token not in audit.stdout and PASSWORD not in audit.stdout
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        reader.join(timeout=10)
    log = "".join(output)
    assert log.count(admin_password) == 1  # the one-time print, nothing else
    for secret in (*secrets, PASSWORD):
        assert secret not in log
    assert "GET /api/kpi" in log  # uvicorn's access log is on


def test_users_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    bad = run("users", "add", "eve", "--role", "client", "--db", db)
    assert bad.returncode == 1 and "role client needs at least one --tenant" in bad.stderr
    bad_role = run("users", "add", "eve", "--role", "owner", "--db", db)
    assert bad_role.returncode == 1 and "unknown role 'owner'" in bad_role.stderr
    ok = run("users", "add", "sam", "--role", "agent", "--agent", "PJSIP/1001", "--db", db)
    assert ok.returncode == 0 and len(ok.stdout.strip()) == 20
    assert "one-time password" in ok.stderr
    listed = json.loads(run("users", "list", "--db", db, "--format", "json").stdout)
    assert listed == [{"name": "sam", "role": "agent", "scope": "agent=PJSIP/1001",
                       "disabled": "no", "created_at": listed[0]["created_at"]}]
    assert run("users", "token", "nobody", "--db", db).returncode == 1
    assert run("users", "revoke", "abc", "--db", db).returncode == 1
    reset = run("users", "password", "sam", "--db", db)
    assert reset.returncode == 0 and reset.stdout.strip() != ok.stdout.strip()
    assert run("users", "disable", "sam", "--db", db).returncode == 0
    assert json.loads(run("users", "list", "--db", db, "--format", "json").stdout)[0][
        "disabled"] == "yes"
    assert not (tmp_path / "w.duckdb").exists()  # users need no warehouse
    no_db = run("serve", "--db", db, "--port", "1")
    assert no_db.returncode == 1 and "no warehouse at" in no_db.stderr
