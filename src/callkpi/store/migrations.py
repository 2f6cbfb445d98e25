"""Schema migrations: ``MIGRATIONS[n]`` upgrades a warehouse from version n to n + 1.

A release that changes a table adds a function here and bumps
:data:`callkpi.model.SCHEMA_VERSION`; the store runs the missing steps in order, inside one
transaction, when it opens an older file for writing (a file opened read-only is read as
it is: the KPI compiler uses only the roll-up levels it finds).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from callkpi.model import ROLLUP_LEVELS, TABLES
from callkpi.store import rollup

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def _v1_coarse_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Version 2 added the coarser roll-up levels (by day, without the agent or the wrap
    code). Nothing to do now: the next step (to version 3) creates and fills every level
    in its current shape, and the steps always run together, in one transaction."""


def _v2_next_contacts(con: duckdb.DuckDBPyConnection) -> None:
    """Version 3 adds ``calls.next_contact_at`` (each contact's next contact of the same
    customer: the repeat-contact KPIs compare with it instead of a window over every call),
    a repeat flag and count at every roll-up level, and the levels by agent and UTC hour
    and by agent, wrap code and UTC day. The column is filled and every level rebuilt."""
    from callkpi.store import create_table_sql

    con.execute("ALTER TABLE calls ADD COLUMN IF NOT EXISTS next_contact_at TIMESTAMP")
    for level in ROLLUP_LEVELS:
        con.execute(f"DROP TABLE IF EXISTS {level.table}")
        con.execute(create_table_sql(TABLES[level.table]))
    rollup.rebuild(con)


def _rebuild_queue_log_calls(con: duckdb.DuckDBPyConnection, callids: str) -> None:
    """Rebuild from the journal the queue_log calls (and their talking states and roll-up)
    of the callids the query ``callids`` selects, if any."""
    from callkpi.ingest import queue_log
    from callkpi.store import create_tables

    create_tables(con)  # what the rebuild uses, if this file is older
    con.execute(f"CREATE OR REPLACE TEMP TABLE ql_touched_calls AS {callids}")
    if con.execute("SELECT count(*) FROM ql_touched_calls").fetchall()[0][0]:
        queue_log.rebuild_calls(con)
    con.execute("DROP TABLE ql_touched_calls")


def _v3_visit_starts(con: duckdb.DuckDBPyConnection) -> None:
    """Version 4: a queue_log visit never begins after its first event (an entry reckoned
    back from hold, wait or talk times that disagree with the timestamps, e.g. negative
    ones, is capped there), which lets a load read only the recent part of the journal.
    Only such fields could make a visit begin after its first event, and then it began
    after its own answer or end: those calls are rebuilt from the journal."""
    _rebuild_queue_log_calls(
        con,
        """SELECT DISTINCT call_id AS callid FROM calls
        WHERE source = 'queue_log' AND (answered_at < entered_at OR ended_at < entered_at)""",
    )


def _v4_lost_calls(con: duckdb.DuckDBPyConnection) -> None:
    """Version 5: the calls a bulk load lost to DuckDB 2.0.0 are rebuilt from the journal.
    A queue_log batch with more than 122,880 new calls built them in a temporary table
    that DuckDB 2.0.0 then read back empty (rows appended in parallel to a table created
    empty in the same transaction), so it stored none of them, nor their talking states
    nor their roll-up. Their lines are in the journal: every callid with a visit event
    there and no queue_log ``calls`` row is rebuilt (a sound file has none; on the 10M-line
    benchmark's warehouse the check takes about a second)."""
    from callkpi.ingest import queue_log

    events = ", ".join(f"'{e}'" for e in queue_log.CALL_VISIT_EVENTS)
    _rebuild_queue_log_calls(
        con,
        f"""SELECT DISTINCT callid FROM queue_log_events WHERE event IN ({events})
        EXCEPT SELECT call_id FROM calls WHERE source = 'queue_log'""",
    )


MIGRATIONS: dict[int, Migration] = {
    1: _v1_coarse_rollups,
    2: _v2_next_contacts,
    3: _v3_visit_starts,
    4: _v4_lost_calls,
}
