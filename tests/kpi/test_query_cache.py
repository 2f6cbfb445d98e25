"""The kept SQL of a query shape (``run_query``'s cache) gives exactly what compiling the
query afresh gives, for other dates, where values and parameters; and a query whose SQL
would differ (other KPIs or definitions, zone, roll-up level, a warehouse without the
roll-up) never reuses it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from callkpi.demo import build_demo
from callkpi.kpi import Compiler, KpiQuery, QueryError, builtin_catalog, load_catalog, run_query
from callkpi.kpi.compiler import cache_info, clear_cache
from callkpi.model import ROLLUP_LEVELS
from callkpi.store import Warehouse

# Three days around Berlin's DST change (25 October 2026, 03:00 -> 02:00).
END = dt.date(2026, 10, 26)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("cache-demo")
    wh = Warehouse(root / "demo.duckdb")
    build_demo(wh, days=3, seed=11, end=END, data_dir=root / "data")
    yield wh
    wh.close()


def _fresh(wh: Warehouse, query: KpiQuery, **kwargs: object) -> list[dict[str, object]]:
    return Compiler(wh, cached=False, **kwargs).run(query).rows  # type: ignore[arg-type]


def _values(wh: Warehouse, column: str) -> list[str]:
    rows = wh.sql(f"SELECT DISTINCT {column} FROM calls WHERE {column} IS NOT NULL ORDER BY 1")
    return [r[0] for r in rows]


KPIS = (
    "offered",
    "answered",
    "service_level",
    "asa",
    "aht",
    "abandon_rate",
    "fcr",
    "p90_wait",
    "max_wait",
    "peak_interval_calls",
    "calls_per_interval",
    "transfer_rate",
    "occupancy",
    "adherence",
    "logged_in_time",
    "conversion_rate",
    "avg_deal_size",
    "csat",
    "nps",
    "cost_per_call",
    "headcount",
)
DIMS = ("queue", "agent", "tenant", "team", "hour_of_day", "weekday")
WHERE_DIMS = ("tenant", "queue", "agent", "team")
# Bounds: whole UTC days, quarter hours, across the DST change, within a day, open ends.
BOUNDS = (
    (dt.datetime(2026, 10, 24), dt.datetime(2026, 10, 27)),
    (dt.datetime(2026, 10, 25), dt.datetime(2026, 10, 26)),
    (dt.datetime(2026, 10, 24, 6, 15), dt.datetime(2026, 10, 26, 18, 0)),
    (dt.datetime(2026, 10, 25, 1, 0), dt.datetime(2026, 10, 25, 5, 0)),
    (dt.datetime(2026, 10, 26, 9, 30), dt.datetime(2026, 10, 26, 9, 45)),
    (None, dt.datetime(2026, 10, 26)),
    (dt.datetime(2026, 10, 25), None),
    (None, None),
)

shapes = st.fixed_dictionaries(
    {
        "kpis": st.lists(st.sampled_from(KPIS), min_size=1, max_size=4, unique=True),
        "by": st.lists(st.sampled_from(DIMS), max_size=2, unique=True),
        "grain": st.sampled_from(["all", "day", "hour", "30min", "15min", "week", "month"]),
        "tz": st.sampled_from(["UTC", "Europe/Berlin", "Europe/Moscow", "Asia/Kolkata"]),
        # where clauses of 0 to 3 dimensions, a dimension possibly twice
        "where": st.lists(st.sampled_from(WHERE_DIMS), max_size=3),
        "params": st.sampled_from([(), ("answer_threshold_s",), ("answer_threshold_s", "x")]),
        "samples": st.booleans(),
    }
)
values = st.fixed_dictionaries(
    {
        "bounds": st.sampled_from(BOUNDS),
        "where": st.lists(st.integers(0, 50), min_size=3, max_size=3),
        # 20 is the default (a roll-up level can answer), 10 and 35.5 are not
        "threshold": st.sampled_from([20.0, 10.0, 35.5]),
        "short": st.sampled_from([5.0, 2.0]),
        "denominator": st.sampled_from(["offered", "answered"]),
    }
)


def _query(wh: Warehouse, shape: dict, v: dict) -> KpiQuery:
    where = []
    for i, dim in enumerate(shape["where"]):
        if dim == "team":
            known = [r[0] for r in wh.sql("SELECT DISTINCT team FROM agents ORDER BY 1")]
        else:
            known = _values(wh, dim)
        known.append("nobody")
        where.append((dim, known[v["where"][i] % len(known)]))
    params: dict[str, float | str] = {}
    if shape["params"]:
        params = {"answer_threshold_s": v["threshold"], "short_abandon_s": v["short"]}
        if "x" in shape["params"]:
            params["service_level_denominator"] = v["denominator"]
        known = {p for k in builtin_catalog().closure(shape["kpis"]) for p in k.params}
        params = {k: value for k, value in params.items() if k in known}
    start, end = v["bounds"]
    return KpiQuery(
        kpis=tuple(shape["kpis"]),
        by=tuple(shape["by"]),
        grain=shape["grain"],
        tz=shape["tz"],
        start=start,
        end=end,
        where=tuple(where),
        params=params,
        samples=shape["samples"],
    )


def _rows_or_error(wh: Warehouse, query: KpiQuery, **kwargs: object) -> object:
    try:
        if kwargs.pop("fresh", False):
            return _fresh(wh, query, **kwargs)
        return run_query(wh, query, **kwargs).rows  # type: ignore[arg-type]
    except QueryError as exc:
        return ("QueryError", str(exc))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, a=values, b=values)
def test_the_kept_sql_gives_a_fresh_compiles_rows(
    demo: Warehouse, shape: dict, a: dict, b: dict
) -> None:
    """A query shape first asked with values ``a``, then with ``b``: the second answer
    (from the kept SQL when the shape is the same) equals compiling ``b`` afresh."""
    qa, qb = _query(demo, shape, a), _query(demo, shape, b)
    expected = _rows_or_error(demo, qb, fresh=True)
    _rows_or_error(demo, qa)
    hits = cache_info()["hits"]
    got = _rows_or_error(demo, qb)
    event("kept SQL reused" if cache_info()["hits"] > hits else "compiled")
    if isinstance(expected, tuple):
        event("query error")
    assert got == expected


def test_other_dates_and_values_reuse_the_kept_sql(demo: Warehouse) -> None:
    """The overview's and the scorecard's shapes, asked again for another day and another
    tenant: no compile, and the numbers of a fresh compile."""
    clear_cache()
    tenants = _values(demo, "tenant")
    assert len(tenants) >= 2
    kpis = ("offered", "service_level", "abandon_rate", "asa", "aht", "fcr", "occupancy")
    for grain, samples in (("day", False), ("all", True)):
        asked = [
            KpiQuery(
                kpis=kpis,
                grain=grain,
                tz="Europe/Berlin",
                start=dt.datetime(2026, 10, d),
                end=dt.datetime(2026, 10, d + 1),
                where=(("tenant", tenant),),
                samples=samples,
            )
            for d, tenant in ((24, tenants[0]), (25, tenants[1]), (26, tenants[0]))
        ]
        for i, query in enumerate(asked):
            before = cache_info()
            rows = run_query(demo, query).rows
            after = cache_info()
            assert (after["hits"] - before["hits"], after["misses"] - before["misses"]) == (
                (0, 1) if i == 0 else (1, 0)
            )
            assert rows == _fresh(demo, query)
            assert any(r["offered"] for r in rows)  # not an empty answer
    assert cache_info()["size"] == 2


def test_a_user_kpi_redefined_is_compiled_again(demo: Warehouse, tmp_path: Path) -> None:
    """Two user catalogs give one KPI id two formulas: each answer is its own formula's."""
    base = {
        "name": "mine",
        "category": "inbound",
        "definition": "d",
        "formula": "f",
        "unit": "ratio",
        "direction": "higher_is_better",
    }
    catalogs = []
    for i, (num, den) in enumerate((("answered", "offered"), ("abandoned", "offered"))):
        path = tmp_path / f"mine{i}.yaml"
        kpi = {**base, "id": "mine", "type": "ratio", "numerator": num, "denominator": den}
        path.write_text(yaml.safe_dump({"kpis": [kpi]}))
        catalogs.append(load_catalog([path]))
    query = KpiQuery(kpis=("mine", "offered"), by=("queue",), start=dt.datetime(2026, 10, 24))
    first = run_query(demo, query, catalog=catalogs[0]).rows
    second = run_query(demo, query, catalog=catalogs[1]).rows
    assert first == Compiler(demo, catalogs[0], cached=False).run(query).rows
    assert second == Compiler(demo, catalogs[1], cached=False).run(query).rows
    assert [r["mine"] for r in first] != [r["mine"] for r in second]
    # and the same again, from the kept SQL of each
    assert run_query(demo, query, catalog=catalogs[0]).rows == first
    assert run_query(demo, query, catalog=catalogs[1]).rows == second


def test_a_warehouse_without_the_rollup_does_not_reuse_its_sql(demo: Warehouse) -> None:
    """The same query on a copy of the calls without roll-up tables (a file read as it is,
    or one the roll-up was dropped from) is compiled for that file."""
    query = KpiQuery(
        kpis=("offered", "service_level", "aht"),
        by=("queue",),
        grain="day",
        start=dt.datetime(2026, 10, 24),
        end=dt.datetime(2026, 10, 27),
    )
    served = Compiler(demo).kept_sql(query)
    assert "calls_rollup" in served
    with Warehouse(":memory:") as bare:
        with bare.transaction():
            bare.load("calls", demo.con.sql("SELECT * FROM calls").to_arrow_table())
        for level in ROLLUP_LEVELS:
            bare.con.execute(f"DROP TABLE {level.table}")
        assert "calls_rollup" not in Compiler(bare).kept_sql(query)
        assert run_query(bare, query).rows == _fresh(bare, query)
        assert run_query(bare, query).rows == run_query(demo, query).rows
    assert Compiler(demo).kept_sql(query) == served
