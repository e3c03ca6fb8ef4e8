"""Logged models over REST: RestTrackingStore's logged-model methods, and log_model / load_model with
the tracking URI pointing at a live server (files through the mlflow-artifacts:/ proxy)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import modelyard as my  # noqa: E402
from modelyard.entities import LoggedModelMetric, LoggedModelStatus, Metric  # noqa: E402
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist  # noqa: E402
from modelyard.tracking import fluent, stores  # noqa: E402


def test_rest_store_logged_model_methods(rest_store):
    run = rest_store.create_run("0", "ada", 0, [], "r")
    run_id = run.info.run_id
    model = rest_store.create_logged_model("0", "clf", run_id, {"t": "1"}, {"p": "2"}, "sk")
    assert (model.name, model.source_run_id, model.model_type) == ("clf", run_id, "sk")
    assert (model.tags, model.params, model.status) == ({"t": "1"}, {"p": "2"}, LoggedModelStatus.PENDING)
    assert model.artifact_location.endswith(f"/models/{model.model_id}/artifacts")
    assert rest_store.get_logged_model(model.model_id) == model
    rest_store.set_logged_model_tags(model.model_id, {"a/b": "x", "drop": "y"})
    rest_store.delete_logged_model_tag(model.model_id, "drop")
    rest_store.log_logged_model_params(model.model_id, {"q": "3"})
    rest_store.log_outputs(run_id, [(model.model_id, 1)])
    rest_store.log_batch(run_id, metrics=[Metric("acc", 0.9, 5, 1)])
    rest_store.log_logged_model_metrics(run_id, [LoggedModelMetric("acc", 0.9, 5, 1, run_id, model.model_id)])
    ready = rest_store.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    assert ready.tags == {"t": "1", "a/b": "x"} and ready.params == {"p": "2", "q": "3"}
    assert [(m.key, m.value, m.step) for m in ready.metrics] == [("acc", 0.9, 1)]
    assert [o.model_id for o in rest_store.get_run(run_id).outputs.model_outputs] == [model.model_id]
    other = rest_store.create_logged_model("0", "other")
    found = rest_store.search_logged_models(["0"], "name = 'clf'", order_by=["creation_timestamp DESC"])
    assert [m.model_id for m in found] == [model.model_id]
    by_name = [{"field_name": "name", "ascending": False}]
    paged = rest_store.search_logged_models(["0"], max_results=1, order_by=by_name)
    assert [m.name for m in paged] == ["other"] and paged.token
    rest = rest_store.search_logged_models(["0"], max_results=1, order_by=by_name, page_token=paged.token)
    assert [m.name for m in rest] == ["clf"]
    rest_store.delete_logged_model(other.model_id)
    with pytest.raises(ResourceDoesNotExist):
        rest_store.get_logged_model(other.model_id)
    assert rest_store.get_logged_model(other.model_id, allow_deleted=True).model_id == other.model_id
    with pytest.raises(InvalidParameterValue):
        rest_store.finalize_logged_model(model.model_id, "NOT_A_STATUS")


@pytest.fixture
def server_tracking(live_server, fresh_backend, monkeypatch):
    for var in ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MODELYARD_EXPERIMENT_NAME",
                "MLFLOW_RUN_ID", "MODELYARD_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MODELYARD_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELYARD_HTTP_REQUEST_MAX_RETRIES", "0")
    my.set_tracking_uri(live_server.url)
    yield live_server
    while my.active_run():
        my.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


def test_log_and_load_through_the_server(server_tracking, fresh_backend, tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticRegression(max_iter=300).fit(X, y)
    with my.start_run() as run:
        my.log_param("C", 1)
        my.log_metric("acc", 0.9)
        info = my.sklearn.log_model(clf, name="model", input_example=X.iloc[:3])
    logged = fresh_backend.get_logged_model(info.model_id)  # what the server stored
    assert logged.status == LoggedModelStatus.READY and logged.params == {"C": "1"}
    assert logged.artifact_location.startswith("mlflow-artifacts:/0/models/")
    assert [(m.key, m.value) for m in logged.metrics] == [("acc", 0.9)]
    assert [o.model_id for o in fresh_backend.get_run(run.info.run_id).outputs.model_outputs] == [info.model_id]
    expected = clf.predict(X)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model", logged.artifact_location):
        np.testing.assert_array_equal(my.pyfunc.load_model(uri).predict(X), expected)
    # a model logged as plain run artifacts (MLflow 2 layout) loads through the runs:/ fallback
    my.sklearn.save_model(clf, tmp_path / "legacy")
    with my.start_run() as run2:
        my.log_artifacts(str(tmp_path / "legacy"), "legacy")
    np.testing.assert_array_equal(my.pyfunc.load_model(f"runs:/{run2.info.run_id}/legacy").predict(X), expected)
