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

import email.utils
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import BinaryIO
from urllib.parse import quote

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from modelyard.artifacts.base import TEMP_PREFIX, ArtifactRepository
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.exceptions import InvalidParameterValue, ModelyardError, NotImplementedFeature
from modelyard.server import protocol
from modelyard.server.services import Services

logger = logging.getLogger(__name__)

PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
READ_CHUNK = 1024 * 1024
SMALL_UPLOAD = 1024 * 1024  # bodies up to this size are buffered, then written at once
INLINE_WRITE = 64 * 1024  # ... and up to this size written on the event loop (cheaper than a thread hand-off)
SMALL_DOWNLOAD = 256 * 1024  # files up to this size are read at once and answered without streaming
OCTET_STREAM = "application/octet-stream"
DISABLED_TEXT = (
    "The artifact proxy (mlflow-artifacts) is disabled: this server was started without artifact "
    "serving. Start it with artifact serving on, or have clients write to the artifact store directly."
)
_RANGE_RE = re.compile(r"\s*(\d{0,19})\s*-\s*(\d{0,19})\s*")

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


class RangeNotSatisfiable(Exception):
    """A ``Range`` header that is malformed or lies past the end of the file (answered 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte of a single-range ``Range`` header, or None for the
    whole file (no header, another unit, or several ranges, which a server may ignore).

    Raises RangeNotSatisfiable for a malformed or unsatisfiable byte range.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE_RE.fullmatch(spec)
    if match is None or not (match[1] or match[2]):
        raise RangeNotSatisfiable
    if match[1]:
        first = int(match[1])
        last = int(match[2]) if match[2] else size - 1
        if last < first or first >= size:
            raise RangeNotSatisfiable
        return first, min(last, size - 1)
    suffix = int(match[2])
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable
    return max(size - suffix, 0), size - 1


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;%' else "_" for c in name) or "artifact"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class _Opened:
    """An artifact opened for download, with what its headers need."""

    def __init__(self, file: BinaryIO, size: int, etag: str | None, modified: float | None) -> None:
        self.file, self.size, self.etag, self.modified = file, size, etag, modified
        self.data: bytes | None = None  # the whole content of a small file, read at once


def _open(repo: ArtifactRepository, rel: str) -> _Opened:
    f = repo.open(rel)
    try:
        try:
            st = os.fstat(f.fileno())
        except (AttributeError, OSError, ValueError):
            st = None
        if st is not None:
            etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
            opened = _Opened(f, st.st_size, etag, st.st_mtime)
            if st.st_size <= SMALL_DOWNLOAD:  # read in the same hand-off, answered without streaming
                data = f.read(st.st_size + 1)
                if len(data) == st.st_size:  # else it changed meanwhile: stream what is there
                    opened.data = data
                f.seek(0)
            return opened
        if f.seekable():
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
        else:
            info = repo.file_info(rel)
            size = info.file_size if info and info.file_size is not None else 0
        return _Opened(f, size, None, None)
    except BaseException:
        f.close()
        raise


def _skip(f: BinaryIO, count: int) -> None:
    if f.seekable():
        f.seek(count)
        return
    while count > 0:
        data = f.read(min(READ_CHUNK, count))
        if not data:
            return
        count -= len(data)


async def _stream(f: BinaryIO, first: int, length: int) -> AsyncIterator[bytes]:
    try:
        if first:
            await run_in_threadpool(_skip, f, first)
        remaining = length
        while remaining > 0:
            chunk = await run_in_threadpool(f.read, min(READ_CHUNK, remaining))
            if not chunk:
                return  # the file shrank meanwhile; the client sees a short body
            remaining -= len(chunk)
            yield chunk
    finally:
        f.close()


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
        opened = await run_in_threadpool(lambda: _open(self.repo(), rel))
        headers = {
            "content-disposition": content_disposition(rel.rsplit("/", 1)[-1]),
            "content-security-policy": "default-src 'none'; sandbox",
            "accept-ranges": "bytes",
        }
        if opened.etag:
            headers["etag"] = opened.etag
        if opened.modified is not None:
            headers["last-modified"] = email.utils.formatdate(opened.modified, usegmt=True)
        try:
            if opened.etag and request.headers.get("if-none-match") == opened.etag:
                opened.file.close()
                return Response(status_code=304, headers=headers)
            span = self._range(request, opened)
        except RangeNotSatisfiable:
            opened.file.close()
            headers["content-range"] = f"bytes */{opened.size}"
            message = f"Range {request.headers.get('range', '')[:100]!r} is not satisfiable"
            return _error(InvalidParameterValue(message), 416, headers)
        first, last = span if span else (0, opened.size - 1)
        length = last - first + 1
        headers["content-length"] = str(length)
        status = 200
        if span:
            status = 206
            headers["content-range"] = f"bytes {first}-{last}/{opened.size}"
        if request.method == "HEAD":
            opened.file.close()
            return Response(status_code=status, headers=headers, media_type=OCTET_STREAM)
        if opened.data is not None:
            opened.file.close()
            return Response(opened.data[first : last + 1], status, headers, media_type=OCTET_STREAM)
        body = _stream(opened.file, first, length)
        return StreamingResponse(body, status, headers, media_type=OCTET_STREAM)

    @staticmethod
    def _range(request: Request, opened: _Opened) -> tuple[int, int] | None:
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range != opened.etag:
            return None  # the client's copy is stale: send the whole file
        return parse_range(request.headers.get("range"), opened.size)

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
