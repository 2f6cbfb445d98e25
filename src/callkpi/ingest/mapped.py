"""Any delimited file (CSV, TSV, ...) through a YAML mapping profile: ``callkpi ingest mapped``.

A profile (user documentation: ``docs/mapping-profiles.md``) says how to read the file
(delimiter, encoding, header), which rows to skip, and how each row becomes rows of one or
more canonical tables: columns copied, constants, and small expressions. Shipped profiles
live in ``callkpi/ingest/profiles/`` and are found by their name (``--mapping anonymous_bank``).

Choices:

* A profile is data. Its expressions use a small Python-like syntax that is parsed with
  :func:`ast.parse`, checked against a whitelist (names, literals, arithmetic, comparisons,
  ``and/or/not``, ``a if c else b`` and the functions in :data:`FUNCTIONS`) and compiled
  into closures. User text is never evaluated.
* The profile is validated as a whole before anything is read (Pydantic); column names
  are checked against the file's header before the first row. Errors name the profile
  file and the key (``targets[0].expressions.entered_at``).
* Empty fields are null. Header names become identifiers (``vru+line`` -> ``vru_line``).
* Expressions work on wall-clock date-times; a canonical timestamp column converts them
  from the profile's ``time_zone`` (``--tz`` overrides it) to UTC.
* A mapped value must fit its column: the type, and the enumerations and bounds that
  canonical records follow (:data:`callkpi.ingest.records.SPECS`). Cross-field rules of
  records (e.g. answered not before entered) are not applied: real exports break them
  (the Anonymous Bank data has service starting a second before queueing) and a profile
  loads what the source says.
* Rows load through the shared tabular path (:mod:`callkpi.ingest.tabular`):
  incrementally, in atomic batches, idempotently by each table's key, with rejects in the
  quarantine. The source is ``mapped:<profile name>``. Rows a ``skip`` rule drops are
  counted as skipped, and the report's notes name the rule.
"""

from __future__ import annotations

import ast
import codecs
import csv
import datetime as dt
import functools
import keyword
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from callkpi import timezones
from callkpi.ingest import files, records, values
from callkpi.ingest.masking import PREFIX as MASKED_PREFIX
from callkpi.ingest.masking import mask_key, mask_value
from callkpi.ingest.options import IngestOptions
from callkpi.ingest.report import IngestError, IngestReport
from callkpi.ingest.tabular import Canonical, SourceRow, ingest_delimited
from callkpi.ingest.values import RowError
from callkpi.model import (
    LINEAGE,
    LOADABLE_TABLES,
    TABLES,
    AgentState,
    Column,
    Direction,
    Outcome,
    Table,
)
from callkpi.store import Warehouse

SOURCE_PREFIX = "mapped:"
PROFILE_PACKAGE = "callkpi.ingest"
PROFILE_DIR = "profiles"

# ======================================================================================
# The expression language
# ======================================================================================


class ExpressionError(ValueError):
    """An expression that cannot be compiled; the message names the bad part."""


RESERVED = {"null": None, "true": True, "false": False}
"""Names that are literals, not columns."""


@dataclass(frozen=True)
class Env:
    """What expressions may consult besides the row: the profile's value maps and formats."""

    value_maps: Mapping[str, Mapping[str, Any]]
    time_formats: tuple[str, ...]
    derived: Mapping[str, Expression]


class Scope(dict[str, Any]):
    """One source row's values by name; a derived value is computed when first read.

    A dict, so that reading a name is a plain dict lookup: expressions run per row and
    per column, and that overhead decides how fast a large file loads."""

    __slots__ = ("env",)

    def __init__(self, row_values: dict[str, Any], env: Env) -> None:
        super().__init__(row_values)
        self.env = env

    def __missing__(self, name: str) -> Any:
        value = self.env.derived[name].evaluate(self)
        self[name] = value
        return value


Evaluator = Callable[[Scope], Any]


@dataclass(frozen=True)
class Expression:
    text: str
    names: frozenset[str]
    """The columns and derived values it reads."""
    value_maps: frozenset[str]
    """The value maps it looks up."""
    evaluate: Evaluator


def _is_number(value: object) -> bool:
    return type(value) in (int, float)


def as_text(value: Any) -> str | None:
    """A value as text: ``12.0`` is ``12``, a date-time is ISO (``2026-01-01 08:00:00``)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _as_number(label: str, value: Any) -> Any:
    if value is None or _is_number(value):
        return value
    if isinstance(value, str):
        if value.isascii() and value.isdigit():  # the usual case, fast
            return float(value)
        return values.to_float(label, value)
    raise values.bad_value(label, as_text(value), "a number")


def _loose_number(value: Any) -> Any:
    """Text that reads as a number becomes one (for ``==``); anything else is unchanged."""
    try:
        return values.to_float("", value)
    except RowError:
        return value


def _equal(a: Any, b: Any) -> bool:
    if type(a) is type(b):
        return bool(a == b)
    if isinstance(a, str) and _is_number(b):
        a = _loose_number(a)
    elif isinstance(b, str) and _is_number(a):
        b = _loose_number(b)
    return bool(a == b)


_NUMERIC_DIRECTIVES = {
    "%Y": r"(?P<Y>\d{4})",
    "%y": r"(?P<y>\d{2})",
    "%m": r"(?P<m>\d{1,2})",
    "%d": r"(?P<d>\d{1,2})",
    "%H": r"(?P<H>\d{1,2})",
    "%M": r"(?P<M>\d{1,2})",
    "%S": r"(?P<S>\d{1,2})",
    "%f": r"(?P<f>\d{1,6})",
}


@functools.lru_cache(maxsize=64)
def _format_pattern(fmt: str) -> re.Pattern[str] | None:
    """A regex for a format of numeric directives only, or None (then strptime reads it)."""
    pattern = []
    for part in re.split(r"(%.)", fmt):
        if part.startswith("%") and len(part) == 2:
            if part not in _NUMERIC_DIRECTIVES:
                return None
            pattern.append(_NUMERIC_DIRECTIVES[part])
        else:
            pattern.extend(
                r"\s+" if chunk.isspace() else re.escape(chunk)
                for chunk in re.split(r"(\s+)", part)
                if chunk
            )
    try:
        return re.compile("".join(pattern))
    except re.error:  # a directive given twice
        return None


def _strptime(text: str, fmt: str) -> dt.datetime:
    """``datetime.strptime``, several times faster for numeric formats (strptime is most
    of the time of loading a large file otherwise)."""
    pattern = _format_pattern(fmt)
    if pattern is None:
        return dt.datetime.strptime(text, fmt)
    match = pattern.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} does not match {fmt!r}")
    parts = match.groupdict()
    if parts.get("y") is not None:
        short = int(parts["y"])
        year = short + (1900 if short >= 69 else 2000)  # the POSIX rule strptime follows
    else:
        year = int(parts.get("Y") or 1900)
    return dt.datetime(
        year,
        int(parts.get("m") or 1),
        int(parts.get("d") or 1),
        int(parts.get("H") or 0),
        int(parts.get("M") or 0),
        int(parts.get("S") or 0),
        int((parts.get("f") or "0").ljust(6, "0")),
    )


def _parse_time(label: str, text: str, formats: Sequence[str]) -> dt.datetime:
    for fmt in formats:
        if fmt == "iso":
            continue
        try:
            return _strptime(text, fmt)
        except ValueError:
            continue
    if not formats or "iso" in formats:
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    expected = " or ".join(f for f in formats if f != "iso")
    if not expected or "iso" in formats:
        expected = " or ".join(filter(None, [expected, "ISO 8601 (2026-10-01 09:30:00)"]))
    raise values.bad_value(label, text, f"a date-time as {expected}")


# -- functions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    run: Callable[[Env, tuple[str, ...], list[Any]], Any]
    """Called with the environment, the arguments' source text (for errors) and values."""
    min_args: int
    max_args: int | None
    doc: str


def _coalesce(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
    return next((a for a in args if a is not None), None)


def _nullif(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
    value = args[0]
    return None if any(_equal(value, other) for other in args[1:]) else value


def _concat(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
    parts = [as_text(a) for a in args if a is not None]
    return "".join(p for p in parts if p is not None) if parts else None


def _lookup(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
    map_name, value = args[0], args[1]
    if value is None:
        return None
    mapping = env.value_maps[map_name]
    key = str(as_text(value))
    if key in mapping:
        return mapping[key]
    if len(args) > 2:
        return args[2]
    raise values.bad_value(labels[1], key, f"one of {', '.join(mapping)} (value map {map_name})")


def _datetime(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
    if None in args:
        return None
    if len(args) == 2:
        text = f"{as_text(args[0])} {as_text(args[1])}"
    elif isinstance(args[0], dt.datetime):
        return args[0]
    elif _is_number(args[0]):
        return dt.datetime.fromtimestamp(float(args[0]), dt.UTC)
    else:
        text = str(args[0])
    return _parse_time(" + ".join(labels), text, env.time_formats)


MIDNIGHT_WINDOW = dt.timedelta(hours=12)


def _roll_past_midnight(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
    time, start = args
    if time is None or start is None:
        return time
    for label, value in zip(labels, args, strict=True):
        if not isinstance(value, dt.datetime):
            raise values.bad_value(label, as_text(value), "a date-time")
    try:
        return time + dt.timedelta(days=1) if time < start - MIDNIGHT_WINDOW else time
    except TypeError:
        raise values.bad_value(
            labels[0], as_text(time), f"a date-time comparable with {labels[1]}"
        ) from None


def _extreme(pick: Callable[..., Any]) -> Callable[[Env, tuple[str, ...], list[Any]], Any]:
    def run(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
        given = [a for a in args if a is not None]
        if not given:
            return None
        if any(_is_number(a) for a in given) or all(
            isinstance(a, str) and _is_number(_loose_number(a)) for a in given
        ):
            given = [
                _as_number(label, a) for label, a in zip(labels, args, strict=True) if a is not None
            ]
        try:
            return pick(given)
        except TypeError:
            raise values.bad_value(
                ", ".join(labels),
                ", ".join(map(str, given)),
                "values of one kind (numbers, texts or date-times)",
            ) from None

    return run


def _number(env: Env, labels: tuple[str, ...], args: list[Any]) -> Any:
    return _as_number(labels[0], args[0])


FUNCTIONS: dict[str, Function] = {
    "coalesce": Function(_coalesce, 1, None, "the first argument that is not null"),
    "nullif": Function(
        _nullif, 2, None, "null when the first argument equals any of the others, else the first"
    ),
    "concat": Function(
        _concat, 1, None, "the arguments joined as text, nulls left out (null if all are null)"
    ),
    "lookup": Function(
        _lookup,
        2,
        3,
        "lookup('map', value[, default]): the value's entry in a value map; an "
        "unmapped value takes the default, or rejects the row without one",
    ),
    "datetime": Function(
        _datetime,
        1,
        2,
        "datetime(text) or datetime(date, time): a wall-clock date-time read "
        "with time_formats (the two parts joined by a space)",
    ),
    "roll_past_midnight": Function(
        _roll_past_midnight,
        2,
        2,
        "roll_past_midnight(time, start): time moved to the next day when it is more than "
        "12 hours before start (a call that ran past midnight)",
    ),
    "least": Function(_extreme(min), 1, None, "the smallest argument, nulls ignored"),
    "greatest": Function(_extreme(max), 1, None, "the largest argument, nulls ignored"),
    "number": Function(_number, 1, 1, "text as a number (rejects the row if it is not one)"),
}


# -- compiling -------------------------------------------------------------------------

_NOT_ALLOWED = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "indexing ('[...]')",
    ast.Lambda: "a lambda",
    ast.NamedExpr: "assignment (':=')",
    ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.Await: "await",
    ast.Starred: "a '*' argument",
    ast.JoinedStr: "an f-string",
}

_ARITHMETIC: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}

_ORDERING: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


def _label(node: ast.expr) -> str:
    return ast.unparse(node)


class _Compiler:
    """Turns a whitelisted Python expression tree into a closure over a :class:`Scope`."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.value_maps: set[str] = set()

    def compile(self, node: ast.expr) -> Evaluator:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _NOT_ALLOWED.get(type(node), f"{_label(node)!r}")
            raise ExpressionError(f"{what} is not allowed in a profile expression")
        evaluator: Evaluator = method(node)
        return evaluator

    def _Constant(self, node: ast.Constant) -> Evaluator:
        value = node.value
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ExpressionError(f"literal {_label(node)} is not allowed (use text or numbers)")
        return lambda _s: value

    def _Name(self, node: ast.Name) -> Evaluator:
        name = node.id
        if name in RESERVED:
            constant = RESERVED[name]
            return lambda _s: constant
        self.names.add(name)
        return lambda s: s[name]

    def _BoolOp(self, node: ast.BoolOp) -> Evaluator:
        parts = [self.compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda s: all(p(s) for p in parts)
        return lambda s: any(p(s) for p in parts)

    def _UnaryOp(self, node: ast.UnaryOp) -> Evaluator:
        operand = self.compile(node.operand)
        label = _label(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda s: not operand(s)
        if isinstance(node.op, ast.USub):

            def negate(s: Scope) -> Any:
                value = _as_number(label, operand(s))
                return None if value is None else -value

            return negate
        if isinstance(node.op, ast.UAdd):
            return lambda s: _as_number(label, operand(s))
        raise ExpressionError(f"operator in {_label(node)!r} is not allowed")

    def _BinOp(self, node: ast.BinOp) -> Evaluator:
        symbol = _ARITHMETIC.get(type(node.op))
        if symbol is None:
            raise ExpressionError(
                f"operator in {_label(node)!r} is not allowed; use + - * / and functions"
            )
        left, right = self.compile(node.left), self.compile(node.right)
        labels = (_label(node.left), _label(node.right))
        return lambda s: _arithmetic(symbol, labels, left(s), right(s))

    def _Compare(self, node: ast.Compare) -> Evaluator:
        operands = [self.compile(node.left)]
        labels = [_label(node.left)]
        tests: list[Callable[[Any, Any, str, str], Any]] = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                operands.append(_constant(self._literal_list(comparator)))
                tests.append(_membership(isinstance(op, ast.In)))
            else:
                operands.append(self.compile(comparator))
                tests.append(_comparison(op, node))
            labels.append(_label(comparator))

        def compare(s: Scope) -> Any:
            left = operands[0](s)
            for i, test in enumerate(tests):
                right = operands[i + 1](s)
                result = test(left, right, labels[i], labels[i + 1])
                if not result:
                    return result
                left = right
            return True

        return compare

    def _literal_list(self, node: ast.expr) -> tuple[Any, ...]:
        if not isinstance(node, ast.Tuple | ast.List) or not all(
            isinstance(e, ast.Constant) for e in node.elts
        ):
            raise ExpressionError(
                f"'in' needs a list of literals, like in ('A', 'B'); found {_label(node)!r}"
            )
        return tuple(e.value for e in node.elts if isinstance(e, ast.Constant))

    def _IfExp(self, node: ast.IfExp) -> Evaluator:
        test, body, orelse = (self.compile(n) for n in (node.test, node.body, node.orelse))
        return lambda s: body(s) if test(s) else orelse(s)

    def _Call(self, node: ast.Call) -> Evaluator:
        if not isinstance(node.func, ast.Name):
            self.compile(node.func)  # says why (attribute access, ...)
            raise ExpressionError(f"only functions can be called, not {_label(node.func)!r}")
        name = node.func.id
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}")
        function = FUNCTIONS[name]
        if node.keywords:
            raise ExpressionError(f"{name}() takes no keyword arguments")
        count = len(node.args)
        if count < function.min_args or (
            function.max_args is not None and count > function.max_args
        ):
            wanted = (
                str(function.min_args)
                if function.min_args == function.max_args
                else f"{function.min_args} or more"
                if function.max_args is None
                else f"{function.min_args} to {function.max_args}"
            )
            raise ExpressionError(f"{name}() takes {wanted} arguments, found {count}")
        if name == "lookup":
            self._value_map_name(node.args[0])
        args = [self.compile(a) for a in node.args]
        labels = tuple(_label(a) for a in node.args)
        run = function.run
        if len(args) == 1:
            (first,) = args
            return lambda s: run(s.env, labels, [first(s)])
        if len(args) == 2:
            first, second = args
            return lambda s: run(s.env, labels, [first(s), second(s)])
        return lambda s: run(s.env, labels, [a(s) for a in args])

    def _value_map_name(self, node: ast.expr) -> None:
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            raise ExpressionError(
                f"lookup() needs a value map's name in quotes first, like lookup('outcome', "
                f"code); found {_label(node)}"
            )
        self.value_maps.add(node.value)


def _constant(value: Any) -> Evaluator:
    return lambda _s: value


def _membership(inside: bool) -> Callable[[Any, Any, str, str], Any]:
    def test(value: Any, choices: Any, _label_a: str, _label_b: str) -> bool:
        return any(_equal(value, choice) for choice in choices) == inside

    return test


def _comparison(op: ast.cmpop, node: ast.Compare) -> Callable[[Any, Any, str, str], Any]:
    if isinstance(op, ast.Eq):
        return lambda a, b, _la, _lb: _equal(a, b)
    if isinstance(op, ast.NotEq):
        return lambda a, b, _la, _lb: not _equal(a, b)
    ordering = _ORDERING.get(type(op))
    if ordering is None:
        raise ExpressionError(
            f"comparison in {_label(node)!r} is not allowed; use == != < <= > >= in, not in"
        )

    def order(a: Any, b: Any, la: str, lb: str) -> Any:
        if a is None or b is None:
            return None
        if _is_number(a) or _is_number(b):
            a, b = _as_number(la, a), _as_number(lb, b)
        try:
            return ordering(a, b)
        except TypeError:
            raise RowError(
                "bad field", f"cannot compare {la} = {as_text(a)!r} with {lb} = {as_text(b)!r}"
            ) from None

    return order


def _arithmetic(symbol: str, labels: tuple[str, str], a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return _time_arithmetic(symbol, labels, a, b)
    a, b = _as_number(labels[0], a), _as_number(labels[1], b)
    if symbol == "+":
        return a + b
    if symbol == "-":
        return a - b
    if symbol == "*":
        return a * b
    return None if b == 0 else a / b


def _time_arithmetic(symbol: str, labels: tuple[str, str], a: Any, b: Any) -> Any:
    """date-time - date-time is seconds; date-time +/- seconds is a date-time."""
    try:
        if symbol == "-" and isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
            return (a - b).total_seconds()
        if symbol in "+-" and isinstance(a, dt.datetime):
            seconds = dt.timedelta(seconds=_as_number(labels[1], b))
            return a + seconds if symbol == "+" else a - seconds
        if symbol == "+" and isinstance(b, dt.datetime):
            return b + dt.timedelta(seconds=_as_number(labels[0], a))
    except TypeError:
        pass  # aware and naive date-times mixed
    raise RowError(
        "bad field",
        f"cannot compute {labels[0]} {symbol} {labels[1]} with {as_text(a)!r} and {as_text(b)!r}",
    )


def compile_expression(text: str) -> Expression:
    """Compile a profile expression, or raise :class:`ExpressionError` saying what is wrong."""
    source = text.strip()
    if not source:
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"not a valid expression ({exc.msg} at character {exc.offset}): {source!r}"
        ) from None
    compiler = _Compiler()
    evaluate = compiler.compile(tree.body)
    return Expression(source, frozenset(compiler.names), frozenset(compiler.value_maps), evaluate)


# ======================================================================================
# The profile (the user boundary: Pydantic, every error names its key)
# ======================================================================================

_IDENTIFIER = re.compile(r"[^\W\d]\w*")
DELIMITER_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
LINEAGE_COLUMNS = tuple(c.name for c in LINEAGE)
MODEL_ENUMERATIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("calls", "direction"): tuple(d.value for d in Direction),
    ("calls", "outcome"): tuple(o.value for o in Outcome),
    ("agent_states", "state"): tuple(s.value for s in AgentState),
}


@dataclass(frozen=True)
class ValueRules:
    """What a canonical column accepts beyond its type: the same enumerations and bounds
    as canonical records (:data:`callkpi.ingest.records.SPECS`), plus the model's enums."""

    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


def value_rules(table: str, column: str) -> ValueRules:
    spec = records.SPECS.get(table)
    if spec is None:
        return ValueRules(MODEL_ENUMERATIONS.get((table, column), ()))
    allowed = spec.allowed.get(column) or MODEL_ENUMERATIONS.get((table, column), ())
    return ValueRules(tuple(allowed), spec.minimum.get(column), spec.maximum.get(column))


class KeyProblem(ValueError):
    """A validation problem under a sub-key (``key`` is appended to the error's place)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _check_expression(text: str) -> str:
    compile_expression(text)
    return text


def _check_name(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name) or name in RESERVED:
        raise ValueError(
            f"{name!r} is not a usable name: letters, digits and _, not starting "
            "with a digit, not a Python keyword, not null/true/false"
        )
    return name


def _check_expressions(mapping: dict[str, str]) -> dict[str, str]:
    for key, text in mapping.items():
        try:
            compile_expression(text)
        except ExpressionError as exc:
            raise KeyProblem(key, str(exc)) from None
    return mapping


ExpressionText = Annotated[str, AfterValidator(_check_expression)]
Expressions = Annotated[dict[str, str], AfterValidator(_check_expressions)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SkipRule(_Strict):
    """Rows for which ``when`` is true are skipped (counted as skipped, by rule name)."""

    name: str = Field(min_length=1)
    when: ExpressionText


class Target(_Strict):
    """One canonical table a source row may produce a row of."""

    table: str
    when: ExpressionText | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    """canonical column -> source column or derived value (copied as is)."""
    expressions: Expressions = Field(default_factory=dict)
    """canonical column -> expression."""
    constants: dict[str, Any] = Field(default_factory=dict)
    """canonical column -> literal value."""

    @field_validator("table")
    @classmethod
    def _known_table(cls, table: str) -> str:
        loadable = list(LOADABLE_TABLES)
        if table not in loadable:
            raise ValueError(f"unknown table {table!r}; expected one of: {', '.join(loadable)}")
        return table

    @field_validator("columns")
    @classmethod
    def _source_names(cls, columns: dict[str, str]) -> dict[str, str]:
        for key, name in columns.items():
            try:
                _check_name(name)
            except ValueError as exc:
                raise KeyProblem(key, f"{exc}; use expressions for anything but a name") from None
        return columns

    @model_validator(mode="after")
    def _fits_table(self) -> Target:
        spec = TABLES[self.table]
        seen: dict[str, str] = {}
        for group in ("columns", "expressions", "constants"):
            for name in getattr(self, group):
                if name in LINEAGE_COLUMNS:
                    raise KeyProblem(f"{group}.{name}", f"{name} is set by callkpi")
                if name not in spec.by_name:
                    raise KeyProblem(
                        f"{group}.{name}",
                        f"table {self.table} has no column "
                        f"{name!r}; its columns: {', '.join(_settable(spec))}",
                    )
                if name in seen:
                    raise KeyProblem(f"{group}.{name}", f"{name} is also set in {seen[name]}")
                seen[name] = group
        for name, value in self.constants.items():
            if not isinstance(value, str | int | float | dt.date | None):
                raise KeyProblem(
                    f"constants.{name}",
                    "expected a single value (text, number, "
                    f"true/false or a date), found {value!r}",
                )
            try:
                column_value(spec, spec.by_name[name], value, "UTC", ())
            except RowError as exc:
                raise KeyProblem(f"constants.{name}", exc.detail) from None
        lacking = [
            c.name
            for c in spec.columns
            if not c.nullable and c.name not in LINEAGE_COLUMNS and c.name not in seen
        ]
        if lacking:
            raise ValueError(
                f"table {self.table} needs required column(s) "
                f"{', '.join(lacking)}: set them in columns, expressions or "
                "constants"
            )
        return self

    def expression_texts(self) -> Iterable[tuple[str, str]]:
        if self.when is not None:
            yield "when", self.when
        for name, text in self.expressions.items():
            yield f"expressions.{name}", text


def _settable(spec: Table) -> list[str]:
    return [c.name for c in spec.columns if c.name not in LINEAGE_COLUMNS]


class Profile(_Strict):
    """A mapping profile: how to read a delimited file and turn its rows into tables."""

    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    source_columns: list[str] | None = None
    time_zone: str = "UTC"
    time_formats: list[str] = Field(default_factory=list)
    numeric: list[str] = Field(default_factory=list)
    value_maps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    skip: list[SkipRule] = Field(default_factory=list)
    derived: Expressions = Field(default_factory=dict)
    targets: list[Target] = Field(min_length=1)

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str) -> str:
        delimiter = DELIMITER_NAMES.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise ValueError(
                f"expected one character or one of {', '.join(DELIMITER_NAMES)}; "
                f"found {delimiter!r}"
            )
        return delimiter

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(
                f"unknown encoding {encoding!r} (e.g. utf-8, cp1251, latin-1)"
            ) from None
        return encoding

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            timezones.zone(zone)
        except timezones.TimeZoneError as exc:
            raise ValueError(str(exc)) from None
        return zone

    @field_validator("source_columns", "numeric")
    @classmethod
    def _names(cls, names: list[str] | None) -> list[str] | None:
        for i, name in enumerate(names or ()):
            try:
                _check_name(name)
            except ValueError as exc:
                raise KeyProblem(str(i), str(exc)) from None
        return names

    @field_validator("value_maps", mode="before")
    @classmethod
    def _text_keys(cls, maps: Any) -> Any:
        if not isinstance(maps, dict):
            return maps
        texts: dict[Any, Any] = {}
        for map_name, mapping in maps.items():
            if not isinstance(mapping, dict):
                texts[map_name] = mapping
                continue
            for key in mapping:
                if isinstance(key, bool):
                    raise KeyProblem(
                        f"{map_name}.{key}",
                        "YAML reads yes/no/true/false/on/off "
                        "as true or false; put the source value in quotes",
                    )
            texts[map_name] = {as_text(k): v for k, v in mapping.items()}
        return texts

    @field_validator("derived")
    @classmethod
    def _derived_names(cls, derived: dict[str, str]) -> dict[str, str]:
        for name in derived:
            try:
                _check_name(name)
            except ValueError as exc:
                raise KeyProblem(name, str(exc)) from None
        return derived

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if not self.header and not self.source_columns:
            raise ValueError("header is no, so source_columns must name the file's columns")
        for where, text in self.expression_texts():
            missing = sorted(compile_expression(text).value_maps - set(self.value_maps))
            if missing:
                raise KeyProblem(
                    where,
                    f"value map {missing[0]!r} is not defined under "
                    f"value_maps (defined: {', '.join(self.value_maps) or 'none'})",
                )
        return self

    def expression_texts(self) -> Iterable[tuple[str, str]]:
        """Every expression with its place in the profile."""
        for i, rule in enumerate(self.skip):
            yield f"skip[{i}].when", rule.when
        for name, text in self.derived.items():
            yield f"derived.{name}", text
        for i, target in enumerate(self.targets):
            for where, text in target.expression_texts():
                yield f"targets[{i}].{where}", text


# -- loading ---------------------------------------------------------------------------


def shipped_profiles() -> list[str]:
    """The names of the profiles that come with callkpi."""
    folder = resources.files(PROFILE_PACKAGE).joinpath(PROFILE_DIR)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _profile_text(mapping: str | Path) -> tuple[str, str, str]:
    """(YAML text, where it is for messages, default name) of a path or a shipped name."""
    path = Path(mapping)
    if path.is_file():
        return path.read_text(encoding="utf-8"), str(path), path.stem
    name = str(mapping)
    name = name[: -len(".yaml")] if name.endswith(".yaml") else name
    if re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        shipped = resources.files(PROFILE_PACKAGE).joinpath(PROFILE_DIR, f"{name}.yaml")
        if shipped.is_file():
            return shipped.read_text(encoding="utf-8"), str(shipped), name
    raise IngestError(
        f"mapping profile {mapping}: no such file, and not a shipped profile "
        f"(shipped: {', '.join(shipped_profiles())})"
    )


def _place(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_MODEL_AT: dict[str, type[BaseModel]] = {"": Profile, "targets": Target, "skip": SkipRule}


def _error_message(error: Mapping[str, Any]) -> str:
    loc = list(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyProblem):
        loc += [int(k) if k.isdigit() else k for k in cause.key.split(".")]
        return f"{_place(loc)}: {cause}"
    if error["type"] == "extra_forbidden":
        model = _MODEL_AT.get(str(loc[0]) if len(loc) > 1 else "", Profile)
        return f"{_place(loc)}: unknown key; expected one of: {', '.join(model.model_fields)}"
    if error["type"] == "missing":
        return f"{_place(loc)}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{_place(loc)}: {message}"


def parse_profile(text: str, where: str, default_name: str) -> Profile:
    """A validated profile from YAML text, or an :class:`IngestError` naming ``where``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IngestError(f"mapping profile {where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise IngestError(
            f"mapping profile {where}: expected a mapping of keys (delimiter, header, targets, ...)"
        )
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_error_message(e) for e in exc.errors())
        raise IngestError(f"mapping profile {where}: {problems}") from None
    if profile.name is None:
        profile = profile.model_copy(update={"name": default_name})
    return profile


def load_profile(mapping: str | Path | None) -> tuple[Profile, str]:
    """The profile at a path, or a shipped one by name, with where it was found."""
    if mapping is None:
        raise IngestError(
            "ingest mapped needs a mapping profile (--mapping FILE.yaml or the "
            f"name of a shipped one: {', '.join(shipped_profiles())})"
        )
    text, where, default_name = _profile_text(mapping)
    return parse_profile(text, where, default_name), where


# ======================================================================================
# From a source row to canonical rows
# ======================================================================================


ColumnConverter = Callable[[Any], Any]


def column_converter(
    table: Table, column: Column, tz: str, formats: Sequence[str]
) -> ColumnConverter:
    """A function from an expression's value to the Python value of a canonical column
    (naive date-times are wall-clock times in ``tz``); it raises RowError for a bad value."""
    field = f"{table.name}.{column.name}"
    rules = value_rules(table.name, column.name)
    allowed = rules.allowed
    if column.type == "VARCHAR":

        def text(value: Any) -> Any:
            converted = values.to_text(as_text(value))
            if allowed and converted is not None:
                converted = converted.lower()
                if converted not in allowed:
                    raise values.bad_value(field, value, "one of: " + ", ".join(allowed))
            return converted

        return text
    if rules.minimum is not None or rules.maximum is not None:
        low, high = rules.minimum, rules.maximum

        def bounded(value: Any) -> Any:
            converted = values.convert(field, column.type, value, tz, formats)
            if converted is not None and low is not None and converted < low:
                raise values.bad_value(field, as_text(value), f"a number of at least {low:g}")
            if converted is not None and high is not None and converted > high:
                raise values.bad_value(field, as_text(value), f"a number of at most {high:g}")
            return converted

        return bounded
    if column.type == "TIMESTAMP":

        def timestamp(value: Any) -> Any:
            if type(value) is dt.datetime and value.tzinfo is None:  # the usual case, fast
                return value if tz == "UTC" else timezones.local_to_utc(tz, value)
            return values.to_utc(field, value, tz, formats)

        return timestamp
    return lambda value: values.convert(field, column.type, value, tz, formats)


def column_value(table: Table, column: Column, value: Any, tz: str, formats: Sequence[str]) -> Any:
    """``value`` as the Python value of a canonical column (see :func:`column_converter`)."""
    return column_converter(table, column, tz, formats)(value)


def identifier(header_name: str, position: int) -> str:
    """A header name as an expression name: ``vru+line`` -> ``vru_line``."""
    name = re.sub(r"\W+", "_", header_name.strip().lstrip("\ufeff")).strip("_")
    if not name:
        return f"column_{position}"
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name) or name in RESERVED:
        name += "_"
    return name


@dataclass(frozen=True)
class TargetPlan:
    table: Table
    when: Expression | None
    computed: tuple[tuple[str, Evaluator, ColumnConverter], ...]
    """(column, its expression, its converter)."""
    constants: Mapping[str, Any]
    """The constants, and null for key columns the target does not set (every row
    of a batch needs its table's key columns)."""
    tenant: str | None
    caller_mask_key: str | None
    required: tuple[str, ...]

    def make(self, scope: Scope) -> dict[str, Any]:
        row = dict(self.constants)
        for name, evaluate, convert in self.computed:
            row[name] = convert(evaluate(scope))
        if self.tenant and "tenant" in self.table.by_name and row.get("tenant") is None:
            row["tenant"] = self.tenant
        for name in self.required:
            if row.get(name) is None:
                raise values.missing(f"{self.table.name}.{name}")
        caller = row.get("caller")
        if self.caller_mask_key and caller and not caller.startswith(MASKED_PREFIX):
            row["caller"] = mask_value(caller, self.caller_mask_key)
        return row


@dataclass
class RowPlan:
    """A profile compiled against one file's columns: the ``convert`` of the tabular path."""

    profile: Profile
    columns: tuple[str, ...]
    env: Env
    tz: str
    numeric: tuple[str, ...]
    skip: tuple[tuple[str, Expression], ...]
    targets: tuple[TargetPlan, ...]
    skipped_by: Counter[str]
    unmatched: int = 0

    def convert(self, row: SourceRow) -> Canonical:
        named = self._named(row.values)
        if self.skip:
            # Skip rules see the row as read, so a totals line with text in a numeric
            # column is skipped, not rejected.
            as_read = Scope(named, self.env)
            for rule_name, when in self.skip:
                if when.evaluate(as_read):
                    self.skipped_by[rule_name] += 1
                    return []
        for name in self.numeric:
            named[name] = _as_number(name, named[name])
        scope = Scope(named, self.env)
        made: Canonical = []
        for target in self.targets:
            if target.when is None or target.when.evaluate(scope):
                made.append((target.table.name, target.make(scope)))
        if not made:
            self.unmatched += 1
        return made

    def _named(self, fields: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(fields, Mapping):
            fields = list(fields.values())
        count = len(self.columns)
        # Trailing empty fields (a delimiter at the end of every line) are harmless.
        if len(fields) < count or any(f.strip() for f in fields[count:]):
            raise RowError(
                "wrong column count",
                f"found {len(fields)} fields, expected {count} "
                f"({'the header' if self.profile.header else 'source_columns'})",
            )
        return {
            name: (None if not text.strip() else text.strip())
            for name, text in zip(self.columns, fields, strict=False)
        }

    def notes(self) -> list[str]:
        out = [
            f"skipped {n} row{'s' if n != 1 else ''} by skip rule {name!r}"
            for name, n in self.skipped_by.items()
        ]
        if self.unmatched:
            out.append(
                f"{self.unmatched} row{'s' if self.unmatched != 1 else ''} matched no "
                "target's when (skipped)"
            )
        return out


def _check_names(profile: Profile, columns: Sequence[str], where: str, path: Path) -> None:
    """Every name an expression reads is a column or a derived value defined before it."""
    known = set(columns)

    def fail(place: str, message: str) -> IngestError:
        return IngestError(f"mapping profile {where}: {place}: {message}")

    def check(place: str, names: Iterable[str], available: set[str]) -> None:
        for name in sorted(names):
            if name not in available:
                raise fail(
                    place,
                    f"unknown name {name!r}; {path.name} has columns "
                    f"{', '.join(columns)}"
                    + (f"; derived: {', '.join(profile.derived)}" if profile.derived else ""),
                )

    for i, name in enumerate(profile.numeric):
        check(f"numeric[{i}]", [name], known)
    for name, text in profile.derived.items():
        if name in known:
            raise fail(f"derived.{name}", f"{name} is already a column of {path.name}")
        check(f"derived.{name}", compile_expression(text).names, known)
        known.add(name)
    for place, text in profile.expression_texts():
        if not place.startswith("derived."):
            check(place, compile_expression(text).names, known)
    for i, target in enumerate(profile.targets):
        for column, name in target.columns.items():
            check(f"targets[{i}].columns.{column}", [name], known)


def _read_header(path: Path, profile: Profile) -> tuple[str, ...] | None:
    """The file's column names as expression names, or None for an empty file."""
    with path.open(encoding=profile.encoding, errors="replace", newline="") as fh:
        first = fh.readline()
    if not first.strip():
        return None
    record = next(csv.reader([first.rstrip("\r\n")], delimiter=profile.delimiter), [])
    return tuple(identifier(name, i + 1) for i, name in enumerate(record))


def _columns(profile: Profile, path: Path, where: str) -> tuple[str, ...] | None:
    if profile.source_columns:
        return tuple(profile.source_columns)
    names = _read_header(path, profile)
    if names is not None:
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise IngestError(
                f"{path}: the header names column {doubled[0]!r} twice (after "
                f"making names usable in mapping profile {where}); set "
                "source_columns in the profile"
            )
    return names


def _time_zone(options: IngestOptions, profile: Profile) -> str:
    # An explicit --tz (UTC included) overrides the profile's zone.
    tz = options.tz or profile.time_zone
    try:
        timezones.zone(tz)
    except timezones.TimeZoneError as exc:
        raise IngestError(str(exc)) from None
    return tz


def build_plan(
    profile: Profile,
    columns: Sequence[str],
    *,
    tz: str,
    tenant: str | None,
    caller_mask_key: str | None,
) -> RowPlan:
    """Compile a (validated, name-checked) profile for rows with ``columns``."""
    derived = {name: compile_expression(text) for name, text in profile.derived.items()}
    env = Env(profile.value_maps, tuple(profile.time_formats), derived)
    targets = []
    for target in profile.targets:
        table = TABLES[target.table]
        computed = [
            (
                c,
                compile_expression(text).evaluate,
                column_converter(table, table.by_name[c], tz, profile.time_formats),
            )
            for c, text in (*target.columns.items(), *target.expressions.items())
        ]
        constants = {k: None for k in table.key if k not in LINEAGE_COLUMNS}
        constants |= {
            c: column_value(table, table.by_name[c], v, tz, profile.time_formats)
            for c, v in target.constants.items()
        }
        targets.append(
            TargetPlan(
                table=table,
                when=compile_expression(target.when) if target.when is not None else None,
                computed=tuple(computed),
                constants=constants,
                tenant=tenant,
                caller_mask_key=caller_mask_key if "caller" in table.by_name else None,
                required=tuple(
                    c.name
                    for c in table.columns
                    if not c.nullable and c.name not in LINEAGE_COLUMNS
                ),
            )
        )
    return RowPlan(
        profile=profile,
        columns=tuple(columns),
        env=env,
        tz=tz,
        numeric=tuple(profile.numeric),
        skip=tuple((rule.name, compile_expression(rule.when)) for rule in profile.skip),
        targets=tuple(targets),
        skipped_by=Counter(),
    )


def ingest(wh: Warehouse, path: str | Path, options: IngestOptions) -> IngestReport:
    """Load a delimited file through the mapping profile ``options.mapping`` (a path or
    the name of a shipped profile)."""
    profile, where = load_profile(options.mapping)
    file = files.resolve(path)
    source = SOURCE_PREFIX + str(profile.name)
    columns = _columns(profile, file, where)
    if columns is None:
        return IngestReport(source, str(file))
    _check_names(profile, columns, where, file)
    needs_mask = options.mask_callers and any(
        "caller" in TABLES[t.table].by_name for t in profile.targets
    )
    plan = build_plan(
        profile,
        columns,
        tz=_time_zone(options, profile),
        tenant=options.tenant,
        caller_mask_key=mask_key(wh.con) if needs_mask else None,
    )
    report = ingest_delimited(
        wh,
        source=source,
        path=file,
        convert=plan.convert,
        delimiter=profile.delimiter,
        encoding=profile.encoding,
        skip_header=(lambda _record: True) if profile.header else None,
        strict=options.strict,
    )
    report.notes.extend(plan.notes())
    return report
