"""Experiments: create, get, get-by-name, search, delete, restore, update, tags; the datasets their
runs used (``experiments/search-datasets``, which MLflow's UI calls)."""

from __future__ import annotations

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import CREATE, DELETE, EXPERIMENT, READ, UPDATE, needs
from modelyard.entities import ViewType
from modelyard.exceptions import ResourceDoesNotExist
from modelyard.server.protocol import KeyValue, Message, RouteTable
from modelyard.server.services import Services

table = RouteTable()


class CreateExperiment(Message):
    name: str
    artifact_location: str | None = None
    tags: list[KeyValue] = []


class ExperimentId(Message):
    experiment_id: str


class ExperimentByName(Message):
    experiment_name: str


class SearchExperiments(Message):
    max_results: int = 1000
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: str | int | None = None


class SearchDatasets(Message):
    experiment_ids: list[str] = []


class UpdateExperiment(Message):
    experiment_id: str
    new_name: str


class ExperimentTag(Message):
    experiment_id: str
    key: str
    value: str = ""


class ExperimentTagKey(Message):
    experiment_id: str
    key: str


@table.post("/mlflow/experiments/search-datasets", SearchDatasets, needs=needs(EXPERIMENT, READ, "experiment_ids"))
def search_datasets(svc: Services, m: SearchDatasets, ctx: RequestContext) -> dict:
    """The distinct datasets (name, digest, context) logged as inputs of the experiments' runs."""
    found = svc.tracking.search_datasets(ctx, m.experiment_ids)
    return {"dataset_summaries": [d.to_dict() for d in found]} if found else {}


@table.post("/mlflow/experiments/create", CreateExperiment, needs=needs(EXPERIMENT, CREATE))
def create_experiment(svc: Services, m: CreateExperiment, ctx: RequestContext) -> dict:
    """Create an experiment."""
    from modelyard.server.uris import validate_artifact_location

    location = validate_artifact_location(m.artifact_location) if m.artifact_location else None
    tags = {t.key: t.value or "" for t in m.tags}
    return {"experiment_id": svc.tracking.create_experiment(ctx, m.name, location, tags)}


@table.get("/mlflow/experiments/get", ExperimentId, needs=needs(EXPERIMENT, READ, "experiment_id"))
def get_experiment(svc: Services, m: ExperimentId, ctx: RequestContext) -> dict:
    """Get an experiment by id."""
    return {"experiment": svc.tracking.get_experiment(ctx, m.experiment_id).to_dict()}


@table.get(
    "/mlflow/experiments/get-by-name", ExperimentByName, needs=needs(EXPERIMENT, READ, "experiment_name")
)
def get_experiment_by_name(svc: Services, m: ExperimentByName, ctx: RequestContext) -> dict:
    """Get an experiment by name."""
    exp = svc.tracking.get_experiment_by_name(ctx, m.experiment_name)
    if exp is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{m.experiment_name}'")
    return {"experiment": exp.to_dict()}


def _search(svc: Services, m: SearchExperiments, ctx: RequestContext) -> dict:
    page = svc.tracking.search_experiments(
        ctx, ViewType.parse(m.view_type), m.max_results, m.filter, m.order_by, m.page_token
    )
    out: dict = {"experiments": [e.to_dict() for e in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


@table.post("/mlflow/experiments/search", SearchExperiments, needs=needs(EXPERIMENT, READ))
def search_experiments(svc: Services, m: SearchExperiments, ctx: RequestContext) -> dict:
    """Search experiments with a filter."""
    return _search(svc, m, ctx)


@table.get("/mlflow/experiments/search", SearchExperiments, needs=needs(EXPERIMENT, READ))
def search_experiments_get(svc: Services, m: SearchExperiments, ctx: RequestContext) -> dict:
    """Search experiments with a filter (query string)."""
    return _search(svc, m, ctx)


@table.post("/mlflow/experiments/delete", ExperimentId, needs=needs(EXPERIMENT, DELETE, "experiment_id"))
def delete_experiment(svc: Services, m: ExperimentId, ctx: RequestContext) -> dict:
    """Soft-delete an experiment and its runs."""
    svc.tracking.delete_experiment(ctx, m.experiment_id)
    return {}


@table.post("/mlflow/experiments/restore", ExperimentId, needs=needs(EXPERIMENT, DELETE, "experiment_id"))
def restore_experiment(svc: Services, m: ExperimentId, ctx: RequestContext) -> dict:
    """Restore a deleted experiment and its runs."""
    svc.tracking.restore_experiment(ctx, m.experiment_id)
    return {}


@table.post("/mlflow/experiments/update", UpdateExperiment, needs=needs(EXPERIMENT, UPDATE, "experiment_id"))
def update_experiment(svc: Services, m: UpdateExperiment, ctx: RequestContext) -> dict:
    """Rename an experiment."""
    svc.tracking.rename_experiment(ctx, m.experiment_id, m.new_name)
    return {}


@table.post(
    "/mlflow/experiments/set-experiment-tag", ExperimentTag, needs=needs(EXPERIMENT, UPDATE, "experiment_id")
)
def set_experiment_tag(svc: Services, m: ExperimentTag, ctx: RequestContext) -> dict:
    """Set a tag on an experiment."""
    svc.tracking.set_experiment_tag(ctx, m.experiment_id, m.key, m.value)
    return {}


@table.post(
    "/mlflow/experiments/delete-experiment-tag",
    ExperimentTagKey,
    needs=needs(EXPERIMENT, UPDATE, "experiment_id"),
)
def delete_experiment_tag(svc: Services, m: ExperimentTagKey, ctx: RequestContext) -> dict:
    """Delete a tag of an experiment."""
    svc.tracking.delete_experiment_tag(ctx, m.experiment_id, m.key)
    return {}
