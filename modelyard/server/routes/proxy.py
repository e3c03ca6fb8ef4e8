"""The artifact proxy (MLflow's ``MlflowArtifactsService``): clients read and write artifacts
through the server, which keeps them under its artifacts destination.

Under ``/api/2.0/mlflow-artifacts`` and ``/ajax-api/2.0/mlflow-artifacts``:

* ``GET  artifacts?path=P``   the entries directly inside P: ``{files: [{path, is_dir, file_size}]}``
  (``path`` is the entry's name, as MLflow answers)
* ``GET  artifacts/P``        the file's bytes, streamed, as an attachment; single byte ranges
* ``PUT  artifacts/P``        the raw body, streamed to disk and put in place atomically: ``{}``
* ``DELETE artifacts/P``      the file or folder: ``{}``
* ``POST mpu/{create,complete,abort}/P`` and ``GET presigned/P``: 501 NOT_IMPLEMENTED

These are raw Starlette routes, not RouteTable endpoints, because bodies stream in both
directions: neither an upload nor a download is ever held in memory. Every path is made
canonical once by :func:`~modelyard.artifacts.paths.validate_artifact_path` (which refuses
traversal in any encoding with 400 INVALID_PARAMETER_VALUE) and the repository behind the
destination keeps it inside its root (the local one after resolving links). Downloads are
always attachments with a sandboxing CSP and ``nosniff``, typed from an allow-list (text as
``text/plain``, HTML and scripts included; images; JSON; else ``application/octet-stream``), so an
uploaded HTML file never runs in the server's origin. When the server does not serve artifacts, every
endpoint answers 503 with a plain-text explanation.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from modelyard.artifacts.paths import validate_artifact_path
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import ARTIFACT, DELETE, READ, UPDATE, Permission, needs
from modelyard.exceptions import InvalidParameterValue, NotImplementedFeature
from modelyard.server import protocol
from modelyard.server.services import Services
from modelyard.web.downloads import content_type, file_response
from modelyard.web.errors import json_error
from modelyard.web.middleware import context_of
from modelyard.web.routing import authorized, route

logger = logging.getLogger(__name__)

PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
SMALL_UPLOAD = 1024 * 1024  # bodies up to this size are buffered, then written at once
INLINE_WRITE = 64 * 1024  # ... and up to this size written on the event loop (cheaper than a thread hand-off)
DISABLED_TEXT = (
    "The artifact proxy (mlflow-artifacts) is disabled: this server was started without artifact "
    "serving. Start it with artifact serving on, or have clients write to the artifact store directly."
)

Handler = Callable[..., Awaitable[Response]]


def _json(payload: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(protocol.encode(payload), status, headers, media_type="application/json")


def _file_path(request: Request) -> str:
    """The canonical artifact path of the URL; the root is not a file."""
    rel = validate_artifact_path(request.path_params["path"])
    if not rel:
        raise InvalidParameterValue("An artifact path is required after /artifacts/")
    return rel


def _request_chunks(
    request: Request, stream: AsyncIterator[bytes] | None = None, head: bytes = b""
) -> Iterator[bytes]:
    """The request body as a blocking iterator, for a worker thread (one chunk in memory at a time).
    ``head``: what was already read from ``stream``."""
    if head:
        yield head
    if stream is None:
        stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


class ArtifactProxy:
    """The handlers, on the server's artifact service (its proxied store)."""

    def __init__(self, svc: Services) -> None:
        self.artifacts = svc.artifacts

    def guarded(self, handler: Handler, permission: Permission) -> Handler:
        """503 when artifacts are not served; the permission checked; errors as MLflow's JSON body."""

        async def endpoint(request: Request) -> Response:
            if not self.artifacts.serving:
                return PlainTextResponse(DISABLED_TEXT, 503)
            try:
                await authorized(request, permission)
                return await handler(request, context_of(request))
            except Exception as exc:  # noqa: BLE001 - every error is told as JSON, never a trace
                return json_error(exc)

        endpoint.__name__ = handler.__name__
        return endpoint

    async def list_artifacts(self, request: Request, ctx: RequestContext) -> Response:
        path = request.query_params.get("path")
        infos = await run_in_threadpool(self.artifacts.list_proxied, ctx, path)
        files = []
        for info in infos:
            entry: dict = {"path": info.path.rsplit("/", 1)[-1], "is_dir": info.is_dir}
            if not info.is_dir and info.file_size is not None:
                entry["file_size"] = info.file_size
            files.append(entry)
        return _json({"files": files})

    async def download(self, request: Request, ctx: RequestContext) -> Response:
        rel = _file_path(request)
        name = rel.rsplit("/", 1)[-1]
        return await file_response(request, self.artifacts.repository(), rel, name, media_type=content_type(name))

    async def upload(self, request: Request, ctx: RequestContext) -> Response:
        rel = _file_path(request)
        write = self.artifacts.write
        try:
            # A small body (most artifacts: configs, metrics files, model metadata) is read here and
            # written with one hand-off to a thread; only a larger one streams chunk by chunk,
            # each chunk crossing from the event loop to the writing thread.
            stream = request.stream().__aiter__()
            head = bytearray()
            async for chunk in stream:
                head += chunk
                if len(head) > SMALL_UPLOAD:
                    body = _request_chunks(request, stream, bytes(head))
                    await run_in_threadpool(write, ctx, rel, body)
                    break
            else:
                if len(head) <= INLINE_WRITE:
                    write(ctx, rel, bytes(head))
                else:
                    await run_in_threadpool(write, ctx, rel, bytes(head))
        except ClientDisconnect:  # the upload was cut off: nothing was stored, nobody to answer
            logger.info("upload of %r abandoned by the client", rel)
            return Response(status_code=400)
        return _json({})

    async def delete(self, request: Request, ctx: RequestContext) -> Response:
        await run_in_threadpool(self.artifacts.delete, ctx, _file_path(request))
        return _json({})

    async def multipart(self, request: Request, ctx: RequestContext) -> Response:
        validate_artifact_path(request.path_params["path"])
        raise NotImplementedFeature(
            "Multipart uploads through the artifact proxy are not supported by this server; "
            "upload the file with a single PUT"
        )

    async def presigned(self, request: Request, ctx: RequestContext) -> Response:
        validate_artifact_path(request.path_params["path"])
        raise NotImplementedFeature("Presigned artifact downloads are not supported by this server")


def extra_routes(svc: Services) -> list[Route]:
    proxy = ArtifactProxy(svc)
    g = proxy.guarded
    read, write, delete = (needs(ARTIFACT, a, "path") for a in (READ, UPDATE, DELETE))
    routes = []
    for prefix in PREFIXES:
        files = f"{prefix}/artifacts/{{path:path}}"
        routes += [
            route(f"{prefix}/artifacts", g(proxy.list_artifacts, read), methods=["GET"], needs=read),
            route(files, g(proxy.download, read), methods=["GET", "HEAD"], needs=read),
            route(files, g(proxy.upload, write), methods=["PUT"], needs=write),
            route(files, g(proxy.delete, delete), methods=["DELETE"], needs=delete),
            route(f"{prefix}/presigned/{{path:path}}", g(proxy.presigned, read), methods=["GET"], needs=read),
        ]
        for action in ("create", "complete", "abort"):
            mpu = f"{prefix}/mpu/{action}/{{path:path}}"
            routes.append(route(mpu, g(proxy.multipart, write), methods=["POST"], needs=write))
    return routes
