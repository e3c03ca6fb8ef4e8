"""Experiments page: search, create, rename, delete (the changes go through /ajax-api by JS)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import EXPERIMENT, READ, needs
from modelyard.entities import ViewType
from modelyard.exceptions import InvalidParameterValue
from modelyard.ui.templating import Crumb, page, page_route, render

PAGE_SIZE = 100
# A query with an operator is a filter in the search grammar; plain words search the name.
_GRAMMAR = re.compile(r"[=<>!]|\b(?:LIKE|ILIKE|IN|AND|OR)\b", re.IGNORECASE)


def experiments_filter(query: str) -> str | None:
    """The filter string for what was typed in the search box."""
    query = query.strip()
    if not query:
        return None
    if _GRAMMAR.search(query):
        return query
    return "name ILIKE '%" + query.replace("'", "''") + "%'"


@page
def experiments_page(services, request: Request, ctx: RequestContext):
    query = request.query_params.get("q", "")
    token = request.query_params.get("page_token") or None
    try:
        found = services.tracking.search_experiments(
            ctx,
            view_type=ViewType.ACTIVE_ONLY,
            max_results=PAGE_SIZE,
            filter_string=experiments_filter(query),
            order_by=["last_update_time DESC"],
            page_token=token,
        )
        error = None
    except InvalidParameterValue as exc:  # a bad filter: shown inline above an empty table
        found, error = [], exc.message
    experiments = list(found)
    return render(
        request,
        "experiments.html",
        [Crumb("Experiments")],
        section="experiments",
        experiments=experiments,
        run_counts=_run_counts(services, ctx, experiments),
        next_token=getattr(found, "token", None),
        query=query,
        error=error,
    )


def _run_counts(services, ctx: RequestContext, experiments) -> dict[str, int]:
    """Active runs per experiment shown (one indexed COUNT each); empty when the store cannot count."""
    if not services.tracking.can_count_runs:
        return {}
    return {e.experiment_id: services.tracking.count_runs(ctx, [e.experiment_id]) for e in experiments}


def routes(services) -> list[BaseRoute]:
    return [page_route(services, "/experiments", experiments_page, needs=needs(EXPERIMENT, READ))]
