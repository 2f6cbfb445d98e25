"""Reporting periods as people write them: ``2026-10``, ``2026-Q4``, ``2026``,
``2026-10-05`` or a custom range ``2026-10-01..2026-10-15`` (both days included)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Period:
    first: dt.date
    last: dt.date
    """Inclusive."""

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def contains(self, other: Period) -> bool:
        return self.first <= other.first and other.last <= self.last

    def previous(self) -> Period:
        """The period of the same kind just before: the previous month for a month, the
        previous quarter or year, else the same number of days before."""
        if self.first.day == 1 and self.last == _month_end(self.last):
            months = (
                (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1
            )
            start = _add_months(self.first, -months)
            return Period(start, self.first - dt.timedelta(days=1))
        return Period(self.first - dt.timedelta(days=self.days), self.first - dt.timedelta(days=1))

    def label(self) -> str:
        if self.first.day == 1 and self.last == _month_end(self.last):
            if self.first.month == self.last.month and self.first.year == self.last.year:
                return f"{self.first:%Y-%m}"
            if (
                self.first.month == 1
                and self.last.month == 12
                and self.first.year == self.last.year
            ):
                return str(self.first.year)
            if (self.first.month - 1) % 3 == 0 and self.last.month == self.first.month + 2:
                return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def start_datetime(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time())

    def end_datetime(self) -> dt.datetime:
        """The instant after the last day (exclusive)."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time())


def _month_end(day: dt.date) -> dt.date:
    return _add_months(day.replace(day=1), 1) - dt.timedelta(days=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1, day=1)


def parse_period(text: str) -> Period:
    text = text.strip()
    try:
        if ".." in text:
            first, last = (dt.date.fromisoformat(p) for p in text.split("..", 1))
            if last < first:
                raise PeriodError(f"period {text!r}: the end is before the start")
            return Period(first, last)
        if m := re.fullmatch(r"(\d{4})-Q([1-4])", text, re.IGNORECASE):
            start = dt.date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1)
            return Period(start, _add_months(start, 3) - dt.timedelta(days=1))
        if re.fullmatch(r"\d{4}-\d{2}", text):
            start = dt.date.fromisoformat(text + "-01")
            return Period(start, _month_end(start))
        if re.fullmatch(r"\d{4}", text):
            year = int(text)
            return Period(dt.date(year, 1, 1), dt.date(year, 12, 31))
        day = dt.date.fromisoformat(text)
        return Period(day, day)
    except ValueError as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(
            f"period {text!r}: expected a month (2026-10), a quarter (2026-Q4), a year "
            "(2026), a day (2026-10-05) or a range (2026-10-01..2026-10-15)"
        ) from None
