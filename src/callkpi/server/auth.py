"""Users, roles and scopes, passwords, API tokens, web sessions, login rate limits and the
audit log, in one small SQLite file next to the warehouse (``demo.duckdb`` ->
``demo.duckdb.auth.sqlite``).

Why a separate file: a warehouse file is data that gets copied to analysts' laptops; password
hashes, token hashes and the audit log should not travel with it. SQLite (in the standard
library) lets ``callkpi users ...`` add a user or revoke a token while the server runs (the
server holds the DuckDB file open), and every process sees the change on its next request.

Secrets are never stored or logged in the clear:

* passwords: Argon2id (argon2-cffi's defaults: 64 MiB, 3 passes, 4 lanes), rehashed on
  login when the parameters change;
* API tokens ``ck_<id>_<secret>``: 256 random bits; only SHA-256 of the whole token is
  kept (a fast hash is enough for a secret that cannot be guessed), looked up by its
  public ``id`` and compared in constant time;
* session cookies: 256 random bits, stored as SHA-256 too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ROLES = ("admin", "manager", "supervisor", "analyst", "agent", "client")
SCOPE_DIMENSIONS = ("tenant", "site", "team", "campaign", "agent")
"""What a user can be limited to: dimensions of the KPI engine, applied as filters."""

SESSION_HOURS = 12
TOKEN_DAYS = 90
MAX_NAME = 64
LOGIN_WINDOW_S = 15 * 60
LOGIN_MAX_PER_USER = 5
"""Failed logins per user name within the window before further attempts are refused."""
LOGIN_MAX_PER_CLIENT = 20
"""Failed logins per client address within the window (any user names)."""

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    password_hash TEXT,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    hash TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    client TEXT NOT NULL DEFAULT ''
);
"""


class AuthError(ValueError):
    """A request about users or tokens that cannot be done as asked; says why."""


class AuthFailed(Exception):
    """Credentials that do not let anyone in (wrong, expired, revoked, disabled)."""


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def auth_path_for(db: str | Path) -> Path:
    """The auth file that belongs to a warehouse file."""
    db = Path(db)
    return db.with_name(db.name + ".auth.sqlite")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Scope:
    """The values of each scope dimension a user may see; a dimension that is not listed
    is not limited. An empty scope is the whole center."""

    limits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, **values: Sequence[str] | None) -> Scope:
        limits: dict[str, tuple[str, ...]] = {}
        for dim, vals in values.items():
            if dim not in SCOPE_DIMENSIONS:
                raise AuthError(
                    f"unknown scope {dim!r}; expected one of {', '.join(SCOPE_DIMENSIONS)}"
                )
            cleaned = tuple(dict.fromkeys(v.strip() for v in vals or () if v.strip()))
            if cleaned:
                limits[dim] = cleaned
        return cls({d: limits[d] for d in SCOPE_DIMENSIONS if d in limits})

    def as_json(self) -> dict[str, list[str]]:
        return {d: list(v) for d, v in self.limits.items()}

    def describe(self) -> str:
        if not self.limits:
            return "all"
        return "; ".join(f"{d}={','.join(v)}" for d, v in self.limits.items())


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    scope: Scope
    must_change_password: bool
    disabled: bool
    created_at: str

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "scope": self.scope.as_json(),
            "must_change_password": self.must_change_password,
            "disabled": self.disabled,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    label: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    last_used_at: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "label": self.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


def check_user(name: str, role: str, scope: Scope) -> None:
    """What makes a user valid: a plain name, a known role, and the scope its role needs."""
    if not name or len(name) > MAX_NAME or not all(c.isalnum() or c in "._-@" for c in name):
        raise AuthError(
            f"user name {name!r}: 1 to {MAX_NAME} letters, digits or . _ - @ (no spaces)"
        )
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    agents = scope.limits.get("agent", ())
    if role == "agent" and len(agents) != 1:
        raise AuthError("role agent needs exactly one --agent ID (their own agent id)")
    if role != "agent" and agents:
        raise AuthError("--agent is for role agent only (use --team or --site for others)")
    if role == "client" and not (scope.limits.get("tenant") or scope.limits.get("campaign")):
        raise AuthError("role client needs at least one --tenant or --campaign")
    if role == "supervisor" and not scope.limits:
        raise AuthError("role supervisor needs a scope: --team, --site, --tenant or --campaign")


def new_password() -> str:
    """A generated password: 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


class AuthStore:
    """The auth file. Every method opens its own short SQLite connection, so one store can
    serve many threads and several processes can share the file."""

    def __init__(self, path: str | Path, *, hasher: PasswordHasher | None = None) -> None:
        self.path = Path(path)
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        self._create()

    # -- the file -------------------------------------------------------------------------

    def _create(self) -> None:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the first byte: it holds password and token hashes.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        with self._connect() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise AuthError(
                    f"{self.path} has auth schema version {version}, newer than this "
                    f"callkpi understands ({_SCHEMA_VERSION}); upgrade callkpi"
                )
            if version == 0:  # IF NOT EXISTS: two processes may create it at once
                con.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {_SCHEMA_VERSION}; COMMIT;"
                )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise AuthError(f"cannot open the auth file {self.path}: {exc}") from exc
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA journal_mode = WAL")
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed whole, or rolled back on any exception."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- audit ----------------------------------------------------------------------------

    @staticmethod
    def _audit(
        con: sqlite3.Connection,
        actor: str,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        client: str = "",
    ) -> None:
        con.execute(
            "INSERT INTO audit (at, actor, action, target, detail, client) VALUES (?,?,?,?,?,?)",
            [_iso(_now()), actor, action, target, json.dumps(dict(detail or {})), client],
        )

    def audit(
        self,
        actor: str,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        client: str = "",
    ) -> None:
        """Record one write (never with a secret in ``detail``)."""
        with self._write() as con:
            self._audit(con, actor, action, target, detail, client)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, at, actor, action, target, detail, client FROM audit "
                "ORDER BY id DESC LIMIT ?",
                [limit],
            ).fetchall()
        return [
            {
                "id": r[0],
                "at": r[1],
                "actor": r[2],
                "action": r[3],
                "target": r[4],
                "detail": json.loads(r[5]),
                "client": r[6],
            }
            for r in rows
        ]

    # -- users ----------------------------------------------------------------------------

    @staticmethod
    def _user(row: Sequence[Any]) -> User:
        scope = json.loads(row[3])
        return User(
            id=row[0],
            name=row[1],
            role=row[2],
            scope=Scope({d: tuple(scope[d]) for d in SCOPE_DIMENSIONS if d in scope}),
            must_change_password=bool(row[4]),
            disabled=bool(row[5]),
            created_at=row[6],
        )

    _USER_COLUMNS = "id, name, role, scope, must_change_password, disabled, created_at"

    def user_count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT count(*) FROM users").fetchone()[0])

    def users(self) -> list[User]:
        with self._connect() as con:
            rows = con.execute(f"SELECT {self._USER_COLUMNS} FROM users ORDER BY name").fetchall()
        return [self._user(r) for r in rows]

    def user(self, name: str) -> User:
        with self._connect() as con:
            row = con.execute(
                f"SELECT {self._USER_COLUMNS} FROM users WHERE name = ?", [name]
            ).fetchone()
        if row is None:
            raise AuthError(f"no user {name!r}")
        return self._user(row)

    def add_user(
        self,
        name: str,
        role: str,
        scope: Scope | None = None,
        *,
        actor: str,
        client: str = "",
        password: str | None = None,
    ) -> tuple[User, str]:
        """Create a user; returns it with its password (generated when none is given, and
        then to be changed at first login)."""
        scope = scope or Scope()
        check_user(name, role, scope)
        generated = password is None
        password = password if password is not None else new_password()
        check_password(password)
        digest = self.hasher.hash(password)
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
                raise AuthError(f"user {name!r} already exists")
            con.execute(
                "INSERT INTO users (name, role, scope, password_hash, must_change_password, "
                "created_at) VALUES (?,?,?,?,?,?)",
                [name, role, json.dumps(scope.as_json()), digest, int(generated), _iso(_now())],
            )
            self._audit(
                con,
                actor,
                "user.add",
                name,
                {"role": role, "scope": scope.as_json()},
                client,
            )
        return self.user(name), password

    def ensure_admin(self, name: str = "admin") -> str | None:
        """On first start: with no user at all, create an admin and return its one-time
        password (None when users exist)."""
        with self._write() as con:
            if con.execute("SELECT count(*) FROM users").fetchone()[0]:
                return None
            password = new_password()
            con.execute(
                "INSERT INTO users (name, role, scope, password_hash, must_change_password, "
                "created_at) VALUES (?,?,?,?,1,?)",
                [name, "admin", "{}", self.hasher.hash(password), _iso(_now())],
            )
            self._audit(con, "callkpi", "user.add", name, {"role": "admin", "first_start": True})
        return password

    def set_password(
        self,
        name: str,
        password: str | None = None,
        *,
        actor: str,
        client: str = "",
    ) -> str:
        """A new password (generated, to be changed at next login, when none is given).
        Ends the user's web sessions."""
        user = self.user(name)
        generated = password is None
        password = password if password is not None else new_password()
        check_password(password)
        digest = self.hasher.hash(password)
        with self._write() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?",
                [digest, int(generated), user.id],
            )
            con.execute("DELETE FROM sessions WHERE user_id = ?", [user.id])
            self._audit(con, actor, "user.password", name, {"generated": generated}, client)
        return password

    def disable_user(self, name: str, *, actor: str, client: str = "") -> None:
        """Disable a user: no more logins, and their sessions and tokens stop working."""
        user = self.user(name)
        with self._write() as con:
            con.execute("UPDATE users SET disabled = 1 WHERE id = ?", [user.id])
            con.execute("DELETE FROM sessions WHERE user_id = ?", [user.id])
            con.execute(
                "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                [_iso(_now()), user.id],
            )
            self._audit(con, actor, "user.disable", name, {}, client)

    # -- passwords and logins -------------------------------------------------------------

    def login(self, name: str, password: str, *, client: str = "") -> User:
        """Check a password, with the rate limit; a failure is recorded and audited.

        Raises :class:`RateLimited` before checking anything once the user name or the
        client has too many recent failures (even a right password is refused then, so
        the limit is no oracle), and :class:`AuthFailed` on a wrong name or password."""
        name = name[:MAX_NAME]
        now = time.time()
        with self._write() as con:
            con.execute("DELETE FROM login_failures WHERE at < ?", [now - LOGIN_WINDOW_S])
            for column, value, limit in (
                ("username", name, LOGIN_MAX_PER_USER),
                ("client", client, LOGIN_MAX_PER_CLIENT),
            ):
                count, oldest = con.execute(
                    f"SELECT count(*), min(at) FROM login_failures WHERE {column} = ?", [value]
                ).fetchone()
                if count >= limit:
                    raise RateLimited(max(1, int(oldest + LOGIN_WINDOW_S - now) + 1))
        with self._connect() as con:
            row = con.execute(
                "SELECT id, password_hash, disabled FROM users WHERE name = ?", [name]
            ).fetchone()
        ok = False
        digest = row[1] if row and row[1] else self._dummy_hash
        try:
            ok = self.hasher.verify(digest, password) and row is not None and not row[2]
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        with self._write() as con:
            if not ok:
                con.execute(
                    "INSERT INTO login_failures (username, client, at) VALUES (?,?,?)",
                    [name, client, now],
                )
                self._audit(con, name, "login.failed", name, {}, client)
            else:
                assert row is not None
                con.execute("DELETE FROM login_failures WHERE username = ?", [name])
                if self.hasher.check_needs_rehash(digest):
                    con.execute(
                        "UPDATE users SET password_hash = ? WHERE id = ?",
                        [self.hasher.hash(password), row[0]],
                    )
        if not ok:
            raise AuthFailed("wrong user name or password")
        return self.user(name)

    def change_password(self, user: User, old: str, new: str, *, client: str = "") -> None:
        """A user's own change: the old password must be right (rate-limited like a
        login); the new one must differ from it. Other sessions end."""
        self.login(user.name, old, client=client)
        if old == new:
            raise AuthError("the new password must differ from the old one")
        check_password(new)
        with self._write() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, must_change_password = 0 WHERE id = ?",
                [self.hasher.hash(new), user.id],
            )
            self._audit(con, user.name, "user.password", user.name, {"own": True}, client)

    # -- sessions -------------------------------------------------------------------------

    def new_session(self, user: User, *, client: str = "") -> str:
        """Start a web session: returns the cookie value (kept here only as a hash)."""
        secret = secrets.token_urlsafe(32)
        now = _now()
        with self._write() as con:
            con.execute("DELETE FROM sessions WHERE expires_at < ?", [_iso(now)])
            con.execute(
                "INSERT INTO sessions VALUES (?,?,?,?)",
                [
                    _sha256(secret),
                    user.id,
                    _iso(now),
                    _iso(now + dt.timedelta(hours=SESSION_HOURS)),
                ],
            )
            self._audit(con, user.name, "login", user.name, {"via": "password"}, client)
        return secret

    def session_user(self, secret: str) -> User:
        with self._connect() as con:
            row = con.execute(
                f"SELECT u.{self._USER_COLUMNS.replace(', ', ', u.')}, s.expires_at "
                "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?",
                [_sha256(secret)],
            ).fetchone()
        if row is None:
            raise AuthFailed("not logged in (no such session)")
        if row[-1] <= _iso(_now()):
            raise AuthFailed("session expired; log in again")
        user = self._user(row[:-1])
        if user.disabled:
            raise AuthFailed("user disabled")
        return user

    def end_session(self, secret: str, *, actor: str, client: str = "") -> None:
        with self._write() as con:
            con.execute("DELETE FROM sessions WHERE hash = ?", [_sha256(secret)])
            self._audit(con, actor, "logout", actor, {}, client)

    # -- API tokens -----------------------------------------------------------------------

    def new_token(
        self,
        name: str,
        *,
        days: float = TOKEN_DAYS,
        label: str = "",
        actor: str,
        client: str = "",
    ) -> tuple[str, TokenInfo]:
        """A new API token for user ``name``; the token text is returned once and never
        stored (only its hash)."""
        if not 0 < days <= 3660:
            raise AuthError(f"token lifetime {days} days: expected more than 0, at most 3660")
        if len(label) > 200:
            raise AuthError("token label: at most 200 characters")
        user = self.user(name)
        if user.disabled:
            raise AuthError(f"user {name!r} is disabled")
        token_id = secrets.token_hex(6)
        token = f"ck_{token_id}_{secrets.token_urlsafe(32)}"
        now = _now()
        with self._write() as con:
            con.execute(
                "INSERT INTO tokens (id, user_id, hash, label, created_at, expires_at) "
                "VALUES (?,?,?,?,?,?)",
                [
                    token_id,
                    user.id,
                    _sha256(token),
                    label,
                    _iso(now),
                    _iso(now + dt.timedelta(days=days)),
                ],
            )
            self._audit(
                con,
                actor,
                "token.create",
                name,
                {"token_id": token_id, "days": days, "label": label},
                client,
            )
        return token, self.token(token_id)

    def token(self, token_id: str) -> TokenInfo:
        rows = self._tokens("WHERE t.id = ?", [token_id])
        if not rows:
            raise AuthError(f"no token {token_id!r}")
        return rows[0]

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        if name is None:
            return self._tokens("", [])
        self.user(name)
        return self._tokens("WHERE u.name = ?", [name])

    def _tokens(self, where: str, params: list[Any]) -> list[TokenInfo]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT t.id, u.name, t.label, t.created_at, t.expires_at, t.revoked_at, "
                f"t.last_used_at FROM tokens t JOIN users u ON u.id = t.user_id {where} "
                "ORDER BY t.created_at, t.id",
                params,
            ).fetchall()
        return [TokenInfo(*r) for r in rows]

    def revoke_token(
        self, token_id: str, *, actor: str, client: str = "", owner: str | None = None
    ) -> TokenInfo:
        """Revoke a token (``owner``: only if it belongs to that user)."""
        info = self.token(token_id)
        if owner is not None and info.user != owner:
            raise AuthError(f"no token {token_id!r}")
        with self._write() as con:
            con.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                [_iso(_now()), token_id],
            )
            self._audit(con, actor, "token.revoke", info.user, {"token_id": token_id}, client)
        return self.token(token_id)

    def token_user(self, token: str) -> tuple[User, str]:
        """The user a bearer token belongs to, and the token's id."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != "ck" or not token_id or not secret or len(token) > 200:
            raise AuthFailed("malformed token (expected ck_<id>_<secret>)")
        with self._connect() as con:
            row = con.execute(
                f"SELECT t.hash, t.expires_at, t.revoked_at, "
                f"u.{self._USER_COLUMNS.replace(', ', ', u.')} "
                "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
                [token_id],
            ).fetchone()
        if row is None or not hmac.compare_digest(row[0], _sha256(token)):
            raise AuthFailed("invalid token")
        if row[2] is not None:
            raise AuthFailed("token revoked")
        now = _iso(_now())
        if row[1] <= now:
            raise AuthFailed("token expired")
        user = self._user(row[3:])
        if user.disabled:
            raise AuthFailed("user disabled")
        with self._write() as con:
            con.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", [now, token_id])
        return user, token_id


def check_password(password: str) -> None:
    if len(password) < 12:
        raise AuthError("password: at least 12 characters")
    if len(password) > 1024:
        raise AuthError("password: at most 1024 characters")
