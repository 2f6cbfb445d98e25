"""Routes for planning, targets, uploads, the quarantine and benchmarks.

* ``GET /api/staff``: one interval's staffing (the options of ``callkpi staff``); no data.
* ``GET /api/forecast``, ``GET /api/plan``: the options of ``callkpi forecast`` and
  ``callkpi plan``, for the queues of the caller's tenants.
* ``GET /api/targets``; ``PUT /api/targets`` and ``DELETE /api/targets`` (admin or
  manager; audited).
* ``POST /api/ingest/{source}?filename=...``: the body is a source file, kept in
  ``DB.live/uploads/TENANT/FILENAME`` and loaded as ``callkpi ingest SOURCE FILE`` would
  (so the same file again loads nothing; admin or manager; audited); the warehouse stays
  readable meanwhile (reads have their own connection).
* ``GET /api/quarantine``: rejected rows and their reasons (admin, manager, analyst);
  long digit runs (phone numbers) in the raw lines are masked.
* ``GET /api/benchmark``: ``callkpi benchmark`` for the center or the caller's scope.
* ``GET /api/insights/{name}``: a combined analysis (``callkpi insights NAME``).

Scope: forecasts and plans are limited to the queues of a tenant-scoped caller's tenants;
the benchmark to the caller's scope; the quarantine reads rows no scope can cut (they have
no tenant), and the combined analyses are computed over the whole center, so only
unscoped callers get them. (No ``from __future__ import annotations`` here:
FastAPI reads these annotations.)
"""

import datetime as dt
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from callkpi.server.auth import AuthStore, User
from callkpi.server.scopes import tenant_to_write
from callkpi.server.web.cache import AnswerCache, data_version, scope_key
from callkpi.store import Warehouse

MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
WRITERS = ("admin", "manager")
READERS_OF_RAW = ("admin", "manager", "analyst")
DIGITS = re.compile(r"\d{7,}")


def mask_digits(text: str | None) -> str | None:
    """Phone-number-like digit runs (7 digits or more) with all but the last 2 masked."""
    if text is None:
        return None
    return DIGITS.sub(lambda m: "*" * (len(m.group()) - 2) + m.group()[-2:], text)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


class TargetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[dict[str, Any]] = Field(
        max_length=1000,
        description="Targets as in a targets file: kpi, target, period, scope, warning, "
                    "critical, impact, owner, due, note (docs/goals.md).")


def add_ops_routes(app: FastAPI, *, wh: Warehouse, lock: threading.Lock, reader: Warehouse,
                   reader_lock: threading.Lock, caller: Callable[..., Any], store: AuthStore,
                   client_of: Callable[[Request], str], spool_dir: Path) -> None:
    """Register the routes on ``app``; ``caller`` is its authentication dependency;
    writes hold ``lock``, reads ``reader_lock`` on their own connection."""
    CallerDep = Annotated[Any, Depends(caller)]
    # Forecasts, plans and analyses depend only on the data and what is asked: kept per
    # data version (every ingest batch and target change makes a new one) and scope.
    answers = AnswerCache()
    app.state.ops_answers = answers

    def kept(what: str, limits: Mapping[str, Sequence[str]], params: tuple[Any, ...],
             compute: Callable[[], Any]) -> Any:
        """``compute()``'s answer, kept per data version, caller's scope and parameters."""
        return answers.kept(version, (what, scope_key(limits), params), compute)

    def version() -> tuple[Any, ...]:
        versions = getattr(app.state, "data_version", None)  # the dashboard's, lock-free
        return versions() if versions is not None else data_version(reader, reader_lock)

    def unscoped(user: User, what: str, roles: tuple[str, ...] | None = None) -> None:
        if roles is not None and user.role not in roles:
            raise HTTPException(403, f"role {user.role} cannot read {what}")
        if user.scope.limits:
            raise HTTPException(403, f"{what} covers the whole center: not for a scoped user")

    def allowed_queues(limits: Mapping[str, Sequence[str]],
                       asked: list[str] | None) -> list[str] | None:
        """The queues a caller may plan: all (None) unscoped; their tenants' otherwise."""
        if not limits:
            return asked or None
        if set(limits) != {"tenant"}:
            raise HTTPException(403, "forecasts and plans need an unscoped or tenant scope")
        with reader_lock:
            rows = reader.sql(
                "SELECT DISTINCT queue FROM calls WHERE direction = 'in' AND queue IS NOT "
                "NULL AND tenant IN (SELECT unnest(?))", [list(limits["tenant"])])
        mine = sorted(r[0] for r in rows)
        if asked:
            outside = [q for q in asked if q not in mine]
            if outside:
                raise HTTPException(403, f"queue {outside[0]!r} is outside your scope")
            return asked
        if not mine:
            raise HTTPException(404, "no queue of your tenants has calls: nothing to plan")
        return mine

    # -- staffing -------------------------------------------------------------------------

    @app.get("/api/staff", tags=["planning"])
    def staff(
        _: CallerDep,
        calls: Annotated[float, Query(ge=0, le=1e7, description="Calls in the interval.")],
        aht_s: Annotated[float, Query(ge=0, le=86400, description="Average handle time.")],
        interval_min: Annotated[float, Query(gt=0, le=1440)] = 30,
        sl: Annotated[float | None, Query(description="Service level target.")] = 0.8,
        answer_threshold_s: Annotated[float, Query(ge=0, le=86400)] = 20,
        sl_definition: str = "offered",
        patience_s: Annotated[float | None, Query(ge=0, le=86400)] = None,
        max_asa_s: Annotated[float | None, Query(ge=0, le=86400)] = None,
        max_occupancy: Annotated[float | None, Query(gt=0, le=1)] = None,
        max_abandon: Annotated[float | None, Query(gt=0, lt=1)] = None,
        shrinkage: Annotated[float, Query(ge=0, lt=1)] = 0.0,
        model: str | None = None,
        agents: Annotated[int | None, Query(ge=0, le=200_000)] = None,
        handle_cv: Annotated[float | None, Query(ge=0, le=10)] = None,
        seed: Annotated[int, Query(ge=0, le=2**31)] = 1,
    ) -> dict[str, Any]:
        """Agents for one interval: the JSON of ``callkpi staff --format json``."""
        from callkpi.wfm.interval import staff_interval

        if model == "simulation" and calls * aht_s / (interval_min * 60) > 2000:
            raise HTTPException(400, "simulation: at most 2,000 Erlangs over HTTP")
        try:
            row = staff_interval(
                calls=calls, aht_s=aht_s, interval_s=interval_min * 60, service_level=sl,
                answer_threshold_s=answer_threshold_s, sl_definition=sl_definition,
                patience_s=patience_s, max_asa_s=max_asa_s, max_occupancy=max_occupancy,
                max_abandon=max_abandon, shrinkage=shrinkage, model=model, agents=agents,
                handle_cv=handle_cv, seed=seed)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return dict(_clean(row))

    # -- forecast and plan ----------------------------------------------------------------

    def _start(text: str | None) -> dt.date | None:
        if text is None:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise HTTPException(400, f"start {text!r}: expected a date like 2026-11-01") from None

    @app.get("/api/forecast", tags=["planning"])
    def forecast(
        who: CallerDep,
        tz: str = "UTC",
        horizon_days: Annotated[int, Query(ge=1, le=28)] = 14,
        grain: str = "30min",
        history_days: Annotated[int, Query(ge=7, le=366)] = 28,
        start: str | None = None,
        queue: Annotated[list[str] | None, Query(max_length=50)] = None,
        level: Annotated[float, Query(gt=0, lt=1)] = 0.8,
    ) -> list[dict[str, Any]]:
        """Calls per queue and local slot: ``slot_start, calls, lower, upper, aht_s,
        model`` (as ``callkpi forecast --format json``)."""
        from callkpi import timezones
        from callkpi.wfm.plan import GRAINS

        if grain not in GRAINS:
            raise HTTPException(400, f"grain {grain!r}: expected one of {', '.join(GRAINS)}")
        try:
            timezones.zone(tz)
        except timezones.TimeZoneError as exc:
            raise HTTPException(400, str(exc)) from None
        return forecast_answer(who.user.scope.limits, tz=tz, horizon_days=horizon_days,
                               grain=grain, history_days=history_days, start=start,
                               queue=queue, level=level)

    def forecast_answer(limits: Mapping[str, Sequence[str]], *, tz: str = "UTC",
                        horizon_days: int = 14, grain: str = "30min", history_days: int = 28,
                        start: str | None = None, queue: list[str] | None = None,
                        level: float = 0.8) -> list[dict[str, Any]]:
        """``GET /api/forecast``'s answer for a caller of scope ``limits`` (kept per data
        version); the route's and the warm-up's (the same defaults as the route's)."""
        queues = allowed_queues(limits, queue)
        first = _start(start)

        def compute() -> list[dict[str, Any]]:
            return _forecast(tz, horizon_days, grain, history_days, first, queues, level)

        params = (tz, horizon_days, grain, history_days, first,
                  None if queues is None else tuple(queues), level)
        return list(kept("forecast", limits, params, compute))

    def _forecast(tz: str, horizon_days: int, grain: str, history_days: int,
                  first: dt.date | None, queues: list[str] | None,
                  level: float) -> list[dict[str, Any]]:
        from callkpi import timezones
        from callkpi.wfm import history
        from callkpi.wfm.plan import last_day_with_calls

        with reader_lock:
            if first is None:
                last = last_day_with_calls(reader, tz)
                if last is None:
                    raise HTTPException(404, "no inbound queue calls: nothing to forecast")
                first = last + dt.timedelta(days=1)
            end = dt.datetime.combine(first, dt.time())
            try:
                outlooks = history.queue_outlooks(
                    reader, tz=tz, horizon_days=horizon_days, grain=grain,
                    start=end - dt.timedelta(days=history_days), end=end, level=level,
                    queues=queues)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        rows = []
        for name, outlook in outlooks.items():
            frame = outlook.frame()
            for _, r in frame.iterrows():
                local = r["slot_start"].to_pydatetime()
                rows.append({
                    "queue": name,
                    "slot_start": timezones.local_iso(tz, local),
                    "calls": r["point"], "lower": r["lower"], "upper": r["upper"],
                    "aht_s": r["aht_s"], "model": outlook.forecast.model})
        return list(_clean(rows))

    @app.get("/api/plan", tags=["planning"])
    def plan(
        who: CallerDep,
        tz: str = "UTC",
        horizon_days: Annotated[int, Query(ge=1, le=28)] = 7,
        grain: str = "30min",
        history_days: Annotated[int, Query(ge=7, le=366)] = 28,
        start: str | None = None,
        queue: Annotated[list[str] | None, Query(max_length=50)] = None,
        model: str = "erlang-a",
        sl: float | None = 0.8,
        answer_threshold_s: Annotated[float, Query(ge=0, le=86400)] = 20,
        sl_definition: str = "offered",
        max_asa_s: Annotated[float | None, Query(ge=0, le=86400)] = None,
        max_occupancy: Annotated[float | None, Query(gt=0, le=1)] = None,
        max_abandon: Annotated[float | None, Query(gt=0, lt=1)] = None,
        shrinkage: Annotated[float, Query(ge=0, lt=1)] = 0.3,
    ) -> dict[str, Any]:
        """Required against scheduled agents per queue and slot (``rows``), totals per
        queue and day (``totals``; ``day`` null: the whole horizon) and ``notes``."""
        return plan_answer(
            who.user.scope.limits, tz=tz, horizon_days=horizon_days, grain=grain,
            history_days=history_days, start=start, queue=queue, model=model, sl=sl,
            answer_threshold_s=answer_threshold_s, sl_definition=sl_definition,
            max_asa_s=max_asa_s, max_occupancy=max_occupancy, max_abandon=max_abandon,
            shrinkage=shrinkage)

    def plan_answer(limits: Mapping[str, Sequence[str]], *, tz: str = "UTC",
                    horizon_days: int = 7, grain: str = "30min", history_days: int = 28,
                    start: str | None = None, queue: list[str] | None = None,
                    model: str = "erlang-a", sl: float | None = 0.8,
                    answer_threshold_s: float = 20, sl_definition: str = "offered",
                    max_asa_s: float | None = None, max_occupancy: float | None = None,
                    max_abandon: float | None = None,
                    shrinkage: float = 0.3) -> dict[str, Any]:
        """``GET /api/plan``'s answer for a caller of scope ``limits`` (kept per data
        version); the route's and the warm-up's (the same defaults as the route's)."""
        from callkpi import timezones
        from callkpi.wfm.interval import MODELS, SL_DEFINITIONS
        from callkpi.wfm.plan import PlanOptions, build_plan
        from callkpi.wfm.staffing import Constraints

        if model not in MODELS:
            raise HTTPException(400, f"model {model!r}: expected one of {', '.join(MODELS)}")
        if sl_definition not in SL_DEFINITIONS:
            raise HTTPException(400, f"sl_definition {sl_definition!r}: expected one of "
                                     f"{', '.join(SL_DEFINITIONS)}")
        queues = allowed_queues(limits, queue)
        try:
            timezones.zone(tz)
            options = PlanOptions(
                tz=tz, start=_start(start), horizon_days=horizon_days,
                history_days=history_days, grain=grain, model=model,  # type: ignore[arg-type]
                constraints=Constraints(
                    service_level=sl, answer_threshold_s=answer_threshold_s,
                    max_asa_s=max_asa_s, max_occupancy=max_occupancy,
                    max_abandon=max_abandon,
                    service_level_definition=sl_definition),  # type: ignore[arg-type]
                shrinkage=shrinkage, queues=queues)
        except (ValueError, timezones.TimeZoneError) as exc:
            raise HTTPException(400, str(exc)) from None

        def compute() -> dict[str, Any]:
            try:
                with reader_lock:
                    result = build_plan(reader, options)
            except (ValueError, timezones.TimeZoneError) as exc:
                raise HTTPException(400, str(exc)) from None
            rows = [{**r, "slot_start": timezones.local_iso(tz, r["slot_start"])}
                    for r in result.rows]
            return dict(_clean({"start": result.start, "rows": rows, "totals": result.totals,
                                "notes": result.notes, "models": result.models,
                                "unassigned_hours": result.unassigned_hours}))

        return dict(kept("plan", limits, (repr(options),), compute))

    # -- targets --------------------------------------------------------------------------

    def visible(user: User, target: dict[str, Any]) -> bool:
        limits = user.scope.limits
        if not limits or target["scope"] == "center":
            return True
        return target["scope_value"] in limits.get(target["scope"], ())

    @app.get("/api/targets", tags=["targets"])
    def targets_list(who: CallerDep, period: str | None = None) -> list[dict[str, Any]]:
        """Targets (those overlapping ``period``, e.g. 2026-10), as ``callkpi targets
        list``; a scoped caller sees the center's and their own scopes' targets."""
        from callkpi.goals.periods import PeriodError, parse_period
        from callkpi.goals.targets import list_targets

        try:
            wanted = parse_period(period) if period else None
        except PeriodError as exc:
            raise HTTPException(400, str(exc)) from None
        with reader_lock:
            rows = list_targets(reader, wanted)
        return list(_clean([r for r in rows if visible(who.user, r)]))

    def writer(user: User, what: str) -> None:
        if user.role not in WRITERS:
            raise HTTPException(403, f"role {user.role} cannot change {what}")

    @app.put("/api/targets", tags=["targets"])
    def targets_set(body: TargetBody, who: CallerDep, request: Request) -> dict[str, Any]:
        """Store targets (the same KPI, scope and period replaces the stored one). A
        scoped manager may only set targets of their own scopes."""
        from pydantic import ValidationError

        from callkpi.goals.targets import TargetError, TargetSpec, parse_scope, set_targets

        writer(who.user, "targets")
        try:
            specs = [TargetSpec.model_validate(t) for t in body.targets]
            for spec in specs:
                kind, value = parse_scope(spec.scope)
                if not visible(who.user, {"scope": kind, "scope_value": value}) or (
                        who.user.scope.limits and kind == "center"):
                    raise HTTPException(403, f"scope {spec.scope!r} is outside your scope")
            with lock:
                counts = set_targets(wh, specs, source="api", ref=f"api:{who.user.name}")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "target"
            raise HTTPException(400, f"target: {where}: {first['msg']}") from None
        except TargetError as exc:
            raise HTTPException(400, str(exc)) from None
        store.audit(who.user.name, "targets set", "", {"targets": len(specs),
                                                        "loaded": counts.loaded},
                    client_of(request))
        return {"targets": len(specs), "stored": counts.loaded + counts.updated,
                "unchanged": counts.duplicates}

    @app.delete("/api/targets", tags=["targets"])
    def targets_remove(who: CallerDep, request: Request, kpi: str, period: str,
                       scope: str = "center") -> dict[str, Any]:
        """Remove one target."""
        from callkpi.goals.periods import PeriodError, parse_period
        from callkpi.goals.targets import TargetError, parse_scope, remove_target

        writer(who.user, "targets")
        try:
            kind, value = parse_scope(scope)
            if who.user.scope.limits and not (kind != "center" and visible(
                    who.user, {"scope": kind, "scope_value": value})):
                raise HTTPException(403, f"scope {scope!r} is outside your scope")
            with lock:
                removed = remove_target(wh, kpi, parse_period(period), scope)
        except (PeriodError, TargetError) as exc:
            raise HTTPException(400, str(exc)) from None
        if not removed:
            raise HTTPException(404, f"no target for {kpi} in {period} ({scope})")
        store.audit(who.user.name, "target removed", kpi, {"period": period, "scope": scope},
                    client_of(request))
        return {"removed": 1}

    # -- uploads and the quarantine -------------------------------------------------------

    @app.post("/api/ingest/{source}", tags=["ingest"], max_body_size=MAX_UPLOAD_BYTES)
    async def upload(source: str, who: CallerDep, request: Request,
                     filename: Annotated[str, Query(min_length=1, max_length=200)],
                     tz: str | None = None, tenant: str | None = None,
                     mapping: str | None = None) -> dict[str, Any]:
        """Load the request body (a source file, up to 1 GiB) as ``callkpi ingest SOURCE``
        would: ``queue-log``, ``cdr``, ``mapped`` (with ``mapping``: a profile shipped
        with callkpi, e.g. ``anonymous_bank``) or a canonical table (``agents``, ...)."""
        from starlette.concurrency import run_in_threadpool

        from callkpi.ingest import IngestOptions, source_names
        from callkpi.ingest import ingest as run_ingest
        from callkpi.ingest.mapped import shipped_profiles
        from callkpi.ingest.report import IngestError

        user: User = who.user
        writer(user, "data")
        if source not in source_names():
            raise HTTPException(404, f"unknown source {source!r}; expected one of "
                                     f"{', '.join(source_names())}")
        tenant = tenant_to_write(user.scope, tenant, "uploading files")
        if mapping is not None and mapping not in shipped_profiles():
            raise HTTPException(400, f"mapping {mapping!r}: expected a shipped profile: "
                                     f"{', '.join(shipped_profiles())}")
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name).lstrip(".")[:100]
        folder = spool_dir / "uploads" / re.sub(r"[^A-Za-z0-9._-]", "_", tenant or "_")
        folder.mkdir(parents=True, exist_ok=True)
        # Kept under its name, as a file on disk would be: uploading the same file again
        # loads nothing new, a grown one only its new lines (as callkpi ingest does).
        path = folder / (safe or "upload")
        fd, name = tempfile.mkstemp(prefix=".part-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():
                    out.write(chunk)

            def load() -> Any:
                options = IngestOptions(tz=tz, tenant=tenant,
                                        mapping=Path(mapping) if mapping else None)
                with lock:
                    os.replace(name, path)
                    return run_ingest(wh, source, path, options)

            try:
                report = await run_in_threadpool(load)
            except (IngestError, ValueError) as exc:
                raise HTTPException(400, f"{filename}: {exc}") from None
        finally:
            Path(name).unlink(missing_ok=True)
        store.audit(user.name, "file ingested", source,
                    {"filename": safe, "loaded": report.loaded,
                     "rejected": report.rejected_total}, client_of(request))
        result = report.as_dict()
        result["path"] = filename
        return dict(_clean(result))

    @app.get("/api/quarantine", tags=["ingest"])
    def quarantine(
        who: CallerDep,
        source: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> dict[str, Any]:
        """Rejected input rows with their reasons, newest first (phone-number-like digit
        runs masked). Only for unscoped admins, managers and analysts."""
        unscoped(who.user, "the quarantine", READERS_OF_RAW)
        where, params = ("source = ?", [source]) if source else ("TRUE", [])
        with reader_lock:
            total = reader.sql(f"SELECT count(*) FROM quarantine WHERE {where}", params)[0][0]
            rows = reader.sql(
                "SELECT source, source_ref, raw, reason, ingested_at FROM quarantine "
                f"WHERE {where} ORDER BY ingested_at DESC, source_ref LIMIT ? OFFSET ?",
                [*params, limit, offset])
        return dict(_clean({"total": total, "rows": [
            {"source": r[0], "source_ref": r[1], "raw": mask_digits(r[2]), "reason": r[3],
             "ingested_at": r[4]} for r in rows]}))

    # -- benchmark ------------------------------------------------------------------------

    @app.get("/api/benchmark", tags=["kpis"])
    def benchmark(who: CallerDep, period: str, tz: str = "UTC", industry: str | None = None,
                  tenant: str | None = None) -> list[dict[str, Any]]:
        """``callkpi benchmark --period P --format json``: for the whole center, or for the
        caller's scope (each scope dimension limited to its value; a caller with several
        tenants names one with ``tenant``). KPIs that cannot be cut by the scope are left
        out."""
        from callkpi import timezones
        from callkpi.goals.benchmark import center_report
        from callkpi.goals.periods import PeriodError, parse_period
        from callkpi.kpi.benchmarks import BenchmarkError

        where: list[tuple[str, str]] = []
        for dim, values in who.user.scope.limits.items():
            if dim == "tenant" and tenant is not None:
                if tenant not in values:
                    raise HTTPException(403, f"tenant {tenant!r} is outside your scope")
                where.append((dim, tenant))
            elif len(values) == 1:
                where.append((dim, values[0]))
            else:
                raise HTTPException(400, f"your scope has several {dim} values: "
                                         f"{', '.join(values)}" + (
                                             "; name one with tenant=" if dim == "tenant"
                                             else ""))
        if tenant is not None and not where:
            where.append(("tenant", tenant))
        try:
            timezones.zone(tz)
            with reader_lock:
                rows = center_report(reader, parse_period(period), tz=tz, industry=industry,
                                     where=where)
        except (PeriodError, BenchmarkError, timezones.TimeZoneError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None
        return list(_clean(rows))

    # -- combined analyses ----------------------------------------------------------------

    @app.get("/api/insights/{name}", tags=["kpis"])
    def insight(who: CallerDep, name: str, period: str | None = None,
                tz: str = "UTC") -> dict[str, Any]:
        """One combined analysis (``callkpi insights NAME``: aht-transfers, patience,
        availability, wrap-codes, best-time, locations, cac-ltv) for the whole center
        (unscoped callers only); ``period`` defaults to the latest full month."""
        if name not in ANALYSES:
            raise HTTPException(404, f"unknown analysis {name!r}; expected one of "
                                     f"{', '.join(ANALYSES)}")
        unscoped(who.user, "a combined analysis")
        return insight_answer(who.user.scope.limits, name, period, tz)

    def _insight(name: str, period: str | None, tz: str) -> dict[str, Any]:
        from callkpi import timezones
        from callkpi.goals.periods import PeriodError, parse_period
        from callkpi.insights import InsightError, latest_full_month

        try:
            timezones.zone(tz)
            with reader_lock:
                chosen = parse_period(period) if period else latest_full_month(reader, tz)
                result = _analysis(name)(reader, chosen, tz)
        except (PeriodError, InsightError, timezones.TimeZoneError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None
        return dict(_clean({
            "analysis": result.analysis, "title": result.title,
            "period": result.period.label(), "tz": result.tz,
            "columns": list(result.columns), "units": dict(result.units),
            "rows": result.rows, "center": result.center, "reading": result.reading}))

    def insight_answer(limits: Mapping[str, Sequence[str]], name: str,
                       period: str | None = None, tz: str = "UTC") -> dict[str, Any]:
        """``GET /api/insights/NAME``'s answer (kept per data version), for the warm-up."""
        return dict(kept("insight", limits, (name, period, tz),
                         lambda: _insight(name, period, tz)))

    # What the dashboard's warm-up asks for as the pages do (Agents, Sales, Planning).
    app.state.ops_pages = {"insight": insight_answer, "forecast": forecast_answer,
                           "plan": plan_answer}


ANALYSES = ("aht-transfers", "patience", "availability", "wrap-codes", "best-time",
            "locations", "cac-ltv")


def _analysis(name: str) -> Callable[..., Any]:
    from callkpi import insights

    return getattr(insights, name.replace("-", "_"))


__all__ = ["add_ops_routes", "mask_digits"]
