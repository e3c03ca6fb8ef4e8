"""Metric histories: one run's (paged), and several runs' for charts (sampled, or whole)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, RUN, needs
from modelyard.exceptions import ModelyardError
from modelyard.server import protocol
from modelyard.server.protocol import Message, RouteTable
from modelyard.server.routes.runs import Int64, RunScoped, run_of
from modelyard.server.services import Services
from modelyard.store.tracking.base import METRIC_HISTORY_PAGE, METRIC_INTERVAL_MAX_RESULTS
from modelyard.web.errors import json_error
from modelyard.web.middleware import context_of
from modelyard.web.routing import authorized, route

table = RouteTable()


class GetMetricHistory(RunScoped):
    metric_key: str
    page_token: str | None = None
    max_results: Int64 = METRIC_HISTORY_PAGE


class GetHistoryBulkInterval(Message):
    run_ids: list[str] = []
    metric_key: str
    start_step: Int64 | None = None
    end_step: Int64 | None = None
    max_results: Int64 = METRIC_INTERVAL_MAX_RESULTS


class GetHistoryBulk(Message):
    run_id: list[str] = []
    metric_key: str
    max_results: Int64 = METRIC_HISTORY_PAGE


@table.get("/mlflow/metrics/get-history", GetMetricHistory, needs=needs(RUN, READ, run_of))
def get_metric_history(svc: Services, m: GetMetricHistory, ctx: RequestContext) -> dict:
    """Every point of one metric of a run, by step then timestamp (paged, 25,000 a page at most)."""
    page_size = min(m.max_results, METRIC_HISTORY_PAGE)  # <= 0 is refused by the store
    page = svc.tracking.get_metric_history_dicts(ctx, m.rid, m.metric_key, page_size, m.page_token)
    out: dict = {"metrics": list(page)}
    if page.token:
        out["next_page_token"] = page.token
    return out


@table.get(
    "/mlflow/metrics/get-history-bulk-interval", GetHistoryBulkInterval, needs=needs(RUN, READ, "run_ids")
)
def get_metric_history_bulk_interval(svc: Services, m: GetHistoryBulkInterval, ctx: RequestContext) -> dict:
    """A down-sampled history of one metric for up to 100 runs (first and last steps always kept)."""
    points = svc.tracking.get_metric_history_bulk_interval(
        ctx, m.run_ids, m.metric_key, m.max_results, m.start_step, m.end_step
    )
    return {"metrics": [x.to_dict() for x in points]}  # MetricWithRunId


def get_metric_history_bulk(svc: Services, m: GetHistoryBulk, ctx: RequestContext) -> dict:
    """Whole histories of one metric for up to 100 runs (the UI's ajax-only endpoint)."""
    points = svc.tracking.get_metric_history_bulk(ctx, m.run_id, m.metric_key, m.max_results)
    return {"metrics": [x.to_dict() for x in points]}  # MetricWithRunId


def extra_routes(svc: Services) -> list[Route]:
    permission = needs(RUN, READ, "run_id")

    async def bulk(request: Request) -> Response:
        try:
            msg = protocol.parse_message(protocol.query_dict(request, GetHistoryBulk), GetHistoryBulk)
            await authorized(request, permission, msg)
            result = await svc.offload.run(get_metric_history_bulk, svc, msg, context_of(request))
        except ModelyardError as exc:
            return json_error(exc)
        return Response(protocol.encode(result), media_type="application/json")

    return [route("/ajax-api/2.0/mlflow/metrics/get-history-bulk", bulk, methods=["GET"], needs=permission)]
