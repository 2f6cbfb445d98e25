"""callkpi ingest <table>: canonical CSV, JSON arrays and JSON Lines."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from callkpi.ingest import IngestError, IngestOptions, records
from callkpi.model import LOADABLE_TABLES, RECORD_TABLES, TABLES
from callkpi.store import Warehouse

DATA = Path(__file__).parent / "data" / "records"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "records.md"
UTC = IngestOptions()

T = dt.datetime
D = dt.date

# Per table: the fixture, the columns to read back (ordered by the key) and the rows
# expected, worked out by hand from the fixture.
LOADS: dict[str, tuple[str, str, list[tuple[object, ...]]]] = {
    "calls": (
        "calls.csv",
        "call_id, segment, direction, channel, queue, agent, caller, entered_at, answered_at, "
        "ended_at, outcome, wait_s, talk_s, transferred, transfer_target, resolved",
        [
            ("c1", 1, "in", "voice", "support", "a1", "+74950000001", T(2026, 10, 1, 9, 0, 0),
             T(2026, 10, 1, 9, 0, 20), T(2026, 10, 1, 9, 5, 20), "answered", 20.0, 300.0, True,
             "sales@from-queue", False),
            ("c1", 2, "in", "voice", "sales", "a2", "+74950000001", T(2026, 10, 1, 9, 5, 20),
             T(2026, 10, 1, 9, 5, 30), T(2026, 10, 1, 9, 8, 30), "answered", 10.0, 180.0, False,
             None, True),
            # segment defaults to 1; +03:00 is honoured
            ("c2", 1, "out", "voice", None, "a3", "+74950000002", T(2026, 10, 1, 7, 0, 0), None,
             T(2026, 10, 1, 7, 0, 30), "no_answer", None, None, False, None, None),
        ],
    ),
    "agents": (
        "agents.csv",  # semicolons, decimal comma
        "agent, name, team, tenant, hire_date, exit_date, hourly_cost",
        [
            ("a1", "Anna Ivanova", "T1", None, D(2025, 3, 1), None, 12.5),
            ("a2", "Boris Petrov", "T1", "beta", D(2024, 11, 15), D(2026, 9, 30), 11.0),
        ],
    ),
    "schedules": (
        "schedules.tsv",
        "agent, activity, start_at, end_at",
        [
            ("a1", "lunch", T(2026, 10, 1, 13, 0), T(2026, 10, 1, 14, 0)),
            ("a1", "work", T(2026, 10, 1, 9, 0), T(2026, 10, 1, 13, 0)),
        ],
    ),
    "absences": (
        "absences.csv",
        "agent, date, scheduled_hours, absent_hours, reason",
        [("a1", D(2026, 10, 1), 8.0, 0.0, None), ("a2", D(2026, 10, 1), 8.0, 8.0, "sick")],
    ),
    "dispositions": (
        "dispositions.csv",
        "call_id, agent, wrap_code, resolved, escalated, recorded_at",
        [
            ("c1", "a2", "sale", True, False, T(2026, 10, 1, 9, 9)),
            ("c2", None, "callback", None, None, None),
        ],
    ),
    "ivr_steps": (
        "ivr_steps.csv",
        "call_id, seq, node, option, \"at\", result",
        [
            ("c1", 1, "main_menu", "2", T(2026, 10, 1, 8, 59, 50), None),
            ("c1", 2, "support_menu", "1", T(2026, 10, 1, 8, 59, 58), "to_queue"),
        ],
    ),
    "dials": (
        "dials.csv",
        "attempt_id, lead_id, campaign, agent, dialed_at, connected, talk_s, disposition",
        [
            ("d1", "L1", "autumn", "a3", T(2026, 10, 1, 10, 0), False, None, "no_answer"),
            ("d2", "L1", "autumn", "a3", T(2026, 10, 2, 10, 0), True, 95.5, "sale"),
        ],
    ),
    "leads": (
        "leads.csv",
        "lead_id, campaign, source_channel, created_at, first_contact_at, stage, stage_changed_at",
        [("L1", "autumn", "web", T(2026, 9, 30, 18, 0), T(2026, 10, 1, 10, 0), "won",
          T(2026, 10, 2, 10, 5))],
    ),
    "deals": (
        "deals.csv",
        "deal_id, lead_id, customer_id, agent, campaign, opened_at, closed_at, status, amount, "
        "currency, product",
        [
            ("D1", "L1", "C1", "a3", "autumn", T(2026, 10, 2, 10, 1), T(2026, 10, 2, 10, 5),
             "won", 1200.5, "RUB", "premium"),
            ("D2", "L2", None, "a3", "autumn", T(2026, 10, 2, 11, 0), None, "open", None, None,
             None),
        ],
    ),
    "customers": (
        "customers.csv",
        "customer_id, segment, acquired_at, churned_at",
        [("C1", "retail", T(2026, 10, 2, 10, 5), None)],
    ),
    "surveys": (
        "surveys.csv",
        "survey_id, call_id, agent, kind, score, scale_max, answered_at",
        [
            ("S1", "c1", "a1", "csat", 4.0, 5.0, T(2026, 10, 1, 9, 10)),
            ("S2", "c1", "a1", "nps", 9.0, 10.0, T(2026, 10, 1, 9, 11)),  # NPS -> nps
        ],
    ),
    "costs": (
        "costs.csv",
        "tenant, campaign, period_start, period_end, category, amount, currency",
        [
            ("acme", "autumn", D(2026, 10, 1), D(2026, 10, 31), "salary", 150000.0, "RUB"),
            ("acme", None, D(2026, 10, 1), D(2026, 10, 31), "telephony", 12000.75, "RUB"),
        ],
    ),
}


@pytest.fixture(scope="module")
def module_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    warehouse = Warehouse(tmp_path_factory.mktemp("records") / "test.duckdb")
    yield warehouse
    warehouse.close()


@pytest.fixture
def wh(module_wh: Warehouse) -> Warehouse:
    """An empty warehouse. One DuckDB file serves the module, emptied for each test:
    creating a file per test would take most of this module's run time."""
    for table in (*LOADABLE_TABLES, "quarantine", "ingest_files", "ingest_batches"):
        module_wh.con.execute(f'DELETE FROM "{table}"')
    return module_wh


def read_back(wh: Warehouse, table: str, columns: str) -> list[tuple[object, ...]]:
    key = ", ".join(records.SPECS[table].key)
    return wh.sql(f"SELECT {columns} FROM {table} ORDER BY {key}")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def quarantined(wh: Warehouse) -> list[tuple[object, ...]]:
    return wh.sql("SELECT source, source_ref, reason FROM quarantine ORDER BY source_ref")


# -- loading ----------------------------------------------------------------------------------


def test_the_loads_cover_every_records_table() -> None:
    assert set(LOADS) == set(RECORD_TABLES)


@pytest.mark.parametrize("table", list(LOADS))
def test_each_table_loads_from_a_small_csv(wh: Warehouse, table: str) -> None:
    fixture, columns, expected = LOADS[table]
    report = records.ingest(wh, DATA / fixture, UTC, table.replace("_", "-"))
    assert (report.loaded, report.rejected_total, report.skipped) == (len(expected), 0, 1)
    assert report.source == f"records:{table}"
    rows = read_back(wh, table, columns)
    assert rows == expected
    # exact equality above also pins the Python types DuckDB returns
    assert [type(v) for v in rows[0]] == [type(v) for v in expected[0]]
    lineage = wh.sql(f"SELECT DISTINCT source FROM {table}")
    assert lineage == [("records",)]
    first_ref = wh.sql(f"SELECT min(source_ref) FROM {table}")[0][0]
    assert first_ref == f"{DATA / fixture}:2"


@pytest.mark.parametrize("fixture", ["deals.json", "deals.jsonl"])
def test_json_array_and_json_lines(wh: Warehouse, fixture: str) -> None:
    report = records.ingest(wh, DATA / fixture, UTC, "deals")
    assert (report.loaded, report.rejected_total) == (2, 0)
    rows = wh.sql("SELECT deal_id, lead_id, opened_at, status, amount, currency, source_ref "
                  "FROM deals ORDER BY deal_id")
    ref = {"deals.json": ("#1", "#2"), "deals.jsonl": (":1", ":3")}[fixture]  # line 2 blank
    assert rows == [
        ("D1", "L1", T(2026, 10, 2, 10, 1), "won", 1200.5, "RUB", f"{DATA / fixture}{ref[0]}"),
        ("D2", None, T(2026, 10, 2, 11, 0), "open", None, None, f"{DATA / fixture}{ref[1]}"),
    ]


def test_naive_times_are_read_in_the_zone_and_offsets_are_honoured(
    wh: Warehouse, tmp_path: Path
) -> None:
    path = write(tmp_path, "schedules.csv",
                 "agent,activity,start_at,end_at\n"
                 "a1,work,2026-10-01 09:00:00,2026-10-01T13:00:00+05:00\n")
    records.ingest(wh, path, IngestOptions(tz="Europe/Moscow"), "schedules")
    # Moscow is UTC+3: 09:00 local is 06:00 UTC; 13:00+05:00 is 08:00 UTC
    assert wh.sql("SELECT start_at, end_at FROM schedules") == [
        (T(2026, 10, 1, 6, 0), T(2026, 10, 1, 8, 0))
    ]


def test_tenant_fills_empty_tenants_only(wh: Warehouse) -> None:
    records.ingest(wh, DATA / "agents.csv", IngestOptions(tenant="acme"), "agents")
    assert wh.sql("SELECT agent, tenant FROM agents ORDER BY agent") == [
        ("a1", "acme"), ("a2", "beta"),
    ]
    # a table without a tenant column is not affected
    report = records.ingest(wh, DATA / "schedules.tsv", IngestOptions(tenant="acme"), "schedules")
    assert report.loaded == 2


def test_callers_are_masked_when_asked(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CALLKPI_MASK_KEY", "k1")
    path = write(tmp_path, "calls.csv",
                 "call_id,direction,caller,entered_at,outcome\n"
                 "c1,in,+74950000001,2026-10-01 09:00,abandoned\n"
                 "c2,in,anon:0123456789abcdef,2026-10-01 09:01,abandoned\n")
    records.ingest(wh, path, IngestOptions(mask_callers=True), "calls")
    token = "anon:" + hashlib.sha256(b"k1+74950000001").hexdigest()[:16]
    assert wh.sql("SELECT caller FROM calls ORDER BY call_id") == [
        (token,), ("anon:0123456789abcdef",),
    ]


def test_a_bom_and_an_empty_file(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes("\ufeffcustomer_id,segment\nC9,vip\n".encode())
    assert records.ingest(wh, path, UTC, "customers").loaded == 1
    empty = write(tmp_path, "empty.csv", "\n")
    report = records.ingest(wh, empty, UTC, "customers")
    assert (report.loaded, report.notes) == (0, [f"{empty} is empty"])


# -- idempotency ------------------------------------------------------------------------------


def test_the_same_file_twice_loads_nothing_the_second_time(wh: Warehouse) -> None:
    first = records.ingest(wh, DATA / "calls.csv", UTC, "calls")
    second = records.ingest(wh, DATA / "calls.csv", UTC, "calls")
    assert (first.loaded, first.duplicates) == (3, 0)
    assert (second.loaded, second.updated, second.duplicates) == (0, 0, 3)
    assert wh.count("calls") == 3


def test_a_changed_row_updates_the_stored_row(wh: Warehouse, tmp_path: Path) -> None:
    records.ingest(wh, DATA / "deals.csv", UTC, "deals")
    again = write(tmp_path, "deals-later.csv",
                  "deal_id,lead_id,opened_at,closed_at,status,amount,currency\n"
                  "D1,L1,2026-10-02 10:01:00,2026-10-02 10:05:00,won,1200.50,RUB\n"
                  "D2,L2,2026-10-02 11:00:00,2026-10-03 16:00:00,won,800,RUB\n")
    report = records.ingest(wh, again, UTC, "deals")
    assert (report.loaded, report.updated, report.duplicates) == (0, 1, 1)
    assert wh.sql("SELECT deal_id, status, closed_at, amount FROM deals ORDER BY deal_id") == [
        ("D1", "won", T(2026, 10, 2, 10, 5), 1200.5),
        ("D2", "won", T(2026, 10, 3, 16, 0), 800.0),
    ]


@pytest.mark.parametrize("order", [("calls", "dispositions"), ("dispositions", "calls")])
def test_dispositions_apply_onto_calls_in_either_order(
    wh: Warehouse, order: tuple[str, str]
) -> None:
    for table in order:
        records.ingest(wh, DATA / f"{table}.csv", UTC, table)
    # c1's disposition names agent a2, so only segment 2 (a2's) gets it; c2's names nobody
    assert wh.sql("SELECT call_id, segment, wrap_code, resolved, escalated FROM calls "
                  "ORDER BY call_id, segment") == [
        ("c1", 1, None, False, None),
        ("c1", 2, "sale", True, False),
        ("c2", 1, "callback", None, None),
    ]


# -- rejects ----------------------------------------------------------------------------------

CALL_HEADER = "call_id,direction,entered_at,ended_at,outcome,talk_s,transferred,transfer_target\n"

REJECTS = [
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,,,,\n",
     "missing field: outcome is required but empty"),
    ("calls", CALL_HEADER + "c1,inbound,2026-10-01 09:00,,answered,,,\n",
     "bad field: direction = 'inbound', expected one of: in, out"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,picked_up,,,\n",
     "bad field: outcome = 'picked_up', expected one of: answered, abandoned, timed_out, "
     "exited_key, blocked, overflowed, closed, failed, no_answer, busy, voicemail, in_progress"),
    ("calls", CALL_HEADER + "c1,in,01/10/2026 09:00,,answered,,,\n",
     "bad field: entered_at = '01/10/2026 09:00', expected a date-time like 2026-10-01 09:30:00"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,answered,-3,,\n",
     "bad field: talk_s = '-3', expected a number of at least 0"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,answered,abc,,\n",
     "bad field: talk_s = 'abc', expected a number"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,answered,,perhaps,\n",
     "bad field: transferred = 'perhaps', expected true or false (yes/no, 1/0)"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,busy,,,\n",
     "inconsistent: outcome 'busy' is not an inbound outcome; an inbound call ends as one of: "
     "answered, abandoned, timed_out, exited_key, blocked, overflowed, closed, failed, "
     "in_progress"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,2026-10-01 08:59,abandoned,,,\n",
     "inconsistent: ended_at 2026-10-01 08:59:00 UTC is before entered_at "
     "2026-10-01 09:00:00 UTC"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,answered,,no,sales@ctx\n",
     "inconsistent: transferred is false but transfer_target is given"),
    ("calls", CALL_HEADER + "c1,in,2026-10-01 09:00,,answered,,\n",
     "bad row: 7 values, but the header has 8 columns"),
    ("agents", "agent,hire_date,exit_date\na1,2026-03-01,2026-02-28\n",
     "inconsistent: exit_date 2026-02-28 is before hire_date 2026-03-01"),
    ("agents", "agent,hire_date\na1,1 March 2026\n",
     "bad field: hire_date = '1 March 2026', expected a date like 2026-10-01"),
    ("schedules", "agent,activity,start_at,end_at\na1,work,2026-10-01 09:00,2026-10-01 09:00\n",
     "inconsistent: end_at 2026-10-01 09:00:00 UTC is not after start_at "
     "2026-10-01 09:00:00 UTC"),
    ("absences", "agent,date,scheduled_hours,absent_hours\na1,2026-10-01,4,6\n",
     "inconsistent: absent_hours 6 is more than scheduled_hours 4"),
    ("absences", "agent,date,scheduled_hours,absent_hours\na1,2026-10-01,25,0\n",
     "bad field: scheduled_hours = '25', expected a number of at most 24"),
    ("ivr_steps", "call_id,seq,node,at,result\nc1,1,menu,2026-10-01 09:00,transferred\n",
     "bad field: result = 'transferred', expected one of: self_served, to_queue, hung_up"),
    ("ivr_steps", "call_id,seq,node,at\nc1,1.5,menu,2026-10-01 09:00\n",
     "bad field: seq = '1.5', expected a whole number"),
    ("dials", "attempt_id,dialed_at,connected,talk_s\nd1,2026-10-01 10:00,false,30\n",
     "inconsistent: talk_s is 30 but connected is false"),
    ("leads", "lead_id,created_at,stage_changed_at\nL1,2026-10-02 10:00,2026-10-01 10:00\n",
     "inconsistent: stage_changed_at 2026-10-01 10:00:00 UTC is before created_at "
     "2026-10-02 10:00:00 UTC"),
    ("deals", "deal_id,opened_at,status\nD1,2026-10-02 10:00,closed\n",
     "bad field: status = 'closed', expected one of: won, lost, open"),
    ("deals", "deal_id,opened_at,status,currency\nD1,2026-10-02 10:00,won,rubles\n",
     "bad field: currency = 'rubles', expected a three-letter currency code such as EUR"),
    ("deals", "deal_id,opened_at,status,amount\nD1,2026-10-02 10:00,won,-10\n",
     "bad field: amount = '-10', expected a number of at least 0"),
    ("customers", "customer_id,acquired_at,churned_at\nC1,2026-10-02,2026-10-01\n",
     "inconsistent: churned_at 2026-10-01 00:00:00 UTC is before acquired_at "
     "2026-10-02 00:00:00 UTC"),
    ("surveys", "survey_id,kind,score,scale_max,answered_at\nS1,csat,6,5,2026-10-01 09:00\n",
     "inconsistent: score 6 is outside 0..scale_max (5)"),
    ("surveys", "survey_id,kind,score,scale_max,answered_at\nS1,nps,4,5,2026-10-01 09:00\n",
     "inconsistent: an nps answer is on 0..10, but scale_max is 5"),
    ("surveys", "survey_id,kind,score,scale_max,answered_at\nS1,csat,0,0,2026-10-01 09:00\n",
     "inconsistent: scale_max is 0, expected a number above 0"),
    ("surveys", "survey_id,kind,score,scale_max,answered_at\nS1,ces,,7,2026-10-01 09:00\n",
     "missing field: score is required but empty"),
    ("surveys", "survey_id,kind,score,scale_max,answered_at\nS1,stars,4,5,2026-10-01 09:00\n",
     "bad field: kind = 'stars', expected one of: csat, nps, ces"),
    ("costs", "period_start,period_end,category,amount\n2026-10-01,2026-10-31,coffee,10\n",
     "bad field: category = 'coffee', expected one of: salary, benefits, licences, telephony, "
     "rent, marketing, other"),
    ("costs", "period_start,period_end,category,amount\n2026-10-31,2026-10-01,rent,10\n",
     "inconsistent: period_end 2026-10-01 is before period_start 2026-10-31"),
]


@pytest.mark.parametrize(("table", "text", "reason"), REJECTS,
                         ids=[f"{t}-{r.split(':')[0]}-{i}" for i, (t, _, r) in enumerate(REJECTS)])
def test_each_reject_reason_lands_in_quarantine(
    wh: Warehouse, tmp_path: Path, table: str, text: str, reason: str
) -> None:
    path = write(tmp_path, f"{table}.csv", text)
    report = records.ingest(wh, path, UTC, table)
    assert (report.loaded, report.rejected_total) == (0, 1)
    assert quarantined(wh) == [(f"records:{table}", f"{path}:2", reason)]
    assert wh.sql("SELECT raw FROM quarantine") == [(text.splitlines()[1],)]
    assert wh.count(table) == 0


def test_json_rejects_name_the_item(wh: Warehouse, tmp_path: Path) -> None:
    lines = write(tmp_path, "c.jsonl",
                  '{"customer_id": "C1"}\n'
                  '{"customer_id": "C2", \n'
                  '["C3"]\n'
                  '{"customer_id": "C4", "segment": ["a", "b"]}\n'
                  '{"segment": "vip"}\n')
    report = records.ingest(wh, lines, UTC, "customers")
    assert report.loaded == 1
    assert quarantined(wh) == [
        ("records:customers", f"{lines}:2",
         "bad json: not valid JSON (Expecting property name enclosed in double quotes, "
         "column 23)"),
        ("records:customers", f"{lines}:3", 'bad row: expected a JSON object, got an array'),
        ("records:customers", f"{lines}:4",
         "bad field: segment = ['a', 'b'], expected a single value, not a JSON array or object"),
        ("records:customers", f"{lines}:5", "missing field: customer_id is required but empty"),
    ]
    array = write(tmp_path, "c.json", '[{"customer_id": "C5"}, 7]')
    records.ingest(wh, array, UTC, "customers")
    assert wh.sql("SELECT source_ref, raw, reason FROM quarantine WHERE source_ref LIKE '%#%'") \
        == [(f"{array}#2", "7", "bad row: expected a JSON object, got 7")]


def test_strict_loads_no_batch_with_a_reject(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "deals.csv", "deal_id,opened_at,status\n"
                 "D1,2026-10-02 10:00,won\nD2,2026-10-02 10:00,closed\n")
    report = records.ingest(wh, path, IngestOptions(strict=True), "deals")
    assert (report.loaded, report.rejected_total, wh.count("deals")) == (0, 1, 0)
    assert report.notes == ["--strict: a batch of 2 rows was not loaded because 1 were rejected"]


# -- refused files ----------------------------------------------------------------------------


def test_an_unknown_column_refuses_the_file(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "deals.csv", "deal_id,opened_at,stauts\nD1,2026-10-02 10:00,won\n")
    with pytest.raises(IngestError) as err:
        records.ingest(wh, path, UTC, "deals")
    assert str(err.value) == (
        f"{path}:1: unknown column 'stauts' for table deals; its columns are: deal_id, "
        "lead_id, customer_id, agent, campaign, tenant, opened_at, closed_at, status, amount, "
        "currency, product"
    )
    assert wh.count("deals") == 0


def test_an_unknown_json_key_is_named_where_it_first_appears(
    wh: Warehouse, tmp_path: Path
) -> None:
    path = write(tmp_path, "leads.json",
                 '[{"lead_id": "L1", "created_at": "2026-10-01"},\n'
                 ' {"lead_id": "L2", "created_at": "2026-10-01", "source": "web"}]')
    with pytest.raises(IngestError, match=re.escape(
        f"{path}#2: unknown column 'source' for table leads (source is lineage that callkpi "
        "sets itself; a lead's origin goes in source_channel); its columns are: lead_id,"
    )):
        records.ingest(wh, path, UTC, "leads")
    assert wh.count("leads") == 0


def test_a_header_without_a_required_column_refuses_the_file(
    wh: Warehouse, tmp_path: Path
) -> None:
    path = write(tmp_path, "calls.csv", "call_id,entered_at\nc1,2026-10-01 09:00\n")
    with pytest.raises(IngestError) as err:
        records.ingest(wh, path, UTC, "calls")
    assert str(err.value) == (
        f"{path}: the header lacks required columns direction, outcome of table calls; "
        "required: call_id, direction, entered_at, outcome"
    )


@pytest.mark.parametrize(("text", "message"), [
    ('[{"deal_id": "D1",}]', ":1: not valid JSON (Expecting property name enclosed in "
                             "double quotes, column 19)"),
    ('{"deals": [\n{"deal_id": "D1"}\n]}', ": one JSON object spanning several lines; expected "
                                            "an array of objects or JSON Lines (one object per "
                                            "line)"),
])
def test_unreadable_json_refuses_the_file(
    wh: Warehouse, tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "deals.json", text)
    with pytest.raises(IngestError) as err:
        records.ingest(wh, path, UTC, "deals")
    assert str(err.value) == f"{path}{message}"


def test_a_file_that_is_not_utf8_is_refused(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"
    path.write_bytes("agent,name\na1,Anna\na2,Бoрис\n".encode("cp1251"))
    with pytest.raises(IngestError, match=re.escape(f"{path}:3: not UTF-8 (byte 0xc1)")):
        records.ingest(wh, path, UTC, "agents")


def test_an_unknown_table_is_refused(wh: Warehouse) -> None:
    with pytest.raises(IngestError) as err:
        records.ingest(wh, DATA / "agents.csv", UTC, "agent_states")
    assert str(err.value).startswith(
        "unknown records table 'agent_states'; expected one of: calls, agents, ")
    assert ", ivr-steps, " in str(err.value)


# -- documentation ----------------------------------------------------------------------------


def test_docs_column_reference_is_up_to_date() -> None:
    documented = records.documented_reference(DOCS.read_text(encoding="utf-8"))
    assert documented == records.reference_markdown(), (
        "docs/records.md is out of date with the model; regenerate it with: .venv/bin/python "
        "-c \"from callkpi.ingest.records import write_reference; "
        "write_reference('docs/records.md')\""
    )


def _model_enum(doc: str) -> tuple[str, ...] | None:
    """The values of a model column doc like ``won | lost | open`` (None if open-ended)."""
    if " | " not in doc or "..." in doc:
        return None
    return tuple(part.split()[0] for part in doc.split(" | "))


def test_allowed_values_match_the_model_docs() -> None:
    for spec in records.SPECS.values():
        for column in TABLES[spec.table].columns:
            listed = _model_enum(column.doc)
            if listed is None:
                continue
            allowed = spec.allowed.get(column.name)
            assert allowed == listed, f"{spec.table}.{column.name}"
