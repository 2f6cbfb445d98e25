"""The auth file: users and scopes, Argon2 password hashes, login rate limits, API tokens
(hashed, expiring, revocable), sessions and the audit log; no secret ever stored."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
from pathlib import Path

import pytest

from callkpi.server import auth as auth_module
from callkpi.server.auth import (
    LOGIN_MAX_PER_CLIENT,
    LOGIN_MAX_PER_USER,
    LOGIN_WINDOW_S,
    AuthError,
    AuthFailed,
    AuthStore,
    RateLimited,
    Scope,
    auth_path_for,
)

PASSWORD = "correct horse battery staple"


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_auth_file_sits_next_to_the_warehouse_owner_only(tmp_path: Path) -> None:
    path = auth_path_for(tmp_path / "demo.duckdb")
    assert path == tmp_path / "demo.duckdb.auth.sqlite"
    AuthStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    AuthStore(path)  # opening again keeps it
    assert _rows(path, "PRAGMA user_version") == [(1,)]


def test_users_roles_and_scopes_are_checked(store: AuthStore) -> None:
    with pytest.raises(AuthError, match="unknown role 'boss'"):
        store.add_user("x", "boss", actor="t")
    with pytest.raises(AuthError, match="role agent needs exactly one --agent"):
        store.add_user("x", "agent", Scope.of(team=["t1"]), actor="t")
    with pytest.raises(AuthError, match="--agent is for role agent only"):
        store.add_user("x", "manager", Scope.of(agent=["A1"]), actor="t")
    with pytest.raises(AuthError, match="role client needs at least one --tenant or --campaign"):
        store.add_user("x", "client", Scope.of(site=["msk"]), actor="t")
    with pytest.raises(AuthError, match="role supervisor needs a scope"):
        store.add_user("x", "supervisor", actor="t")
    with pytest.raises(AuthError, match="user name 'a b'"):
        store.add_user("a b", "analyst", actor="t")
    with pytest.raises(AuthError, match="unknown scope 'queue'"):
        Scope.of(queue=["q"])
    with pytest.raises(AuthError, match="at least 12 characters"):
        store.add_user("x", "analyst", actor="t", password="short")
    user, _ = store.add_user(
        "ann", "client", Scope.of(tenant=["nordbank", " nordbank", ""]), actor="t",
        password=PASSWORD,
    )
    assert user.scope.limits == {"tenant": ("nordbank",)}
    assert not user.must_change_password
    with pytest.raises(AuthError, match="user 'ann' already exists"):
        store.add_user("ann", "analyst", actor="t")
    assert store.user_count() == 1


def test_passwords_are_argon2id_hashes_and_generated_ones_must_be_changed(
    store: AuthStore,
) -> None:
    user, password = store.add_user("bob", "analyst", actor="t")
    assert user.must_change_password and len(password) >= 20
    (digest,) = _rows(store.path, "SELECT password_hash FROM users")[0]
    assert isinstance(digest, str) and digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert password not in store.path.read_bytes().decode("latin-1")
    assert store.login("bob", password).name == "bob"
    with pytest.raises(AuthError, match="must differ"):
        store.change_password(user, password, password)
    store.change_password(user, password, PASSWORD)
    assert not store.user("bob").must_change_password
    with pytest.raises(AuthFailed):
        store.login("bob", password)
    assert store.login("bob", PASSWORD).name == "bob"


def test_first_start_creates_one_admin_once(store: AuthStore) -> None:
    password = store.ensure_admin()
    assert password is not None
    admin = store.login("admin", password)
    assert admin.role == "admin" and admin.must_change_password and not admin.scope.limits
    assert store.ensure_admin() is None
    assert store.user_count() == 1


def test_login_rate_limit_per_user_name(store: AuthStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_user("ann", "analyst", actor="t", password=PASSWORD)
    clock = [1_000_000.0]
    monkeypatch.setattr(auth_module.time, "time", lambda: clock[0])
    for _ in range(LOGIN_MAX_PER_USER):
        with pytest.raises(AuthFailed):
            store.login("ann", "wrong password!", client="10.0.0.1")
    # Locked: even the right password is refused (no oracle), from any address.
    with pytest.raises(RateLimited) as limited:
        store.login("ann", PASSWORD, client="10.0.0.2")
    assert 0 < limited.value.retry_after_s <= LOGIN_WINDOW_S + 1
    clock[0] += LOGIN_WINDOW_S + 1
    assert store.login("ann", PASSWORD, client="10.0.0.1").name == "ann"
    # A success clears the user's failures.
    for _ in range(LOGIN_MAX_PER_USER - 1):
        with pytest.raises(AuthFailed):
            store.login("ann", "wrong password!")
    store.login("ann", PASSWORD)
    with pytest.raises(AuthFailed):
        store.login("ann", "wrong password!")
    store.login("ann", PASSWORD)


def test_login_rate_limit_per_client(store: AuthStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_user("ann", "analyst", actor="t", password=PASSWORD)
    monkeypatch.setattr(auth_module.time, "time", lambda: 2_000_000.0)
    for i in range(LOGIN_MAX_PER_CLIENT):  # spraying many names from one address
        with pytest.raises(AuthFailed):
            store.login(f"user{i}", "guess guess guess", client="10.9.9.9")
    with pytest.raises(RateLimited):
        store.login("ann", PASSWORD, client="10.9.9.9")
    assert store.login("ann", PASSWORD, client="10.0.0.1").name == "ann"


def test_unknown_user_and_disabled_user_fail_alike(store: AuthStore) -> None:
    store.add_user("ann", "analyst", actor="t", password=PASSWORD)
    with pytest.raises(AuthFailed, match="wrong user name or password"):
        store.login("nobody", PASSWORD)
    store.disable_user("ann", actor="t")
    with pytest.raises(AuthFailed, match="wrong user name or password"):
        store.login("ann", PASSWORD)


def test_tokens_are_hashed_expire_and_can_be_revoked(
    store: AuthStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_user("bot", "analyst", actor="t", password=PASSWORD)
    token, info = store.new_token("bot", days=1, label="nightly export", actor="t")
    assert token.startswith(f"ck_{info.id}_") and len(token) > 50
    assert token not in store.path.read_bytes().decode("latin-1")
    assert token.split("_", 2)[2] not in store.path.read_bytes().decode("latin-1")
    user, token_id = store.token_user(token)
    assert (user.name, token_id) == ("bot", info.id)
    assert store.token(info.id).last_used_at is not None

    for bad in ("", "ck_", f"ck_{info.id}_wrong", token + "x", "Bearer " + token):
        with pytest.raises(AuthFailed):
            store.token_user(bad)

    real_now = auth_module._now
    monkeypatch.setattr(auth_module, "_now", lambda: real_now() + dt.timedelta(days=1, seconds=1))
    with pytest.raises(AuthFailed, match="token expired"):
        store.token_user(token)
    monkeypatch.setattr(auth_module, "_now", real_now)
    store.token_user(token)

    other, _ = store.new_token("bot", actor="t")
    store.revoke_token(info.id, actor="t")
    with pytest.raises(AuthFailed, match="token revoked"):
        store.token_user(token)
    assert store.token_user(other)[0].name == "bot"  # revoking one leaves the others

    store.disable_user("bot", actor="t")
    with pytest.raises(AuthFailed, match="token revoked"):
        store.token_user(other)
    with pytest.raises(AuthError, match="lifetime"):
        store.new_token("bot", days=0, actor="t")


def test_sessions_expire_and_end(store: AuthStore, monkeypatch: pytest.MonkeyPatch) -> None:
    user, _ = store.add_user("ann", "analyst", actor="t", password=PASSWORD)
    secret = store.new_session(user)
    assert store.session_user(secret).name == "ann"
    assert secret not in store.path.read_bytes().decode("latin-1")
    real_now = auth_module._now
    monkeypatch.setattr(auth_module, "_now", lambda: real_now() + dt.timedelta(hours=13))
    with pytest.raises(AuthFailed, match="session expired"):
        store.session_user(secret)
    monkeypatch.setattr(auth_module, "_now", real_now)
    store.end_session(secret, actor="ann")
    with pytest.raises(AuthFailed):
        store.session_user(secret)
    again = store.new_session(user)
    store.set_password("ann", actor="t")  # a reset ends every session
    with pytest.raises(AuthFailed):
        store.session_user(again)


def test_every_write_is_audited_without_secrets(store: AuthStore) -> None:
    _, password = store.add_user("ann", "client", Scope.of(tenant=["nordbank"]), actor="cli:x")
    token, info = store.new_token("ann", actor="cli:x", client="127.0.0.1")
    user = store.login("ann", password, client="127.0.0.1")
    with pytest.raises(AuthFailed):
        store.login("ann", "not the password", client="127.0.0.1")
    session = store.new_session(user, client="127.0.0.1")
    store.change_password(user, password, PASSWORD, client="127.0.0.1")
    store.end_session(session, actor="ann")
    store.revoke_token(info.id, actor="cli:x")
    new = store.set_password("ann", actor="cli:x")
    store.disable_user("ann", actor="cli:x")
    log = store.audit_log()
    assert [e["action"] for e in reversed(log)] == [
        "user.add",
        "token.create",
        "login.failed",
        "login",
        "user.password",
        "logout",
        "token.revoke",
        "user.password",
        "user.disable",
    ]
    assert log[-1]["detail"] == {"role": "client", "scope": {"tenant": ["nordbank"]}}
    assert log[-2]["detail"]["token_id"] == info.id and log[-2]["client"] == "127.0.0.1"
    text = repr(log)
    for secret in (password, token, PASSWORD, new, session):
        assert secret not in text
