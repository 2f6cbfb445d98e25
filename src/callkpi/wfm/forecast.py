"""Forecasts of calls per slot for workforce planning, and of weekly sales. Pure functions
over pandas series: no warehouse here (:mod:`callkpi.wfm.history` reads the history).

The series
----------
A *slot series* is one queue's calls offered per slot: a ``pd.Series`` of counts whose
index is a regular ``DatetimeIndex`` of naive **local** wall-clock slot starts (15 or 30
minutes), from 00:00 of the first day to the end of the last day (whole days; a day has
``1440 / slot_minutes`` slots). Seasonality follows local time (people call at 9:00 their
time), so the series is in local time; across a DST change the skipped hour's slots hold
0 and the repeated hour's calls are added into one slot (what
:func:`callkpi.wfm.history.slot_volumes` does). A forecast starts at 00:00 of the day
after the history.

API
---
* :func:`forecast` ``(history, horizon_days, *, level=0.8, ...) -> Forecast``: back-tests
  the candidate models, picks the one with the lowest RMSE, and returns ``.frame``
  (``slot_start, point, lower, upper`` for the next ``horizon_days`` days), ``.model``,
  ``.backtest`` (:class:`Backtest`), ``.dispersion`` and ``.notes``.
* The models, each ``(history, horizon_slots) -> np.ndarray``: :func:`seasonal_naive`,
  :func:`historical_average`, :func:`recent_average`, :func:`ets_profile`; ``MODELS``
  names them.
* :func:`backtest` (rolling origin; RMSE, MAE, WAPE and interval coverage by day ahead),
  the error measures :func:`rmse`, :func:`mae`, :func:`wape`, and :class:`Dispersion`
  (the over-dispersed intervals).
* :func:`sales_forecast` ``(daily, horizon_weeks, *, level=0.8) -> SalesForecast``: deals
  won or revenue per ISO week from a daily series (trend and weekday effects).

Why these models
----------------
Four weeks of 30-minute data (1,344 slots) with nights of zero calls are too little and
too zero-heavy for a model of the slot series itself: a double-seasonal Holt-Winters has
to estimate 336 + 48 seasonal states, and a simple MSTL (daily and weekly periods, on the
square root of the counts, the deseasonalized level carried forward) was tried and lost
to the plain weekday x slot average on the demo and on the Anonymous Bank data. So the
seasonal model is the usual WFM split into *how many calls a day* and *how they spread
over the day*: :func:`ets_profile` forecasts the daily totals with exponential smoothing
(statsmodels Holt-Winters, level + weekly seasonality, on log(1 + total) so that the
weekly pattern is multiplicative; closed weekdays left out) and spreads each day's total
with that weekday's intraday profile over the whole history. The daily totals carry the
level and its changes (30 numbers, not 1,344), the profile is an average over many days
(stable); a fitted trend was left out on purpose (on 3-4 weeks it extrapolates noise).
The simple models are the benchmarks it has to beat, and on a stable queue they often
tie: the back-test decides, per queue, by RMSE.

Seasonal naive doubles the noise (a forecast that is last week's counts carries their
Poisson noise on top of next week's), so it rarely wins unless the level jumps; on the
held-out last week of the Anonymous Bank's October every queue's chosen model beat it.
Holidays and other special days are not modelled: a day on which no queue had any call
comes as NaN from :func:`callkpi.wfm.history.slot_volumes` and the models leave it out.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

Model = Callable[[pd.Series, int], np.ndarray]
"""A forecasting model: (slot series of the history, number of slots to forecast) ->
point forecasts for the slots that follow the history, >= 0."""

WEEK_DAYS = 7
ETS_MIN_DAYS = 14
"""Days of history below which :func:`ets_profile` uses weekday means of the daily totals
(a weekly seasonal smoother needs two whole weeks to start from)."""
RECENT_WEEKS = 2


# ======================================================================================
# The series
# ======================================================================================


def slots_per_day(history: pd.Series) -> int:
    """The number of slots in a day of ``history``, checking that it is a slot series:
    a regular naive DatetimeIndex of 15- or 30-minute (any divisor of a day) slots from
    00:00 of its first day, whole days only, and NaN only for whole days without data.
    Raises ValueError otherwise."""
    index = history.index
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError("a slot series needs a DatetimeIndex of local slot starts")
    if index.tz is not None:
        raise ValueError("slot starts must be naive local wall-clock times, not tz-aware")
    if len(index) < 2:
        raise ValueError("a slot series needs at least one whole day of slots")
    step = index[1] - index[0]
    day = pd.Timedelta(days=1)
    if step <= pd.Timedelta(0) or day % step != pd.Timedelta(0):
        raise ValueError(f"slot length {step} does not divide a day")
    if not ((index[1:] - index[:-1]) == step).all():
        raise ValueError("slot starts must be regular, without gaps (fill missing slots with 0)")
    per_day = int(day / step)
    if index[0] != index[0].normalize() or len(index) % per_day:
        raise ValueError("a slot series covers whole days from 00:00")
    missing = np.isnan(np.asarray(history, dtype=float)).reshape(-1, per_day)
    if (missing.any(axis=1) & ~missing.all(axis=1)).any():
        raise ValueError("NaN marks a whole day without data; a slot without calls holds 0")
    return per_day


def missing_days(history: pd.Series) -> pd.DatetimeIndex:
    """The days of a slot series without data (all their slots NaN)."""
    per_day = slots_per_day(history)
    missing = np.isnan(np.asarray(history, dtype=float)).reshape(-1, per_day).all(axis=1)
    return pd.DatetimeIndex(history.index[::per_day][missing])


def future_index(history: pd.Series, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` slot starts that follow ``history``."""
    step = history.index[1] - history.index[0]
    return pd.DatetimeIndex([history.index[-1] + step * (i + 1) for i in range(horizon)])


@dataclass(frozen=True)
class _Days:
    """A slot series as a (days, slots per day) array, each day's weekday (Monday 0) and
    whether it has data."""

    values: np.ndarray
    weekday: np.ndarray
    observed: np.ndarray

    @classmethod
    def of(cls, history: pd.Series) -> _Days:
        per_day = slots_per_day(history)
        values = np.asarray(history, dtype=float).reshape(-1, per_day)
        weekday = (history.index[0].day_of_week + np.arange(len(values))) % WEEK_DAYS
        return cls(values, weekday, ~np.isnan(values).all(axis=1))

    @property
    def per_day(self) -> int:
        return int(self.values.shape[1])

    def future_weekdays(self, days: int) -> np.ndarray:
        return (self.weekday[0] + len(self.values) + np.arange(days)) % WEEK_DAYS

    def mean_by_weekday(self, values: np.ndarray | None = None) -> dict[int, np.ndarray]:
        """Per weekday seen with data: the mean of ``values`` (default: the slot counts)
        over the observed days of that weekday."""
        rows = self.values if values is None else values
        return {
            int(wd): rows[self.observed & (self.weekday == wd)].mean(axis=0)
            for wd in np.unique(self.weekday[self.observed])
        }


def _n_days(horizon: int, per_day: int) -> int:
    return -(-horizon // per_day)


def _as_slots(per_day_values: np.ndarray, horizon: int) -> np.ndarray:
    """(days, slots) -> the first ``horizon`` slots, flattened, never negative."""
    return np.maximum(per_day_values.reshape(-1)[:horizon], 0.0)


# ======================================================================================
# Models (each: slot series of the history, slots to forecast -> point forecasts)
# ======================================================================================


def seasonal_naive(history: pd.Series, horizon: int) -> np.ndarray:
    """The same slot one week before: each future day repeats the latest day of the same
    weekday in the history (the last week, when no day is missing). With less than a week
    of history, the last day repeated (a daily naive forecast that knows nothing of
    weekdays); a weekday whose days are all missing also takes the last day with data."""
    d = _Days.of(history)
    n_days = _n_days(horizon, d.per_day)
    if not d.observed.any():
        return np.zeros(horizon)
    last_day = d.values[np.flatnonzero(d.observed)[-1]]
    latest = {int(d.weekday[i]): d.values[i] for i in np.flatnonzero(d.observed)}
    if len(d.values) < WEEK_DAYS:
        latest = {}
    out = np.array([latest.get(int(wd), last_day) for wd in d.future_weekdays(n_days)])
    return _as_slots(out, horizon)


def historical_average(history: pd.Series, horizon: int, weeks: int | None = None) -> np.ndarray:
    """The mean of each weekday x slot of day over the days with data (all of the history,
    or its last ``weeks`` weeks). A weekday without data in the window (less than a week of
    history) takes the mean of that slot of day over all the window's days with data."""
    if weeks is not None:
        if weeks < 1:
            raise ValueError("weeks must be at least 1")
        per_day = slots_per_day(history)
        history = history.iloc[-weeks * WEEK_DAYS * per_day:]
    d = _Days.of(history)
    n_days = _n_days(horizon, d.per_day)
    if not d.observed.any():
        return np.zeros(horizon)
    overall = d.values[d.observed].mean(axis=0)
    means = d.mean_by_weekday()
    out = np.array([means.get(int(wd), overall) for wd in d.future_weekdays(n_days)])
    return _as_slots(out, horizon)


def recent_average(history: pd.Series, horizon: int) -> np.ndarray:
    """:func:`historical_average` over the last ``RECENT_WEEKS`` (2) weeks: follows a change
    of level sooner, at the price of more noise."""
    return historical_average(history, horizon, weeks=RECENT_WEEKS)


def intraday_profile(history: pd.Series) -> np.ndarray:
    """(7, slots per day): per weekday (Monday 0), the share of that weekday's calls that
    fall in each slot, as a ratio of sums over the days with data (calls in the slot on all
    those days / all calls on those days). A weekday without calls takes the profile of all
    days; a history without calls, a flat profile."""
    d = _Days.of(history)
    values = np.where(d.observed[:, None], d.values, 0.0)
    total = values.sum(axis=0)
    flat = np.full(d.per_day, 1 / d.per_day)
    overall = total / total.sum() if total.sum() > 0 else flat
    profile = np.empty((WEEK_DAYS, d.per_day))
    for wd in range(WEEK_DAYS):
        calls = values[d.weekday == wd].sum(axis=0)
        profile[wd] = calls / calls.sum() if calls.sum() > 0 else overall
    return profile


def _smooth(z: np.ndarray, period: int, steps: int) -> np.ndarray:
    """``exp(.) - 1`` of the Holt-Winters forecast of ``steps`` values after ``z``."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seasonal = period > 1 and len(z) >= 2 * period
        fit = ExponentialSmoothing(
            z, trend=None, seasonal="add" if seasonal else None,
            seasonal_periods=period if seasonal else None,
            initialization_method="estimated",
        ).fit()
        return np.expm1(np.asarray(fit.forecast(steps), dtype=float))


@functools.lru_cache(maxsize=1024)
def _smooth_kept(z: bytes, period: int, steps: int) -> np.ndarray:
    """:func:`_smooth` of the float64 bytes ``z``, kept by its exact inputs (least
    recently used out; ``cache_info().misses`` counts the fits made). A fit is a
    deterministic function of them, so a kept answer is the one a new fit gives. Plans
    and forecasts are computed again after every ingest batch, and most of their
    back-tests' training windows did not change (a batch of today's events changes no
    earlier day): those fits are not made again. Read-only: callers get a copy."""
    smoothed = _smooth(np.frombuffer(z, dtype=float), period, steps)
    smoothed.flags.writeable = False
    return smoothed


def daily_totals_forecast(totals: np.ndarray, first_weekday: int, days: int) -> np.ndarray:
    """Daily totals for the ``days`` after ``totals`` (consecutive days, the first on
    ``first_weekday``, Monday 0; NaN for a day without data).

    With at least ``ETS_MIN_DAYS`` (14) days: additive Holt-Winters with a level and a
    weekly season, no trend (a trend fitted to three or four weeks mostly extrapolates
    noise), on ``log(1 + total)``; parameters and initial states by maximum likelihood
    (statsmodels ``ExponentialSmoothing``), back-transformed with ``exp(.) - 1``. The log
    scale makes the weekly pattern multiplicative (a 10 % drop in level is 10 % on a
    Monday and on a quiet Saturday) and keeps totals positive.

    * Weekdays without a single call in the history (a center closed on Sundays) are left
      out of the smoother, whose season is then the open weekdays (6 for a center closed
      on Sundays), and are forecast 0: a closed day says nothing about the level, and as a
      0 among busy days it would drag the level back after every change.
    * A day without data is filled with its weekday's mean first (the smoother needs every
      day).
    * With less history, or when the fit fails: each weekday's mean total (the overall
      mean for a weekday not seen yet)."""
    totals = np.asarray(totals, dtype=float)
    n = len(totals)
    weekday = (first_weekday + np.arange(n + days)) % WEEK_DAYS
    seen, ahead = weekday[:n], weekday[n:]
    observed = ~np.isnan(totals)
    if not observed.any():
        return np.zeros(days)
    overall = float(totals[observed].mean())
    means = {int(wd): float(totals[observed & (seen == wd)].mean())
             for wd in np.unique(seen[observed])}
    fallback = np.array([means.get(int(wd), overall) for wd in ahead])
    open_days = [wd for wd, mean in means.items() if mean > 0]
    if n < ETS_MIN_DAYS or not open_days:
        return fallback
    filled = np.where(observed, totals, [means.get(int(wd), overall) for wd in seen])
    z = np.log1p(filled[np.isin(seen, open_days)])
    period = len(open_days)
    ahead_open = np.isin(ahead, open_days)
    if np.ptp(z) == 0:
        return np.where(ahead_open, float(np.expm1(z[0])), 0.0)
    try:
        smoothed = _smooth_kept(
            np.ascontiguousarray(z, dtype=float).tobytes(), period, int(ahead_open.sum())
        ).copy()
    except (ValueError, np.linalg.LinAlgError):  # pragma: no cover - numerical failure
        return fallback
    if not np.isfinite(smoothed).all():  # pragma: no cover - numerical failure
        return fallback
    out = np.zeros(days)
    out[ahead_open] = np.maximum(smoothed, 0.0)
    return out


def ets_profile(history: pd.Series, horizon: int) -> np.ndarray:
    """Daily volume times intraday profile: the daily totals forecast by
    :func:`daily_totals_forecast` (exponential smoothing with a weekly season), each spread
    over its day with that weekday's :func:`intraday_profile`."""
    d = _Days.of(history)
    n_days = _n_days(horizon, d.per_day)
    totals = np.where(d.observed, np.nansum(d.values, axis=1), np.nan)
    forecast_totals = daily_totals_forecast(totals, int(d.weekday[0]), n_days)
    profile = intraday_profile(history)
    return _as_slots(forecast_totals[:, None] * profile[d.future_weekdays(n_days)], horizon)


MODELS: dict[str, Model] = {
    "seasonal_naive": seasonal_naive,
    "historical_average": historical_average,
    "recent_average": recent_average,
    "ets_profile": ets_profile,
}
"""The candidate models by name, simplest first (a tie goes to the simpler model)."""


# ======================================================================================
# Errors and intervals
# ======================================================================================


def rmse(actual: Sequence[float] | np.ndarray, point: Sequence[float] | np.ndarray) -> float:
    """Root mean squared error: sqrt(mean((actual - point)^2)). NaN for no values."""
    e = np.asarray(actual, dtype=float) - np.asarray(point, dtype=float)
    return float(np.sqrt(np.mean(e**2))) if e.size else math.nan


def mae(actual: Sequence[float] | np.ndarray, point: Sequence[float] | np.ndarray) -> float:
    """Mean absolute error: mean(|actual - point|). NaN for no values."""
    e = np.asarray(actual, dtype=float) - np.asarray(point, dtype=float)
    return float(np.mean(np.abs(e))) if e.size else math.nan


def wape(actual: Sequence[float] | np.ndarray, point: Sequence[float] | np.ndarray) -> float:
    """Weighted absolute percentage error: sum(|actual - point|) / sum(|actual|), a ratio
    (0.1 = 10 %); NaN when there were no calls at all."""
    a = np.asarray(actual, dtype=float)
    denominator = float(np.abs(a).sum())
    if denominator == 0:
        return math.nan
    return float(np.abs(a - np.asarray(point, dtype=float)).sum() / denominator)


@dataclass(frozen=True)
class Dispersion:
    """Over-dispersed counts: a forecast error's variance is ``phi`` times the forecast,
    ``Var(actual - point) = phi * point`` (quasi-Poisson; ``phi = 1`` is Poisson).

    Real call counts are over-dispersed (the day-to-day variance of counts is often 2-3
    times the mean: weather, campaigns, outages), and a forecast adds its own error, so
    Poisson intervals (``Dispersion.poisson()``) are too narrow. :meth:`fit` takes phi
    from back-test errors; :meth:`interval` gives the central interval of a negative
    binomial with that mean and variance: whole calls, never below 0, skewed right like
    counts (a Poisson when phi <= 1: intervals are never narrower than Poisson). A
    variance growing with the square of the forecast (a negative binomial of fixed size)
    was tried as well: on the demo and the Anonymous Bank back-tests the ratio of squared
    error to forecast stays flat across busy and quiet slots, and the two-parameter fit
    was unstable, so phi alone it is.
    """

    phi: float = 1.0

    @classmethod
    def poisson(cls) -> Dispersion:
        return cls(1.0)

    @classmethod
    def fit(
        cls, actual: Sequence[float] | np.ndarray, point: Sequence[float] | np.ndarray
    ) -> Dispersion:
        """The Pearson estimate ``phi = sum((actual - point)^2) / sum(point)`` over the
        slots forecast above 0 (a slot forecast at 0 says nothing about the variance per
        call). Poisson when there are no such slots."""
        a = np.asarray(actual, dtype=float)
        mu = np.asarray(point, dtype=float)
        keep = (mu > 0) & np.isfinite(mu) & np.isfinite(a)
        if not keep.any():
            return cls.poisson()
        return cls(float(((a[keep] - mu[keep]) ** 2).sum() / mu[keep].sum()))

    def variance(self, mu: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.phi * np.asarray(mu, dtype=float)

    def interval(
        self, mu: Sequence[float] | np.ndarray, level: float = 0.8
    ) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper): the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of a
        negative binomial with mean mu and variance ``phi * mu`` (size ``mu / (phi - 1)``,
        success probability ``1 / phi``); Poisson when phi <= 1; 0 and 0 for mu = 0."""
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level}")
        m = np.maximum(np.asarray(mu, dtype=float), 0.0)
        v = self.variance(m)
        q = np.array([(1 - level) / 2, (1 + level) / 2])
        lower = np.zeros_like(m)
        upper = np.zeros_like(m)
        poisson = (m > 0) & (v <= m * (1 + 1e-9))
        negbin = (m > 0) & ~poisson
        if poisson.any():
            lower[poisson] = stats.poisson.ppf(q[0], m[poisson])
            upper[poisson] = stats.poisson.ppf(q[1], m[poisson])
        if negbin.any():
            mn, vn = m[negbin], v[negbin]
            size, p = mn**2 / (vn - mn), mn / vn
            lower[negbin] = stats.nbinom.ppf(q[0], size, p)
            upper[negbin] = stats.nbinom.ppf(q[1], size, p)
        return lower, upper

    def covers(
        self, actual: Sequence[float] | np.ndarray, point: Sequence[float] | np.ndarray,
        level: float = 0.8,
    ) -> np.ndarray:
        """Whether each actual count lies in its interval (bounds included)."""
        lower, upper = self.interval(point, level)
        a = np.asarray(actual, dtype=float)
        return (a >= lower) & (a <= upper)


# ======================================================================================
# Back-test
# ======================================================================================


@dataclass(frozen=True)
class Backtest:
    """A rolling-origin back-test: for each origin (a local midnight), every model is fit
    on the history before it and forecasts up to ``horizon_days`` days after it, which are
    compared with what happened.

    * ``errors``: one row per model, origin and slot: ``model, origin, slot_start,
      day_ahead`` (1 = the day after the origin), ``actual, point``.
    * ``by_day``: per model and day ahead: ``rmse, mae, wape, coverage, slots, folds``.
    * ``summary``: per model over all its errors: ``rmse, mae, wape, coverage, slots,
      folds, phi``, best first by the criterion (RMSE).

    ``coverage`` is the share of actual counts inside the ``level`` interval built from
    the model's own :class:`Dispersion` fitted to these same errors (2 parameters over
    thousands of slots, so the in-sample optimism is small, but it is in-sample), over the
    open slots only (forecast or actual above 0: a closed night forecast at 0 with 0 calls
    is trivially covered). Intervals of whole calls cover a little more than ``level``
    at low counts, where one call is a large step. Days without data are left out.
    """

    origins: tuple[pd.Timestamp, ...]
    horizon_days: int
    level: float
    errors: pd.DataFrame
    by_day: pd.DataFrame
    summary: pd.DataFrame
    dispersions: dict[str, Dispersion]

    @property
    def best(self) -> str:
        return str(self.summary.index[0])


def backtest(
    history: pd.Series,
    *,
    models: Mapping[str, Model] | None = None,
    horizon_days: int = 7,
    folds: int = 7,
    min_train_days: int = 14,
    level: float = 0.8,
) -> Backtest | None:
    """Rolling-origin back-test of ``models`` (default :data:`MODELS`) on ``history``.

    The origins are the last ``folds`` midnights of the history (one per day; fewer when
    that would leave less than ``min_train_days`` days of training); from each origin the
    models forecast ``horizon_days`` days, cut at the end of the history. So with 7 folds
    the last 7 days are each forecast 1 to 7 days ahead, day 1 ahead is scored 7 times and
    day 7 ahead once. Why the most recent origins rather than origins spread over the
    history: the models are compared at training lengths close to the one the final
    forecast will use (a smoother fit on 14 days is a worse model than the same smoother on
    24), and on the most recent behaviour of the queue. On both months of the Anonymous
    Bank data, selection with origins spread back to day 14 picked worse models for the
    following week than this design. None when there is no origin (fewer than
    ``min_train_days + 1`` days of history).

    Models are ranked by RMSE over all their errors (every fold and day ahead; errors at
    busy slots cost the most agents, and RMSE weights them most); ties go to the model
    listed first."""
    models = dict(models or MODELS)
    per_day = slots_per_day(history)
    n_days = len(history) // per_day
    if folds < 1 or horizon_days < 1:
        raise ValueError("folds and horizon_days must be at least 1")
    origins = list(range(max(n_days - folds, min_train_days), n_days))
    if not origins:
        return None
    values = np.asarray(history, dtype=float)
    parts = []
    for origin in origins:
        horizon = min(horizon_days, n_days - origin)
        train = history.iloc[: origin * per_day]
        test = slice(origin * per_day, (origin + horizon) * per_day)
        for name, model in models.items():
            parts.append(pd.DataFrame({
                "model": name,
                "origin": history.index[origin * per_day],
                "slot_start": history.index[test],
                "day_ahead": np.repeat(np.arange(1, horizon + 1), per_day),
                "actual": values[test],
                "point": np.asarray(model(train, horizon * per_day), dtype=float),
            }))
    errors = pd.concat(parts, ignore_index=True)
    errors = errors[errors["actual"].notna()].reset_index(drop=True)  # days without data
    if errors.empty:
        return None
    dispersions: dict[str, Dispersion] = {}
    errors["covered"] = False
    for name, group in errors.groupby("model", sort=False):
        dispersion = Dispersion.fit(group["actual"], group["point"])
        dispersions[str(name)] = dispersion
        errors.loc[group.index, "covered"] = dispersion.covers(
            group["actual"], group["point"], level)
    errors["open"] = (errors["point"] > 0) | (errors["actual"] > 0)

    by_day = _measures(errors, ["model", "day_ahead"]).reset_index()
    summary = _measures(errors, "model")
    summary["phi"] = [dispersions[str(m)].phi for m in summary.index]
    order = {name: i for i, name in enumerate(models)}
    summary = summary.loc[sorted(  # equal to 9 decimals is a tie: float noise is no win
        summary.index, key=lambda m: (round(float(summary.loc[m, "rmse"]), 9), order[m]))]
    return Backtest(
        origins=tuple(history.index[o * per_day] for o in origins),
        horizon_days=min(horizon_days, n_days - origins[0]),
        level=level,
        errors=errors.drop(columns=["covered", "open"]),
        by_day=by_day,
        summary=summary,
        dispersions=dispersions,
    )


def _measures(errors: pd.DataFrame, keys: str | list[str]) -> pd.DataFrame:
    """Per group of ``keys`` (in order of first appearance): ``rmse, mae, wape,
    coverage, slots, folds`` of the back-test's errors (columns ``actual, point,
    covered, open, origin``). The same numbers as a ``groupby().apply()`` of them, from
    the groups' row positions and plain arrays (the apply's pandas overhead was a third
    of a back-test's time besides the smoother's fits)."""
    actual = errors["actual"].to_numpy(dtype=float)
    point = errors["point"].to_numpy(dtype=float)
    covered = errors["covered"].to_numpy(dtype=bool)
    open_slots = errors["open"].to_numpy(dtype=bool)
    origin = errors["origin"].to_numpy()
    groups = sorted(errors.groupby(keys, sort=False).indices.items(),
                    key=lambda item: int(item[1][0]))
    rows = []
    for _, at in groups:
        a, p, shown = actual[at], point[at], open_slots[at]
        rows.append([rmse(a, p), mae(a, p), wape(a, p),
                     float(covered[at][shown].mean()) if shown.any() else math.nan,
                     len(at), len(pd.unique(origin[at]))])
    columns = ["rmse", "mae", "wape", "coverage", "slots", "folds"]
    if isinstance(keys, str):
        index: pd.Index = pd.Index([key for key, _ in groups], name=keys)
    else:
        index = pd.MultiIndex.from_tuples([key for key, _ in groups], names=keys)
    return pd.DataFrame(np.array(rows, dtype=float).reshape(len(rows), len(columns)),
                        index=index, columns=columns)


# ======================================================================================
# The forecast
# ======================================================================================


@dataclass(frozen=True)
class Forecast:
    """A queue's forecast of calls per slot.

    ``frame``: one row per slot, ``slot_start`` (naive local), ``point`` (expected calls,
    a float), ``lower`` and ``upper`` (the central ``level`` interval, whole calls).
    ``model``: the model used (the back-test's best, or the fallback). ``backtest``: None
    when the history was too short for one. ``notes``: what was assumed or fell back.
    """

    frame: pd.DataFrame
    model: str
    level: float
    dispersion: Dispersion
    backtest: Backtest | None
    slot_minutes: int
    notes: tuple[str, ...] = field(default=())


def forecast(
    history: pd.Series,
    horizon_days: int,
    *,
    level: float = 0.8,
    models: Mapping[str, Model] | None = None,
    model: str | None = None,
    backtest_days: int = 7,
    folds: int = 7,
    min_train_days: int = 14,
) -> Forecast:
    """Calls per slot for the ``horizon_days`` days after ``history`` (a slot series).

    1. :func:`backtest` the candidate ``models`` (default :data:`MODELS`) over the last
       ``folds`` days as origins, ``backtest_days`` days ahead;
    2. take the model with the lowest back-test RMSE (or ``model``, when given: the
       back-test still runs, for its errors and intervals), refit it on the whole history
       and forecast;
    3. intervals: the :class:`Dispersion` fitted to that model's back-test errors, so they
       are as wide as the errors the model actually made. Days further ahead than the
       back-test reached get the same variance function: an assumption, not a measurement.

    With fewer than ``min_train_days + 1`` days there is no back-test: the model is
    :func:`historical_average` (unless ``model`` says otherwise) and the dispersion is
    fitted to the historical average's in-sample errors (optimistic: the intervals are
    likely too narrow); a note says so."""
    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    per_day = slots_per_day(history)
    n_days = len(history) // per_day
    candidates = dict(models or MODELS)
    if model is not None and model not in candidates:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
        candidates[model] = MODELS[model]
    notes: list[str] = []
    gaps = missing_days(history)
    if len(gaps):
        notes.append(f"{len(gaps)} days without data left out: "
                     + ", ".join(d.strftime("%Y-%m-%d") for d in gaps))
    result = backtest(history, models=candidates, horizon_days=backtest_days, folds=folds,
                      min_train_days=min_train_days, level=level)
    if result is not None:
        name = model or result.best
        dispersion = result.dispersions[name]
    else:
        name = model or "historical_average"
        candidates.setdefault(name, historical_average)
        dispersion = Dispersion.fit(np.asarray(history, dtype=float),
                                    _in_sample_average(history))
        notes.append(f"only {n_days} days of history: no back-test; intervals from the "
                     "historical average's in-sample errors (likely too narrow)")
    if n_days < WEEK_DAYS:
        notes.append("less than a week of history: weekday patterns are not known yet")
    if name == "ets_profile" and n_days < ETS_MIN_DAYS:
        notes.append(f"less than {ETS_MIN_DAYS} days: daily totals are weekday means")
    point = np.asarray(candidates[name](history, horizon_days * per_day), dtype=float)
    lower, upper = dispersion.interval(point, level)
    frame = pd.DataFrame({
        "slot_start": future_index(history, horizon_days * per_day),
        "point": point,
        "lower": lower,
        "upper": upper,
    })
    return Forecast(
        frame=frame,
        model=name,
        level=level,
        dispersion=dispersion,
        backtest=result,
        slot_minutes=1440 // per_day,
        notes=tuple(notes),
    )


def _in_sample_average(history: pd.Series) -> np.ndarray:
    """Each slot's weekday x slot-of-day mean over the whole history: the in-sample fitted
    values of :func:`historical_average` (NaN on days without data)."""
    d = _Days.of(history)
    means = d.mean_by_weekday()
    fitted = np.array([means[int(wd)] if ok else np.full(d.per_day, np.nan)
                       for wd, ok in zip(d.weekday, d.observed, strict=True)])
    return fitted.reshape(-1)


# ======================================================================================
# Sales
# ======================================================================================


@dataclass(frozen=True)
class SalesForecast:
    """Weekly totals (deals won, or revenue) for the next ISO weeks.

    ``frame``: ``week_start`` (a Monday), ``point``, ``lower``, ``upper`` (the central
    ``level`` prediction interval, never below 0). ``slope_per_week`` and its standard
    error say how strong the trend is (None without a trend term); ``residual_sd`` is the
    daily residual standard deviation; ``days`` the days of history used."""

    frame: pd.DataFrame
    level: float
    trend: bool
    weekday_effects: bool
    days: int
    slope_per_week: float | None
    slope_se: float | None
    residual_sd: float | None
    notes: tuple[str, ...] = field(default=())


def sales_forecast(
    daily: pd.Series,
    horizon_weeks: int,
    *,
    level: float = 0.8,
    trend: bool = True,
    weekday_effects: bool = True,
) -> SalesForecast:
    """Deals won (or revenue) per ISO week for the ``horizon_weeks`` whole weeks after
    ``daily`` (one value per consecutive day, a DatetimeIndex of dates; days without sales
    hold 0).

    Model (kept simple: a few weeks of history cannot support more): ordinary least squares
    on the daily values with a weekday effect (one mean per weekday: the week's
    seasonality) and a linear trend in time::

        y_d = weekday_mean[weekday(d)] + slope * d + e_d,  e_d iid N(0, s^2)

    A week's forecast is the sum of its 7 daily predictions. Its interval is the exact
    OLS prediction interval for that sum: ``sum +- t(n - p) * s * sqrt(7 + c' (X'X)^-1 c)``
    with ``c`` the sum of the week's 7 design rows, so it widens the further the trend is
    extrapolated. Residual autocorrelation (a good week followed by a good week) would make
    it too narrow. A weekday effect needs each weekday seen twice (else it is dropped, with
    a note); the trend needs 3 weeks of history (else it is dropped). The days between the
    history's end and the next Monday are forecast but not reported."""
    if horizon_weeks < 1:
        raise ValueError("horizon_weeks must be at least 1")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if not isinstance(daily.index, pd.DatetimeIndex) or len(daily) == 0:
        raise ValueError("daily needs a DatetimeIndex of consecutive days")
    days = pd.DatetimeIndex(daily.index).normalize()
    if len(days) > 1 and not ((days[1:] - days[:-1]) == pd.Timedelta(days=1)).all():
        raise ValueError("daily must hold one value per consecutive day (0 for no sales)")
    y = np.asarray(daily, dtype=float)
    n = len(y)
    notes: list[str] = []
    weekday = np.asarray(days.day_of_week)
    if weekday_effects and np.bincount(weekday, minlength=WEEK_DAYS).min() < 2:
        weekday_effects = False
        notes.append("weekday effects need every weekday twice: left out")
    if trend and n < 3 * WEEK_DAYS:
        trend = False
        notes.append("a trend needs 3 weeks of history: left out")

    def design(day_numbers: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
        columns = ([(weekdays == wd).astype(float) for wd in range(WEEK_DAYS)]
                   if weekday_effects else [np.ones(len(day_numbers))])
        if trend:
            columns.append(day_numbers / WEEK_DAYS)  # slope per week
        return np.column_stack(columns)

    x = design(np.arange(n, dtype=float), weekday)
    p = x.shape[1]
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = n - p
    s2 = float(((y - x @ coef) ** 2).sum() / df) if df > 0 else math.nan
    xtx_inv = np.linalg.pinv(x.T @ x)

    first_future = days[-1] + pd.Timedelta(days=1)
    first_monday = first_future + pd.Timedelta(days=(7 - first_future.day_of_week) % 7)
    offset = int((first_monday - days[0]) / pd.Timedelta(days=1))
    t_q = float(stats.t.ppf((1 + level) / 2, df)) if df > 0 else math.nan
    rows = []
    for week in range(horizon_weeks):
        numbers = offset + WEEK_DAYS * week + np.arange(WEEK_DAYS, dtype=float)
        c = design(numbers, (numbers.astype(int) + int(weekday[0])) % WEEK_DAYS).sum(axis=0)
        point = float(c @ coef)
        if df > 0:
            half = t_q * math.sqrt(s2 * (WEEK_DAYS + float(c @ xtx_inv @ c)))
            lower, upper = max(point - half, 0.0), point + half
        else:
            lower = upper = math.nan
        rows.append({"week_start": first_monday + pd.Timedelta(days=WEEK_DAYS * week),
                     "point": max(point, 0.0), "lower": lower, "upper": upper})
    if df <= 0:
        notes.append("too few days to estimate the error: no interval")
    return SalesForecast(
        frame=pd.DataFrame(rows),
        level=level,
        trend=trend,
        weekday_effects=weekday_effects,
        days=n,
        slope_per_week=float(coef[-1]) if trend else None,
        slope_se=math.sqrt(s2 * float(xtx_inv[-1, -1])) if trend and df > 0 else None,
        residual_sd=math.sqrt(s2) if df > 0 else None,
        notes=tuple(notes),
    )
