"""Schema migrations: ``MIGRATIONS[n]`` upgrades a warehouse from version n to n + 1.

The first release is version 1, so there is nothing to migrate yet. A later release that
changes a table adds a function here and bumps :data:`callkpi.model.SCHEMA_VERSION`; the
store runs the missing steps in order, inside one transaction, when it opens an older file.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]

MIGRATIONS: dict[int, Migration] = {}
