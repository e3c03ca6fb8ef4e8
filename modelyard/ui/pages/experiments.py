"""Experiments page: search, create, rename, delete (the changes go through /ajax-api by JS)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.entities import ViewType
from modelyard.exceptions import InvalidParameterValue
from modelyard.ui.templating import Crumb, bind, page, render

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
def experiments_page(services, request: Request):
    query = request.query_params.get("q", "")
    token = request.query_params.get("page_token") or None
    try:
        found = services.tracking.search_experiments(
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
        run_counts=_run_counts(services, experiments),
        next_token=getattr(found, "token", None),
        query=query,
        error=error,
    )


def _run_counts(services, experiments) -> dict[str, int]:
    """Active runs per experiment shown (one indexed COUNT each); empty when the store cannot count."""
    count = getattr(services.tracking, "count_runs", None)
    if count is None:
        return {}
    return {e.experiment_id: count([e.experiment_id]) for e in experiments}


def routes(services) -> list[BaseRoute]:
    return [Route("/experiments", bind(services, experiments_page), methods=["GET"])]
