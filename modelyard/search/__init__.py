"""The filter grammar shared by every search: lexer, parser to an AST, AST to SQL, in-memory evaluator.

``parse_filter(text, entity)`` and ``parse_order_by(clauses, entity)`` turn user input into the
AST of :mod:`modelyard.search.ast`; ``render`` turns an AST back into canonical text;
``matches`` evaluates it in memory. The SQL compiler lives with the SQL store
(``modelyard.store.sql.search``, with per-entity tables in each SQL store): this package never
imports SQLAlchemy.
"""

from modelyard.search.ast import And, Comparison, Expr, Not, Or, OrderBy
from modelyard.search.evaluate import matches, sort_experiments, sort_runs
from modelyard.search.paging import decode_page_token, encode_page_token
from modelyard.search.parser import parse_filter, parse_order_by
from modelyard.search.render import render, render_order_by

__all__ = [
    "And",
    "Comparison",
    "Expr",
    "Not",
    "Or",
    "OrderBy",
    "decode_page_token",
    "encode_page_token",
    "matches",
    "parse_filter",
    "parse_order_by",
    "render",
    "render_order_by",
    "sort_experiments",
    "sort_runs",
]
