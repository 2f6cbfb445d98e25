"""What an ingest did: rows read, loaded, skipped as duplicates and rejected (by reason)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from callkpi.store import LoadCounts


class IngestError(Exception):
    """Input that cannot be read at all (missing file, unknown format); names what and where."""


@dataclass(frozen=True)
class Reject:
    """One rejected input row. ``code`` groups rejects in the summary; ``detail`` says
    exactly what is wrong (field, value, what was expected)."""

    source_ref: str
    raw: str
    code: str
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass
class IngestReport:
    source: str
    path: str
    lines_read: int = 0
    loaded: int = 0
    updated: int = 0
    duplicates: int = 0
    skipped: int = 0
    """Lines that hold no data by design: blank lines, header lines, ignored rows."""
    rejected: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    batches: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def add(self, counts: LoadCounts) -> None:
        self.loaded += counts.loaded
        self.updated += counts.updated
        self.duplicates += counts.duplicates

    def merge(self, other: IngestReport) -> None:
        self.lines_read += other.lines_read
        self.loaded += other.loaded
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.rejected.update(other.rejected)
        self.batches += other.batches
        for note in other.notes:
            if note not in self.notes:
                self.notes.append(note)

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "path": self.path,
            "lines_read": self.lines_read,
            "loaded": self.loaded,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "rejected": self.rejected_total,
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "notes": list(self.notes),
        }
