"""The history that forecasting and staffing need, read from the warehouse: calls per queue
and slot, handle times, caller patience and daily sales. Volumes, handle times and sales
come from the KPI engine (the same numbers ``callkpi kpi`` prints); patience needs each
call's wait, which no KPI cuts by, so it is read from ``calls`` with the filters of the
``offered`` measure (inbound queue visits with a final outcome).

API
---
* :func:`queue_outlooks` ``(wh, *, tz, horizon_days=14, grain="30min", ...) ->
  dict[queue, QueueOutlook]``: one call for planning. Per queue: the history, the
  :class:`~callkpi.wfm.forecast.Forecast` of calls per slot for the next ``horizon_days``
  days (``.frame()`` adds the AHT of each slot: ``slot_start, point, lower, upper,
  aht_s``), the :class:`AhtProfile` and the :class:`Patience` estimate.
* :func:`slot_volumes` ``(wh, *, tz, grain, start, end, kpi="offered", queues) ->
  dict[queue, pd.Series]``: the slot series :mod:`callkpi.wfm.forecast` takes.
* :func:`aht_profiles` ``-> dict[queue, AhtProfile]``; :func:`patience` ``->
  dict[queue, Patience]``.
* :func:`daily_sales` ``-> pd.DataFrame`` (deals won and sales amount per local day) and
  :func:`sales_outlook` ``-> dict["deals_won" | "sales_amount", SalesForecast]``.

``tz`` is the IANA zone whose wall clock sets the slots (seasonality is local); ``start``
(inclusive) and ``end`` (exclusive) are naive local times in that zone, as in
:class:`callkpi.kpi.KpiQuery`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from callkpi import timezones
from callkpi.kpi import KpiQuery, run_query
from callkpi.model import FINAL_INBOUND_OUTCOMES
from callkpi.store import Warehouse
from callkpi.wfm.forecast import Forecast, SalesForecast, forecast, sales_forecast

GRAIN_MINUTES = {"15min": 15, "30min": 30, "hour": 60}
DEFAULT_WAIT_BINS_S: tuple[float, ...] = (0, 10, 20, 30, 60, 90, 120, 180, 300, 600)
"""Lower edges of the wait bins of the patience hazard table; the last bin is open."""
MIN_ABANDONS = 20
"""Abandons below which a queue's own patience estimate is not used for planning: with d
abandons the estimate's relative standard error is about 1 / sqrt(d) (22 % at 20)."""
SHORT_ABANDON_S = 5.0
"""Abandons that waited less are left out of the patience estimate (the catalog's default
``short_abandon_s``)."""
AHT_PRIOR_CALLS = 30
"""How many calls the queue's mean AHT counts for in a weekday x hour cell (shrinkage)."""


def _local_time(value: str) -> dt.datetime:
    """``period_start`` of a KPI row (ISO 8601 with the zone's offset) as a naive local
    wall-clock time."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=None)


def _utc(tz: str, local: dt.datetime | None) -> dt.datetime | None:
    return None if local is None else timezones.local_to_utc(tz, local)


# ======================================================================================
# Volumes
# ======================================================================================


def slot_volumes(
    wh: Warehouse,
    *,
    tz: str,
    grain: str = "30min",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kpi: str = "offered",
    queues: Sequence[str] | None = None,
) -> dict[str, pd.Series]:
    """Per queue, ``kpi`` (a count KPI; default ``offered``, the calls that reached the
    queue) per local slot of ``grain`` (``15min``, ``30min`` or ``hour``): a slot series
    for :func:`callkpi.wfm.forecast.forecast`.

    * Slots are the KPI engine's buckets in ``tz``, keyed by their local wall-clock start.
      In an autumn DST change the repeated hour's two buckets are added into one slot; in
      a spring change the skipped hour's slots hold 0.
    * A queue's series runs from 00:00 of its first day with calls (a queue that opened
      later is not padded with zeros before it existed) to the end of the last day with
      calls in any of the queues, so that every queue's forecast starts on the same day.
      Slots without calls hold 0.
    * A day on which *no* queue had a call, although its weekday had calls on other days,
      is taken for missing data (an outage of the phone system or of the export, or a
      holiday) and holds NaN: the models leave such days out instead of learning a zero
      day. A weekday on which the center is always closed stays 0.
    * A partial last day (an export taken at noon) cannot be told from a quiet day: cut
      the history with ``end`` at a midnight.
    """
    if grain not in GRAIN_MINUTES:
        raise ValueError(f"grain must be one of {', '.join(GRAIN_MINUTES)}, got {grain!r}")
    result = run_query(wh, KpiQuery(kpis=(kpi,), by=("queue",), grain=grain, start=start,
                                    end=end, tz=tz))
    rows = [(r["queue"], _local_time(r["period_start"]), r[kpi] or 0)
            for r in result.rows if r["queue"] is not None]
    if not rows:
        return {}
    frame = pd.DataFrame(rows, columns=["queue", "slot_start", "calls"])
    table = frame.pivot_table(index="slot_start", columns="queue", values="calls",
                              aggfunc="sum", fill_value=0).astype(float)
    step = pd.Timedelta(minutes=GRAIN_MINUTES[grain])
    busy = table.index[table.sum(axis=1) > 0]
    if busy.empty:
        return {}
    last_day = busy.max().normalize()
    full = pd.date_range(busy.min().normalize(), last_day + pd.Timedelta(days=1), freq=step,
                         inclusive="left")
    table = table.reindex(full, fill_value=0.0)
    day_total = table.sum(axis=1).resample("D").sum()
    weekday_open = day_total.groupby(day_total.index.day_of_week).transform(
        lambda days: int((days > 0).sum()))
    missing = day_total.index[(day_total == 0) & (weekday_open > 0)]
    for day in missing:
        table.loc[day: day + pd.Timedelta(days=1) - step] = np.nan
    wanted = set(queues) if queues is not None else None
    out: dict[str, pd.Series] = {}
    for queue in sorted(table.columns):
        if wanted is not None and queue not in wanted:
            continue
        series = table[queue]
        calls = series[series > 0]
        if calls.empty:
            continue
        first = calls.index.min().normalize()
        out[str(queue)] = series.loc[first:].rename(str(queue)).asfreq(step)
    return out


# ======================================================================================
# Handle time
# ======================================================================================


@dataclass(frozen=True)
class AhtProfile:
    """A queue's average handle time (talk + hold + after-call work per answered call, the
    ``aht`` KPI), overall and per ISO weekday (1 = Monday) x local hour.

    ``cells``: ``weekday, hour, answered, aht_s`` (the cell's own AHT) and ``blended_s``,
    the cell's AHT shrunk toward the queue's mean:
    ``(answered * aht_s + prior_calls * mean_s) / (answered + prior_calls)``, so a cell
    with a handful of calls is mostly the queue's mean, and a cell with hundreds is its
    own. A cell without answered calls is the mean."""

    queue: str
    mean_s: float | None
    """None when the queue had no answered call."""
    answered: int
    cells: pd.DataFrame
    prior_calls: float = AHT_PRIOR_CALLS

    def at(self, slot_starts: Sequence[dt.datetime] | pd.DatetimeIndex) -> np.ndarray:
        """The AHT (seconds) for each local slot start: its weekday x hour cell, blended;
        NaN for a queue without any answered call."""
        index = pd.DatetimeIndex(slot_starts)
        if self.mean_s is None:
            return np.full(len(index), np.nan)
        lookup = {(int(w), int(h)): float(v) for w, h, v in
                  self.cells[["weekday", "hour", "blended_s"]].itertuples(index=False)}
        return np.array([lookup.get((int(w) + 1, int(h)), self.mean_s)
                         for w, h in zip(index.day_of_week, index.hour, strict=True)])


def aht_profiles(
    wh: Warehouse,
    *,
    tz: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    queues: Sequence[str] | None = None,
    prior_calls: float = AHT_PRIOR_CALLS,
) -> dict[str, AhtProfile]:
    """Per queue, its :class:`AhtProfile` over [start, end) (local)."""
    overall = run_query(wh, KpiQuery(kpis=("aht",), by=("queue",), start=start, end=end,
                                     tz=tz, samples=True))
    cells = run_query(wh, KpiQuery(kpis=("aht",), by=("queue", "weekday", "hour_of_day"),
                                   start=start, end=end, tz=tz, samples=True))
    frame = pd.DataFrame(cells.rows, columns=list(cells.columns))
    out: dict[str, AhtProfile] = {}
    for row in overall.rows:
        queue = row["queue"]
        if queue is None or (queues is not None and queue not in queues):
            continue
        mean = row["aht"]
        answered = int(row["aht__n"] or 0)
        mine = frame[(frame["queue"] == queue) & (frame["aht__n"].fillna(0) > 0)]
        n = mine["aht__n"].astype(float).to_numpy()
        own = mine["aht"].astype(float).to_numpy()
        blended = (n * own + prior_calls * mean) / (n + prior_calls) if mean is not None else own
        out[str(queue)] = AhtProfile(
            queue=str(queue),
            mean_s=float(mean) if mean is not None else None,
            answered=answered,
            cells=pd.DataFrame({
                "weekday": mine["weekday"].astype(int).to_numpy(),
                "hour": mine["hour_of_day"].astype(int).to_numpy(),
                "answered": n.astype(int),
                "aht_s": own,
                "blended_s": blended,
            }),
            prior_calls=prior_calls,
        )
    return out


# ======================================================================================
# Patience
# ======================================================================================


@dataclass(frozen=True)
class Patience:
    """How long a queue's callers are willing to wait, assuming exponential patience.

    With calls i waiting w_i seconds, and d of them abandoning (the others were answered
    or left for another reason: their patience is only known to exceed their wait, a
    right-censored observation), the maximum-likelihood estimate of the abandonment rate
    is ``theta = d / sum(w_i)`` (abandons per second of waiting) and the mean patience is
    ``1 / theta = sum(w_i) / d`` (Brown et al. 2005, JASA, on the Anonymous Bank data).
    Waits and abandons count from ``short_abandon_s`` on (see :func:`patience`).
    ``low_s``/``high_s`` bound the mean patience at ``level``, treating d as Poisson with
    mean ``theta * sum(w_i)`` (the exact Poisson interval for theta, inverted).

    ``mean_s`` is the value to plan with: the queue's own estimate when it has at least
    ``min_abandons`` abandons, else the pooled estimate of all the queues read together
    (``method`` = ``pooled``) when those have enough, else None (``none``: no estimate;
    plan without abandonment, i.e. Erlang C, or give a patience by hand).

    ``hazard``: the abandonment rate by wait bin, ``from_s, to_s, at_risk`` (calls still
    waiting at ``from_s``), ``exposure_s`` (seconds waited inside the bin), ``abandoned``
    (inside the bin), ``hazard_per_s = abandoned / exposure_s`` and
    ``mean_s = 1 / hazard``. For exponential patience the hazard is the same in every
    bin; a hazard that falls with the wait (impatient callers leave first) or jumps at a
    recorded announcement says the exponential is a rough summary.
    """

    queue: str
    calls: int
    """Queued calls (final outcome), short abandons included."""
    abandoned: int
    """The events: abandons after waiting at least ``short_abandon_s``."""
    wait_s: float
    """The exposure: seconds all the calls waited beyond ``short_abandon_s``."""
    short_abandoned: int
    """Abandons within ``short_abandon_s``: not events (see :func:`patience`)."""
    short_abandon_s: float
    mle_mean_s: float | None
    """The queue's own estimate sum(w) / d; None without abandons."""
    low_s: float | None
    high_s: float | None
    mean_s: float | None
    method: str
    pooled_mean_s: float | None
    hazard: pd.DataFrame
    level: float = 0.95

    @property
    def rate_per_s(self) -> float | None:
        """theta: abandons per second of waiting, for the planned mean."""
        return 1 / self.mean_s if self.mean_s else None


def _mean_interval(abandoned: int, wait_s: float, level: float) -> tuple[float | None,
                                                                          float | None]:
    """(low, high) of the mean patience: the exact Poisson interval of theta inverted."""
    if wait_s <= 0:
        return None, None
    alpha = 1 - level
    rate_low = stats.chi2.ppf(alpha / 2, 2 * abandoned) / (2 * wait_s) if abandoned else 0.0
    rate_high = stats.chi2.ppf(1 - alpha / 2, 2 * abandoned + 2) / (2 * wait_s)
    return 1 / rate_high, (1 / rate_low if rate_low > 0 else math.inf)


def patience(
    wh: Warehouse,
    *,
    tz: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    queues: Sequence[str] | None = None,
    bins_s: Sequence[float] = DEFAULT_WAIT_BINS_S,
    min_abandons: int = MIN_ABANDONS,
    short_abandon_s: float = SHORT_ABANDON_S,
    level: float = 0.95,
) -> dict[str, Patience]:
    """Per queue, its :class:`Patience` over the calls that entered in [start, end)
    (local), from inbound queue visits with a final outcome (the calls ``offered``
    counts). ``abandoned`` outcomes are the events; every other outcome (answered, timed
    out, exited by key, ...) is censored at its wait. A missing wait counts as 0 s.

    Short abandons: the estimate starts every caller's clock at ``short_abandon_s`` (5 s,
    the catalog's default for ``abandon_rate``): abandons within it are not events, and
    only waiting beyond it counts, ``theta = #(abandons with w >= s) / sum(max(w - s, 0))``.
    Calls that end within the first seconds are mostly misdials and callers who hang up
    at once, a burst no staffing would prevent; counted as events they make patience look
    shorter than it is for the callers who do wait (on the demo, where 1-1.5 % of callers
    hang up within 5 s, by some 20 %). For exponential patience, conditioning on a wait
    beyond s changes nothing (it is memoryless), so the estimate is the same patience.
    Merely dropping short abandons while keeping everyone's first seconds of waiting
    would bias it up instead. ``short_abandon_s=0`` uses every call as it is. The hazard
    table shows all calls from 0 s, short abandons included, so the burst is visible.

    The pooled estimate (for queues with too few abandons) pools the queues asked for."""
    edges = [float(b) for b in bins_s]
    if not edges or edges[0] != 0 or any(b >= a for a, b in zip(edges[1:], edges, strict=False)):
        raise ValueError("bins_s must start at 0 and increase")
    if short_abandon_s < 0:
        raise ValueError("short_abandon_s must be >= 0")
    conditions = ["direction = 'in'", "queue IS NOT NULL",
                  f"outcome IN ({', '.join('?' for _ in FINAL_INBOUND_OUTCOMES)})"]
    params: list[object] = [str(o) for o in FINAL_INBOUND_OUTCOMES]
    for op, value in ((">=", _utc(tz, start)), ("<", _utc(tz, end))):
        if value is not None:
            conditions.append(f"entered_at {op} ?")
            params.append(value)
    if queues is not None:
        if not queues:
            return {}
        conditions.append(f"queue IN ({', '.join('?' for _ in queues)})")
        params.extend(queues)
    waits = ("SELECT queue, outcome = 'abandoned' AS gave_up, coalesce(wait_s, 0)::DOUBLE AS w "
             "FROM calls WHERE " + " AND ".join(conditions))
    s = float(short_abandon_s)
    totals = {
        str(queue): (int(calls), int(events), float(exposure), int(short))
        for queue, calls, events, exposure, short in wh.sql(
            f"WITH waits AS ({waits}) SELECT queue, count(*), "
            "count(*) FILTER (WHERE gave_up AND w >= ?), "
            "coalesce(sum(greatest(w - ?, 0)), 0), count(*) FILTER (WHERE gave_up AND w < ?) "
            "FROM waits GROUP BY queue",
            [*params, s, s, s],
        )
    }
    if not totals:
        return {}
    bins = pd.DataFrame(
        wh.sql(
            f"WITH bins AS (SELECT unnest(?::DOUBLE[]) AS lo, unnest(?::DOUBLE[]) AS hi), "
            f"waits AS ({waits}) "
            "SELECT queue, lo, hi, count(*) FILTER (WHERE w >= lo), "
            "coalesce(sum(greatest(least(w, hi) - lo, 0)), 0), "
            "count(*) FILTER (WHERE gave_up AND w >= lo AND w < hi) "
            "FROM waits CROSS JOIN bins GROUP BY queue, lo, hi ORDER BY queue, lo",
            [edges, [*edges[1:], math.inf], *params],
        ),
        columns=["queue", "from_s", "to_s", "at_risk", "exposure_s", "abandoned"],
    )

    def hazard(queue_bins: pd.DataFrame) -> pd.DataFrame:
        table = queue_bins.drop(columns="queue").reset_index(drop=True)
        exposure = table["exposure_s"].to_numpy(dtype=float)
        events = table["abandoned"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(exposure > 0, events / exposure, np.nan)
            mean = np.where(rate > 0, 1 / rate, np.nan)
        return table.assign(exposure_s=exposure, hazard_per_s=rate, mean_s=mean)

    pooled_d = sum(t[1] for t in totals.values())
    pooled_w = sum(t[2] for t in totals.values())
    pooled = pooled_w / pooled_d if pooled_d else None
    out: dict[str, Patience] = {}
    for queue, (calls, d, w, short) in sorted(totals.items()):
        own = w / d if d else None
        low, high = _mean_interval(d, w, level)
        if d >= min_abandons:
            mean, method = own, "queue"
        elif pooled is not None and pooled_d >= min_abandons:
            mean, method = pooled, "pooled"
        else:
            mean, method = None, "none"
        out[queue] = Patience(
            queue=queue, calls=calls, abandoned=d, wait_s=w, short_abandoned=short,
            short_abandon_s=s, mle_mean_s=own, low_s=low, high_s=high, mean_s=mean,
            method=method, pooled_mean_s=pooled,
            hazard=hazard(bins[bins["queue"] == queue]), level=level,
        )
    return out


# ======================================================================================
# Sales
# ======================================================================================


def daily_sales(
    wh: Warehouse,
    *,
    tz: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Deals won and sales amount (the ``deals_won`` and ``sales_amount`` KPIs) per local
    day, indexed by day, from the first to the last day with a won deal (days between
    without one hold 0). The KPIs count a deal on the day it was opened, so while recent
    deals are still open the last days are low; and ``sales_amount`` adds amounts in any
    currency."""
    result = run_query(wh, KpiQuery(kpis=("deals_won", "sales_amount"), grain="day",
                                    start=start, end=end, tz=tz))
    frame = pd.DataFrame(
        [(_local_time(r["period_start"]), r["deals_won"] or 0, r["sales_amount"] or 0.0)
         for r in result.rows],
        columns=["day", "deals_won", "sales_amount"],
    ).groupby("day").sum()
    frame = frame[frame["deals_won"] > 0]
    if frame.empty:
        return pd.DataFrame({"deals_won": [], "sales_amount": []},
                            index=pd.DatetimeIndex([], name="day"))
    days = pd.date_range(frame.index.min(), frame.index.max(), freq="D", name="day")
    return frame.reindex(days, fill_value=0).astype(float)


def sales_outlook(
    wh: Warehouse,
    *,
    tz: str,
    horizon_weeks: int = 4,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    level: float = 0.8,
) -> dict[str, SalesForecast]:
    """Weekly forecasts of ``deals_won`` and ``sales_amount`` (see
    :func:`callkpi.wfm.forecast.sales_forecast`) from :func:`daily_sales`; empty when
    there are no won deals."""
    daily = daily_sales(wh, tz=tz, start=start, end=end)
    if daily.empty:
        return {}
    return {column: sales_forecast(daily[column], horizon_weeks, level=level)
            for column in ("deals_won", "sales_amount")}


# ======================================================================================
# Everything a plan needs, per queue
# ======================================================================================


@dataclass(frozen=True)
class QueueOutlook:
    """What planning a queue needs: its history (slot series), the forecast of calls per
    slot, the handle time profile and the patience estimate."""

    queue: str
    history: pd.Series
    forecast: Forecast
    aht: AhtProfile | None
    """None when the queue has no answered call in the history."""
    patience: Patience | None

    def frame(self) -> pd.DataFrame:
        """The forecast frame (``slot_start, point, lower, upper``) with ``aht_s``, the
        AHT expected in each slot (NaN when unknown)."""
        frame = self.forecast.frame.copy()
        frame["aht_s"] = (self.aht.at(frame["slot_start"]) if self.aht is not None
                          else np.nan)
        return frame


def queue_outlooks(
    wh: Warehouse,
    *,
    tz: str,
    horizon_days: int = 14,
    grain: str = "30min",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    level: float = 0.8,
    queues: Sequence[str] | None = None,
    kpi: str = "offered",
    model: str | None = None,
    min_abandons: int = MIN_ABANDONS,
    short_abandon_s: float = SHORT_ABANDON_S,
) -> dict[str, QueueOutlook]:
    """Per queue: the forecast of calls per ``grain`` slot for the ``horizon_days`` days
    after the history (:func:`callkpi.wfm.forecast.forecast`, model chosen per queue by
    back-test unless ``model`` is given; central ``level`` intervals), the AHT per slot and
    the patience, all from the history in [start, end) (local, in ``tz``)."""
    volumes = slot_volumes(wh, tz=tz, grain=grain, start=start, end=end, kpi=kpi,
                           queues=queues)
    names = sorted(volumes)
    ahts = aht_profiles(wh, tz=tz, start=start, end=end, queues=names)
    patiences = patience(wh, tz=tz, start=start, end=end, queues=names,
                         min_abandons=min_abandons, short_abandon_s=short_abandon_s)
    return {
        queue: QueueOutlook(
            queue=queue,
            history=volumes[queue],
            forecast=forecast(volumes[queue], horizon_days, level=level, model=model),
            aht=ahts.get(queue),
            patience=patiences.get(queue),
        )
        for queue in names
    }
