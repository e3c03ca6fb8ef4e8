"""Evaluate a filter AST and order_by terms in memory, with exactly the SQL backends' semantics.

``store/sql/search.py`` compiles the same AST to SQL; a property test checks that
both select and order the same runs. The semantics, shared by both:

- metrics compare the latest value (``run.data.metrics``) as doubles. ``+inf``/``-inf`` count
  as ``±DBL_MAX`` (how the database stores them). A NaN value fails every comparison except
  ``!=``, which it passes.
- a run without the key (metric, param, tag, or a ``None`` attribute such as an unset
  ``end_time``) never matches a comparison, ``!=`` and ``NOT IN`` included; ``IS NULL``
  matches exactly when the key is absent. ``NOT`` is the plain complement.
- ``=``, ``!=``, ``IN`` and ``LIKE`` are case-sensitive. ``LIKE`` patterns use ``%`` (any
  run of characters) and ``_`` (exactly one character); every other character, backslash
  included, stands for itself (MLflow has no escape character either). ``ILIKE`` compares
  lower-cased value and pattern (SQLite's ``lower()`` folds only ASCII letters).
- ``datasets.<name|digest|context>`` matches when ANY dataset input of the run satisfies the
  comparison; ``context`` is the input tag ``mlflow.data.context`` (inputs without it never
  match a context comparison).
- ``experiment_id`` values are compared as strings (canonical decimal ids).

Ordering: real values first (ascending or descending), then NaN metrics, then absent keys /
``None`` attributes, in both directions. Runs tie-break on ``start_time`` DESC (``None``
last; skipped when ordering by ``start_time``) then ``run_id`` ASC. Experiments default to
``creation_time DESC, experiment_id ASC`` and otherwise tie-break on ``experiment_id DESC``
(MLflow's SQL store does both).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from modelyard.entities import Experiment, Run
from modelyard.search.ast import And, Comparison, Expr, Not, Or, OrderBy, Value

DATASET_CONTEXT_TAG = "mlflow.data.context"
DBL_MAX = sys.float_info.max
_MISSING = object()
T = TypeVar("T")


def matches(expr: Expr | None, target: Run | Experiment) -> bool:
    """Whether ``target`` (a Run or an Experiment) satisfies ``expr``; ``None`` matches all."""
    if expr is None:
        return True
    if isinstance(expr, Comparison):
        if expr.kind == "dataset":
            return isinstance(target, Run) and _dataset_matches(expr, target)
        return compare(expr.op, _lookup(target, expr.kind, expr.key), expr.value)
    if isinstance(expr, And):
        return all(matches(item, target) for item in expr.items)
    if isinstance(expr, Or):
        return any(matches(item, target) for item in expr.items)
    if isinstance(expr, Not):
        return not matches(expr.item, target)
    raise TypeError(f"not a search expression: {expr!r}")


def compare(op: str, lhs: Any, value: Value) -> bool:
    """Apply one operator; ``lhs`` is ``_MISSING`` (or ``None``) when the key is absent."""
    if op == "IS NULL":
        return lhs is _MISSING or lhs is None
    if op == "IS NOT NULL":
        return not (lhs is _MISSING or lhs is None)
    if lhs is _MISSING or lhs is None:
        return False
    if isinstance(lhs, float):
        return _compare_float(op, lhs, value)
    if op == "=":
        return lhs == value
    if op == "!=":
        return lhs != value
    if op == "IN":
        return lhs in value  # type: ignore[operator]
    if op == "NOT IN":
        return lhs not in value  # type: ignore[operator]
    if op == "LIKE":
        return like_regex(str(value)).fullmatch(lhs) is not None
    if op == "ILIKE":
        return like_regex(str(value).lower()).fullmatch(lhs.lower()) is not None
    return {"<": lhs < value, "<=": lhs <= value, ">": lhs > value, ">=": lhs >= value}[op]  # type: ignore[operator]


def _compare_float(op: str, lhs: float, value: Value) -> bool:
    if math.isnan(lhs):
        return op == "!="
    rhs = float(value)  # type: ignore[arg-type]
    return {
        "=": lhs == rhs,
        "!=": lhs != rhs,
        "<": lhs < rhs,
        "<=": lhs <= rhs,
        ">": lhs > rhs,
        ">=": lhs >= rhs,
    }[op]


@lru_cache(maxsize=512)
def like_regex(pattern: str) -> re.Pattern[str]:
    """``%`` -> any run, ``_`` -> one character, everything else literal; match the whole value."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def clamp(value: float) -> float:
    """Infinities as the database stores them (±DBL_MAX); NaN and finite values unchanged."""
    if math.isinf(value):
        return DBL_MAX if value > 0 else -DBL_MAX
    return value


def _lookup(target: Run | Experiment, kind: str, key: str) -> Any:
    if isinstance(target, Run):
        if kind == "metric":
            value = target.data.metrics.get(key, _MISSING)
            return _MISSING if value is _MISSING else clamp(float(value))
        if kind == "param":
            return target.data.params.get(key, _MISSING)
        if kind == "tag":
            return target.data.tags.get(key, _MISSING)
        if kind == "attribute":
            return getattr(target.info, key)
    elif isinstance(target, Experiment):
        if kind == "tag":
            return target.tags.get(key, _MISSING)
        if kind == "attribute":
            return str(target.experiment_id) if key == "experiment_id" else getattr(target, key)
    else:
        raise TypeError(f"cannot search {type(target).__name__}")
    raise ValueError(f"{kind} comparisons do not apply to {type(target).__name__}")


def _dataset_matches(c: Comparison, run: Run) -> bool:
    for dataset_input in run.inputs.dataset_inputs:
        if c.key == "context":
            values = [t.value for t in dataset_input.tags if t.key == DATASET_CONTEXT_TAG]
        else:
            values = [getattr(dataset_input.dataset, c.key)]
        if any(compare(c.op, v, c.value) for v in values):
            return True
    return False


# -- ordering ----------------------------------------------------------------------------
def sort_runs(runs: Iterable[Run], order_by: Sequence[OrderBy]) -> list[Run]:
    """Runs in ``order_by`` order, exactly as ``apply_runs_order`` sorts them in SQL."""
    ordered = sorted(runs, key=lambda r: r.info.run_id)
    if not any(t.kind == "attribute" and t.key == "start_time" for t in order_by):
        ordered = _stable_sort(ordered, lambda r: r.info.start_time, ascending=False)
    for term in reversed(order_by):
        ordered = _stable_sort(ordered, _getter(term), term.ascending)
    return ordered


def sort_experiments(experiments: Iterable[Experiment], order_by: Sequence[OrderBy]) -> list[Experiment]:
    """Experiments in ``order_by`` order, exactly as ``apply_experiments_order`` sorts them."""
    terms = list(order_by) or [
        OrderBy("attribute", "creation_time", False),
        OrderBy("attribute", "experiment_id", True),
    ]
    if not any(t.key == "experiment_id" for t in terms):
        terms.append(OrderBy("attribute", "experiment_id", False))
    ordered = list(experiments)
    for term in reversed(terms):
        ordered = _stable_sort(ordered, _getter(term), term.ascending)
    return ordered


def _getter(term: OrderBy) -> Callable[[Any], Any]:
    def get(target: Any) -> Any:
        if term.kind == "attribute" and term.key == "experiment_id":
            return _id_sort_key(str(target.experiment_id))
        value = _lookup(target, term.kind, term.key)
        return None if value is _MISSING else value

    return get


def _id_sort_key(experiment_id: str) -> tuple[int, int | str]:
    return (0, int(experiment_id)) if experiment_id.isdecimal() else (1, experiment_id)


def _stable_sort(items: list[T], get: Callable[[T], Any], ascending: bool) -> list[T]:
    """Sort by ``get`` keeping equal items in their current order; NaN then None go last."""
    present: list[tuple[Any, T]] = []
    nans: list[T] = []
    missing: list[T] = []
    for item in items:
        value = get(item)
        if value is None:
            missing.append(item)
        elif isinstance(value, float) and math.isnan(value):
            nans.append(item)
        else:
            present.append((value, item))
    present.sort(key=lambda pair: pair[0], reverse=not ascending)
    return [item for _, item in present] + nans + missing
