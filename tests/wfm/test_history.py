"""Reading the history for forecasting and planning: volumes per local slot, handle times,
patience and sales from hand-built warehouses, and the forecast back-tested on the
Anonymous Bank's October 1999 (the last week held out)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from callkpi.ingest import IngestOptions, ingest
from callkpi.kpi import KpiQuery, run_query
from callkpi.store import Warehouse, arrow_rows
from callkpi.wfm import forecast as fc
from callkpi.wfm import history

T = dt.datetime
MSK = "Europe/Moscow"  # UTC+3 all year
UTC3 = dt.timedelta(hours=3)


def call(n: int, local: dt.datetime, queue: str = "A", outcome: str = "answered",
         wait: float | None = 10.0, talk: float | None = 100.0, acw: float | None = None,
         offset: dt.timedelta = UTC3) -> dict[str, Any]:
    """An inbound queue visit that entered at ``local`` (wall time, ``offset`` from UTC)."""
    return {
        "call_id": f"c{n}", "segment": 1, "direction": "in", "queue": queue,
        "entered_at": local - offset, "outcome": outcome, "wait_s": wait,
        "talk_s": talk if outcome == "answered" else None,
        "acw_s": acw if outcome == "answered" else None,
        "transferred": False, "source": "test", "source_ref": f"c{n}",
    }


def load(wh: Warehouse, rows: list[dict[str, Any]], table: str = "calls") -> None:
    with wh.transaction():
        wh.load(table, arrow_rows(table, rows))


def numbered(specs: list[tuple[Any, ...]], **common: Any) -> list[dict[str, Any]]:
    return [call(n, *spec, **common) for n, spec in enumerate(specs)]


# ======================================================================================
# Volumes
# ======================================================================================


@pytest.fixture
def two_queues(wh: Warehouse) -> Warehouse:
    """Moscow time. Queue A: Mon 5 Oct 09:10 x2 and 09:40, Tue 6 Oct 10:00, Mon 12 Oct
    09:10, Wed 14 Oct 09:10. Queue B: Tue 6 Oct 13:00 (its first call), Wed 14 Oct 13:00.
    No call at all on Tue 13 Oct (Tuesdays have calls: missing data) nor Wed 7 Oct
    (missing too); Thursday to Sunday never have calls (closed). Not offered: a call
    still waiting, and an outbound call."""
    rows = numbered([
        (T(2026, 10, 5, 9, 10),), (T(2026, 10, 5, 9, 10),), (T(2026, 10, 5, 9, 40),),
        (T(2026, 10, 6, 10, 0),), (T(2026, 10, 12, 9, 10),), (T(2026, 10, 14, 9, 10),),
        (T(2026, 10, 6, 13, 0), "B"), (T(2026, 10, 14, 13, 0), "B"),
        (T(2026, 10, 5, 9, 20), "A", "in_progress"),
    ])
    rows.append({**call(99, T(2026, 10, 8, 9, 0), queue=None), "direction": "out"})  # type: ignore[arg-type]
    load(wh, rows)
    return wh


def day_slots(series: pd.Series, day: str) -> np.ndarray:
    return series.loc[day].to_numpy()


def test_slot_volumes_fill_zeros_and_mark_days_without_data(two_queues: Warehouse) -> None:
    volumes = history.slot_volumes(two_queues, tz=MSK, grain="30min")
    assert sorted(volumes) == ["A", "B"]
    a, b = volumes["A"], volumes["B"]
    # A: from 00:00 of its first day to the end of the last day with calls (Wed 14 Oct)
    assert a.index[0] == pd.Timestamp("2026-10-05") and a.index[-1] == pd.Timestamp(
        "2026-10-14 23:30")
    assert len(a) == 10 * 48 and fc.slots_per_day(a) == 48
    assert a[pd.Timestamp("2026-10-05 09:00")] == 2
    assert a[pd.Timestamp("2026-10-05 09:30")] == 1
    assert a[pd.Timestamp("2026-10-06 10:00")] == 1
    assert np.nansum(a) == 6
    assert np.isnan(day_slots(a, "2026-10-07")).all()  # a Wednesday with no call anywhere
    assert np.isnan(day_slots(a, "2026-10-13")).all()  # a Tuesday with no call anywhere
    assert (day_slots(a, "2026-10-10") == 0).all()  # Saturday: always closed
    assert list(fc.missing_days(a)) == [pd.Timestamp("2026-10-07"), pd.Timestamp("2026-10-13")]
    # B starts on its first day and ends with A
    assert b.index[0] == pd.Timestamp("2026-10-06") and b.index[-1] == a.index[-1]
    assert b[pd.Timestamp("2026-10-06 13:00")] == 1 and np.nansum(b) == 2
    # choosing queues: the missing days are still the center's
    only_b = history.slot_volumes(two_queues, tz=MSK, queues=["B"])
    assert list(only_b) == ["B"]
    assert np.isnan(day_slots(only_b["B"], "2026-10-07")).all()
    # cutting the history before 13 Oct: no Wednesday has calls any more, so Wednesday 7
    # Oct is a closed day (0), and the history ends on Monday 12 Oct
    cut = history.slot_volumes(two_queues, tz=MSK, end=T(2026, 10, 13))
    assert cut["B"].index[-1] == pd.Timestamp("2026-10-12 23:30")
    assert (day_slots(cut["B"], "2026-10-07") == 0).all()
    quarter = history.slot_volumes(two_queues, tz=MSK, grain="15min")["A"]
    assert fc.slots_per_day(quarter) == 96 and quarter[pd.Timestamp("2026-10-05 09:00")] == 2
    with pytest.raises(ValueError, match="grain"):
        history.slot_volumes(two_queues, tz=MSK, grain="day")


def test_slot_volumes_match_the_offered_kpi(two_queues: Warehouse) -> None:
    volumes = history.slot_volumes(two_queues, tz=MSK)
    (total,) = run_query(two_queues, KpiQuery(kpis=("offered",), tz=MSK)).rows
    assert sum(np.nansum(s) for s in volumes.values()) == total["offered"] == 8


def test_slot_volumes_are_local_across_clock_changes(wh: Warehouse) -> None:
    """Berlin. 25 Oct 2026 (clocks back at 03:00 CEST): a call at 02:10 in each of the two
    02:10s lands in the one local slot 02:00; 29 Mar 2026 (clocks forward at 02:00): the
    slots 02:00 and 02:30 do not exist and hold 0."""
    cest, cet = dt.timedelta(hours=2), dt.timedelta(hours=1)
    load(wh, [
        call(1, T(2026, 10, 25, 2, 10), offset=cest), call(2, T(2026, 10, 25, 2, 10), offset=cet),
        call(3, T(2026, 10, 25, 11, 0), offset=cet),
        call(4, T(2026, 3, 29, 1, 40), offset=cet), call(5, T(2026, 3, 29, 3, 10), offset=cest),
    ])
    autumn = history.slot_volumes(wh, tz="Europe/Berlin", start=T(2026, 10, 1))["A"]
    assert len(autumn) == 48
    assert autumn[pd.Timestamp("2026-10-25 02:00")] == 2
    assert autumn.sum() == 3
    spring = history.slot_volumes(wh, tz="Europe/Berlin", end=T(2026, 4, 1))["A"]
    assert len(spring) == 48
    assert spring[pd.Timestamp("2026-03-29 01:30")] == 1
    assert spring[pd.Timestamp("2026-03-29 02:00")] == 0
    assert spring[pd.Timestamp("2026-03-29 03:00")] == 1


# ======================================================================================
# Handle time
# ======================================================================================


def test_aht_profile_by_hand(wh: Warehouse) -> None:
    """Queue A: Monday 09:10 two calls of talk 80 + after-call work 20 (AHT 100), Tuesday
    10:00 one call of talk 200; an abandoned call does not count. Mean (100 + 100 + 200)
    / 3 = 133.33; with 30 prior calls the Monday 9-10 cell is (2 x 100 + 30 x 133.33) / 32
    = 131.25 and the Tuesday 10-11 cell (200 + 4000) / 31."""
    load(wh, numbered([
        (T(2026, 10, 5, 9, 10), "A", "answered", 5, 80, 20),
        (T(2026, 10, 5, 9, 10), "A", "answered", 5, 80, 20),
        (T(2026, 10, 6, 10, 0), "A", "answered", 5, 200),
        (T(2026, 10, 6, 10, 5), "A", "abandoned", 30),
    ]))
    profile = history.aht_profiles(wh, tz=MSK)["A"]
    mean = 400 / 3
    assert profile.mean_s == pytest.approx(mean)
    assert profile.answered == 3
    cells = profile.cells.set_index(["weekday", "hour"])
    assert cells.loc[(1, 9), "aht_s"] == 100 and cells.loc[(1, 9), "answered"] == 2
    assert cells.loc[(1, 9), "blended_s"] == pytest.approx(131.25)
    assert cells.loc[(2, 10), "blended_s"] == pytest.approx((200 + 30 * mean) / 31)
    slots = pd.DatetimeIndex(["2026-10-12 09:30", "2026-10-13 10:00", "2026-10-14 12:00"])
    np.testing.assert_allclose(profile.at(slots), [131.25, (200 + 30 * mean) / 31, mean])
    raw = history.aht_profiles(wh, tz=MSK, prior_calls=0)["A"]
    np.testing.assert_allclose(raw.at(slots), [100, 200, mean])


# ======================================================================================
# Patience
# ======================================================================================


def hand_patience_calls() -> list[dict[str, Any]]:
    """Queue P: abandons after 100, 150 and 50 s, answered after 200 and 100 s: 3
    abandons in 600 s of waiting. Queue Q: 30 abandons after 60 s and 30 answered after
    40 s: 30 in 3,000 s."""
    at = T(2026, 10, 5, 10, 0)
    specs = [(at, "P", "abandoned", w) for w in (100, 150, 50)]
    specs += [(at, "P", "answered", w) for w in (200, 100)]
    specs += [(at, "Q", "abandoned", 60)] * 30 + [(at, "Q", "answered", 40)] * 30
    return numbered(specs)


def test_patience_by_hand(wh: Warehouse) -> None:
    load(wh, hand_patience_calls())
    p = history.patience(wh, tz=MSK, queues=["P"], short_abandon_s=0, min_abandons=3,
                         bins_s=(0, 100))["P"]
    assert (p.calls, p.abandoned, p.wait_s) == (5, 3, 600)
    assert p.mle_mean_s == 200 and p.mean_s == 200 and p.method == "queue"
    assert p.rate_per_s == pytest.approx(1 / 200)
    # the exact Poisson interval for theta = 3 / 600, inverted
    assert p.low_s == pytest.approx(1200 / stats.chi2.ppf(0.975, 8))
    assert p.high_s == pytest.approx(1200 / stats.chi2.ppf(0.025, 6))
    # [0, 100): 5 calls, 100 + 100 + 50 + 100 + 100 s, the abandon at 50 s;
    # [100, inf): 4 calls still waiting at 100 s, 0 + 50 + 100 + 0 s, abandons at 100, 150
    hazard = p.hazard
    assert list(hazard["at_risk"]) == [5, 4]
    assert list(hazard["exposure_s"]) == [450, 150]
    assert list(hazard["abandoned"]) == [1, 2]
    np.testing.assert_allclose(hazard["hazard_per_s"], [1 / 450, 2 / 150])
    assert hazard["to_s"].iloc[1] == math.inf
    # the same totals as the KPI engine's abandoned and average wait x offered
    (kpi,) = run_query(wh, KpiQuery(kpis=("abandoned", "avg_wait"), by=("queue",),
                                    where=(("queue", "P"),), samples=True)).rows
    assert kpi["abandoned"] == p.abandoned
    assert kpi["avg_wait"] * kpi["avg_wait__n"] == pytest.approx(p.wait_s)


def test_patience_counts_waiting_from_the_short_abandon_threshold(wh: Warehouse) -> None:
    load(wh, hand_patience_calls())
    p = history.patience(wh, tz=MSK, queues=["P"], min_abandons=3)["P"]
    # every wait is 5 s or more: 3 abandons, 600 - 5 x 5 = 575 s
    assert (p.abandoned, p.short_abandoned, p.wait_s) == (3, 0, 575)
    assert p.mean_s == pytest.approx(575 / 3)


def test_patience_with_too_few_abandons_takes_the_pooled_estimate(wh: Warehouse) -> None:
    load(wh, hand_patience_calls())
    both = history.patience(wh, tz=MSK, short_abandon_s=0)  # at least 20 abandons
    pooled = (600 + 3000) / 33
    assert both["Q"].method == "queue" and both["Q"].mean_s == 100
    assert both["P"].method == "pooled" and both["P"].mean_s == pytest.approx(pooled)
    assert both["P"].mle_mean_s == 200  # still reported
    assert both["P"].pooled_mean_s == pytest.approx(pooled)
    alone = history.patience(wh, tz=MSK, short_abandon_s=0, queues=["P"])["P"]
    assert alone.method == "none" and alone.mean_s is None
    assert history.patience(wh, tz=MSK, queues=[]) == {}


def test_patience_recovers_a_known_exponential_mean(wh: Warehouse) -> None:
    """5,000 calls, 180 s mean exponential patience. A quarter are answered at once;
    the others would be answered after an exponential time of mean 60 s, so they wait
    min(patience, answer) and abandon when patience is shorter (about 940 abandons:
    the estimate's standard error is about 3 %). On top, 4 % of callers hang up within
    5 s whatever happens. Counting waits from 5 s the estimate is within 10 % of 180 s and
    the hazard is flat; counting the short hang-ups as abandons pulls it well below."""
    rng = np.random.default_rng(42)
    n, true_mean = 5000, 180.0
    rows = []
    start = T(2026, 10, 5, 8, 0)
    for i in range(n):
        at = start + dt.timedelta(seconds=int(rng.integers(0, 12 * 3600)))
        if rng.random() < 0.04:
            rows.append(call(i, at, "X", "abandoned", float(rng.integers(0, 5))))
            continue
        patience_s = rng.exponential(true_mean)
        answer_s = 0.0 if rng.random() < 0.25 else rng.exponential(60.0)
        gave_up = patience_s < answer_s
        wait = round(min(patience_s, answer_s), 3)
        rows.append(call(i, at, "X", "abandoned" if gave_up else "answered", wait))
    load(wh, rows)
    p = history.patience(wh, tz=MSK)["X"]
    assert p.method == "queue"
    assert p.mean_s == pytest.approx(true_mean, rel=0.10)
    assert p.low_s is not None and p.high_s is not None and p.mean_s is not None
    assert p.low_s < true_mean < p.high_s
    assert p.short_abandoned > 150
    busy = p.hazard[(p.hazard["from_s"] >= 10) & (p.hazard["abandoned"] >= 100)]
    assert len(busy) >= 3
    np.testing.assert_allclose(busy["mean_s"], true_mean, rtol=0.25)
    everything = history.patience(wh, tz=MSK, short_abandon_s=0)["X"]
    assert everything.mean_s is not None and everything.mean_s < 0.9 * p.mean_s


# ======================================================================================
# Sales
# ======================================================================================


def test_daily_sales_and_the_weekly_outlook(wh: Warehouse) -> None:
    """Three weeks from Mon 5 Oct (Moscow): two won deals of 100 every weekday but
    Sunday, a lost deal that does not count, nothing on Sundays."""
    deals = []
    for day in range(21):
        date = T(2026, 10, 5) + dt.timedelta(days=day)
        if date.weekday() == 6:
            continue
        for k in range(2):
            deals.append({"deal_id": f"d{day}-{k}", "opened_at": date + dt.timedelta(hours=9),
                          "closed_at": date + dt.timedelta(hours=10), "status": "won",
                          "amount": 100.0, "currency": "RUB", "source": "test",
                          "source_ref": f"d{day}-{k}"})
    deals.append({"deal_id": "lost", "opened_at": T(2026, 10, 6, 9), "status": "lost",
                  "amount": 500.0, "source": "test", "source_ref": "lost"})
    load(wh, deals, "deals")
    daily = history.daily_sales(wh, tz=MSK)
    assert daily.index[0] == pd.Timestamp("2026-10-05")
    assert daily.index[-1] == pd.Timestamp("2026-10-24")  # the last Saturday with a deal
    assert daily.loc["2026-10-11", "deals_won"] == 0  # a Sunday, filled with 0
    assert daily["deals_won"].sum() == 36 and daily["sales_amount"].sum() == 3600
    outlook = history.sales_outlook(wh, tz=MSK, horizon_weeks=2)
    deals_won = outlook["deals_won"]
    assert list(deals_won.frame["week_start"]) == [pd.Timestamp("2026-10-26"),
                                                   pd.Timestamp("2026-11-02")]
    np.testing.assert_allclose(deals_won.frame["point"], [12, 12])
    np.testing.assert_allclose(outlook["sales_amount"].frame["point"], [1200, 1200])
    assert history.sales_outlook(Warehouse(":memory:"), tz=MSK) == {}


# ======================================================================================
# One call for planning
# ======================================================================================


def test_queue_outlooks_give_forecast_aht_and_patience(wh: Warehouse) -> None:
    """Three weeks of Poisson arrivals in two queues, 09:00-18:00 (Moscow), each call
    answered with 120 s of talk (queue S) or 300 s (queue T), one in ten abandoning."""
    rng = np.random.default_rng(1)
    rows, n = [], 0
    for day in range(21):
        date = T(2026, 10, 5) + dt.timedelta(days=day)
        for queue, rate, talk in (("S", 4.0, 120.0), ("T", 2.0, 300.0)):
            for slot in range(18, 36):
                for _ in range(rng.poisson(rate)):
                    at = date + dt.timedelta(minutes=30 * slot + int(rng.integers(0, 30)))
                    gave_up = rng.random() < 0.1
                    rows.append(call(n, at, queue, "abandoned" if gave_up else "answered",
                                     float(rng.integers(10, 100)), talk))
                    n += 1
    load(wh, rows)
    outlooks = history.queue_outlooks(wh, tz=MSK, horizon_days=3)
    assert sorted(outlooks) == ["S", "T"]
    s = outlooks["S"]
    frame = s.frame()
    assert list(frame.columns) == ["slot_start", "point", "lower", "upper", "aht_s"]
    assert len(frame) == 3 * 48
    assert frame["slot_start"].iloc[0] == pd.Timestamp("2026-10-26")
    np.testing.assert_allclose(frame["aht_s"], 120)
    assert s.forecast.model in fc.MODELS and s.forecast.backtest is not None
    open_hours = frame[(frame["slot_start"].dt.hour >= 9) & (frame["slot_start"].dt.hour < 18)]
    assert open_hours["point"].mean() == pytest.approx(4, rel=0.2)
    assert (frame.loc[frame["slot_start"].dt.hour < 8, "point"] == 0).all()
    assert s.patience is not None and s.patience.method == "queue"
    assert outlooks["T"].aht is not None and outlooks["T"].aht.mean_s == 300
    assert len(s.history) == 21 * 48


# ======================================================================================
# The Anonymous Bank, October 1999
# ======================================================================================

# ../shared beside the checkout, found as tests/conftest.py finds it.
SHARED_DATA = (Path(__file__).resolve().parents[3] / "shared" / "data").resolve()
BANK = SHARED_DATA / "anonymous-bank"
BANK_TZ = "Asia/Jerusalem"
HOLDOUT_START = T(1999, 10, 25)  # Monday 25 to Sunday 31 October


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """october.txt through the shipped anonymous_bank profile (the queue is the call type:
    PS regular, NW new customers, IN internet, NE stock exchange, TT callback, PE English,
    the way the bank's ACD routed them)."""
    if not BANK.is_dir():
        pytest.skip(f"{BANK} is not there")
    folder = tmp_path_factory.mktemp("bank")
    warehouse = Warehouse(folder / "bank.duckdb")
    ingest(warehouse, "mapped", BANK / "october.txt",
           IngestOptions(mapping=Path("anonymous_bank")))
    yield warehouse
    warehouse.close()


def test_bank_forecast_beats_seasonal_naive_on_the_held_out_last_week(bank: Warehouse) -> None:
    """The history is 1-24 October (read through :func:`history.slot_volumes` with
    ``end`` at the holdout); the model is chosen per queue by the back-test on those 24
    days alone; then the chosen model's forecast of 25-31 October is compared with what
    happened, against the seasonal naive forecast (the week of 18-24 October).

    Seen when written (RMSE per 30-minute slot, chosen model first; seasonal naive):
    PS ets_profile 4.87 (7.32), NW historical_average 3.33 (4.03), IN ets_profile 1.67
    (2.07), NE historical_average 1.65 (2.20), TT ets_profile 0.70 (0.81), PE
    historical_average 0.32 (0.43); squared errors of all queues 51 % of the naive ones.
    The 80 % intervals covered 86 % of the week's 1,017 open slots (Poisson intervals
    around the same forecasts: 76 %)."""
    train = history.slot_volumes(bank, tz=BANK_TZ, end=HOLDOUT_START)
    full = history.slot_volumes(bank, tz=BANK_TZ)
    assert sorted(train) == ["IN", "NE", "NW", "PE", "PS", "TT"]
    chosen_se = naive_se = 0.0
    covered: list[bool] = []
    poisson: list[bool] = []
    for queue, past in train.items():
        assert past.index[-1] == pd.Timestamp("1999-10-24 23:30")
        assert not fc.missing_days(past).size
        actual = full[queue].loc["1999-10-25":"1999-10-31"].to_numpy()
        assert len(actual) == 7 * 48
        result = fc.forecast(past, 7)
        assert result.backtest is not None and result.backtest.origins[-1] == pd.Timestamp(
            "1999-10-24")
        point = result.frame["point"].to_numpy()
        naive = fc.seasonal_naive(past, 7 * 48)
        assert fc.rmse(actual, point) < fc.rmse(actual, naive), queue
        chosen_se += float(((actual - point) ** 2).sum())
        naive_se += float(((actual - naive) ** 2).sum())
        open_slots = (point > 0) | (actual > 0)
        inside = (actual >= result.frame["lower"]) & (actual <= result.frame["upper"])
        covered.extend(inside[open_slots])
        poisson.extend(fc.Dispersion.poisson().covers(actual, point)[open_slots])
    assert chosen_se < 0.8 * naive_se
    assert 0.75 <= np.mean(covered) <= 0.95
    assert np.mean(poisson) < np.mean(covered)


def test_bank_patience_and_aht(bank: Warehouse) -> None:
    """Patience of the bank's callers, from waits beyond 5 s: each queue's totals match
    the KPI engine's, and PE (19 abandons) plans with the pooled estimate. Seen when
    written (mean patience, s): PS 544, NW 233, IN 470, NE 1179, TT 230; PE 488 from its
    19 abandons, planned with the pooled 414."""
    patiences = history.patience(bank, tz=BANK_TZ)
    assert patiences["PE"].method == "pooled"
    assert all(patiences[q].method == "queue" for q in ("PS", "NW", "IN", "NE", "TT"))
    everything = history.patience(bank, tz=BANK_TZ, short_abandon_s=0)
    kpis = {r["queue"]: r for r in run_query(bank, KpiQuery(
        kpis=("abandoned", "avg_wait", "aht"), by=("queue",), tz=BANK_TZ, samples=True)).rows}
    ahts = history.aht_profiles(bank, tz=BANK_TZ)
    for queue, p in everything.items():
        assert p.abandoned == kpis[queue]["abandoned"]
        assert p.wait_s == pytest.approx(kpis[queue]["avg_wait"] * kpis[queue]["avg_wait__n"])
        assert p.hazard["abandoned"].sum() == p.abandoned
        assert p.hazard["exposure_s"].sum() == pytest.approx(p.wait_s)
        assert ahts[queue].mean_s == pytest.approx(kpis[queue]["aht"])
        assert patiences[queue].abandoned + patiences[queue].short_abandoned == p.abandoned
