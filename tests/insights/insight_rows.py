"""Row builders for the insights tests: canonical rows holding only what a test sets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from callkpi.store import Warehouse, arrow_rows


def load(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    rows = [{"source": "test", **row} for row in rows]
    with wh.transaction():
        wh.load(table, arrow_rows(table, rows))


def at(day: int, clock: str, month: int = 10) -> dt.datetime:
    """A naive UTC time in 2026: ``at(5, "10:00")`` is 5 October 2026, 10:00 UTC."""
    hour, minute = map(int, clock.split(":"))
    return dt.datetime(2026, month, day, hour, minute)


def call(
    call_id: str,
    entered: dt.datetime,
    outcome: str = "answered",
    *,
    agent: str | None = None,
    queue: str = "support",
    **columns: Any,
) -> dict[str, Any]:
    """An inbound queue visit; any other calls column by keyword (wait_s, talk_s, ...)."""
    return {
        "call_id": call_id,
        "segment": 1,
        "direction": "in",
        "queue": queue,
        "agent": agent,
        "entered_at": entered,
        "outcome": outcome,
        "transferred": False,
        **columns,
    }


def span(
    agent: str,
    state: str,
    start: dt.datetime,
    end: dt.datetime | None,
    *,
    reason: str | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    """An agent state: logins and pauses agent-level (queue null), the rest per call."""
    queue = None if state in ("logged_in", "paused") else "support"
    return {
        "agent": agent,
        "queue": queue,
        "state": state,
        "reason": reason,
        "call_id": call_id,
        "start_at": start,
        "end_at": end,
    }


def minutes(start: dt.datetime, i: int) -> dt.datetime:
    return start + dt.timedelta(minutes=i)


def pick(rows: list[dict[str, Any]], *columns: str) -> list[tuple[Any, ...]]:
    """The rows as tuples of ``columns``, to compare with a hand-written table."""
    return [tuple(row[c] for c in columns) for row in rows]
