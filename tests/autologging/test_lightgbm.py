"""LightGBM autologging: lightgbm.train and the scikit-learn API."""

import json

import lightgbm
import numpy as np
import pandas as pd
import pytest

import modelyard


def history(run_id, key):
    return [(m.step, m.value) for m in sorted(modelyard.get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.fixture
def frames(classification):
    X, y = classification
    return pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"]), y


def test_train_logs_params_history_datasets_importance_and_keeps_user_callbacks(frames, only_run):
    X, y = frames
    train_set = lightgbm.Dataset(X[:180], y[:180])
    valid_set = lightgbm.Dataset(X[180:], y[180:], reference=train_set)
    record = {}
    callbacks = [lightgbm.record_evaluation(record)]
    modelyard.lightgbm.autolog(log_models=False)
    lightgbm.train(
        {"objective": "binary", "metric": ["binary_logloss", "auc"], "num_leaves": 7, "verbose": -1},
        train_set, 10, valid_sets=[train_set, valid_set], valid_names=["training", "valid"], callbacks=callbacks,
    )

    assert len(callbacks) == 1 and len(record["valid"]["auc"]) == 10
    run = only_run()
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    assert run.data.params["num_leaves"] == "7"
    assert run.data.params["num_boost_round"] == "10"
    steps = history(run.info.run_id, "valid-binary_logloss")
    assert [s for s, _ in steps] == list(range(10))
    assert [v for _, v in steps] == pytest.approx(record["valid"]["binary_logloss"])
    assert {"training-auc", "training-binary_logloss", "valid-auc"} <= set(run.data.metrics)
    inputs = {(d.dataset.name, d.tags[0].value): d.dataset for d in run.inputs.dataset_inputs}
    assert set(inputs) == {("dataset", "train"), ("valid", "eval")}
    assert json.loads(inputs[("dataset", "train")].profile)["num_rows"] == 180
    assert [c["name"] for c in json.loads(inputs[("dataset", "train")].schema)["mlflow_colspec"]] == ["f0", "f1", "f2", "f3"]
    artifacts = {a.path for a in modelyard.list_artifacts(run.info.run_id)}
    assert artifacts == {f"feature_importance_{t}.{ext}" for t in ("split", "gain") for ext in ("json", "png")}


def test_early_stopping_logs_best_iteration(only_run):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(scale=2.0, size=300) > 0).astype(int)
    train_set = lightgbm.Dataset(X[:150], y[:150])
    valid_set = lightgbm.Dataset(X[150:], y[150:], reference=train_set)
    record = {}
    modelyard.lightgbm.autolog(log_models=False)
    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1}, train_set, 300, valid_sets=[valid_set],
        callbacks=[lightgbm.early_stopping(3, verbose=False), lightgbm.record_evaluation(record)],
    )
    run = only_run()
    trained = len(record["valid_0"]["binary_logloss"])  # the returned booster is cut at the best round
    assert 1 < booster.best_iteration < trained < 300
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == trained
    steps = history(run.info.run_id, "valid_0-binary_logloss")
    assert len(steps) == trained + 1  # the last round is recorded before early stopping ends training
    assert steps[-1] == (trained, steps[booster.best_iteration - 1][1])


def test_sklearn_api_logs_once(frames, only_run):
    X, y = frames
    modelyard.lightgbm.autolog(log_models=False)
    model = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1)
    model.fit(X[:180], y[:180], eval_X=(X[180:],), eval_y=(y[180:],))
    run = only_run()
    assert run.data.tags["estimator_name"] == "LGBMClassifier"
    assert run.data.params["num_leaves"] == "7"
    assert "training_log_loss" in run.data.metrics
    assert [s for s, _ in history(run.info.run_id, "valid_0-binary_logloss")] == list(range(5))
    assert "feature_importance_split.json" in {a.path for a in modelyard.list_artifacts(run.info.run_id)}
    inputs = {(d.dataset.name, d.tags[0].value): d.dataset for d in run.inputs.dataset_inputs}
    assert set(inputs) == {("dataset", "train"), ("valid_0", "eval")}
    assert json.loads(inputs[("valid_0", "eval")].profile)["num_rows"] == 60


def test_models_are_logged_and_load(frames, regression, runs):
    X, y = frames
    modelyard.lightgbm.autolog()
    booster = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y), 5)
    Xr, yr = regression
    regressor = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(Xr, yr)
    newest, oldest = runs(order_by=["attributes.start_time DESC"])
    booster_uri = f"models:/{oldest.outputs.model_outputs[0].model_id}"
    np.testing.assert_allclose(modelyard.pyfunc.load_model(booster_uri).predict(X), booster.predict(X), rtol=1e-6)
    regressor_uri = f"models:/{newest.outputs.model_outputs[0].model_id}"
    assert modelyard.models.get_model_info(regressor_uri).signature is not None
    np.testing.assert_allclose(modelyard.pyfunc.load_model(regressor_uri).predict(Xr), regressor.predict(Xr), rtol=1e-6)
