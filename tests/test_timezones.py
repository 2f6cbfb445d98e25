"""The offset tables agree with Python's zoneinfo everywhere (property tests)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callkpi import timezones

ZONES = [
    "UTC",
    "Europe/Moscow",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Jerusalem",
    "Pacific/Chatham",
]
START, END = dt.datetime(1995, 1, 1), dt.datetime(2035, 12, 31)
moments = st.datetimes(min_value=START, max_value=END)


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES), utc=moments)
def test_offsets_from_utc_match_zoneinfo(zone: str, utc: dt.datetime) -> None:
    table = timezones.offsets_from_utc(zone, utc, utc)
    expected = utc.replace(tzinfo=dt.UTC).astimezone(timezones.zone(zone)).utcoffset()
    assert table.offset_at(utc) == expected.total_seconds()


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES), local=moments)
def test_offsets_from_local_follow_fold_zero(zone: str, local: dt.datetime) -> None:
    table = timezones.offsets_from_local(zone, local, local)
    expected = local.replace(tzinfo=timezones.zone(zone), fold=0).utcoffset()
    assert table.offset_at(local) == expected.total_seconds()


def test_repeated_and_skipped_hours() -> None:
    berlin = "Europe/Berlin"
    # 02:30 on the fall-back night happens twice: fold=0 is the first (CEST, UTC+2).
    assert timezones.local_to_utc(berlin, dt.datetime(2026, 10, 25, 2, 30)) == dt.datetime(
        2026, 10, 25, 0, 30
    )
    # 02:30 on the spring-forward night does not exist: read with the offset before (CET).
    assert timezones.local_to_utc(berlin, dt.datetime(2026, 3, 29, 2, 30)) == dt.datetime(
        2026, 3, 29, 1, 30
    )


def test_sql_case_and_unknown_zone() -> None:
    table = timezones.offsets_from_utc(
        "Europe/Moscow", dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)
    )
    assert timezones.sql_offset_case("ts", table) == "10800"  # no transitions since 2014
    with pytest.raises(timezones.TimeZoneError, match="unknown time zone 'Mars/Olympus'"):
        timezones.zone("Mars/Olympus")
