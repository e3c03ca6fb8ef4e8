"""Experiments: create, get, get-by-name, search, delete, restore, update, tags."""

from __future__ import annotations

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


@table.post("/mlflow/experiments/create", CreateExperiment)
def create_experiment(svc: Services, m: CreateExperiment) -> dict:
    """Create an experiment."""
    from modelyard.server.uris import validate_artifact_location

    location = validate_artifact_location(m.artifact_location) if m.artifact_location else None
    tags = {t.key: t.value or "" for t in m.tags}
    return {"experiment_id": svc.tracking.create_experiment(m.name, location, tags)}


@table.get("/mlflow/experiments/get", ExperimentId)
def get_experiment(svc: Services, m: ExperimentId) -> dict:
    """Get an experiment by id."""
    return {"experiment": svc.tracking.get_experiment(m.experiment_id).to_dict()}


@table.get("/mlflow/experiments/get-by-name", ExperimentByName)
def get_experiment_by_name(svc: Services, m: ExperimentByName) -> dict:
    """Get an experiment by name."""
    exp = svc.tracking.get_experiment_by_name(m.experiment_name)
    if exp is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{m.experiment_name}'")
    return {"experiment": exp.to_dict()}


def _search(svc: Services, m: SearchExperiments) -> dict:
    page = svc.tracking.search_experiments(
        ViewType.parse(m.view_type), m.max_results, m.filter, m.order_by, m.page_token
    )
    out: dict = {"experiments": [e.to_dict() for e in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


@table.post("/mlflow/experiments/search", SearchExperiments)
def search_experiments(svc: Services, m: SearchExperiments) -> dict:
    """Search experiments with a filter."""
    return _search(svc, m)


@table.get("/mlflow/experiments/search", SearchExperiments)
def search_experiments_get(svc: Services, m: SearchExperiments) -> dict:
    """Search experiments with a filter (query string)."""
    return _search(svc, m)


@table.post("/mlflow/experiments/delete", ExperimentId)
def delete_experiment(svc: Services, m: ExperimentId) -> dict:
    """Soft-delete an experiment and its runs."""
    svc.tracking.delete_experiment(m.experiment_id)
    return {}


@table.post("/mlflow/experiments/restore", ExperimentId)
def restore_experiment(svc: Services, m: ExperimentId) -> dict:
    """Restore a deleted experiment and its runs."""
    svc.tracking.restore_experiment(m.experiment_id)
    return {}


@table.post("/mlflow/experiments/update", UpdateExperiment)
def update_experiment(svc: Services, m: UpdateExperiment) -> dict:
    """Rename an experiment."""
    svc.tracking.rename_experiment(m.experiment_id, m.new_name)
    return {}


@table.post("/mlflow/experiments/set-experiment-tag", ExperimentTag)
def set_experiment_tag(svc: Services, m: ExperimentTag) -> dict:
    """Set a tag on an experiment."""
    svc.tracking.set_experiment_tag(m.experiment_id, m.key, m.value)
    return {}


@table.post("/mlflow/experiments/delete-experiment-tag", ExperimentTagKey)
def delete_experiment_tag(svc: Services, m: ExperimentTagKey) -> dict:
    """Delete a tag of an experiment."""
    svc.tracking.delete_experiment_tag(m.experiment_id, m.key)
    return {}
