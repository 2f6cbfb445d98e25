"""Forecasting models, back-test, intervals and the sales forecast, on series whose right
answers are worked out by hand (or, for the intervals, known by construction)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from callkpi.wfm import forecast as fc

MONDAY = pd.Timestamp("2026-10-05")  # a Monday
SLOTS = 48  # 30-minute slots


def series(values: np.ndarray | list[float], start: pd.Timestamp = MONDAY,
           minutes: int = 30) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float),
                     index=pd.date_range(start, periods=len(values), freq=f"{minutes}min"))


def days_of(history: pd.Series, per_day: int = SLOTS) -> np.ndarray:
    return np.asarray(history, dtype=float).reshape(-1, per_day)


def random_history(days: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return series(rng.integers(0, 20, size=days * SLOTS))


# ======================================================================================
# The slot series
# ======================================================================================


def test_a_slot_series_is_checked() -> None:
    assert fc.slots_per_day(series(np.zeros(2 * 96), minutes=15)) == 96
    assert fc.slots_per_day(series(np.zeros(SLOTS))) == SLOTS
    with pytest.raises(ValueError, match="whole days"):
        fc.slots_per_day(series(np.zeros(SLOTS + 1)))
    with pytest.raises(ValueError, match="whole days"):
        fc.slots_per_day(series(np.zeros(SLOTS), start=MONDAY + pd.Timedelta(hours=1)))
    with pytest.raises(ValueError, match="naive"):
        fc.slots_per_day(series(np.zeros(SLOTS)).tz_localize("UTC"))
    with pytest.raises(ValueError, match="divide a day"):
        fc.slots_per_day(series(np.zeros(SLOTS), minutes=7))
    gap = series(np.zeros(SLOTS))
    gap.iloc[3] = np.nan
    with pytest.raises(ValueError, match="whole day"):
        fc.slots_per_day(gap)
    missing = series(np.r_[np.zeros(SLOTS), np.full(SLOTS, np.nan)])
    assert fc.slots_per_day(missing) == SLOTS
    assert list(fc.missing_days(missing)) == [MONDAY + pd.Timedelta(days=1)]


def test_the_forecast_starts_at_the_next_midnight() -> None:
    history = random_history(3)
    index = fc.future_index(history, 3)
    assert list(index) == [MONDAY + pd.Timedelta(days=3, minutes=30 * i) for i in range(3)]


# ======================================================================================
# Models
# ======================================================================================


def test_seasonal_naive_repeats_the_last_week_exactly() -> None:
    history = random_history(15)  # Monday 5 Oct .. Monday 19 Oct
    days = days_of(history)
    got = days_of(series(fc.seasonal_naive(history, 10 * SLOTS)))
    # the forecast starts on Tuesday 20 Oct: the Tuesday a week before is day 8 (13 Oct)
    np.testing.assert_array_equal(got[:7], days[8:15])
    np.testing.assert_array_equal(got[7:10], days[8:11])  # week 2 repeats it again


def test_seasonal_naive_with_less_than_a_week_repeats_the_last_day() -> None:
    history = random_history(3)
    got = days_of(series(fc.seasonal_naive(history, 2 * SLOTS)))
    np.testing.assert_array_equal(got[0], days_of(history)[2])
    np.testing.assert_array_equal(got[1], days_of(history)[2])


def test_seasonal_naive_skips_a_missing_day() -> None:
    history = random_history(14)
    values = days_of(history).copy()
    values[9] = np.nan  # Wednesday of week 2 missing: take Wednesday of week 1
    history = series(values.reshape(-1))
    got = days_of(series(fc.seasonal_naive(history, 7 * SLOTS)))
    np.testing.assert_array_equal(got[2], values[2])
    np.testing.assert_array_equal(got[0], values[7])


def hand_history() -> pd.Series:
    """Three weeks from Monday 5 Oct with calls only at 09:00 (slot 18): Mondays 3, 5, 10;
    Tuesdays 0, 1, 2; other days 4, 4, 4."""
    values = np.zeros((21, SLOTS))
    mondays, tuesdays = [3, 5, 10], [0, 1, 2]
    for week in range(3):
        for weekday in range(7):
            values[7 * week + weekday, 18] = {0: mondays[week], 1: tuesdays[week]}.get(weekday, 4)
    return series(values.reshape(-1))


def test_historical_average_is_the_mean_per_weekday_and_slot() -> None:
    history = hand_history()
    got = days_of(series(fc.historical_average(history, 7 * SLOTS)))
    assert got[0, 18] == 6  # Monday (3 + 5 + 10) / 3
    assert got[1, 18] == 1  # Tuesday (0 + 1 + 2) / 3
    assert got[2, 18] == 4
    assert got.sum() == 6 + 1 + 5 * 4  # nothing outside 09:00
    recent = days_of(series(fc.recent_average(history, 7 * SLOTS)))
    assert recent[0, 18] == 7.5  # the last two weeks: (5 + 10) / 2
    assert recent[1, 18] == 1.5
    assert days_of(series(fc.historical_average(history, 7 * SLOTS, weeks=1)))[0, 18] == 10


def test_historical_average_leaves_out_missing_days_and_unseen_weekdays() -> None:
    values = days_of(hand_history()).copy()
    values[7] = np.nan  # the second Monday (5 calls) is missing
    got = days_of(series(fc.historical_average(series(values.reshape(-1)), SLOTS)))
    assert got[0, 18] == (3 + 10) / 2
    # two days of history (Monday 3, Tuesday 0): Wednesday was never seen -> the mean
    # of the slot over all days
    short = series(days_of(hand_history())[:2].reshape(-1))
    assert days_of(series(fc.historical_average(short, SLOTS)))[0, 18] == 1.5


def test_intraday_profile_is_a_ratio_of_sums() -> None:
    values = np.zeros((14, SLOTS))
    values[0, [18, 19]] = [1, 3]  # Monday week 1: 1 and 3
    values[7, [18, 19]] = [5, 1]  # Monday week 2: 5 and 1 -> (6, 4) / 10
    values[1, 20] = 2  # Tuesday: all at 10:00
    profile = fc.intraday_profile(series(values.reshape(-1)))
    assert profile[0, 18] == pytest.approx(0.6)
    assert profile[0, 19] == pytest.approx(0.4)
    assert profile[1, 20] == 1
    # Wednesday had no calls: the profile of all days (6+0, 4, 2) / 12
    assert profile[2, 18] == pytest.approx(0.5)
    assert profile.sum(axis=1) == pytest.approx(np.ones(7))


def weekly_pattern(days: int, level: float = 1.0) -> pd.Series:
    """Calls from 08:00 to 18:00, Monday to Friday heavier, Sunday closed, every week
    the same."""
    week = np.array([10, 9, 8, 8, 7, 3, 0], dtype=float)
    shape = np.zeros(SLOTS)
    shape[16:36] = np.linspace(1, 3, 20)
    values = [level * week[d % 7] * shape for d in range(days)]
    return series(np.concatenate(values))


def test_ets_profile_reproduces_a_steady_week() -> None:
    history = weekly_pattern(28)
    got = fc.ets_profile(history, 7 * SLOTS)
    np.testing.assert_allclose(got, np.asarray(history)[-7 * SLOTS:], rtol=0.02, atol=1e-6)


def test_ets_profile_with_under_two_weeks_uses_weekday_means() -> None:
    values = days_of(weekly_pattern(10)).copy()
    values[7] *= 2  # the second Monday twice the first: the Monday mean is 1.5x
    history = series(values.reshape(-1))
    got = days_of(series(fc.ets_profile(history, 7 * SLOTS)))  # from Thursday
    monday = got[4]
    np.testing.assert_allclose(monday, values[0] * 1.5)
    np.testing.assert_allclose(got[0], values[3])  # Thursday seen once


def test_ets_profile_follows_a_change_of_level() -> None:
    # three weeks at level 1, then a week at level 2: the smoother moves toward 2, the
    # plain average of all weeks does not get past 1.25
    history = series(np.r_[np.asarray(weekly_pattern(21)), np.asarray(weekly_pattern(7, 2))])
    ets = fc.ets_profile(history, 7 * SLOTS).sum()
    average = fc.historical_average(history, 7 * SLOTS).sum()
    one_week = np.asarray(weekly_pattern(7)).sum()
    assert average == pytest.approx(1.25 * one_week)
    assert ets > 1.5 * one_week


# ======================================================================================
# Errors
# ======================================================================================


def test_error_measures_by_hand() -> None:
    actual, point = [10, 0, 5, 5], [8, 1, 5, 7]  # errors 2, -1, 0, -2
    assert fc.mae(actual, point) == 5 / 4
    assert fc.rmse(actual, point) == math.sqrt((4 + 1 + 0 + 4) / 4)  # 1.5
    assert fc.wape(actual, point) == 5 / 20
    assert math.isnan(fc.wape([0, 0], [1, 2]))
    assert math.isnan(fc.rmse([], []))


# ======================================================================================
# Back-test and choice
# ======================================================================================


def test_backtest_origins_and_horizons() -> None:
    history = random_history(28)
    result = fc.backtest(history, horizon_days=7, folds=7)
    assert result is not None
    # the last 7 midnights, each forecast to the end of the history
    assert result.origins == tuple(MONDAY + pd.Timedelta(days=d) for d in range(21, 28))
    by_day = result.by_day[result.by_day["model"] == "seasonal_naive"].set_index("day_ahead")
    assert list(by_day.index) == [1, 2, 3, 4, 5, 6, 7]
    assert list(by_day["folds"]) == [7, 6, 5, 4, 3, 2, 1]
    assert list(by_day["slots"]) == [SLOTS * f for f in (7, 6, 5, 4, 3, 2, 1)]
    assert set(result.summary.index) == set(fc.MODELS)
    # one error row per model, origin and slot: 28 forecast days per model
    assert len(result.errors) == len(fc.MODELS) * 28 * SLOTS
    # the summary is the errors pooled
    naive = result.errors[result.errors["model"] == "seasonal_naive"]
    assert result.summary.loc["seasonal_naive", "rmse"] == pytest.approx(
        fc.rmse(naive["actual"], naive["point"]))
    assert list(result.summary["rmse"]) == sorted(result.summary["rmse"])


def test_backtest_keeps_the_minimum_training() -> None:
    result = fc.backtest(random_history(17), folds=7, min_train_days=14)
    assert result is not None
    assert len(result.origins) == 3  # days 14, 15, 16
    assert result.horizon_days == 3
    assert fc.backtest(random_history(14), min_train_days=14) is None


def test_a_perfectly_weekly_series_chooses_the_simplest_perfect_model() -> None:
    history = weekly_pattern(28)
    result = fc.forecast(history, 7)
    assert result.backtest is not None
    assert result.backtest.summary.loc["seasonal_naive", "rmse"] == 0
    assert result.backtest.summary.loc["historical_average", "rmse"] == pytest.approx(0, abs=1e-12)
    assert result.model == "seasonal_naive"  # the tie goes to the model listed first
    np.testing.assert_array_equal(result.frame["point"], np.asarray(history)[-7 * SLOTS:])


def test_forecast_frame_and_forced_model() -> None:
    history = random_history(21)
    result = fc.forecast(history, 3, model="ets_profile", level=0.9)
    assert result.model == "ets_profile"
    assert list(result.frame.columns) == ["slot_start", "point", "lower", "upper"]
    assert len(result.frame) == 3 * SLOTS
    assert result.frame["slot_start"].iloc[0] == MONDAY + pd.Timedelta(days=21)
    assert (result.frame["lower"] <= result.frame["point"]).all()
    assert (result.frame["upper"] >= result.frame["point"]).all()
    assert result.slot_minutes == 30
    assert result.backtest is not None
    assert result.dispersion == result.backtest.dispersions["ets_profile"]
    with pytest.raises(ValueError, match="unknown model"):
        fc.forecast(history, 3, model="prophet")


def test_short_history_has_no_backtest_and_says_so() -> None:
    result = fc.forecast(random_history(10), 7)
    assert result.backtest is None
    assert result.model == "historical_average"
    assert any("no back-test" in note for note in result.notes)
    tiny = fc.forecast(random_history(3), 2)
    assert any("less than a week" in note for note in tiny.notes)
    values = days_of(random_history(21)).copy()
    values[10] = np.nan
    gaps = fc.forecast(series(values.reshape(-1)), 2)
    assert any("1 days without data" in note and "2026-10-15" in note for note in gaps.notes)


# ======================================================================================
# Intervals for over-dispersed counts
# ======================================================================================

RATIO = 2.5  # variance / mean


def week_means() -> np.ndarray:
    """(7, 48) expected calls: open 08:00-20:00, a midday peak of 28, Sunday closed."""
    slot = np.arange(SLOTS)
    day = np.where((slot >= 16) & (slot < 40), 8 + 20 * np.sin(np.pi * (slot - 16) / 24), 0.0)
    return np.array([1.2, 1.1, 1.0, 1.0, 0.9, 0.5, 0.0])[:, None] * day[None, :]


def negative_binomial(rng: np.random.Generator, start: pd.Timestamp,
                      days: int) -> tuple[pd.Series, np.ndarray]:
    """Counts with the week_means() means and variance RATIO x mean: a negative binomial
    with success probability 1 / RATIO and size mean / (RATIO - 1)."""
    index = pd.date_range(start, periods=days * SLOTS, freq="30min")
    mu = week_means()[index.day_of_week, index.hour * 2 + index.minute // 30]
    p = 1 / RATIO
    size = np.maximum(mu * p / (1 - p), 1e-12)
    counts = np.where(mu > 0, rng.negative_binomial(size, p), 0)
    return pd.Series(counts.astype(float), index=index), mu


def test_dispersion_estimate_and_intervals_with_the_true_mean() -> None:
    rng = np.random.default_rng(7)
    counts, mu = negative_binomial(rng, MONDAY, 56)
    open_slots = mu > 0
    dispersion = fc.Dispersion.fit(counts, mu)
    assert dispersion.phi == pytest.approx(RATIO, rel=0.06)
    covered = dispersion.covers(counts, mu, 0.8)[open_slots].mean()
    poisson = fc.Dispersion.poisson().covers(counts, mu, 0.8)[open_slots].mean()
    # whole-call bounds cover a little more than 80 %; Poisson ones far less
    assert 0.78 <= covered <= 0.86
    assert poisson <= 0.65


def test_interval_quantiles_by_hand() -> None:
    lower, upper = fc.Dispersion(2.5).interval([10.0, 0.0], 0.8)
    size, p = 10 / 1.5, 0.4  # mean 10, variance 25
    assert lower[0] == stats.nbinom.ppf(0.1, size, p)
    assert upper[0] == stats.nbinom.ppf(0.9, size, p)
    assert (lower[1], upper[1]) == (0, 0)
    low_p, high_p = fc.Dispersion(0.7).interval([10.0], 0.8)  # never narrower than Poisson
    assert (low_p[0], high_p[0]) == (stats.poisson.ppf(0.1, 10), stats.poisson.ppf(0.9, 10))
    with pytest.raises(ValueError):
        fc.Dispersion().interval([1.0], 1.0)


def test_forecast_intervals_cover_over_dispersed_counts() -> None:
    """Four weeks of negative-binomial counts (variance 2.5 x mean), forecast 4 weeks
    ahead and compared with four more simulated weeks, three times: the 80 % intervals
    (from the back-test's phi) cover 75-90 % of the open slots (a little over 80 %: whole
    calls, and a phi from folds trained on less history than the final fit), while
    Poisson intervals around the same forecasts cover under 70 %."""
    covered, poisson = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        history, _ = negative_binomial(rng, MONDAY, 28)
        result = fc.forecast(history, 28)
        future, _ = negative_binomial(rng, MONDAY + pd.Timedelta(days=28), 28)
        point = result.frame["point"].to_numpy()
        open_slots = (point > 0) | (future.to_numpy() > 0)
        inside = (future.to_numpy() >= result.frame["lower"]) & (
            future.to_numpy() <= result.frame["upper"])
        covered.extend(inside[open_slots])
        poisson.extend(fc.Dispersion.poisson().covers(future, point, 0.8)[open_slots])
        assert result.dispersion.phi > 2
    assert 0.75 <= np.mean(covered) <= 0.90
    assert np.mean(poisson) < 0.70


# ======================================================================================
# Sales
# ======================================================================================


def daily(values: Sequence[float] | np.ndarray, start: pd.Timestamp = MONDAY) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float),
                     index=pd.date_range(start, periods=len(values), freq="D"))


def test_sales_trend_and_weekdays_exactly() -> None:
    # 4 weeks from Monday 5 Oct: a weekday pattern plus 0.5 a day (3.5 a week), no noise
    pattern = np.array([10, 12, 11, 9, 14, 6, 0], dtype=float)
    days = np.arange(28)
    result = fc.sales_forecast(daily(pattern[days % 7] + 0.5 * days), 2)
    assert list(result.frame["week_start"]) == [pd.Timestamp("2026-11-02"),
                                                pd.Timestamp("2026-11-09")]
    # week of 2 Nov: days 28..34 -> 62 + 0.5 * (28 + ... + 34) = 62 + 108.5
    assert result.frame["point"].iloc[0] == pytest.approx(62 + 108.5)
    assert result.frame["point"].iloc[1] == pytest.approx(62 + 108.5 + 7 * 3.5)
    assert result.slope_per_week == pytest.approx(3.5)
    assert result.residual_sd == pytest.approx(0, abs=1e-9)
    assert result.frame["upper"].iloc[0] - result.frame["lower"].iloc[0] == pytest.approx(
        0, abs=1e-6)


def test_sales_mean_model_interval_by_hand() -> None:
    # 14 days alternating 4 and 6: mean 5, s^2 = 14 / 13; a week is 7 x 5 = 35 with
    # variance s^2 (7 + 7^2 / 14)
    values = [4, 6] * 7
    result = fc.sales_forecast(daily(values), 1, trend=False, weekday_effects=False)
    half = stats.t.ppf(0.9, 13) * math.sqrt(14 / 13 * (7 + 49 / 14))
    assert result.frame["point"].iloc[0] == pytest.approx(35)
    assert result.frame["lower"].iloc[0] == pytest.approx(35 - half)
    assert result.frame["upper"].iloc[0] == pytest.approx(35 + half)
    assert result.slope_per_week is None


def test_sales_with_little_history_drops_trend_and_weekdays() -> None:
    # 10 days from a Wednesday: not every weekday twice, under 3 weeks; the next Monday
    # is 19 Oct
    result = fc.sales_forecast(daily(np.arange(10.0), start=pd.Timestamp("2026-10-07")), 1)
    assert not result.trend and not result.weekday_effects
    assert len(result.notes) == 2
    assert result.frame["week_start"].iloc[0] == pd.Timestamp("2026-10-19")
    assert result.frame["point"].iloc[0] == pytest.approx(7 * 4.5)
    with pytest.raises(ValueError, match="consecutive"):
        fc.sales_forecast(daily([1, 2, 3]).iloc[[0, 2]], 1)


def test_sales_intervals_widen_with_the_horizon_and_stay_positive() -> None:
    rng = np.random.default_rng(3)
    values = 20 + rng.normal(0, 4, size=35)
    result = fc.sales_forecast(daily(values), 6)
    width = (result.frame["upper"] - result.frame["lower"]).to_numpy()
    assert (np.diff(width) > 0).all()
    assert (result.frame["lower"] >= 0).all()
