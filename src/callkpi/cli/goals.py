"""``callkpi targets``, ``callkpi scorecard`` and ``callkpi benchmark``."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from callkpi.cli.common import (
    DbOption,
    FormatOption,
    TzOption,
    UserError,
    check_format,
    open_warehouse,
    pairs,
)
from callkpi.cli.output import FORMATS, err, out, print_rows, show_value
from callkpi.export import Sheet, write_xlsx
from callkpi.goals.benchmark import AGENT_COLUMNS, CENTER_COLUMNS, agent_report, center_report
from callkpi.goals.periods import Period, parse_period
from callkpi.goals.recommendations import load_rules
from callkpi.goals.scorecard import BY_DIMENSIONS, Scorecard, build_scorecard
from callkpi.goals.status import DEFAULT_CRITICAL, DEFAULT_WARNING, Thresholds
from callkpi.goals.targets import TargetSpec, import_file, list_targets, remove_target, set_targets
from callkpi.kpi import builtin_catalog
from callkpi.store import DEFAULT_DB, LoadCounts

targets_app = typer.Typer(help="KPI targets per scope and period.", no_args_is_help=True)

PeriodOption = Annotated[
    str, typer.Option("--period", help="2026-10, 2026-Q4, 2026, 2026-10-05 or FROM..TO.")
]
KpisOption = Annotated[
    str | None, typer.Option("--kpis", help="KPI ids, comma-separated.")
]
IndustryOption = Annotated[
    str | None,
    typer.Option(help="Your industry, for industry-specific benchmarks (e.g. telecom)."),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]


def _period(text: str) -> Period:
    return parse_period(text)


def _kpi_list(text: str | None) -> list[str]:
    return [k.strip() for k in (text or "").split(",") if k.strip()]


def _counts(counts: LoadCounts, what: str) -> None:
    err.print(
        f"{what}: {counts.loaded} added, {counts.updated} changed, "
        f"{counts.duplicates} unchanged"
    )


# -- targets ------------------------------------------------------------------------------


@targets_app.command("set")
def targets_set(
    kpi_id: Annotated[str, typer.Argument(metavar="KPI_ID")],
    target: Annotated[float, typer.Argument(help="In the KPI's unit (ratios as 0..1).")],
    period: PeriodOption,
    scope: Annotated[
        str, typer.Option(help="center, or tenant|site|team|agent|queue|campaign=VALUE.")
    ] = "center",
    warning: Annotated[
        float | None, typer.Option(help=f"Shortfall for a warning (default {DEFAULT_WARNING}).")
    ] = None,
    critical: Annotated[
        float | None,
        typer.Option(help=f"Shortfall for critical (default {DEFAULT_CRITICAL})."),
    ] = None,
    impact: Annotated[
        str | None, typer.Option(help="high, medium or low (overrides the catalog).")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Who answers for it.")] = None,
    due: Annotated[str | None, typer.Option(help="When it is to be reached (ISO date).")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Set one target (replacing the one for the same KPI, scope and period)."""
    spec = TargetSpec.model_validate({
        "kpi": kpi_id, "target": target, "period": period, "scope": scope, "warning": warning,
        "critical": critical, "impact": impact, "owner": owner, "due": due, "note": note,
    })
    with open_warehouse(db) as wh:
        _counts(set_targets(wh, [spec]), "targets")


@targets_app.command("import")
def targets_import(
    path: Annotated[Path, typer.Argument(metavar="FILE.yaml")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Load targets from a YAML file (importing it again changes nothing)."""
    with open_warehouse(db) as wh:
        _counts(import_file(wh, path), f"targets from {path}")


@targets_app.command("list")
def targets_list(
    period: Annotated[
        str | None, typer.Option("--period", help="Only targets overlapping this period.")
    ] = None,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
) -> None:
    """The stored targets."""
    check_format(fmt)
    with open_warehouse(db, must_exist=True) as wh:
        rows = list_targets(wh, _period(period) if period else None)
    catalog = builtin_catalog()
    for row in rows:
        row["scope"] = row["scope"] + (f"={row['scope_value']}" if row["scope_value"] else "")
        row["period"] = Period(row["period_start"], row["period_end"]).label()
        if fmt == "table" and row["kpi"] in catalog:
            row["target"] = show_value(row["target"], catalog[row["kpi"]].unit)
    columns = ("kpi", "scope", "period", "target", "warning", "critical", "impact", "owner",
               "due_date", "note")
    print_rows(rows, columns, fmt, title="Targets")


@targets_app.command("remove")
def targets_remove(
    kpi_id: Annotated[str, typer.Argument(metavar="KPI_ID")],
    period: PeriodOption,
    scope: Annotated[str, typer.Option(help="As given when it was set.")] = "center",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Remove one target."""
    with open_warehouse(db, must_exist=True) as wh:
        if not remove_target(wh, kpi_id, _period(period), scope):
            raise UserError(f"no target for {kpi_id} at {scope} for {period}")
    err.print(f"removed the target for {kpi_id} at {scope} for {period}")


# -- scorecard ----------------------------------------------------------------------------


def _thresholds(warning: float, critical: float) -> Thresholds:
    try:
        return Thresholds(warning, critical)
    except ValueError as exc:
        raise UserError(f"--warning/--critical: {exc}") from None


def scorecard_table(card: Scorecard) -> None:
    """The scorecard for people: values in their units, statuses in color, and the
    recommendations numbered under the table."""
    title = f"Scorecard {card.period.label()}" + (f" by {card.by}" if card.by else "")
    table = Table(title=title)
    colors = {"on track": "green", "warning": "yellow", "critical": "red"}
    columns = ((card.by,) if card.by else ()) + (
        "kpi", "unit", "target", "actual", "deviation", "status", "impact", "n", "do")
    for c in columns:
        table.add_column(c, justify="right" if c in ("target", "actual", "deviation", "n")
                         else "left")
    numbers: dict[tuple[Any, str], int] = {}
    notes: list[str] = []
    for row in card.rows:
        refs = []
        for text in row["recommendations"]:
            key = (row.get(card.by) if card.by else None, text)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                where = f"{card.by} {key[0]}: " if card.by else ""
                notes.append(f"[{numbers[key]}] {where}{text}")
            refs.append(f"[{numbers[key]}]")
        status = row["status"]
        n = show_value(row["n"]) if row["n"] is not None else ""
        if row["few_observations"]:
            n += " (few)"
        deviation = row["deviation"]
        table.add_row(
            *((str(row[card.by]),) if card.by else ()),
            row["kpi"], row["unit"], show_value(row["target"], row["unit"]),
            show_value(row["actual"], row["unit"]),
            "" if deviation is None else f"{deviation * 100:+.1f} %",
            f"[{colors[status]}]{status}[/]" if status in colors else status,
            row["impact"], n, " ".join(refs),
        )
    out.print(table)
    for note in notes:
        out.print(note, highlight=False)
    if card.skipped:
        out.print(f"[dim]not cut by {card.by}: {', '.join(card.skipped)}[/]")


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, "utf-8")
        err.print(f"wrote {output}")


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([
            "; ".join(v) if isinstance(v := row.get(c), list) else "" if v is None else v
            for c in columns
        ])
    return buffer.getvalue()


def _json(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    return json.dumps([{c: row.get(c) for c in columns} for row in rows], ensure_ascii=False,
                      default=str) + "\n"


def scorecard_sheets(card: Scorecard) -> list[Sheet]:
    advice = [
        {**({card.by: group} if card.by else {}), "rule": r.rule, "action": r.action,
         "kpis": ", ".join(r.kpis)}
        for group, found in card.recommendations.items() for r in found
    ]
    return [
        Sheet("Scorecard " + card.period.label(), card.columns, card.rows, row_unit="unit",
              value_columns=("target", "actual", "ci_low", "ci_high")),
        Sheet("Recommendations", ((card.by,) if card.by else ()) + ("rule", "action", "kpis"),
              advice),
    ]


def scorecard(
    period: PeriodOption,
    by: Annotated[str | None, typer.Option(help=", ".join(BY_DIMENSIONS))] = None,
    db: DbOption = DEFAULT_DB,
    tz: TzOption = "UTC",
    kpis: Annotated[
        str | None, typer.Option(help="More KPIs to show besides those with targets.")
    ] = None,
    rules: Annotated[
        list[Path] | None, typer.Option("--rules", help="Your own rules file; repeatable.")
    ] = None,
    warning: Annotated[
        float, typer.Option(help="Shortfall from target that makes a warning (0.05 = 5 %).")
    ] = DEFAULT_WARNING,
    critical: Annotated[
        float, typer.Option(help="Shortfall from target that makes it critical.")
    ] = DEFAULT_CRITICAL,
    impact: Annotated[
        list[str] | None, typer.Option(help="KPI=high|medium|low; repeatable.")
    ] = None,
    industry: IndustryOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or xlsx.")] = "table",
    output: OutputOption = None,
) -> None:
    """KPI | unit | target | actual | deviation | status | impact | what to do."""
    check_format(fmt, (*FORMATS, "xlsx"))
    if fmt == "xlsx" and output is None:
        raise UserError("--format xlsx needs --output FILE.xlsx")
    impacts = dict(pairs("--impact", impact))
    for kpi_id, level in impacts.items():
        if level not in ("high", "medium", "low"):
            raise UserError(f"--impact {kpi_id}={level}: expected high, medium or low")
    with open_warehouse(db, must_exist=True) as wh:
        card = build_scorecard(
            wh, _period(period), by=by, tz=tz, kpis=_kpi_list(kpis),
            thresholds=_thresholds(warning, critical), rules=load_rules(rules or []),
            impacts=impacts, industry=industry,
        )
    if not card.rows:
        err.print(f"no targets for {card.period.label()} and no --kpis: nothing to score "
                  "(callkpi targets import FILE.yaml)")
    if fmt == "xlsx":
        assert output is not None
        write_xlsx(output, scorecard_sheets(card))
        err.print(f"wrote {output}")
    elif fmt == "json":
        _write(_json(card.rows, card.columns), output)
    elif fmt == "csv":
        _write(_csv(card.rows, card.columns), output)
    elif output is not None:
        raise UserError("--output needs --format csv, json or xlsx")
    else:
        scorecard_table(card)


# -- benchmark ----------------------------------------------------------------------------


def _range(row: dict[str, Any]) -> str | None:
    """A benchmark range in the KPI's unit (70.0 % – 75.0 %), for people."""
    if "low" not in row or (row["low"] is None and row["high"] is None):
        return row.get("benchmark")
    low, high = (show_value(row[c], row["unit"]) if row[c] is not None else None
                 for c in ("low", "high"))
    text = (low if low == high else f"{low} – {high}" if low and high
            else f">= {low}" if low else f"<= {high}")
    return f"{text} {row['currency']}" if row.get("currency") else text


def benchmark(
    period: PeriodOption,
    by: Annotated[
        str | None, typer.Option(help="agent: each agent's percentile among peers.")
    ] = None,
    db: DbOption = DEFAULT_DB,
    tz: TzOption = "UTC",
    industry: IndustryOption = None,
    kpis: KpisOption = None,
    history: Annotated[int, typer.Option(help="Earlier periods to compare with.")] = 6,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or xlsx.")] = "table",
    output: OutputOption = None,
) -> None:
    """The center against industry benchmarks and its own past; agents among peers."""
    check_format(fmt, (*FORMATS, "xlsx"))
    if by not in (None, "agent"):
        raise UserError(f"--by {by!r}: expected agent")
    if history < 0:
        raise UserError("--history must be 0 or more")
    if fmt == "xlsx" and output is None:
        raise UserError("--format xlsx needs --output FILE.xlsx")
    chosen = _period(period)
    columns: tuple[str, ...]
    with open_warehouse(db, must_exist=True) as wh:
        if by == "agent":
            try:
                rows = agent_report(wh, chosen, tz=tz, industry=industry, kpis=_kpi_list(kpis))
            except ValueError as exc:
                raise UserError(str(exc)) from None
            columns = AGENT_COLUMNS
        else:
            rows = center_report(wh, chosen, tz=tz, industry=industry, kpis=_kpi_list(kpis),
                                 history=history)
            columns = CENTER_COLUMNS
    if fmt == "xlsx":
        assert output is not None
        write_xlsx(output, [Sheet("Benchmark " + chosen.label(), columns, rows,
                                  row_unit="unit", value_columns=("actual", "previous", "best"),
                                  units={"change": "ratio", "percentile": "ratio"})])
        err.print(f"wrote {output}")
    elif fmt == "json":
        _write(_json(rows, columns), output)
    elif fmt == "csv":
        _write(_csv(rows, columns), output)
    elif output is not None:
        raise UserError("--output needs --format csv, json or xlsx")
    else:
        for row in rows:
            row["benchmark"] = _range(row)
            for c in ("actual", "previous", "best"):
                if c in row:
                    row[c] = show_value(row[c], row["unit"])
            for c in ("change", "percentile"):
                if row.get(c) is not None:
                    row[c] = show_value(row[c], "ratio")
        hidden = ("name", "source", "unit", "few_observations", "low", "high")
        shown = tuple(c for c in columns if c not in hidden)
        title = f"Benchmark {chosen.label()}" + (" by agent" if by else "")
        print_rows(rows, shown, "table", title=title)
        if by is None:
            sources = dict.fromkeys(r["source"] for r in rows if r["source"])
            out.print("[dim]Sources: " + "; ".join(sources) + "[/]", highlight=False)
