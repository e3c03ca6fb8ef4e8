"""Logged models (MLflow 3): create, get, finalize, delete, search, tags, params, artifact listing.

A model's artifacts live at ``<experiment artifact_location>/models/<model_id>/artifacts``; with
artifact serving on that is an ``mlflow-artifacts:/`` URI, listed under the server's artifacts
destination. ``GET /mlflow/logged-models/{model_id}?allow_deleted=true`` also finds deleted models.
"""

from __future__ import annotations

from pydantic import ConfigDict

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import DELETE, EXPERIMENT, LOGGED_MODEL, READ, UPDATE, needs
from modelyard.entities import LoggedModel
from modelyard.server.protocol import KeyValue, Message, RouteTable
from modelyard.server.routes.runs import IdText
from modelyard.server.services import Services

table = RouteTable()

BASE = "/mlflow/logged-models"


class _ModelMessage(Message):
    model_config = ConfigDict(protected_namespaces=())  # fields named model_*


class CreateLoggedModel(_ModelMessage):
    experiment_id: IdText
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class ModelId(_ModelMessage):
    model_id: str


class GetLoggedModel(ModelId):
    allow_deleted: bool = False


class FinalizeLoggedModel(ModelId):
    status: str | int


class DatasetFilter(Message):
    dataset_name: str
    dataset_digest: str | None = None


class OrderBy(Message):
    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(Message):
    experiment_ids: list[IdText] = []
    filter: str | None = None
    datasets: list[DatasetFilter] = []
    max_results: int | None = None
    order_by: list[OrderBy] = []
    page_token: str | None = None


class SetTags(ModelId):
    tags: list[KeyValue] = []


class DeleteTag(ModelId):
    tag_key: str


class LogParams(ModelId):
    params: list[KeyValue] = []


class ListArtifacts(ModelId):
    artifact_directory_path: str | None = None
    page_token: str | None = None


def _model(model: LoggedModel) -> dict:
    return {"model": model.to_dict()}


def _pairs(items: list[KeyValue]) -> dict[str, str]:
    return {i.key: i.value or "" for i in items}


@table.post(BASE, CreateLoggedModel, needs=needs(EXPERIMENT, UPDATE, "experiment_id"))
def create_logged_model(svc: Services, m: CreateLoggedModel, ctx: RequestContext) -> dict:
    """Create a logged model (status LOGGED_MODEL_PENDING)."""
    model = svc.tracking.create_logged_model(
        ctx,
        m.experiment_id,
        m.name or None,
        m.source_run_id or None,
        _pairs(m.tags),
        _pairs(m.params),
        m.model_type,
    )
    return _model(model)


@table.post(f"{BASE}/search", SearchLoggedModels, needs=needs(EXPERIMENT, READ, "experiment_ids"))
def search_logged_models(svc: Services, m: SearchLoggedModels, ctx: RequestContext) -> dict:
    """Search the logged models of some experiments."""
    page = svc.tracking.search_logged_models(
        ctx,
        m.experiment_ids,
        m.filter,
        [d.model_dump() for d in m.datasets],
        m.max_results,
        [o.model_dump() for o in m.order_by],
        m.page_token,
    )
    out: dict = {"models": [x.to_dict() for x in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


@table.get(BASE + "/{model_id}", GetLoggedModel, needs=needs(LOGGED_MODEL, READ, "model_id"))
def get_logged_model(svc: Services, m: GetLoggedModel, ctx: RequestContext) -> dict:
    """Get a logged model with its params, tags and metrics."""
    return _model(svc.tracking.get_logged_model(ctx, m.model_id, m.allow_deleted))


@table.patch(BASE + "/{model_id}", FinalizeLoggedModel, needs=needs(LOGGED_MODEL, UPDATE, "model_id"))
def finalize_logged_model(svc: Services, m: FinalizeLoggedModel, ctx: RequestContext) -> dict:
    """Finalize a logged model: status READY or UPLOAD_FAILED."""
    return _model(svc.tracking.finalize_logged_model(ctx, m.model_id, m.status))


@table.delete(BASE + "/{model_id}", ModelId, needs=needs(LOGGED_MODEL, DELETE, "model_id"))
def delete_logged_model(svc: Services, m: ModelId, ctx: RequestContext) -> dict:
    """Delete a logged model (soft)."""
    svc.tracking.delete_logged_model(ctx, m.model_id)
    return {}


@table.patch(BASE + "/{model_id}/tags", SetTags, needs=needs(LOGGED_MODEL, UPDATE, "model_id"))
def set_logged_model_tags(svc: Services, m: SetTags, ctx: RequestContext) -> dict:
    """Set tags on a logged model."""
    svc.tracking.set_logged_model_tags(ctx, m.model_id, _pairs(m.tags))
    return _model(svc.tracking.get_logged_model(ctx, m.model_id))


@table.delete(
    BASE + "/{model_id}/tags/{tag_key:path}", DeleteTag, needs=needs(LOGGED_MODEL, UPDATE, "model_id")
)
def delete_logged_model_tag(svc: Services, m: DeleteTag, ctx: RequestContext) -> dict:
    """Delete a tag of a logged model."""
    svc.tracking.delete_logged_model_tag(ctx, m.model_id, m.tag_key)
    return {}


@table.post(BASE + "/{model_id}/params", LogParams, needs=needs(LOGGED_MODEL, UPDATE, "model_id"))
def log_logged_model_params(svc: Services, m: LogParams, ctx: RequestContext) -> dict:
    """Log params of a logged model."""
    svc.tracking.log_logged_model_params(ctx, m.model_id, _pairs(m.params))
    return {}


@table.get(
    BASE + "/{model_id}/artifacts/directories", ListArtifacts, needs=needs(LOGGED_MODEL, READ, "model_id")
)
def list_logged_model_artifacts(svc: Services, m: ListArtifacts, ctx: RequestContext) -> dict:
    """List the files and folders directly inside a path of a logged model's artifacts."""
    root_uri = svc.tracking.get_logged_model(ctx, m.model_id).artifact_location
    return svc.artifacts.list_page(ctx, root_uri, m.artifact_directory_path, m.page_token)
