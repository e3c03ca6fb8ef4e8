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
always ``application/octet-stream`` attachments with a sandboxing CSP, so an uploaded HTML
file never runs in the server's origin. When the server does not serve artifacts, every
endpoint answers 503 with a plain-text explanation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from modelyard.artifacts.base import TEMP_PREFIX, ArtifactRepository
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.exceptions import InvalidParameterValue, ModelyardError, NotImplementedFeature
from modelyard.server import protocol
from modelyard.server.downloads import file_response
from modelyard.server.services import Services

logger = logging.getLogger(__name__)

PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
SMALL_UPLOAD = 1024 * 1024  # bodies up to this size are buffered, then written at once
INLINE_WRITE = 64 * 1024  # ... and up to this size written on the event loop (cheaper than a thread hand-off)
DISABLED_TEXT = (
    "The artifact proxy (mlflow-artifacts) is disabled: this server was started without artifact "
    "serving. Start it with artifact serving on, or have clients write to the artifact store directly."
)

Handler = Callable[[Request], Awaitable[Response]]


def _json(payload: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(protocol.encode(payload), status, headers, media_type="application/json")


def _error(exc: ModelyardError, status: int | None = None, headers: dict[str, str] | None = None) -> Response:
    return _json(protocol.error_payload(exc), status or exc.http_status, headers)


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
    """The handlers, sharing one repository for the destination (built on first use)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._repo: ArtifactRepository | None = None
        self._lock = threading.Lock()

    def repo(self) -> ArtifactRepository:
        with self._lock:
            if self._repo is None:
                self._repo = self.svc.artifact_repository()
            return self._repo

    def guarded(self, handler: Handler) -> Handler:
        """503 when artifacts are not served; modelyard errors as MLflow's JSON error body."""

        async def endpoint(request: Request) -> Response:
            if not self.svc.artifacts_destination:
                return PlainTextResponse(DISABLED_TEXT, 503)
            try:
                return await handler(request)
            except ModelyardError as exc:
                return _error(exc)

        endpoint.__name__ = handler.__name__
        return endpoint

    async def list_artifacts(self, request: Request) -> Response:
        rel = validate_artifact_path(request.query_params.get("path"))
        infos = await run_in_threadpool(lambda: self.repo().list_artifacts(rel))
        files = []
        for info in infos:
            entry: dict = {"path": info.path.rsplit("/", 1)[-1], "is_dir": info.is_dir}
            if not info.is_dir and info.file_size is not None:
                entry["file_size"] = info.file_size
            files.append(entry)
        return _json({"files": files})

    async def download(self, request: Request) -> Response:
        rel = _file_path(request)
        return await file_response(request, self.repo(), rel, rel.rsplit("/", 1)[-1])

    async def upload(self, request: Request) -> Response:
        rel = _file_path(request)
        if rel.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
            raise InvalidParameterValue(f"Artifact names may not start with {TEMP_PREFIX!r}")
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
                    await run_in_threadpool(self._write, rel, body)
                    break
            else:
                if len(head) <= INLINE_WRITE:
                    self._write(rel, bytes(head))
                else:
                    await run_in_threadpool(self._write, rel, bytes(head))
        except ClientDisconnect:  # the upload was cut off: nothing was stored, nobody to answer
            logger.info("upload of %r abandoned by the client", rel)
            return Response(status_code=400)
        return _json({})

    def _write(self, rel: str, body: bytes | Iterator[bytes]) -> None:
        if isinstance(body, bytes):
            self.repo().write_bytes(rel, body)
        else:
            self.repo().write_stream(rel, body)

    async def delete(self, request: Request) -> Response:
        rel = _file_path(request)
        await run_in_threadpool(lambda: self.repo().delete_artifacts(rel))
        return _json({})

    async def multipart(self, request: Request) -> Response:
        validate_artifact_path(request.path_params["path"])
        raise NotImplementedFeature(
            "Multipart uploads through the artifact proxy are not supported by this server; "
            "upload the file with a single PUT"
        )

    async def presigned(self, request: Request) -> Response:
        validate_artifact_path(request.path_params["path"])
        raise NotImplementedFeature("Presigned artifact downloads are not supported by this server")


def extra_routes(svc: Services) -> list[Route]:
    proxy = ArtifactProxy(svc)
    g = proxy.guarded
    routes = []
    for prefix in PREFIXES:
        files = f"{prefix}/artifacts/{{path:path}}"
        routes += [
            Route(f"{prefix}/artifacts", g(proxy.list_artifacts), methods=["GET"]),
            Route(files, g(proxy.download), methods=["GET", "HEAD"]),
            Route(files, g(proxy.upload), methods=["PUT"]),
            Route(files, g(proxy.delete), methods=["DELETE"]),
            Route(f"{prefix}/presigned/{{path:path}}", g(proxy.presigned), methods=["GET"]),
        ]
        for action in ("create", "complete", "abort"):
            routes.append(Route(f"{prefix}/mpu/{action}/{{path:path}}", g(proxy.multipart), methods=["POST"]))
    return routes
