"""The quarantine: every rejected input row with its source, place and reason."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from callkpi.ingest.report import Reject
from callkpi.store import utc_now


def add(
    con: duckdb.DuckDBPyConnection, source: str, rejects: Sequence[Reject], batch_id: int
) -> None:
    """Store ``rejects``; a row already quarantined at the same place is not added again."""
    if not rejects:
        return
    now = utc_now()
    rows = pa.table(
        {
            "source": [source] * len(rejects),
            "source_ref": [r.source_ref for r in rejects],
            "raw": [r.raw for r in rejects],
            "reason": [r.reason for r in rejects],
            "batch_id": pa.array([batch_id] * len(rejects), pa.int64()),
            "ingested_at": pa.array([now] * len(rejects), pa.timestamp("us")),
        }
    )
    con.register("_quarantine_new", rows)
    try:
        con.execute(
            """INSERT INTO quarantine BY NAME
            SELECT * FROM _quarantine_new n WHERE NOT EXISTS (
              SELECT 1 FROM quarantine q
              WHERE q.source = n.source AND q.source_ref = n.source_ref)"""
        )
    finally:
        con.unregister("_quarantine_new")
