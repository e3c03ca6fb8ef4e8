"""Health, version and server-info."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from modelyard import __version__
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, SERVER, needs, public
from modelyard.server.protocol import RouteTable
from modelyard.server.services import Services
from modelyard.web.routing import route

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
    }


def extra_routes(svc: Services) -> list[Route]:
    async def health(_request):
        return PlainTextResponse("OK")

    async def version(_request):
        return PlainTextResponse(__version__)

    return [
        route("/health", health, methods=["GET"], needs=public()),
        route("/version", version, methods=["GET"], needs=public()),
    ]
