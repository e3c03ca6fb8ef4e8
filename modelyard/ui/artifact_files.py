"""Where the UI reads artifacts from, and MLflow's UI download routes.

``ArtifactRoot``: a run's (logged model's, model version's) artifacts as a repository and a prefix
below its root; ``artifact_root(services, ctx, uri)`` builds it for any artifact URI the server knows.

Download routes, with MLflow's paths and parameters so MLflow-UI-era tools keep working:

* ``GET /get-artifact?run_id=&path=`` (``run_uuid`` accepted too)
* ``GET /model-versions/get-artifact?name=&version=&path=``
* ``GET /ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path=``

Answers stream the file as an attachment with a sandboxing CSP (an HTML or SVG artifact can
never run script in the server's origin; ``nosniff`` comes from the security middleware), a
content type from a short allow-list (``modelyard.web.downloads.content_type``),
and single byte ranges. Errors are MLflow's JSON error body.

Every path goes through :func:`~modelyard.artifacts.paths.validate_artifact_path` (traversal in
any encoding is a 400) and is opened by the repository, which keeps it below its root (the local
one after resolving symlinks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from modelyard.artifacts import get_artifact_repository, uri_scheme
from modelyard.artifacts.base import ArtifactRepository, join_artifact_path
from modelyard.artifacts.paths import validate_artifact_path
from modelyard.artifacts.service import PROXY_SCHEME
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import LOGGED_MODEL, MODEL_VERSION, READ, RUN, needs
from modelyard.entities import FileInfo
from modelyard.exceptions import InvalidParameterValue, ModelyardError, ResourceDoesNotExist
from modelyard.validation import missing_value
from modelyard.web.downloads import (  # noqa: F401  (the tables: the previews read them from here)
    IMAGE_TYPES,
    JSON_EXTENSIONS,
    TEXT_EXTENSIONS,
    TEXT_NAMES,
    content_type,
    file_response,
)
from modelyard.web.errors import json_error
from modelyard.web.middleware import context_of
from modelyard.web.routing import authorized, route

SANDBOX_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
TABLE_EXTENSIONS = {".csv": ",", ".tsv": "\t"}
YAML_EXTENSIONS = {".yaml", ".yml"}

# -- where artifacts live -----------------------------------------------------------------------
@dataclass
class ArtifactRoot:
    """A run's (or logged model's, or model version's) artifacts: a repository and the prefix below its root."""

    repo: ArtifactRepository
    prefix: str = ""

    def full(self, rel: str) -> str:
        return join_artifact_path(self.prefix, validate_artifact_path(rel))

    def stat(self, rel: str) -> FileInfo | None:
        info = self.repo.file_info(self.full(rel))
        return None if info is None else FileInfo(self._rel(info.path), info.is_dir, info.file_size)

    def list(self, rel: str) -> list[FileInfo]:
        out = []
        for info in self.repo.list_artifacts(self.full(rel)):
            child = self._rel(info.path)
            if child is not None:
                out.append(FileInfo(child, info.is_dir, info.file_size))
        return out

    def open(self, rel: str) -> BinaryIO:
        return self.repo.open(self.full(rel))

    def _rel(self, path: str) -> str | None:
        if not self.prefix:
            return path
        if path == self.prefix:
            return ""
        if path.startswith(self.prefix + "/"):
            return path[len(self.prefix) + 1 :]
        return None


def artifact_root(services, ctx: RequestContext, uri: str) -> ArtifactRoot:
    """The artifacts at ``uri``: ``mlflow-artifacts:/`` through the server's destination, others directly."""
    scheme = uri_scheme(uri)
    if scheme == PROXY_SCHEME:
        if not services.artifacts.serving:
            raise InvalidParameterValue(
                f"The artifacts are at {uri}, but this server does not serve artifacts "
                "(start it with artifact serving on)."
            )
        return ArtifactRoot(*services.artifacts.root_repository(ctx, uri))
    if scheme == "runs":  # runs:/<run_id>/<path> (a model version's source)
        run_id, _, sub = uri[len("runs:/") :].lstrip("/").partition("/")
        inner = artifact_root(services, ctx, services.tracking.get_run(ctx, run_id).info.artifact_uri)
        return ArtifactRoot(inner.repo, join_artifact_path(inner.prefix, validate_artifact_path(sub)))
    if scheme == "models" and uri[len("models:/") :].lstrip("/").startswith("m-"):  # a logged model
        model_id = uri[len("models:/") :].strip("/")
        return artifact_root(
            services, ctx, services.tracking.get_logged_model(ctx, model_id).artifact_location
        )
    return ArtifactRoot(get_artifact_repository(uri, settings=services.settings))


# -- downloads (MLflow's /get-artifact routes) ---------------------------------------------------
def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise InvalidParameterValue(missing_value(name))
    return value


def _file_rel(path: str) -> str:
    rel = validate_artifact_path(path)
    if not rel:
        raise InvalidParameterValue("An artifact file path is required, not the root folder")
    return rel


async def send_artifact(request: Request, root: ArtifactRoot, rel: str) -> Response:
    """One artifact file as an attachment (single byte ranges, ETag when the store has one)."""
    return await file_response(
        request,
        root.repo,
        root.full(rel),
        rel.rsplit("/", 1)[-1],
        media_type=content_type(rel),
        csp=SANDBOX_CSP,
        headers={"cache-control": "private, no-cache"},
    )


def download_routes(services) -> list[BaseRoute]:
    async def run_artifact(request: Request) -> Response:
        ctx = context_of(request)
        try:
            run_id = request.query_params.get("run_id") or _required(request, "run_uuid")
            rel = _file_rel(_required(request, "path"))
            root = await run_in_threadpool(
                lambda: artifact_root(services, ctx, services.tracking.get_run(ctx, run_id).info.artifact_uri)
            )
            return await send_artifact(request, root, rel)
        except ModelyardError as exc:
            return json_error(exc)

    async def model_version_artifact(request: Request) -> Response:
        ctx = context_of(request)
        try:
            name, version = _required(request, "name"), _required(request, "version")
            rel = _file_rel(_required(request, "path"))

            def resolve() -> ArtifactRoot:
                if services.registry is None:
                    raise ResourceDoesNotExist("This server has no model registry")
                return artifact_root(
                    services, ctx, services.registry.get_model_version_download_uri(ctx, name, version)
                )

            return await send_artifact(request, await run_in_threadpool(resolve), rel)
        except ModelyardError as exc:
            return json_error(exc)

    async def logged_model_artifact(request: Request) -> Response:
        ctx = context_of(request)
        try:
            model_id = request.path_params["model_id"]
            rel = _file_rel(_required(request, "artifact_file_path"))
            root = await run_in_threadpool(
                lambda: artifact_root(
                    services, ctx, services.tracking.get_logged_model(ctx, model_id).artifact_location
                )
            )
            return await send_artifact(request, root, rel)
        except ModelyardError as exc:
            return json_error(exc)

    methods = ["GET", "HEAD"]
    run_read = needs(RUN, READ, lambda r: r.query_params.get("run_id") or r.query_params.get("run_uuid"))
    version_read, model_read = needs(MODEL_VERSION, READ, "name"), needs(LOGGED_MODEL, READ, "model_id")
    return [
        route("/get-artifact", guard(run_artifact, run_read), methods=methods, needs=run_read),
        route(
            "/model-versions/get-artifact",
            guard(model_version_artifact, version_read),
            methods=methods,
            needs=version_read,
        ),
        route(
            "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
            guard(logged_model_artifact, model_read),
            methods=methods,
            needs=model_read,
        ),
    ]


def guard(endpoint, permission):
    """``endpoint`` after the permission check (a refusal told as JSON, as the downloads' errors)."""

    async def guarded(request: Request) -> Response:
        try:
            await authorized(request, permission)
        except ModelyardError as exc:
            return json_error(exc)
        return await endpoint(request)

    guarded.__name__ = endpoint.__name__
    return guarded
