"""Options every ingest adapter understands (the ``callkpi ingest`` flags)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_BATCH_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class IngestOptions:
    tz: str | None = None
    """The IANA zone of naive times in the source (``--tz``); epoch times and times with
    an offset are unambiguous anyway. Everything is stored in UTC. None means not given:
    a mapping profile's own zone applies, else UTC."""
    tenant: str | None = None
    """The client these records belong to, for sources that do not say."""
    mask_callers: bool = False
    """Store caller numbers as keyed hashes (see :mod:`callkpi.ingest.masking`)."""
    strict: bool = False
    """Roll back any batch with a rejected row and stop; rejects still go to quarantine."""
    mapping: Path | None = None
    """The mapping profile of ``callkpi ingest mapped``."""
    batch_bytes: int = DEFAULT_BATCH_BYTES
    """How much of a queue_log to load per transaction."""

    @property
    def zone(self) -> str:
        """The zone to read naive times in: ``tz``, or UTC when it was not given."""
        return self.tz or "UTC"
