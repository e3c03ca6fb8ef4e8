"""The search AST (``modelyard.search``) compiled to SQL: one compiler, per-entity column tables.

An ``Entity`` says what a filter on one kind of row can name: its ``attributes`` (columns), its
``keyed`` tables (``(owner id, key, value)`` rows such as params, tags, latest metrics, searched with
correlated ``EXISTS`` / ``NOT EXISTS``), and ``leaves`` for the few comparisons with their own meaning
(a run's datasets, an experiment id given as a string, the registry's prompt tag ...). ``where(entity,
expr)`` folds the AST into one boolean clause on ``entity.table``. Runs, experiments and logged models
(``store/tracking/sql/search_tables.py``), registered models and versions
(``store/registry/sql/search.py``) are such tables; a new domain's search is one more.

Every clause is two-valued (never SQL NULL), so ``NOT`` is a plain complement. Semantics are those
documented in ``modelyard.search.evaluate`` (a property test checks SQL and the evaluator agree):

- metric values (``numeric`` keyed tables) store NaN as ``value = 0, is_nan = true``: NaN fails every
  comparison but ``!=``. Infinities are stored as +-DBL_MAX, so comparisons with finite numbers hold.
- ``LIKE`` is case-sensitive with ``%`` / ``_`` wildcards and no escape character. PostgreSQL and
  MySQL (binary collation) run ``col LIKE :p ESCAPE '\\'`` with literal backslashes escaped; SQLite,
  whose ``LIKE`` ignores ASCII case, runs the equivalent ``col GLOB :g``. ``ILIKE`` is
  ``lower(col) LIKE lower(:p)`` everywhere.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from modelyard.exceptions import InvalidParameterValue
from modelyard.search.ast import And, Comparison, Expr, Not, Or, OrderBy, Value
from modelyard.store.sql.schema import Double

ONE, ZERO, TWO = sa.literal_column("1"), sa.literal_column("0"), sa.literal_column("2")
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_GLOB_ESCAPES = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}
Leaf = Callable[[Comparison], "ColumnElement[bool] | None"]


@dataclass(frozen=True)
class Keyed:
    """A table of ``(owner, key, value)`` rows belonging to the entity."""

    table: sa.Table
    owner: str  # the column holding the entity's row id
    numeric: bool = False  # metric points: ``value`` and ``is_nan``


@dataclass(frozen=True)
class Entity:
    name: str  # in messages: "runs", "registered models" ...
    table: sa.Table  # the clause is on this table (subqueries correlate to it)
    id: ColumnElement[Any]  # the row id keyed tables refer to
    attributes: Mapping[str, ColumnElement[Any]]
    keyed: Mapping[str, Keyed] = field(default_factory=dict)  # comparison kind -> table
    # "kind.key" or "kind" -> a leaf of its own; a leaf answering None falls through to the default
    leaves: Mapping[str, Leaf] = field(default_factory=dict)


# -- dialect-specific LIKE ---------------------------------------------------------------------------
class _sqlite_alternative(FunctionElement[bool]):
    """Renders its first argument, or on SQLite its second (both are boolean clauses)."""

    name = "sqlite_alternative"
    type = sa.Boolean()
    inherit_cache = True


@compiles(_sqlite_alternative)
def _compile_default(element: _sqlite_alternative, compiler: Any, **kw: Any) -> str:
    return "(" + compiler.process(element.clauses.clauses[0], **kw) + ")"


@compiles(_sqlite_alternative, "sqlite")
def _compile_sqlite(element: _sqlite_alternative, compiler: Any, **kw: Any) -> str:
    return "(" + compiler.process(element.clauses.clauses[1], **kw) + ")"


def _like(column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    sql_pattern = pattern.replace("\\", "\\\\")
    glob = "".join(_GLOB_ESCAPES.get(c, c) for c in pattern)
    return _sqlite_alternative(  # type: ignore[return-value]
        column.like(sql_pattern, escape="\\"), column.op("GLOB", is_comparison=True)(glob)
    )


def _ilike(column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    sql_pattern = sa.literal(pattern.replace("\\", "\\\\"), sa.String())
    return sa.func.lower(column).like(sa.func.lower(sql_pattern), escape="\\")


# -- one comparison ----------------------------------------------------------------------------------
def _bind(value: Value) -> ColumnElement[Any]:
    if isinstance(value, str):
        return sa.literal(value, sa.String())
    if isinstance(value, int):
        return sa.literal(value, sa.BigInteger())
    return sa.literal(value, Double)


def predicate(column: ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    """``column <op> value`` for a non-NULL ``column``."""
    if op == "LIKE":
        return _like(column, str(value))
    if op == "ILIKE":
        return _ilike(column, str(value))
    if op == "IN":
        return column.in_(list(value))  # type: ignore[arg-type]
    if op == "NOT IN":
        return column.not_in(list(value))  # type: ignore[arg-type]
    return _COMPARE[op](column, _bind(value))


def metric_predicate(table: sa.Table, op: str, value: Value) -> ColumnElement[bool]:
    """A comparison with a metric point (``value``, ``is_nan``): NaN only passes ``!=``."""
    number = float(value)  # type: ignore[arg-type]
    if op == "!=":
        return sa.or_(table.c.is_nan == sa.true(), table.c.value != sa.literal(number, Double))
    return sa.and_(table.c.is_nan == sa.false(), predicate(table.c.value, op, number))


def attribute(column: ColumnElement[Any], c: Comparison) -> ColumnElement[bool]:
    clause = predicate(column, c.op, c.value)
    nullable = getattr(column, "nullable", False)
    return sa.and_(column.is_not(None), clause) if nullable else clause


def keyed_exists(
    entity: Entity, keyed: Keyed, c: Comparison, scope: Sequence[ColumnElement[bool]] = ()
) -> ColumnElement[bool]:
    """EXISTS (or NOT EXISTS for ``IS NULL``) a row of ``keyed`` with the key that passes ``c``."""
    table = keyed.table
    conditions = [table.c[keyed.owner] == entity.id, table.c.key == c.key, *scope]
    if c.op not in ("IS NULL", "IS NOT NULL"):
        test = metric_predicate(table, c.op, c.value) if keyed.numeric else predicate(table.c.value, c.op, c.value)
        conditions.append(test)
    exists = sa.select(ONE).select_from(table).where(*conditions).correlate(entity.table).exists()
    return ~exists if c.op == "IS NULL" else exists


# -- whole expressions -------------------------------------------------------------------------------
def where(
    entity: Entity, expr: Expr | None, scopes: Mapping[str, Sequence[ColumnElement[bool]]] | None = None
) -> ColumnElement[bool]:
    """A WHERE clause on ``entity.table`` selecting the rows that match ``expr`` (all when None).
    ``scopes`` adds conditions to the EXISTS of a keyed kind (e.g. metrics of some datasets only)."""
    if expr is None:
        return sa.true()
    scopes = scopes or {}

    def leaf(c: Comparison) -> ColumnElement[bool]:
        own = entity.leaves.get(f"{c.kind}.{c.key}") or entity.leaves.get(c.kind)
        if own is not None:
            clause = own(c)
            if clause is not None:
                return clause
        if c.kind in entity.keyed:
            return keyed_exists(entity, entity.keyed[c.kind], c, scopes.get(c.kind, ()))
        if c.kind == "attribute" and c.key in entity.attributes:
            return attribute(entity.attributes[c.key], c)
        raise InvalidParameterValue(f"{entity.name} cannot be searched by {c.kind} {c.key!r}")

    return _fold(expr, leaf)


def _fold(expr: Expr, leaf: Callable[[Comparison], ColumnElement[bool]]) -> ColumnElement[bool]:
    if isinstance(expr, Comparison):
        return leaf(expr)
    if isinstance(expr, And):
        return sa.and_(*(_fold(item, leaf) for item in expr.items))
    if isinstance(expr, Or):
        return sa.or_(*(_fold(item, leaf) for item in expr.items))
    if isinstance(expr, Not):
        return sa.not_(_fold(expr.item, leaf))
    raise TypeError(f"not a search expression: {expr!r}")


def mentions(expr: Expr | None, kind: str, key: str | None = None) -> bool:
    """Whether ``expr`` has a comparison of ``kind`` (and ``key``, when given)."""
    if expr is None:
        return False
    if isinstance(expr, Comparison):
        return expr.kind == kind and (key is None or expr.key == key)
    if isinstance(expr, Not):
        return mentions(expr.item, kind, key)
    return any(mentions(item, kind, key) for item in expr.items)  # type: ignore[union-attr]


# -- ordering ----------------------------------------------------------------------------------------
def direction(column: ColumnElement[Any], ascending: bool) -> ColumnElement[Any]:
    return column.asc() if ascending else column.desc()


def null_rank(column: ColumnElement[Any]) -> ColumnElement[int]:
    """0 for a value, 1 for NULL: sorts missing values last in both directions (MySQL has no
    ``NULLS LAST``)."""
    return sa.case((column.is_(None), ONE), else_=ZERO)


def order_by_columns(
    terms: Sequence[OrderBy], columns: Mapping[str, ColumnElement[Any]], tie_breakers: Sequence[OrderBy] = ()
) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for attribute terms, then the tie-breakers on keys not already ordered by."""
    seen = {t.key for t in terms}
    clauses: list[ColumnElement[Any]] = []
    for term in [*terms, *(t for t in tie_breakers if t.key not in seen)]:
        if term.key not in columns:
            raise InvalidParameterValue(f"cannot order by {term.kind} {term.key!r}")
        clauses.append(direction(columns[term.key], term.ascending))
    return clauses
