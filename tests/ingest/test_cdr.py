"""callkpi ingest cdr: Asterisk Master.csv in both layouts, expectations computed by hand.

Fixtures (tests/ingest/data/cdr) are written the way Asterisk writes them: cdr_csv quotes
strings, leaves duration/billsec/sequence bare and an unset answer as an empty field;
cdr_custom's default mapping quotes everything except the sequence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path

import pytest

from callkpi.ingest import cdr
from callkpi.ingest.options import IngestOptions
from callkpi.ingest.report import IngestError
from callkpi.store import Warehouse

DATA = Path(__file__).parent / "data" / "cdr"
T = dt.datetime

COLUMNS = ("direction, agent, caller, outcome, entered_at, answered_at, ended_at, ring_s, "
           "talk_s, tenant, queue, channel, transferred, source")


def calls_by_line(wh: Warehouse, path: Path) -> dict[int, tuple[object, ...]]:
    """The loaded calls of ``path``, keyed by their line number in it."""
    rows = wh.sql(f"SELECT source_ref, {COLUMNS} FROM calls WHERE source_ref LIKE ?",
                  [f"{path.resolve()}:%"])
    return {int(ref.rsplit(":", 1)[1]): tuple(rest) for ref, *rest in rows}


def copy(name: str, tmp_path: Path, as_name: str | None = None) -> Path:
    target = tmp_path / (as_name or name)
    shutil.copyfile(DATA / name, target)
    return target


# -- both layouts -------------------------------------------------------------------------


def test_cdr_csv_layout_outcomes_directions_and_utc_times(wh: Warehouse) -> None:
    path = DATA / "cdr_csv.csv"
    # Europe/Moscow is UTC+3 all year: 09:15:00 local is 06:15:00 UTC.
    report = cdr.ingest(wh, path, IngestOptions(tz="Europe/Moscow", tenant="acme"))

    assert (report.lines_read, report.loaded, report.skipped, report.rejected_total) == (9, 7, 2, 0)
    assert "layout: cdr_csv" in report.notes
    tail = ("acme", None, "voice", False, "cdr")
    assert calls_by_line(wh, path) == {
        # answered: ring = answer - start = 12 s, talk = billsec = 200 s
        1: ("out", "1001", "84951234567", "answered", T(2026, 3, 2, 6, 15, 0),
            T(2026, 3, 2, 6, 15, 12), T(2026, 3, 2, 6, 18, 32), 12.0, 200.0, *tail),
        2: ("out", "1002", "84957654321", "no_answer", T(2026, 3, 2, 6, 20, 5), None,
            T(2026, 3, 2, 6, 20, 35), None, None, *tail),
        3: ("out", "1001", "84951112233", "busy", T(2026, 3, 2, 6, 25, 0), None,
            T(2026, 3, 2, 6, 25, 4), None, None, *tail),
        4: ("out", "1003", "+74951230000", "failed", T(2026, 3, 2, 6, 30, 0), None,
            T(2026, 3, 2, 6, 30, 1), None, None, *tail),
        5: ("out", "1003", "84959990000", "failed", T(2026, 3, 2, 6, 35, 0), None,
            T(2026, 3, 2, 6, 35, 2), None, None, *tail),
        # line 6 went through Queue, line 7 is extension 1001 calling 1002: both skipped
        8: ("in", "1004", "84991112233", "answered", T(2026, 3, 2, 7, 0, 0),
            T(2026, 3, 2, 7, 0, 8), T(2026, 3, 2, 7, 3, 8), 8.0, 180.0, *tail),
        9: ("in", "1005", "84991112233", "answered", T(2026, 3, 2, 7, 3, 8),
            T(2026, 3, 2, 7, 3, 15), T(2026, 3, 2, 7, 5, 15), 7.0, 120.0, *tail),
    }
    assert "skipped as queue calls (they come from queue_log): 1" in report.notes
    assert "skipped as internal calls (extension to extension or feature code): 1" in report.notes


def test_cdr_custom_layout_outcomes_directions_and_utc_times(wh: Warehouse) -> None:
    path = DATA / "cdr_custom.csv"
    # America/Sao_Paulo is UTC-3 (no DST since 2019): 14:00 local is 17:00 UTC.
    report = cdr.ingest(wh, path, IngestOptions(tz="America/Sao_Paulo"))

    assert (report.lines_read, report.loaded, report.skipped, report.rejected_total) == (8, 6, 2, 0)
    assert "layout: cdr_custom" in report.notes
    tail = (None, None, "voice", False, "cdr")
    assert calls_by_line(wh, path) == {
        1: ("out", "2001", "5511987654321", "answered", T(2026, 4, 10, 17, 0, 0),
            T(2026, 4, 10, 17, 0, 20), T(2026, 4, 10, 17, 5, 20), 20.0, 300.0, *tail),
        2: ("out", "2002", "5511911112222", "no_answer", T(2026, 4, 10, 17, 10, 0), None,
            T(2026, 4, 10, 17, 10, 45), None, None, *tail),
        3: ("out", "2001", "5511933334444", "busy", T(2026, 4, 10, 17, 20, 0), None,
            T(2026, 4, 10, 17, 20, 3), None, None, *tail),
        4: ("out", "2002", "5511955556666", "failed", T(2026, 4, 10, 17, 30, 0), None,
            T(2026, 4, 10, 17, 30, 0), None, None, *tail),
        5: ("out", "2003", "5511977778888", "failed", T(2026, 4, 10, 17, 40, 0), None,
            T(2026, 4, 10, 17, 40, 2), None, None, *tail),
        # line 6: Queue; line 7: 2001 -> 2002. Line 8: the PBX answered to take a message.
        8: ("in", None, "5511922223333", "voicemail", T(2026, 4, 10, 17, 50, 0), None,
            T(2026, 4, 10, 17, 51, 0), None, None, *tail),
    }


def test_the_same_cdr_in_both_layouts_is_one_call(wh: Warehouse) -> None:
    cdr.ingest(wh, DATA / "cdr_csv.csv", IngestOptions(tz="Europe/Moscow"))
    report = cdr.ingest(wh, DATA / "cdr_custom_copy.csv", IngestOptions(tz="Europe/Moscow"))

    assert (report.loaded, report.duplicates) == (0, 1)
    assert wh.count("calls", "call_id = '1772432100.42'") == 1


def test_direction_rules(wh: Warehouse) -> None:
    path = DATA / "directions.csv"
    report = cdr.ingest(wh, path, IngestOptions())

    tail = (None, None, "voice", False, "cdr")
    assert calls_by_line(wh, path) == {
        # FreePBX put the outbound caller id in src; the channel SIP/1001-... is the phone.
        1: ("out", "1001", "84951234567", "answered", T(2026, 5, 4, 10, 0, 0),
            T(2026, 5, 4, 10, 0, 10), T(2026, 5, 4, 10, 1, 10), 10.0, 60.0, *tail),
        # A phone with a named peer (PJSIP/alice-...): src 1002 is the extension.
        2: ("out", "1002", "84957654321", "answered", T(2026, 5, 4, 10, 5, 0),
            T(2026, 5, 4, 10, 5, 3), T(2026, 5, 4, 10, 6, 3), 3.0, 60.0, *tail),
        # Anonymous caller on from-trunk, answered by the PBX itself: no agent, no caller.
        3: ("in", None, None, "answered", T(2026, 5, 4, 10, 10, 0),
            T(2026, 5, 4, 10, 10, 0), T(2026, 5, 4, 10, 10, 30), 0.0, 30.0, *tail),
        # line 4: a Local channel leg; 5: ext-queues; 6: extension 1001 dialled *97.
        # A trunk call forwarded out to another trunk: inbound, nobody here answered it.
        7: ("in", None, "84991112233", "answered", T(2026, 5, 4, 10, 30, 0),
            T(2026, 5, 4, 10, 30, 9), T(2026, 5, 4, 10, 32, 9), 9.0, 120.0, *tail),
        # An external caller in a neutral context ringing extension 1003, unanswered.
        8: ("in", None, "84995556677", "no_answer", T(2026, 5, 4, 10, 35, 0), None,
            T(2026, 5, 4, 10, 35, 20), None, None, *tail),
    }
    assert report.skipped == 3
    assert ("skipped as Local channel legs (the call is on the phone's or trunk's row): 1"
            in report.notes)


# -- ids ----------------------------------------------------------------------------------


def test_rows_sharing_a_uniqueid_are_segments_of_one_call(wh: Warehouse, tmp_path: Path) -> None:
    cdr.ingest(wh, DATA / "cdr_csv.csv", IngestOptions(tz="Europe/Moscow"))
    rows = wh.sql("SELECT segment, agent FROM calls WHERE call_id = '1772434800.49' "
                  "ORDER BY entered_at")
    assert [agent for _, agent in rows] == ["1004", "1005"]
    segments = [segment for segment, _ in rows]
    assert len(set(segments)) == 2
    assert all(1 <= s < 2**31 for s in segments)

    # The key is the row's own: another warehouse, reading only line 9, gives the same.
    only_line_9 = tmp_path / "line9.csv"
    only_line_9.write_text((DATA / "cdr_csv.csv").read_text().splitlines()[8] + "\n")
    with Warehouse(tmp_path / "other.duckdb") as other:
        cdr.ingest(other, only_line_9, IngestOptions(tz="Europe/Moscow"))
        assert other.sql("SELECT call_id, segment FROM calls") == [("1772434800.49", segments[1])]


def test_optional_cdr_csv_columns_and_ids_without_a_uniqueid(wh: Warehouse) -> None:
    path = DATA / "cdr_csv_variants.csv"
    report = cdr.ingest(wh, path, IngestOptions())
    assert (report.loaded, report.rejected_total) == (6, 0)

    ids = dict(wh.sql("SELECT CAST(split_part(source_ref, ':', -1) AS INTEGER), call_id "
                      "FROM calls"))
    derived = re.compile(r"cdr-[0-9a-f]{16}")
    assert derived.fullmatch(ids[1])  # 16 columns: no uniqueid
    assert ids[2] == "1780315500.2"  # 17: loguniqueid
    assert derived.fullmatch(ids[3])  # 17: loguserfield ("campaign-7" is no uniqueid)
    assert ids[4] == "pbx1-1780316100.4"  # 21: both, and newcdrcolumns (systemname set)
    assert derived.fullmatch(ids[5])  # 19: newcdrcolumns only
    assert ids[6] == "1780316700.6"  # 20: loguniqueid and newcdrcolumns
    assert len({ids[1], ids[3], ids[5]}) == 3
    assert wh.sql("SELECT DISTINCT segment FROM calls WHERE call_id LIKE 'cdr-%'") == [(1,)]


# -- incremental, idempotent --------------------------------------------------------------


def test_reingest_loads_nothing_and_a_grown_file_only_its_new_rows(
    wh: Warehouse, tmp_path: Path
) -> None:
    options = IngestOptions(tz="Europe/Moscow")
    master = copy("cdr_csv.csv", tmp_path, "Master.csv")
    first = cdr.ingest(wh, master, options)
    assert (first.lines_read, first.loaded) == (9, 7)

    again = cdr.ingest(wh, master, options)
    assert (again.lines_read, again.loaded, again.duplicates, again.skipped) == (0, 0, 0, 0)

    with master.open("a") as fh:
        fh.write((DATA / "cdr_csv_more.csv").read_text())
    grown = cdr.ingest(wh, master, options)
    # line 10: 1002 calls out and is answered; line 11 went through a queue.
    assert (grown.lines_read, grown.loaded, grown.skipped, grown.duplicates) == (2, 1, 1, 0)
    assert calls_by_line(wh, master)[10][:9] == (
        "out", "1002", "84950001122", "answered", T(2026, 3, 2, 7, 10, 0),
        T(2026, 3, 2, 7, 10, 6), T(2026, 3, 2, 7, 12, 6), 6.0, 120.0)

    # The same rows in another file (a rotated copy) are duplicates.
    rotated = tmp_path / "Master.csv.1"
    shutil.copyfile(master, rotated)
    copied = cdr.ingest(wh, rotated, options)
    assert (copied.lines_read, copied.loaded, copied.duplicates, copied.skipped) == (11, 0, 8, 3)
    assert wh.count("calls") == 8


# -- rejects ------------------------------------------------------------------------------


def test_bad_rows_are_quarantined_with_field_value_and_line(wh: Warehouse) -> None:
    path = DATA / "bad_rows.csv"
    report = cdr.ingest(wh, path, IngestOptions())

    assert (report.loaded, report.rejected_total) == (1, 7)
    assert dict(report.rejected) == {
        "wrong column count": 1, "bad field": 3, "unknown disposition": 1,
        "end before start": 1, "missing field": 1,
    }
    quarantined = wh.sql("SELECT source, source_ref, reason FROM quarantine ORDER BY source_ref")
    ref = f"{path.resolve()}:"
    assert quarantined == [
        ("cdr", ref + "2", "wrong column count: found 12 fields, expected 16 to 21 (cdr_csv)"),
        ("cdr", ref + "3",
         "bad field: start = '2026-03-03 9:10', expected a date-time like 2026-03-02 09:15:00"),
        ("cdr", ref + "4", "bad field: billsec = '12s', expected a number"),
        ("cdr", ref + "5", "unknown disposition: disposition = 'UNKNOWN', expected one of "
                           "ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION"),
        ("cdr", ref + "6", "end before start: end = '2026-03-03 09:20:00' is before "
                           "start = '2026-03-03 09:30:00'"),
        ("cdr", ref + "7", "missing field: answer is required when disposition is ANSWERED"),
        ("cdr", ref + "8", "bad field: answer = '2026-03-03 09:42:00', expected a time between "
                           "start = '2026-03-03 09:40:00' and end = '2026-03-03 09:41:00'"),
    ]
    raw = wh.sql("SELECT raw FROM quarantine WHERE source_ref = ?", [ref + "4"])[0][0]
    assert raw == (DATA / "bad_rows.csv").read_text().splitlines()[3]


def test_cdr_custom_rows_need_19_columns(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    good = (DATA / "cdr_custom.csv").read_text().splitlines()[0]
    path.write_text(good + "\n" + good.rsplit(",", 1)[0] + "\n")
    report = cdr.ingest(wh, path, IngestOptions())
    assert (report.loaded, report.rejected_total) == (1, 1)
    assert wh.sql("SELECT reason FROM quarantine") == [
        ("wrong column count: found 18 fields, expected 19 (cdr_custom default mapping)",)]


def test_strict_loads_nothing_from_a_batch_with_rejects(wh: Warehouse) -> None:
    report = cdr.ingest(wh, DATA / "bad_rows.csv", IngestOptions(strict=True))
    assert (report.loaded, report.rejected_total) == (0, 7)
    assert wh.count("calls") == 0
    assert wh.count("quarantine") == 7


def test_a_file_that_is_no_master_csv_is_an_error(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("date,number,seconds\n2026-03-02,84951234567,60\n")
    with pytest.raises(IngestError, match=r"export\.csv: not an Asterisk Master\.csv"):
        cdr.ingest(wh, path, IngestOptions())


def test_an_empty_file_loads_nothing_and_a_header_line_is_skipped(
    wh: Warehouse, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert cdr.ingest(wh, empty, IngestOptions()).loaded == 0

    with_header = tmp_path / "with_header.csv"
    header = ",".join(cdr._CUSTOM_COLUMNS)
    first = (DATA / "cdr_custom.csv").read_text().splitlines()[0]
    with_header.write_text(header + "\n" + first + "\n")
    report = cdr.ingest(wh, with_header, IngestOptions(tz="America/Sao_Paulo"))
    assert (report.loaded, report.skipped, report.rejected_total) == (1, 1, 0)


# -- time zones ---------------------------------------------------------------------------


def test_a_call_across_the_fall_back_hour(wh: Warehouse) -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:00-02:59 happens twice.
    # Start 02:50 (first pass, UTC+2) = 00:50 UTC; the end 02:10:10 can only be the second
    # pass (UTC+1) = 01:10:10 UTC: 20 min 10 s later, as duration 1210 says.
    path = DATA / "dst_fall_back.csv"
    cdr.ingest(wh, path, IngestOptions(tz="Europe/Berlin"))
    assert calls_by_line(wh, path)[1][4:9] == (
        T(2026, 10, 25, 0, 50, 0), T(2026, 10, 25, 0, 50, 10), T(2026, 10, 25, 1, 10, 10),
        10.0, 1200.0)


# -- masking ------------------------------------------------------------------------------


def _masked(number: str) -> str:
    return "anon:" + hashlib.sha256(("test-key" + number).encode()).hexdigest()[:16]


def test_masking_callers_and_quarantined_lines(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLKPI_MASK_KEY", "test-key")
    options = IngestOptions(tz="Europe/Moscow", mask_callers=True)
    cdr.ingest(wh, DATA / "cdr_csv.csv", options)
    cdr.ingest(wh, DATA / "bad_rows.csv", options)

    callers = {ref.rsplit("/", 1)[1]: caller
               for ref, caller in wh.sql("SELECT source_ref, caller FROM calls")}
    assert callers == {
        "cdr_csv.csv:1": _masked("84951234567"),
        "cdr_csv.csv:2": _masked("84957654321"),
        "cdr_csv.csv:3": _masked("84951112233"),
        "cdr_csv.csv:4": _masked("+74951230000"),
        "cdr_csv.csv:5": _masked("84959990000"),
        "cdr_csv.csv:8": _masked("84991112233"),
        "cdr_csv.csv:9": _masked("84991112233"),
        "bad_rows.csv:1": _masked("84951234567"),
    }
    # Rejected lines keep their shape, with every phone number masked.
    raws = dict(wh.sql("SELECT split_part(source_ref, ':', -1), raw FROM quarantine"))
    assert len(raws) == 7
    assert not any("84951234567" in raw for raw in raws.values())
    assert raws["3"].count(_masked("84951234567")) == 2  # dst and the Dial string
    # Channel names, times and uniqueids are not phone numbers.
    assert '"SIP/1001-00000004","SIP/trunk-00000005"' in raws["3"]
    assert '"2026-03-03 9:10","","2026-03-03 09:10:10",10,0' in raws["3"]
    assert '"1772529000.4"' in raws["3"]
