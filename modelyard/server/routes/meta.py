"""Health, version and server-info.

``GET /version`` answers, as text, ``MLFLOW_API_VERSION``: the MLflow release whose REST API this
server speaks. The mlflow client gates features on that number (span logging needs 3.4 or later),
so it must be MLflow's numbering, not ours. modelyard's own version is in ``server-info``
(``modelyard_version``) and at ``GET /api/2.0/modelyard/version``.
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from modelyard import __version__
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, SERVER, needs, public
from modelyard.server.protocol import RouteTable
from modelyard.server.routes import artifact_batches, columnar
from modelyard.server.services import Services
from modelyard.web.routing import route

MLFLOW_API_VERSION = "3.17.2"  # the MLflow release the compatibility suite drives (README: MLflow compatibility)

table = RouteTable()


@table.get("/mlflow/server-info", since=3, needs=needs(SERVER, READ))
def server_info(svc: Services, _msg, ctx: RequestContext) -> dict:
    """What this server supports (the MLflow 3 client asks before downloading artifacts)."""
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
        "modelyard_version": __version__,
        # the faster routes modelyard's own client may use (modelyard.server.routes.columnar)
        "modelyard_fast_paths": _fast_paths(svc),
    }


def _fast_paths(svc: Services) -> dict[str, int]:
    offered = dict(columnar.FAST_PATHS)
    if svc.artifacts.serving:
        offered["artifact_batches"] = artifact_batches.BATCH_FORMAT
    return offered


@table.get("/modelyard/version", needs=needs(SERVER, READ))
def modelyard_version(svc: Services, _msg, ctx: RequestContext) -> dict:
    """modelyard's version, and the MLflow API version it answers at /version."""
    return {"version": __version__, "mlflow_api_version": MLFLOW_API_VERSION}


def extra_routes(svc: Services) -> list[Route]:
    async def health(_request):
        return PlainTextResponse("OK")

    async def version(_request):
        return PlainTextResponse(MLFLOW_API_VERSION)

    return [
        route("/health", health, methods=["GET"], needs=public()),
        route("/version", version, methods=["GET"], needs=public()),
    ]
