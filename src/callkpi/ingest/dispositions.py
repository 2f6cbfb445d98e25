"""Dispositions (wrap-up code, resolved, escalated) applied onto the calls they describe.

Agents record these in the desktop or CRM, not in the PBX, so they arrive as their own
records (``callkpi ingest dispositions``). The calls rows carry the values, so KPIs cut by
``wrap_code`` or count ``resolved`` without a join. They are applied both ways round: when
dispositions are loaded (to calls already there) and when calls are (re)built (from
dispositions already there), so the order in which files arrive does not matter.
"""

from __future__ import annotations

import duckdb

from callkpi.store import fetch_scalar, rollup

_APPLY = """
UPDATE calls SET
  wrap_code = coalesce(d.wrap_code, calls.wrap_code),
  resolved = coalesce(d.resolved, calls.resolved),
  escalated = coalesce(d.escalated, calls.escalated),
  customer_id = coalesce(d.customer_id, calls.customer_id),
  lead_id = coalesce(d.lead_id, calls.lead_id),
  campaign = coalesce(d.campaign, calls.campaign)
FROM dispositions d
WHERE calls.call_id = d.call_id
  AND (d.agent IS NULL OR d.agent = calls.agent)
  AND calls.call_id IN (SELECT {column} FROM {table})
"""


def apply(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str = "call_id",
    *,
    refresh_rollup: bool = True,
) -> None:
    """Apply dispositions to the calls whose ids are in ``table.column`` (a temp table),
    and refresh their quarter hours in the roll-up (unless the caller does it). Nothing
    is done when no disposition names one of those calls (the usual case for a live load:
    a call's disposition comes after it), so that ``calls`` is not scanned for nothing."""
    if not fetch_scalar(
        con,
        f"SELECT EXISTS (SELECT 1 FROM dispositions d SEMI JOIN {table} t "
        f"ON d.call_id = t.{column})",
    ):
        return
    con.execute(_APPLY.format(table=table, column=column))
    if refresh_rollup:
        rollup.refresh(
            con,
            f"SELECT {rollup.buckets_of('entered_at')} FROM calls "
            f"WHERE call_id IN (SELECT {column} FROM {table})",
        )
