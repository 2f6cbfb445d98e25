"""Compiled KPI SQL kept on disk, so that a new process does not compile again.

The compiler keeps each query shape's SQL in memory (:mod:`callkpi.kpi.compiler`). Compiling
a wide query through Ibis costs 0.1-0.8 s of CPU, which every new process paid once per
shape: each ``callkpi kpi`` command, and every dashboard page's first visit after the
server restarts. This module keeps the same SQL in small JSON files, one per shape.

A file is found by a digest of the shape (everything the SQL depends on: the warehouse's
tables and columns, the KPI and measure definitions, the query's form, the zone's offsets)
and of this installation's code: the versions of callkpi, Ibis, sqlglot and DuckDB, and the
contents of the modules that write the SQL (``callkpi.kpi``, ``callkpi.model``,
``callkpi.timezones``). A changed definition or upgraded library therefore finds no file
and compiles afresh; nothing is ever updated in place.

Where: ``$CALLKPI_SQL_CACHE`` if set (``off`` turns the disk cache off), else
``$XDG_CACHE_HOME/callkpi/sql`` or ``~/.cache/callkpi/sql``. The directory is private to
the user (mode 0700); files are written whole (a temporary file renamed) and a file that
cannot be read as expected is ignored. At most :data:`MAX_FILES` are kept, the least
recently written go first.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

ENV = "CALLKPI_SQL_CACHE"
MAX_FILES = 2_000
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "sql": str,
    "slots": list,
    "calendar": (str, type(None)),
    "schema": dict,
    "keys": list,
}


def directory() -> Path | None:
    """The cache directory, or None when it is turned off."""
    setting = os.environ.get(ENV)
    if setting is not None:
        return None if setting.strip().lower() in ("", "off", "0", "false", "no") else Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "callkpi" / "sql"


@functools.cache
def code_fingerprint() -> str:
    """A digest of the libraries' versions and of the code that writes the SQL."""
    import callkpi

    digest = hashlib.sha256()
    for dist in ("callkpi", "ibis-framework", "sqlglot", "duckdb"):
        try:
            digest.update(f"{dist}={metadata.version(dist)};".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist}=?;".encode())
    root = Path(callkpi.__file__).parent
    files = [root / "timezones.py"]
    for package in ("kpi", "model"):
        files += sorted((root / package).rglob("*.py")) + sorted((root / package).rglob("*.yaml"))
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def digest(*parts: str) -> str:
    """The file name's digest of a shape described by ``parts`` (and of the code)."""
    h = hashlib.sha256(code_fingerprint().encode())
    for part in parts:
        h.update(b"\0")
        h.update(part.encode())
    return h.hexdigest()


def load(key: str) -> dict[str, Any] | None:
    """The record kept under ``key``, or None (no cache, no file, or not a valid record)."""
    folder = directory()
    if folder is None:
        return None
    try:
        record = json.loads((folder / f"{key}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    if not all(isinstance(record.get(f), t) for f, t in _FIELDS.items()):
        return None
    return record


def save(key: str, record: dict[str, Any]) -> None:
    """Keep ``record`` under ``key``; a cache that cannot be written is skipped."""
    folder = directory()
    if folder is None:
        return
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({**record, "key": key}, out)
            os.replace(tmp, folder / f"{key}.json")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(folder)


def _prune(folder: Path) -> None:
    files = list(folder.glob("*.json"))
    if len(files) <= MAX_FILES:
        return
    files.sort(key=lambda p: p.stat().st_mtime)
    for path in files[: len(files) - MAX_FILES]:
        with contextlib.suppress(OSError):
            path.unlink()
