"""The warehouse: a DuckDB file reached through Ibis, its schema, and transactional loads.

One :class:`Warehouse` wraps one Ibis DuckDB backend. The KPI engine queries it through
Ibis (``warehouse.table("calls")``); ingest uses the same connection's SQL for bulk work,
always inside :meth:`Warehouse.transaction`, so a batch is committed whole or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa

from callkpi.model import SCHEMA_VERSION, TABLES, Table
from callkpi.store import rollup
from callkpi.store.migrations import MIGRATIONS

DEFAULT_DB = Path("callkpi.duckdb")
MEMORY_LIMIT_ENV = "CALLKPI_MEMORY_LIMIT"
_MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B)", re.IGNORECASE)


class WarehouseError(Exception):
    """A warehouse that cannot be opened or used as asked; the message says why."""


@dataclass(frozen=True)
class LoadCounts:
    loaded: int = 0
    updated: int = 0
    duplicates: int = 0


_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "UBIGINT": pa.uint64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "VARCHAR[]": pa.list_(pa.string()),
}


def arrow_schema(table: str, columns: Sequence[str] | None = None) -> pa.Schema:
    """The Arrow schema of a model table (or of some of its columns, in that order)."""
    spec = TABLES[table]
    names = columns or spec.column_names
    return pa.schema([(n, _ARROW_TYPES[spec.by_name[n].type]) for n in names])


def arrow_rows(table: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows (dicts of Python values) as an Arrow table typed like the model table; only
    the columns that appear in the rows are included."""
    spec = TABLES[table]
    present = [c for c in spec.column_names if any(c in r for r in rows)]
    return pa.Table.from_pylist(list(rows), schema=arrow_schema(table, present))


def create_table_sql(table: Table) -> str:
    if table.view is not None:
        return f'CREATE OR REPLACE VIEW "{table.name}" AS {table.view}'
    cols = ", ".join(
        f'"{c.name}" {c.type}{"" if c.nullable else " NOT NULL"}' for c in table.columns
    )
    return f'CREATE TABLE IF NOT EXISTS "{table.name}" ({cols})'


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables that do not exist yet in their current shape, then (re)create
    the views over them."""
    for table in sorted(TABLES.values(), key=lambda t: t.view is not None):
        con.execute(create_table_sql(table))


class Warehouse:
    """The callkpi warehouse in one DuckDB file (``:memory:`` for a throwaway one)."""

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
    ) -> None:
        """``memory_limit`` (else the environment's ``CALLKPI_MEMORY_LIMIT``, e.g. ``1.5GB``)
        caps DuckDB's memory; past it DuckDB spills to a temporary directory next to the
        file. Without it DuckDB may use up to 80 % of the machine's memory."""
        self.path = str(path)
        try:
            self.ibis = ibis.duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {self.path}: {exc}") from exc
        self.con: duckdb.DuckDBPyConnection = self.ibis.con
        self.con.execute("SET TimeZone = 'UTC'")
        # DuckDB draws its own progress bar on stdout for long queries: never in our output.
        self.con.execute("SET enable_progress_bar = false")
        limit = memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or None
        if limit is not None:
            if not _MEMORY_SIZE.fullmatch(limit.strip()):
                raise WarehouseError(
                    f"memory limit {limit!r}: expected a size such as 1.5GB, 800MB or 2GiB"
                )
            self.con.execute(f"SET memory_limit = '{limit.strip()}'")
        self._lock = threading.RLock()
        self._in_transaction = False
        if not read_only:
            self._ensure_schema()
        else:
            self._check_version()

    # -- schema ---------------------------------------------------------------------------

    def _stored_version(self) -> int | None:
        exists = fetch_scalar(
            self.con,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'callkpi_meta'",
        )
        if not exists:
            return None
        value = fetch_scalar(
            self.con, "SELECT value FROM callkpi_meta WHERE key = 'schema_version'"
        )
        return int(value) if value is not None else None

    def _check_version(self) -> int | None:
        version = self._stored_version()
        if version is not None and version > SCHEMA_VERSION:
            raise WarehouseError(
                f"{self.path} has schema version {version}, newer than this callkpi "
                f"understands ({SCHEMA_VERSION}); upgrade callkpi to read it"
            )
        return version

    def _ensure_schema(self) -> None:
        version = self._check_version()
        with self.transaction():
            if version is None:
                self.con.execute(
                    "CREATE TABLE callkpi_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
                )
            else:
                for step in range(version, SCHEMA_VERSION):
                    MIGRATIONS[step](self.con)
            create_tables(self.con)
            self.con.execute(
                "INSERT OR REPLACE INTO callkpi_meta VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )

    @property
    def schema_version(self) -> int:
        version = self._stored_version()
        assert version is not None
        return version

    # -- access ---------------------------------------------------------------------------

    def table(self, name: str) -> ibis.Table:
        """The Ibis table expression of a warehouse table."""
        if name not in TABLES:
            raise WarehouseError(f"unknown table {name!r}; known: {', '.join(sorted(TABLES))}")
        return self.ibis.table(name)

    def existing_tables(self) -> frozenset[str]:
        """The tables and views the file has (an older file opened read-only may lack the
        newer ones)."""
        rows = self.sql("SELECT table_name FROM information_schema.tables")
        return frozenset(r[0] for r in rows)

    def sql(self, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and fetch all rows (for small results: tests, summaries)."""
        with self._lock:
            return self.con.execute(query, params or []).fetchall()

    def count(self, table: str, where: str = "TRUE", params: Sequence[Any] | None = None) -> int:
        row = self.sql(f'SELECT count(*) FROM "{table}" WHERE {where}', params)
        return int(row[0][0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Everything inside is committed together, or rolled back on any exception."""
        with self._lock:
            if self._in_transaction:
                yield self.con
                return
            self.con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self.con.execute("COMMIT")
            finally:
                self._in_transaction = False

    def next_batch_id(self) -> int:
        row = self.sql("SELECT coalesce(max(batch_id), 0) + 1 FROM ingest_batches")
        return int(row[0][0])

    def load(
        self,
        table: str,
        rows: pa.Table,
        *,
        key: Sequence[str] | None = None,
        replace_changed: bool = True,
    ) -> LoadCounts:
        """Append ``rows`` to ``table`` without ever duplicating a key.

        A row whose key is already stored with identical content is a duplicate and is
        skipped; with different content it replaces the stored row (``updated``) when
        ``replace_changed``, else it is skipped too. Within ``rows`` the last row of a key
        wins. Must run inside :meth:`transaction`.
        """
        spec = TABLES[table]
        key = tuple(key or spec.key)
        columns = [c for c in spec.column_names if c in rows.column_names]
        col_list = ", ".join(f'"{c}"' for c in columns)
        key_match = " AND ".join(f'n."{k}" IS NOT DISTINCT FROM o."{k}"' for k in key)
        # Lineage is not content: the same row read from another file is still a duplicate.
        same_row = " AND ".join(
            f'n."{c}" IS NOT DISTINCT FROM o."{c}"' for c in columns if c != "source_ref"
        )
        view = f"_incoming_{table}"
        con = self.con
        ordered = rows.append_column("_ord", pa.array(range(rows.num_rows), pa.int64()))
        con.register(view + "_raw", ordered)
        try:
            # Keep the last row per key (the input's order decides).
            partition = ", ".join(f'"{k}"' for k in key)
            con.execute(
                f'CREATE OR REPLACE TEMP TABLE {view} AS SELECT {col_list} FROM "{view}_raw" '
                f"QUALIFY _ord = max(_ord) OVER (PARTITION BY {partition})"
            )
            incoming = rows.num_rows
            unique = fetch_scalar(con, f"SELECT count(*) FROM {view}")
            dup_within = incoming - unique
            identical = fetch_scalar(
                con,
                f'SELECT count(*) FROM {view} n WHERE EXISTS (SELECT 1 FROM "{table}" o '
                f"WHERE {same_row})",
            )
            changed = fetch_scalar(
                con,
                f'SELECT count(*) FROM {view} n WHERE EXISTS (SELECT 1 FROM "{table}" o '
                f'WHERE {key_match}) AND NOT EXISTS (SELECT 1 FROM "{table}" o WHERE {same_row})',
            )
            if table == "calls":
                # The quarter hours of every stored row of the calls loaded: the replaced
                # rows' old ones change, and a call's other rows may get another next
                # contact (rollup.refresh's contract).
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _calls_old_buckets AS SELECT "
                    f"{rollup.buckets_of('o.entered_at')} AS b FROM calls o "
                    f"WHERE o.call_id IN (SELECT call_id FROM {view})"
                )
            if replace_changed and changed:
                con.execute(
                    f'DELETE FROM "{table}" o WHERE EXISTS (SELECT 1 FROM {view} n '
                    f"WHERE {key_match})"
                )
                con.execute(
                    f'INSERT INTO "{table}" ({col_list}) SELECT {col_list} FROM {view} n '
                    f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" o WHERE {key_match})'
                )
            else:
                con.execute(
                    f'INSERT INTO "{table}" ({col_list}) SELECT {col_list} FROM {view} n '
                    f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" o WHERE {key_match})'
                )
            if table == "calls":
                rollup.refresh(
                    con,
                    f"SELECT b FROM _calls_old_buckets UNION ALL "
                    f"SELECT {rollup.buckets_of('entered_at')} FROM {view}",
                )
                con.execute("DROP TABLE _calls_old_buckets")
            updated = changed if replace_changed else 0
            skipped_changed = 0 if replace_changed else changed
            loaded = unique - identical - changed
            return LoadCounts(
                loaded=loaded,
                updated=updated,
                duplicates=dup_within + identical + skipped_changed,
            )
        finally:
            con.unregister(view + "_raw")
            con.execute(f"DROP TABLE IF EXISTS {view}")

    def record_batch(
        self,
        batch_id: int,
        source: str,
        path: str | None,
        *,
        first_line: int | None,
        last_line: int | None,
        lines_read: int,
        counts: LoadCounts,
        rejected: int,
    ) -> None:
        self.con.execute(
            "INSERT INTO ingest_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                source,
                path,
                first_line,
                last_line,
                lines_read,
                counts.loaded,
                counts.updated,
                counts.duplicates,
                rejected,
                utc_now(),
            ],
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch_one(
    con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] | None = None
) -> tuple[Any, ...] | None:
    """The first row of a query, reading the result to its end (DuckDB 2 refuses new
    work on a connection while a result is unfinished)."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


def fetch_scalar(
    con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] | None = None
) -> Any:
    row = fetch_one(con, query, params)
    return row[0] if row else None


def utc_now() -> dt.datetime:
    """Now as a naive UTC datetime, the warehouse's timestamp convention."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
