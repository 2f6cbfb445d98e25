"""The calls roll-up: additive totals kept current whenever calls change, at several levels.

Whoever changes ``calls`` rows calls :func:`refresh` with the UTC quarter hours the old
and new rows fall in; those quarter hours are recomputed from ``calls`` in the same
transaction, so the roll-up is never out of step. Only additive aggregates are stored
(counts, sums, max), so any coarser grain or cut is exact.

The 15-minute level by every roll-up dimension (``calls_rollup``) is computed from the
calls; the coarser levels (:data:`callkpi.model.ROLLUP_LEVELS`: by day or hour, without the
agent or the wrap code) are computed from it, for the days, hours or quarter hours that
changed.

Before that, :func:`refresh` keeps ``calls.next_contact_at`` current (the time of the same
customer's next inbound call, which the repeat-contact KPIs compare with): it recomputes
the column for every customer with a call in the changed quarter hours, or whose stored
next contact lies in one (a call deleted or moved), and the quarter hours of the calls
whose value changed are refreshed in the roll-up too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from callkpi.model import (
    ROLLUP_ANSWER_THRESHOLD_S,
    ROLLUP_COUNTS,
    ROLLUP_DIMENSIONS,
    ROLLUP_LEVELS,
    ROLLUP_REPEAT_WINDOW_DAYS,
    ROLLUP_SHORT_ABANDON_S,
    ROLLUP_SUMS,
    TABLES,
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


CUSTOMER_KEY_SQL = "coalesce({t}customer_id, {t}caller)"
"""A call's customer: its customer id, else the caller's number (as the semantic layer's
``customer_key``)."""


def _contact(t: str = "") -> str:
    """Whether a calls row is a contact of a known customer (its alias ``t``)."""
    return f"{t}direction = 'in' AND {CUSTOMER_KEY_SQL.format(t=t)} IS NOT NULL"


def _next_contacts_sql(customers: str | None) -> str:
    """Each contact's customer, call and next contact (the customer's next call in order of
    first inbound visit, then call id), for the customers ``customers`` returns (all when
    None)."""
    key = CUSTOMER_KEY_SQL.format(t="")
    only = "" if customers is None else f" AND {key} IN ({customers})"
    return f"""
        SELECT ck, call_id, lead(f) OVER (PARTITION BY ck ORDER BY f, call_id) AS nx
        FROM (SELECT {key} AS ck, call_id, min(entered_at) AS f FROM calls
              WHERE {_contact()}{only} GROUP BY ALL)"""


def repeat_sql(entered: str = "entered_at", next_at: str = "next_contact_at") -> str:
    """Whether a call was followed by the same customer's next within the default window
    (the repeat-contact measure's own comparison, in days to the millisecond)."""
    return (
        f"coalesce(CAST(date_diff('millisecond', {entered}, {next_at}) AS DOUBLE) "
        f"/ 86400000.0 <= {ROLLUP_REPEAT_WINDOW_DAYS}, FALSE)"
    )


def fill_next_contacts(con: duckdb.DuckDBPyConnection) -> None:
    """Compute ``calls.next_contact_at`` from scratch for every call (a migration)."""
    con.execute("UPDATE calls SET next_contact_at = NULL WHERE next_contact_at IS NOT NULL")
    con.execute(f"""
        UPDATE calls SET next_contact_at = n.nx FROM ({_next_contacts_sql(None)}) n
        WHERE {_contact("calls.")} AND {CUSTOMER_KEY_SQL.format(t="calls.")} = n.ck
          AND calls.call_id = n.call_id AND n.nx IS NOT NULL""")


def _refresh_next_contacts(con: duckdb.DuckDBPyConnection, new_calls: str | None = None) -> None:
    """Recompute ``next_contact_at`` of the customers touched by the quarter hours in
    ``_rollup_buckets``, and add the quarter hours of the calls whose value changed (with
    ``new_calls``, see :func:`refresh`: the rows of other calls whose repeat flag changes
    are kept as they were in ``_rollup_old_calls`` and their keys in ``_rollup_extra``)."""
    changed = _Changed.read(con)
    if changed.empty:
        return
    entered, bounds = changed.within("entered_at")
    pointing, _ = changed.within("next_contact_at")
    # A row of these quarter hours that is no contact (any more) has no next contact.
    con.execute(
        f"UPDATE calls SET next_contact_at = NULL WHERE {entered} "
        f"AND next_contact_at IS NOT NULL AND NOT coalesce({_contact()}, FALSE)",
        bounds,
    )
    key = CUSTOMER_KEY_SQL.format(t="")
    # The customers with a contact in the changed quarter hours, and those whose stored
    # next contact began in one (that call may be gone or have moved); one range each, so
    # that DuckDB skips the row groups outside it.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _nc_customers AS SELECT DISTINCT ck FROM (
              SELECT {key} AS ck FROM calls WHERE direction = 'in' AND {entered}
              UNION ALL
              SELECT {key} FROM calls WHERE {pointing})
            WHERE ck IS NOT NULL""",
        bounds,
    )
    if not fetch_count(con, "_nc_customers"):
        con.execute("DROP TABLE _nc_customers")
        return
    # Their contacts, in one scan of the calls, and per call: its first visit, whether it
    # has a visit in the changed quarter hours, the earliest stored next contact in them.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _nc_rows AS
        SELECT source, segment, {key} AS ck, call_id, entered_at, next_contact_at AS old
        FROM calls WHERE direction = 'in' AND {key} IN (SELECT ck FROM _nc_customers)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _nc_calls AS
        SELECT r.ck, r.call_id, min(r.entered_at) AS f,
               bool_or(b.bucket_utc IS NOT NULL) AS touched,
               min(r.old) FILTER (WHERE p.bucket_utc IS NOT NULL) AS pointed
        FROM _nc_rows r
        LEFT JOIN _rollup_buckets b ON {buckets_of("r.entered_at")} = b.bucket_utc
        LEFT JOIN _rollup_buckets p ON {buckets_of("r.old")} = p.bucket_utc
        GROUP BY r.ck, r.call_id""")
    # Only calls from the last one before the earliest change on can get another next
    # contact (those before it keep theirs): the lead over that suffix of each customer's
    # calls is the lead over all of them, and a customer with thousands of calls costs
    # no more than one with a few.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _nc_changed AS
        WITH lo AS (
            SELECT ck, least(min(f) FILTER (WHERE touched), min(pointed)) AS lo
            FROM _nc_calls GROUP BY ck
        ), below AS (
            SELECT c.ck, max(c.f) AS p FROM _nc_calls c JOIN lo ON c.ck = lo.ck
            WHERE c.f < lo.lo GROUP BY c.ck
        ), suffix AS (
            SELECT c.ck, c.call_id, c.f FROM _nc_calls c JOIN lo ON c.ck = lo.ck
            LEFT JOIN below ON c.ck = below.ck
            WHERE c.f >= coalesce(below.p, lo.lo)
        ), n AS (
            SELECT ck, call_id, lead(f) OVER (PARTITION BY ck ORDER BY f, call_id) AS nx
            FROM suffix
        )
        SELECT r.source, r.call_id, r.segment,
               time_bucket(INTERVAL 15 MINUTE, r.entered_at) AS bucket_utc, n.nx,
               {repeat_sql("r.entered_at", "r.old")} <> {repeat_sql("r.entered_at", "n.nx")}
                   AS repeat_changed
        FROM _nc_rows r JOIN n ON r.ck = n.ck AND r.call_id = n.call_id
        WHERE r.old IS DISTINCT FROM n.nx""")
    if fetch_count(con, "_nc_changed"):
        if new_calls is not None:
            con.execute(f"""
                INSERT INTO _rollup_extra
                SELECT source, call_id, segment FROM calls
                SEMI JOIN (SELECT source AS n_source, call_id AS n_call, segment AS n_segment
                           FROM _nc_changed WHERE repeat_changed) n
                  ON source = n_source AND call_id = n_call AND segment = n_segment
                WHERE NOT coalesce(({new_calls}), FALSE)""")
            con.execute(f"""
                INSERT INTO _rollup_old_calls
                SELECT {_CALL_FIELDS} FROM calls
                SEMI JOIN (SELECT source AS n_source, call_id AS n_call, segment AS n_segment
                           FROM _rollup_extra) n
                  ON source = n_source AND call_id = n_call AND segment = n_segment""")
        con.execute(
            # By the calls' key, not rowid: DuckDB 2.0.0 corrupts the table (or crashes at
            # COMMIT) when an UPDATE by rowid meets rows this transaction deleted and
            # inserted again, as a rebuilt call's are.
            "UPDATE calls SET next_contact_at = n.nx FROM _nc_changed n "
            "WHERE calls.source = n.source AND calls.call_id = n.call_id "
            "AND calls.segment = n.segment"
        )
        con.execute(
            # The roll-up keeps only whether a call was repeated within the default window.
            "INSERT INTO _rollup_buckets SELECT DISTINCT bucket_utc FROM _nc_changed "
            "WHERE repeat_changed AND bucket_utc NOT IN (SELECT bucket_utc FROM _rollup_buckets)"
        )
    con.execute("DROP TABLE _nc_rows")
    con.execute("DROP TABLE _nc_calls")
    con.execute("DROP TABLE _nc_changed")
    con.execute("DROP TABLE _nc_customers")


def fetch_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _level_bucket(level: RollupLevel, ts_sql: str) -> str:
    return f"time_bucket(INTERVAL {level.seconds} SECOND, {ts_sql})"


FEW_BUCKETS = 64
"""Up to this many changed quarter hours, the statements get them as a list parameter
(DuckDB plans and runs a statement over a few hundred roll-up rows in about half the time
it takes with a join to ``_rollup_buckets``: ~4 ms against ~8 ms, a live load's coarse
levels ~25 ms less); more (a bulk load) are joined."""

_SECONDS = sorted({900, *(level.seconds for level in ROLLUP_LEVELS)})


@dataclass(frozen=True)
class _Changed:
    """The changed quarter hours (``_rollup_buckets`` as it is now), at each level's
    length: the first and last bucket and, when few (:data:`FEW_BUCKETS`), every one."""

    bounds: dict[int, tuple[dt.datetime, dt.datetime]]
    lists: dict[int, list[dt.datetime]] | None

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> _Changed:
        parts = [
            f"min({b}), max({b}), list(DISTINCT {b})"
            for b in (f"time_bucket(INTERVAL {s} SECOND, bucket_utc)" for s in _SECONDS)
        ]
        n, *values = con.execute(
            f"SELECT count(*), {', '.join(parts)} FROM _rollup_buckets"
        ).fetchall()[0]
        bounds = {s: (values[3 * i], values[3 * i + 1]) for i, s in enumerate(_SECONDS)}
        lists = {s: values[3 * i + 2] for i, s in enumerate(_SECONDS)}
        return cls(bounds, lists if n <= FEW_BUCKETS else None)

    @property
    def empty(self) -> bool:
        return self.bounds[900][0] is None

    def within(self, ts_sql: str, seconds: int = 900) -> tuple[str, dict[str, object]]:
        """A condition that the timestamp ``ts_sql`` falls in a changed bucket of
        ``seconds``, and its parameters. The bounds come first (DuckDB then skips the
        row groups outside them)."""
        bucket = f"time_bucket(INTERVAL {seconds} SECOND, {ts_sql})"
        if self.lists is None:
            test = (
                f"{bucket} IN (SELECT DISTINCT time_bucket(INTERVAL {seconds} SECOND, "
                "bucket_utc) FROM _rollup_buckets)"
            )
        else:
            test = f"list_contains($buckets, {bucket})"
        lo, hi = self.bounds[seconds]
        params: dict[str, object] = {"lo": lo, "hi": hi}
        if self.lists is not None:
            params["buckets"] = self.lists[seconds]
        sql = f"{ts_sql} >= $lo AND {ts_sql} < $hi + INTERVAL {seconds} SECOND AND {test}"
        return sql, params


def refresh(
    con: duckdb.DuckDBPyConnection,
    buckets_query: str,
    *,
    next_contacts: bool = True,
    coarse: bool = True,
    new_calls: str | None = None,
) -> None:
    """Recompute the roll-up rows of the quarter hours ``buckets_query`` returns (one
    column of UTC quarter-hour starts: those of every row, old and new, of each call
    whose rows were deleted, inserted or changed: a writer that changes some rows of a
    call and keeps others passes the kept rows' quarter hours too, since the call's first
    visit, and so its place among the customer's calls, may have moved), at every level,
    after bringing ``calls.next_contact_at`` up to date for the customers concerned
    (unless not ``next_contacts``: already current). Unless not ``coarse`` (the caller
    rebuilds them all), the coarser levels follow: the day levels by the changed quarter
    hours' difference when those are a small part of their days (:func:`_update_coarse`),
    else, and the hour and quarter-hour levels always, by recomputing the buckets that
    contain them. Runs inside the caller's transaction.

    ``new_calls``: a writer that kept the changed calls' rows as they were with
    :func:`save_old_calls` before changing them passes a condition over ``calls`` that
    selects their rows as they are now (every row inserted or changed). Then every level
    follows the change by the calls' difference (:func:`_update_quarter_hours`): a load
    costs the same however many calls its quarter hours already hold."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _rollup_buckets AS "
        f"SELECT DISTINCT b AS bucket_utc FROM ({buckets_query}) q(b) "
        f"WHERE b IS NOT NULL"
    )
    if new_calls is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _rollup_extra AS {_NO_CALLS}")
    if next_contacts:
        _refresh_next_contacts(con, new_calls)
    changed = _Changed.read(con)
    if new_calls is not None:
        if not changed.empty:
            lo, hi = changed.bounds[900]
            _update_quarter_hours(con, new_calls, {"lo": lo, "hi": hi})
            if coarse:
                # As below: the day levels by the (now smaller) difference when the
                # changed quarter hours are a small part of their days; the hour and
                # quarter-hour levels recomputed (cheaper than their difference).
                _follow_coarse(con, changed, _small_part_of_days(con, changed))
            con.execute("DROP TABLE _rollup_old")
            con.execute("DROP TABLE _rollup_new")
        con.execute("DROP TABLE _rollup_old_calls")
        con.execute("DROP TABLE _rollup_extra")
    elif not changed.empty:
        quarters, params = changed.within("bucket_utc")
        # The day levels are updated by the difference when the changed quarter hours
        # are a small part of their days (a day already well filled), else recomputed.
        difference = coarse and _small_part_of_days(con, changed)
        if difference:
            # The 15-minute rows of the changed quarter hours as they were: the day
            # levels subtract them and add the new ones.
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _rollup_old AS SELECT * FROM calls_rollup "
                f"WHERE {quarters}",
                params,
            )
        con.execute(f"DELETE FROM calls_rollup WHERE {quarters}", params)
        _insert_quarter_hours(con, changed)
        if difference:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _rollup_new AS SELECT * FROM calls_rollup "
                f"WHERE {quarters}",
                params,
            )
        if coarse:
            _follow_coarse(con, changed, difference)
        if difference:
            con.execute("DROP TABLE _rollup_old")
            con.execute("DROP TABLE _rollup_new")
    con.execute("DROP TABLE _rollup_buckets")


_QUARTER_KEY = f"""{buckets_of("entered_at")} AS bucket_utc, {_DIMS},
               transferred, escalated, resolved,
               coalesce(customer_id, caller) IS NOT NULL AS customer_known,
               {repeat_sql()} AS repeat_contact,
               wait_s < {ROLLUP_SHORT_ABANDON_S} AS wait_lt_short,
               wait_s <= {ROLLUP_ANSWER_THRESHOLD_S} AS wait_le_threshold"""
"""A calls row's 15-minute key (quarter hour, dimensions, flags), over ``calls``' columns."""

_QUARTER_KEY_COLUMNS: tuple[str, ...] = (
    "bucket_utc",
    *ROLLUP_DIMENSIONS,
    "transferred",
    "escalated",
    "resolved",
    "customer_known",
    "repeat_contact",
    "wait_lt_short",
    "wait_le_threshold",
)

_HANDLE = "coalesce(talk_s, 0) + coalesce(hold_s, 0) + coalesce(acw_s, 0)"

_QUARTER_SELECT = f"""SELECT {_QUARTER_KEY},
               count(*) AS n,
               sum(wait_s), max(wait_s), sum(talk_s), sum(hold_s), sum(acw_s),
               sum({_HANDLE})"""
"""The 15-minute level's row of a group of calls."""

_CALL_FIELDS = ", ".join(
    (
        "source",
        "call_id",
        "segment",
        "entered_at",
        *ROLLUP_DIMENSIONS,
        "transferred",
        "escalated",
        "resolved",
        "customer_id",
        "caller",
        "next_contact_at",
        "wait_s",
        "talk_s",
        "hold_s",
        "acw_s",
    )
)
"""The columns of ``calls`` the roll-up reads."""

_NO_CALLS = "SELECT source, call_id, segment FROM calls WHERE FALSE"


def save_old_calls(
    con: duckdb.DuckDBPyConnection, where: str, params: dict[str, object] | None = None
) -> None:
    """Keep the ``calls`` rows that ``where`` selects as they are now, before the caller
    deletes or changes them: it then passes :func:`refresh` ``new_calls``, a condition
    selecting the same calls' rows once changed (rows deleted for good are simply not
    selected), and every level follows the change by their difference. ``where`` must
    select every row the caller deletes or changes (and ``new_calls`` every row it
    inserts or changes); both may select more. Within the caller's transaction."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _rollup_old_calls AS SELECT {_CALL_FIELDS} FROM calls "
        f"WHERE {where}",
        params or {},
    )


def _quarter_same_key(a: str, b: str) -> str:
    """Whether 15-minute rows ``a`` and ``b`` have the same key (NULL equal NULL)."""
    return " AND ".join(f"{a}.{c} IS NOT DISTINCT FROM {b}.{c}" for c in _QUARTER_KEY_COLUMNS)


def _update_quarter_hours(
    con: duckdb.DuckDBPyConnection, new_calls: str, bounds: dict[str, object]
) -> None:
    """Update the 15-minute level by the changed calls' difference: each of its rows that
    an old (``_rollup_old_calls``) or new (``new_calls``, ``_rollup_extra``) calls row
    falls in becomes itself minus the old calls plus the new ones; ``_rollup_old`` and
    ``_rollup_new`` get those rows as they were and as they are, for the coarser levels.

    As for the coarser levels, what a difference cannot tell is recomputed from the
    calls, for the rows concerned only: the longest wait when an old call held it and no
    new one reaches it, and a sum of talk, hold or wrap-up times that the old calls had
    values for and the new ones have none. The wait sum needs no such care (its row's
    ``wait_lt_short`` is NULL exactly when its calls have no wait), nor the handle time
    (never NULL: its calls' talk, hold and wrap-up with none as 0)."""
    signed = ", ".join(
        [
            "CASE WHEN src = 'o' THEN -1 ELSE 1 END AS n",
            "CASE WHEN src = 'o' THEN -wait_s ELSE wait_s END AS wait_s_sum",
            "wait_s AS wait_s_max",
            *(
                f"CASE WHEN src = 'o' THEN -{c} ELSE {c} END AS {c}_sum"
                for c in ("talk_s", "hold_s", "acw_s")
            ),
            f"CASE WHEN src = 'o' THEN -({_HANDLE}) ELSE {_HANDLE} END AS handle_s_sum",
        ]
    )
    keys = ", ".join(_QUARTER_KEY_COLUMNS)
    values = ("n", "wait_s_sum", "talk_s_sum", "hold_s_sum", "acw_s_sum", "handle_s_sum")
    flags = " OR ".join(
        f"(bool_or(src = 'o' AND {c} IS NOT NULL) AND NOT bool_or(src = 'w' AND {c} IS NOT NULL))"
        for c in ("talk_s_sum", "hold_s_sum", "acw_s_sum")
    )
    max_e = "max(wait_s_max) FILTER (src = 'e')"
    max_o = "max(wait_s_max) FILTER (src = 'o')"
    max_w = "max(wait_s_max) FILTER (src = 'w')"
    extra = (
        f"""UNION ALL
            SELECT 'w', {_CALL_FIELDS} FROM calls
            SEMI JOIN (SELECT source AS x_source, call_id AS x_call, segment AS x_segment
                       FROM _rollup_extra) x
              ON source = x_source AND call_id = x_call AND segment = x_segment"""
        if fetch_count(con, "_rollup_extra")
        else ""
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _q_calls AS
        SELECT src, {_QUARTER_KEY}, {signed} FROM (
            SELECT 'o' AS src, * FROM _rollup_old_calls
            UNION ALL
            SELECT 'w', {_CALL_FIELDS} FROM calls WHERE ({new_calls})
            {extra})"""
    )
    # The 15-minute rows that an old or new call falls in, as they are (read once).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rollup_old AS
        SELECT r.* FROM calls_rollup r
        SEMI JOIN (SELECT DISTINCT {keys} FROM _q_calls) k ON {_quarter_same_key("r", "k")}
        WHERE r.bucket_utc >= $lo AND r.bucket_utc <= $hi""",
        bounds,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _q_delta AS
        WITH d AS (
            SELECT 'e' AS src, {keys}, {", ".join(values)}, wait_s_max FROM _rollup_old
            UNION ALL BY NAME
            SELECT * FROM _q_calls
        )
        SELECT {keys}, {", ".join(f"sum({v}) AS {v}" for v in values)},
               CASE WHEN {max_w} >= {max_e} OR {max_e} IS NULL THEN {max_w} ELSE {max_e} END
                   AS wait_s_max,
               ({flags})
               OR coalesce({max_o} >= {max_e} AND NOT coalesce({max_w} >= {max_e}, FALSE),
                           FALSE) AS recompute
        FROM d GROUP BY {keys}"""
    )
    con.execute(
        f"""DELETE FROM calls_rollup WHERE bucket_utc >= $lo AND bucket_utc <= $hi
            AND EXISTS (SELECT 1 FROM _rollup_old k
                        WHERE {_quarter_same_key("calls_rollup", "k")})""",
        bounds,
    )
    columns = ", ".join(c.name for c in TABLES["calls_rollup"])
    # The rows as they are now: the difference's, and those recomputed from the calls
    # (the calls of those rows only: a scan of their quarter hours, grouped again).
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _rollup_new AS SELECT {columns} FROM _q_delta "
        "WHERE NOT recompute AND n > 0"
    )
    if fetch_scalar_int(con, "SELECT count(*) FROM _q_delta WHERE recompute AND n > 0"):
        con.execute(
            f"""
            INSERT INTO _rollup_new
            SELECT {keys}, count(*), sum(wait_s), max(wait_s), sum(talk_s), sum(hold_s),
                   sum(acw_s), sum({_HANDLE})
            FROM (SELECT {_QUARTER_KEY}, wait_s, talk_s, hold_s, acw_s FROM calls
                  WHERE entered_at >= $lo AND entered_at < $hi + INTERVAL 15 MINUTE) q
            SEMI JOIN (SELECT * FROM _q_delta WHERE recompute AND n > 0) k
              ON {_quarter_same_key("q", "k")}
            GROUP BY ALL""",
            bounds,
        )
    con.execute(f"INSERT INTO calls_rollup ({columns}) SELECT {columns} FROM _rollup_new")
    con.execute("DROP TABLE _q_delta")
    con.execute("DROP TABLE _q_calls")


def _insert_quarter_hours(con: duckdb.DuckDBPyConnection, changed: _Changed) -> None:
    """Insert the 15-minute level's rows of the changed quarter hours, from the calls."""
    entered, params = changed.within("entered_at")
    con.execute(
        f"""
        INSERT INTO calls_rollup
        {_QUARTER_SELECT}
        FROM calls
        WHERE {entered}
        GROUP BY ALL""",
        params,
    )


DIFFERENCE_BELOW = 0.25
"""The day levels are updated by the difference when the changed quarter hours hold less
than this share of their days' 15-minute rows (the difference reads the changed rows
twice and costs more SQL than a recompute: it pays when the days are fuller)."""


def _small_part_of_days(con: duckdb.DuckDBPyConnection, changed: _Changed) -> bool:
    """Whether the changed quarter hours' 15-minute rows are a small part of their UTC
    days' (:data:`DIFFERENCE_BELOW`)."""
    quarters, params = changed.within("bucket_utc")
    first, last = changed.bounds[86_400]
    part, days = con.execute(
        f"""SELECT count(*) FILTER ({quarters}), count(*) FROM calls_rollup
            WHERE bucket_utc >= $first AND bucket_utc < $last + INTERVAL 1 DAY""",
        {**params, "first": first, "last": last},
    ).fetchall()[0]
    return bool(part < DIFFERENCE_BELOW * days)


DIFFERENCE_ABOVE_S = 3_600
"""A coarser level whose buckets are longer than this (the day levels) is updated by the
changed quarter hours' difference; one with shorter buckets (four quarter hours at most)
has its changed buckets recomputed."""

_COARSE_AGGREGATES = (
    "sum(n) AS n, "
    + ", ".join(f"coalesce(sum(n) FILTER ({c}), 0) AS {k}" for k, c in ROLLUP_COUNTS.items())
    + f", sum({ROLLUP_SUMS[0]}) AS {ROLLUP_SUMS[0]}, max(wait_s_max) AS wait_s_max, "
    + ", ".join(f"sum({c}) AS {c}" for c in ROLLUP_SUMS[1:])
)
"""A coarser level's columns after its bucket and dimensions, over 15-minute rows."""

_COARSE_VALUES = ("n", *ROLLUP_COUNTS, *ROLLUP_SUMS)
"""A coarser level's additive columns (all but ``wait_s_max``)."""


def _same_key(level: RollupLevel, a: str, b: str) -> str:
    """Whether rows ``a`` and ``b`` have the same bucket and dimensions (NULL equal NULL)."""
    return " AND ".join(
        [f"{a}.bucket_utc = {b}.bucket_utc"]
        + [f"{a}.{d} IS NOT DISTINCT FROM {b}.{d}" for d in level.dimensions]
    )


def _follow_coarse(con: duckdb.DuckDBPyConnection, changed: _Changed, difference: bool) -> None:
    """Bring every coarser level up to date with the 15-minute level (already current):
    the day levels by the changed quarter hours' difference when ``difference``, the
    others (and the day levels otherwise) by recomputing their changed buckets."""
    for level in COARSE_LEVELS:
        if difference and level.seconds > DIFFERENCE_ABOVE_S:
            _update_coarse(con, level, changed)
        else:
            _recompute_coarse(con, level, changed)


def _recompute_coarse(
    con: duckdb.DuckDBPyConnection, level: RollupLevel, changed: _Changed
) -> None:
    """Recompute a coarser level's buckets that contain the changed quarter hours, from
    the 15-minute level (already current). Two statements: a live load runs this for
    every level, so no temporary table or bounds query of its own."""
    # Over the level's own rows and over the quarter hours: the same test.
    ours, params = changed.within("bucket_utc", level.seconds)
    con.execute(f"DELETE FROM {level.table} WHERE {ours}", params)
    con.execute(
        f"""
        INSERT INTO {level.table}
        SELECT {_level_bucket(level, "bucket_utc")} AS bucket_utc, {", ".join(level.dimensions)},
               {_COARSE_AGGREGATES}
        FROM calls_rollup
        WHERE {ours}
        GROUP BY ALL""",
        params,
    )


def _update_coarse(con: duckdb.DuckDBPyConnection, level: RollupLevel, changed: _Changed) -> None:
    """Update a coarser level by the changed quarter hours' difference: each of its rows
    that an old (``_rollup_old``) or new (``_rollup_new``) 15-minute row falls in becomes
    itself minus the old rows plus the new ones (counts and sums are additive), so that a
    change costs the same however full the day is.

    Two things a difference cannot tell are recomputed from the 15-minute level instead,
    for the rows concerned only: the longest wait when an old row held it and no new row
    reaches it (it may have dropped), and a sum that the old rows had values for and the
    new ones have none (it may have become NULL: no call left with a value)."""
    dims = ", ".join(level.dimensions)
    key = f"{_level_bucket(level, 'bucket_utc')} AS bucket_utc, {dims}"
    values = ", ".join(_COARSE_VALUES)
    per_row = f"{values}, wait_s_max"
    flags = " OR ".join(
        f"(bool_or(src = 'o' AND {c} IS NOT NULL) AND NOT bool_or(src = 'w' AND {c} IS NOT NULL))"
        for c in ROLLUP_SUMS
    )
    max_e = "max(wait_s_max) FILTER (src = 'e')"
    max_o = "max(wait_s_max) FILTER (src = 'o')"
    max_w = "max(wait_s_max) FILTER (src = 'w')"
    flat = ", ".join(
        ["n", *(f"CASE WHEN {c} THEN n ELSE 0 END" for c in ROLLUP_COUNTS.values()), *ROLLUP_SUMS]
    )
    lo, hi = changed.bounds[level.seconds]
    # The level's rows of the changed buckets ('e'), minus the old 15-minute rows ('o'),
    # plus the new ones ('w'), in one grouping; only the rows that an old or new
    # 15-minute row falls in are kept.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _level_delta AS
        WITH d AS (
            SELECT 'e' AS src, bucket_utc, {dims}, {per_row} FROM {level.table}
            WHERE bucket_utc >= $lo AND bucket_utc <= $hi
            UNION ALL
            SELECT 'o', {key}, {", ".join(f"-({c})" for c in flat.split(", "))},
                   wait_s_max FROM _rollup_old
            UNION ALL
            SELECT 'w', {key}, {flat}, wait_s_max FROM _rollup_new
        )
        SELECT bucket_utc, {dims},
               {", ".join(f"sum({c}) AS {c}" for c in _COARSE_VALUES)},
               CASE WHEN {max_w} >= {max_e} OR {max_e} IS NULL THEN {max_w} ELSE {max_e} END
                   AS wait_s_max,
               ({flags})
               OR coalesce({max_o} >= {max_e} AND NOT coalesce({max_w} >= {max_e}, FALSE),
                           FALSE) AS recompute
        FROM d GROUP BY bucket_utc, {dims} HAVING bool_or(src <> 'e')""",
        {"lo": lo, "hi": hi},
    )
    lo, hi = con.execute("SELECT min(bucket_utc), max(bucket_utc) FROM _level_delta").fetchall()[0]
    if lo is None:
        con.execute("DROP TABLE _level_delta")
        return
    bounds = {"lo": lo, "hi": hi}
    con.execute(
        f"""DELETE FROM {level.table} t
            WHERE t.bucket_utc >= $lo AND t.bucket_utc <= $hi
            AND EXISTS (SELECT 1 FROM _level_delta k WHERE {_same_key(level, "t", "k")})""",
        bounds,
    )
    columns = ", ".join(c.name for c in TABLES[level.table])
    con.execute(
        f"INSERT INTO {level.table} ({columns}) SELECT {columns} FROM _level_delta "
        "WHERE NOT recompute AND n > 0"
    )
    if fetch_scalar_int(con, "SELECT count(*) FROM _level_delta WHERE recompute AND n > 0"):
        con.execute(
            f"""
            INSERT INTO {level.table}
            SELECT k.bucket_utc, {", ".join(f"k.{d}" for d in level.dimensions)},
                   {_COARSE_AGGREGATES}
            FROM (SELECT {_level_bucket(level, "bucket_utc")} AS bucket_utc,
                         * EXCLUDE (bucket_utc)
                  FROM calls_rollup
                  WHERE bucket_utc >= $lo AND bucket_utc < $hi + INTERVAL {level.seconds} SECOND
                 ) r
            JOIN (SELECT bucket_utc, {dims} FROM _level_delta WHERE recompute AND n > 0) k
              ON {_same_key(level, "r", "k")}
            GROUP BY ALL""",
            bounds,
        )
    con.execute("DROP TABLE _level_delta")


def fetch_scalar_int(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return int(con.execute(query).fetchall()[0][0])


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute ``calls.next_contact_at`` and the whole roll-up, every level (after a
    migration, or to check it)."""
    fill_next_contacts(con)
    for level in ROLLUP_LEVELS:
        con.execute(f"DELETE FROM {level.table}")
    refresh(
        con,
        f"SELECT DISTINCT {buckets_of('entered_at')} FROM calls",
        next_contacts=False,
        coarse=False,
    )
    build_coarse(con)


def build_coarse(con: duckdb.DuckDBPyConnection) -> None:
    """Fill the coarser levels from the 15-minute level as it is, every row (a migration,
    a rebuild)."""
    for level in COARSE_LEVELS:
        con.execute(f"DELETE FROM {level.table}")
        con.execute(f"""
            INSERT INTO {level.table}
            SELECT {_level_bucket(level, "bucket_utc")} AS bucket_utc,
                   {", ".join(level.dimensions)}, {_COARSE_AGGREGATES}
            FROM calls_rollup GROUP BY ALL""")
