"""Ingest: one module per source format, all ending in the canonical warehouse tables.

``SOURCES`` maps the names of ``callkpi ingest SOURCE`` to the adapter that reads them.
Every adapter has the signature ``ingest(warehouse, path, options) -> IngestReport``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from callkpi.ingest.options import IngestOptions
from callkpi.ingest.report import IngestError, IngestReport
from callkpi.store import Warehouse

Adapter = Callable[[Warehouse, "str | Path", IngestOptions], IngestReport]


def _sources() -> dict[str, Adapter]:
    from callkpi.ingest import cdr, mapped, queue_log, records
    from callkpi.model import RECORD_TABLES

    sources: dict[str, Adapter] = {
        "queue-log": queue_log.ingest,
        "cdr": cdr.ingest,
        "mapped": mapped.ingest,
    }
    for table in RECORD_TABLES:
        sources[table.replace("_", "-")] = partial(records.ingest, table=table)
    return sources


def source_names() -> list[str]:
    return list(_sources())


def ingest(wh: Warehouse, source: str, path: str | Path, options: IngestOptions) -> IngestReport:
    """Load ``path`` with the adapter for ``source`` (a name of ``callkpi ingest``)."""
    sources = _sources()
    adapter = sources.get(source) or sources.get(source.replace("_", "-"))
    if adapter is None:
        raise IngestError(f"unknown source {source!r}; expected one of: {', '.join(sources)}")
    return adapter(wh, path, options)


__all__ = ["IngestError", "IngestOptions", "IngestReport", "ingest", "source_names"]
