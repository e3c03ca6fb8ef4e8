"""The search AST: what ``parse_filter`` returns and what every backend consumes.

A filter is a tree of :class:`Comparison` leaves joined by :class:`And`, :class:`Or` and
:class:`Not`. The parser always produces *canonical* nodes, which is what makes
``parse(render(ast)) == ast`` hold:

- ``Comparison.kind`` is one of ``KINDS`` (never an alias such as ``metrics`` or ``attr``);
- ``Comparison.key`` is the canonical key (``created`` becomes ``start_time``, ``run name``
  becomes ``run_name``);
- ``Comparison.op`` is one of ``OPS`` (upper case; ``<>`` becomes ``!=``);
- ``Comparison.value`` is a ``str`` or a number for binary operators, a non-empty ``tuple``
  for ``IN`` / ``NOT IN``, and ``None`` for ``IS NULL`` / ``IS NOT NULL``;
- ``And`` / ``Or`` hold at least two items. ``a AND b AND c`` is one ``And`` with three items;
  an explicitly parenthesised group stays a nested node.

This is a leaf module: it imports nothing from modelyard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Kind: TypeAlias = Literal["metric", "param", "tag", "attribute", "dataset"]
KINDS: tuple[str, ...] = ("metric", "param", "tag", "attribute", "dataset")

Scalar: TypeAlias = str | int | float
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None

NUMERIC_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")
PATTERN_OPS: tuple[str, ...] = ("LIKE", "ILIKE")
LIST_OPS: tuple[str, ...] = ("IN", "NOT IN")
NULL_OPS: tuple[str, ...] = ("IS NULL", "IS NOT NULL")
OPS: tuple[str, ...] = NUMERIC_OPS + PATTERN_OPS + LIST_OPS + NULL_OPS


@dataclass(frozen=True, slots=True)
class Comparison:
    """``<kind>.<key> <op> <value>``, e.g. ``Comparison("metric", "rmse", "<", 0.5)``."""

    kind: str
    key: str
    op: str
    value: Value = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown comparison kind {self.kind!r}")
        if self.op not in OPS:
            raise ValueError(f"unknown operator {self.op!r}")
        if self.op in NULL_OPS:
            if self.value is not None:
                raise ValueError(f"{self.op} takes no value")
        elif self.op in LIST_OPS:
            if not isinstance(self.value, tuple) or not self.value:
                raise ValueError(f"{self.op} needs a non-empty tuple of values")
        elif not isinstance(self.value, str | int | float) or isinstance(self.value, bool):
            raise ValueError(f"{self.op} needs a string or numeric value")


@dataclass(frozen=True, slots=True)
class And:
    """True when every item is true."""

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if len(self.items) < 2:
            raise ValueError("And needs at least two items")


@dataclass(frozen=True, slots=True)
class Or:
    """True when any item is true."""

    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if len(self.items) < 2:
            raise ValueError("Or needs at least two items")


@dataclass(frozen=True, slots=True)
class Not:
    """The complement of ``item``. Every comparison is two-valued (never SQL NULL), so
    ``NOT metrics.a > 1`` also matches runs that have no metric ``a``."""

    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One ``order_by`` term: ``OrderBy("metric", "rmse", ascending=False)``."""

    kind: str
    key: str
    ascending: bool = True
