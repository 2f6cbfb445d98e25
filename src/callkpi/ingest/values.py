"""Typed values from text fields, with errors that name the field, the value and what
was expected. Shared by the CSV/JSON adapters (cdr, mapped, records)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from callkpi import timezones


class RowError(Exception):
    """A row that cannot be loaded. ``code`` groups it in the summary."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def bad_value(field: str, value: object, expected: str) -> RowError:
    shown = value if len(str(value)) <= 60 else str(value)[:57] + "..."
    return RowError("bad field", f"{field} = {shown!r}, expected {expected}")


def missing(field: str) -> RowError:
    return RowError("missing field", f"{field} is required but empty")


def blank(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, str) and value.strip() == "")
        or (isinstance(value, float) and math.isnan(value))
    )


def to_text(value: object) -> str | None:
    if blank(value):
        return None
    return str(value).strip()


def to_float(field: str, value: object) -> float | None:
    if blank(value):
        return None
    if isinstance(value, bool):
        raise bad_value(field, value, "a number")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # decimal comma (many European exports)
    try:
        number = float(text)
    except ValueError:
        raise bad_value(field, value, "a number") from None
    if math.isnan(number) or math.isinf(number):
        raise bad_value(field, value, "a finite number")
    return number


def to_int(field: str, value: object) -> int | None:
    number = to_float(field, value)
    if number is None:
        return None
    if not number.is_integer():
        raise bad_value(field, value, "a whole number")
    return int(number)


_TRUE = {"true", "t", "yes", "y", "1", "да"}
_FALSE = {"false", "f", "no", "n", "0", "нет"}


def to_bool(field: str, value: object) -> bool | None:
    if blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise bad_value(field, value, "true or false (yes/no, 1/0)")


def _parse_datetime(text: str, formats: Sequence[str]) -> dt.datetime | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    if not formats or "iso" in formats:
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def to_utc(
    field: str, value: object, tz: str = "UTC", formats: Sequence[str] = ()
) -> dt.datetime | None:
    """A timestamp as naive UTC. Text with an offset keeps it; naive text is read in
    ``tz`` (``fold=0`` for the repeated hour); a number is a Unix epoch in seconds."""
    if blank(value):
        return None
    parsed: dt.datetime | None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)
    else:
        text = str(value).strip()
        parsed = _parse_datetime(text, formats)
        if parsed is None:
            expected = (
                "a date-time like 2026-10-01 09:30:00"
                if not formats
                else ("a date-time in format " + " or ".join(f for f in formats if f != "iso"))
            )
            raise bad_value(field, value, expected)
    if parsed.tzinfo is not None:
        return parsed.astimezone(dt.UTC).replace(tzinfo=None)
    if tz == "UTC":
        return parsed
    return timezones.local_to_utc(tz, parsed)


def to_date(field: str, value: object, formats: Sequence[str] = ()) -> dt.date | None:
    if blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:  # a date-time at midnight is a date too (many exports write dates that way)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise bad_value(field, value, "a date like 2026-10-01") from None
    if moment.time() != dt.time(0):
        raise bad_value(field, value, "a date like 2026-10-01 (this has a time of day)")
    return moment.date()


def convert(
    field: str, sql_type: str, value: Any, tz: str = "UTC", formats: Sequence[str] = ()
) -> Any:
    """Convert ``value`` to the Python value of a model column type."""
    if sql_type == "VARCHAR":
        return to_text(value)
    if sql_type == "DOUBLE":
        return to_float(field, value)
    if sql_type in ("BIGINT", "INTEGER"):
        return to_int(field, value)
    if sql_type == "BOOLEAN":
        return to_bool(field, value)
    if sql_type == "TIMESTAMP":
        return to_utc(field, value, tz, formats)
    if sql_type == "DATE":
        return to_date(field, value, formats)
    raise ValueError(f"no converter for column type {sql_type}")
