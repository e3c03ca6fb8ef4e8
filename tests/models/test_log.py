"""log_model (MLflow 3 logged models) on the embedded store, and every kind of model URI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import modelyard as my
from modelyard.entities import LoggedModelStatus
from modelyard.exceptions import InvalidParameterValue, NotImplementedFeature, ResourceDoesNotExist
from modelyard.models import uri as model_uris


def test_log_model_in_a_run(tracking, iris, logreg):
    X, _ = iris
    with my.start_run() as run:
        my.log_param("C", 1.0)
        my.log_metric("acc", 0.5, step=0)
        my.log_metric("acc", 0.9, step=3)
        my.log_metric("loss", 0.1, step=0)
        info = my.sklearn.log_model(logreg, name="model", input_example=X.iloc[:5], tags={"team": "a"})
    run_id = run.info.run_id
    assert info.model_uri == f"models:/{info.model_id}" and info.model_id.startswith("m-")
    assert (info.run_id, info.name, info.model_uuid) == (run_id, "model", info.model_id)
    assert set(info.flavors) == {"python_function", "sklearn"} and info.signature.inputs is not None
    client = my.MlflowClient()
    logged = client.store.get_logged_model(info.model_id)
    assert logged.status == LoggedModelStatus.READY and logged.source_run_id == run_id
    assert logged.params == {"C": "1.0"} and logged.tags["team"] == "a" and "mlflow.user" in logged.tags
    assert sorted((m.key, m.value) for m in logged.metrics) == [("acc", 0.5), ("loss", 0.1)]  # step 0
    assert [(o.model_id, o.step) for o in client.get_run(run_id).outputs.model_outputs] == [(info.model_id, 0)]
    folder = Path(logged.artifact_location)
    assert folder.parts[-3:] == ("models", info.model_id, "artifacts")
    assert {"MLmodel", "model.skops", "requirements.txt", "input_example.json"} <= {p.name for p in folder.iterdir()}
    mlmodel = my.models.get_model_info(info.model_uri)
    assert (mlmodel.model_id, mlmodel.run_id, mlmodel.artifact_path) == (info.model_id, run_id, logged.artifact_location)

    expected = logreg.predict(X)
    for uri in (info.model_uri, f"runs:/{run_id}/model", str(folder), folder.as_uri()):
        np.testing.assert_array_equal(my.pyfunc.load_model(uri).predict(X), expected)
    assert type(my.sklearn.load_model(f"runs:/{run_id}/model")).__name__ == "LogisticRegression"


def test_runs_uri_falls_back_to_the_run_artifacts(tracking, tmp_path, iris, logreg):
    X, _ = iris
    my.sklearn.save_model(logreg, tmp_path / "legacy")
    with my.start_run() as run:
        my.log_artifacts(str(tmp_path / "legacy"), artifact_path="old/model")
    model = my.pyfunc.load_model(f"runs:/{run.info.run_id}/old/model")
    np.testing.assert_array_equal(model.predict(X), logreg.predict(X))
    with pytest.raises(ResourceDoesNotExist):
        my.pyfunc.load_model(f"runs:/{run.info.run_id}/nothing")


def test_the_newest_logged_model_of_a_name_wins(tracking, iris, logreg):
    from sklearn.dummy import DummyClassifier

    X, y = iris
    with my.start_run() as run:
        my.sklearn.log_model(logreg, name="model")
        second = my.sklearn.log_model(DummyClassifier(strategy="constant", constant=2).fit(X, y), name="model")
    got = my.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert got.metadata.model_id == second.model_id and set(got.predict(X)) == {2}


def test_a_failed_upload_marks_the_model_upload_failed(tracking, logreg):
    with my.start_run() as run:
        with pytest.raises(InvalidParameterValue, match="serialization format"):
            my.sklearn.log_model(logreg, name="broken", serialization_format="nope")
    models = my.MlflowClient().store.search_logged_models([run.info.experiment_id])
    assert [(m.name, m.status) for m in models] == [("broken", LoggedModelStatus.UPLOAD_FAILED)]


def test_log_model_without_an_active_run(tracking, logreg):
    info = my.sklearn.log_model(logreg, name="free")
    logged = my.MlflowClient().store.get_logged_model(info.model_id)
    assert (info.run_id, logged.source_run_id, logged.experiment_id) == (None, None, "0")
    assert my.pyfunc.load_model(info.model_uri).metadata.run_id is None


def test_registry_uris_go_to_the_registry_resolver(tracking, logreg, monkeypatch):
    info = my.sklearn.log_model(logreg, name="m")
    monkeypatch.delitem(model_uris.RESOLVERS, "registry", raising=False)
    with pytest.raises(NotImplementedFeature, match="model registry"):
        my.pyfunc.load_model("models:/iris/1")
    monkeypatch.setitem(model_uris.RESOLVERS, "registry", lambda uri, client: info.model_uri)
    assert my.pyfunc.load_model("models:/iris@champion").metadata.model_id == info.model_id
    with pytest.raises(ResourceDoesNotExist):
        my.pyfunc.load_model("models:/m-" + "0" * 32)


def test_registered_model_name_registers_a_version(tracking, iris, logreg):
    pytest.importorskip("modelyard.tracking.registry_fluent", reason="the model registry is not installed")
    X, _ = iris
    with my.start_run():
        info = my.sklearn.log_model(logreg, name="model", registered_model_name="iris")
    assert info.registered_model_version == 1
    np.testing.assert_array_equal(my.pyfunc.load_model("models:/iris/1").predict(X), logreg.predict(X))


def test_s3_uris(tmp_path, iris, logreg, monkeypatch):
    pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from modelyard.artifacts import get_artifact_repository
    from modelyard.artifacts import s3 as s3_module

    for name, value in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("MODELYARD_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    X, _ = iris
    my.sklearn.save_model(logreg, tmp_path / "m")
    with moto.mock_aws():
        s3_module.clear_clients()
        try:
            s3_module.s3_client(my.settings.Settings.from_env()).create_bucket(Bucket="models")
            get_artifact_repository("s3://models/iris").log_artifacts(str(tmp_path / "m"))
            model = my.pyfunc.load_model("s3://models/iris")
            np.testing.assert_array_equal(model.predict(X), logreg.predict(X))
            assert model.model_dir != tmp_path / "m"
        finally:
            s3_module.clear_clients()
