"""Recommendations: a library of rules kept as data (``rules/default.yaml``), each a
condition over KPIs, their target statuses, benchmarks and trends -> an action text and
the KPIs that triggered it. Users add rules in a file of the same shape.

An action is English text, or the text per language (``action: {en: ..., ru: ...}``,
English required): ``Recommendation.action`` is the English text (the CLI's), and
``Recommendation.texts`` the others by language code. The dashboard shows the shipped
rules in Russian from its message catalog (``rule.<id>``), a user's rule from ``texts``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

TREND_THRESHOLD = 0.05
"""A KPI is rising or falling when it moved by more than this share of its old value."""


class RuleError(ValueError):
    pass


class Atom(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kpi: str
    status: tuple[str, ...] | None = None
    benchmark: Literal["better", "in line", "worse"] | None = None
    above: float | None = None
    below: float | None = None
    trend: Literal["rising", "falling"] | None = None
    overstaffed: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Atom:
        tests = [f for f in ("status", "benchmark", "above", "below", "trend", "overstaffed")
                 if getattr(self, f) is not None]
        if len(tests) != 1:
            raise ValueError(
                f"condition on {self.kpi}: give exactly one test, got {tests or 'none'}"
            )
        return self


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    all: tuple[Node, ...] | None = None
    any: tuple[Node, ...] | None = None
    not_: Node | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if sum(x is not None for x in (self.all, self.any, self.not_)) != 1:
            raise ValueError("a condition is exactly one of all, any or not")
        return self


Node = Atom | Condition
Condition.model_rebuild()


LANGUAGE = re.compile(r"[a-z]{2}")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    when: Node
    action: str
    """The English text."""
    texts: tuple[tuple[str, str], ...] = ()
    """(language, text) of the other languages, from ``action: {en: ..., ru: ...}``."""

    @model_validator(mode="before")
    @classmethod
    def _languages(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "texts" in data:
            raise ValueError("give the languages in action: {en: ..., ru: ...}, not texts")
        if not isinstance(data.get("action"), dict):
            return data
        by_language = data["action"]
        bad = [k for k in by_language if not isinstance(k, str) or not LANGUAGE.fullmatch(k)]
        if bad:
            raise ValueError(f"action: {bad[0]!r} is not a two-letter language code")
        bad = [k for k, v in by_language.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ValueError(f"action: the {bad[0]} text is not text")
        if "en" not in by_language:
            raise ValueError("action: the English text (en) is required")
        return {**data, "action": by_language["en"],
                "texts": tuple((k, v) for k, v in by_language.items() if k != "en")}


@dataclass(frozen=True)
class Facts:
    """What the rules can look at, for one group (the center, an agent, a queue...)."""

    values: Mapping[str, float | None]
    statuses: Mapping[str, str]
    benchmarks: Mapping[str, Mapping[str, Any]]
    previous: Mapping[str, float | None]


@dataclass(frozen=True)
class Recommendation:
    rule: str
    action: str
    kpis: tuple[str, ...]
    texts: Mapping[str, str] = field(default_factory=dict)
    """The action in other languages than English (language code -> text), if the rule
    gives them."""


def _atom(atom: Atom, facts: Facts) -> bool:
    value = facts.values.get(atom.kpi)
    if atom.status is not None:
        return facts.statuses.get(atom.kpi) in atom.status
    bench = facts.benchmarks.get(atom.kpi) or {}
    if atom.benchmark is not None:
        return bench.get("verdict") == atom.benchmark
    if atom.overstaffed is not None:
        return bench.get("overstaffed") is atom.overstaffed
    if value is None:
        return False
    if atom.above is not None:
        return value > atom.above
    if atom.below is not None:
        return value < atom.below
    before = facts.previous.get(atom.kpi)
    if before is None or before == 0:
        return False
    change = (value - before) / abs(before)
    return change > TREND_THRESHOLD if atom.trend == "rising" else change < -TREND_THRESHOLD


def _evaluate(node: Node, facts: Facts) -> tuple[bool, set[str]]:
    """Whether ``node`` holds, and the KPIs of the atoms that made it hold."""
    if isinstance(node, Atom):
        held = _atom(node, facts)
        return held, ({node.kpi} if held else set())
    if node.all is not None:
        results = [_evaluate(n, facts) for n in node.all]
        ok = all(r for r, _ in results)
        return ok, set().union(*(k for _, k in results)) if ok else set()
    if node.any is not None:
        results = [_evaluate(n, facts) for n in node.any]
        ok = any(r for r, _ in results)
        return ok, set().union(*(k for _, k in results))
    assert node.not_ is not None
    held, _ = _evaluate(node.not_, facts)
    return (not held), set()


def recommend(rules: Sequence[Rule], facts: Facts) -> list[Recommendation]:
    out = []
    for rule in rules:
        held, kpis = _evaluate(rule.when, facts)
        if held:
            out.append(Recommendation(rule.id, " ".join(rule.action.split()),
                                      tuple(sorted(kpis)),
                                      {k: " ".join(v.split()) for k, v in rule.texts}))
    return out


def kpis_of(rules: Sequence[Rule]) -> set[str]:
    def walk(node: Node) -> set[str]:
        if isinstance(node, Atom):
            return {node.kpi}
        children = node.all or node.any or ((node.not_,) if node.not_ else ())
        return set().union(*(walk(c) for c in children))

    return set().union(*(walk(r.when) for r in rules)) if rules else set()


_RULES: TypeAdapter[list[Rule]] = TypeAdapter(list[Rule])


def _parse(source: str, text: str) -> list[Rule]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RuleError(f"{source}: not valid YAML ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{source}: expected a mapping with a 'rules' list")
    try:
        return _RULES.validate_python(data["rules"])
    except ValidationError as err:
        first = err.errors()[0]
        raise RuleError(f"{source}: rules.{_where(first['loc'])}: {first['msg']}") from None


def _where(loc: tuple[int | str, ...]) -> str:
    """The path in the user's file, without pydantic's names for union branches."""
    keep = [str(p) for p in loc
            if isinstance(p, int) or (p not in ("Atom", "Condition") and "[" not in p)]
    return ".".join(keep)


@cache
def builtin_rules() -> tuple[Rule, ...]:
    text = resources.files("callkpi.goals").joinpath("rules/default.yaml").read_text("utf-8")
    return tuple(_parse("rules/default.yaml", text))


def load_rules(extra: Sequence[Path] = ()) -> tuple[Rule, ...]:
    rules = list(builtin_rules())
    for path in extra:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as err:
            raise RuleError(f"{path}: cannot read ({err.strerror})") from None
        rules.extend(_parse(str(path), text))
    ids = [r.id for r in rules]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise RuleError(f"rule {doubled[0]!r} is defined twice")
    return tuple(rules)
