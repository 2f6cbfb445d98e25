"""The FastAPI application: authentication, the KPI and catalog routes, the docs page.

Authentication (``callkpi.server.auth`` holds the users): a web login sets an HttpOnly,
SameSite=Strict session cookie; scripts send ``Authorization: Bearer ck_...``. Every KPI
query goes through :func:`callkpi.server.scopes.scoped_queries` with the caller's scope.
Engine queries share the server's one warehouse connection, one at a time.
"""


import datetime as dt
import html
import json
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from callkpi import timezones
from callkpi.kpi import (
    Catalog,
    CatalogError,
    FormulaError,
    KpiQuery,
    QueryError,
    builtin_catalog,
    load_catalog,
    run_query,
)
from callkpi.kpi.docs import dimensions_of
from callkpi.kpi.semantic import semantic_model
from callkpi.live import LiveHub
from callkpi.server.auth import (
    MAX_NAME,
    SESSION_HOURS,
    TOKEN_DAYS,
    AuthError,
    AuthFailed,
    AuthStore,
    RateLimited,
    User,
)
from callkpi.server.live_routes import add_live_routes
from callkpi.server.ops_routes import add_ops_routes
from callkpi.server.scopes import ScopeChoice, ScopeError, merge_rows, scoped_queries
from callkpi.server.web import add_web_routes
from callkpi.store import Warehouse

log = logging.getLogger("callkpi.server")

SESSION_COOKIE = "callkpi_session"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_STRING = 8 * 1024
MAX_KPIS = 50
MAX_BY = 8
MAX_PAIRS = 20
MAX_VALUE = 200

DEFAULT_KPIS = (
    "offered",
    "answered",
    "abandoned",
    "timed_out",
    "exited_key",
    "blocked",
    "overflowed",
    "closed",
)
"""What ``callkpi kpi`` computes when no KPI is named (kept equal to the CLI's; tested)."""

ADMIN_ROLES = ("admin",)


class BadRequest(ValueError):
    """A request the server cannot answer as asked (HTTP 400); the message says why."""


@dataclass(frozen=True)
class Caller:
    user: User
    via: str
    """``session`` or ``token``."""
    token_id: str | None = None
    session: str | None = None


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_NAME)
    password: str = Field(min_length=1, max_length=1024)


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=200)
    days: float = Field(TOKEN_DAYS, gt=0, le=3660)


class _QueryStringLimit:
    """Refuse over-long query strings (414) before anything parses them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("query_string", b"")) > self.limit:
            response = JSONResponse(
                {"detail": f"query string longer than {self.limit} bytes"}, status_code=414
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def rows_json(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The JSON of ``callkpi kpi --format json``: an array with one object per group."""
    return json.dumps(
        [{c: _clean(r.get(c)) for c in columns} for r in rows], ensure_ascii=False, default=str
    )


def _split(values: Sequence[str] | None, name: str, limit: int) -> tuple[str, ...]:
    """Repeated and comma-separated values, in order."""
    found = [v.strip() for item in values or () for v in item.split(",") if v.strip()]
    if len(found) > limit:
        raise BadRequest(f"{name}: at most {limit} values")
    for v in found:
        if len(v) > MAX_VALUE:
            raise BadRequest(f"{name} {v[:40]!r}...: longer than {MAX_VALUE} characters")
    return tuple(found)


def _pairs(values: Sequence[str] | None, name: str) -> list[tuple[str, str]]:
    found = []
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"{name} {item[:60]!r}: expected NAME=VALUE")
        if len(item) > MAX_VALUE:
            raise BadRequest(f"{name} {item[:40]!r}...: longer than {MAX_VALUE} characters")
        found.append((key.strip(), value.strip()))
    if len(found) > MAX_PAIRS:
        raise BadRequest(f"{name}: at most {MAX_PAIRS} values")
    return found


def _time(name: str, value: str | None) -> dt.datetime | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            f"{name} {value[:40]!r}: expected an ISO time like 2026-10-01 or 2026-10-01T08:00"
        ) from None
    if not 1900 <= parsed.year < 2200:
        raise BadRequest(f"{name} {value[:40]!r}: expected a year from 1900 to 2199")
    return parsed


def create_app(
    db: str | Path | Warehouse,
    *,
    auth: AuthStore | str | Path,
    catalog_files: Sequence[str | Path] = (),
    secure_cookies: bool = False,
    lock: "threading.Lock | None" = None,
    tz: str = "UTC",
    follow: Sequence[tuple[str | Path, str | None]] = (),
    spool_dir: str | Path | None = None,
) -> FastAPI:
    """The server for one warehouse (a path is opened now and closed on shutdown) and one
    auth file. ``secure_cookies`` marks the session cookie Secure (behind HTTPS). Engine
    writes hold ``lock`` (``app.state.engine_lock``): whatever else writes to the warehouse
    in this process, such as live ingestion, takes the same lock. Reads (KPI queries, the
    live floor, plans) use a second connection to the same database under their own lock,
    so a long load never stops them.

    Live (``app.state.live``, a :class:`callkpi.live.LiveHub`): ``tz`` is the zone of
    "today" and of naive queue_log times; ``follow`` lists queue_log files to tail, each
    with its tenant; posted events are spooled in ``spool_dir`` (default: ``DB.live/``
    next to the warehouse)."""
    owned = not isinstance(db, Warehouse)
    wh = Warehouse(db) if not isinstance(db, Warehouse) else db
    store = auth if isinstance(auth, AuthStore) else AuthStore(auth)
    catalog: Catalog = (
        load_catalog([Path(p) for p in catalog_files]) if catalog_files else builtin_catalog()
    )
    semantic = semantic_model()
    engine_lock = lock or threading.Lock()
    timezones.zone(tz)
    hub = LiveHub(wh, lock=engine_lock, tz=tz,
                  spool_dir=spool_dir or Path(f"{wh.path}.live"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for path, tenant in follow:
            hub.follow(path, tenant=tenant, tz=tz)
        yield
        hub.close()
        if owned:
            wh.close()

    app = FastAPI(
        title="callkpi",
        summary="Contact-center KPIs over HTTP, limited to each caller's scope.",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.add_middleware(_QueryStringLimit, limit=MAX_QUERY_STRING)
    app.state.warehouse = wh
    app.state.auth = store
    app.state.engine_lock = engine_lock
    app.state.live = hub

    # -- errors ---------------------------------------------------------------------------

    def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(BadRequest)
    @app.exception_handler(QueryError)
    @app.exception_handler(timezones.TimeZoneError)
    @app.exception_handler(FormulaError)
    @app.exception_handler(CatalogError)
    @app.exception_handler(ScopeChoice)
    async def bad_request(_: Request, exc: Exception) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(AuthError)
    async def auth_error(_: Request, exc: Exception) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(ScopeError)
    async def forbidden(_: Request, exc: Exception) -> JSONResponse:
        return _error(403, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return JSONResponse(
            {"detail": "; ".join(problems) or "invalid request"}, status_code=422
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "internal error (the server log has the details)")

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    # -- who is calling -------------------------------------------------------------------

    def caller(request: Request) -> Caller:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise HTTPException(
                    401,
                    "Authorization: expected 'Bearer ck_...'",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            try:
                user, token_id = store.token_user(token.strip())
            except AuthFailed as exc:
                raise HTTPException(
                    401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
                ) from None
            return Caller(user, "token", token_id=token_id)
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret:
            raise HTTPException(
                401,
                "not logged in: POST /api/login, or send Authorization: Bearer ck_...",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            user = store.session_user(secret)
        except AuthFailed as exc:
            raise HTTPException(401, str(exc)) from None
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if origin is not None and origin.rstrip("/").split("://")[-1] != request.headers.get(
                "host"
            ):
                raise HTTPException(403, "cross-site request refused")
        if user.must_change_password and request.url.path not in (
            "/api/me",
            "/api/me/password",
            "/api/logout",
        ):
            raise HTTPException(
                403, "change your one-time password first: POST /api/me/password"
            )
        return Caller(user, "session", session=secret)

    CallerDep = Annotated[Caller, Depends(caller)]

    def admin(who: CallerDep) -> Caller:
        if who.user.role not in ADMIN_ROLES:
            raise HTTPException(403, f"role {who.user.role} cannot do this (admin only)")
        return who

    AdminDep = Annotated[Caller, Depends(admin)]

    # -- pages ----------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/overview")

    @app.get("/docs", include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return HTMLResponse(
            docs_html(app.openapi()),
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    @app.get("/api/health", tags=["server"])
    def health() -> dict[str, str]:
        """Whether the server is up (no login needed, no data)."""
        return {"status": "ok"}

    # -- login ----------------------------------------------------------------------------

    @app.post("/api/login", tags=["auth"])
    def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
        """Log in with a user name and password; sets the session cookie (HttpOnly,
        SameSite=Strict, 12 hours). Repeated failures are refused for 15 minutes
        (429 with Retry-After): 5 per user name, 20 per client address."""
        try:
            user = store.login(body.name, body.password, client=_client(request))
        except RateLimited as exc:
            raise HTTPException(
                429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            ) from None
        except AuthFailed as exc:
            raise HTTPException(401, str(exc)) from None
        secret = store.new_session(user, client=_client(request))
        response.set_cookie(
            SESSION_COOKIE,
            secret,
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="strict",
            secure=secure_cookies or request.url.scheme == "https",
            path="/",
        )
        return {"user": user.public()}

    @app.post("/api/logout", tags=["auth"], status_code=204)
    def logout(who: CallerDep, request: Request, response: Response) -> None:
        """End the web session (API tokens are revoked instead: DELETE /api/tokens/ID)."""
        if who.session is None:
            raise HTTPException(400, "logout ends a web session; revoke a token instead")
        store.end_session(who.session, actor=who.user.name, client=_client(request))
        response.delete_cookie(SESSION_COOKIE, path="/")

    @app.get("/api/me", tags=["auth"])
    def me(who: CallerDep) -> dict[str, Any]:
        """Who is calling: name, role, scope, and how they authenticated."""
        return {**who.user.public(), "auth": who.via, "token_id": who.token_id}

    @app.post("/api/me/password", tags=["auth"], status_code=204)
    def change_password(body: PasswordBody, who: CallerDep, request: Request) -> None:
        """Change your own password (the old one is checked like a login)."""
        try:
            store.change_password(who.user, body.old, body.new, client=_client(request))
        except RateLimited as exc:
            raise HTTPException(
                429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            ) from None
        except AuthFailed:
            raise HTTPException(403, "the old password is wrong") from None

    # -- tokens ---------------------------------------------------------------------------

    @app.get("/api/tokens", tags=["auth"])
    def my_tokens(who: CallerDep) -> list[dict[str, Any]]:
        """Your API tokens (never the token text: it is shown once, at creation)."""
        return [t.public() for t in store.tokens(who.user.name)]

    @app.post("/api/tokens", tags=["auth"], status_code=201)
    def create_token(body: TokenBody, who: CallerDep, request: Request) -> dict[str, Any]:
        """A new API token for yourself; the response is the only time ``token`` is shown."""
        token, info = store.new_token(
            who.user.name,
            days=body.days,
            label=body.label,
            actor=who.user.name,
            client=_client(request),
        )
        return {"token": token, **info.public()}

    @app.delete("/api/tokens/{token_id}", tags=["auth"])
    def revoke_token(token_id: str, who: CallerDep, request: Request) -> dict[str, Any]:
        """Revoke one of your tokens (an admin may revoke anyone's)."""
        owner = None if who.user.role in ADMIN_ROLES else who.user.name
        try:
            info = store.revoke_token(
                token_id[:40], actor=who.user.name, client=_client(request), owner=owner
            )
        except AuthError as exc:
            raise HTTPException(404, str(exc)) from None
        return info.public()

    # -- admin ----------------------------------------------------------------------------

    @app.get("/api/users", tags=["admin"])
    def users(_: AdminDep) -> list[dict[str, Any]]:
        """Every user with role and scope (admin only)."""
        return [u.public() for u in store.users()]

    @app.get("/api/audit", tags=["admin"])
    def audit(
        _: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        """The latest audited writes, newest first (admin only)."""
        return store.audit_log(limit)

    # -- the catalog ----------------------------------------------------------------------

    @app.get("/api/kpis", tags=["kpis"])
    def kpis_list(_: CallerDep) -> list[dict[str, Any]]:
        """Every KPI in the catalog (as ``callkpi kpis list --format json``)."""
        return [
            {
                "id": k.id,
                "category": k.category,
                "name": k.name,
                "unit": k.unit,
                "direction": k.direction,
                "formula": k.formula,
            }
            for k in catalog
        ]

    @app.get("/api/kpis/{kpi_id}", tags=["kpis"])
    def kpis_show(kpi_id: str, _: CallerDep) -> dict[str, Any]:
        """One KPI's definition with the dimensions it can be cut by
        (as ``callkpi kpis show ID --format json``)."""
        if kpi_id not in catalog:
            raise HTTPException(404, f"unknown KPI {kpi_id[:60]!r}; GET /api/kpis lists them")
        kpi_def = catalog[kpi_id]
        data: dict[str, Any] = kpi_def.model_dump(
            mode="json", exclude_none=True, exclude={"uses", "uses_kpis"}
        )
        data["dimensions"] = dimensions_of(kpi_def, catalog, semantic)
        return data

    # -- KPI queries ----------------------------------------------------------------------

    @app.get("/api/kpi", tags=["kpis"], response_class=Response)
    def kpi(
        who: CallerDep,
        kpis: Annotated[
            list[str] | None,
            Query(description="KPI ids, repeated or comma-separated (default: the outcomes)."),
        ] = None,
        by: Annotated[
            list[str] | None, Query(description="Dimensions, repeated or comma-separated.")
        ] = None,
        grain: Annotated[
            str, Query(description="15min, 30min, hour, day, week, month, quarter, year, all.")
        ] = "all",
        from_: Annotated[
            str | None, Query(alias="from", description="Start (inclusive), ISO, read in tz.")
        ] = None,
        to: Annotated[
            str | None, Query(description="End (exclusive), ISO, read in tz.")
        ] = None,
        tz: Annotated[str, Query(description="IANA time zone, e.g. Europe/Moscow.")] = "UTC",
        where: Annotated[
            list[str] | None, Query(description="DIM=VALUE filter; repeatable.")
        ] = None,
        set_: Annotated[
            list[str] | None, Query(alias="set", description="PARAM=VALUE; repeatable.")
        ] = None,
    ) -> Response:
        """Compute KPIs at any cut and grain, limited to your scope. The options and the
        JSON are those of ``callkpi kpi --format json``: an array with one object per
        group, a key per ``by`` dimension, ``period_start`` (ISO 8601 with offset; not for
        grain ``all``) and a key per KPI holding a number or null."""
        params: dict[str, float | str] = {}
        for name, value in _pairs(set_, "set"):
            try:
                params[name] = float(value)
            except ValueError:
                params[name] = value
        start, end = _time("from", from_), _time("to", to)
        if start and end and (start.tzinfo is None) == (end.tzinfo is None) and start >= end:
            raise BadRequest(f"from {from_!r} is not before to {to!r}")
        query = KpiQuery(
            kpis=_split(kpis, "kpis", MAX_KPIS) or DEFAULT_KPIS,
            by=_split(by, "by", MAX_BY),
            grain=grain[:MAX_VALUE],
            start=start,
            end=end,
            tz=tz[:MAX_VALUE],
            where=tuple(_pairs(where, "where")),
            params=params,
        )
        parts = scoped_queries(query, who.user.scope, catalog, semantic)
        # Reads go through the live hub's own connection: a load holding engine_lock
        # (an upload, posted events, a tailed log) does not stop them (DuckDB's MVCC).
        with hub.reader_lock:
            results = [run_query(hub.reader, q, catalog=catalog) for q in parts]
        rows = merge_rows(query, [r.rows for r in results])
        return Response(rows_json(rows, results[0].columns), media_type="application/json")

    add_live_routes(app, hub=hub, caller=caller, store=store, client_of=_client)
    add_web_routes(app, hub=hub, caller=caller, store=store, catalog=catalog, semantic=semantic,
                   session_cookie=SESSION_COOKIE)
    add_ops_routes(app, wh=wh, lock=engine_lock, reader=hub.reader, reader_lock=hub.reader_lock,
                   caller=caller, store=store, client_of=_client,
                   spool_dir=Path(hub.spool.directory))
    return app


def docs_html(schema: dict[str, Any]) -> str:
    """The API reference as one self-contained page (no scripts, nothing from a CDN)."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(schema['info']['title'])} API</title>",
        "<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60em;margin:2em auto;"
        "padding:0 1em}code,pre{background:#f4f4f4;padding:0 .2em}h2{margin-top:2em;"
        "border-top:1px solid #ddd;padding-top:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}"
        ".m{font-weight:bold;color:#064}</style></head><body>",
        f"<h1>{e(schema['info']['title'])} API {e(schema['info'].get('version', ''))}</h1>",
        f"<p>{e(schema['info'].get('summary', ''))} The machine-readable schema is "
        "<a href='/api/openapi.json'>/api/openapi.json</a> (OpenAPI). Authenticate with "
        "<code>POST /api/login</code> (a session cookie) or "
        "<code>Authorization: Bearer ck_...</code>.</p>",
    ]
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(
                f"<h2><span class='m'>{e(method.upper())}</span> <code>{e(path)}</code></h2>"
            )
            parts.append(f"<p>{e(op.get('description') or op.get('summary', ''))}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>")
                for p in params:
                    required = " (required)" if p.get("required") else ""
                    parts.append(
                        f"<tr><td><code>{e(p['name'])}</code>{required}</td>"
                        f"<td>{e(p.get('in', ''))}</td><td>{e(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                ref = body.get("schema", {}).get("$ref", "")
                name = ref.rsplit("/", 1)[-1]
                fields = schema.get("components", {}).get("schemas", {}).get(name, {})
                props = ", ".join(f"<code>{e(k)}</code>" for k in fields.get("properties", {}))
                parts.append(f"<p>JSON body: {props}</p>")
            codes = ", ".join(e(str(c)) for c in op.get("responses", {}))
            parts.append(f"<p>Responses: {codes}</p>")
    parts.append("</body></html>")
    return "".join(parts)
