"""The calls roll-up: additive totals kept current whenever calls change, at several levels.

Whoever changes ``calls`` rows calls :func:`refresh` with the UTC quarter hours the old
and new rows fall in; those quarter hours are recomputed from ``calls`` in the same
transaction, so the roll-up is never out of step. Only additive aggregates are stored
(counts, sums, max), so any coarser grain or cut is exact.

The 15-minute level by every roll-up dimension (``calls_rollup``) is computed from the
calls; the coarser levels (:data:`callkpi.model.ROLLUP_LEVELS`: by day, without the agent
or the wrap code) are computed from it, for the days or quarter hours that changed.
"""

from __future__ import annotations

import duckdb

from callkpi.model import (
    ROLLUP_ANSWER_THRESHOLD_S,
    ROLLUP_COUNTS,
    ROLLUP_DIMENSIONS,
    ROLLUP_LEVELS,
    ROLLUP_SHORT_ABANDON_S,
    ROLLUP_SUMS,
    RollupLevel,
)

BUCKET_SQL = "time_bucket(INTERVAL 15 MINUTE, {ts})"
"""The UTC quarter hour of a naive UTC timestamp (DuckDB; used only inside the store)."""

_DIMS = ", ".join(ROLLUP_DIMENSIONS)
COARSE_LEVELS: tuple[RollupLevel, ...] = tuple(
    level for level in ROLLUP_LEVELS if level.table != "calls_rollup"
)


def buckets_of(ts_sql: str) -> str:
    return BUCKET_SQL.format(ts=ts_sql)


def _level_bucket(level: RollupLevel, ts_sql: str) -> str:
    return f"time_bucket(INTERVAL {level.seconds} SECOND, {ts_sql})"


def refresh(con: duckdb.DuckDBPyConnection, buckets_query: str) -> None:
    """Recompute the roll-up rows of the quarter hours ``buckets_query`` returns (one
    column of UTC quarter-hour starts), at every level. Runs inside the caller's
    transaction."""
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
    for level in COARSE_LEVELS:
        _refresh_coarse(con, level)
    con.execute("DROP TABLE _rollup_buckets")


def _refresh_coarse(con: duckdb.DuckDBPyConnection, level: RollupLevel) -> None:
    """Recompute a coarser level's buckets that contain the changed quarter hours, from
    the 15-minute level (already current)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _level_buckets AS SELECT DISTINCT "
        f"{_level_bucket(level, 'bucket_utc')} AS bucket_utc FROM _rollup_buckets"
    )
    con.execute(
        f"DELETE FROM {level.table} WHERE bucket_utc IN (SELECT bucket_utc FROM _level_buckets)"
    )
    lo, hi = con.execute("SELECT min(bucket_utc), max(bucket_utc) FROM _level_buckets").fetchall()[
        0
    ]
    if lo is not None:
        counts = ", ".join(f"coalesce(sum(n) FILTER ({c}), 0)" for c in ROLLUP_COUNTS.values())
        sums = [f"sum({c})" for c in ROLLUP_SUMS]
        # The range first, so that DuckDB skips the row groups of other days.
        con.execute(
            f"""
            INSERT INTO {level.table}
            SELECT {_level_bucket(level, "bucket_utc")} AS bucket_utc,
                   {", ".join(level.dimensions)},
                   sum(n), {counts}, {sums[0]}, max(wait_s_max), {", ".join(sums[1:])}
            FROM calls_rollup
            WHERE bucket_utc >= ? AND bucket_utc < ? + INTERVAL {level.seconds} SECOND
              AND {_level_bucket(level, "bucket_utc")} IN (SELECT bucket_utc FROM _level_buckets)
            GROUP BY ALL""",
            [lo, hi],
        )
    con.execute("DROP TABLE _level_buckets")


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the whole roll-up, every level (after a migration, or to check it)."""
    for level in ROLLUP_LEVELS:
        con.execute(f"DELETE FROM {level.table}")
    refresh(con, f"SELECT DISTINCT {buckets_of('entered_at')} FROM calls")


def build_coarse(con: duckdb.DuckDBPyConnection) -> None:
    """Fill the coarser levels from the 15-minute level as it is (a migration)."""
    for level in COARSE_LEVELS:
        con.execute(f"DELETE FROM {level.table}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rollup_buckets AS "
        "SELECT DISTINCT bucket_utc FROM calls_rollup"
    )
    for level in COARSE_LEVELS:
        _refresh_coarse(con, level)
    con.execute("DROP TABLE _rollup_buckets")
