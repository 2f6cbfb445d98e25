"""``callkpi staff``, ``callkpi forecast`` and ``callkpi plan``."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from typing import Annotated, Any

import typer

from callkpi.cli.common import (
    DbOption,
    FormatOption,
    TzOption,
    UserError,
    check_format,
    open_warehouse,
)
from callkpi.cli.output import err, print_rows, show_value
from callkpi.store import DEFAULT_DB
from callkpi.timezones import local_iso
from callkpi.wfm.interval import MODELS, SL_DEFINITIONS

STAFF_UNITS = {
    "p_wait": "ratio", "service_level": "ratio", "occupancy": "ratio", "p_abandon": "ratio",
    "asa_s": "seconds", "avg_wait_s": "seconds", "avg_wait_of_waiting_s": "seconds",
    "load_erlangs": "score",
}


def staff(
    calls: Annotated[float, typer.Option(help="Calls offered in the interval.")],
    aht_s: Annotated[float, typer.Option("--aht-s", help="Average handle time, seconds.")],
    interval_min: Annotated[float, typer.Option(help="Interval length, minutes.")] = 30,
    sl: Annotated[
        float | None, typer.Option("--sl", help="Service level target (0.8 = 80 %).")
    ] = 0.8,
    answer_threshold_s: Annotated[
        float, typer.Option("--answer-threshold-s", help="Answered within this many seconds.")
    ] = 20,
    sl_definition: Annotated[
        str, typer.Option(help="offered, answered or answered_and_abandoned.")
    ] = "offered",
    patience_s: Annotated[
        float | None,
        typer.Option("--patience-s", help="Callers' average patience (Erlang A, simulation)."),
    ] = None,
    max_asa_s: Annotated[float | None, typer.Option("--max-asa-s", help="ASA at most.")] = None,
    max_occupancy: Annotated[float | None, typer.Option(help="Occupancy at most.")] = None,
    max_abandon: Annotated[
        float | None, typer.Option(help="Abandonment at most (needs --patience-s).")
    ] = None,
    shrinkage: Annotated[
        float, typer.Option(help="Share of paid time off the phones (0.3 = 30 %).")
    ] = 0.0,
    model: Annotated[
        str | None,
        typer.Option(help="erlang-c, erlang-a or simulation (default: erlang-a with "
                          "--patience-s, else erlang-c)."),
    ] = None,
    agents: Annotated[
        int | None, typer.Option(help="Evaluate this many agents instead of solving.")
    ] = None,
    handle_cv: Annotated[
        float | None,
        typer.Option(help="Simulation: lognormal handle times with this coefficient of "
                          "variation (default exponential)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Simulation: random seed.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Agents needed for one interval (Erlang C, Erlang A or simulation)."""
    from callkpi.wfm.interval import staff_interval

    check_format(fmt)
    try:
        row = staff_interval(
            calls=calls, aht_s=aht_s, interval_s=interval_min * 60, service_level=sl,
            answer_threshold_s=answer_threshold_s, sl_definition=sl_definition,
            patience_s=patience_s, max_asa_s=max_asa_s, max_occupancy=max_occupancy,
            max_abandon=max_abandon, shrinkage=shrinkage, model=model, agents=agents,
            handle_cv=handle_cv, seed=seed)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    binding = row["binding"]
    if fmt == "json":
        sys.stdout.write(json.dumps(row, default=_json_default) + "\n")
        return
    shown = {k: v for k, v in row.items() if k not in ("standard_errors",)}
    if fmt == "csv":
        shown["binding"] = ";".join(binding)
        print_rows([shown], list(shown), "csv")
        return
    shown["stable"] = "yes" if row["stable"] else "no"
    shown["binding"] = ", ".join(binding) or None
    print_rows(
        [{"measure": k, "value": show_value(v, STAFF_UNITS.get(k))} for k, v in shown.items()
         if v is not None and k not in ("interval_s",)],
        ("measure", "value"), "table", title=f"Staffing ({row['model']})",
    )
    if not row["stable"]:
        err.print("[yellow]unstable:[/] with this many agents the queue grows without bound")


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


# -- forecast and plan ------------------------------------------------------------------


def _days(option: str, text: str) -> int:
    """``14d``, ``2w`` or ``14`` -> days."""
    value = text.strip().lower()
    try:
        days = int(value[:-1]) * 7 if value.endswith("w") else int(value.removesuffix("d"))
    except ValueError:
        raise UserError(f"{option} {text!r}: expected days like 14d or weeks like 2w") from None
    if days < 1:
        raise UserError(f"{option} {text!r}: expected at least one day")
    return days


def _start(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--start {text!r}: expected a date like 2026-11-01") from None


def forecast(
    db: DbOption = DEFAULT_DB,
    tz: TzOption = "UTC",
    horizon: Annotated[str, typer.Option(help="How far ahead: 14d, 2w, ...")] = "14d",
    grain: Annotated[str, typer.Option(help="15min, 30min or hour.")] = "30min",
    history_days: Annotated[int, typer.Option(help="Days of history to learn from.")] = 28,
    start: Annotated[
        str | None,
        typer.Option(help="First forecast day (default: the day after the last call)."),
    ] = None,
    queue: Annotated[list[str] | None, typer.Option(help="Only this queue; repeatable.")] = None,
    by: Annotated[str, typer.Option(help="queue (calls per slot) or day (calls per day).")] = (
        "queue"
    ),
    sales: Annotated[
        bool, typer.Option(help="Also forecast deals won and revenue per week.")
    ] = False,
    level: Annotated[float, typer.Option(help="Prediction interval level.")] = 0.8,
    fmt: FormatOption = "table",
) -> None:
    """Calls per queue and slot for the coming days, with intervals and the back-test."""
    from callkpi.wfm import history as wfm_history
    from callkpi.wfm.plan import GRAINS, last_day_with_calls

    check_format(fmt)
    if by not in ("queue", "day"):
        raise UserError(f"--by {by!r}: expected queue or day")
    if grain not in GRAINS:
        raise UserError(f"--grain {grain!r}: expected one of {', '.join(GRAINS)}")
    if not 0 < level < 1:
        raise UserError(f"--level {level}: expected a share between 0 and 1")
    days = _days("--horizon", horizon)
    with open_warehouse(db, must_exist=True) as wh:
        first = _start(start) or _next_day(last_day_with_calls(wh, tz))
        history_end = dt.datetime.combine(first, dt.time())
        history_start = history_end - dt.timedelta(days=history_days)
        outlooks = wfm_history.queue_outlooks(
            wh, tz=tz, horizon_days=days, grain=grain, start=history_start, end=history_end,
            level=level, queues=queue or None)
        sales_rows = []
        if sales:
            weekly = wfm_history.sales_outlook(wh, tz=tz, horizon_weeks=max(1, days // 7),
                                               start=history_start, end=history_end,
                                               level=level)
            for name, result in weekly.items():
                for _, r in result.frame.iterrows():
                    digits = 1 if name == "deals_won" else 0
                    sales_rows.append({"measure": name, "week_start": r["week_start"].date(),
                                       **{k: round(float(r[k]), digits)
                                          for k in ("point", "lower", "upper")}})
    if not outlooks:
        raise UserError("no inbound queue calls in the history: nothing to forecast")
    rows: list[dict[str, Any]] = []
    for name, outlook in outlooks.items():
        frame = outlook.frame()
        if by == "day":
            frame = frame.assign(day=frame["slot_start"].dt.date).groupby("day").agg(
                point=("point", "sum"), lower=("lower", "sum"), upper=("upper", "sum"))
            rows += [{"queue": name, "day": day, "calls": r["point"], "lower": r["lower"],
                      "upper": r["upper"], "model": outlook.forecast.model}
                     for day, r in frame.iterrows()]
        else:
            rows += [{"queue": name, "slot_start": local_iso(tz, r["slot_start"].to_pydatetime()),
                      "calls": r["point"], "lower": r["lower"], "upper": r["upper"],
                      "aht_s": None if math.isnan(r["aht_s"]) else r["aht_s"],
                      "model": outlook.forecast.model}
                     for _, r in frame.iterrows()]
    key = "day" if by == "day" else "slot_start"
    columns = ("queue", key, "calls", "lower", "upper", *(("aht_s",) if by == "queue" else ()),
               "model")
    if fmt != "table":
        print_rows(rows, columns, fmt)
        if sales_rows:
            err.print("sales forecast: use --format table, or callkpi forecast --sales "
                      "--by day")
        return
    _forecast_summary(outlooks, first, days)
    if sales_rows:
        print_rows(sales_rows, ("measure", "week_start", "point", "lower", "upper"), "table",
                   title="Sales per week")


def _next_day(day: dt.date | None) -> dt.date:
    if day is None:
        raise UserError("no inbound queue calls in the warehouse: nothing to forecast from")
    return day + dt.timedelta(days=1)


def _forecast_summary(outlooks: dict[str, Any], first: dt.date, days: int) -> None:
    """Per queue and day: calls expected (interval), the model and its back-test."""
    table_rows = []
    for name, outlook in outlooks.items():
        frame = outlook.frame()
        daily = frame.assign(day=frame["slot_start"].dt.date).groupby("day")["point"].sum()
        backtest = outlook.forecast.backtest
        summary = backtest.summary.loc[outlook.forecast.model] if backtest is not None else None
        row: dict[str, Any] = {"queue": name, "model": outlook.forecast.model}
        for day, value in daily.items():
            row[f"{day:%a %d}"] = round(float(value))
        row["wape"] = show_value(float(summary["wape"]), "ratio") if summary is not None else "—"
        table_rows.append(row)
    columns = ["queue", "model", *[c for c in table_rows[0] if c not in
                                   ("queue", "model", "wape")], "wape"]
    print_rows(table_rows, columns, "table",
               title=f"Calls expected per day from {first} ({days} days)")
    err.print("Per slot, with intervals: --format csv or json. wape: the chosen model's "
              "back-test error (weighted absolute percentage).")


def plan(
    db: DbOption = DEFAULT_DB,
    tz: TzOption = "UTC",
    horizon: Annotated[str, typer.Option(help="How far ahead: 7d, 2w, ...")] = "7d",
    grain: Annotated[str, typer.Option(help="15min, 30min or hour.")] = "30min",
    history_days: Annotated[int, typer.Option(help="Days of history to learn from.")] = 28,
    start: Annotated[
        str | None, typer.Option(help="First planned day (default: the day after the last call).")
    ] = None,
    queue: Annotated[list[str] | None, typer.Option(help="Only this queue; repeatable.")] = None,
    model: Annotated[str, typer.Option(help="erlang-a, erlang-c or simulation.")] = "erlang-a",
    sl: Annotated[float | None, typer.Option("--sl", help="Service level target.")] = 0.8,
    answer_threshold_s: Annotated[float, typer.Option("--answer-threshold-s")] = 20,
    sl_definition: Annotated[str, typer.Option(help="offered, answered or "
                                               "answered_and_abandoned.")] = "offered",
    max_asa_s: Annotated[float | None, typer.Option("--max-asa-s")] = None,
    max_occupancy: Annotated[float | None, typer.Option()] = None,
    max_abandon: Annotated[float | None, typer.Option()] = None,
    shrinkage: Annotated[float, typer.Option(help="Share of paid time off the phones.")] = 0.3,
    handle_cv: Annotated[float | None, typer.Option(help="Simulation: lognormal handle "
                                                    "times with this coefficient of "
                                                    "variation.")] = None,
    detail: Annotated[bool, typer.Option(help="Table: every slot, not totals per day.")] = False,
    fmt: FormatOption = "table",
) -> None:
    """Forecast -> agents required per slot -> headcount after shrinkage, against the
    agents scheduled."""
    from callkpi.wfm.plan import GRAINS, ROW_COLUMNS, PlanOptions, build_plan
    from callkpi.wfm.staffing import Constraints

    check_format(fmt)
    if model not in MODELS:
        raise UserError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    if grain not in GRAINS:
        raise UserError(f"--grain {grain!r}: expected one of {', '.join(GRAINS)}")
    if sl_definition not in SL_DEFINITIONS:
        raise UserError(
            f"--sl-definition {sl_definition!r}: expected one of {', '.join(SL_DEFINITIONS)}")
    try:
        constraints = Constraints(
            service_level=sl, answer_threshold_s=answer_threshold_s, max_asa_s=max_asa_s,
            max_occupancy=max_occupancy, max_abandon=max_abandon,
            service_level_definition=sl_definition,  # type: ignore[arg-type]
        )
        options = PlanOptions(
            tz=tz, start=_start(start), horizon_days=_days("--horizon", horizon),
            history_days=history_days, grain=grain, model=model,  # type: ignore[arg-type]
            constraints=constraints, shrinkage=shrinkage, queues=queue or None,
            handle_cv=handle_cv)
        with open_warehouse(db, must_exist=True) as wh:
            result = build_plan(wh, options)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if fmt != "table":
        print_rows([{**r, "slot_start": local_iso(tz, r["slot_start"])} for r in result.rows],
                   ROW_COLUMNS, fmt)
        return
    print_plan(result, detail=detail)


def print_plan(result: Any, *, detail: bool = False) -> None:
    """A plan for people: required agents per queue and day (peak and agent-hours) against
    the schedule, then the notes."""
    from callkpi.wfm.plan import ROW_COLUMNS

    if detail:
        print_rows(result.rows, ROW_COLUMNS, "table", title="Plan per slot",
                   units={"service_level": "ratio", "p_abandon": "ratio", "occupancy": "ratio",
                          "service_level_scheduled": "ratio", "aht_s": "seconds",
                          "patience_s": "seconds"})
        return
    days = sorted({t["day"] for t in result.totals if t["day"] is not None})
    peaks = []
    for name in sorted({t["queue"] for t in result.totals}):
        mine = {t["day"]: t for t in result.totals if t["queue"] == name}
        row: dict[str, Any] = {"queue": name}
        for day in days:
            row[f"{day:%a %d}"] = mine[day]["peak_agents"] if day in mine else None
        whole = mine[None]
        row["required h"] = whole["required_hours"]
        row["to schedule h"] = whole["scheduled_required_hours"]
        row["scheduled h"] = whole["scheduled_hours"]
        row["gap h"] = whole["gap_hours"]
        row["short slots"] = whole["short_slots"]
        peaks.append(row)
    options = result.options
    c = options.constraints
    goal = ", ".join(part for part in (
        f"{c.service_level:.0%} in {c.answer_threshold_s:g} s" if c.service_level else None,
        f"ASA <= {c.max_asa_s:g} s" if c.max_asa_s else None,
        f"occupancy <= {c.max_occupancy:.0%}" if c.max_occupancy else None,
        f"abandon <= {c.max_abandon:.0%}" if c.max_abandon else None,
    ) if part)
    print_rows(peaks, list(peaks[0]) if peaks else ["queue"], "table",
               title=f"Agents required from {result.start} (peak per day; {options.model}, "
                     f"{goal}, shrinkage {options.shrinkage:.0%})")
    err.print(
        "required h: agent-hours on the phones; to schedule h: after shrinkage; scheduled h: "
        "the published schedule's work time split by each agent's queues; gap h = scheduled - "
        "required (negative: short). Every slot: --detail or --format csv/json."
    )
    if result.unassigned_hours:
        err.print(f"{result.unassigned_hours:,.1f} scheduled work hours belong to agents with "
                  "no inbound queue (outbound): not counted.")
    for note in result.notes:
        err.print(f"note: {note}")
