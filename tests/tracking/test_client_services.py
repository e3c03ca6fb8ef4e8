"""The embedded client is an entry point like a REST handler: each of its methods calls one method
of TrackingService / RegistryService / ArtifactService with the client's local RequestContext (the
local user as principal, the client's settings), never a store."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import modelyard as my
from modelyard.entities import Metric, Param, RunTag
from modelyard.settings import Settings
from modelyard.tracking import client as client_module
from modelyard.tracking import registry_client
from modelyard.tracking.client import TrackingClient


class Recording:
    """Wraps a service: forwards every call, and records (method, principal name of the context)."""

    def __init__(self, inner, seen: list) -> None:
        self._inner, self._seen = inner, seen

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(ctx, *args, **kwargs):
            self._seen.append((name, ctx.principal.name, ctx.settings))
            return attr(ctx, *args, **kwargs)

        return call


@pytest.fixture
def client(tracking, tmp_path):
    settings = Settings.from_env({"MODELYARD_USER": "ada", "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path / "a")})
    return TrackingClient(tracking, settings)


def _recorded(client) -> list:
    seen: list = []
    client._service = Recording(client.service, seen)
    client._registry_service = Recording(client.registry_service, seen)
    client._artifacts = Recording(client.artifact_service, seen)
    return seen


def test_tracking_calls_go_through_the_service_with_the_local_user(client, tmp_path):
    seen = _recorded(client)
    exp = client.create_experiment("svc")
    run = client.create_run(exp, tags={"t": 1})
    client.log_metric(run.info.run_id, "loss", 0.5, step=1)
    client.log_param(run.info.run_id, "p", 1)
    client.set_tag(run.info.run_id, "k", "v")
    client.log_batch(run.info.run_id, metrics=[Metric(f"m{i}", i, 0, 0) for i in range(1500)])
    client.search_runs([exp])
    client.set_terminated(run.info.run_id)
    (tmp_path / "f.txt").write_text("hi")
    client.log_artifact(run.info.run_id, tmp_path / "f.txt")
    client.list_artifacts(run.info.run_id)
    assert [name for name, _, _ in seen] == [
        "create_experiment",
        "create_run",
        "log_metric",
        "log_param",
        "set_tag",
        "log_batch_in_chunks",
        "search_runs",
        "update_run_info",
        "upload",
        "list_files",
    ]
    assert {(user, settings) for _, user, settings in seen} == {("ada", client.settings)}
    got = client.get_run(run.info.run_id)
    assert got.info.user_id == "ada"  # the principal recorded as the run's owner
    assert len(got.data.metrics) == 1 + 1500 and got.data.params == {"p": "1"}
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["f.txt"]


def test_registry_calls_go_through_the_service_and_record_the_local_user(client):
    exp = client.create_experiment("reg")
    run = client.create_run(exp)
    seen = _recorded(client)
    client.create_registered_model("churn")
    v = client.create_model_version("churn", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("churn", "champion", v.version, reason="best")
    client.copy_model_version("models:/churn@champion", "churn-copy")
    client.transition_model_version_stage("churn", v.version, "Staging")
    client.set_model_version_tag("churn", key="k", value="v", stage="Staging")
    assert [name for name, _, _ in seen] == [
        "create_registered_model",
        "create_model_version",
        "set_registered_model_alias",
        "copy_model_version",
        "transition_model_version_stage",
        "set_model_version_tag",
    ]
    assert {user for _, user, _ in seen} == {"ada"}
    assert client.get_model_version("churn", v.version).tags == {"k": "v"}
    assert client.get_model_version("churn-copy", 1).source == "models:/churn/1"
    [event] = client.get_alias_history("churn", "champion")
    assert (event.user_id, event.reason) == ("ada", "best")


def test_no_client_method_calls_a_store():
    """The client's source names its stores only to build its services (and in the store properties
    kept for code written against stores)."""
    for module in (client_module, registry_client):
        tree = ast.parse(inspect.getsource(module))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef) or func.name in ("store", "service", "registry_store", "registry_service"):
                continue
            for node in ast.walk(func):
                reads = isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                if reads and node.attr in ("store", "registry_store", "_store"):
                    raise AssertionError(f"{Path(module.__file__).name}: {func.name} uses self.{node.attr}")


def test_fluent_logging_keeps_the_context_its_run_started_in(tracking, monkeypatch):
    """An environment change mid-run makes a new process context; the active run keeps logging
    through the client it was started with (the store it lives in), and ends there."""
    with my.start_run() as run:
        monkeypatch.setenv("MODELYARD_USER", "someone-else")
        my.log_metric("loss", 1.0)
        my.log_params({"a": 1})
        my.set_tags({"x": "y"})
    got = my.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert (got.data.metrics, got.data.params, got.data.tags["x"]) == ({"loss": 1.0}, {"a": "1"}, "y")


def test_log_model_records_output_and_metric_links_through_the_service(tracking):
    from modelyard.models.log import log_model

    def save(folder, model):
        folder.mkdir(parents=True)
        model.save(folder / "MLmodel")
        return model

    with my.start_run() as run:
        my.log_metric("acc", 0.9, step=3)
        my.log_metric("loss", 0.1, step=4)
        info = log_model(save, name="m", step=3)
    model = my.MlflowClient().get_logged_model(info.model_id)
    assert model.source_run_id == run.info.run_id
    assert [(m.key, m.value, m.step) for m in model.metrics] == [("acc", 0.9, 3)]


def test_param_and_batch_entities_pass_unchanged(client):
    run = client.create_run(client.create_experiment("batch"))
    client.log_batch(run.info.run_id, params=[Param("a", "1")], tags=[RunTag("b", "2")])
    data = client.get_run(run.info.run_id).data
    assert data.params == {"a": "1"} and data.tags["b"] == "2"


def test_subsystems_resolve_registry_references_through_the_service(client):
    """Batch scoring's pinning (and alias following, Spark's resolve_model) ask the client, which
    asks RegistryService.resolve_version with its local context."""
    from modelyard.features.batch import pin_model_uri

    run = client.create_run(client.create_experiment("pin"))
    client.create_registered_model("churn")
    v = client.create_model_version("churn", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("churn", "champion", v.version)
    seen = _recorded(client)
    assert pin_model_uri(client, "models:/churn@champion/sub") == "models:/churn/1/sub"
    assert client.resolve_model_version("churn", "latest") == ("1", f"{run.info.artifact_uri}/model")
    assert [(name, user) for name, user, _ in seen] == [("resolve_version", "ada"), ("resolve_version", "ada")]


def test_feature_client_calls_the_feature_service_with_the_local_user(tracking, tmp_path):
    """FeatureClient builds one FeatureTableService with its tracking client's context: the table's
    creator is the local user, and tags / reads go through the same service."""
    import pandas as pd

    from modelyard.features import FeatureClient

    settings = Settings.from_env({"MODELYARD_USER": "ada", "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path / "a")})
    fc = FeatureClient(tracking, settings)
    assert fc.service.ctx is fc.tracking_client.context
    fc.create_table("profile", "id", pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}))
    fc.set_table_tag("profile", "team", "growth")
    table = fc.get_table("profile")
    assert (table.creator, table.tags) == ("ada", {"team": "growth"})
    assert [t.name for t in fc.list_tables("prof%")] == ["profile"]
    fc.delete_table_tag("profile", "team")
    assert fc.get_table("profile").tags == {}


def test_record_run_is_one_service_call_owned_by_the_local_user(client):
    exp = client.create_experiment("recorded")
    seen = _recorded(client)
    run = client.record_run(exp, "KILLED", 10, 20, tags={"t": 1}, run_name="trial-1",
                            params={"p": 0.5}, metrics={"val_f1": 0.75})
    assert [name for name, _, _ in seen] == ["record_run"]
    got = client.get_run(run.info.run_id)
    assert (got.info.status, got.info.user_id, got.info.start_time, got.info.end_time) == ("KILLED", "ada", 10, 20)
    assert got.data.params == {"p": "0.5"} and got.data.metrics == {"val_f1": 0.75} and got.data.tags["t"] == "1"


def test_record_run_refuses_a_run_that_is_not_over(client):
    exp = client.create_experiment("recorded-running")
    with pytest.raises(my.exceptions.InvalidParameterValue, match="record_run is for a run that is over"):
        client.record_run(exp, "RUNNING", 10, 20)
    assert list(client.search_runs([exp])) == []
