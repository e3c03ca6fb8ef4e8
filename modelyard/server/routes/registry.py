"""Registered models: create, get, rename, update, delete, search, tags, latest versions, aliases,
and modelyard's promotion history (``GET /mlflow/registered-models/history``).

MLflow's ``ModelRegistryService`` paths and shapes. Writes record the request's user
(``identity.request_user``; else a ``user_id`` in the body).
"""

from __future__ import annotations

from modelyard.server.identity import request_user
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


@table.post(f"{BASE}/create", CreateRegisteredModel)
def create_registered_model(svc: Services, m: CreateRegisteredModel) -> dict:
    """Create a registered model (RESOURCE_ALREADY_EXISTS, HTTP 400, when the name is taken)."""
    tags = {t.key: t.value or "" for t in m.tags}
    user = request_user(m.user_id)
    return _model(svc.registry.create_registered_model(m.name, tags, m.description, m.deployment_job_id, user_id=user))


@table.get(f"{BASE}/get", RegisteredModelName)
def get_registered_model(svc: Services, m: RegisteredModelName) -> dict:
    """Get a registered model with its latest versions per stage, tags and aliases."""
    return _model(svc.registry.get_registered_model(m.name))


@table.post(f"{BASE}/rename", RenameRegisteredModel)
def rename_registered_model(svc: Services, m: RenameRegisteredModel) -> dict:
    """Rename a registered model (its versions, aliases and history follow)."""
    return _model(svc.registry.rename_registered_model(m.name, m.new_name))


@table.patch(f"{BASE}/update", UpdateRegisteredModel)
def update_registered_model(svc: Services, m: UpdateRegisteredModel) -> dict:
    """Update a registered model's description."""
    return _model(svc.registry.update_registered_model(m.name, m.description, m.deployment_job_id))


@table.delete(f"{BASE}/delete", RegisteredModelName)
def delete_registered_model(svc: Services, m: RegisteredModelName) -> dict:
    """Delete a registered model with its versions, tags and aliases (its history stays)."""
    svc.registry.delete_registered_model(m.name)
    return {}


@table.get(f"{BASE}/search", SearchRegisteredModels)
def search_registered_models(svc: Services, m: SearchRegisteredModels) -> dict:
    """Search registered models (filter on name and tags; max_results up to 1000)."""
    items, token = search_as_dicts(svc.registry, "search_registered_models", m.filter, m.max_results, m.order_by, m.page_token)
    out: dict = {"registered_models": items}
    if token:
        out["next_page_token"] = token
    return out


def search_as_dicts(store, method: str, *args) -> tuple[list[dict], str | None]:
    """A search as JSON dicts: the SQL store's fast path, else entities turned into dicts."""
    fast = getattr(store, f"{method}_wire", None)
    if fast is not None:
        return fast(*args)
    page = getattr(store, method)(*args)
    return [x.to_dict() for x in page], page.token


@table.post(f"{BASE}/set-tag", RegisteredModelTag)
def set_registered_model_tag(svc: Services, m: RegisteredModelTag) -> dict:
    """Set a tag on a registered model."""
    svc.registry.set_registered_model_tag(m.name, m.key, m.value or "")
    return {}


@table.delete(f"{BASE}/delete-tag", RegisteredModelTagKey)
def delete_registered_model_tag(svc: Services, m: RegisteredModelTagKey) -> dict:
    """Delete a tag of a registered model."""
    svc.registry.delete_registered_model_tag(m.name, m.key)
    return {}


def _latest(svc: Services, m: LatestVersions) -> dict:
    return {"model_versions": [v.to_dict() for v in svc.registry.get_latest_versions(m.name, m.stages)]}


@table.post(f"{BASE}/get-latest-versions", LatestVersions)
def get_latest_versions(svc: Services, m: LatestVersions) -> dict:
    """The newest version in each requested stage (all stages when none is given)."""
    return _latest(svc, m)


@table.get(f"{BASE}/get-latest-versions", LatestVersions)
def get_latest_versions_get(svc: Services, m: LatestVersions) -> dict:
    """The newest version in each requested stage (query string)."""
    return _latest(svc, m)


@table.post(f"{BASE}/alias", SetAlias)
def set_registered_model_alias(svc: Services, m: SetAlias) -> dict:
    """Point an alias at a version (creating or moving it); recorded in the promotion history."""
    svc.registry.set_registered_model_alias(
        m.name, m.alias, m.version, user_id=request_user(m.user_id), reason=m.reason
    )
    return {}


@table.delete(f"{BASE}/alias", AliasRef)
def delete_registered_model_alias(svc: Services, m: AliasRef) -> dict:
    """Delete an alias; recorded in the promotion history."""
    svc.registry.delete_registered_model_alias(m.name, m.alias, user_id=request_user(m.user_id))
    return {}


@table.get(f"{BASE}/alias", AliasRef)
def get_model_version_by_alias(svc: Services, m: AliasRef) -> dict:
    """The version an alias points at (``latest``: the newest version)."""
    return {"model_version": svc.registry.get_model_version_by_alias(m.name, m.alias).to_dict()}


@table.get(f"{BASE}/history", PromotionHistory)
def get_promotion_history(svc: Services, m: PromotionHistory) -> dict:
    """modelyard: alias moves and stage transitions of a model, newest first (who, when, from, to)."""
    page = svc.registry.get_promotion_history(m.name, m.alias, m.stage, m.max_results, m.page_token)
    out: dict = {"events": [e.to_dict() for e in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out
