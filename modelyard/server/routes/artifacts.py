"""Run artifacts: list what a run has logged (``modelyard.artifacts.service``), and MLflow's UI upload
``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=<run>&path=<file>`` (the raw body is the file,
at most 10 MB as in MLflow; answered ``{}``)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, RUN, UPDATE, needs
from modelyard.exceptions import InvalidParameterValue
from modelyard.server.protocol import RouteTable
from modelyard.server.routes.runs import RunScoped, run_of
from modelyard.server.services import Services
from modelyard.web.errors import json_error
from modelyard.web.middleware import context_of
from modelyard.web.routing import authorized, route

table = RouteTable()
UPLOAD_MAX_BYTES = 10 * 1024 * 1024
TOO_LARGE = "Artifact size is too large. Max size is 10MB."


class ListArtifacts(RunScoped):
    path: str | None = None
    page_token: str | None = None


@table.get("/mlflow/artifacts/list", ListArtifacts, needs=needs(RUN, READ, run_of))
def list_artifacts(svc: Services, m: ListArtifacts, ctx: RequestContext) -> dict:
    """List the files and folders directly inside a path of a run's artifacts."""
    root_uri = svc.tracking.get_run(ctx, m.rid).info.artifact_uri
    return svc.artifacts.list_page(ctx, root_uri, m.path, m.page_token)


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidParameterValue(f"Request must specify {name}.")
    return value


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > UPLOAD_MAX_BYTES:
        raise InvalidParameterValue(TOO_LARGE)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > UPLOAD_MAX_BYTES:
            raise InvalidParameterValue(TOO_LARGE)
    if not data:
        raise InvalidParameterValue("Request must specify data.")
    return bytes(data)


def extra_routes(svc: Services) -> list[BaseRoute]:
    permission = needs(RUN, UPDATE, lambda r: r.query_params.get("run_uuid"))

    async def upload_artifact(request: Request) -> Response:
        """Store the request body as a file of a run's artifacts (the UI's upload)."""
        try:
            await authorized(request, permission)
            ctx = context_of(request)
            run_id, path = _required(request, "run_uuid"), _required(request, "path")
            data = await _body(request)

            def store() -> None:
                root_uri = svc.tracking.get_run(ctx, run_id).info.artifact_uri
                svc.artifacts.write_file(ctx, root_uri, path, data)

            await run_in_threadpool(store)
        except Exception as exc:  # noqa: BLE001 - every error is told as JSON, never a trace
            return json_error(exc)
        return Response(b"{}", media_type="application/json")

    return [route("/ajax-api/2.0/mlflow/upload-artifact", upload_artifact, methods=["POST"], needs=permission)]
