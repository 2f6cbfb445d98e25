"""Holt-Winters fits are kept by their exact inputs: a forecast computed again (the same
history, or a history whose last day changed, as after a batch of today's events) makes
only the fits whose inputs changed, and gives exactly what fresh fits give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callkpi.wfm import forecast as fc


def _history(seed: int, days: int = 28) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-09-28", periods=days * 48, freq="30min")
    hour = index.hour.to_numpy()
    day = np.arange(len(index)) // 48
    mean = np.where((hour >= 8) & (hour < 20), 10.0, 0.0) * (1 + 0.03 * day) * (
        1 + 0.3 * (index.day_of_week.to_numpy() < 5))
    return pd.Series(rng.poisson(mean).astype(float), index=index)


def _fresh(history: pd.Series, days: int) -> fc.Forecast:
    fc._smooth_kept.cache_clear()
    return fc.forecast(history, days, models={"ets_profile": fc.ets_profile})


def _same(a: fc.Forecast, b: fc.Forecast) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.backtest is not None and b.backtest is not None
    pd.testing.assert_frame_equal(a.backtest.errors, b.backtest.errors, check_exact=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_repeated_forecast_makes_no_new_fit_and_gives_the_same(seed: int) -> None:
    history = _history(seed)
    fc._smooth_kept.cache_clear()  # its counts start again from 0 too
    start = fc._smooth_kept.cache_info().misses
    first = _fresh(history, 3)
    fits = fc._smooth_kept.cache_info().misses
    assert fits == start + 8  # 7 back-test origins and the final fit
    again = fc.forecast(history, 3, models={"ets_profile": fc.ets_profile})
    assert fc._smooth_kept.cache_info().misses == fits
    _same(again, first)


def test_a_changed_last_day_refits_only_what_it_trains() -> None:
    history = _history(3)
    fc.forecast(history, 2, models={"ets_profile": fc.ets_profile})
    fits = fc._smooth_kept.cache_info().misses
    changed = history.copy()
    changed.iloc[-30:] += 5  # the last day's afternoon: in no back-test training window
    kept = fc.forecast(changed, 2, models={"ets_profile": fc.ets_profile})
    # the final fit on the whole history only
    assert fc._smooth_kept.cache_info().misses == fits + 1
    _same(kept, _fresh(changed, 2))
    earlier = history.copy()
    earlier.iloc[48 * 5 + 20] += 7  # day 6: in every window
    fits = fc._smooth_kept.cache_info().misses
    fc.forecast(earlier, 2, models={"ets_profile": fc.ets_profile})
    assert fc._smooth_kept.cache_info().misses == fits + 8
