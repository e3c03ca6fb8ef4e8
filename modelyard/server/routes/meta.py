"""Health, version and server-info."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from modelyard import __version__
from modelyard.server.protocol import RouteTable
from modelyard.server.services import Services

table = RouteTable()


@table.get("/mlflow/server-info", since=3)
def server_info(svc: Services, _msg) -> dict:
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

    return [Route("/health", health, methods=["GET"]), Route("/version", version, methods=["GET"])]
