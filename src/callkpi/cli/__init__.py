"""The ``callkpi`` command line (DESIGN.md section 6). Thin: parse, call, print.

Exit status: 0 success, 1 bad input or usage (a message on stderr says what and where),
2 internal error.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from callkpi.cli.common import (
    CatalogOption,
    DbOption,
    FormatOption,
    TzOption,
    UserError,
    catalog_from,
    check_format,
    open_warehouse,
    pairs,
    parse_time,
    units,
)
from callkpi.cli.goals import benchmark, scorecard, scorecard_table, targets_app
from callkpi.cli.insights import app as insights_app
from callkpi.cli.output import err, print_ingest_reports, print_rows
from callkpi.cli.server import serve, users_app
from callkpi.cli.wfm import forecast, plan, staff
from callkpi.goals.periods import PeriodError, parse_period
from callkpi.goals.recommendations import RuleError
from callkpi.goals.scorecard import ScorecardError, build_scorecard
from callkpi.goals.targets import TargetError, import_file
from callkpi.ingest import IngestOptions, source_names
from callkpi.ingest import ingest as run_ingest
from callkpi.ingest.report import IngestError, IngestReport
from callkpi.kpi import (
    CatalogError,
    FormulaError,
    KpiQuery,
    QueryError,
    builtin_catalog,
    run_query,
)
from callkpi.kpi.benchmarks import BenchmarkError
from callkpi.store import DEFAULT_DB, Warehouse, WarehouseError
from callkpi.timezones import TimeZoneError

app = typer.Typer(
    name="callkpi",
    help="Contact-center KPIs from the records your PBX, dialer and CRM already write.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
kpis_app = typer.Typer(help="The KPI catalog.", no_args_is_help=True)
app.add_typer(kpis_app, name="kpis")
app.add_typer(targets_app, name="targets")
app.add_typer(insights_app, name="insights")
app.add_typer(users_app, name="users")
app.command()(scorecard)
app.command()(benchmark)
app.command()(staff)
app.command()(forecast)
app.command()(plan)
app.command()(serve)


USER_ERRORS = (
    UserError,
    CatalogError,
    FormulaError,
    IngestError,
    QueryError,
    WarehouseError,
    TimeZoneError,
    ValidationError,
    FileNotFoundError,
    PeriodError,
    RuleError,
    TargetError,
    BenchmarkError,
    ScorecardError,
)

DEMO_QUEUE_KPIS = ("service_level", "asa", "abandon_rate", "aht", "fcr", "transfer_rate")
DEFAULT_KPIS = (
    "offered",
    "answered",
    "abandoned",
    "timed_out",
    "exited_key",
    "blocked",
    "overflowed",
    "closed",
)


# -- ingest -------------------------------------------------------------------------------


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="queue-log, cdr, mapped, or a canonical table "
            "(calls, agents, schedules, absences, ivr-steps, "
            "dials, leads, deals, customers, surveys, costs)."
        ),
    ],
    paths: Annotated[list[Path], typer.Argument(help="Files to load.")],
    db: DbOption = DEFAULT_DB,
    tenant: Annotated[str | None, typer.Option(help="The client these records belong to.")] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="IANA zone of the source's naive times (default UTC, or the mapping profile's).",
        ),
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="Mapping profile (ingest mapped).")] = None,
    follow: Annotated[bool, typer.Option(help="Keep reading a queue_log as it grows.")] = False,
    idle_timeout: Annotated[
        float | None,
        typer.Option(help="With --follow: stop after this many seconds without a new line."),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Load nothing from a batch with a rejected row; exit 1.")
    ] = False,
    mask_callers: Annotated[
        bool, typer.Option(help="Store caller numbers as keyed hashes.")
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """Load source files into the warehouse (rejected rows go to quarantine)."""
    check_format(fmt)
    if source not in source_names():
        raise UserError(f"unknown source {source!r}; expected one of: {', '.join(source_names())}")
    if source == "mapped" and mapping is None:
        raise UserError("ingest mapped needs --mapping PROFILE.yaml (or a shipped profile name)")
    if follow and (source != "queue-log" or len(paths) != 1):
        raise UserError("--follow works with one queue-log file")
    options = IngestOptions(
        tz=tz, tenant=tenant, mask_callers=mask_callers, strict=strict, mapping=mapping
    )
    with open_warehouse(db) as wh:
        if follow:
            reports = [_follow(wh, paths[0], options, idle_timeout)]
        else:
            reports = [_ingest_one(wh, source, path, options) for path in paths]
    print_ingest_reports(reports, fmt)
    nothing_loaded = all(r.loaded + r.updated + r.duplicates == 0 for r in reports)
    if any(r.rejected_total for r in reports) and (strict or nothing_loaded):
        raise typer.Exit(1)


def _ingest_one(wh: Warehouse, source: str, path: Path, options: IngestOptions) -> IngestReport:
    from callkpi.ingest import queue_log

    if source != "queue-log" or not path.exists() or path.stat().st_size < 50_000_000:
        try:
            return run_ingest(wh, source, path, options)
        except queue_log.StrictRejected as exc:
            return exc.report
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(path.name, total=path.stat().st_size)
        try:
            return queue_log.ingest(
                wh, path, options, progress=lambda done, total: bar.update(task, completed=done)
            )
        except queue_log.StrictRejected as exc:
            return exc.report


def _follow(
    wh: Warehouse, path: Path, options: IngestOptions, idle_timeout: float | None
) -> IngestReport:
    from callkpi.ingest import queue_log
    from callkpi.live import tune_gc_for_live_loads

    err.print(f"following {path} (Ctrl-C to stop)")
    tune_gc_for_live_loads()

    def show(batch: IngestReport) -> None:
        err.print(f"  +{batch.loaded} lines ({batch.rejected_total} rejected)")

    try:
        return queue_log.follow(wh, path, options, idle_timeout_s=idle_timeout, on_batch=show)
    except KeyboardInterrupt:
        err.print("stopped")
        return IngestReport("queue_log", str(path))


# -- KPIs ---------------------------------------------------------------------------------


@app.command()
def kpi(
    kpi_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[KPI_ID]...", help="KPIs to compute.")
    ] = None,
    db: DbOption = DEFAULT_DB,
    by: Annotated[
        str | None, typer.Option(help="Dimensions, comma-separated (e.g. queue,agent).")
    ] = None,
    grain: Annotated[
        str, typer.Option(help="15min, 30min, hour, day, week, month, quarter, year, all.")
    ] = "all",
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (inclusive), ISO, read in --tz.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="End (exclusive), ISO, read in --tz.")
    ] = None,
    tz: TzOption = "UTC",
    where: Annotated[list[str] | None, typer.Option(help="DIM=VALUE filter; repeatable.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="PARAM=VALUE; repeatable.")
    ] = None,
    catalog: CatalogOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Compute KPIs at any cut and grain."""
    check_format(fmt)
    params: dict[str, float | str] = {}
    for name, value in pairs("--set", set_):
        try:
            params[name] = float(value)
        except ValueError:
            params[name] = value  # a named variant, e.g. service_level_denominator=answered
    query = KpiQuery(
        kpis=tuple(kpi_ids or DEFAULT_KPIS),
        by=tuple(d.strip() for d in by.split(",") if d.strip()) if by else (),
        grain=grain,
        start=parse_time("--from", from_),
        end=parse_time("--to", to),
        tz=tz,
        where=tuple(pairs("--where", where)),
        params=params,
    )
    kpi_catalog = catalog_from(catalog)
    with open_warehouse(db, must_exist=True) as wh:
        result = run_query(wh, query, catalog=kpi_catalog)
    print_rows(result.rows, result.columns, fmt, units=units(kpi_catalog, query.kpis))


@kpis_app.command("list")
def kpis_list(catalog: CatalogOption = None, fmt: FormatOption = "table") -> None:
    """Every KPI in the catalog."""
    check_format(fmt)
    rows = [
        {
            "id": k.id,
            "category": k.category,
            "name": k.name,
            "unit": k.unit,
            "direction": k.direction.replace("_", " "),
            "formula": k.formula,
        }
        for k in catalog_from(catalog)
    ]
    print_rows(rows, ("id", "category", "name", "unit", "direction", "formula"), fmt)


@kpis_app.command("show")
def kpis_show(kpi_id: str, catalog: CatalogOption = None, fmt: FormatOption = "table") -> None:
    """One KPI's full definition, with the dimensions it can be cut by."""
    from callkpi.kpi.docs import dimensions_of
    from callkpi.kpi.semantic import semantic_model

    check_format(fmt)
    kpi_catalog = catalog_from(catalog)
    try:
        kpi_def = kpi_catalog[kpi_id]
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    data = kpi_def.model_dump(mode="json", exclude_none=True, exclude={"uses", "uses_kpis"})
    data["dimensions"] = dimensions_of(kpi_def, kpi_catalog, semantic_model())
    if fmt == "json":
        print_rows([data], list(data), "json")
        return
    print_rows([{"field": k, "value": v} for k, v in data.items()], ("field", "value"), fmt)


# -- demo ---------------------------------------------------------------------------------


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Days of history to generate.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same center).")] = 7,
    db: DbOption = Path("demo.duckdb"),
    data_dir: Annotated[Path, typer.Option(help="Where the source files are written.")] = Path(
        "demo-data"
    ),
    serve: Annotated[
        bool, typer.Option(help="Then serve the API and dashboard on the demo (callkpi serve).")
    ] = False,
    port: Annotated[int, typer.Option(help="With --serve: the port.")] = 8000,
    fresh: Annotated[
        bool,
        typer.Option(
            help="Delete the --db file first (otherwise the demo is added to it; the same seed "
            "again adds nothing)."
        ),
    ] = False,
) -> None:
    """Generate a realistic outsourced contact center and load it through the real adapters."""
    from callkpi.cli.wfm import print_plan
    from callkpi.demo import DEFAULT_END, build_demo
    from callkpi.wfm.plan import PlanOptions, build_plan

    if days < 1:
        raise UserError("--days must be at least 1")
    if fresh:
        from callkpi.server.auth import auth_path_for

        # A fresh center: its users (and so the printed admin password) and live spool too.
        for stale in (db, db.with_name(db.name + ".wal"), auth_path_for(db)):
            stale.unlink(missing_ok=True)
        shutil.rmtree(db.with_name(db.name + ".live"), ignore_errors=True)
    with open_warehouse(db) as wh:
        reports = build_demo(wh, days=days, seed=seed, data_dir=data_dir)
        print_ingest_reports(reports, "table")
        tz = "Europe/Moscow"
        service = run_query(wh, KpiQuery(kpis=DEMO_QUEUE_KPIS, by=("queue",), tz=tz))
        targets = resources.files("callkpi.goals").joinpath("examples/demo_targets.yaml")
        with resources.as_file(targets) as targets_path:
            import_file(wh, targets_path)
        month = parse_period(f"{DEFAULT_END:%Y-%m}")
        card = build_scorecard(wh, month, tz=tz)
        week = build_plan(wh, PlanOptions(tz=tz))
    print_rows(
        service.rows,
        service.columns,
        "table",
        title="Service per queue (all days)",
        units=units(builtin_catalog(), DEMO_QUEUE_KPIS),
    )
    scorecard_table(card)
    print_plan(week)
    err.print(
        "Targets from the shipped example (callkpi targets list). Explore: "
        f"callkpi scorecard --period {month.label()} --by team --db {db} --tz {tz}; "
        f"callkpi benchmark --period {month.label()} --db {db} --tz {tz}; "
        f"callkpi kpi KPI_ID ... --db {db} --by queue --grain day --tz {tz}; "
        f"callkpi plan --db {db} --tz {tz} --detail"
    )
    if serve:
        from callkpi.cli.server import serve as serve_command

        serve_command(db=db, port=port, tz=tz)


# -- entry point --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with DESIGN.md's exit codes (Click uses 2 for usage errors; we use 1)."""
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        err.print("aborted")
        code = 1
    except typer.TyperException as exc:  # usage errors: Click would exit 2, DESIGN says 1
        show = getattr(exc, "show", None)
        if show:
            show()
        else:
            err.print(f"[red]error:[/] {exc.format_message()}", highlight=False)
        code = 1
    except USER_ERRORS as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        code = 1
    except Exception as exc:  # anything else is our bug
        err.print(f"[red]internal error:[/] {type(exc).__name__}: {exc}", highlight=False)
        err.print("Please report it with the command you ran.")
        code = 2
    sys.exit(code if isinstance(code, int) else 0)
