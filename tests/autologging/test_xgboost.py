"""XGBoost autologging: xgboost.train and the scikit-learn API."""

import json

import numpy as np
import pandas as pd
import pytest
import xgboost

import modelyard


def history(run_id, key):
    return [(m.step, m.value) for m in sorted(modelyard.get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.fixture
def dmatrices(classification):
    X, y = classification
    frame = pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"])
    return xgboost.DMatrix(frame[:180], y[:180]), xgboost.DMatrix(frame[180:], y[180:])


def test_train_logs_params_history_datasets_importance_and_keeps_user_callbacks(dmatrices, only_run):
    dtrain, dvalid = dmatrices
    seen = []

    class Count(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            seen.append(epoch)
            return False

    callbacks = [Count()]
    modelyard.xgboost.autolog(log_models=False)
    params = {"objective": "binary:logistic", "eval_metric": ["logloss", "error"], "max_depth": 2}
    xgboost.train(params, dtrain, 8, evals=[(dtrain, "train"), (dvalid, "valid")], callbacks=callbacks, verbose_eval=False)

    assert seen == list(range(8)) and len(callbacks) == 1  # the user's list is not modified
    run = only_run()
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["num_boost_round"] == "8"
    assert run.data.params["eval_metric"] == "['logloss', 'error']"
    valid = history(run.info.run_id, "valid-logloss")
    assert [step for step, _ in valid] == list(range(8))
    assert valid[-1][1] < valid[0][1]
    assert {"train-logloss", "train-error", "valid-error"} <= set(run.data.metrics)
    assert "best_iteration" not in run.data.metrics  # no early stopping
    contexts = {(d.dataset.name, d.tags[0].value) for d in run.inputs.dataset_inputs}
    assert contexts == {("dataset", "train"), ("valid", "eval")}
    artifacts = {a.path for a in modelyard.list_artifacts(run.info.run_id)}
    assert artifacts == {"feature_importance_weight.json", "feature_importance_weight.png"}
    path = modelyard.download_artifacts(run_id=run.info.run_id, artifact_path="feature_importance_weight.json")
    assert set(json.load(open(path))) <= {"f0", "f1", "f2", "f3"}


def test_early_stopping_logs_best_and_stopped_iteration(only_run):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + rng.normal(scale=2.0, size=200) > 0).astype(int)  # noisy: validation loss turns up early
    dtrain, dvalid = xgboost.DMatrix(X[:100], y[:100]), xgboost.DMatrix(X[100:], y[100:])
    modelyard.xgboost.autolog(log_models=False, importance_types=["gain", "cover"])
    booster = xgboost.train(
        {"objective": "binary:logistic", "eta": 0.5, "max_depth": 6}, dtrain, 200,
        evals=[(dvalid, "valid")], early_stopping_rounds=3, verbose_eval=False,
    )
    run = only_run()
    stopped = booster.num_boosted_rounds() - 1
    assert stopped < 199
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == stopped
    steps = history(run.info.run_id, "valid-logloss")
    assert len(steps) == stopped + 2  # every round, then the best round's value once more
    assert steps[-1] == (stopped + 1, steps[booster.best_iteration][1])
    assert run.data.params["early_stopping_rounds"] == "3"
    assert {a.path for a in modelyard.list_artifacts(run.info.run_id)} >= {"feature_importance_gain.json", "feature_importance_cover.png"}


def test_sklearn_api_logs_once_with_eval_history_and_training_metrics(classification, only_run):
    X, y = classification
    modelyard.xgboost.autolog(log_models=False)
    model = xgboost.XGBClassifier(n_estimators=6, max_depth=2, early_stopping_rounds=2)
    model.fit(X[:180], y[:180], eval_set=[(X[180:], y[180:])], verbose=False)

    run = only_run()  # the inner xgboost.train call is not a second run
    assert run.data.tags["estimator_name"] == "XGBClassifier"
    assert run.data.params["n_estimators"] == "6"
    assert run.data.params["max_depth"] == "2"
    assert "training_accuracy_score" in run.data.metrics and "training_roc_auc" in run.data.metrics
    steps = history(run.info.run_id, "validation_0-logloss")
    assert [s for s, _ in steps][: model.best_iteration + 1] == list(range(model.best_iteration + 1))
    assert run.data.metrics["best_iteration"] == model.best_iteration
    assert {(d.dataset.name, d.tags[0].value) for d in run.inputs.dataset_inputs} == {("dataset", "train"), ("validation_0", "eval")}


def test_regressor_model_is_logged_and_loads(regression, only_run):
    X, y = regression
    modelyard.xgboost.autolog()
    model = xgboost.XGBRegressor(n_estimators=5).fit(X, y)
    run = only_run()
    assert "training_r2_score" in run.data.metrics
    [output] = run.outputs.model_outputs
    uri = f"models:/{output.model_id}"
    assert modelyard.models.get_model_info(uri).signature is not None
    np.testing.assert_allclose(modelyard.pyfunc.load_model(uri).predict(X), model.predict(X), rtol=1e-6)


def test_booster_model_is_logged_with_feature_names(dmatrices, only_run):
    dtrain, _ = dmatrices
    modelyard.xgboost.autolog(log_input_examples=True)
    xgboost.train({"objective": "binary:logistic"}, dtrain, 3)
    [output] = only_run().outputs.model_outputs
    info = modelyard.models.get_model_info(f"models:/{output.model_id}")
    assert info.signature.inputs.input_names() == ["f0", "f1", "f2", "f3"]
    assert info.saved_input_example_info is not None
