"""The buckets of a query, listed: their local start, UTC offset and UTC span.

Point measures find their bucket with an expression on each row
(:mod:`callkpi.kpi.buckets`); interval measures (sessions, schedules, cost periods) are
cut along the buckets listed here. Both give the same keys, so they join. Sub-day buckets
step through UTC (a DST change gives 02:00+02:00 then 02:00+01:00); day and longer
buckets step through local calendar days, weeks (ISO), months, quarters and years.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from callkpi import timezones
from callkpi.kpi.buckets import SUB_DAY

_SUB_DAY_S = {"15min": 900, "30min": 1800, "hour": 3600}


@dataclass(frozen=True)
class Bucket:
    local_start: dt.datetime | None
    """Naive local wall time; None for grain ``all``."""
    offset_s: int | None
    """The UTC offset (sub-day grains only: it tells the repeated hour apart)."""
    utc_start: dt.datetime
    utc_end: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.utc_end - self.utc_start).total_seconds()


def _offset(tz: str, utc: dt.datetime) -> int:
    off = timezones.utc_to_local(tz, utc).utcoffset()
    assert off is not None
    return int(off.total_seconds())


def _truncate(local: dt.datetime, grain: str) -> dt.datetime:
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"not a calendar grain: {grain}")


def _next(local: dt.datetime, grain: str) -> dt.datetime:
    if grain == "day":
        return local + dt.timedelta(days=1)
    if grain == "week":
        return local + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    month = local.month - 1 + months
    return local.replace(year=local.year + month // 12, month=month % 12 + 1)


def buckets(grain: str, tz: str, start: dt.datetime, end: dt.datetime) -> list[Bucket]:
    """The buckets of ``grain`` in zone ``tz`` that overlap [start, end) (naive UTC)."""
    if end <= start:
        return []
    if grain == "all":
        return [Bucket(None, None, start, end)]
    out: list[Bucket] = []
    if grain in SUB_DAY:
        size = _SUB_DAY_S[grain]
        off = _offset(tz, start)
        local = start + dt.timedelta(seconds=off)
        minute = local.minute - local.minute % (size // 60) if size < 3600 else 0
        t = local.replace(minute=minute, second=0, microsecond=0) - dt.timedelta(seconds=off)
        while t < end:
            off = _offset(tz, t)
            nxt = t + dt.timedelta(seconds=size)
            out.append(Bucket(t + dt.timedelta(seconds=off), off, t, nxt))
            t = nxt
        return out
    local = _truncate(timezones.utc_to_local(tz, start).replace(tzinfo=None), grain)
    while True:
        utc_start = timezones.local_to_utc(tz, local)
        if utc_start >= end:
            return out
        following = _next(local, grain)
        out.append(Bucket(local, None, utc_start, timezones.local_to_utc(tz, following)))
        local = following


def to_arrow(items: list[Bucket]) -> pa.Table:
    return pa.table(
        {
            "_bucket": pa.array([b.local_start for b in items], pa.timestamp("us")),
            "_offset_s": pa.array([b.offset_s for b in items], pa.int32()),
            "_utc_start": pa.array([b.utc_start for b in items], pa.timestamp("us")),
            "_utc_end": pa.array([b.utc_end for b in items], pa.timestamp("us")),
            "_period_s": pa.array([b.seconds for b in items], pa.float64()),
        }
    )
