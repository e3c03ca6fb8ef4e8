"""Registered models: create, get, rename, update, delete, search, tags, latest versions, aliases,
and modelyard's promotion history (``GET /mlflow/registered-models/history``).

MLflow's ``ModelRegistryService`` paths and shapes. Writes record the request's user
(the request context's principal; else a ``user_id`` in the body).
"""

from __future__ import annotations

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import (
    CREATE,
    DELETE,
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
from modelyard.store.registry.base import HISTORY_DEFAULT, SEARCH_REGISTERED_MODELS_DEFAULT

table = RouteTable()
BASE = "/mlflow/registered-models"


class RegisteredModelName(Message):
    name: str


class CreateRegisteredModel(RegisteredModelName):
    tags: list[KeyValue] = []
    description: str | None = None
    deployment_job_id: str | None = None
    user_id: str | None = None


class RenameRegisteredModel(RegisteredModelName):
    new_name: str


class UpdateRegisteredModel(RegisteredModelName):
    description: str | None = None
    deployment_job_id: str | None = None


class SearchRegisteredModels(Message):
    filter: str | None = None
    max_results: Int64 = SEARCH_REGISTERED_MODELS_DEFAULT
    order_by: list[str] = []
    page_token: str | None = None


class RegisteredModelTag(RegisteredModelName):
    key: str
    value: str | None = None


class RegisteredModelTagKey(RegisteredModelName):
    key: str


class LatestVersions(RegisteredModelName):
    stages: list[str] = []


class SetAlias(RegisteredModelName):
    alias: str
    version: IdText
    user_id: str | None = None
    reason: str | None = None  # modelyard: why, recorded in the promotion history


class AliasRef(RegisteredModelName):
    alias: str
    user_id: str | None = None


class PromotionHistory(RegisteredModelName):
    alias: str | None = None
    stage: str | None = None
    max_results: Int64 = HISTORY_DEFAULT
    page_token: str | None = None


def _model(model) -> dict:
    return {"registered_model": model.to_dict()}


@table.post(f"{BASE}/create", CreateRegisteredModel, needs=needs(REGISTERED_MODEL, CREATE))
def create_registered_model(svc: Services, m: CreateRegisteredModel, ctx: RequestContext) -> dict:
    """Create a registered model (RESOURCE_ALREADY_EXISTS, HTTP 400, when the name is taken)."""
    tags = {t.key: t.value or "" for t in m.tags}
    user = m.user_id
    return _model(
        svc.registry.create_registered_model(
            ctx, m.name, tags, m.description, m.deployment_job_id, user_id=user
        )
    )


@table.get(f"{BASE}/get", RegisteredModelName, needs=needs(REGISTERED_MODEL, READ, "name"))
def get_registered_model(svc: Services, m: RegisteredModelName, ctx: RequestContext) -> dict:
    """Get a registered model with its latest versions per stage, tags and aliases."""
    return _model(svc.registry.get_registered_model(ctx, m.name))


@table.post(f"{BASE}/rename", RenameRegisteredModel, needs=needs(REGISTERED_MODEL, MANAGE, "name"))
def rename_registered_model(svc: Services, m: RenameRegisteredModel, ctx: RequestContext) -> dict:
    """Rename a registered model (its versions, aliases and history follow)."""
    return _model(svc.registry.rename_registered_model(ctx, m.name, m.new_name))


@table.patch(f"{BASE}/update", UpdateRegisteredModel, needs=needs(REGISTERED_MODEL, UPDATE, "name"))
def update_registered_model(svc: Services, m: UpdateRegisteredModel, ctx: RequestContext) -> dict:
    """Update a registered model's description."""
    return _model(svc.registry.update_registered_model(ctx, m.name, m.description, m.deployment_job_id))


@table.delete(f"{BASE}/delete", RegisteredModelName, needs=needs(REGISTERED_MODEL, DELETE, "name"))
def delete_registered_model(svc: Services, m: RegisteredModelName, ctx: RequestContext) -> dict:
    """Delete a registered model with its versions, tags and aliases (its history stays)."""
    svc.registry.delete_registered_model(ctx, m.name)
    return {}


@table.get(f"{BASE}/search", SearchRegisteredModels, needs=needs(REGISTERED_MODEL, READ))
def search_registered_models(svc: Services, m: SearchRegisteredModels, ctx: RequestContext) -> dict:
    """Search registered models (filter on name and tags; max_results up to 1000)."""
    items, token = svc.registry.search_registered_models_json(
        ctx, m.filter, m.max_results, m.order_by, m.page_token
    )
    out: dict = {"registered_models": items}
    if token:
        out["next_page_token"] = token
    return out


@table.post(f"{BASE}/set-tag", RegisteredModelTag, needs=needs(REGISTERED_MODEL, UPDATE, "name"))
def set_registered_model_tag(svc: Services, m: RegisteredModelTag, ctx: RequestContext) -> dict:
    """Set a tag on a registered model."""
    svc.registry.set_registered_model_tag(ctx, m.name, m.key, m.value or "")
    return {}


@table.delete(f"{BASE}/delete-tag", RegisteredModelTagKey, needs=needs(REGISTERED_MODEL, UPDATE, "name"))
def delete_registered_model_tag(svc: Services, m: RegisteredModelTagKey, ctx: RequestContext) -> dict:
    """Delete a tag of a registered model."""
    svc.registry.delete_registered_model_tag(ctx, m.name, m.key)
    return {}


def _latest(svc: Services, m: LatestVersions, ctx: RequestContext) -> dict:
    return {"model_versions": [v.to_dict() for v in svc.registry.get_latest_versions(ctx, m.name, m.stages)]}


@table.post(f"{BASE}/get-latest-versions", LatestVersions, needs=needs(REGISTERED_MODEL, READ, "name"))
def get_latest_versions(svc: Services, m: LatestVersions, ctx: RequestContext) -> dict:
    """The newest version in each requested stage (all stages when none is given)."""
    return _latest(svc, m, ctx)


@table.get(f"{BASE}/get-latest-versions", LatestVersions, needs=needs(REGISTERED_MODEL, READ, "name"))
def get_latest_versions_get(svc: Services, m: LatestVersions, ctx: RequestContext) -> dict:
    """The newest version in each requested stage (query string)."""
    return _latest(svc, m, ctx)


@table.post(f"{BASE}/alias", SetAlias, needs=needs(REGISTERED_MODEL, MANAGE, "name"))
def set_registered_model_alias(svc: Services, m: SetAlias, ctx: RequestContext) -> dict:
    """Point an alias at a version (creating or moving it); recorded in the promotion history."""
    svc.registry.set_registered_model_alias(ctx, m.name, m.alias, m.version, user_id=m.user_id, reason=m.reason)
    return {}


@table.delete(f"{BASE}/alias", AliasRef, needs=needs(REGISTERED_MODEL, MANAGE, "name"))
def delete_registered_model_alias(svc: Services, m: AliasRef, ctx: RequestContext) -> dict:
    """Delete an alias; recorded in the promotion history."""
    svc.registry.delete_registered_model_alias(ctx, m.name, m.alias, user_id=m.user_id)
    return {}


@table.get(f"{BASE}/alias", AliasRef, needs=needs(MODEL_VERSION, READ, "name"))
def get_model_version_by_alias(svc: Services, m: AliasRef, ctx: RequestContext) -> dict:
    """The version an alias points at (``latest``: the newest version)."""
    return {"model_version": svc.registry.get_model_version_by_alias(ctx, m.name, m.alias).to_dict()}


@table.get(f"{BASE}/history", PromotionHistory, needs=needs(REGISTERED_MODEL, READ, "name"))
def get_promotion_history(svc: Services, m: PromotionHistory, ctx: RequestContext) -> dict:
    """modelyard: alias moves and stage transitions of a model, newest first (who, when, from, to)."""
    page = svc.registry.get_promotion_history(ctx, m.name, m.alias, m.stage, m.max_results, m.page_token)
    out: dict = {"events": [e.to_dict() for e in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out
