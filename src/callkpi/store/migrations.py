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


MIGRATIONS: dict[int, Migration] = {1: _v1_coarse_rollups, 2: _v2_next_contacts}
