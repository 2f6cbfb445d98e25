"""The live routes: post events, read the floor now, hold a stream of it.

* ``POST /api/events`` (admin, or a manager whose scope is at most some tenants): one batch
  of JSON events (:mod:`callkpi.ingest.events`), all or nothing, for one tenant; audited.
* ``GET /api/live``: the floor now (:func:`callkpi.live.snapshot`) in the caller's scope.
* ``GET /api/live/stream``: the same as server-sent events, a new snapshot after every
  change and at least once a second.

A caller's scope becomes a :class:`callkpi.live.LiveScope`: tenant limits keep those
tenants' queues; agent, team and site limits keep those agents (teams and sites through the
``agents`` roster) and the queues they are logged in to; a scope of campaigns only sees no
live queue (campaigns are outbound; the live floor is the inbound queues).
"""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from callkpi.ingest.events import EventError
from callkpi.live import LiveHub, LiveScope, sse
from callkpi.server.auth import AuthStore, User
from callkpi.server.scopes import tenant_to_write
from callkpi.store import Warehouse

MAX_EVENTS = 10_000
MAX_EVENTS_BODY_BYTES = 4 * 1024 * 1024
WRITER_ROLES = ("admin", "manager")


class EventsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(
        None, max_length=100,
        description="The client these events belong to (may be omitted when the caller's "
                    "scope is one tenant).")
    events: list[dict[str, Any]] = Field(
        max_length=MAX_EVENTS, description="Events in the format of docs/live.md.")


def live_scope(user: User, wh: Warehouse, lock: Any) -> LiveScope:
    """What ``user`` may see of the live floor."""
    limits = user.scope.limits
    tenants: frozenset[str] | None = (
        frozenset(limits["tenant"]) if "tenant" in limits else None)
    if "campaign" in limits and tenants is None:
        tenants = frozenset()
    agents: set[str] | None = set(limits["agent"]) if "agent" in limits else None
    teams, sites = limits.get("team", ()), limits.get("site", ())
    if teams or sites:
        with lock:
            rows = wh.sql(
                "SELECT DISTINCT agent FROM agents WHERE team IN (SELECT unnest(?)) "
                "OR site IN (SELECT unnest(?))", [list(teams), list(sites)])
        roster = {r[0] for r in rows}
        agents = roster if agents is None else agents & roster
    return LiveScope(tenants, None if agents is None else frozenset(agents))


def add_live_routes(app: FastAPI, *, hub: LiveHub, caller: Callable[..., Any],
                    store: AuthStore, client_of: Callable[[Request], str]) -> None:
    """Register the live routes on ``app``; ``caller`` is its authentication dependency.
    (No ``from __future__ import annotations`` here: FastAPI reads these annotations.)"""
    CallerDep = Annotated[Any, Depends(caller)]

    @app.post("/api/events", tags=["live"], max_body_size=MAX_EVENTS_BODY_BYTES)
    def post_events(body: EventsBody, who: CallerDep, request: Request) -> JSONResponse:
        """Load one batch of live events (all or nothing). A bad batch gets 422 with every
        problem by event index and field; nothing of it is written."""
        user: User = who.user
        if user.role not in WRITER_ROLES:
            raise HTTPException(403, f"role {user.role} cannot post events (admin or manager)")
        tenant = tenant_to_write(user.scope, body.tenant, "posting events")
        try:
            report = hub.post(body.events, tenant=tenant)
        except EventError as exc:
            return JSONResponse(status_code=422, content={
                "detail": str(exc),
                "problems": [{"index": p.index, "field": p.field, "message": p.message}
                             for p in exc.problems]})
        except ValueError as exc:  # a tenant name that cannot name a spool file
            raise HTTPException(400, str(exc)) from None
        store.audit(user.name, "events posted", tenant or "",
                    {"events": len(body.events), "loaded": report.loaded,
                     "duplicates": report.duplicates}, client_of(request))
        return JSONResponse({"events": len(body.events), "loaded": report.loaded,
                             "duplicates": report.duplicates,
                             "rejected": report.rejected_total})

    @app.get("/api/live", tags=["live"])
    def live_now(who: CallerDep) -> dict[str, Any]:
        """The floor now, in the caller's scope (docs/live.md)."""
        return hub.snapshot(live_scope(who.user, hub.reader, hub.reader_lock))

    @app.get("/api/live/stream", tags=["live"], response_class=StreamingResponse)
    def live_stream(who: CallerDep) -> StreamingResponse:
        """Server-sent events: a snapshot at once, then after every change and at least
        once a second."""
        scope = live_scope(who.user, hub.reader, hub.reader_lock)

        async def messages() -> AsyncIterator[bytes]:
            async for message in hub.subscribe(scope):
                yield sse(message)

        return StreamingResponse(messages(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})


__all__ = ["add_live_routes", "live_scope"]
