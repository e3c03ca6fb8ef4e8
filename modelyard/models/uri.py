"""Model URIs to a local model folder.

Accepted: a local path or ``file://`` URI (used in place, not copied); ``runs:/<run_id>/<path>``;
``models:/m-<id>`` (a logged model); any artifact URI with a repository (``mlflow-artifacts:/``,
``s3://``, ``http(s)://``), downloaded to a new private temporary folder.

``runs:/`` follows MLflow 3: the logged model named ``<path>`` whose ``source_run_id`` is the run
(newest first); when there is none, the run's own ``artifacts/<path>`` (MLflow 2 layout).

Extending: ``RESOLVERS`` maps a kind to ``"dotted:function"`` (or a function) taking
``(uri, client)`` and returning the artifact URI or path holding the model. ``models:/m-<id>``
uses ``"logged_model"``; any other ``models:/`` URI (``models:/<name>/<version>``,
``models:/<name>@<alias>``) uses ``"registry"``, which the model registry adds with
:func:`register_resolver`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.artifacts import get_artifact_repository, uri_scheme
from modelyard.exceptions import InvalidParameterValue, NotImplementedFeature, ResourceDoesNotExist
from modelyard.models.mlmodel import MLMODEL_FILE

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient
    from modelyard.tracking.context import ClientContext

Resolver = Callable[[str, "TrackingClient"], str]

RESOLVERS: dict[str, str | Resolver] = {
    "runs": "modelyard.models.uri:resolve_runs_uri",
    "logged_model": "modelyard.models.uri:resolve_logged_model_uri",
    "registry": "modelyard.registry.uris:resolve_registry_uri",
}
MAX_INDIRECTIONS = 5
LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_NAME_SAFE = re.compile(r"^[^/:.%\"']+$")


def register_resolver(kind: str, resolver: str | Resolver) -> None:
    """Add or replace the resolver of a kind (``"registry"`` for registered-model URIs)."""
    RESOLVERS[kind] = resolver


def _resolver(kind: str) -> Resolver:
    entry = RESOLVERS[kind]
    if isinstance(entry, str):
        from modelyard.plugins import load_object

        entry = load_object(entry)
        RESOLVERS[kind] = entry
    return entry  # type: ignore[return-value]


def _client(tracking_uri: str | None, context: ClientContext | None = None) -> TrackingClient:
    """The client of ``tracking_uri`` (with the context's settings), else the context's own client."""
    from modelyard.tracking import context as contexts

    ctx = context or contexts.current()
    if tracking_uri is None:
        return ctx.client()
    from modelyard.tracking.client import TrackingClient

    return TrackingClient(tracking_uri, ctx.settings)


def is_local(uri: str) -> bool:
    return uri_scheme(uri) in ("", "file")


def resolve(uri: str, client: TrackingClient) -> str:
    """The artifact URI or local path that holds the model's files (MLmodel at its root)."""
    scheme = uri_scheme(uri)
    if scheme == "runs":
        return _resolver("runs")(uri, client)
    if scheme == "models":
        ref = uri[len("models:") :].lstrip("/")
        if LOGGED_MODEL_ID.fullmatch(ref.split("/", 1)[0]):
            return _resolver("logged_model")(uri, client)
        if "registry" not in RESOLVERS:
            raise NotImplementedFeature(
                f"Cannot load {uri!r}: models:/<name>/<version> and models:/<name>@<alias> URIs need the "
                "model registry. Use models:/m-<id>, runs:/<run_id>/<path> or a path."
            )
        return _resolver("registry")(uri, client)
    return uri


def resolve_logged_model_uri(uri: str, client: TrackingClient) -> str:
    model_id, _, sub = uri[len("models:") :].lstrip("/").partition("/")
    location = client.get_logged_model(model_id).artifact_location
    return location.rstrip("/") + ("/" + sub if sub else "")


def resolve_runs_uri(uri: str, client: TrackingClient) -> str:
    rest = uri[len("runs:") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    path = path.strip("/")
    if not run_id:
        raise ResourceDoesNotExist(f"Invalid model URI {uri!r}: expected runs:/<run_id>/<path>")
    run = client.get_run(run_id)
    if path and _NAME_SAFE.match(path):
        found = _logged_model_of(client, run.info.experiment_id, run_id, path)
        if found is not None:
            return found
    base = run.info.artifact_uri.rstrip("/")
    return f"{base}/{path}" if path else base


def _logged_model_of(client: TrackingClient, experiment_id: str, run_id: str, name: str) -> str | None:
    """The artifact location of the newest usable logged model ``name`` from ``run_id``, if any."""
    from modelyard.entities import LoggedModelStatus

    try:
        page = client.search_logged_models(
            [experiment_id],
            filter_string=f"name = '{name}' AND source_run_id = '{run_id}'",
            order_by=["creation_timestamp DESC"],
        )
    except NotImplementedFeature:
        return None
    for model in page:
        if model.status != LoggedModelStatus.UPLOAD_FAILED:
            return model.artifact_location
    return None


def resolve_location(
    uri: str, tracking_uri: str | None = None, context: ClientContext | None = None
) -> tuple[str, TrackingClient | None]:
    """The local path or artifact URI holding the files of the model ``uri`` names (``runs:/`` and
    ``models:/`` followed to the end: an alias or stage becomes that version's files), and the client
    that resolved it (None for a local ``uri``). Downloads nothing."""
    uri = str(uri)
    if is_local(uri):
        return uri, None
    client = _client(tracking_uri, context)
    for _ in range(MAX_INDIRECTIONS):  # a resolver may answer another model URI
        if uri_scheme(uri) not in ("runs", "models"):
            return uri, client
        uri = resolve(uri, client)
    raise InvalidParameterValue(f"Model URI {uri!r} resolves through too many indirections")


def fetch_model(location: str, dst_path: str | Path | None = None, client: TrackingClient | None = None) -> Path:
    """A local folder holding the model at a resolved ``location`` (see :func:`resolve_location`): a
    local path is used in place, an artifact URI is downloaded into ``dst_path`` (default: a new
    private temporary folder, the caller's to remove)."""
    from modelyard.artifacts.paths import local_path_from_uri

    if is_local(location):
        local = local_path_from_uri(location)
        if not (local / MLMODEL_FILE).is_file():
            raise ResourceDoesNotExist(f"No model at {location}: no {MLMODEL_FILE} file in {local}")
        return local
    tracking_uri, settings = (client.tracking_uri, client.settings) if client is not None else (None, None)
    repo = get_artifact_repository(location, tracking_uri=tracking_uri, settings=settings)
    if repo.file_info(MLMODEL_FILE) is None:
        raise ResourceDoesNotExist(f"No model at {location}: it has no {MLMODEL_FILE} file")
    target = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="modelyard-model-"))
    target.mkdir(parents=True, exist_ok=True)
    repo.download_artifacts("", target)
    return target


def download_model(
    uri: str,
    dst_path: str | Path | None = None,
    tracking_uri: str | None = None,
    context: ClientContext | None = None,
) -> Path:
    """A local folder holding the model of ``uri`` (downloaded if it is remote), resolved through
    ``context`` (default: the current client context) or, when given, ``tracking_uri``."""
    location, client = resolve_location(uri, tracking_uri, context)
    return fetch_model(location, dst_path, client)
