"""Run artifacts (metadata only): list what a run has logged (``modelyard.artifacts.service``)."""

from __future__ import annotations

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, RUN, needs
from modelyard.server.protocol import RouteTable
from modelyard.server.routes.runs import RunScoped, run_of
from modelyard.server.services import Services

table = RouteTable()


class ListArtifacts(RunScoped):
    path: str | None = None
    page_token: str | None = None


@table.get("/mlflow/artifacts/list", ListArtifacts, needs=needs(RUN, READ, run_of))
def list_artifacts(svc: Services, m: ListArtifacts, ctx: RequestContext) -> dict:
    """List the files and folders directly inside a path of a run's artifacts."""
    root_uri = svc.tracking.get_run(ctx, m.rid).info.artifact_uri
    return svc.artifacts.list_page(ctx, root_uri, m.path, m.page_token)
