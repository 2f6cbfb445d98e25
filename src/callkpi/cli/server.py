"""``callkpi serve`` and ``callkpi users``: the server and its users, roles, scopes and
API tokens (see docs/server.md). FastAPI and uvicorn are imported only by ``serve``."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from callkpi.cli.common import (
    CatalogOption,
    DbOption,
    FormatOption,
    UserError,
    check_format,
    open_warehouse,
)
from callkpi.cli.output import err, print_rows
from callkpi.server.auth import (
    ROLES,
    TOKEN_DAYS,
    AuthError,
    AuthStore,
    Scope,
    auth_path_for,
)
from callkpi.store import DEFAULT_DB

AuthOption = Annotated[
    Path | None,
    typer.Option(
        "--auth",
        help="The users file (default: next to --db, as DB.auth.sqlite).",
    ),
]

users_app = typer.Typer(
    help="Server users, roles, scopes and API tokens (kept in DB.auth.sqlite).",
    no_args_is_help=True,
)


def _store(db: Path, auth: Path | None) -> AuthStore:
    try:
        return AuthStore(auth or auth_path_for(db))
    except AuthError as exc:
        raise UserError(str(exc)) from None


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (some containers)
        return "cli"


def serve(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    auth: AuthOption = None,
    catalog: CatalogOption = None,
    secure_cookies: Annotated[
        bool, typer.Option(help="Mark the session cookie Secure (when served over HTTPS).")
    ] = False,
    tz: Annotated[
        str, typer.Option(help="Zone of 'today' on the live floor and of naive queue_log times.")
    ] = "UTC",
    follow: Annotated[
        list[Path] | None,
        typer.Option(help="Tail this Asterisk queue_log live (repeatable; PATH or "
                          "PATH=TENANT)."),
    ] = None,
) -> None:
    """Serve the REST API (docs at /docs, OpenAPI at /api/openapi.json)."""
    import uvicorn

    from callkpi.live import tune_gc_for_live_loads
    from callkpi.server.app import create_app

    if not 0 < port < 65536:
        raise UserError(f"--port {port}: expected 1 to 65535")
    wh = open_warehouse(db, must_exist=True)
    try:
        store = _store(db, auth)
        followed = [_followed(str(p)) for p in follow or ()]
        app = create_app(wh, auth=store, catalog_files=catalog or (), tz=tz, follow=followed,
                         secure_cookies=secure_cookies)
    except Exception:
        wh.close()
        raise
    password = store.ensure_admin()
    if password is not None:
        # The one time this password is shown: it is stored only as a hash.
        err.print(
            "No users yet: created user [bold]admin[/] with the one-time password\n\n"
            f"    {password}\n\n"
            "Log in (POST /api/login) and change it (POST /api/me/password); "
            "add users with callkpi users add.",
            highlight=False,
        )
    err.print(f"callkpi serving {db} on http://{host}:{port} (dashboard: /, API docs: /docs)",
              highlight=False)
    for path, tenant in followed:
        err.print(f"following {path}" + (f" for tenant {tenant}" if tenant else ""),
                  highlight=False)
    tune_gc_for_live_loads()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    finally:
        wh.close()


def _followed(text: str) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH=TENANT`` -> the file (which must exist) and its tenant."""
    path, sep, tenant = text.rpartition("=") if "=" in text else (text, "", "")
    if sep and not tenant:
        raise UserError(f"--follow {text!r}: expected PATH or PATH=TENANT")
    resolved = Path(path)
    if not resolved.is_file():
        raise UserError(f"--follow {text!r}: no such file {resolved}")
    return resolved, tenant or None


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    tenant: Annotated[list[str] | None, typer.Option(help="Limit to a tenant; repeatable.")] = None,
    site: Annotated[list[str] | None, typer.Option(help="Limit to a site; repeatable.")] = None,
    team: Annotated[list[str] | None, typer.Option(help="Limit to a team; repeatable.")] = None,
    campaign: Annotated[
        list[str] | None, typer.Option(help="Limit to a campaign; repeatable.")
    ] = None,
    agent: Annotated[
        str | None, typer.Option(help="Role agent: their own agent id (e.g. Agent/1017).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    auth: AuthOption = None,
) -> None:
    """Add a user; prints their one-time password (to be changed at first login)."""
    store = _store(db, auth)
    try:
        scope = Scope.of(
            tenant=tenant, site=site, team=team, campaign=campaign, agent=[agent] if agent else []
        )
        user, password = store.add_user(name, role, scope, actor=_actor())
    except AuthError as exc:
        raise UserError(str(exc)) from None
    err.print(
        f"added {user.name} ({user.role}, scope {user.scope.describe()}); "
        "one-time password (shown only now):",
        highlight=False,
    )
    sys.stdout.write(password + "\n")


@users_app.command("list")
def users_list(
    db: DbOption = DEFAULT_DB, auth: AuthOption = None, fmt: FormatOption = "table"
) -> None:
    """Every user with role and scope."""
    check_format(fmt)
    rows = [
        {
            "name": u.name,
            "role": u.role,
            "scope": u.scope.describe(),
            "disabled": "yes" if u.disabled else "no",
            "created_at": u.created_at,
        }
        for u in _store(db, auth).users()
    ]
    print_rows(rows, ("name", "role", "scope", "disabled", "created_at"), fmt)


@users_app.command("token")
def users_token(
    name: str,
    days: Annotated[float, typer.Option(help="Days until the token expires.")] = TOKEN_DAYS,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    db: DbOption = DEFAULT_DB,
    auth: AuthOption = None,
) -> None:
    """A new API token for NAME, printed once on stdout (only its hash is kept)."""
    try:
        token, info = _store(db, auth).new_token(name, days=days, label=label, actor=_actor())
    except AuthError as exc:
        raise UserError(str(exc)) from None
    err.print(
        f"token {info.id} for {name}, expires {info.expires_at} (shown only now; "
        f"revoke with callkpi users revoke {info.id}):",
        highlight=False,
    )
    sys.stdout.write(token + "\n")


@users_app.command("tokens")
def users_tokens(
    name: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    db: DbOption = DEFAULT_DB,
    auth: AuthOption = None,
    fmt: FormatOption = "table",
) -> None:
    """API tokens (ids, owners, expiry and revocation; never the tokens themselves)."""
    check_format(fmt)
    try:
        tokens = _store(db, auth).tokens(name)
    except AuthError as exc:
        raise UserError(str(exc)) from None
    columns = ("id", "user", "label", "created_at", "expires_at", "revoked_at", "last_used_at")
    print_rows([t.public() for t in tokens], columns, fmt)


@users_app.command("revoke")
def users_revoke(token_id: str, db: DbOption = DEFAULT_DB, auth: AuthOption = None) -> None:
    """Revoke an API token by its id (callkpi users tokens lists them)."""
    try:
        info = _store(db, auth).revoke_token(token_id, actor=_actor())
    except AuthError as exc:
        raise UserError(str(exc)) from None
    err.print(f"token {info.id} of {info.user} revoked at {info.revoked_at}", highlight=False)


@users_app.command("password")
def users_password(name: str, db: DbOption = DEFAULT_DB, auth: AuthOption = None) -> None:
    """Reset NAME's password: prints a new one-time password and ends their sessions."""
    try:
        password = _store(db, auth).set_password(name, actor=_actor())
    except AuthError as exc:
        raise UserError(str(exc)) from None
    err.print(f"new one-time password for {name} (shown only now):", highlight=False)
    sys.stdout.write(password + "\n")


@users_app.command("disable")
def users_disable(name: str, db: DbOption = DEFAULT_DB, auth: AuthOption = None) -> None:
    """Disable NAME: no more logins; their sessions end and their tokens are revoked."""
    try:
        _store(db, auth).disable_user(name, actor=_actor())
    except AuthError as exc:
        raise UserError(str(exc)) from None
    err.print(f"{name} disabled", highlight=False)


@users_app.command("audit")
def users_audit(
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 50,
    db: DbOption = DEFAULT_DB,
    auth: AuthOption = None,
    fmt: FormatOption = "table",
) -> None:
    """The audit log: every write (users, passwords, tokens, logins), newest first."""
    check_format(fmt)
    rows = _store(db, auth).audit_log(limit)
    if fmt != "json":
        for r in rows:
            r["detail"] = ", ".join(f"{k}={v}" for k, v in r["detail"].items())
    print_rows(rows, ("id", "at", "actor", "action", "target", "detail", "client"), fmt)
