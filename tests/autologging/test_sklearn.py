"""scikit-learn autologging: what one fit logs, as a user reads it back."""

import json

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import modelyard
from modelyard.autologging import safety


def _identity(X, pad):
    return X


def artifact_paths(run_id, path=None):
    return sorted(a.path for a in modelyard.list_artifacts(run_id, path))


def test_classifier_fit_logs_params_metrics_tags_dataset_and_artifacts(classification, only_run):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    model = LogisticRegression(C=0.5).fit(X, y)

    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.params["C"] == "0.5"
    assert set(run.data.params) == set(model.get_params(deep=True))
    assert artifact_paths(run.info.run_id) == ["estimator.html", "training_confusion_matrix.png"]
    png = modelyard.download_artifacts(run_id=run.info.run_id, artifact_path="training_confusion_matrix.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    metrics = run.data.metrics
    assert set(metrics) == {
        "training_accuracy_score", "training_precision_score", "training_recall_score", "training_f1_score",
        "training_log_loss", "training_roc_auc", "training_score",
    }
    y_pred = model.predict(X)
    assert metrics["training_accuracy_score"] == pytest.approx(sklearn.metrics.accuracy_score(y, y_pred))
    assert metrics["training_f1_score"] == pytest.approx(sklearn.metrics.f1_score(y, y_pred, average="weighted"))
    assert metrics["training_roc_auc"] == pytest.approx(sklearn.metrics.roc_auc_score(y, model.predict_proba(X)[:, 1]))
    assert metrics["training_score"] == pytest.approx(model.score(X, y))
    [dataset_input] = run.inputs.dataset_inputs
    assert [(t.key, t.value) for t in dataset_input.tags] == [("mlflow.data.context", "train")]
    assert dataset_input.dataset.name == "dataset"
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == len(X)
    assert "mlflow_tensorspec" in json.loads(dataset_input.dataset.schema)
    assert not run.outputs.model_outputs


def test_regressor_metrics(regression, only_run):
    X, y = regression
    modelyard.sklearn.autolog(log_models=False)
    model = LinearRegression().fit(X, y)
    metrics = only_run().data.metrics
    mse = sklearn.metrics.mean_squared_error(y, model.predict(X))
    assert metrics["training_mean_squared_error"] == pytest.approx(mse)
    assert metrics["training_root_mean_squared_error"] == pytest.approx(np.sqrt(mse))
    assert metrics["training_mean_absolute_error"] == pytest.approx(sklearn.metrics.mean_absolute_error(y, model.predict(X)))
    assert metrics["training_r2_score"] == pytest.approx(model.score(X, y))
    assert metrics["training_score"] == pytest.approx(model.score(X, y))


def test_sample_weight_is_used_for_training_metrics(classification, only_run):
    X, y = classification
    weights = np.where(y == 1, 3.0, 1.0)
    modelyard.sklearn.autolog(log_models=False)
    model = LogisticRegression().fit(X, y, sample_weight=weights)
    expected = sklearn.metrics.accuracy_score(y, model.predict(X), sample_weight=weights)
    assert only_run().data.metrics["training_accuracy_score"] == pytest.approx(expected)


def test_pipeline_fit_transform_and_fit_predict_each_log_one_run(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    StandardScaler().fit_transform(X)
    KMeans(n_clusters=2, n_init=2, random_state=0).fit_predict(X)

    found = runs(order_by=["attributes.start_time ASC"])
    assert [r.data.tags["estimator_name"] for r in found] == ["Pipeline", "StandardScaler", "KMeans"]
    pipeline_run = found[0]
    assert pipeline_run.data.params["clf__C"] == "1.0"
    assert "scale__with_mean" in pipeline_run.data.params
    assert "training_accuracy_score" in pipeline_run.data.metrics
    assert "training_score" in found[2].data.metrics  # KMeans.score: the negative inertia
    assert all(r.info.status == "FINISHED" for r in found)


def test_dataframe_dataset_has_column_schema(classification, only_run):
    X, y = classification
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(d=lambda f: (f.d > 0).astype("int64"))
    modelyard.sklearn.autolog(log_models=False)
    LogisticRegression().fit(frame, y)
    dataset = only_run().inputs.dataset_inputs[0].dataset
    assert json.loads(dataset.schema) == {"mlflow_colspec": [
        {"type": "double", "name": "a", "required": True}, {"type": "double", "name": "b", "required": True},
        {"type": "double", "name": "c", "required": True}, {"type": "long", "name": "d", "required": True},
    ]}
    assert json.loads(dataset.profile) == {"num_rows": 240, "num_elements": 960}
    assert dataset.source_type == "code"


def test_long_param_values_are_truncated_not_fatal(classification, only_run):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    step = FunctionTransformer(_identity, kw_args={"pad": "x" * 7000})
    Pipeline([("f", step), ("clf", LogisticRegression())]).fit(X, y)
    params = only_run().data.params
    assert len(params["f__kw_args"]) == 6000
    assert "training_accuracy_score" in only_run().data.metrics


def test_grid_search_parent_and_child_runs(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False, max_tuning_runs=2)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    search = GridSearchCV(pipe, {"clf__C": [0.01, 0.1, 1.0]}, cv=3).fit(X, y)

    found = runs()
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    [parent] = parents
    assert parent.data.tags["estimator_name"] == "GridSearchCV"
    assert parent.data.params["best_clf__C"] == str(search.best_params_["clf__C"])
    assert parent.data.params["estimator__clf__C"] == "1.0"
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert "training_accuracy_score" in parent.data.metrics
    assert "cv_results.csv" in artifact_paths(parent.info.run_id)
    csv = modelyard.download_artifacts(run_id=parent.info.run_id, artifact_path="cv_results.csv")
    assert len(pd.read_csv(csv)) == 3

    assert len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    ranks = sorted(c.data.metrics["rank_test_score"] for c in children)
    assert ranks == sorted(search.cv_results_["rank_test_score"])[:2]
    for child in children:
        assert child.info.status == "FINISHED"
        assert {"mean_test_score", "std_test_score", "mean_fit_time"} <= set(child.data.metrics)
        assert child.data.params["clf__C"] in {"0.01", "0.1", "1.0"}
        assert "scale__with_mean" in child.data.params  # the base estimator's params too
        assert child.inputs.dataset_inputs[0].dataset.digest == parent.inputs.dataset_inputs[0].dataset.digest


@pytest.mark.parametrize("max_tuning_runs, expected", [(None, 4), (0, 0)])
def test_randomized_search_max_tuning_runs(classification, runs, max_tuning_runs, expected):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False, max_tuning_runs=max_tuning_runs)
    RandomizedSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0, 10.0]}, n_iter=4, cv=2, random_state=0).fit(X, y)
    found = runs()
    assert len([r for r in found if "mlflow.parentRunId" in r.data.tags]) == expected
    assert len(found) == expected + 1


def test_cross_val_score_does_not_autolog_its_folds(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    cross_val_score(LogisticRegression(), X, y, cv=3)
    assert runs() == []


def test_post_training_metrics_use_the_dataset_variable_name(classification, only_run):
    X, y = classification
    X_train, X_test, y_train, y_test = X[:160], X[160:], y[:160], y[160:]
    modelyard.sklearn.autolog(log_models=False)
    model = LogisticRegression().fit(X_train, y_train)
    run_id = only_run().info.run_id

    y_pred = model.predict(X_test)
    acc = sklearn.metrics.accuracy_score(y_test, y_pred)
    again = sklearn.metrics.accuracy_score(y_test, y_pred)
    f1 = sklearn.metrics.f1_score(y_test, y_pred)
    score = model.score(X_test, y_test)
    unrelated = sklearn.metrics.accuracy_score(y_test, y_test)  # not a tracked prediction

    metrics = modelyard.get_run(run_id).data.metrics
    assert metrics["accuracy_score_X_test"] == pytest.approx(acc) == pytest.approx(again)
    assert metrics["accuracy_score-2_X_test"] == pytest.approx(again)
    assert metrics["f1_score_X_test"] == pytest.approx(f1)
    assert metrics["LogisticRegression_score_X_test"] == pytest.approx(score)
    assert unrelated == 1.0 and not any(k.startswith("accuracy_score-3") for k in metrics)
    info_path = modelyard.download_artifacts(run_id=run_id, artifact_path="metric_info.json")
    info = json.load(open(info_path))
    assert info["accuracy_score_X_test"] == "accuracy_score(y_true=y_test, y_pred=y_pred)"


def test_post_training_metrics_off(classification, only_run):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False, log_post_training_metrics=False)
    model = LogisticRegression().fit(X, y)
    sklearn.metrics.accuracy_score(y, model.predict(X))
    assert not any(k.endswith("_X") for k in only_run().data.metrics)


def test_log_datasets_false_and_extra_tags(classification, only_run):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False, log_datasets=False, extra_tags={"team": "fraud", "mlflow.autologging": "x"})
    LogisticRegression().fit(X, y)
    run = only_run()
    assert run.inputs.dataset_inputs == ()
    assert run.data.tags["team"] == "fraud"
    assert run.data.tags["mlflow.autologging"] == "sklearn"  # reserved: extra_tags cannot override it


def test_model_is_logged_with_signature_and_loads_back(classification, only_run):
    X, y = classification
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    modelyard.sklearn.autolog(log_input_examples=True)
    model = LogisticRegression().fit(frame, y)

    run = only_run()
    [output] = run.outputs.model_outputs
    uri = f"models:/{output.model_id}"
    info = modelyard.models.get_model_info(uri)
    assert info.signature is not None
    assert info.signature.inputs.input_names() == ["a", "b", "c", "d"]
    assert info.saved_input_example_info is not None
    loaded = modelyard.pyfunc.load_model(uri)
    np.testing.assert_array_equal(np.asarray(loaded.predict(frame)), model.predict(frame))


def test_grid_search_logs_model_and_best_estimator(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(log_model_signatures=False, max_tuning_runs=0)
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    [parent] = runs()
    assert len(parent.outputs.model_outputs) == 2
    infos = [modelyard.models.get_model_info(f"models:/{o.model_id}") for o in parent.outputs.model_outputs]
    assert all(i.signature is None for i in infos)


def test_autolog_failure_while_logging_the_model_is_a_warning(classification, only_run, lenient, monkeypatch):
    import modelyard.flavors.sklearn as flavor

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(flavor, "log_model", broken)
    monkeypatch.setattr(modelyard.sklearn, "log_model", broken)
    X, y = classification
    modelyard.sklearn.autolog()
    with pytest.warns(safety.AutologgingWarning, match="logging the model: RuntimeError: disk full"):
        model = LogisticRegression().fit(X, y)
    assert model.coef_.shape == (1, 4)
    run = only_run()
    assert run.info.status == "FINISHED" and "training_accuracy_score" in run.data.metrics


def test_registered_model_name_registers_each_autologged_model(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(registered_model_name="churn", max_tuning_runs=0, log_model_signatures=False)
    LogisticRegression().fit(X, y)
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)  # "model" only, not best_estimator
    versions = modelyard.MlflowClient().search_model_versions("name='churn'")
    model_ids = {o.model_id for r in runs() for o in r.outputs.model_outputs}
    assert sorted(v.version for v in versions) == ["1", "2"]
    assert {v.source.removeprefix("models:/") for v in versions} <= model_ids
