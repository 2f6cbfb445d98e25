"""``callkpi insights ...``: one command per combined analysis (callkpi.insights).

Every command takes ``--db``, ``--period`` (default: the latest full month in the data),
``--tz`` and ``--format``. A table is followed by the analysis' reading; JSON and CSV
print the rows only (the reading goes to stderr), with each rate's ``__n``, ``_low`` and
``_high`` as their own keys. The warehouse is opened read-only: analyses never write, and
several can read at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from callkpi.cli.common import DbOption, FormatOption, TzOption, UserError, check_format
from callkpi.cli.output import err, out, print_rows, show_value
from callkpi.goals.periods import Period, parse_period
from callkpi.insights import (
    Insight,
    InsightError,
    aht_transfers,
    availability,
    best_time,
    cac_ltv,
    latest_full_month,
    locations,
    patience,
    wrap_codes,
)
from callkpi.store import DEFAULT_DB, Warehouse

app = typer.Typer(
    help="Combined analyses: agents in quadrants, caller patience, call reasons, best "
    "hours, sites, CAC and LTV; every rate with its sample size and 95 % interval.",
    no_args_is_help=True,
)

PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="2026-10, 2026-Q4, 2026, 2026-10-05 or 2026-10-01..2026-10-15 "
        "(default: the latest full month in the data).",
    ),
]
QueueOption = Annotated[str | None, typer.Option("--queue", help="Only this queue's calls.")]


def _run(
    analysis: Callable[..., Insight],
    db: Path,
    period: str | None,
    tz: str,
    fmt: str,
    **options: Any,
) -> None:
    check_format(fmt)
    if str(db) != ":memory:" and not db.exists():
        raise UserError(
            f"no warehouse at {db}: load data first (callkpi ingest ... or callkpi demo)"
        )
    with Warehouse(db, read_only=True) as wh:
        result = analysis(wh, _period(wh, period, tz), tz, **options)
    _show(result, fmt)


def _period(wh: Warehouse, text: str | None, tz: str) -> Period:
    if text:
        return parse_period(text)  # a PeriodError is a user error: exit 1 with its message
    try:
        return latest_full_month(wh, tz)
    except InsightError as exc:
        raise UserError(f"{wh.path}: {exc}") from None


def _show(result: Insight, fmt: str) -> None:
    title = f"{result.title}, {result.period.label()} ({result.tz})"
    if fmt != "table":
        print_rows(result.rows, result.columns, fmt)
        err.print(result.reading, highlight=False, markup=False)
        return
    columns, rows = _for_people(result)
    print_rows(rows, columns, "table", title=title)
    out.print(result.reading, highlight=False, markup=False)


def _for_people(result: Insight) -> tuple[list[str], list[dict[str, Any]]]:
    """One cell per rate, its interval and sample size (``9.2 % [7.7–11.0] n=1,168``)
    instead of four columns; numbers in their units; an empty location or code as
    ``(none)``."""
    merged = {f"{k}{end}" for k in result.columns for end in ("__n", "_low", "_high")}
    columns = [c for c in result.columns if c not in merged]
    rows = [{c: _cell(row, c, result.units.get(c)) for c in columns} for row in result.rows]
    return columns, rows


def _cell(row: dict[str, Any], column: str, unit: str | None) -> Any:
    value = row.get(column)
    if value is None and column == "location" and row.get("level") == "center":
        return "all"
    if value is None:
        return "(none)" if column in ("location", "wrap_code") else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    text = f"{value:,.1f}" if unit in ("agents", "times") else show_value(value, unit)
    low, high, n = (row.get(f"{column}{end}") for end in ("_low", "_high", "__n"))
    if low is not None and high is not None:
        text += f" [{low * 100:.1f}–{high * 100:.1f}]"
    if n is not None:
        text += f" n={n:,.0f}"
    return text


@app.command("aht-transfers")
def aht_transfers_command(
    db: DbOption = DEFAULT_DB,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    fmt: FormatOption = "table",
    queue: QueueOption = None,
    against: Annotated[
        str, typer.Option(help="team (each agent against their team) or center.")
    ] = "team",
) -> None:
    """AHT vs transfer rate per agent, in quadrants around their team's values."""
    if against not in ("team", "center"):
        raise UserError(f"--against {against!r}: expected team or center")
    _run(aht_transfers, db, period, tz, fmt, queue=queue, against=against)


@app.command("patience")
def patience_command(
    db: DbOption = DEFAULT_DB,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    fmt: FormatOption = "table",
    queue: QueueOption = None,
    time_of_day: Annotated[
        bool,
        typer.Option("--time-of-day", help="One row per time of day, the period's days folded."),
    ] = False,
) -> None:
    """How long callers wait before they give up, per 30-minute interval, against staffing."""
    _run(patience, db, period, tz, fmt, queue=queue, time_of_day=time_of_day)


@app.command("availability")
def availability_command(
    db: DbOption = DEFAULT_DB,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    fmt: FormatOption = "table",
    target: Annotated[
        float | None,
        typer.Option("--target", help="Service-level target, 0..1 (default: the 80/20 benchmark)."),
    ] = None,
) -> None:
    """Availability vs agent answer rate per agent; is a missed service level understaffing?"""
    if target is not None and not 0 < target <= 1:
        raise UserError(f"--target {target}: expected a share between 0 and 1, e.g. 0.8")
    _run(availability, db, period, tz, fmt, target=target)


@app.command("wrap-codes")
def wrap_codes_command(
    db: DbOption = DEFAULT_DB,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    fmt: FormatOption = "table",
    queue: QueueOption = None,
) -> None:
    """Handling time by call reason: which reasons to automate first."""
    _run(wrap_codes, db, period, tz, fmt, queue=queue)


@app.command("best-time")
def best_time_command(
    db: DbOption = DEFAULT_DB,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    fmt: FormatOption = "table",
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Only this campaign's dials.")
    ] = None,
    sale_disposition: Annotated[
        list[str] | None,
        typer.Option(
            "--sale-disposition", help="A dial disposition that means a sale (default: sale)."
        ),
    ] = None,
) -> None:
    """Connect rate and conversion by weekday and hour of day (in --tz)."""
    _run(
        best_time,
        db,
        period,
        tz,
        fmt,
        campaign=campaign,
        sale_dispositions=tuple(sale_disposition or ("sale",)),
    )


@app.command("locations")
def locations_command(
    db: DbOption = DEFAULT_DB,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    fmt: FormatOption = "table",
) -> None:
    """Core KPIs by site and by region, next to the center's."""
    _run(locations, db, period, tz, fmt)


@app.command("cac-ltv")
def cac_ltv_command(
    db: DbOption = DEFAULT_DB,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    fmt: FormatOption = "table",
) -> None:
    """CAC and LTV per agent and per supervisor (marketing allocated by dials)."""
    _run(cac_ltv, db, period, tz, fmt)
