"""The back-test's measures per model and day ahead (``by_day``) and per model
(``summary``), now from the groups' row positions and plain arrays, are exactly those of
the ``groupby().apply()`` they replace (the reference below: the previous code), on
back-tests of noisy series with closed nights, days without data and ties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from callkpi.wfm.forecast import backtest, mae, rmse, wape


def _reference(errors: pd.DataFrame, keys: str | list[str]) -> pd.DataFrame:
    def measures(group: pd.DataFrame) -> pd.Series:
        open_slots = group[group["open"]]
        return pd.Series({
            "rmse": rmse(group["actual"], group["point"]),
            "mae": mae(group["actual"], group["point"]),
            "wape": wape(group["actual"], group["point"]),
            "coverage": float(open_slots["covered"].mean()) if len(open_slots) else math.nan,
            "slots": len(group),
            "folds": group["origin"].nunique(),
        })

    return errors.groupby(keys, sort=False)[list(errors.columns)].apply(measures)


def _series(seed: int, days: int, gaps: tuple[int, ...] = (), closed_sunday: bool = False
            ) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-09-01", periods=days * 48, freq="30min")
    hour = index.hour.to_numpy()
    mean = np.where((hour >= 8) & (hour < 20), 12.0, 0.0) * (1 + 0.2 * np.sin(
        np.arange(len(index)) / 48 * 2 * np.pi / 7))
    values = rng.poisson(mean).astype(float)
    if closed_sunday:
        values[index.day_of_week == 6] = 0.0
    for day in gaps:
        values[day * 48:(day + 1) * 48] = np.nan
    return pd.Series(values, index=index)


@pytest.mark.parametrize("history", [
    _series(1, 28), _series(2, 28, gaps=(24,)), _series(3, 21, closed_sunday=True),
    _series(4, 35, gaps=(30, 33)), _series(5, 16)])
def test_measures_are_those_of_the_groupby_apply(history: pd.Series) -> None:
    result = backtest(history, level=0.8)
    assert result is not None
    errors = result.errors.copy()
    errors["covered"] = False
    for name, group in errors.groupby("model", sort=False):
        errors.loc[group.index, "covered"] = result.dispersions[str(name)].covers(
            group["actual"], group["point"], 0.8)
    errors["open"] = (errors["point"] > 0) | (errors["actual"] > 0)
    by_day = _reference(errors, ["model", "day_ahead"]).reset_index()
    pd.testing.assert_frame_equal(result.by_day, by_day, check_exact=True)
    summary = _reference(errors, "model")
    summary["phi"] = [result.dispersions[str(m)].phi for m in summary.index]
    pd.testing.assert_frame_equal(result.summary, summary.loc[result.summary.index],
                                  check_exact=True)
    assert len(result.by_day) > len(result.summary) >= 4

