"""The KPI benchmark: the whole inbound catalog by queue x 30-minute interval over a month
of generated calls, side by side with a hand-written DuckDB query for the same KPIs (the
floor) and with pandas; then one-month dashboard queries served by the roll-up levels.

    python bench/run.py kpi [--calls 20000000] [--repeat 3] [--seed 1]

Every timed run is a process of its own, started fresh (the warehouse file is in the OS
page cache after the first run). Times are measured inside the process around the
computation, best of ``--repeat``. Peak memory is the process's own high-water mark
(``VmHWM`` in /proc/self/status): on Linux a child started by ``subprocess`` inherits its
parent's peak in ``ru_maxrss`` (RUSAGE_SELF, RUSAGE_CHILDREN and wait4 alike), so a parent
that just generated the data would make every run look as big as the generator.

Each run writes its numbers to a Parquet file, and every engine's numbers are checked
against callkpi's: a benchmark that compares different numbers is worthless.

The IVR KPIs of the inbound catalog live on ``ivr_steps``, which has no queue; they are
asked for by IVR node and option x 30 minutes in a second query (and a second floor query).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RELATIVE_TOLERANCE = 1e-9
CALLS_KEYS = ("queue", "bucket")
IVR_KEYS = ("bucket", "node", "option")
IVR_BY = ("node", "option")
REPEAT_KPIS = ("repeat_contact_rate", "fcr")
FINAL_OUTCOMES = (
    *("answered", "abandoned", "timed_out", "exited_key"),
    *("blocked", "overflowed", "closed", "failed"),
)
FINAL = ", ".join(f"'{o}'" for o in FINAL_OUTCOMES)
DASHBOARD_KPIS = ("service_level", "asa", "aht", "abandon_rate", "answered")
# name, by, grain, where, time zone
DASHBOARDS: tuple[tuple[str, tuple[str, ...], str, tuple[tuple[str, str], ...], str], ...] = (
    ("queue x day", ("queue",), "day", (), "UTC"),
    ("agent, whole month", ("agent",), "all", (), "UTC"),
    ("team x week", ("team",), "week", (), "UTC"),
    ("hour of day x weekday", ("hour_of_day", "weekday"), "all", (), "UTC"),
    ("tenant x 30 min", ("tenant",), "30min", (), "UTC"),
    ("whole month", (), "all", (), "UTC"),
    ("one tenant's queues x hour", ("queue",), "hour", (("tenant", "northbank"),), "UTC"),
    ("wrap code, whole month", ("wrap_code",), "all", (), "UTC"),
    ("supervisor x day", ("supervisor",), "day", (), "UTC"),
    # The month in Moscow time (UTC+3): local days are not UTC days.
    ("queue x day, Moscow", ("queue",), "day", (), "Europe/Moscow"),
    ("agent, whole month, Moscow", ("agent",), "all", (), "Europe/Moscow"),
    ("team x week, Moscow", ("team",), "week", (), "Europe/Moscow"),
    # Agent by local day (the agent x hour level), agent by wrap code (agent x wrap x day).
    ("agent x day, Moscow", ("agent",), "day", (), "Europe/Moscow"),
    ("agent x wrap code, whole month", ("agent", "wrap_code"), "all", (), "UTC"),
    ("agent x wrap code, whole month, Moscow", ("agent", "wrap_code"), "all", (), "Europe/Moscow"),
)
LEVELS = (
    *("calls_rollup_day", "calls_rollup_agent_day", "calls_rollup_queue"),
    *("calls_rollup_agent_wrap_day", "calls_rollup_agent_hour", "calls_rollup"),
)


# -- the runs, each in its own process ---------------------------------------------------


class Clock:
    """Wall seconds, and CPU seconds of all of this process's threads, per phase. CPU time
    barely moves when other work shares the machine; wall time is what a user waits."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.times[f"{name}_s"] = time.perf_counter() - wall
        self.times[f"{name}_cpu_s"] = time.process_time() - cpu

    def total(self, *names: str) -> dict[str, float]:
        for unit in ("s", "cpu_s"):
            self.times[f"total_{unit}"] = sum(self.times[f"{n}_{unit}"] for n in names)
        return self.times


def _inbound_kpis() -> tuple[list[str], list[str]]:
    """The inbound catalog split by table: calls KPIs, IVR KPIs."""
    from callkpi.kpi import builtin_catalog, semantic_model

    semantic = semantic_model()
    calls, ivr = [], []
    for kpi in builtin_catalog():
        if kpi.category != "inbound":
            continue
        tables = {semantic.measure(m).table for m in kpi.measures()}
        (ivr if tables == {"ivr_steps"} else calls).append(kpi.id)
    return calls, ivr


def _callkpi_rows(result: Any, keys: Sequence[str]) -> list[dict[str, Any]]:
    """callkpi's rows with the bucket as a naive UTC datetime, like the other engines."""
    rows = []
    for row in result.rows:
        out = {k: row[k] for k in keys if k != "bucket"}
        start = dt.datetime.fromisoformat(row["period_start"])
        out["bucket"] = start.astimezone(dt.UTC).replace(tzinfo=None)
        out.update({k: v for k, v in row.items() if k not in (*keys, "period_start")})
        rows.append(out)
    return rows


def run_callkpi(
    db: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    use_rollup: bool,
    repeats: bool = True,
    memory_limit: str | None = None,
    warm: bool = False,
    disk_cache: bool = True,
) -> dict[str, Any]:
    """The inbound catalog through ``run_query``; without the repeat-contact KPIs when not
    ``repeats``, and with DuckDB's memory limit set when ``memory_limit`` is given.
    ``disk_cache``: with the compiled SQL kept on disk by an earlier process (the first
    process of a benchmark compiles and keeps it); if not, compiling in the clock.
    ``warm``: both queries run once, untimed, before the timed run (the SQL compiled and
    kept, the file's blocks read), as pandas's columns are loaded before its clock.

    The answer is timed as an Arrow table (``KpiResult.table``, what ``callkpi.kpi.query``
    returns), as the floor's is; its rows as Python dicts are made after the clock."""
    from callkpi.kpi import KpiQuery, run_query, sql_cache
    from callkpi.store import Warehouse

    if not disk_cache:
        os.environ[sql_cache.ENV] = "off"
    calls_kpis, ivr_kpis = _inbound_kpis()
    if not repeats:
        calls_kpis = [k for k in calls_kpis if k not in REPEAT_KPIS]
    wh = Warehouse(db, read_only=True, memory_limit=memory_limit)
    month = {"grain": "30min", "tz": "UTC", "start": start, "end": end}
    calls_query = KpiQuery(tuple(calls_kpis), by=("queue",), **month)
    ivr_query = KpiQuery(tuple(ivr_kpis), by=IVR_BY, **month)
    for _ in range(1 if warm else 0):
        run_query(wh, calls_query, use_rollup=use_rollup)
        run_query(wh, ivr_query, use_rollup=use_rollup)
    clock = Clock()
    with clock.phase("calls"):
        calls = run_query(wh, calls_query, use_rollup=use_rollup)
    with clock.phase("ivr"):
        ivr = run_query(wh, ivr_query, use_rollup=use_rollup)
    return {
        "times": clock.total("calls", "ivr"),
        "calls": _callkpi_rows(calls, CALLS_KEYS),
        "ivr": _callkpi_rows(ivr, IVR_KEYS),
    }


def floor_calls_sql(
    start: dt.datetime, end: dt.datetime, *, repeats: bool = True, window: bool = False
) -> str:
    """The calls KPIs of the inbound catalog by queue x 30 minutes, written by hand from
    docs/kpis.md and catalog/semantic.yaml with the default parameters (without the
    repeat-contact KPIs when not ``repeats``). The repeat contacts compare with the
    warehouse's ``calls.next_contact_at`` (there for every engine), or, with ``window``,
    with the customer's next call found by a window over every call at query time."""
    next_contact = """
WITH next_contact AS (
    -- per customer (id, else caller number) and call: when the customer's next other
    -- inbound call began (segments of one call are one contact), over all the data
    SELECT customer_key, call_id,
           lead(first_at) OVER (PARTITION BY customer_key ORDER BY first_at) AS next_at
    FROM (
        SELECT coalesce(customer_id, caller) AS customer_key, call_id,
               min(entered_at) AS first_at
        FROM calls
        WHERE direction = 'in' AND coalesce(customer_id, caller) IS NOT NULL
        GROUP BY ALL
    )
),"""
    repeated = """,
           coalesce(c.customer_id, c.caller) IS NOT NULL AS known_customer,
           date_diff('microsecond', c.entered_at, n.next_at) <= 7 * 86400 * 1000000::BIGINT
               AS repeated_in_7_days"""
    join = """
    LEFT JOIN next_contact n
      ON n.customer_key = coalesce(c.customer_id, c.caller) AND n.call_id = c.call_id"""
    counts = """,
        count(*) FILTER (outcome = 'answered' AND known_customer) AS answered_known,
        count(*) FILTER (outcome = 'answered' AND repeated_in_7_days) AS repeats"""
    rates = """
    repeats / nullif(answered_known, 0) AS repeat_contact_rate,
    1 - repeats / nullif(answered_known, 0) AS fcr,"""
    if not window:
        next_contact, join = "WITH", ""
        repeated = repeated.replace("n.next_at", "c.next_contact_at")
    if not repeats:
        next_contact, repeated, join, counts, rates = "WITH", "", "", "", ""
    return f"""{next_contact}
visits AS (
    SELECT c.queue, time_bucket(INTERVAL 30 MINUTE, c.entered_at) AS bucket, c.outcome,
           c.outcome IN ({FINAL}) AS final, c.wait_s, c.talk_s, c.hold_s, c.acw_s,
           c.transferred, c.escalated, c.resolved{repeated}
    FROM calls c{join}
    WHERE c.direction = 'in' AND c.queue IS NOT NULL
      AND c.entered_at >= TIMESTAMP '{start}' AND c.entered_at < TIMESTAMP '{end}'
),
totals AS (
    SELECT queue, bucket,
        count(*) FILTER (final) AS offered,
        count(*) FILTER (outcome = 'answered') AS answered,
        count(*) FILTER (outcome = 'abandoned') AS abandoned,
        count(*) FILTER (outcome = 'abandoned' AND wait_s < 5) AS short_abandoned,
        count(*) FILTER (outcome = 'timed_out') AS timed_out,
        count(*) FILTER (outcome = 'exited_key') AS exited_key,
        count(*) FILTER (outcome = 'blocked') AS blocked,
        count(*) FILTER (outcome = 'overflowed') AS overflowed,
        count(*) FILTER (outcome = 'closed') AS closed,
        count(*) FILTER (outcome = 'answered' AND wait_s <= 20) AS answered_in_20_s,
        coalesce(sum(wait_s) FILTER (outcome = 'answered'), 0) AS wait_answered_s,
        coalesce(sum(wait_s) FILTER (final), 0) AS wait_offered_s,
        coalesce(sum(wait_s) FILTER (outcome = 'abandoned'), 0) AS wait_abandoned_s,
        max(wait_s) FILTER (final) AS max_wait,
        quantile_cont(wait_s, 0.9) FILTER (final) AS p90_wait,
        coalesce(sum(talk_s) FILTER (outcome = 'answered'), 0) AS talk_s,
        coalesce(sum(hold_s) FILTER (outcome = 'answered'), 0) AS hold_s,
        coalesce(sum(acw_s) FILTER (outcome = 'answered'), 0) AS acw_s,
        count(*) FILTER (outcome = 'answered' AND transferred) AS transferred,
        count(*) FILTER (outcome = 'answered' AND escalated) AS escalated,
        count(*) FILTER (outcome = 'answered' AND resolved) AS resolved,
        count(*) FILTER (outcome = 'answered' AND resolved IS NOT NULL) AS resolution_known{counts}
    FROM visits
    GROUP BY ALL
)
SELECT queue, bucket, offered, answered, abandoned, short_abandoned, timed_out, exited_key,
    blocked, overflowed, closed,
    answered / nullif(offered, 0) AS answer_rate,
    (abandoned - short_abandoned) / nullif(offered - short_abandoned, 0) AS abandon_rate,
    answered_in_20_s / nullif(offered - short_abandoned, 0) AS service_level,
    wait_answered_s / nullif(answered, 0) AS asa,
    wait_offered_s / nullif(offered, 0) AS avg_wait,
    wait_abandoned_s / nullif(abandoned, 0) AS avg_abandon_wait,
    max_wait, p90_wait,
    (talk_s + hold_s + acw_s) / nullif(answered, 0) AS aht,
    talk_s / nullif(answered, 0) AS avg_talk,
    hold_s / nullif(answered, 0) AS avg_hold,
    acw_s / nullif(answered, 0) AS avg_acw,
    transferred / nullif(answered, 0) AS transfer_rate,
    escalated / nullif(answered, 0) AS escalation_rate,{rates}
    resolved / nullif(resolution_known, 0) AS resolution_rate,
    blocked / nullif(offered, 0) AS blocked_rate,
    offered::DOUBLE AS calls_per_interval,  -- offered per 30-min interval of a 30-min bucket
    offered AS peak_interval_calls           -- the busiest 30 minutes of it: itself
FROM totals
"""


def floor_ivr_sql(start: dt.datetime, end: dt.datetime) -> str:
    return f"""
WITH totals AS (
    SELECT time_bucket(INTERVAL 30 MINUTE, "at") AS bucket, node, option,
        count(*) FILTER (result IS NOT NULL) AS ivr_calls,
        count(*) FILTER (result = 'self_served') AS self_served,
        count(*) FILTER (result = 'hung_up') AS hung_up,
        count(option) AS picks
    FROM ivr_steps
    WHERE "at" >= TIMESTAMP '{start}' AND "at" < TIMESTAMP '{end}'
    GROUP BY ALL
)
SELECT bucket, node, option,
    self_served / nullif(ivr_calls, 0) AS ivr_containment,
    hung_up / nullif(ivr_calls, 0) AS ivr_abandon_rate,
    picks / nullif(sum(picks) OVER (PARTITION BY bucket, node), 0) AS ivr_option_share
FROM totals
"""


def run_floor(
    db: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    repeats: bool = True,
    window: bool = False,
    memory_limit: str | None = None,
    warm: bool = False,
) -> dict[str, Any]:
    """The hand-written SQL (``warm``: run once, untimed, before the timed run)."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    con.execute("SET enable_progress_bar = false")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    for _ in range(1 if warm else 0):
        con.sql(floor_calls_sql(start, end, repeats=repeats, window=window)).to_arrow_table()
        con.sql(floor_ivr_sql(start, end)).to_arrow_table()
    clock = Clock()
    with clock.phase("calls"):
        calls = con.sql(
            floor_calls_sql(start, end, repeats=repeats, window=window)
        ).to_arrow_table()
    with clock.phase("ivr"):
        ivr = con.sql(floor_ivr_sql(start, end)).to_arrow_table()
    return {
        "times": clock.total("calls", "ivr"),
        "calls": calls.to_pylist(),
        "ivr": ivr.to_pylist(),
    }


def _repeated(calls: Any) -> tuple[Any, Any]:
    """Repeat contacts: per customer and call the call's first visit, then the customer's
    next call; every visit of a known customer's inbound call looks up its call's next.
    Returns the customer codes (-1: unknown) and whether each row was repeated."""
    import numpy as np
    import pandas as pd

    key = calls["customer_id"].fillna(calls["caller"])
    key_code, _ = pd.factorize(key)
    call_code, _ = pd.factorize(calls["call_id"])
    pair = key_code.astype(np.int64) * (int(call_code.max()) + 1) + call_code
    eligible = ((calls["direction"] == "in").to_numpy()) & (key_code >= 0)
    entered = calls["entered_at"]
    firsts = (
        pd.DataFrame({"pair": pair[eligible], "key": key_code[eligible], "at": entered[eligible]})
        .groupby("pair", sort=False)
        .agg(key=("key", "first"), at=("at", "min"))
        .sort_values(["key", "at"])
    )
    same_key = firsts["key"].shift(-1) == firsts["key"]
    next_at = firsts["at"].shift(-1).where(same_key)
    row_next = pd.Series(pd.NaT, index=calls.index, dtype=entered.dtype)
    row_next[eligible] = next_at.reindex(pair[eligible]).to_numpy()
    repeated = ((row_next - entered) <= pd.Timedelta(days=7)).to_numpy()
    return key_code, repeated


def _repeated_from_column(calls: Any) -> tuple[Any, Any]:
    """Repeat contacts from the warehouse's ``next_contact_at``: as :func:`_repeated`, with
    0 for a known customer instead of their code."""
    import numpy as np

    known = (calls["customer_id"].notna() | calls["caller"].notna()).to_numpy()
    gap = calls["next_contact_at"] - calls["entered_at"]
    repeated = (gap <= np.timedelta64(7, "D")).to_numpy()
    return np.where(known, 0, -1), repeated


def pandas_calls(
    calls: Any, start: dt.datetime, end: dt.datetime, *, repeats: bool = True, window: bool = False
) -> Any:
    """The calls KPIs with pandas: the same definitions as the floor query (without the
    repeat-contact KPIs when not ``repeats``; next contacts from the stored column, or with
    ``window`` found per customer from every call)."""
    import pandas as pd

    answered = (calls["outcome"] == "answered").to_numpy()
    entered = calls["entered_at"]
    visit = (
        (calls["direction"] == "in").to_numpy()
        & calls["queue"].notna().to_numpy()
        & (entered >= start).to_numpy()
        & (entered < end).to_numpy()
    )
    outcome = calls["outcome"][visit]
    final = outcome.isin(FINAL_OUTCOMES)
    ans = answered[visit]
    wait = calls["wait_s"][visit]
    abandoned = (outcome == "abandoned").to_numpy()
    flags = pd.DataFrame(
        {
            "queue": calls["queue"][visit],
            "bucket": entered[visit].dt.floor("30min"),
            "offered": final,
            "answered": ans,
            "abandoned": abandoned,
            "short_abandoned": abandoned & (wait < 5).to_numpy(),
            **{o: (outcome == o).to_numpy() for o in ("timed_out", "exited_key", "blocked")},
            **{o: (outcome == o).to_numpy() for o in ("overflowed", "closed")},
            "answered_in_20_s": ans & (wait <= 20).to_numpy(),
            "wait_answered_s": wait.where(ans),
            "wait_offered_s": wait.where(final),
            "wait_abandoned_s": wait.where(abandoned),
            "max_wait": wait.where(final),
            "talk_s": calls["talk_s"][visit].where(ans),
            "hold_s": calls["hold_s"][visit].where(ans),
            "acw_s": calls["acw_s"][visit].where(ans),
            "transferred": ans & calls["transferred"][visit].fillna(False).to_numpy(bool),
            "escalated": ans & calls["escalated"][visit].fillna(False).to_numpy(bool),
            "resolved": ans & calls["resolved"][visit].fillna(False).to_numpy(bool),
            "resolution_known": ans & calls["resolved"][visit].notna().to_numpy(),
        }
    )
    if repeats:
        key_code, repeated = _repeated(calls) if window else _repeated_from_column(calls)
        flags["answered_known"] = ans & (key_code[visit] >= 0)
        flags["repeats"] = ans & repeated[visit]
    aggs = {c: "sum" for c in flags.columns if c not in CALLS_KEYS}
    aggs["max_wait"] = "max"
    groups = flags.groupby(list(CALLS_KEYS), sort=False, observed=True)
    t = groups.agg(aggs)
    t["p90_wait"] = (
        flags.loc[final, ["queue", "bucket", "max_wait"]]
        .groupby(list(CALLS_KEYS), sort=False, observed=True)["max_wait"]
        .quantile(0.9)
    )

    def ratio(num: Any, den: Any) -> Any:
        return num.astype(float) / den.where(den != 0)

    handled = t["talk_s"] + t["hold_s"] + t["acw_s"]
    out = t[["offered", "answered", "abandoned", "short_abandoned", "timed_out"]].copy()
    out = out.join(t[["exited_key", "blocked", "overflowed", "closed"]])
    base = t["offered"] - t["short_abandoned"]
    out["answer_rate"] = ratio(t["answered"], t["offered"])
    out["abandon_rate"] = ratio(t["abandoned"] - t["short_abandoned"], base)
    out["service_level"] = ratio(t["answered_in_20_s"], base)
    out["asa"] = ratio(t["wait_answered_s"], t["answered"])
    out["avg_wait"] = ratio(t["wait_offered_s"], t["offered"])
    out["avg_abandon_wait"] = ratio(t["wait_abandoned_s"], t["abandoned"])
    out["max_wait"] = t["max_wait"]
    out["p90_wait"] = t["p90_wait"]
    out["aht"] = ratio(handled, t["answered"])
    for part in ("talk", "hold", "acw"):
        out[f"avg_{part}"] = ratio(t[f"{part}_s"], t["answered"])
    out["transfer_rate"] = ratio(t["transferred"], t["answered"])
    out["escalation_rate"] = ratio(t["escalated"], t["answered"])
    if repeats:
        out["repeat_contact_rate"] = ratio(t["repeats"], t["answered_known"])
        out["fcr"] = 1 - out["repeat_contact_rate"]
    out["resolution_rate"] = ratio(t["resolved"], t["resolution_known"])
    out["blocked_rate"] = ratio(t["blocked"], t["offered"])
    out["calls_per_interval"] = t["offered"].astype(float)
    out["peak_interval_calls"] = t["offered"]
    return out.reset_index()


def pandas_ivr(steps: Any, start: dt.datetime, end: dt.datetime) -> Any:
    s = steps[(steps["at"] >= start) & (steps["at"] < end)]
    flags = s.assign(
        bucket=s["at"].dt.floor("30min"),
        ivr_calls=s["result"].notna(),
        self_served=s["result"] == "self_served",
        hung_up=s["result"] == "hung_up",
        picks=s["option"].notna(),
    )[[*IVR_KEYS, "ivr_calls", "self_served", "hung_up", "picks"]]
    t = flags.groupby(list(IVR_KEYS), sort=False, dropna=False, observed=True).sum()
    calls = t["ivr_calls"].where(t["ivr_calls"] != 0)
    out = t[[]].copy()
    out["ivr_containment"] = t["self_served"] / calls
    out["ivr_abandon_rate"] = t["hung_up"] / calls
    picks_in_node = t.groupby(level=["bucket", "node"], dropna=False)["picks"].transform("sum")
    out["ivr_option_share"] = t["picks"] / picks_in_node.where(picks_in_node != 0)
    return out.reset_index()


def _records(df: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as dicts of plain values (NaN and NaT as None)."""
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False).to_pylist()


def run_pandas(
    db: str, start: dt.datetime, end: dt.datetime, *, repeats: bool = True, window: bool = False
) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    con.execute("SET enable_progress_bar = false")
    clock = Clock()
    with clock.phase("load"):
        calls = con.sql(
            "SELECT call_id, direction, queue, customer_id, caller, entered_at, outcome, wait_s,"
            " talk_s, hold_s, acw_s, transferred, escalated, resolved"
            + ("" if window else ", next_contact_at")
            + " FROM calls"
        ).df()
        steps = con.sql('SELECT "at", node, option, result FROM ivr_steps').df()
    with clock.phase("calls"):
        calls_out = pandas_calls(calls, start, end, repeats=repeats, window=window)
    with clock.phase("ivr"):
        ivr_out = pandas_ivr(steps, start, end)
    return {
        "times": clock.total("calls", "ivr"),
        "calls": _records(calls_out),
        "ivr": _records(ivr_out),
    }


def run_dashboards(db: str, start: dt.datetime, end: dt.datetime, repeat: int) -> dict[str, Any]:
    """One warm process: each dashboard query once to warm up, then timed ``repeat`` times
    from the roll-up, and once on the raw calls to compare numbers and time."""
    import ibis

    from callkpi.kpi import Compiler, KpiQuery, run_query
    from callkpi.store import Warehouse

    wh = Warehouse(db, read_only=True)
    existing = wh.existing_tables()
    rows = {level: wh.count(level) for level in LEVELS if level in existing}
    results = []
    for name, by, grain, where, tz in DASHBOARDS:
        q = KpiQuery(DASHBOARD_KPIS, by=by, grain=grain, start=start, end=end, where=where, tz=tz)
        sql = ibis.to_sql(Compiler(wh).compile(q)[0])
        levels = [level for level in LEVELS if f'"{level}"' in sql]
        if not levels:
            raise AssertionError(f"dashboard query {name!r} does not use the roll-up")
        level = " + ".join(levels)
        level_rows = sum(rows[x] for x in levels)
        served = run_query(wh, q)
        times, cpu = [], []
        for _ in range(repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            _ = run_query(wh, q).rows  # as dicts, as the dashboard serves them
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        started = time.perf_counter()
        raw = run_query(wh, q, use_rollup=False)
        raw_s = time.perf_counter() - started
        keys = (*by, *(("period_start",) if grain != "all" else ()))
        mismatches = _compare_rows("roll-up vs raw", served.rows, raw.rows, keys, DASHBOARD_KPIS)
        results.append(
            {
                "name": name,
                "by": list(by),
                "grain": grain,
                "where": [list(w) for w in where],
                "tz": tz,
                "level": level,
                "level_rows": level_rows,
                "rows": len(served.rows),
                "best_s": min(times),
                "median_s": sorted(times)[len(times) // 2],
                "best_cpu_s": min(cpu),
                "raw_s": raw_s,
                "equal_to_raw": not mismatches,
                "mismatches": mismatches[:5],
            }
        )
    return {"rollup_rows": rows, "queries": results}


# The pages' engine queries (server/web/data.py, goals/scorecard.py): the overview's tiles
# for the scorecard (one row, with samples) and by day, and a table by agent; each asked
# for one week and tenant, then for another week and tenant (the same shape).
PAGE_KPIS = (
    *("offered", "service_level", "abandon_rate", "asa", "aht", "fcr", "occupancy"),
    *("adherence", "csat", "nps", "conversion_rate", "avg_deal_size"),
)
PAGE_QUERIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str, bool], ...] = (
    # name, KPIs, by, grain, samples
    ("scorecard (12 KPIs, one row)", PAGE_KPIS, (), "all", True),
    ("overview tiles by day", PAGE_KPIS, (), "day", False),
    (
        "table by agent",
        ("answered", "aht", "service_level", "asa", "transfer_rate", "fcr"),
        ("agent",),
        "all",
        True,
    ),
    (
        "queues x 30 min (live)",
        ("offered", "answered", "service_level", "asa", "abandon_rate"),
        ("tenant", "queue"),
        "30min",
        True,
    ),
)


def run_compile_cache(db: str, tz: str, repeat: int) -> dict[str, Any]:
    """In one warm process, per page query: the first run of its shape (compiled through
    Ibis, then kept), a second run with other dates and tenant (the kept SQL with other
    parameters), and a fresh compile of the second (``cached=False``, as before the
    cache) to compare numbers and time. Best of ``repeat`` for each."""
    from callkpi.kpi import Compiler, KpiQuery
    from callkpi.kpi.compiler import clear_cache
    from callkpi.store import Warehouse

    wh = Warehouse(db, read_only=True)
    tenants = [
        r[0]
        for r in wh.sql("SELECT DISTINCT tenant FROM calls WHERE tenant IS NOT NULL ORDER BY 1")
    ]
    hi = wh.sql("SELECT max(entered_at) FROM calls")[0][0]
    first = dt.datetime.combine(hi.date(), dt.time()) - dt.timedelta(days=14)
    weeks = [
        (first, first + dt.timedelta(days=7)),
        (first + dt.timedelta(days=7), first + dt.timedelta(days=14)),
    ]
    Compiler(wh, cached=False).run(KpiQuery(("offered",)))  # imports, file in the cache
    results = []

    def timed(f: Callable[[], Any]) -> tuple[Any, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = f()
        return out, time.perf_counter() - wall, time.process_time() - cpu

    for name, kpis, by, grain, samples in PAGE_QUERIES:
        queries = [
            KpiQuery(
                kpis,
                by=by,
                grain=grain,
                tz=tz,
                start=s,
                end=e,
                where=(("tenant", tenants[i % len(tenants)]),),
                samples=samples,
            )
            for i, (s, e) in enumerate(weeks)
        ]
        cold, warm, fresh = [], [], []
        same = True
        for _ in range(repeat):
            clear_cache()
            _, w0, c0 = timed(lambda q=queries[0]: Compiler(wh).run(q))
            kept, w1, c1 = timed(lambda q=queries[1]: Compiler(wh).run(q))
            compiled, w2, c2 = timed(lambda q=queries[1]: Compiler(wh, cached=False).run(q))
            same = same and kept.rows == compiled.rows
            cold.append((w0, c0))
            warm.append((w1, c1))
            fresh.append((w2, c2))
        results.append(
            {
                "name": name,
                "rows": len(kept.rows),
                "same_numbers": same,
                "first_s": min(cold)[0],
                "first_cpu_s": min(c for _, c in cold),
                "kept_s": min(warm)[0],
                "kept_cpu_s": min(c for _, c in warm),
                "fresh_s": min(fresh)[0],
                "fresh_cpu_s": min(c for _, c in fresh),
            }
        )
    return {
        "queries": results,
        "tz": tz,
        "weeks": [[s.isoformat(), e.isoformat()] for s, e in weeks],
    }


# -- checking numbers --------------------------------------------------------------------


def _close(a: Any, b: Any) -> bool:
    none_a = a is None or (isinstance(a, float) and math.isnan(a))
    none_b = b is None or (isinstance(b, float) and math.isnan(b))
    if none_a or none_b:
        return none_a and none_b
    if isinstance(a, bool | str) or isinstance(b, bool | str):
        return bool(a == b)
    a, b = float(a), float(b)
    return a == b or abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b))


def _compare_rows(
    label: str,
    expected: Iterable[dict[str, Any]],
    actual: Iterable[dict[str, Any]],
    keys: Sequence[str],
    values: Sequence[str],
) -> list[str]:
    """Differences between two result sets, matched on ``keys`` (at most 20 listed, then
    a count per KPI)."""
    want = {tuple(r[k] for k in keys): r for r in expected}
    got = {tuple(r[k] for k in keys): r for r in actual}
    problems: list[str] = []
    missing, extra = want.keys() - got.keys(), got.keys() - want.keys()
    if missing:
        some = sorted(missing, key=str)[:3]
        problems.append(f"{label}: {len(missing)} groups missing, e.g. {some}")
    if extra:
        some = sorted(extra, key=str)[:3]
        problems.append(f"{label}: {len(extra)} extra groups, e.g. {some}")
    per_kpi: dict[str, int] = {}
    for k in want.keys() & got.keys():
        for v in values:
            if not _close(want[k][v], got[k][v]):
                per_kpi[v] = per_kpi.get(v, 0) + 1
                if len(problems) < 20:
                    problems.append(f"{label}: {v} at {k}: {want[k][v]!r} != {got[k][v]!r}")
    problems += [f"{label}: {v} differs in {n} groups" for v, n in sorted(per_kpi.items())]
    return problems


def check(reference: dict[str, Any], other: dict[str, Any], label: str) -> list[str]:
    """Differences of ``other``'s numbers from ``reference``'s, on the KPIs both have."""
    problems = []
    for part, keys in (("calls", CALLS_KEYS), ("ivr", IVR_KEYS)):
        theirs = set(other[part][0]) if other[part] else set()
        kpis = [c for c in reference[part][0] if c not in keys and c in theirs]
        name = label if part == "calls" else f"{label} (IVR)"
        problems += _compare_rows(name, reference[part], other[part], keys, kpis)
    return problems


# -- the parent --------------------------------------------------------------------------


def peak_rss_mb() -> int:
    """This process's own peak resident memory in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    import resource  # not Linux: the best there is, though it may include the parent's

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _child(args: list[str]) -> tuple[dict[str, Any], float]:
    """Run ``kpi.py child ARGS`` in a new process; return its JSON report (with its peak
    RSS) and its wall seconds."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "child", *args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout), elapsed


def _load_results(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {part: pq.read_table(path / f"{part}.parquet").to_pylist() for part in ("calls", "ivr")}


def _run(engine: str, db: Path, start: dt.datetime, end: dt.datetime, out: Path) -> dict[str, Any]:
    """One run of an engine in a new process; its numbers are kept in ``out / engine``."""
    args = [engine, str(db), start.isoformat(), end.isoformat(), str(out / engine)]
    report, wall_s = _child(args)
    run = {**report["times"], "process_s": wall_s, "peak_rss_mb": report["peak_rss_mb"]}
    print(f"  {engine}: {_fmt_times(run)}", flush=True)
    return run


def _fmt_times(run: dict[str, Any]) -> str:
    parts = [f"{k} {v:.2f}" for k, v in run.items() if k.endswith("_s")]
    return ", ".join(parts) + f", peak {run['peak_rss_mb']:,} MB"


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["total_s"])
    return {
        **best,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "slowest_total_s": max(r["total_s"] for r in runs),
        "least_total_cpu_s": min(r["total_cpu_s"] for r in runs),
        "runs": runs,
    }


def bench_kpi(
    calls: int, repeat: int, seed: int, pandas_repeat: int | None, also: Sequence[str] = ()
) -> dict[str, Any]:
    """``also``: more diagnostics (names of RUNNERS), one run each."""
    from generate_calls import MONTH_END, MONTH_START

    db = HERE / "data" / f"calls_{calls}_seed{seed}.duckdb"
    # In a process of its own: this one stays small (see peak_rss_mb).
    if not db.exists():
        print(f"generating {calls:,} calls into {db} ...", flush=True)
        generator = [sys.executable, str(HERE / "generate_calls.py"), "--calls", str(calls)]
        subprocess.run([*generator, "--seed", str(seed), "--out", str(db)], check=True)
    else:  # a file from an older callkpi: migrate it (new roll-up levels, ...)
        migrate = f"from callkpi.store import Warehouse; Warehouse({str(db)!r}).close()"
        subprocess.run([sys.executable, "-c", migrate], check=True)
    start, end = MONTH_START, MONTH_END
    load_before = os.getloadavg()
    wanted = {e: (pandas_repeat or repeat) if e == "pandas" else repeat for e in ENGINES}
    diagnostics = (*DIAGNOSTICS, *(e for e in also if e not in DIAGNOSTICS))
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in (*ENGINES, *diagnostics)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # Round by round, so that a busy spell on the machine hits every engine alike.
        for i in range(max(wanted.values())):
            print(f"round {i + 1}", flush=True)
            for engine in ENGINES:
                if i < wanted[engine]:
                    runs[engine].append(_run(engine, db, start, end, out))
        print("diagnostics (one run each)", flush=True)
        for engine in diagnostics:
            runs[engine].append(_run(engine, db, start, end, out))
        reference = _load_results(out / "callkpi_raw")
        checks = {
            engine: check(reference, _load_results(out / engine), f"{engine} vs callkpi_raw")
            for engine in (*ENGINES[1:], *diagnostics)
        }
        groups = {"calls": len(reference["calls"]), "ivr": len(reference["ivr"])}
    print("dashboards", flush=True)
    dashboards, _ = _child(
        ["dashboards", str(db), start.isoformat(), end.isoformat(), str(repeat * 3)]
    )
    timings = {engine: _best(r) for engine, r in runs.items()}
    result = _summary(calls, db, timings, checks, groups, dashboards)
    result["load_average"] = {"before": load_before, "after": os.getloadavg()}
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"kpi_{calls}.json").write_text(json.dumps(result, indent=2, default=str))
    _print_report(result)
    return result


def _summary(
    calls: int,
    db: Path,
    timings: dict[str, Any],
    checks: dict[str, list[str]],
    groups: dict[str, int],
    dashboards: dict[str, Any],
) -> dict[str, Any]:
    import duckdb

    for engine, t in timings.items():
        # without the repeat KPIs: against the floor and pandas without them too
        other = "_no_repeats" if engine.endswith("_no_repeats") else ""
        t["x_floor"] = t["total_s"] / timings[f"floor{other}"]["total_s"]
        t["x_floor_window"] = t["total_s"] / timings["floor_window"]["total_s"]
        t["x_floor_cpu"] = t["least_total_cpu_s"] / timings[f"floor{other}"]["least_total_cpu_s"]
        pandas = timings.get(f"pandas{other}")
        t["pandas_over_this"] = pandas["total_s"] / t["total_s"] if pandas else None
    slowest = max(q["best_s"] for q in dashboards["queries"])
    slowest_utc = max(q["best_s"] for q in dashboards["queries"] if q["tz"] == "UTC")
    return {
        "calls": calls,
        "db_mb": round(db.stat().st_size / 1e6),
        "groups": groups,
        "timings": timings,
        "checks": {k: v[:40] for k, v in checks.items()},
        "dashboards": dashboards,
        "targets": {
            "within_1_5x_floor": timings["callkpi"]["x_floor"] <= 1.5,
            "8x_faster_than_pandas": (timings["callkpi"]["pandas_over_this"] or 0) >= 8,
            "peak_under_2_gb": timings["callkpi"]["peak_rss_mb"] < 2048,
            "dashboards_under_200_ms": slowest < 0.2,
            "dashboards_in_utc_under_200_ms": slowest_utc < 0.2,
            "numbers_match": not any(checks.values()),
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}",
        "date": dt.date.today().isoformat(),
    }


LABELS = {
    "callkpi_raw": "callkpi, `use_rollup=False`",
    "callkpi": "callkpi, default (roll-up where it can)",
    "floor": "hand-written DuckDB SQL with next_contact_at (floor)",
    "floor_window": "hand-written DuckDB SQL, window at query time (old floor)",
    "pandas": "pandas with next_contact_at (computation only)",
    "pandas_window": "pandas, window per customer (computation only)",
    "callkpi_no_repeats": "callkpi without repeat_contact_rate and fcr",
    "floor_no_repeats": "floor without repeat_contact_rate and fcr",
    "pandas_no_repeats": "pandas without repeat_contact_rate and fcr",
    "callkpi_memory_1_5gb": "callkpi with `CALLKPI_MEMORY_LIMIT=1.5GB`",
    "floor_memory_1_5gb": "floor with `SET memory_limit = '1.5GB'`",
    "callkpi_warm": "callkpi, default, second run in its process",
    "floor_warm": "floor, second run in its process",
    "callkpi_compiling": "callkpi, default, new process compiling (no disk cache)",
}


def _print_report(result: dict[str, Any]) -> None:
    print(json.dumps(result["targets"], indent=2))
    for engine, problems in result["checks"].items():
        print(f"{engine}: " + ("numbers match" if not problems else "MISMATCH"))
        for p in problems:
            print(f"  {p}")
    t = result["timings"]
    print(
        f"\n{result['calls']:,} calls, {result['groups']['calls']:,} queue x 30-min groups "
        f"(+ {result['groups']['ivr']:,} IVR node x option x 30-min groups); "
        f"load average before/after {result['load_average']}\n"
    )
    print(
        "| run | calls KPIs | IVR KPIs | total (best) | slowest | x floor | x old floor "
        "| pandas / this | CPU (least) | x floor, CPU | peak RSS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for engine in t:
        r = t[engine]
        pandas = "" if r["pandas_over_this"] is None else f"{r['pandas_over_this']:.1f}x"
        print(
            f"| {LABELS[engine]} | {r['calls_s']:.2f} s | {r['ivr_s']:.2f} s | "
            f"{r['total_s']:.2f} s | {r['slowest_total_s']:.2f} s | {r['x_floor']:.2f}x | "
            f"{r['x_floor_window']:.2f}x | {pandas} | {r['least_total_cpu_s']:.1f} s | "
            f"{r['x_floor_cpu']:.2f}x | {r['peak_rss_mb']:,} MB |"
        )
    print(
        f"| pandas: loading the columns from DuckDB (`.df()`) | | | "
        f"{t['pandas']['load_s']:.2f} s | | | | {t['pandas']['load_cpu_s']:.1f} s | | |"
    )
    d = result["dashboards"]
    levels = ", ".join(f"{k} {v:,}" for k, v in d["rollup_rows"].items())
    print(
        f"\nDashboard queries ({', '.join(DASHBOARD_KPIS)}), one month, from the roll-up "
        f"(rows: {levels}); warm process, peak {d['peak_rss_mb']:,} MB\n"
    )
    print(
        "| cut | rows | roll-up level (rows) | best | median | CPU (least) "
        "| raw calls (1 run) | same numbers |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for q in d["queries"]:
        print(
            f"| {q['name']} | {q['rows']:,} | {q['level']} ({q['level_rows']:,}) | "
            f"{q['best_s'] * 1000:.0f} ms | "
            f"{q['median_s'] * 1000:.0f} ms | {q['best_cpu_s'] * 1000:.0f} ms | "
            f"{q['raw_s']:.2f} s | {'yes' if q['equal_to_raw'] else 'NO'} |"
        )


# -- the child entry point ---------------------------------------------------------------


RUNNERS: dict[str, Callable[[str, dt.datetime, dt.datetime], dict[str, Any]]] = {
    "callkpi_raw": partial(run_callkpi, use_rollup=False),
    "callkpi": partial(run_callkpi, use_rollup=True),
    "floor": run_floor,
    "floor_window": partial(run_floor, window=True),
    "pandas": run_pandas,
    "pandas_window": partial(run_pandas, window=True),
    # Diagnostics, one run each: where the time goes, and what a memory limit costs.
    "callkpi_no_repeats": partial(run_callkpi, use_rollup=True, repeats=False),
    "floor_no_repeats": partial(run_floor, repeats=False),
    "pandas_no_repeats": partial(run_pandas, repeats=False),
    "callkpi_memory_1_5gb": partial(run_callkpi, use_rollup=True, memory_limit="1.5GB"),
    "floor_memory_1_5gb": partial(run_floor, memory_limit="1.5GB"),
    # A second run in the same process, as pandas's computation runs on loaded columns.
    "callkpi_warm": partial(run_callkpi, use_rollup=True, warm=True),
    # A new process that compiles the SQL (no disk cache), as the first one ever does.
    "callkpi_compiling": partial(run_callkpi, use_rollup=True, disk_cache=False),
    "floor_warm": partial(run_floor, warm=True),
}
ENGINES = ("callkpi_raw", "callkpi", "floor", "floor_window", "pandas")
DIAGNOSTICS = ("callkpi_no_repeats", "floor_no_repeats", "callkpi_compiling")
"""pandas runs once or twice (``--pandas-repeat``): it needs ~16 GB. ``--diagnostics``
adds the runs of RUNNERS not named here (pandas without the stored column, ...)."""


def child(argv: list[str]) -> None:
    engine, db, start, end = argv[:4]
    s, e = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    if engine == "dashboards":
        dashboards = run_dashboards(db, s, e, int(argv[4]))
        print(json.dumps({**dashboards, "peak_rss_mb": peak_rss_mb()}))
        return
    if engine == "compile_cache":  # START and END unused; ARGV[4]: zone, ARGV[5]: repeat
        report = run_compile_cache(db, argv[4], int(argv[5]))
        print(json.dumps({**report, "peak_rss_mb": peak_rss_mb()}))
        return
    report = RUNNERS[engine](db, s, e)
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(argv[4])
    out.mkdir(parents=True, exist_ok=True)
    for part in ("calls", "ivr"):
        pq.write_table(pa.Table.from_pylist(report[part]), out / f"{part}.parquet")
    print(json.dumps({"times": report["times"], "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    bench_kpi(args.calls, args.repeat, args.seed, args.pandas_repeat, args.also)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pandas-repeat", type=int, default=None, help="runs of pandas (default: --repeat)"
    )
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        choices=sorted(RUNNERS),
        help="more diagnostic runs, one each (e.g. pandas_window: ~16 GB)",
    )


if __name__ == "__main__":
    main()
