"""The demo's calendar: which days it covers and how local wall times map to UTC epochs.

The simulations run on integer UTC epoch seconds (what queue_log writes); the center's
rules (opening hours, shifts) are local wall times in the center's zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

DAY_S = 86_400
INTERVAL_S = 900
"""The 15-minute interval that arrivals, staffing and reports are planned in."""
INTERVALS_PER_DAY = DAY_S // INTERVAL_S
_UNIX_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class Period:
    """The days the demo covers, ``last_day`` included, in the center's time zone."""

    first_day: dt.date
    last_day: dt.date
    tz_name: str = "Europe/Moscow"

    @classmethod
    def ending(cls, end: dt.date, days: int, tz_name: str = "Europe/Moscow") -> Period:
        return cls(end - dt.timedelta(days=days - 1), end, tz_name)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    @cached_property
    def days(self) -> tuple[dt.date, ...]:
        count = (self.last_day - self.first_day).days + 1
        return tuple(self.first_day + dt.timedelta(days=i) for i in range(count))

    @cached_property
    def midnights(self) -> tuple[int, ...]:
        """UTC epoch of each day's local midnight."""
        return tuple(self.epoch(day, 0) for day in self.days)

    @property
    def start_epoch(self) -> int:
        return self.midnights[0]

    @property
    def end_epoch(self) -> int:
        """Local midnight after the last day."""
        return self.epoch(self.last_day + dt.timedelta(days=1), 0)

    def epoch(self, day: dt.date, seconds_of_day: float) -> int:
        """The UTC epoch of a local wall time ``seconds_of_day`` after ``day``'s midnight."""
        local = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds_of_day)
        return int(local.replace(tzinfo=self.tz).timestamp())

    def utc_offset_s(self, epoch: int) -> int:
        """The zone's UTC offset at ``epoch``; offsets change on whole minutes, so they are
        cached per minute (writing a month of records converts a million times)."""
        minute = epoch // 60
        offset = self._offsets.get(minute)
        if offset is None:
            delta = dt.datetime.fromtimestamp(minute * 60, self.tz).utcoffset()
            offset = int(delta.total_seconds()) if delta is not None else 0
            self._offsets[minute] = offset
        return offset

    @cached_property
    def _offsets(self) -> dict[int, int]:
        return {}

    def local(self, epoch: float) -> dt.datetime:
        """A UTC epoch as a naive local wall time (what a local export writes)."""
        whole = int(epoch)
        return _UNIX_EPOCH + dt.timedelta(seconds=whole + self.utc_offset_s(whole))

    def local_text(self, epoch: float) -> str:
        """``YYYY-MM-DD HH:MM:SS`` local wall time of a whole-second epoch."""
        return self.local(epoch).isoformat(sep=" ")

    def day_index(self, epoch: float) -> int:
        """Index of the local day an epoch falls on (may be out of range)."""
        return (self.local(epoch).date() - self.first_day).days
