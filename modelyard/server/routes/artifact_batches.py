"""Many small artifacts in one request: modelyard's client's batches to the artifact proxy.

A folder of a thousand 1 KB files costs the mlflow client a thousand requests each way; modelyard's
client, when ``server-info`` offers ``artifact_batches`` (only where the server serves artifacts),
sends the small files of a folder as a few tar archives and fetches them the same way. Large files
still go one request each (streamed, ``modelyard.server.routes.proxy``). Under ``/api/2.0/modelyard``
and ``/ajax-api/2.0/modelyard``:

* ``PUT  artifacts/batch/F``      body: an uncompressed tar (``application/x-tar``) of regular files,
  named relative to the folder F; each is stored at ``F/<name>`` exactly as a ``PUT`` of the proxy
  stores it (atomically, file by file): ``{"files": <count>}``
* ``POST artifacts/batch-get/F``  body: ``{"files": [names relative to F]}``; answer: a tar of them,
  in that order

The permission is the proxy's on the folder F (what one may do to F one may do below it); every
member name is made canonical (``validate_artifact_path``) and must stay below F; links, devices and
anything else but regular files and folders are refused (400 INVALID_PARAMETER_VALUE), as are
bodies over ``MAX_BATCH_BYTES`` (413) and more than ``MAX_BATCH_FILES`` names.
"""

from __future__ import annotations

import io
import tarfile

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.artifacts.base import join_artifact_path
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import ARTIFACT, READ, UPDATE, needs
from modelyard.exceptions import BadRequest, InvalidParameterValue, PayloadTooLarge
from modelyard.server.routes.proxy import ArtifactProxy
from modelyard.server.services import Services
from modelyard.web.routing import route

PREFIXES = ("/api/2.0/modelyard", "/ajax-api/2.0/modelyard")
TAR = "application/x-tar"
MAX_BATCH_BYTES = 64 * 1024 * 1024  # one request's archive (the client sends far less: BATCH_BYTES)
MAX_BATCH_FILES = 10_000
BATCH_FORMAT = 1  # what server-info advertises as "artifact_batches"


def _member_path(folder: str, name: str) -> str:
    """``folder/name`` made canonical; refused unless it stays strictly below ``folder``."""
    rel = validate_artifact_path(join_artifact_path(folder, validate_artifact_path(name)))
    if not name or (folder and not rel.startswith(folder + "/")) or not rel:
        raise InvalidParameterValue(f"Invalid file name {name!r} in an artifact batch for {folder!r}")
    return rel


async def _body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"An artifact batch may hold at most {limit} bytes")
    return bytes(body)


class Batches:
    def __init__(self, svc: Services) -> None:
        self.artifacts = svc.artifacts

    async def upload(self, request: Request, ctx: RequestContext) -> Response:
        folder = validate_artifact_path(request.path_params["path"])
        body = await _body(request, MAX_BATCH_BYTES)
        count = await run_in_threadpool(self._write_all, ctx, folder, body)
        return Response(orjson.dumps({"files": count}), media_type="application/json")

    def _write_all(self, ctx: RequestContext, folder: str, body: bytes) -> int:
        try:
            archive = tarfile.open(fileobj=io.BytesIO(body), mode="r:")
            members = archive.getmembers()
        except tarfile.TarError as exc:
            raise BadRequest(f"The artifact batch is not a tar archive: {exc}") from None
        if len(members) > MAX_BATCH_FILES:
            raise InvalidParameterValue(f"An artifact batch may hold at most {MAX_BATCH_FILES} files")
        files = []
        for member in members:  # every name checked before anything is written
            if member.isdir():
                continue
            if not member.isreg():
                raise InvalidParameterValue(
                    f"Artifact batch member {member.name!r} is not a regular file (links are refused)"
                )
            files.append((_member_path(folder, member.name), member))
        bodies = []
        for rel, member in files:
            source = archive.extractfile(member)
            bodies.append((rel, source.read() if source is not None else b""))
        self.artifacts.write_many(ctx, bodies)
        return len(bodies)

    async def download(self, request: Request, ctx: RequestContext) -> Response:
        folder = validate_artifact_path(request.path_params["path"])
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":  # no cross-site form posts (as protocol.decode_body)
            raise BadRequest(f"Bad Content-Type {content_type[:100]!r}: send the names as application/json")
        try:
            names = orjson.loads(await _body(request, MAX_BATCH_BYTES)).get("files")
        except (orjson.JSONDecodeError, AttributeError):
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidParameterValue('The body must be {"files": [file names relative to the folder]}')
        if len(names) > MAX_BATCH_FILES:
            raise InvalidParameterValue(f"An artifact batch may hold at most {MAX_BATCH_FILES} files")
        paths = [_member_path(folder, n) for n in names]
        data = await run_in_threadpool(self._archive, names, paths)
        return Response(data, media_type=TAR)

    def _archive(self, names: list[str], paths: list[str]) -> bytes:
        out = io.BytesIO()
        # ResourceDoesNotExist (404) for a missing one, PayloadTooLarge (413) past MAX_BATCH_BYTES
        contents = self.artifacts.read_many(paths, MAX_BATCH_BYTES)
        with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as archive:
            for name, data in zip(names, contents, strict=True):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return out.getvalue()


def extra_routes(svc: Services) -> list[Route]:
    proxy, batches = ArtifactProxy(svc), Batches(svc)
    read, write = needs(ARTIFACT, READ, "path"), needs(ARTIFACT, UPDATE, "path")
    routes = []
    for prefix in PREFIXES:
        routes += [
            route(
                f"{prefix}/artifacts/batch/{{path:path}}",
                proxy.guarded(batches.upload, write),
                methods=["PUT"],
                needs=write,
            ),
            route(
                f"{prefix}/artifacts/batch-get/{{path:path}}",
                proxy.guarded(batches.download, read),
                methods=["POST"],
                needs=read,
            ),
        ]
    return routes
