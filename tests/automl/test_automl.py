"""AutoML on small data with a handful of trials: every trial a child run, the parent's artifacts,
the summary, the reproduction script, and the errors a user sees."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import modelyard
from modelyard import automl
from modelyard.exceptions import InvalidParameterValue


def _children(parent_run_id):
    return modelyard.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'", search_all_experiments=True, output_format="list"
    )


def test_classify_logs_each_trial_as_a_child_run(tracking, churn):
    summary = automl.classify(
        churn, target_col="churned", primary_metric="roc_auc", max_trials=6, exclude_cols=["customer_id"],
        experiment_name="churn-automl", registered_model_name="churn",
    )
    assert modelyard.get_experiment(summary.experiment_id).name == "churn-automl"
    trials = {t.run_id: t for t in summary.trials}
    children = _children(summary.parent_run_id)
    assert {r.info.run_id for r in children} == set(trials)  # one run per trial, no more
    # the model families ran first at their defaults, small data's strong and cheap ones first
    assert {t.model_description for t in summary.trials} >= {
        "linear", "svm", "extra_trees", "random_forest", "xgboost", "lightgbm"
    }
    # about 1 in 5 positive: balanced class weights are part of the search
    assert all(t.params.get("class_weight") in ("none", "balanced") for t in summary.trials if t.model_description != "ensemble")
    best = summary.best_trial
    assert best.state == "COMPLETE" and best.model_path.startswith("models:/m-")
    assert best.metrics["val_roc_auc"] == max(t.metrics.get("val_roc_auc", 0) for t in summary.trials)
    run = modelyard.get_run(best.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == best.model_description
    assert {"val_roc_auc", "test_roc_auc", "val_f1", "test_log_loss", "fit_duration_s"} <= set(run.data.metrics)
    # the logged model is the whole pipeline: it takes the raw frame (missing values, strings)
    model = modelyard.pyfunc.load_model(best.model_path)
    assert set(model.metadata.get_input_schema().input_names()) >= {"tenure", "plan", "city"}
    predicted = model.predict(churn.drop(columns=["churned", "customer_id"]).head(20))
    assert set(predicted) <= {"yes", "no"}
    # the parent: leaderboard, profile, splits, script, best model (registered)
    parent = modelyard.get_run(summary.parent_run_id)
    assert parent.data.metrics["best_val_roc_auc"] == best.metrics["val_roc_auc"]
    files = {f.path for f in modelyard.list_artifacts(summary.parent_run_id)}
    assert {"leaderboard.json", "data_profile.json", "reproduce_best_trial.py", "data"} <= files
    board = json.loads(Path(modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="leaderboard.json")).read_text())
    assert board["data"][0][board["columns"].index("run_id")] == best.run_id
    profile = json.loads(Path(modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="data_profile.json")).read_text())
    assert profile["columns"]["tenure"]["missing"] > 0
    assert profile["class_balance"]["no"] > profile["class_balance"]["yes"]
    assert profile["preprocessing"]["high_cardinality"] == ["city"]
    assert profile["preprocessing"]["categorical"] == ["plan"]
    assert "signup" in profile["preprocessing"]["dropped"]
    # the parent's best model: the best configuration refitted on train + validation
    assert parent.data.metrics["best_model_test_roc_auc"] == summary.best_model_metrics["test_roc_auc"]
    refitted = modelyard.pyfunc.load_model(summary.best_model_path)
    assert set(refitted.predict(churn.head(20))) <= {"yes", "no"}
    assert summary.registered_model_version == "1"
    assert modelyard.MlflowClient().get_model_version("churn", "1").model_id == summary.best_model_path.split("/")[-1]


def test_the_generated_script_reproduces_the_best_trial(tracking, houses, tmp_path):
    summary = automl.regress(houses, target_col="price", primary_metric="rmse", max_trials=4,
                             exclude_frameworks=["sklearn"])
    best = next(t for t in summary.trials if t.model_description != "ensemble")  # the script's: the best single trial
    assert best.model_description in ("xgboost", "lightgbm")
    script = Path(modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="reproduce_best_trial.py", dst_path=str(tmp_path)))
    data = modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="data", dst_path=str(tmp_path))
    done = subprocess.run([sys.executable, str(script), data], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    rmse = float(next(line for line in out.splitlines() if line.startswith("test rmse:")).split(":")[1])
    assert rmse == pytest.approx(best.metrics["test_rmse"], rel=1e-6)


def test_time_ordered_split_and_string_multiclass_labels(tracking, churn):
    frame = churn.assign(segment=churn["plan"].map({"basic": "low", "plus": "mid", "pro": "high"}))
    frame = frame.drop(columns=["plan", "churned"])
    summary = automl.classify(frame, target_col="segment", primary_metric="accuracy", max_trials=3,
                              time_col="signup", exclude_frameworks=["lightgbm", "sklearn"])
    assert {t.model_description for t in summary.trials} == {"xgboost"}  # xgboost needs 0..k-1: decoded
    data = Path(modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="data"))
    import pandas as pd

    train, test = pd.read_parquet(data / "train.parquet"), pd.read_parquet(data / "test.parquet")
    assert train["signup"].max() < test["signup"].min()
    predicted = summary.best_trial.load_model().predict(frame.head(10))
    assert set(predicted) <= {"low", "mid", "high"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_col": "nope"}, "target_col 'nope' is not a column"),
        ({"target_col": "churned", "primary_metric": "rmse"}, "primary_metric 'rmse' is not supported by classify"),
        ({"target_col": "churned", "exclude_frameworks": ["sklearn", "xgboost", "lightgbm"]}, "no framework left"),
        ({"target_col": "churned", "exclude_frameworks": ["torch"]}, "unknown names ['torch']"),
        ({"target_col": "churned", "parallelism": 2}, "SQLite"),
        ({"target_col": "churned", "pos_label": "maybe"}, "pos_label 'maybe' is not one of the classes"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(tracking, churn, kwargs, message):
    with pytest.raises(InvalidParameterValue) as info:
        automl.classify(churn, max_trials=1, **kwargs)
    assert message in str(info.value)
    assert modelyard.active_run() is None


def test_a_budget_spent_on_preparing_still_hands_over_a_model(tracking, houses):
    summary = automl.regress(houses, target_col="price", timeout_minutes=1e-6, exclude_frameworks=["xgboost", "lightgbm"])
    assert [t.state for t in summary.trials] == ["COMPLETE"]  # the first trial always runs, and only it
    assert summary.best_model_path.startswith("models:/m-")


@pytest.mark.parametrize("model", ["lightgbm", "xgboost"])
def test_boosted_trees_report_to_optuna_and_get_pruned(model):
    """An unpromising boosted trial stops mid-training: the validation loss is reported every few
    rounds and the pruner's verdict raises TrialPruned."""
    import numpy as np
    import optuna

    from modelyard.automl import space

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.ThresholdPruner(upper=-1.0))
    trial = study.ask()
    spec = space.spec_named(model)
    estimator = spec.build(spec.defaults, space.Context(True, 2))
    with pytest.raises(optuna.TrialPruned, match="pruned at round 0"):
        space.fit(spec, estimator, X, y, X, y, None, trial, maximize=False)
    reported = study.trials[0].intermediate_values
    assert list(reported) == [0] and reported[0] > 0  # the validation loss after the first round


def test_regression_also_searches_lasso_and_classification_does_not(tracking, houses, tmp_path):
    summary = automl.regress(houses, target_col="price", primary_metric="r2", max_trials=2,
                             exclude_frameworks=["xgboost", "lightgbm", "random_forest", "hist_gradient_boosting"])
    assert [t.model_description for t in sorted(summary.trials, key=lambda t: t.number)] == ["linear", "lasso"]
    lasso = next(t for t in summary.trials if t.model_description == "lasso")
    assert lasso.params["lasso_alpha"] == 1.0 and lasso.state == "COMPLETE"  # its defaults first
    from modelyard.automl import space

    assert "lasso" not in {s.name for s in space.available_specs(None, "classification")}


def test_split_col_gives_the_search_the_callers_own_splits(tracking, houses):
    import pandas as pd

    parts = ["train"] * 60 + ["validate"] * 20 + ["test"] * 20
    frame = houses.head(100).assign(part=parts)
    summary = automl.regress(frame, target_col="price", max_trials=1, split_col="part",
                             exclude_frameworks=["xgboost", "lightgbm", "random_forest", "hist_gradient_boosting"])
    data = Path(modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="data"))
    test = pd.read_parquet(data / "test.parquet")
    assert "part" not in test.columns and len(test) == 20
    assert test["price"].tolist() == frame["price"].tail(20).tolist()
    assert len(pd.read_parquet(data / "val.parquet")) == 20
    with pytest.raises(InvalidParameterValue, match="must hold train, validate or test"):
        automl.regress(frame.assign(part=["holdout"] * 100), target_col="price", max_trials=1, split_col="part")
    with pytest.raises(InvalidParameterValue, match="has no test rows"):
        automl.regress(frame.assign(part=["train"] * 80 + ["validate"] * 20), target_col="price", max_trials=1,
                       split_col="part")


def test_a_refit_that_would_overrun_the_budget_keeps_the_best_trials_model(tracking, houses, monkeypatch):
    import modelyard.sklearn
    from modelyard.automl import search

    monkeypatch.setattr(search, "REFIT_SAFETY", 1e12)  # every refit estimated to overrun
    monkeypatch.setattr(search.space, "SMALL_ROWS", 0)  # a validation split (cross-validated trials need no refit)
    summary = automl.regress(houses, target_col="price", max_trials=2, timeout_minutes=10,
                             exclude_frameworks=["xgboost", "lightgbm", "random_forest", "hist_gradient_boosting"])
    assert summary.refit.startswith("skipped: refitting would take")
    assert summary.best_model_metrics is None  # no refitted model, so no test metrics of one
    parent = modelyard.MlflowClient().get_run(summary.parent_run_id)
    assert parent.data.tags["modelyard.automl.refit"] == summary.refit
    assert "best_model_test_r2" not in parent.data.metrics
    best = summary.best_trial.load_model()
    handed = modelyard.sklearn.load_model(summary.best_model_path)
    frame = houses.drop(columns=["price"]).head(5)
    assert handed.predict(frame).tolist() == best.predict(frame).tolist()
