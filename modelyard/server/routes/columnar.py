"""modelyard's own answers for modelyard's own client: metric histories and run searches, columnar.

The mlflow client keeps the standard routes (``metrics/get-history``, ``runs/search``); these two
answer the same questions with the same services, permissions and error codes, only encoded for
speed, and ``server-info`` advertises them (``modelyard_fast_paths``, ``FAST_PATHS`` below) so that
modelyard's client uses them and falls back to the standard routes on any server that does not.

- ``GET /api/2.0/modelyard/metrics/history-arrow`` (``run_id``, ``metric_key``, optional
  ``max_results`` and ``page_token``): one Arrow IPC stream, columns ``step`` (int64),
  ``timestamp`` (int64) and ``value`` (float64), ordered as ``get-history`` orders them. Without
  ``max_results`` every point comes in one answer (no 25,000-point pages, no repeated offsets);
  with it, the next page's token is the ``X-Modelyard-Next-Page-Token`` header.
- ``POST /api/2.0/modelyard/runs/search-columnar`` (the body of ``runs/search``): one JSON object
  of columns instead of one object per run and per metric, param and tag (``modelyard.entities.columnar``);
  ``next_page_token`` as in ``runs/search``.

Errors are the standard JSON error bodies (the client reads them as for any route).
"""

from __future__ import annotations

from starlette.responses import Response

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import EXPERIMENT, READ, RUN, needs
from modelyard.entities import columnar
from modelyard.server.protocol import RouteTable
from modelyard.server.routes.metrics import GetMetricHistory
from modelyard.server.routes.runs import Int64, SearchRuns, run_of, run_search
from modelyard.server.services import Services

ARROW_STREAM = "application/vnd.apache.arrow.stream"
NEXT_PAGE_HEADER = "X-Modelyard-Next-Page-Token"
HISTORY_ARROW = "/modelyard/metrics/history-arrow"
SEARCH_COLUMNAR = "/modelyard/runs/search-columnar"
# What ``server-info`` advertises under ``modelyard_fast_paths``: name -> format version. A client
# uses a fast path only when it knows that name at that version.
FAST_PATHS = {"history_arrow": columnar.HISTORY_FORMAT, "search_columnar": columnar.RUNS_FORMAT}

table = RouteTable()


class HistoryArrow(GetMetricHistory):
    max_results: Int64 | None = None  # None: every point, in one answer


@table.get(HISTORY_ARROW, HistoryArrow, needs=needs(RUN, READ, run_of))
def history_arrow(svc: Services, m: HistoryArrow, ctx: RequestContext) -> Response:
    """One metric's whole history (or one page of it) as an Arrow IPC stream: step, timestamp, value."""
    history = svc.tracking.get_metric_history_columns(ctx, m.rid, m.metric_key, m.max_results, m.page_token)
    headers = {NEXT_PAGE_HEADER: history.token} if history.token else None
    return Response(columnar.history_to_arrow(history), media_type=ARROW_STREAM, headers=headers)


@table.post(SEARCH_COLUMNAR, SearchRuns, needs=needs(EXPERIMENT, READ, "experiment_ids"))
def search_columnar(svc: Services, m: SearchRuns, ctx: RequestContext) -> dict:
    """``runs/search``, answered as columns (``modelyard.entities.columnar.runs_to_columns``)."""
    out, token = svc.tracking.search_run_columns(ctx, run_search(m))
    if token:
        out["next_page_token"] = token
    return out
