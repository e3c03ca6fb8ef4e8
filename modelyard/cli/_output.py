"""Rendering: rich tables for people, JSON for scripts (``--output json``).

JSON is what the entities' ``to_dict()`` give (MLflow's REST shapes), lists as arrays.
Non-finite metric values are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (protobuf's JSON mapping, which MLflow's server uses too), so the
output stays valid JSON for ``jq`` and ``json.loads`` alike.

rich is imported only when a table is printed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click

from modelyard import formatting

F = TypeVar("F", bound=Callable[..., Any])

TABLE, JSON = "table", "json"
MISSING = "-"
PIPE_WIDTH = 240
"""Table width when stdout is not a terminal (``| less``, CI logs): wide rows stay on one line."""


def output_option(f: F) -> F:
    """The ``--output/-o table|json`` option of listing and get commands."""
    return click.option(
        "--output",
        "-o",
        "output",
        type=click.Choice([TABLE, JSON], case_sensitive=False),
        default=TABLE,
        show_default=True,
        help="Table for people, or JSON (MLflow's REST shapes) for scripts.",
    )(f)


# -- JSON ------------------------------------------------------------------------
def jsonable(data: Any) -> Any:
    """``data`` with non-finite floats as strings and tuples as lists."""
    if isinstance(data, float) and not math.isfinite(data):
        return "NaN" if math.isnan(data) else ("Infinity" if data > 0 else "-Infinity")
    if isinstance(data, dict):
        return {str(k): jsonable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [jsonable(v) for v in data]
    return data


def print_json(data: Any) -> None:
    click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False, allow_nan=False))


# -- values for people -------------------------------------------------------------
def fmt_time(ms: int | None) -> str:
    """Milliseconds since the epoch as local time, ``2024-05-01 13:45:12``."""
    if ms is None:
        return MISSING
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(start_ms: int | None, end_ms: int | None) -> str:
    """``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``, ``3d 4h``; ``-`` unless both ends are known."""
    return formatting.duration(start_ms, end_ms, MISSING)


def fmt_size(size: int | None) -> str:
    return formatting.size(size, MISSING)


def fmt_value(value: Any) -> str:
    """A metric or other value, short: floats to 6 significant digits."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# -- tables ------------------------------------------------------------------------
def console():
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, PIPE_WIDTH)
    return out


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    no_wrap: Sequence[str] = (),
) -> None:
    """Print a table; cells are plain text (never rich markup), ``None`` shows as ``-``."""
    from rich.table import Table
    from rich.text import Text

    tbl = Table(title=title, title_justify="left", header_style="bold", show_edge=False)
    for header in headers:
        tbl.add_column(header, no_wrap=header in no_wrap, overflow="fold")
    for row in rows:
        tbl.add_row(*(_cell(value, Text) for value in row))
    console().print(tbl)


def fields(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """Print one record as a two-column table of field names and values."""
    from rich.table import Table
    from rich.text import Text

    tbl = Table(title=title, title_justify="left", show_header=False, show_edge=False, box=None)
    tbl.add_column(style="bold", no_wrap=True)
    tbl.add_column(overflow="fold")
    for name, value in pairs:
        tbl.add_row(name, _cell(value, Text))
    console().print(tbl)


def heading(text: str) -> None:
    from rich.text import Text

    console().print(Text(text, style="bold underline"))


def empty(text: str) -> None:
    from rich.text import Text

    console().print(Text(text, style="dim"))


def _cell(value: Any, text_cls: type) -> Any:
    if value is None or value == MISSING:
        return text_cls(MISSING, style="dim")
    return text_cls(value if isinstance(value, str) else fmt_value(value))
