"""The small, safe expression language of derived KPIs and computed columns.

A formula is parsed with SQLGlot and then checked node by node against a whitelist:
names (of measures, KPIs, parameters or columns, resolved by the caller), numbers,
``+ - * /``, comparisons, ``and/or/not``, ``CASE``/``IF`` and a few functions. Anything
else, a subquery, a second statement, an unknown function or name, is a
:class:`FormulaError` that quotes the formula and points at the offending token. The
checked tree is translated to an Ibis expression, never pasted into SQL, so user text
cannot reach the database as SQL.

Division is safe: ``x / 0`` is null, never an error or infinity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import ibis
import ibis.expr.types as ir
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

FUNCTIONS = ("coalesce", "nullif", "greatest", "least", "abs", "round", "if", "seconds_between")
"""The functions a formula may call. ``seconds_between(a, b)`` is ``b - a`` in seconds for
two timestamps; the others behave as in SQL."""

_BINARY = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
    exp.And: lambda a, b: a & b,
    exp.Or: lambda a, b: a | b,
}
_ALLOWED = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Paren,
    exp.Neg,
    exp.Not,
    exp.Div,
    exp.Case,
    exp.If,
    exp.Coalesce,
    exp.Nullif,
    exp.Greatest,
    exp.Least,
    exp.Abs,
    exp.Round,
    exp.Anonymous,
    exp.Null,
    exp.Boolean,
    *_BINARY,
)


class FormulaError(ValueError):
    """A formula that is not allowed or does not make sense; says where."""

    def __init__(self, formula: str, problem: str, token: str | None = None) -> None:
        where = ""
        if token:
            at = formula.lower().find(token.lower())
            if at >= 0:
                where = f"\n  {formula}\n  {' ' * at}{'^' * max(len(token), 1)}"
        super().__init__(f"formula {formula!r}: {problem}{where}")


@dataclass(frozen=True)
class Formula:
    text: str
    tree: exp.Expr

    @property
    def names(self) -> frozenset[str]:
        """Every name the formula refers to (function names excluded)."""
        return frozenset(c.name for c in self.tree.find_all(exp.Column))


def _describe(node: exp.Expr) -> tuple[str, str]:
    """(what the node is, the token to point at)."""
    if isinstance(node, exp.Func):
        name = node.sql_name() if not isinstance(node, exp.Anonymous) else node.name
        return f"function {name.lower()!r} is not allowed (allowed: {', '.join(FUNCTIONS)})", name
    text = node.sql()
    kind = type(node).__name__.upper()
    return f"{kind} is not allowed in a formula", text.split()[0] if text else kind


def parse(text: str, extra_functions: Iterable[str] = ()) -> Formula:
    """Parse and check ``text``; raise :class:`FormulaError` for anything not whitelisted.
    A formula parsed before is not parsed again (every query parses its KPIs' formulas;
    the tree is only read, never changed)."""
    return _parse(text, tuple(sorted(extra_functions)))


@lru_cache(maxsize=4096)
def _parse(text: str, extra_functions: tuple[str, ...]) -> Formula:
    if not text or not text.strip():
        raise FormulaError(text, "is empty")
    try:
        statements = sqlglot.parse(text, read="duckdb")
    except (ParseError, TokenError) as err:
        raise FormulaError(text, f"cannot be read ({str(err).splitlines()[0]})") from None
    found = [s for s in statements if s is not None]
    if len(found) != 1:
        raise FormulaError(text, "must be a single expression (no ';')", ";")
    tree = found[0]
    allowed_functions = {*FUNCTIONS, *extra_functions}
    for node in tree.walk():
        if not isinstance(node, _ALLOWED):
            problem, token = _describe(node)
            raise FormulaError(text, problem, token)
        if isinstance(node, exp.Anonymous) and node.name.lower() not in allowed_functions:
            raise FormulaError(text, _describe(node)[0], node.name)
        if isinstance(node, exp.Column) and node.table:
            raise FormulaError(text, "names cannot be qualified with a table", node.sql())
    return Formula(text, tree)


Resolver = Callable[[str], ir.Value]


def _safe_div(a: ir.Value, b: ir.Value) -> ir.Value:
    den = b.cast("float64")
    return ibis.ifelse(den == 0, ibis.null("float64"), a.cast("float64") / den)


def to_ibis(formula: Formula, resolve: Resolver) -> ir.Value:
    """Translate a checked formula; ``resolve`` turns each name into an Ibis value (and
    raises :class:`FormulaError` for a name it does not know)."""

    def walk(node: exp.Expr) -> ir.Value:
        if isinstance(node, exp.Paren):
            return walk(node.this)
        if isinstance(node, exp.Column):
            return resolve(node.name)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return ibis.literal(node.this)
            number = float(node.this)
            return ibis.literal(
                int(number) if number.is_integer() and "." not in node.this else number
            )
        if isinstance(node, exp.Null):
            return ibis.null()
        if isinstance(node, exp.Boolean):
            return ibis.literal(node.this)
        if isinstance(node, exp.Neg):
            return -walk(node.this)
        if isinstance(node, exp.Not):
            return ~walk(node.this)
        if isinstance(node, exp.Div):
            return _safe_div(walk(node.this), walk(node.expression))
        for kind, op in _BINARY.items():
            if isinstance(node, kind):
                return op(walk(node.this), walk(node.expression))
        if isinstance(node, exp.Coalesce):
            return ibis.coalesce(walk(node.this), *(walk(e) for e in node.expressions))
        if isinstance(node, exp.Nullif):
            return walk(node.this).nullif(walk(node.expression))
        if isinstance(node, exp.Greatest | exp.Least):
            args = [walk(node.this), *(walk(e) for e in node.expressions)]
            fn = ibis.greatest if isinstance(node, exp.Greatest) else ibis.least
            return fn(*args)
        if isinstance(node, exp.Abs):
            return walk(node.this).abs()
        if isinstance(node, exp.Round):
            digits = node.args.get("decimals")
            return walk(node.this).round(int(digits.this) if digits is not None else 0)
        if isinstance(node, exp.If):
            return ibis.ifelse(
                walk(node.this),
                walk(node.args["true"]),
                walk(node.args["false"]) if node.args.get("false") else ibis.null(),
            )
        if isinstance(node, exp.Case):
            cases = [(walk(w.this), walk(w.args["true"])) for w in node.args.get("ifs", [])]
            default = node.args.get("default")
            return ibis.cases(*cases, else_=walk(default) if default is not None else None)
        if isinstance(node, exp.Anonymous) and node.name.lower() == "seconds_between":
            if len(node.expressions) != 2:
                raise FormulaError(formula.text, "seconds_between takes two timestamps", node.name)
            start, end = (walk(e) for e in node.expressions)
            return end.delta(start, unit="millisecond").cast("float64") / 1000.0
        raise FormulaError(formula.text, _describe(node)[0], node.sql())

    return walk(formula.tree)
