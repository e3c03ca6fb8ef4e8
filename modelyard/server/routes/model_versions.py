"""Model versions: create, get, update, delete, search, tags, download URI, stage transitions; and
modelyard's lineage, one-call ``models:/`` resolution, and a logged model's registrations.

A version's ``source`` must be an artifact location the server owns (see
``modelyard.store.registry.sources``): local paths, ``file:`` URIs, other hosts and traversal in
any spelling are refused with INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

from pydantic import ConfigDict

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import (
    DELETE,
    LOGGED_MODEL,
    MANAGE,
    MODEL_VERSION,
    READ,
    REGISTERED_MODEL,
    UPDATE,
    needs,
)
from modelyard.server.protocol import KeyValue, Message, RouteTable
from modelyard.server.routes.runs import IdText, Int64
from modelyard.server.services import Services
from modelyard.store.registry.base import SEARCH_MODEL_VERSIONS_DEFAULT

table = RouteTable()
BASE = "/mlflow/model-versions"


class VersionRef(Message):
    name: str
    version: IdText


class CreateModelVersion(Message):
    model_config = ConfigDict(protected_namespaces=())  # a field named model_id

    name: str
    source: str
    run_id: str | None = None
    tags: list[KeyValue] = []
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None
    user_id: str | None = None


class UpdateModelVersion(VersionRef):
    description: str | None = None


class DeleteModelVersion(VersionRef):
    user_id: str | None = None


class SearchModelVersions(Message):
    filter: str | None = None
    max_results: Int64 = SEARCH_MODEL_VERSIONS_DEFAULT
    order_by: list[str] = []
    page_token: str | None = None


class VersionTag(VersionRef):
    key: str
    value: str | None = None


class VersionTagKey(VersionRef):
    key: str


class TransitionStage(VersionRef):
    stage: str
    archive_existing_versions: bool = False
    user_id: str | None = None


class ResolveVersion(Message):
    name: str
    selector: str


class LoggedModelRef(Message):
    model_config = ConfigDict(protected_namespaces=())

    model_id: str


def _version(mv) -> dict:
    return {"model_version": mv.to_dict()}


@table.post(f"{BASE}/create", CreateModelVersion, needs=needs(REGISTERED_MODEL, UPDATE, "name"))
def create_model_version(svc: Services, m: CreateModelVersion, ctx: RequestContext) -> dict:
    """Register a new version (number = max + 1, never reused) from a source the server owns."""
    tags = {t.key: t.value or "" for t in m.tags}
    version = svc.registry.create_model_version(
        ctx,
        m.name,
        m.source,
        m.run_id,
        tags,
        m.run_link,
        m.description,
        m.model_id,
        user_id=m.user_id,
    )
    return _version(version)


@table.get(f"{BASE}/get", VersionRef, needs=needs(MODEL_VERSION, READ, "name"))
def get_model_version(svc: Services, m: VersionRef, ctx: RequestContext) -> dict:
    """Get a model version."""
    return _version(svc.registry.get_model_version(ctx, m.name, m.version))


@table.patch(f"{BASE}/update", UpdateModelVersion, needs=needs(MODEL_VERSION, UPDATE, "name"))
def update_model_version(svc: Services, m: UpdateModelVersion, ctx: RequestContext) -> dict:
    """Update a model version's description."""
    return _version(svc.registry.update_model_version(ctx, m.name, m.version, m.description))


@table.delete(f"{BASE}/delete", DeleteModelVersion, needs=needs(MODEL_VERSION, DELETE, "name"))
def delete_model_version(svc: Services, m: DeleteModelVersion, ctx: RequestContext) -> dict:
    """Delete a model version (its number is never reused; its aliases are removed)."""
    svc.registry.delete_model_version(ctx, m.name, m.version, user_id=m.user_id)
    return {}


@table.get(f"{BASE}/search", SearchModelVersions, needs=needs(MODEL_VERSION, READ))
def search_model_versions(svc: Services, m: SearchModelVersions, ctx: RequestContext) -> dict:
    """Search model versions (name, run_id, source_path, version_number, model_id, tags)."""
    items, token = svc.registry.search_model_versions_json(
        ctx, m.filter, m.max_results, m.order_by, m.page_token
    )
    out: dict = {"model_versions": items}
    if token:
        out["next_page_token"] = token
    return out


@table.post(f"{BASE}/set-tag", VersionTag, needs=needs(MODEL_VERSION, UPDATE, "name"))
def set_model_version_tag(svc: Services, m: VersionTag, ctx: RequestContext) -> dict:
    """Set a tag on a model version."""
    svc.registry.set_model_version_tag(ctx, m.name, m.version, m.key, m.value or "")
    return {}


@table.delete(f"{BASE}/delete-tag", VersionTagKey, needs=needs(MODEL_VERSION, UPDATE, "name"))
def delete_model_version_tag(svc: Services, m: VersionTagKey, ctx: RequestContext) -> dict:
    """Delete a tag of a model version."""
    svc.registry.delete_model_version_tag(ctx, m.name, m.version, m.key)
    return {}


@table.get(f"{BASE}/get-download-uri", VersionRef, needs=needs(MODEL_VERSION, READ, "name"))
def get_model_version_download_uri(svc: Services, m: VersionRef, ctx: RequestContext) -> dict:
    """Where a version's files are (its source, resolved)."""
    return {"artifact_uri": svc.registry.get_model_version_download_uri(ctx, m.name, m.version)}


@table.post(f"{BASE}/transition-stage", TransitionStage, needs=needs(MODEL_VERSION, MANAGE, "name"))
def transition_model_version_stage(svc: Services, m: TransitionStage, ctx: RequestContext) -> dict:
    """Move a version to a stage (optionally archiving the stage's other versions); recorded."""
    version = svc.registry.transition_model_version_stage(
        ctx, m.name, m.version, m.stage, m.archive_existing_versions, user_id=m.user_id
    )
    return _version(version)


@table.get(f"{BASE}/resolve", ResolveVersion, needs=needs(MODEL_VERSION, READ, "name"))
def resolve_model_version(svc: Services, m: ResolveVersion, ctx: RequestContext) -> dict:
    """modelyard: models:/<name>/<selector> in one call (a version, a stage, latest or @alias)."""
    version, uri = svc.registry.resolve_download_uri(ctx, m.name, m.selector)
    return {"model_version": version.to_dict(), "artifact_uri": uri}


@table.get(f"{BASE}/lineage", VersionRef, needs=needs(MODEL_VERSION, READ, "name"))
def get_model_version_lineage(svc: Services, m: VersionRef, ctx: RequestContext) -> dict:
    """modelyard: the logged model, run and experiment a version comes from."""
    found = svc.registry.get_model_version_lineage(ctx, m.name, m.version)
    out = {key: value for key, value in found.items() if value is not None}
    return {**out, "model_version": found["model_version"].to_dict()}


@table.get(
    "/mlflow/logged-models/{model_id}/registrations",
    LoggedModelRef,
    needs=needs(LOGGED_MODEL, READ, "model_id"),
)
def get_logged_model_registrations(svc: Services, m: LoggedModelRef, ctx: RequestContext) -> dict:
    """modelyard: the registered versions created from a logged model."""
    return {
        "model_versions": [v.to_dict() for v in svc.registry.get_logged_model_registrations(ctx, m.model_id)]
    }
