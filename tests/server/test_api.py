"""The REST API through FastAPI's TestClient on a real demo warehouse: login, sessions and
tokens, the catalog, KPI queries in the CLI's JSON, precise 4xx for bad input, limits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callkpi.cli import DEFAULT_KPIS as CLI_DEFAULT_KPIS
from callkpi.cli import main
from callkpi.kpi import builtin_catalog
from callkpi.server import auth as auth_module
from callkpi.server.app import DEFAULT_KPIS, MAX_BODY_BYTES
from callkpi.server.auth import LOGIN_MAX_PER_USER, AuthStore, Scope
from callkpi.store import Warehouse

PASSWORD = "correct horse battery staple"
Bearer = Callable[..., dict[str, str]]


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main([*args, "--format", "json"])
    captured = capsys.readouterr()
    assert done.value.code == 0, captured.err
    return json.loads(captured.out)


def test_docs_page_and_openapi_need_no_login(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}
    schema = client.get("/api/openapi.json").json()
    assert {"/api/kpi", "/api/kpis", "/api/kpis/{kpi_id}", "/api/login", "/api/me"} <= set(
        schema["paths"]
    )
    kpi_params = {p["name"] for p in schema["paths"]["/api/kpi"]["get"]["parameters"]}
    assert kpi_params == {"kpis", "by", "grain", "from", "to", "tz", "where", "set"}
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/api/kpi" in page.text and "<script" not in page.text and "cdn" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/", follow_redirects=False).headers["location"] == "/overview"


@pytest.mark.parametrize("path", ["/api/me", "/api/kpi", "/api/kpis", "/api/kpis/aht",
                                  "/api/tokens", "/api/users", "/api/audit"])
def test_everything_else_needs_a_login(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert "not logged in" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_login_session_cookie_and_logout(client: TestClient, store: AuthStore) -> None:
    store.add_user("ann", "analyst", actor="t", password=PASSWORD)
    wrong = client.post("/api/login", json={"name": "ann", "password": "not it at all"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "wrong user name or password"}
    ok = client.post("/api/login", json={"name": "ann", "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["user"]["role"] == "analyst"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=43200" in cookie
    me = client.get("/api/me").json()
    assert (me["name"], me["auth"], me["scope"]) == ("ann", "session", {})
    assert client.get("/api/kpi", params={"kpis": "offered"}).status_code == 200
    # A cross-site form post with the cookie is refused.
    assert client.post("/api/logout", headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/api/logout").status_code == 204
    assert client.get("/api/me").status_code == 401
    actions = [e["action"] for e in store.audit_log()]
    assert actions[:3] == ["logout", "login", "login.failed"]
    assert store.audit_log()[1]["client"] == "testclient"


def test_one_time_password_must_be_changed_first(client: TestClient, store: AuthStore) -> None:
    _, one_time = store.add_user("bob", "manager", actor="t")
    assert client.post("/api/login", json={"name": "bob", "password": one_time}).status_code == 200
    assert client.get("/api/me").json()["must_change_password"] is True
    blocked = client.get("/api/kpi")
    assert blocked.status_code == 403 and "POST /api/me/password" in blocked.json()["detail"]
    bad = client.post("/api/me/password", json={"old": "wrong wrong wrong", "new": PASSWORD})
    assert bad.status_code == 403
    short = client.post("/api/me/password", json={"old": one_time, "new": "short"})
    assert short.status_code == 400 and "at least 12" in short.json()["detail"]
    assert client.post(
        "/api/me/password", json={"old": one_time, "new": PASSWORD}
    ).status_code == 204
    assert client.get("/api/kpi", params={"kpis": "offered"}).status_code == 200


def test_login_is_rate_limited(client: TestClient, store: AuthStore) -> None:
    store.add_user("ann", "analyst", actor="t", password=PASSWORD)
    for _ in range(LOGIN_MAX_PER_USER):
        r = client.post("/api/login", json={"name": "ann", "password": "guess guess guess"})
        assert r.status_code == 401
    limited = client.post("/api/login", json={"name": "ann", "password": PASSWORD})
    assert limited.status_code == 429
    assert "too many failed logins" in limited.json()["detail"]
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60 + 1
    assert "set-cookie" not in limited.headers


def test_tokens_over_the_api(
    client: TestClient, store: AuthStore, bearer: Bearer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = bearer("root", "admin")
    store.add_user("ann", "analyst", actor="t", password=PASSWORD)
    client.post("/api/login", json={"name": "ann", "password": PASSWORD})
    made = client.post("/api/tokens", json={"label": "export", "days": 7})
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["id"]
    listed = client.get("/api/tokens").json()
    assert [t["id"] for t in listed] == [token_id] and token not in json.dumps(listed)
    client.cookies.clear()

    auth = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/me", headers=auth).json()
    assert (me["name"], me["auth"], me["token_id"]) == ("ann", "token", token_id)
    for header in ("Bearer", "Basic abc", f"Bearer {token}x", "Bearer ck_nope_nope"):
        r = client.get("/api/me", headers={"Authorization": header})
        assert r.status_code == 401, header

    real_now = auth_module._now
    monkeypatch.setattr(auth_module, "_now", lambda: real_now() + dt.timedelta(days=8))
    expired = client.get("/api/me", headers=auth)
    assert expired.status_code == 401 and expired.json()["detail"] == "token expired"
    monkeypatch.setattr(auth_module, "_now", real_now)

    other = bearer("eve", "analyst")
    assert client.delete(f"/api/tokens/{token_id}", headers=other).status_code == 404
    assert client.get("/api/me", headers=auth).status_code == 200
    revoked = client.delete(f"/api/tokens/{token_id}", headers=auth)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    gone = client.get("/api/me", headers=auth)
    assert gone.status_code == 401 and gone.json()["detail"] == "token revoked"
    assert client.post("/api/logout", headers=other).status_code == 400

    audit = client.get("/api/audit", headers=admin).json()
    assert {"token.create", "token.revoke"} <= {e["action"] for e in audit}
    assert token not in json.dumps(audit)


def test_catalog(client: TestClient, bearer: Bearer) -> None:
    auth = bearer("ann", "agent", agent=["PJSIP/1001"])
    listed = client.get("/api/kpis", headers=auth).json()
    catalog = builtin_catalog()
    assert [k["id"] for k in listed] == [k.id for k in catalog]
    aht = client.get("/api/kpis/aht", headers=auth).json()
    assert aht["id"] == "aht" and aht["unit"] == "seconds" and "queue" in aht["dimensions"]
    missing = client.get("/api/kpis/nope", headers=auth)
    assert missing.status_code == 404 and "unknown KPI 'nope'" in missing.json()["detail"]


def test_default_kpis_are_the_clis() -> None:
    assert DEFAULT_KPIS == CLI_DEFAULT_KPIS


@pytest.mark.parametrize(
    "args",
    [
        ["--by", "queue"],
        ["aht", "service_level", "abandon_rate", "--by", "queue", "--grain", "day", "--tz",
         "Europe/Moscow", "--from", "2026-10-30", "--to", "2026-11-01"],
        ["service_level", "--by", "tenant,queue", "--set", "answer_threshold_s=30",
         "--set", "service_level_denominator=answered", "--where", "direction=in"],
        ["offered", "answered", "--grain", "hour", "--tz", "Asia/Kolkata",
         "--where", "queue=bank_cards", "--from", "2026-10-31T09:00", "--to",
         "2026-10-31T12:00"],
        ["occupancy", "pause_time", "--by", "team", "--grain", "day"],
    ],
)
def test_kpi_answers_as_the_cli_does(
    client: TestClient,
    bearer: Bearer,
    demo_wh: Warehouse,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    auth = bearer("ann", "analyst")
    params: dict[str, list[str]] = {"kpis": []}
    it = iter(args)
    for arg in it:
        if arg.startswith("--"):
            params.setdefault(arg[2:], []).append(next(it))
        else:
            params["kpis"].append(arg)
    response = client.get("/api/kpi", params=params, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    expected = cli_json(capsys, "kpi", *args, "--db", demo_wh.path)
    assert expected  # the demo has data for every one of these
    assert response.json() == expected


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"kpis": "nope"}, 400, "unknown KPI 'nope'"),
        ({"kpis": "aht", "by": "colour"}, 400, "dimension 'colour' is not available for aht"),
        ({"kpis": "aht", "where": "colour=red"}, 400, "dimension 'colour' is not available"),
        ({"kpis": "aht", "where": "queue"}, 400, "where 'queue': expected NAME=VALUE"),
        ({"kpis": "aht", "grain": "fortnight"}, 400, "unknown grain 'fortnight'"),
        ({"kpis": "aht", "tz": "Mars/Olympus"}, 400, "unknown time zone 'Mars/Olympus'"),
        ({"kpis": "aht", "from": "2026-13-01"}, 400, "from '2026-13-01': expected an ISO time"),
        ({"kpis": "aht", "to": "yesterday"}, 400, "to 'yesterday': expected an ISO time"),
        ({"kpis": "aht", "from": "0001-01-01", "tz": "Europe/Moscow"}, 400, "year from 1900"),
        ({"kpis": "aht", "from": "2026-10-02", "to": "2026-10-01"}, 400, "is not before to"),
        ({"kpis": "aht", "set": "nope=1"}, 400, "unknown parameter 'nope'"),
        ({"kpis": "service_level", "set": "answer_threshold_s=soon"}, 400, "expected a number"),
        ({"kpis": "service_level", "set": "service_level_denominator=x"}, 400, "expected one of"),
        ({"kpis": ",".join(["aht"] * 51)}, 400, "kpis: at most 50 values"),
        ({"kpis": "aht", "where": [f"queue=q{i}" for i in range(21)]}, 400, "at most 20"),
        ({"kpis": "x" * 300}, 400, "longer than 200 characters"),
    ],
)
def test_bad_requests_get_a_precise_4xx(
    client: TestClient, bearer: Bearer, params: dict[str, Any], status: int, detail: str
) -> None:
    response = client.get("/api/kpi", params=params, headers=bearer("ann", "analyst"))
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


def test_request_size_limits(client: TestClient, store: AuthStore, bearer: Bearer) -> None:
    big = client.post(
        "/api/login",
        content=b'{"name": "' + b"a" * MAX_BODY_BYTES + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    long_name = client.post("/api/login", json={"name": "a" * 65, "password": "x"})
    assert long_name.status_code == 422 and "name" in long_name.json()["detail"]
    extra = client.post("/api/login", json={"name": "a", "password": "x", "admin": True})
    assert extra.status_code == 422
    not_json = client.post("/api/login", content=b"name=a", headers={"Content-Type": "text/plain"})
    assert 400 <= not_json.status_code < 500
    query = client.get("/api/kpi?where=" + "a" * 9000, headers=bearer("ann", "analyst"))
    assert query.status_code == 414


def test_admin_endpoints(client: TestClient, bearer: Bearer) -> None:
    admin = bearer("root", "admin")
    users = client.get("/api/users", headers=admin).json()
    assert [(u["name"], u["role"]) for u in users] == [("root", "admin")]
    assert "password_hash" not in json.dumps(users)
    manager = bearer("boss", "manager")
    for path in ("/api/users", "/api/audit"):
        refused = client.get(path, headers=manager)
        assert refused.status_code == 403 and "admin only" in refused.json()["detail"]
    assert client.get("/api/audit?limit=0", headers=admin).status_code == 422


def test_user_scope_is_in_me(client: TestClient, bearer: Bearer) -> None:
    me = client.get(
        "/api/me", headers=bearer("sup", "supervisor", team=["bank_msk", "bank_kzn"])
    ).json()
    assert me["role"] == "supervisor" and me["scope"] == {"team": ["bank_msk", "bank_kzn"]}
    assert Scope.of(team=me["scope"]["team"]).describe() == "team=bank_msk,bank_kzn"
