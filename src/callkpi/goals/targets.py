"""Targets: per KPI, scope and period, stored in the warehouse's ``targets`` table.

A target file (``callkpi targets import FILE.yaml``) is a list under ``targets:``::

    targets:
      - {kpi: service_level, target: 0.8, period: 2026-10, owner: Head of service}
      - {kpi: aht, target: 300, scope: queue=bank_vip, period: 2026-Q4, due: 2026-12-31}

``scope`` is ``center`` (the default) or ``tenant|site|team|agent|queue|campaign=VALUE``.
Which target applies to a scorecard row is decided by :func:`applicable`: the most
specific scope in the row's chain (an agent's own target, else their team's, site's,
tenant's, else the center's), and among those the shortest period that covers the
scorecard's period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from callkpi.goals.periods import Period, PeriodError, parse_period
from callkpi.kpi import Catalog, builtin_catalog
from callkpi.model import TARGET_SCOPES
from callkpi.store import LoadCounts, Warehouse, arrow_rows, fetch_scalar, utc_now


class TargetError(ValueError):
    """A target that cannot be used; says which entry and which field."""


Scope = tuple[str, str | None]


def parse_scope(text: str) -> Scope:
    text = text.strip()
    if text in ("", "center"):
        return ("center", None)
    kind, sep, value = text.partition("=")
    if not sep or kind not in TARGET_SCOPES or kind == "center" or not value:
        raise TargetError(
            f"scope {text!r}: expected center or one of "
            f"{', '.join(s + '=VALUE' for s in TARGET_SCOPES if s != 'center')}"
        )
    return (kind, value)


class TargetSpec(BaseModel):
    """One target as people write it (a file entry, or ``callkpi targets set``)."""

    model_config = ConfigDict(extra="forbid")

    kpi: str
    target: float
    period: str
    scope: str = "center"
    warning: float | None = None
    critical: float | None = None
    impact: Literal["high", "medium", "low"] | None = None
    owner: str | None = None
    due: dt.date | None = None
    note: str | None = None

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        parse_period(str(value))
        return str(value)

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        parse_scope(value)
        return value

    def row(self, source: str, ref: str) -> dict[str, Any]:
        period = parse_period(self.period)
        kind, value = parse_scope(self.scope)
        return {
            "kpi": self.kpi, "scope": kind, "scope_value": value,
            "period_start": period.first, "period_end": period.last, "target": self.target,
            "warning": self.warning, "critical": self.critical, "impact": self.impact,
            "owner": self.owner, "due_date": self.due, "note": self.note,
            "updated_at": utc_now(), "source": source, "source_ref": ref,
        }


def _check(spec: TargetSpec, catalog: Catalog, where: str) -> None:
    if spec.kpi not in catalog:
        raise TargetError(f"{where}: unknown KPI {spec.kpi!r} (`callkpi kpis list` shows them)")
    if (spec.warning is not None and spec.critical is not None
            and not 0 <= spec.warning <= spec.critical):
        raise TargetError(f"{where}: expected 0 <= warning <= critical")


def set_targets(wh: Warehouse, specs: Sequence[TargetSpec], *, source: str = "cli",
                ref: str = "callkpi targets set", catalog: Catalog | None = None) -> LoadCounts:
    """Store targets; one with the same KPI, scope and period replaces the stored one."""
    catalog = catalog or builtin_catalog()
    for i, spec in enumerate(specs, start=1):
        _check(spec, catalog, f"target {i}" if len(specs) > 1 else "target")
    rows = [spec.row(source, f"{ref}#{i}" if len(specs) > 1 else ref)
            for i, spec in enumerate(specs, start=1)]
    # updated_at differs on every run: compare without it, so re-importing changes nothing.
    with wh.transaction() as con:
        existing = {
            (r[0], r[1], r[2], r[3], r[4]): r[5:]
            for r in con.execute(
                "SELECT kpi, scope, scope_value, period_start, period_end, target, warning, "
                "critical, impact, owner, due_date, note FROM targets").fetchall()
        }
        fields = ("target", "warning", "critical", "impact", "owner", "due_date", "note")
        fresh = [r for r in rows
                 if existing.get((r["kpi"], r["scope"], r["scope_value"], r["period_start"],
                                  r["period_end"])) != tuple(r[f] for f in fields)]
        counts = wh.load("targets", arrow_rows("targets", fresh)) if fresh else LoadCounts()
    return LoadCounts(counts.loaded, counts.updated, counts.duplicates + len(rows) - len(fresh))


def read_file(path: Path) -> list[TargetSpec]:
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except OSError as err:
        raise TargetError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise TargetError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        raise TargetError(f"{path}: expected a mapping with a 'targets' list")
    specs = []
    for i, entry in enumerate(data["targets"], start=1):
        try:
            specs.append(TargetSpec.model_validate(entry))
        except (ValidationError, PeriodError, TargetError) as err:
            if isinstance(err, ValidationError):
                first = err.errors()[0]
                detail = f"{'.'.join(map(str, first['loc'])) or 'entry'}: {first['msg']}"
            else:
                detail = str(err)
            raise TargetError(f"{path}: target {i}: {detail}") from None
    return specs


def import_file(wh: Warehouse, path: Path, catalog: Catalog | None = None) -> LoadCounts:
    specs = read_file(path)
    catalog = catalog or builtin_catalog()
    for i, spec in enumerate(specs, start=1):
        _check(spec, catalog, f"{path}: target {i}")
    return set_targets(wh, specs, source="file", ref=str(path), catalog=catalog)


def remove_target(wh: Warehouse, kpi: str, period: Period, scope: str = "center") -> bool:
    """Remove the target of ``kpi`` at ``scope`` for exactly ``period``; False if none."""
    kind, value = parse_scope(scope)
    with wh.transaction() as con:
        sql = ("FROM targets WHERE kpi = ? AND scope = ? AND scope_value IS NOT DISTINCT FROM ? "
               "AND period_start = ? AND period_end = ?")
        params = [kpi, kind, value, period.first, period.last]
        found = fetch_scalar(con, f"SELECT count(*) {sql}", params)
        con.execute(f"DELETE {sql}", params)
    return bool(found)


def list_targets(wh: Warehouse, period: Period | None = None) -> list[dict[str, Any]]:
    """Stored targets (those overlapping ``period``), most general first."""
    where, params = "TRUE", []
    if period is not None:
        where, params = "period_start <= ? AND period_end >= ?", [period.last, period.first]
    columns = ("kpi", "scope", "scope_value", "period_start", "period_end", "target",
               "warning", "critical", "impact", "owner", "due_date", "note")
    rows = wh.sql(f"SELECT {', '.join(columns)} FROM targets WHERE {where} "
                  "ORDER BY kpi, scope, scope_value NULLS FIRST, period_start", params)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def applicable(targets: Sequence[dict[str, Any]], kpi: str, period: Period,
               chain: Sequence[Scope]) -> dict[str, Any] | None:
    """The target that applies to ``kpi`` for a row whose scopes, most specific first, are
    ``chain``: the first scope in the chain that has one whose period covers ``period``;
    the shortest such period wins."""
    for kind, value in chain:
        matches = [
            t for t in targets
            if t["kpi"] == kpi and t["scope"] == kind and t["scope_value"] == value
            and Period(t["period_start"], t["period_end"]).contains(period)
        ]
        if matches:
            return min(matches, key=lambda t: (t["period_end"] - t["period_start"]).days)
    return None
