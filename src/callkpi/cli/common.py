"""What every ``callkpi`` command shares: the user-error type, common options, opening the
warehouse and reading times, pairs and formats from the command line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from callkpi.cli.output import FORMATS
from callkpi.kpi import Catalog, builtin_catalog, load_catalog
from callkpi.store import Warehouse


class UserError(Exception):
    """Bad input or usage: printed without a traceback, exit status 1."""


DbOption = Annotated[Path, typer.Option("--db", help="The warehouse file.")]
TzOption = Annotated[str, typer.Option("--tz", help="IANA time zone (e.g. Europe/Moscow).")]
FormatOption = Annotated[str, typer.Option("--format", help="table, csv or json.")]
CatalogOption = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="Your own KPI file (YAML); repeatable."),
]


def check_format(fmt: str, formats: Sequence[str] = FORMATS) -> str:
    if fmt not in formats:
        raise UserError(f"--format {fmt!r}: expected one of {', '.join(formats)}")
    return fmt


def open_warehouse(db: Path, *, must_exist: bool = False) -> Warehouse:
    if must_exist and str(db) != ":memory:" and not db.exists():
        raise UserError(
            f"no warehouse at {db}: load data first (callkpi ingest ... or callkpi demo)"
        )
    return Warehouse(db)


def parse_time(option: str, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} {value!r}: expected an ISO time like 2026-10-01 or 2026-10-01T08:00"
        ) from None


def pairs(option: str, values: Sequence[str] | None) -> list[tuple[str, str]]:
    """``NAME=VALUE`` options, in order."""
    found = []
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"{option} {item!r}: expected NAME=VALUE")
        found.append((name.strip(), value.strip()))
    return found


def units(kpi_catalog: Catalog, kpi_ids: Sequence[str]) -> dict[str, str]:
    return {k: kpi_catalog[k].unit for k in kpi_ids if k in kpi_catalog}


def catalog_from(files: Sequence[Path] | None) -> Catalog:
    return load_catalog(list(files)) if files else builtin_catalog()
