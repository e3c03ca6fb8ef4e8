"""Compile search ASTs to SQLAlchemy Core clauses over the tracking schema.

``runs_where(expr)`` is a boolean clause on ``runs``: metric, param, tag and dataset
comparisons become correlated ``EXISTS`` / ``NOT EXISTS`` subqueries keyed by ``runs.id``
(``latest_metrics`` for metrics, so only the newest value counts), attribute comparisons test
``runs`` columns directly. Every clause is two-valued (never SQL NULL), so ``NOT`` is a plain
complement. Semantics are those documented in ``modelyard.search.evaluate``, and a property
test checks that SQL and the in-memory evaluator agree:

- NaN metrics are stored as ``value = 0, is_nan = true``: they fail every comparison but
  ``!=``. Infinities are stored as ±DBL_MAX, so comparisons with finite numbers stay right.
- ``LIKE`` is case-sensitive with ``%`` / ``_`` wildcards and no escape character. PostgreSQL and
  MySQL (binary collation) run ``col LIKE :p ESCAPE '\\'`` with literal backslashes escaped;
  SQLite, whose ``LIKE`` ignores ASCII case, runs the equivalent ``col GLOB :g``.
  ``ILIKE`` is ``lower(col) LIKE lower(:p)`` everywhere.

``apply_runs_order`` adds one ``LEFT OUTER JOIN`` per metric/param/tag ordering key (aliased per
position) and sorts real values first, then NaN metrics, then missing keys, in both directions,
with portable ``CASE WHEN ... THEN`` ranks (no ``NULLS LAST``, which MySQL lacks). Runs then
tie-break on ``start_time DESC`` (NULL last) and ``run_uuid ASC``. The statements these
functions extend must select from ``runs`` / ``experiments`` without ``DISTINCT``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from modelyard.search.ast import And, Comparison, Expr, Not, Or, OrderBy, Value
from modelyard.search.evaluate import DATASET_CONTEXT_TAG
from modelyard.store.tracking import tables as schema

RUN_COLUMNS: dict[str, sa.Column[Any]] = {
    "run_id": schema.runs.c.run_uuid,
    "run_name": schema.runs.c.name,
    "status": schema.runs.c.status,
    "user_id": schema.runs.c.user_id,
    "artifact_uri": schema.runs.c.artifact_uri,
    "lifecycle_stage": schema.runs.c.lifecycle_stage,
    "start_time": schema.runs.c.start_time,
    "end_time": schema.runs.c.end_time,
}
EXPERIMENT_COLUMNS: dict[str, sa.Column[Any]] = {
    "experiment_id": schema.experiments.c.experiment_id,
    "name": schema.experiments.c.name,
    "lifecycle_stage": schema.experiments.c.lifecycle_stage,
    "creation_time": schema.experiments.c.creation_time,
    "last_update_time": schema.experiments.c.last_update_time,
}
_KEYED_TABLES = {"metric": schema.latest_metrics, "param": schema.params, "tag": schema.tags}
_CANONICAL_ID = re.compile(r"0|[1-9][0-9]{0,17}")
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ZERO, _ONE, _TWO = (sa.literal_column(str(n)) for n in range(3))
_GLOB_ESCAPES = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}


# -- dialect-specific LIKE -----------------------------------------------------------------
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


# -- one comparison ------------------------------------------------------------------------
def _bind(value: Value) -> ColumnElement[Any]:
    if isinstance(value, str):
        return sa.literal(value, sa.String())
    if isinstance(value, int):
        return sa.literal(value, sa.BigInteger())
    return sa.literal(value, schema.Double)


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


def _metric_predicate(table: sa.Table, op: str, value: Value) -> ColumnElement[bool]:
    number = sa.literal(float(value), schema.Double)  # type: ignore[arg-type]
    if op == "!=":
        return sa.or_(table.c.is_nan == sa.true(), table.c.value != number)
    return sa.and_(table.c.is_nan == sa.false(), predicate(table.c.value, op, float(value)))  # type: ignore[arg-type]


def _keyed(
    table: sa.Table, owner: ColumnElement[Any], c: Comparison, correlate: sa.Table
) -> ColumnElement[bool]:
    """EXISTS / NOT EXISTS over a (owner, key, value) table such as params or experiment_tags."""
    conditions = [owner, table.c.key == c.key]
    if c.op not in ("IS NULL", "IS NOT NULL"):
        if c.kind == "metric":
            conditions.append(_metric_predicate(table, c.op, c.value))
        else:
            conditions.append(predicate(table.c.value, c.op, c.value))
    exists = sa.select(_ONE).select_from(table).where(*conditions).correlate(correlate).exists()
    return ~exists if c.op == "IS NULL" else exists


def _attribute(column: sa.Column[Any], c: Comparison) -> ColumnElement[bool]:
    clause = predicate(column, c.op, c.value)
    return sa.and_(column.is_not(None), clause) if column.nullable else clause


def _dataset(c: Comparison) -> ColumnElement[bool]:
    inputs = schema.run_inputs
    if c.key == "context":
        tags = schema.input_tags
        source = inputs.join(tags, tags.c.input_id == inputs.c.id)
        conditions = [tags.c.key == DATASET_CONTEXT_TAG, predicate(tags.c.value, c.op, c.value)]
    else:
        datasets = schema.datasets
        source = inputs.join(datasets, datasets.c.id == inputs.c.dataset_id)
        conditions = [predicate(datasets.c[c.key], c.op, c.value)]
    query = sa.select(_ONE).select_from(source)
    return query.where(inputs.c.run_id == schema.runs.c.id, *conditions).correlate(schema.runs).exists()


def _experiment_id(c: Comparison) -> ColumnElement[bool]:
    """experiment_id is a string on the wire and an integer column: non-canonical ids never match."""
    column = EXPERIMENT_COLUMNS["experiment_id"]
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    ids = [int(v) for v in values if isinstance(v, str) and _CANONICAL_ID.fullmatch(v)]
    if c.op in ("=", "IN"):
        return column.in_(ids) if ids else sa.false()
    return column.not_in(ids) if ids else sa.true()


# -- whole expressions ---------------------------------------------------------------------
def _combine(expr: Expr, leaf: Callable[[Comparison], ColumnElement[bool]]) -> ColumnElement[bool]:
    if isinstance(expr, Comparison):
        return leaf(expr)
    if isinstance(expr, And):
        return sa.and_(*(_combine(item, leaf) for item in expr.items))
    if isinstance(expr, Or):
        return sa.or_(*(_combine(item, leaf) for item in expr.items))
    if isinstance(expr, Not):
        return sa.not_(_combine(expr.item, leaf))
    raise TypeError(f"not a search expression: {expr!r}")


def _run_leaf(c: Comparison) -> ColumnElement[bool]:
    if c.kind in _KEYED_TABLES:
        table = _KEYED_TABLES[c.kind]
        return _keyed(table, table.c.run_id == schema.runs.c.id, c, schema.runs)
    if c.kind == "dataset":
        return _dataset(c)
    if c.kind == "attribute" and c.key in RUN_COLUMNS:
        return _attribute(RUN_COLUMNS[c.key], c)
    raise ValueError(f"cannot search runs by {c.kind} {c.key!r}")


def _experiment_leaf(c: Comparison) -> ColumnElement[bool]:
    table = schema.experiment_tags
    if c.kind == "tag":
        owner = table.c.experiment_id == schema.experiments.c.experiment_id
        return _keyed(table, owner, c, schema.experiments)
    if c.kind == "attribute" and c.key == "experiment_id":
        return _experiment_id(c)
    if c.kind == "attribute" and c.key in EXPERIMENT_COLUMNS:
        return _attribute(EXPERIMENT_COLUMNS[c.key], c)
    raise ValueError(f"cannot search experiments by {c.kind} {c.key!r}")


def runs_where(expr: Expr | None) -> ColumnElement[bool]:
    """A WHERE clause on ``runs`` selecting the runs that match ``expr`` (all when ``None``)."""
    return sa.true() if expr is None else _combine(expr, _run_leaf)


def experiments_where(expr: Expr | None) -> ColumnElement[bool]:
    """A WHERE clause on ``experiments`` selecting those that match ``expr`` (all when ``None``)."""
    return sa.true() if expr is None else _combine(expr, _experiment_leaf)


# -- ordering ------------------------------------------------------------------------------
def _direction(column: ColumnElement[Any], ascending: bool) -> ColumnElement[Any]:
    return column.asc() if ascending else column.desc()


def _null_rank(column: ColumnElement[Any]) -> ColumnElement[int]:
    return sa.case((column.is_(None), _ONE), else_=_ZERO)


def apply_runs_order(stmt: sa.Select, order_by: Sequence[OrderBy]) -> sa.Select:
    """``stmt`` (selecting from ``runs``) ordered by ``order_by`` plus the tie-breakers."""
    runs = schema.runs
    clauses: list[ColumnElement[Any]] = []
    for position, term in enumerate(order_by):
        if term.kind == "attribute":
            column: ColumnElement[Any] = RUN_COLUMNS[term.key]
            if RUN_COLUMNS[term.key].nullable:
                clauses.append(_null_rank(column))
        elif term.kind in _KEYED_TABLES:
            joined = _KEYED_TABLES[term.kind].alias(f"order_{position}_{term.kind}")
            on = sa.and_(joined.c.run_id == runs.c.id, joined.c.key == sa.literal(term.key, sa.String()))
            stmt = stmt.outerjoin_from(runs, joined, on)
            column = joined.c.value
            if term.kind == "metric":
                nan = joined.c.is_nan == sa.true()
                clauses.append(sa.case((joined.c.run_id.is_(None), _TWO), (nan, _ONE), else_=_ZERO))
            else:
                clauses.append(_null_rank(joined.c.run_id))
        else:
            raise ValueError(f"cannot order runs by {term.kind}")
        clauses.append(_direction(column, term.ascending))
    ordered = {(t.kind, t.key) for t in order_by}
    if ("attribute", "start_time") not in ordered:
        clauses += [_null_rank(runs.c.start_time), runs.c.start_time.desc()]
    if ("attribute", "run_id") not in ordered:
        clauses.append(runs.c.run_uuid.asc())
    return stmt.order_by(*clauses)


def apply_experiments_order(stmt: sa.Select, order_by: Sequence[OrderBy]) -> sa.Select:
    """``stmt`` ordered by ``order_by``; default ``creation_time DESC, experiment_id ASC``, and
    ``experiment_id DESC`` as the tie-breaker otherwise (both as MLflow's SQL store)."""
    terms = list(order_by) or [
        OrderBy("attribute", "creation_time", False),
        OrderBy("attribute", "experiment_id", True),
    ]
    if not any(t.key == "experiment_id" for t in terms):
        terms.append(OrderBy("attribute", "experiment_id", False))
    clauses: list[ColumnElement[Any]] = []
    for term in terms:
        if term.kind != "attribute" or term.key not in EXPERIMENT_COLUMNS:
            raise ValueError(f"cannot order experiments by {term.kind} {term.key!r}")
        column = EXPERIMENT_COLUMNS[term.key]
        if column.nullable:
            clauses.append(_null_rank(column))
        clauses.append(_direction(column, term.ascending))
    return stmt.order_by(*clauses)
