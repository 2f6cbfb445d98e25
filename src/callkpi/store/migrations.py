"""Schema migrations: ``MIGRATIONS[n]`` upgrades a warehouse from version n to n + 1.

A release that changes a table adds a function here and bumps
:data:`callkpi.model.SCHEMA_VERSION`; the store runs the missing steps in order, inside one
transaction, when it opens an older file for writing (a file opened read-only is read as
it is: the KPI compiler uses only the roll-up levels it finds).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from callkpi.model import TABLES
from callkpi.store import rollup

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def _v1_coarse_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Version 2 adds the coarser roll-up levels (by day, without the agent or the wrap
    code), built from the 15-minute roll-up the file already has."""
    from callkpi.store import create_table_sql

    for level in rollup.COARSE_LEVELS:
        con.execute(create_table_sql(TABLES[level.table]))
    rollup.build_coarse(con)


MIGRATIONS: dict[int, Migration] = {1: _v1_coarse_rollups}
