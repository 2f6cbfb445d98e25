"""A large first load and a load in many small batches (or a --follow tail) of the same
queue_log give the same calls, agent states, journal and quarantine.

A batch builds the calls of callids it sees for the first time from its own lines, and
reads back from the journal only the calls that already had rows; so a whole file in one
batch never reads the journal back, and a file in batches of a few lines almost always
does. The log is the benchmark's generator's output (bench/generate_queue_log.py) at a
small size, with rejected lines, repeated lines and calls of several visits spread far
apart mixed in.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from callkpi.ingest import queue_log
from callkpi.ingest.options import IngestOptions
from callkpi.store import Warehouse

# Dozens of small batches once crashed DuckDB 2.0.0 (a segfault, or "Corrupted
# uncompressed string segment" at COMMIT) in the store's next-contact refresh, which
# updated calls by rowid, rows the same transaction had deleted and inserted: these
# tests are the regression test of the fix (the update by the calls' key).
BENCH = Path(__file__).resolve().parents[2] / "bench" / "generate_queue_log.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_queue_log", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _log(tmp_path: Path, lines: int, seed: int) -> tuple[Path, int]:
    """The generator's lines with others mixed in; returns the file and how many of its
    lines are rejected."""
    raw = tmp_path / f"generated_{seed}"
    _generator().generate(lines, raw, seed=seed)
    out = raw.read_text().splitlines()
    t0 = int(out[0].split("|", 1)[0])
    t1 = int(out[-1].split("|", 1)[0])
    # A call of three visits (support -> sales by a transfer, then sales again) whose
    # lines are spread over the whole file, with a DID first: later batches continue it.
    multi = [
        f"{t0}|multi.1|support|NONE|DID|5551000",
        f"{t0 + 1}|multi.1|support|NONE|ENTERQUEUE||79160000001|1",
        f"{t0 + 9}|multi.1|support|Agent/7|CONNECT|8|multi.1.1|2",
        f"{(t0 + t1) // 2}|multi.1|support|Agent/7|ATTENDEDTRANSFER|BRIDGE|b1|8|40|1",
        f"{(t0 + t1) // 2 + 1}|multi.1|sales|NONE|ENTERQUEUE||79160000001|1",
        f"{(t0 + t1) // 2 + 30}|multi.1|sales|NONE|ABANDON|1|1|29",
        f"{t1 - 5}|multi.1|sales|NONE|ENTERQUEUE||79160000001|1",
    ]
    bad = [
        f"{t0 + 2}|bad.1|support|NONE|NOSUCHEVENT|1",
        "yesterday|bad.2|support|NONE|ENTERQUEUE||1|1",
        f"{t0 + 3}|bad.3|support|Agent/1|CONNECT|x|y|z",
        f"{t0 + 4}|bad.4",
    ]
    # Each gets a place in time order (stable), so the file stays a real log.
    extra = multi + bad
    merged = sorted(
        [(int(line.split("|", 1)[0]) if line[0].isdigit() else t0, line) for line in out]
        + [(int(line.split("|", 1)[0]) if line[0].isdigit() else t0 + 2, line) for line in extra],
        key=lambda pair: pair[0],
    )
    text = [line for _, line in merged]
    # Lines repeated later in the file (an overlap a restarted writer might produce).
    text[len(text) // 3 : len(text) // 3] = text[100:120]
    path = tmp_path / f"queue_log_{seed}"
    path.write_text("\n".join(text) + "\n")
    return path, len(bad)


def _snapshot(wh: Warehouse, path: Path) -> dict[str, list[tuple[object, ...]]]:
    def strip(value: object) -> object:
        return value.replace(str(path), "FILE") if isinstance(value, str) else value

    queries = {
        "calls": "SELECT * FROM calls ORDER BY call_id, segment",
        "states": "SELECT * FROM agent_states ORDER BY ALL",
        "journal": 'SELECT event_key, "time", callid, queue, agent, event, data, tenant, '
        "source_file, line_no FROM queue_log_events ORDER BY line_no",
        "quarantine": "SELECT source, source_ref, raw, reason FROM quarantine ORDER BY ALL",
        "rollup": "SELECT * FROM calls_rollup ORDER BY ALL",
    }
    return {
        name: [tuple(strip(v) for v in row) for row in wh.sql(query)]
        for name, query in queries.items()
    }


@pytest.mark.parametrize(("seed", "direct"), [(1, False), (2, False), (1, True)])
def test_one_batch_and_small_batches_agree(
    tmp_path: Path, seed: int, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``direct``: the one batch inserts its calls straight into ``calls``, as a batch
    of many calls does (the small batches build theirs in a temporary table first)."""
    path, rejected = _log(tmp_path, 2500, seed)
    if direct:
        monkeypatch.setattr(queue_log, "DIRECT_MIN_CALLS", 1)
    with Warehouse(tmp_path / "whole.duckdb") as wh:
        report = queue_log.ingest(wh, path)
        assert report.batches == 1
        assert report.rejected_total == rejected
        assert report.duplicates == 20
        whole = _snapshot(wh, path)
        # The journal path, for every call at once, rebuilds the same calls.
        with wh.transaction() as con:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE ql_touched_calls AS "
                "SELECT DISTINCT callid FROM queue_log_events"
            )
            queue_log.rebuild_calls(con)
            con.execute("DROP TABLE ql_touched_calls")
        assert _snapshot(wh, path) == whole
    assert len(whole["quarantine"]) == rejected
    # The three-visit call came out whole in one batch.
    multi = [row for row in whole["calls"] if row[0] == "multi.1"]
    assert len(multi) == 3

    monkeypatch.undo()
    with Warehouse(tmp_path / "batched.duckdb") as wh:
        report = queue_log.ingest(wh, path, IngestOptions(batch_bytes=4000))
        assert report.batches > 30
        assert (report.rejected_total, report.duplicates) == (rejected, 20)
        batched = _snapshot(wh, path)
    assert batched == whole


def test_follow_in_small_batches_agrees_with_one_batch(tmp_path: Path) -> None:
    path, _ = _log(tmp_path, 1200, 3)
    with Warehouse(tmp_path / "whole.duckdb") as wh:
        queue_log.ingest(wh, path)
        whole = _snapshot(wh, path)
    with Warehouse(tmp_path / "followed.duckdb") as wh:
        report = queue_log.follow(
            wh, path, IngestOptions(batch_bytes=2000), poll_s=0.01, idle_timeout_s=0.05
        )
        assert report.batches > 30
        assert _snapshot(wh, path) == whole


def test_grown_file_and_overlapping_file_agree_with_one_batch(tmp_path: Path) -> None:
    """A first run on a third of the file, a second on all of it (grown), then a file
    holding the last lines again: the result is the one-batch load of the whole file."""
    path, rejected = _log(tmp_path, 2000, 4)
    lines = path.read_text().splitlines(keepends=True)
    with Warehouse(tmp_path / "whole.duckdb") as wh:
        queue_log.ingest(wh, path)
        whole = _snapshot(wh, path)
    grown = tmp_path / "grown"
    with Warehouse(tmp_path / "grown.duckdb") as wh:
        grown.write_text("".join(lines[: len(lines) // 3]))
        first = queue_log.ingest(wh, grown)
        grown.write_text("".join(lines))
        second = queue_log.ingest(wh, grown)
        assert first.lines_read + second.lines_read == len(lines)
        assert _snapshot(wh, grown) == whole
        # The same lines again, in another file: all duplicates, nothing changes.
        overlap = tmp_path / "overlap"
        overlap.write_text("".join(lines[-300:]))
        again = queue_log.ingest(wh, overlap)
        assert again.loaded == 0
        assert again.duplicates + again.rejected_total == 300
        after = _snapshot(wh, grown)
        # Only the rejects of the second file are new (quarantined under its own name).
        assert {k: v for k, v in after.items() if k != "quarantine"} == {
            k: v for k, v in whole.items() if k != "quarantine"
        }
        # And the same file twice loads nothing.
        assert queue_log.ingest(wh, grown).lines_read == 0
    assert rejected == len(whole["quarantine"])


@pytest.mark.parametrize("direct", [True, False])
def test_a_batch_of_more_calls_than_a_row_group_builds_them_all(
    tmp_path: Path, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """130,000 answered calls in one batch: more new calls than one DuckDB row group
    (122,880 rows), so their rows are appended in parallel. Built in a temporary table
    (an empty CREATE TABLE AS followed by a parallel insert in one transaction), DuckDB
    2.0.0 then read back none of them: every call and talking state of a bulk load was
    silently lost. The pin excludes 2.0.0; this is its regression test. Such a batch now
    inserts its calls straight into ``calls`` (``direct``); the temporary table, which
    smaller batches use, is forced for the other case."""
    if not direct:
        monkeypatch.setattr(queue_log, "DIRECT_MIN_CALLS", 10**9)
    calls, t0 = 130_000, 1_760_000_000
    lines = []
    for i in range(calls):
        start = t0 + 2 * i  # one call every two seconds, over three days
        wait, talk = i % 7, 60 + i % 11
        lines += [
            f"{start}|c{i}|support|NONE|ENTERQUEUE||79160000001|1",
            f"{start + wait}|c{i}|support|Agent/{i % 50}|CONNECT|{wait}|c{i}.1|1",
            f"{start + wait + talk}|c{i}|support|Agent/{i % 50}|COMPLETECALLER|{wait}|{talk}|1",
        ]
    path = tmp_path / "queue_log"
    path.write_text("\n".join(lines) + "\n")
    with Warehouse(tmp_path / "bulk.duckdb") as wh:
        report = queue_log.ingest(wh, path)
        assert (report.batches, report.loaded) == (1, 3 * calls)
        counted = wh.sql(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'answered'), sum(wait_s), "
            "sum(talk_s) FROM calls"
        )
        talking = wh.sql("SELECT count(*) FROM agent_states WHERE state = 'talking'")
    # By hand: i % 7 over 130,000 calls is 18,571 full cycles (sum 21 each) and 3 more
    # (0 + 1 + 2); 60 + i % 11 is 11,818 full cycles (sum 55 each) and 2 more (0 + 1).
    assert counted == [(calls, calls, 18_571 * 21 + 3, 60 * calls + 11_818 * 55 + 1)]
    assert talking == [(calls,)]
