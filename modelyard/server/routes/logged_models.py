"""Logged models (MLflow 3): create, get, finalize, delete, search, tags, params, artifact listing.

A model's artifacts live at ``<experiment artifact_location>/models/<model_id>/artifacts``; with
artifact serving on that is an ``mlflow-artifacts:/`` URI, listed under the server's artifacts
destination. ``GET /mlflow/logged-models/{model_id}?allow_deleted=true`` also finds deleted models.
"""

from __future__ import annotations

from pydantic import ConfigDict

from modelyard.entities import LoggedModel
from modelyard.server.protocol import KeyValue, Message, RouteTable
from modelyard.server.routes.artifacts import list_page
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


@table.post(BASE, CreateLoggedModel)
def create_logged_model(svc: Services, m: CreateLoggedModel) -> dict:
    """Create a logged model (status LOGGED_MODEL_PENDING)."""
    model = svc.tracking.create_logged_model(
        m.experiment_id,
        m.name or None,
        m.source_run_id or None,
        _pairs(m.tags),
        _pairs(m.params),
        m.model_type,
    )
    return _model(model)


@table.post(f"{BASE}/search", SearchLoggedModels)
def search_logged_models(svc: Services, m: SearchLoggedModels) -> dict:
    """Search the logged models of some experiments."""
    page = svc.tracking.search_logged_models(
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


@table.get(BASE + "/{model_id}", GetLoggedModel)
def get_logged_model(svc: Services, m: GetLoggedModel) -> dict:
    """Get a logged model with its params, tags and metrics."""
    return _model(svc.tracking.get_logged_model(m.model_id, m.allow_deleted))


@table.patch(BASE + "/{model_id}", FinalizeLoggedModel)
def finalize_logged_model(svc: Services, m: FinalizeLoggedModel) -> dict:
    """Finalize a logged model: status READY or UPLOAD_FAILED."""
    return _model(svc.tracking.finalize_logged_model(m.model_id, m.status))


@table.delete(BASE + "/{model_id}", ModelId)
def delete_logged_model(svc: Services, m: ModelId) -> dict:
    """Delete a logged model (soft)."""
    svc.tracking.delete_logged_model(m.model_id)
    return {}


@table.patch(BASE + "/{model_id}/tags", SetTags)
def set_logged_model_tags(svc: Services, m: SetTags) -> dict:
    """Set tags on a logged model."""
    svc.tracking.set_logged_model_tags(m.model_id, _pairs(m.tags))
    return _model(svc.tracking.get_logged_model(m.model_id))


@table.delete(BASE + "/{model_id}/tags/{tag_key:path}", DeleteTag)
def delete_logged_model_tag(svc: Services, m: DeleteTag) -> dict:
    """Delete a tag of a logged model."""
    svc.tracking.delete_logged_model_tag(m.model_id, m.tag_key)
    return {}


@table.post(BASE + "/{model_id}/params", LogParams)
def log_logged_model_params(svc: Services, m: LogParams) -> dict:
    """Log params of a logged model."""
    svc.tracking.log_logged_model_params(m.model_id, _pairs(m.params))
    return {}


@table.get(BASE + "/{model_id}/artifacts/directories", ListArtifacts)
def list_logged_model_artifacts(svc: Services, m: ListArtifacts) -> dict:
    """List the files and folders directly inside a path of a logged model's artifacts."""
    root_uri = svc.tracking.get_logged_model(m.model_id).artifact_location
    return list_page(svc, root_uri, m.artifact_directory_path, m.page_token)
