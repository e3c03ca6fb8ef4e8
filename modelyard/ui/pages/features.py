"""Feature-table pages: the tables list (search by name), and a table's page: keys, schema,
description, tags, online-store state, its Delta versions (history), a preview of rows at a
version, and the runs and model versions that used it (lineage).

Reads go through ``FeatureTableService`` on the server's catalog (``modelyard.features.catalog``)
and, for lineage, the tracking and registry services with the request's context.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import FEATURE_TABLE, READ, needs
from modelyard.exceptions import InvalidParameterValue
from modelyard.ui.templating import Crumb, page, page_route, render

TABLES_PAGE_SIZE = 200
HISTORY_LIMIT = 50
PREVIEW_ROWS = 20
LINEAGE_RUNS = 50


def table_url(name: str) -> str:
    return "/features/" + quote(name, safe="")


def _service(services, ctx: RequestContext):
    return services.feature_tables(ctx)


def name_pattern(query: str) -> str | None:
    """What was typed in the search box as a LIKE pattern: a substring, or the user's own ``%``/``_``."""
    query = query.strip()
    if not query:
        return None
    return query if "%" in query else f"%{query}%"


def _version(text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameterValue(f"version must be a version number, got {text!r}") from None
    if value < 0:
        raise InvalidParameterValue(f"version must be a version number, got {text!r}")
    return value


def _cell(value) -> str:
    return "" if value is None else str(value)


def _history_row(entry: dict) -> dict:
    metrics = entry.get("operationMetrics") or {}
    shown = {k: v for k, v in metrics.items() if k.startswith(("num", "numTarget")) and v not in (None, 0, "0")}
    return {
        "version": entry.get("version"),
        "timestamp": entry.get("timestamp"),
        "operation": entry.get("operation") or "",
        "metrics": dict(sorted(shown.items())[:6]),
    }


@page
def tables_page(services, request: Request, ctx: RequestContext):
    query = request.query_params.get("q", "")
    tables = _service(services, ctx).search(name_pattern(query), TABLES_PAGE_SIZE)
    return render(
        request, "features/tables.html", [Crumb("Features")], section="features",
        tables=tables, query=query, table_url=table_url, limit=TABLES_PAGE_SIZE,
    )


@page
def table_page(services, request: Request, ctx: RequestContext):
    from modelyard.features.lineage import table_users

    svc = _service(services, ctx)
    table = svc.get(request.path_params["name"])
    version = _version(request.query_params.get("version"))
    preview = svc.preview(table.name, table.current_version if version is None else version, PREVIEW_ROWS)
    rows = [[_cell(v) for v in row.values()] for row in preview.to_pylist()]
    history = [_history_row(h) for h in svc.history(table.name, HISTORY_LIMIT)]
    uses = table_users(services.tracking, services.registry, ctx, table.name, LINEAGE_RUNS)
    keys = set(table.keys)
    return render(
        request, "features/table.html", [Crumb("Features", "/features"), Crumb(table.name)], section="features",
        table=table, keys=keys, preview_columns=preview.column_names, preview_rows=rows,
        preview_version=table.current_version if version is None else version, history=history, uses=uses,
        table_url=table_url, preview_limit=PREVIEW_ROWS,
    )


def routes(services) -> list[BaseRoute]:
    return [
        page_route(services, "/features", tables_page, needs=needs(FEATURE_TABLE, READ)),
        page_route(services, "/features/{name}", table_page, needs=needs(FEATURE_TABLE, READ, "name")),
    ]
