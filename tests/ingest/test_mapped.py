"""callkpi ingest mapped: mapping profiles, their expression language, and the shipped
profiles on real and example data."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callkpi.ingest import IngestError, IngestOptions, mapped
from callkpi.ingest.report import IngestReport
from callkpi.ingest.values import RowError
from callkpi.store import Warehouse

# ../shared beside the checkout (as tests/conftest.py finds it; importing it by name
# would be ambiguous with the other conftest modules).
SHARED_DATA = (Path(__file__).resolve().parents[3] / "shared" / "data").resolve()
BANK = SHARED_DATA / "anonymous-bank"
DATA = Path(__file__).parent / "data" / "mapped"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "mapping-profiles.md"
T = dt.datetime

# ======================================================================================
# Anonymous Bank (1999), both published months, through the shipped profile
# ======================================================================================

needs_bank = pytest.mark.skipif(not BANK.is_dir(), reason=f"{BANK} is not there")

# Computed independently of callkpi, with Python's csv module over the raw files (a
# throwaway script; the same rules the profile documents): a row with 17 tab-separated
# fields is a call; PHANTOM is skipped; AGENT is answered; HANG is abandoned when
# q_time > 0 or q_start != 0:00:00, else IVR-only. Sums are over the calls rows:
# wait = q_time, talk = ser_time of answered calls with a ser_start, ivr = vru_time >= 0.
# "ended next day": the end (ser_exit, or q_exit for an abandon) is more than 12 h before
# vru_entry as a time of day. Line numbers count the header as line 1.
BANK_EXPECTED: dict[str, dict[str, Any]] = {
    "january.txt": {
        "lines": 31600, "rows": 31599, "phantom": 240, "malformed_lines": [],
        "answered": 27060, "abandoned": 3101, "ivr_only": 1198,
        "answered_without_agent": 490, "answered_without_talk": 42,
        "wait_answered_s": 947857, "wait_abandoned_s": 188305, "abandoned_wait_0": 21,
        "talk_s": 4964204, "customer_unknown": 16942, "ivr_s_negative": 32,
        "ivr_s": 265480, "ended_next_day": 24,
    },
    "october.txt": {
        "lines": 34626, "rows": 34625, "phantom": 147, "malformed_lines": [7315, 14247],
        "answered": 30861, "abandoned": 2106, "ivr_only": 1509,
        "answered_without_agent": 517, "answered_without_talk": 23,
        "wait_answered_s": 715766, "wait_abandoned_s": 166021, "abandoned_wait_0": 17,
        "talk_s": 5558279, "customer_unknown": 24538, "ivr_s_negative": 4,
        "ivr_s": 325053, "ended_next_day": 38,
    },
}
BANK_OPTIONS = IngestOptions(mapping=Path("anonymous_bank"))
Bank = tuple[Warehouse, dict[str, IngestReport]]


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    """Both months loaded once into one warehouse (a few seconds)."""
    if not BANK.is_dir():
        pytest.skip(f"{BANK} is not there")
    warehouse = Warehouse(tmp_path_factory.mktemp("bank") / "bank.duckdb")
    reports = {name: mapped.ingest(warehouse, BANK / name, BANK_OPTIONS)
               for name in BANK_EXPECTED}
    yield warehouse, reports
    warehouse.close()


def _of(name: str) -> str:
    return f"%/{name}:%"


@needs_bank
@pytest.mark.parametrize("name", list(BANK_EXPECTED))
def test_bank_loads_every_call_as_what_it_is(bank: Bank, name: str) -> None:
    wh, reports = bank
    want = BANK_EXPECTED[name]
    report = reports[name]
    calls = want["answered"] + want["abandoned"]
    ivr_steps = calls + want["ivr_only"]
    assert report.source == "mapped:anonymous_bank"
    assert report.lines_read == want["lines"]
    assert report.loaded == calls + ivr_steps
    assert report.skipped == want["phantom"] + 1  # + the header
    assert report.rejected_total == len(want["malformed_lines"])
    assert report.duplicates == 0
    assert f"skipped {want['phantom']} rows by skip rule 'phantom'" in report.notes
    assert (want["rows"] == calls + want["ivr_only"] + want["phantom"]
            + len(want["malformed_lines"]))

    by_outcome = dict(wh.sql("SELECT outcome, count(*) FROM calls WHERE source_ref LIKE ? "
                             "GROUP BY ALL", [_of(name)]))
    assert by_outcome == {"answered": want["answered"], "abandoned": want["abandoned"]}
    by_result = dict(wh.sql("SELECT result, count(*) FROM ivr_steps WHERE source_ref LIKE ? "
                            "GROUP BY ALL", [_of(name)]))
    assert by_result == {"to_queue": calls, "self_served": want["ivr_only"]}


@needs_bank
@pytest.mark.parametrize("name", list(BANK_EXPECTED))
def test_bank_measures_add_up(bank: Bank, name: str) -> None:
    wh, _ = bank
    want = BANK_EXPECTED[name]
    (row,) = wh.sql(
        """SELECT
             count(*) FILTER (outcome = 'answered' AND agent IS NULL),
             count(*) FILTER (outcome = 'answered' AND talk_s IS NULL),
             sum(wait_s) FILTER (outcome = 'answered'),
             sum(wait_s) FILTER (outcome = 'abandoned'),
             count(*) FILTER (outcome = 'abandoned' AND wait_s = 0),
             sum(talk_s), count(*) FILTER (customer_id IS NULL),
             count(*) FILTER (ivr_s IS NULL), sum(ivr_s),
             -- Israel was on UTC+2 in January and October 1999
             count(*) FILTER (CAST(ended_at + INTERVAL 2 HOUR AS DATE)
                              > CAST(entered_at + INTERVAL 2 HOUR AS DATE)),
             count(*) FILTER (ended_at < entered_at OR ended_at < answered_at),
             count(*) FILTER (outcome = 'abandoned' AND (agent IS NOT NULL
                              OR answered_at IS NOT NULL OR talk_s IS NOT NULL)),
             count(*) FILTER (outcome = 'answered' AND talk_s IS NOT NULL
                              AND epoch(ended_at - answered_at) <> talk_s)
           FROM calls WHERE source_ref LIKE ?""",
        [_of(name)],
    )
    assert row == (
        want["answered_without_agent"], want["answered_without_talk"],
        want["wait_answered_s"], want["wait_abandoned_s"], want["abandoned_wait_0"],
        want["talk_s"], want["customer_unknown"], want["ivr_s_negative"], want["ivr_s"],
        want["ended_next_day"], 0, 0, 0,
    )


@needs_bank
def test_bank_call_ids_are_unique_across_both_months(bank: Bank) -> None:
    # The file's call_id repeats within a month (7,936 values in January), so the
    # profile's call_id is date-vru+line-call_id.
    wh, _ = bank
    for table in ("calls", "ivr_steps"):
        (total, distinct), = wh.sql(f"SELECT count(*), count(DISTINCT call_id) FROM {table}")
        assert total == distinct
    assert wh.count("calls") == 30161 + 32967
    assert wh.count("ivr_steps") == 31359 + 34476


@needs_bank
def test_bank_malformed_rows_are_quarantined_with_line_and_reason(bank: Bank) -> None:
    wh, _ = bank
    rows = wh.sql("SELECT source, source_ref, reason, raw FROM quarantine ORDER BY source_ref")
    assert [(source, ref, reason) for source, ref, reason, _ in rows] == [
        ("mapped:anonymous_bank", f"{BANK / 'october.txt'}:14247",
         "wrong column count: found 16 fields, expected 17 (the header)"),
        ("mapped:anonymous_bank", f"{BANK / 'october.txt'}:7315",
         "wrong column count: found 16 fields, expected 17 (the header)"),
    ]
    assert rows[1][3].startswith("AA0108\t3892\t0\t0       NW\t991026")


@needs_bank
def test_bank_reingest_loads_nothing_new(bank: Bank) -> None:
    wh, _ = bank
    before = wh.count("calls"), wh.count("ivr_steps"), wh.count("quarantine")
    for name in BANK_EXPECTED:
        again = mapped.ingest(wh, BANK / name, BANK_OPTIONS)
        assert (again.lines_read, again.loaded, again.rejected_total) == (0, 0, 0)
    assert (wh.count("calls"), wh.count("ivr_steps"), wh.count("quarantine")) == before


@needs_bank
def test_bank_rows_read_again_elsewhere_are_duplicates(bank: Bank, tmp_path: Path) -> None:
    # Idempotent by key, not only by file offset: the head of january.txt under another
    # name loads nothing new.
    wh, _ = bank
    head = tmp_path / "january-head.txt"
    with (BANK / "january.txt").open("rb") as src:
        head.write_bytes(b"".join(src.readline() for _ in range(201)))
    before = wh.count("calls"), wh.count("ivr_steps")
    report = mapped.ingest(wh, head, BANK_OPTIONS)
    assert report.loaded == 0
    assert report.duplicates > 200  # 200 rows -> a calls and an ivr_steps row each, or one
    assert (wh.count("calls"), wh.count("ivr_steps")) == before


CALL_COLUMNS = ("call_id, segment, direction, channel, agent, customer_id, call_type, "
                "entered_at, answered_at, ended_at, outcome, wait_s, talk_s, ivr_s, "
                "transferred, tenant, source, source_ref")


def _call(wh: Warehouse, call_id: str) -> dict[str, Any]:
    rows = wh.sql(f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?", [call_id])
    assert len(rows) == 1, call_id
    return dict(zip([c.strip() for c in CALL_COLUMNS.split(",")], rows[0], strict=True))


def _ivr(wh: Warehouse, call_id: str) -> tuple[Any, ...]:
    (row,) = wh.sql("SELECT call_id, seq, node, option, \"at\", result, source_ref FROM ivr_steps "
                    "WHERE call_id = ?", [call_id])
    return row


def _expected_call(line: int, **fields: Any) -> dict[str, Any]:
    base = {"segment": 1, "direction": "in", "channel": "voice", "transferred": False,
            "tenant": None, "source": "mapped:anonymous_bank",
            "source_ref": f"{BANK / 'january.txt'}:{line}"}
    return base | fields


# Hand-checked from the raw lines of january.txt (local times are UTC+2):
@needs_bank
def test_bank_served_call(bank: Bank) -> None:
    # line 4: AA0101 33118 27997683 2 PS 990101 6:55:20 6:55:26 6 6:55:26 6:55:43 17
    #         AGENT 6:55:43 6:56:37 54 MICHAL
    wh, _ = bank
    assert _call(wh, "990101-AA0101-33118") == _expected_call(
        4, call_id="990101-AA0101-33118", agent="MICHAL", customer_id="27997683",
        call_type="PS", entered_at=T(1999, 1, 1, 4, 55, 26),
        answered_at=T(1999, 1, 1, 4, 55, 43), ended_at=T(1999, 1, 1, 4, 56, 37),
        outcome="answered", wait_s=17.0, talk_s=54.0, ivr_s=6.0)
    assert _ivr(wh, "990101-AA0101-33118") == (
        "990101-AA0101-33118", 1, "vru", "PS", T(1999, 1, 1, 4, 55, 20), "to_queue",
        f"{BANK / 'january.txt'}:4")


@needs_bank
def test_bank_call_served_without_queueing(bank: Bank) -> None:
    # line 5: AA0101 33119 0 0 PS 990101 7:41:16 7:41:26 10 0:00:00 0:00:00 0
    #         AGENT 7:41:25 7:44:53 208 BASCH
    # Never queued: the visit starts at the earlier of vru_exit and ser_start (the two
    # systems' clocks are a second apart), so it is not answered before it began.
    wh, _ = bank
    assert _call(wh, "990101-AA0101-33119") == _expected_call(
        5, call_id="990101-AA0101-33119", agent="BASCH", customer_id=None, call_type="PS",
        entered_at=T(1999, 1, 1, 5, 41, 25), answered_at=T(1999, 1, 1, 5, 41, 25),
        ended_at=T(1999, 1, 1, 5, 44, 53), outcome="answered", wait_s=0.0, talk_s=208.0,
        ivr_s=10.0)


@needs_bank
def test_bank_abandoned_call(bank: Bank) -> None:
    # line 2: AA0101 33116 9664491 2 PS 990101 0:00:31 0:00:36 5 0:00:36 0:03:09 153
    #         HANG 0:00:00 0:00:00 0 NO_SERVER  (New Year's night: 1998 in UTC)
    wh, _ = bank
    assert _call(wh, "990101-AA0101-33116") == _expected_call(
        2, call_id="990101-AA0101-33116", agent=None, customer_id="9664491", call_type="PS",
        entered_at=T(1998, 12, 31, 22, 0, 36), answered_at=None,
        ended_at=T(1998, 12, 31, 22, 3, 9), outcome="abandoned", wait_s=153.0, talk_s=None,
        ivr_s=5.0)


@needs_bank
def test_bank_ivr_only_call(bank: Bank) -> None:
    # line 3: AA0101 33117 0 0 PS 990101 0:34:12 0:34:23 11 0:00:00 0:00:00 0
    #         HANG 0:00:00 0:00:00 0 NO_SERVER -> no queue visit, an IVR step
    wh, _ = bank
    assert wh.count("calls", "call_id = ?", ["990101-AA0101-33117"]) == 0
    assert _ivr(wh, "990101-AA0101-33117") == (
        "990101-AA0101-33117", 1, "vru", "PS", T(1998, 12, 31, 22, 34, 12), "self_served",
        f"{BANK / 'january.txt'}:3")


@needs_bank
def test_bank_call_past_midnight(bank: Bank) -> None:
    # line 3080: AA0103 24076 59184945 1 PS 990102 23:56:07 23:56:12 5 23:56:12 23:58:01
    #            109 AGENT 23:58:00 0:01:08 188 YITZ -> ser_exit is on January 3rd
    wh, _ = bank
    assert _call(wh, "990102-AA0103-24076") == _expected_call(
        3080, call_id="990102-AA0103-24076", agent="YITZ", customer_id="59184945",
        call_type="PS", entered_at=T(1999, 1, 2, 21, 56, 12),
        answered_at=T(1999, 1, 2, 21, 58, 0), ended_at=T(1999, 1, 2, 22, 1, 8),
        outcome="answered", wait_s=109.0, talk_s=188.0, ivr_s=5.0)


# ======================================================================================
# The generic ACD interval profile
# ======================================================================================

ACD = DATA / "acd_interval.csv"
ACD_COLUMNS = ("queue, interval_start, interval_s, offered, answered, abandoned, "
               "short_abandoned, answered_within_threshold, threshold_s, wait_s_sum, "
               "abandon_wait_s_sum, max_wait_s, talk_s_sum, hold_s_sum, acw_s_sum, "
               "transferred, staffed_agent_s, tenant")


def test_acd_interval_averages_become_sums(wh: Warehouse) -> None:
    report = mapped.ingest(wh, ACD, IngestOptions(mapping=Path("generic_acd_interval"),
                                                  tenant="acme"))
    assert (report.loaded, report.skipped, report.rejected_total) == (4, 2, 1)
    assert report.notes == ["skipped 1 row by skip rule 'totals'"]
    rows = wh.sql(f"SELECT {ACD_COLUMNS} FROM queue_intervals ORDER BY interval_start, queue")
    # By hand from the file: sums = average x count (billing 08:00: 14.5 s x 38 answered
    # = 551 s wait, 33.25 x 4 = 133, 245.5 x 38 = 9329 talk, 12 x 38 = 456 hold,
    # 35.5 x 38 = 1349 ACW; 9.5 agents x 1800 s = 17100 agent-seconds).
    assert rows == [
        ("billing", T(2026, 3, 2, 8, 0), 1800, 42, 38, 4, 1, 31, 20.0,
         551.0, 133.0, 71.0, 9329.0, 456.0, 1349.0, 3, 17100.0, "acme"),
        ("sales", T(2026, 3, 2, 8, 0), 1800, 17, 17, 0, 0, 17, 20.0,
         102.0, 0.0, 19.0, 5270.0, 0.0, 680.0, 0, 7200.0, "acme"),
        ("billing", T(2026, 3, 2, 8, 30), 1800, 55, 47, 8, 2, 30, 20.0,
         1316.0, 332.0, 118.0, 11186.0, 493.5, 1551.0, 5, 18000.0, "acme"),
        # no calls: empty averages give sums of 0, not null
        ("sales", T(2026, 3, 2, 8, 30), 1800, 0, 0, 0, 0, 0, 20.0,
         0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 6300.0, "acme"),
    ]
    ((ref, reason),) = wh.sql("SELECT source_ref, reason FROM quarantine")
    assert ref == f"{ACD}:6"
    assert reason == "bad field: offered = 'n/a', expected a number"


def test_acd_interval_tz_overrides_the_profile_zone(wh: Warehouse) -> None:
    mapped.ingest(wh, ACD, IngestOptions(mapping=Path("generic_acd_interval"),
                                         tz="Europe/Berlin"))
    starts = [r[0] for r in wh.sql("SELECT DISTINCT interval_start FROM queue_intervals "
                                   "ORDER BY 1")]
    assert starts == [T(2026, 3, 2, 7, 0), T(2026, 3, 2, 7, 30)]  # CET is UTC+1


def test_full_reread_of_the_same_rows_changes_nothing(wh: Warehouse, tmp_path: Path) -> None:
    options = IngestOptions(mapping=Path("generic_acd_interval"))
    mapped.ingest(wh, ACD, options)
    copy = tmp_path / "again.csv"
    shutil.copy(ACD, copy)
    again = mapped.ingest(wh, copy, options)
    assert (again.loaded, again.updated, again.duplicates) == (0, 0, 4)
    assert wh.count("queue_intervals") == 4


# ======================================================================================
# A profile of one's own: no header, another delimiter, encoding and zone
# ======================================================================================

CRM_PROFILE = """
name: crm_calls
delimiter: semicolon
encoding: cp1251
header: no
source_columns: [id, started, answered, ended, agent, phone, result]
time_zone: Europe/Moscow
time_formats: ["%d.%m.%Y %H:%M:%S"]
value_maps:
  result: {OK: answered, ABANDON: abandoned}
derived:
  started_at: "datetime(started)"
  answered_at: "datetime(answered)"
targets:
  - table: calls
    constants: {segment: 1, direction: in, transferred: no}
    columns: {call_id: id, agent: agent, caller: phone, entered_at: started_at,
              answered_at: answered_at}
    expressions:
      ended_at: "datetime(ended)"
      outcome: "lookup('result', result)"
      wait_s: "coalesce(answered_at, datetime(ended)) - started_at"
"""


def test_own_profile_without_header(wh: Warehouse, tmp_path: Path) -> None:
    profile = tmp_path / "crm.yaml"
    profile.write_text(CRM_PROFILE, encoding="utf-8")
    report = mapped.ingest(wh, DATA / "crm_calls_cp1251.txt",
                           IngestOptions(mapping=profile, tenant="acme", mask_callers=True))
    assert (report.source, report.loaded, report.skipped) == ("mapped:crm_calls", 2, 0)
    rows = wh.sql("SELECT call_id, agent, entered_at, answered_at, ended_at, outcome, wait_s, "
                  "tenant, channel, caller LIKE 'anon:%' FROM calls ORDER BY call_id")
    assert rows == [  # Moscow is UTC+3
        ("1001", "Иванова", T(2026, 3, 2, 6, 0, 5), T(2026, 3, 2, 6, 0, 25),
         T(2026, 3, 2, 6, 4, 10), "answered", 20.0, "acme", None, True),
        ("1002", None, T(2026, 3, 2, 6, 1), None, T(2026, 3, 2, 6, 1, 40), "abandoned", 40.0,
         "acme", None, True),
    ]
    ((ref, reason),) = wh.sql("SELECT source_ref, reason FROM quarantine")
    assert ref.endswith("crm_calls_cp1251.txt:3")
    assert reason == "bad field: result = 'WEIRD', expected one of OK, ABANDON (value map result)"


def test_strict_rolls_back_a_batch_with_a_reject(wh: Warehouse, tmp_path: Path) -> None:
    profile = tmp_path / "crm.yaml"
    profile.write_text(CRM_PROFILE, encoding="utf-8")
    report = mapped.ingest(wh, DATA / "crm_calls_cp1251.txt",
                           IngestOptions(mapping=profile, strict=True))
    assert report.loaded == 0
    assert wh.count("calls") == 0
    assert wh.count("quarantine") == 1


def test_values_follow_the_rules_of_canonical_records(wh: Warehouse, tmp_path: Path) -> None:
    profile = tmp_path / "ivr.yaml"
    profile.write_text(
        "targets:\n  - table: ivr_steps\n    constants: {node: menu}\n"
        "    columns: {call_id: id, seq: seq, result: result}\n"
        "    expressions: {at: \"datetime('2026-03-02 09:00:00')\"}\n", encoding="utf-8")
    source = tmp_path / "ivr.csv"
    source.write_text("id,seq,result\n1,1,self_served\n2,1,selfserved\n3,1,TO_QUEUE\n"
                      "4,-1,hung_up\n", encoding="utf-8")
    report = mapped.ingest(wh, source, IngestOptions(mapping=profile))
    assert (report.loaded, report.rejected_total) == (2, 2)
    assert wh.sql("SELECT call_id, result FROM ivr_steps ORDER BY 1") == [
        ("1", "self_served"), ("3", "to_queue")]
    assert [r[0] for r in wh.sql("SELECT reason FROM quarantine ORDER BY source_ref")] == [
        "bad field: ivr_steps.result = 'selfserved', expected one of: self_served, to_queue, "
        "hung_up",
        "bad field: ivr_steps.seq = '-1', expected a number of at least 0",
    ]


# ======================================================================================
# Finding and validating profiles
# ======================================================================================


def test_shipped_profiles_are_found_by_name() -> None:
    assert mapped.shipped_profiles() == ["anonymous_bank", "generic_acd_interval"]
    for name in mapped.shipped_profiles():
        for given in (name, f"{name}.yaml", Path(name)):
            profile, where = mapped.load_profile(given)
            assert profile.name == name
            assert where.endswith(f"profiles/{name}.yaml")


def test_missing_profile_names_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"mapping profile .*nope\.yaml: no such file, and "
                       r"not a shipped profile \(shipped: anonymous_bank, generic_acd_interval\)"):
        mapped.load_profile(tmp_path / "nope.yaml")
    with pytest.raises(IngestError, match="needs a mapping profile"):
        mapped.load_profile(None)


def test_profile_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "my_acd.yaml"
    path.write_text("targets: [{table: agents, columns: {agent: id}}]\n", encoding="utf-8")
    profile, where = mapped.load_profile(path)
    assert (profile.name, where) == ("my_acd", str(path))


IVR = "  - table: ivr_steps\n    columns: {call_id: a, seq: b, node: c, at: d}\n"

BAD_PROFILES = [
    ("targets:\n  - table: calls\n    colums: {call_id: x}\n",
     "targets[0].colums: unknown key; expected one of: table, when, columns, expressions, "
     "constants"),
    ("delimter: tab\ntargets:\n" + IVR,
     "delimter: unknown key; expected one of: name, description, delimiter,"),
    ("targets: [{table: callz}]\n", "targets[0].table: unknown table 'callz'; expected one of: "
     "calls, "),
    ("targets:\n  - table: ivr_steps\n    columns: {call_id: a, seq: b, node: c, at: d, "
     "agnt: e}\n", "targets[0].columns.agnt: table ivr_steps has no column 'agnt'; its "
     "columns: call_id, seq, node, option, at, result"),
    ("targets:\n  - table: ivr_steps\n    columns: {call_id: a}\n",
     "targets[0]: table ivr_steps needs required column(s) seq, node, at"),
    ("targets:\n" + IVR + "    constants: {call_id: x}\n",
     "targets[0].constants.call_id: call_id is also set in columns"),
    ("targets:\n" + IVR + "    columns: {source: x}\n",
     "targets[0].columns.source: source is set by callkpi"),
    ("targets:\n" + IVR + "    expressions: {result: \"__import__('os').system('ls')\"}\n",
     "targets[0].expressions.result: attribute access ('.') is not allowed"),
    ("targets:\n" + IVR + "    expressions: {result: \"evaluate(a)\"}\n",
     "targets[0].expressions.result: unknown function 'evaluate'; known: coalesce, "),
    ("targets:\n" + IVR + "    expressions: {result: \"concat(a\"}\n",
     "targets[0].expressions.result: not a valid expression"),
    ("targets:\n" + IVR + "    expressions: {result: \"lookup('codes', a)\"}\n",
     "targets[0].expressions.result: value map 'codes' is not defined under value_maps"),
    ("targets:\n" + IVR + "    expressions: {result: \"lookup(codes, a)\"}\n",
     "lookup() needs a value map's name in quotes first"),
    ("targets:\n" + IVR + "    constants: {option: [1, 2]}\n",
     "targets[0].constants.option:"),
    ("targets:\n  - table: calls\n    columns: {call_id: a, entered_at: b, outcome: c}\n"
     "    constants: {segment: 1, direction: inbound, transferred: false}\n",
     "targets[0].constants.direction: calls.direction = 'inbound', expected one of: in, out"),
    ("targets:\n  - table: ivr_steps\n    columns: {call_id: a b, seq: b, node: c, at: d}\n",
     "targets[0].columns.call_id: 'a b' is not a usable name"),
    ("time_zone: Mars/Base\ntargets:\n" + IVR, "time_zone: unknown time zone 'Mars/Base'"),
    ("encoding: klingon\ntargets:\n" + IVR, "encoding: unknown encoding 'klingon'"),
    ("delimiter: ';;'\ntargets:\n" + IVR,
     "delimiter: expected one character or one of tab, comma, semicolon, pipe, space"),
    ("header: no\ntargets:\n" + IVR,
     "header is no, so source_columns must name the file's columns"),
    ("value_maps: {codes: {yes: 1}}\ntargets:\n" + IVR,
     "value_maps.codes.True: YAML reads yes/no/true/false/on/off as true or false; put the "
     "source value in quotes"),
    ("skip: [{name: totals}]\ntargets:\n" + IVR, "skip[0].when: required key is missing"),
    ("derived: {from: a}\ntargets:\n" + IVR, "derived.from: 'from' is not a usable name"),
    ("name: x\n", "targets: required key is missing"),
    ("targets: [\n", "not valid YAML"),
    ("- just a list\n", "expected a mapping of keys"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PROFILES)
def test_bad_profiles_are_refused_naming_file_and_key(tmp_path: Path, text: str,
                                                      message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        mapped.load_profile(path)
    assert str(caught.value).startswith(f"mapping profile {path}: ")
    assert message in str(caught.value)


def test_unknown_column_is_refused_before_loading(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "acd.yaml"
    _, shipped = mapped.load_profile("generic_acd_interval")
    text = Path(shipped).read_text(encoding="utf-8")
    path.write_text(text.replace("avg_talk_time_s * answered", "avg_talktime_s * answered"),
                    encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        mapped.ingest(wh, ACD, IngestOptions(mapping=path))
    assert str(caught.value).startswith(
        f"mapping profile {path}: targets[0].expressions.talk_s_sum: unknown name "
        "'avg_talktime_s'; acd_interval.csv has columns interval_start, interval_min, queue,")
    assert wh.count("queue_intervals") == 0


@pytest.mark.parametrize("name", ["anonymous_bank", "generic_acd_interval"])
def test_shipped_profiles_are_data_documented_in_the_guide(name: str) -> None:
    profile, _ = mapped.load_profile(name)
    assert profile.description
    assert f"`{name}`" in DOCS.read_text(encoding="utf-8")


def test_every_profile_key_and_function_is_documented() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    keys = [*mapped.Profile.model_fields, *mapped.Target.model_fields,
            *mapped.SkipRule.model_fields]
    undocumented = [k for k in keys if f"`{k}`" not in doc]
    undocumented += [f for f in mapped.FUNCTIONS if f"`{f}(" not in doc]
    assert undocumented == []


# ======================================================================================
# The expression language
# ======================================================================================

ENV = mapped.Env(value_maps={"codes": {"A": "answered", "1": "one"}},
                 time_formats=("%y%m%d %H:%M:%S", "%d.%m.%Y"), derived={})
ROW = {"code": "A", "n": "12", "x": 2.5, "empty": None, "date": "990101",
       "time": "23:59:50", "late": "0:00:10", "text": "abc"}


def _eval(text: str, row: dict[str, Any] | None = None) -> Any:
    return mapped.compile_expression(text).evaluate(mapped.Scope(dict(row or ROW), ENV))


@pytest.mark.parametrize(("text", "value"), [
    ("n + 1", 13.0),                      # text that is a number counts as one
    ("n * x - 1", 29.0),
    ("n / 0", None),                      # no division by zero: null
    ("empty + 1", None),                  # null in, null out
    ("-n", -12.0),
    ("n > 5 and code == 'A'", True),
    ("n == 12", True),
    ("n == '12'", True),
    ("text == 12", False),
    ("empty == null", True),
    ("empty != null", False),
    ("empty > 1", None),
    ("1 < n < 20", True),
    ("code in ('A', 'B')", True),
    ("code not in ('A', 'B')", False),
    ("n in (12, 13)", True),
    ("not empty", True),
    ("'yes' if n > 100 else 'no'", "no"),
    ("coalesce(empty, code)", "A"),
    ("coalesce(empty)", None),
    ("nullif(code, 'B', 'A')", None),
    ("nullif(n, 0)", "12"),
    ("concat(date, '-', empty, n, '-', x)", "990101-12-2.5"),
    ("concat(n + 3)", "15"),
    ("lookup('codes', code)", "answered"),
    ("lookup('codes', 1)", "one"),
    ("lookup('codes', 'Z', 'other')", "other"),
    ("lookup('codes', empty)", None),
    ("least(3, empty, n, 2.5)", 2.5),
    ("greatest(empty, n, '3')", 12.0),
    ("least(empty)", None),
    ("number(n)", 12.0),
    ("datetime(date, time)", T(1999, 1, 1, 23, 59, 50)),
    ("datetime('02.03.2026')", T(2026, 3, 2)),
    ("datetime(empty)", None),
    ("roll_past_midnight(datetime(date, late), datetime(date, time))", T(1999, 1, 2, 0, 0, 10)),
    ("roll_past_midnight(datetime(date, '23:59:40'), datetime(date, time))",
     T(1999, 1, 1, 23, 59, 40)),  # seconds before the start: clock skew, same day
    ("datetime(date, time) - datetime(date, '23:00:00')", 3590.0),
    ("datetime(date, time) + 20", T(1999, 1, 2, 0, 0, 10)),
    ("null", None),
    ("true and not false", True),
])
def test_expressions(text: str, value: Any) -> None:
    assert _eval(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("lookup('codes', text)",
     "bad field: text = 'abc', expected one of A, 1 (value map codes)"),
    ("text + 1", "bad field: text = 'abc', expected a number"),
    ("text > 1", "bad field: text = 'abc', expected a number"),
    ("datetime(text)", "bad field: text = 'abc', expected a date-time as %y%m%d %H:%M:%S or "
                       "%d.%m.%Y"),
    ("datetime(date, text)", "bad field: date + text = '990101 abc', expected a date-time"),
    ("roll_past_midnight(n, datetime(date, time))", "bad field: n = '12', expected a date-time"),
])
def test_expression_errors_reject_the_row_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(RowError) as caught:
        _eval(text)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os')", "unknown function '__import__'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("code.upper()", "attribute access ('.') is not allowed"),
    ("().__class__", "attribute access ('.') is not allowed"),
    ("ROW['code']", "indexing ('[...]') is not allowed"),
    ("(lambda: 1)()", "a lambda is not allowed"),
    ("[c for c in code]", "a comprehension is not allowed"),
    ("n ** 2", "operator in 'n ** 2' is not allowed"),
    ("n is None", "comparison in 'n is None' is not allowed"),
    ("code in codes", "'in' needs a list of literals"),
    ("f'{code}'", "an f-string is not allowed"),
    ("concat(*code)", "a '*' argument is not allowed"),
    ("coalesce(code, default=1)", "coalesce() takes no keyword arguments"),
    ("nullif(code)", "nullif() takes 2 or more arguments, found 1"),
    ("roll_past_midnight(code)", "roll_past_midnight() takes 2 arguments, found 1"),
    ("lookup('a', b, c, d)", "lookup() takes 2 to 3 arguments, found 4"),
    ("x = 1", "not a valid expression"),
    ("", "empty expression"),
])
def test_expressions_outside_the_whitelist_are_refused(text: str, message: str) -> None:
    with pytest.raises(mapped.ExpressionError, match=re.escape(message)):
        mapped.compile_expression(text)


def test_compiled_expression_knows_its_names_and_maps() -> None:
    expression = mapped.compile_expression("lookup('codes', code) if n > null else concat(x)")
    assert expression.names == {"code", "n", "x"}
    assert expression.value_maps == {"codes"}


@pytest.mark.parametrize(("header", "name"), [
    ("vru+line", "vru_line"),
    (" Avg Speed Ans ", "Avg_Speed_Ans"),
    ("\ufeffcall_id", "call_id"),
    ("15min", "_15min"),
    ("from", "from_"),
    ("null", "null_"),
    ("%", "column_3"),
    ("Длительность", "Длительность"),
])
def test_header_names_become_expression_names(header: str, name: str) -> None:
    assert mapped.identifier(header, 3) == name
