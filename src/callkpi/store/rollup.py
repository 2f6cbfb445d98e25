"""The 15-minute calls roll-up: additive totals kept current whenever calls change.

Whoever changes ``calls`` rows calls :func:`refresh` with the UTC quarter hours the old
and new rows fall in; those quarter hours are recomputed from ``calls`` in the same
transaction, so the roll-up is never out of step. Only additive aggregates are stored
(counts, sums, max), so any coarser grain or cut is exact.
"""

from __future__ import annotations

import duckdb

from callkpi.model import (
    ROLLUP_ANSWER_THRESHOLD_S,
    ROLLUP_DIMENSIONS,
    ROLLUP_SHORT_ABANDON_S,
)

BUCKET_SQL = "time_bucket(INTERVAL 15 MINUTE, {ts})"
"""The UTC quarter hour of a naive UTC timestamp (DuckDB; used only inside the store)."""

_DIMS = ", ".join(ROLLUP_DIMENSIONS)


def buckets_of(ts_sql: str) -> str:
    return BUCKET_SQL.format(ts=ts_sql)


def refresh(con: duckdb.DuckDBPyConnection, buckets_query: str) -> None:
    """Recompute the roll-up rows of the quarter hours ``buckets_query`` returns (one
    column of UTC quarter-hour starts). Runs inside the caller's transaction."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _rollup_buckets AS "
        f"SELECT DISTINCT b AS bucket_utc FROM ({buckets_query}) q(b) "
        f"WHERE b IS NOT NULL"
    )
    con.execute(
        "DELETE FROM calls_rollup WHERE bucket_utc IN (SELECT bucket_utc FROM _rollup_buckets)"
    )
    con.execute(f"""
        INSERT INTO calls_rollup
        SELECT {buckets_of("entered_at")} AS bucket_utc, {_DIMS},
               transferred, escalated, resolved,
               coalesce(customer_id, caller) IS NOT NULL AS customer_known,
               wait_s < {ROLLUP_SHORT_ABANDON_S} AS wait_lt_short,
               wait_s <= {ROLLUP_ANSWER_THRESHOLD_S} AS wait_le_threshold,
               count(*) AS n,
               sum(wait_s), max(wait_s), sum(talk_s), sum(hold_s), sum(acw_s),
               sum(coalesce(talk_s, 0) + coalesce(hold_s, 0) + coalesce(acw_s, 0))
        FROM calls
        WHERE {buckets_of("entered_at")} IN (SELECT bucket_utc FROM _rollup_buckets)
        GROUP BY ALL""")
    con.execute("DROP TABLE _rollup_buckets")


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the whole roll-up (after a migration, or to check it)."""
    con.execute("DELETE FROM calls_rollup")
    refresh(con, f"SELECT DISTINCT {buckets_of('entered_at')} FROM calls")
