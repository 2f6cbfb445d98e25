"""The interval rules of agent sessions, on plain Python values."""

from __future__ import annotations

import datetime as dt

from callkpi.ingest.agent_sessions import _Span, clip, union_timeline

T = dt.datetime(2026, 1, 1, 9)


def m(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def span(a: float, b: float | None, reason: str | None = None) -> _Span:
    return _Span(m(a), None if b is None else m(b), reason, f"ref{a}")


def shape(spans: list[_Span]) -> list[tuple[dt.datetime, dt.datetime | None, str | None]]:
    return [(s.start, s.end, s.reason) for s in spans]


def test_union_merges_overlaps_and_touching_spans() -> None:
    merged = union_timeline([span(0, 10), span(5, 20), span(20, 30), span(40, 50)])
    assert shape(merged) == [(m(0), m(30), None), (m(40), m(50), None)]


def test_union_takes_the_reason_of_the_latest_started_active_span() -> None:
    merged = union_timeline([span(0, 30, "break"), span(10, 20, "coaching")])
    assert shape(merged) == [
        (m(0), m(10), "break"),
        (m(10), m(20), "coaching"),
        (m(20), m(30), "break"),
    ]


def test_union_keeps_open_spans_open() -> None:
    assert shape(union_timeline([span(0, 10), span(5, None)])) == [(m(0), None, None)]


def test_clip_to_logged_in_time() -> None:
    paused = [span(0, 30, "lunch"), span(50, None, "break")]
    logged_in = [span(10, 20), span(25, 60)]
    assert shape(clip(paused, logged_in)) == [
        (m(10), m(20), "lunch"),
        (m(25), m(30), "lunch"),
        (m(50), m(60), "break"),
    ]
    assert shape(clip([span(0, None, "x")], [span(5, None)])) == [(m(5), None, "x")]
