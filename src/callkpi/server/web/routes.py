"""The dashboard's pages and the JSON routes they read.

Pages (HTML from Jinja2 templates, scripts and styles from ``static/``, nothing from a
CDN; Content-Security-Policy ``'self'`` only) need a web session; without one, or with a
one-time password still to change, they redirect to ``/login``. A page holds no numbers:
its script reads them from the JSON routes below, with the page's filters from its URL.

* ``GET /api/filters``: the filter bar's choices in the caller's scope;
* ``GET /api/overview``: KPI tiles with their trend, target, deviation and status;
* ``GET /api/scorecard``: the scorecard;
* ``GET /api/table``: KPIs at a cut and grain with their targets and benchmarks (the
  analysis pages: Trends, Agents, Queues and IVR, Sales, Planning);
* ``GET /api/wallboard``: the live floor as a table (for export; the wallboard page
  itself reads ``/api/live/stream``).

Each takes ``format=json|csv|xlsx``. (No ``from __future__ import annotations`` here:
FastAPI reads these annotations.)
"""

import json
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import Scope as AsgiScope

from callkpi.goals.periods import Period
from callkpi.kpi import Catalog
from callkpi.kpi.semantic import SemanticModel
from callkpi.live import LiveHub
from callkpi.server.auth import AuthFailed, AuthStore, Scope, User
from callkpi.server.live_routes import live_scope
from callkpi.server.web import data, page_requests, warmup
from callkpi.server.web.cache import VersionReader, scope_key
from callkpi.server.web.i18n import LANGUAGES, LOCALES, choose, messages

HERE = Path(__file__).parent
LANG_COOKIE = "callkpi_lang"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

PAGES = (
    # (id, path, label key): the navigation, in order; each a template and a script of
    # the same id.
    ("overview", "/overview", "nav.overview"),
    ("scorecard", "/scorecard", "nav.scorecard"),
    ("trends", "/trends", "nav.trends"),
    ("agents", "/agents", "nav.agents"),
    ("queues", "/queues", "nav.queues"),
    ("sales", "/sales", "nav.sales"),
    ("planning", "/planning", "nav.planning"),
    ("wallboard", "/wallboard", "nav.wallboard"),
)
Format = Literal["json", "csv", "xlsx"]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class _Static(StaticFiles):
    """Package files; browsers revalidate them (ETag) instead of the API's no-store."""

    async def get_response(self, path: str, scope: AsgiScope) -> Any:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _json(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _boot(value: Any) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def _download(table: data.Table, fmt: str) -> Response:
    name = _SAFE_NAME.sub("-", table.name).strip("-") or "table"
    if fmt == "csv":
        body, media = data.to_csv(table), "text/csv; charset=utf-8"
    else:
        body = data.to_xlsx(table)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def add_web_routes(app: FastAPI, *, hub: LiveHub, caller: Callable[..., Any],
                   store: AuthStore, catalog: Catalog, semantic: SemanticModel,
                   session_cookie: str) -> None:
    """Register the dashboard on ``app``; ``caller`` is its authentication dependency."""
    CallerDep = Annotated[Any, Depends(caller)]
    versions = VersionReader(hub.reader)
    app.state.data_version = versions  # read by the planning and analysis routes too
    engine = data.Engine(hub.reader, hub.reader_lock, catalog, semantic, hub.tz,
                         versions=versions)
    app.state.page_answers = engine.cache  # the pages' answers, kept per data version
    recent = RecentScopes()
    warmer = _warmer(app, engine, recent) if warmup.enabled() else None
    running = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with running(application) as state:
            if warmer is not None:
                warmer.start()
            try:
                yield state
            finally:
                if warmer is not None:
                    warmer.stop()
                versions.close()

    app.router.lifespan_context = lifespan
    templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                            autoescape=select_autoescape(default=True))
    app.mount("/static", _Static(directory=HERE / "static"), name="static")

    def session_user(request: Request) -> User | None:
        secret = request.cookies.get(session_cookie)
        if not secret:
            return None
        try:
            return store.session_user(secret)
        except AuthFailed:
            return None

    def language(request: Request) -> str:
        return choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                      request.headers.get("accept-language"))

    def render(request: Request, template: str, page: str, user: User | None) -> HTMLResponse:
        lang = language(request)
        t = messages(lang)
        boot = {"lang": lang, "locale": LOCALES[lang], "page": page, "messages": t,
                "user": user.public() if user else None, "tz": hub.tz}
        html = templates.get_template(template).render(
            t=t, lang=lang, page=page, pages=PAGES, user=user, boot=_boot(boot),
            other_lang=next(x for x in LANGUAGES if x != lang))
        response = HTMLResponse(html, headers={"Content-Security-Policy": CSP})
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict",
                                secure=request.url.scheme == "https")
        return response

    def page(template: str, page_id: str) -> Callable[[Request], Response]:
        def show(request: Request) -> Response:
            user = session_user(request)
            if user is None or user.must_change_password:
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
            recent.seen(user.scope)
            return render(request, template, page_id, user)

        show.__name__ = f"page_{page_id}"
        return show

    for page_id, path, _ in PAGES:
        app.add_api_route(path, page(f"{page_id}.html", page_id), methods=["GET"],
                          include_in_schema=False, response_class=HTMLResponse)

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request) -> Response:
        """The sign-in form (and the change of a one-time password)."""
        return render(request, "login.html", "login", session_user(request))

    # -- data -----------------------------------------------------------------------------

    def filters_of(request: Request) -> dict[str, str]:
        try:
            return data.clean_filters(request.query_params)
        except data.WebError as exc:
            raise HTTPException(400, str(exc)) from None

    def period_of(text: str | None, user: User) -> Period:
        try:
            period = data.period_of(text)
        except data.WebError as exc:
            raise HTTPException(400, str(exc)) from None
        return period or data.default_period(engine, user.scope)

    PeriodQuery = Annotated[str | None, Query(
        description="2026-10, 2026-Q4, 2026, 2026-10-05 or 2026-10-01..2026-10-15 "
                    "(default: the month of the latest data)")]
    FormatQuery = Annotated[Format, Query(description="json, csv or xlsx")]

    @app.get("/api/filters", tags=["dashboard"])
    def filters(who: CallerDep) -> JSONResponse:
        """The filter bar's choices in your scope: each dimension's values and whether
        "all" is allowed (not for a dimension your scope limits), the months with data."""
        recent.seen(who.user.scope)
        return JSONResponse(_json(data.filter_options(engine, who.user.scope)))

    @app.get("/api/overview", tags=["dashboard"], response_class=Response)
    def overview(who: CallerDep, request: Request, period: PeriodQuery = None,
                 format: FormatQuery = "json") -> Response:
        """KPI tiles for the period and the filters (tenant, site, team, queue, campaign,
        agent) in your scope: value, target, deviation, status (as the scorecard) and the
        values by day. KPIs that cannot be limited to the filters are listed in
        ``unavailable``."""
        result = data.overview(engine, who.user.scope, period_of(period, who.user),
                               filters_of(request))
        if format != "json":
            return _download(data.overview_table(result), format)
        return JSONResponse(_json(result))

    @app.get("/api/scorecard", tags=["dashboard"], response_class=Response)
    def scorecard(who: CallerDep, request: Request, period: PeriodQuery = None,
                  by: Annotated[str | None, Query(
                      description="agent, team, queue, campaign, tenant or site")] = None,
                  format: FormatQuery = "json") -> Response:
        """The scorecard (``callkpi scorecard``) for the period, limited to your scope and
        the filters: a team's with ``team=``, an agent's with ``agent=``; one group of
        rows per ``by`` value."""
        try:
            result = data.scorecard(engine, who.user.scope, period_of(period, who.user),
                                    filters_of(request), by or None)
        except data.WebError as exc:
            raise HTTPException(400, str(exc)) from None
        if format != "json":
            return _download(data.scorecard_table(result), format)
        return JSONResponse(_json(result))

    @app.get("/api/table", tags=["dashboard"], response_class=Response)
    def kpi_table(who: CallerDep, request: Request, period: PeriodQuery = None,
                  kpis: Annotated[str, Query(
                      description="KPI ids, comma-separated (at most 12)")] = "offered",
                  by: Annotated[str | None, Query(
                      description="dimensions, comma-separated (at most 3): agent, "
                                  "queue, campaign, hour_of_day, weekday, ...")] = None,
                  grain: Annotated[str, Query(
                      description="all, 15min, 30min, hour, day, week, month")] = "all",
                  previous: Annotated[bool, Query(
                      description="also the rows of the period before")] = False,
                  samples: Annotated[bool, Query(
                      description="each ratio's sample size as KPI__n")] = False,
                  format: FormatQuery = "json") -> Response:
        """KPIs for the period and the filters (tenant, site, team, queue, campaign, agent)
        in your scope at a cut and grain: the KPI engine's rows (as ``/api/kpi``), each
        KPI's unit, the target that applies to the selection and the industry benchmark.
        KPIs that cannot be limited to the filters are listed in ``unavailable``."""
        names = [k.strip() for k in kpis.split(",") if k.strip()]
        dims = [d.strip() for d in (by or "").split(",") if d.strip()]
        try:
            result = data.kpi_table(engine, who.user.scope, period_of(period, who.user),
                                    filters_of(request), names, dims, grain[:20], previous,
                                    samples)
        except data.WebError as exc:
            raise HTTPException(400, str(exc)) from None
        if format != "json":
            return _download(data.kpi_table_table(result), format)
        return JSONResponse(_json(result))

    @app.get("/api/warm-up", tags=["dashboard"])
    def warm_up(_: CallerDep) -> dict[str, Any]:
        """Whether the server computes answers ahead of time (``CALLKPI_WARM_UP=1``),
        whether those of the current data are ready, and how many answers the server has
        computed so far (warm-up and requests)."""
        warmer = getattr(app.state, "warmer", None)
        ops = getattr(app.state, "ops_answers", None)
        computed = engine.cache.misses + (ops.misses if ops is not None else 0)
        if warmer is None:
            return {"enabled": False, "ready": False, "runs": 0, "computed": computed}
        return {"enabled": True, "ready": warmer.wait(0), "runs": warmer.runs,
                "computed": computed}

    @app.get("/api/wallboard", tags=["dashboard"], response_class=Response)
    def wallboard(who: CallerDep, format: FormatQuery = "json") -> Response:
        """The live floor in your scope as one row per queue (the wallboard's table)."""
        snap = hub.snapshot(live_scope(who.user, hub.reader, hub.reader_lock))
        table = data.wallboard_table(snap)
        if format != "json":
            return _download(table, format)
        return JSONResponse(_json({"at": snap.get("at"), "columns": list(table.columns),
                                   "rows": list(table.rows)}))


MAX_RECENT_SCOPES = 8
"""Scopes of recent callers whose pages the warm-up computes ahead (besides unscoped)."""


class RecentScopes:
    """The scopes of the callers who opened a page or the filter bar most recently (at
    most ``size``, least recent first out), for the warm-up."""

    def __init__(self, size: int = MAX_RECENT_SCOPES) -> None:
        self.size = size
        self._scopes: OrderedDict[tuple[Any, ...], Scope] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, scope: Scope) -> None:
        if not scope.limits:
            return
        key = scope_key(scope.limits)
        with self._lock:
            self._scopes[key] = scope
            self._scopes.move_to_end(key)
            while len(self._scopes) > self.size:
                self._scopes.popitem(last=False)

    def scopes(self) -> list[Scope]:
        """The most recent first."""
        with self._lock:
            return list(reversed(self._scopes.values()))

    def key(self) -> tuple[Any, ...]:
        """Which scopes (not their order): part of what the warm-up has warmed."""
        with self._lock:
            return tuple(sorted(self._scopes, key=repr))


def _warmer(app: FastAPI, engine: data.Engine, recent: RecentScopes) -> warmup.Warmer:
    """A :class:`callkpi.server.web.warmup.Warmer` for while the server runs: at start,
    after new data and when a caller of a new scope appears, every page's default view
    (:func:`callkpi.server.web.page_requests.page_jobs`) for an unscoped caller and the
    recent callers' scopes, cheap answers first (Overview first), then the pages' recent
    requests, then the Planning page's forecasts and plans, then the planning and analysis
    routes' recent requests."""
    jobs: dict[str, list[warmup.Job]] = {}

    def pages() -> list[warmup.Job]:
        ops = getattr(app.state, "ops_pages", None)
        cheap, dear = [], []
        for scope in [Scope(), *recent.scopes()]:
            c, d = page_requests.page_jobs(engine, scope, ops)
            cheap += c
            dear += d
        jobs["dear"] = dear
        return cheap

    def ops_recipes() -> list[warmup.Job]:
        ops = getattr(app.state, "ops_answers", None)
        return ops.recipes() if ops is not None else []

    warmer = warmup.Warmer(lambda: (engine.version(), recent.key()),
                           [pages, engine.cache.recipes, lambda: jobs.pop("dear", []),
                            ops_recipes])
    app.state.warmer = warmer
    return warmer


__all__ = ["CSP", "MAX_RECENT_SCOPES", "PAGES", "RecentScopes", "add_web_routes"]
