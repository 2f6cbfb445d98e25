"""UTC offsets of an IANA time zone as data, so any engine can convert times with CASE.

Database engines disagree on time zone functions (and Ibis has no portable one), so
callkpi computes a zone's offsets over the range it needs with Python's ``zoneinfo`` and
turns them into a plain ``CASE WHEN ts < boundary THEN offset ...`` expression. The same
data converts both ways:

* UTC -> local: ``offsets_from_utc`` boundaries are UTC instants.
* local (naive) -> UTC: ``offsets_from_local`` boundaries are local wall times, and a
  wall time follows Python's ``fold=0`` rule: in the repeated hour of a fall-back
  transition it means the first occurrence; in the skipped hour of a spring-forward
  transition it is read with the offset in force before the transition.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_STEP = dt.timedelta(hours=6)  # no zone has two transitions within 6 hours


class TimeZoneError(ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Moscow or UTC"
        ) from exc


@dataclass(frozen=True)
class OffsetTable:
    """``offsets[0]`` applies before ``boundaries[0]``, ``offsets[i]`` from
    ``boundaries[i-1]`` until ``boundaries[i]``, the last one after the last boundary."""

    boundaries: tuple[dt.datetime, ...]
    offsets_s: tuple[int, ...]

    def offset_at(self, t: dt.datetime) -> int:
        for boundary, offset in zip(self.boundaries, self.offsets_s, strict=False):
            if t < boundary:
                return offset
        return self.offsets_s[-1]


def _offset_s(tz: ZoneInfo, utc: dt.datetime) -> int:
    off = utc.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset()
    assert off is not None
    return int(off.total_seconds())


def _transitions(
    tz: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, int, int]]:
    """(utc instant, offset before, offset after) for each transition in [start, end]."""
    found = []
    t = start
    before = _offset_s(tz, t)
    while t < end:
        nxt = min(t + _STEP, end)
        after = _offset_s(tz, nxt)
        if after != before:
            lo, hi = t, nxt  # offset(lo) == before, offset(hi) != before
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if _offset_s(tz, mid) == before:
                    lo = mid
                else:
                    hi = mid
            found.append((hi, before, _offset_s(tz, hi)))
            before = _offset_s(tz, hi)
        t = nxt
    return found


@lru_cache(maxsize=256)
def _utc_table(name: str, first_year: int, last_year: int) -> OffsetTable:
    tz = zone(name)
    start, end = dt.datetime(first_year - 1, 12, 1), dt.datetime(last_year + 1, 2, 1)
    trans = _transitions(tz, start, end)
    offsets = [_offset_s(tz, start)] + [after for _, _, after in trans]
    return OffsetTable(tuple(t for t, _, _ in trans), tuple(offsets))


@lru_cache(maxsize=256)
def _local_table(name: str, first_year: int, last_year: int) -> OffsetTable:
    tz = zone(name)
    start, end = dt.datetime(first_year - 1, 12, 1), dt.datetime(last_year + 1, 2, 1)
    trans = _transitions(tz, start, end)
    offsets = [_offset_s(tz, start)] + [after for _, _, after in trans]
    # A wall time takes the new offset only once it is unambiguous and exists (fold=0).
    boundaries = tuple(t + dt.timedelta(seconds=max(before, after)) for t, before, after in trans)
    return OffsetTable(boundaries, tuple(offsets))


def offsets_from_utc(name: str, start: dt.datetime, end: dt.datetime) -> OffsetTable:
    """Offsets of zone ``name`` for naive-UTC times between ``start`` and ``end``."""
    return _utc_table(name, start.year, end.year)


def offsets_from_local(name: str, start: dt.datetime, end: dt.datetime) -> OffsetTable:
    """Offsets of zone ``name`` for naive local wall times between ``start`` and ``end``."""
    return _local_table(name, start.year, end.year)


def local_to_utc(name: str, local: dt.datetime) -> dt.datetime:
    """A naive wall time in zone ``name`` as naive UTC (``fold=0``)."""
    aware = local.replace(tzinfo=zone(name))
    return aware.astimezone(dt.UTC).replace(tzinfo=None)


def utc_to_local(name: str, utc: dt.datetime) -> dt.datetime:
    """A naive UTC time as an aware datetime in zone ``name``."""
    return utc.replace(tzinfo=dt.UTC).astimezone(zone(name))


def local_iso(name: str, local: dt.datetime) -> str:
    """A naive wall time in zone ``name`` as ISO 8601 with its UTC offset (``fold=0``)."""
    return utc_to_local(name, local_to_utc(name, local)).isoformat()


def sql_offset_case(column_sql: str, table: OffsetTable) -> str:
    """A SQL expression giving the offset in seconds for the timestamp ``column_sql``."""
    if not table.boundaries:
        return str(table.offsets_s[0])
    whens = " ".join(
        f"WHEN {column_sql} < TIMESTAMP '{b.isoformat(sep=' ')}' THEN {o}"
        for b, o in zip(table.boundaries, table.offsets_s, strict=False)
    )
    return f"(CASE {whens} ELSE {table.offsets_s[-1]} END)"
