"""AST back to a filter string, in one canonical form, so that ``parse(render(ast)) == ast``.

The canonical form writes every identifier with its plural prefix (``attributes.run_name``),
backtick-quotes keys that are not plain (``metrics.`f1 score```), single-quotes strings
(doubling embedded quotes), writes floats with ``repr`` (so they read back as floats), puts
every nested ``AND`` / ``OR`` group in parentheses and uses upper-case keywords.
"""

from __future__ import annotations

from modelyard.search.ast import And, Comparison, Expr, Not, Or, OrderBy, Scalar
from modelyard.search.lexer import UNQUOTED_KEY
from modelyard.search.parser import PLURAL


def render(expr: Expr) -> str:
    """The canonical filter string of ``expr``."""
    if isinstance(expr, Comparison):
        return _comparison(expr)
    if isinstance(expr, Not):
        return "NOT " + _operand(expr.item)
    if isinstance(expr, And):
        return " AND ".join(_operand(item) for item in expr.items)
    if isinstance(expr, Or):
        return " OR ".join(_operand(item) for item in expr.items)
    raise TypeError(f"not a search expression: {expr!r}")


def render_order_by(term: OrderBy) -> str:
    """``OrderBy("metric", "rmse", False)`` -> ``"metrics.rmse DESC"``."""
    return f"{identifier(term.kind, term.key)} {'ASC' if term.ascending else 'DESC'}"


def identifier(kind: str, key: str) -> str:
    """``prefix.key`` with the key quoted only when it needs to be."""
    if UNQUOTED_KEY.fullmatch(key):
        return f"{PLURAL[kind]}.{key}"
    return f"{PLURAL[kind]}.`{key.replace('`', '``')}`"


def literal(value: Scalar) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _operand(expr: Expr) -> str:
    text = render(expr)
    return f"({text})" if isinstance(expr, And | Or) else text


def _comparison(c: Comparison) -> str:
    head = f"{identifier(c.kind, c.key)} {c.op}"
    if c.value is None:
        return head
    if isinstance(c.value, tuple):
        return f"{head} ({', '.join(literal(v) for v in c.value)})"
    return f"{head} {literal(c.value)}"
