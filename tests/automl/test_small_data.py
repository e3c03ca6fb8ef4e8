"""Small data (train + validation up to ``space.SMALL_ROWS`` rows): trials chosen by k-fold
cross-validation, kernel SVMs searched, and the greedy ensemble of the best trials recorded as a
trial of its own."""

import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard import automl
from modelyard.automl import ensemble, space, trial
from modelyard.automl.data import Splits

ONLY_SVM = ["xgboost", "lightgbm", "linear", "lasso", "random_forest", "extra_trees", "hist_gradient_boosting"]


def _config(classification, classes=(), folds=5, metric=None):
    return trial.SearchConfig(
        task="classification" if classification else "regression", target_col="y",
        primary_metric=metric or ("accuracy" if classification else "r2"), models=["linear"],
        plan={"numeric": ["a", "b", "c"]}, experiment_id="0", parent_run_id="p", tracking_uri="", deadline=None,
        max_trials=None, classes=list(classes), pos_label=1 if classification else None, cv_folds=folds,
    )


def _frame(n, seed, classification):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    signal = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.5, size=n)
    y = (signal > 0).astype(int) if classification else signal
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y})


def test_a_trial_is_scored_out_of_fold_and_its_model_fitted_on_train_and_validation():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = _frame(150, 0, True)
    splits = Splits(frame.iloc[:70], frame.iloc[70:100], frame.iloc[100:])
    config = _config(True, classes=[0, 1])
    result = trial.fit_pipeline(config, splits, "linear", {"linear_C": 0.5})
    both = frame.iloc[:100]
    X, y = both[["a", "b", "c"]], both["y"]
    # the validation metrics: every row of train + validation predicted by the fold that held it out
    predicted = np.empty(100, dtype=int)
    for fit_rows, held in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
        predicted[held] = model.fit(X.iloc[fit_rows], y.iloc[fit_rows]).predict(X.iloc[held])
    assert result.val["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert result.oof.shape == (100, 2) and np.allclose(result.oof.sum(axis=1), 1.0)
    # the trial's model: the configuration fitted on all 100 rows, scored on test
    whole = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(X, y)
    test_X = splits.test[["a", "b", "c"]]
    assert np.allclose(result.pipeline.predict_proba(test_X), whole.predict_proba(test_X))
    assert result.test["accuracy"] == pytest.approx(accuracy_score(splits.test["y"], whole.predict(test_X)))


def test_boosted_folds_stop_early_and_the_final_fit_takes_their_mean_rounds():
    frame = _frame(200, 1, False)
    splits = Splits(frame.iloc[:120], frame.iloc[120:160], frame.iloc[160:])
    params = {**space.spec_named("lightgbm").defaults, "lgbm_learning_rate": 0.3}
    result = trial.fit_pipeline(_config(False), splits, "lightgbm", params)
    rounds = result.learnt["best_iteration"]
    assert 1 <= rounds < space.MAX_BOOSTING_ROUNDS
    assert result.pipeline.named_steps["model"].n_estimators == rounds  # no early stopping on all rows
    assert result.oof.shape == (160,) and set(result.val) >= {"r2", "rmse"}


def test_the_greedy_ensemble_mixes_trials_whose_errors_differ():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    a, b = y + rng.normal(scale=1.0, size=400), y + rng.normal(scale=1.0, size=400)
    noisy = y + rng.normal(scale=3.0, size=400)
    cands = [ensemble.Candidate(n, 0.0, None, oof) for n, oof in ((1, a), (2, b), (3, noisy))]
    picks, value = ensemble.select(cands, y, "rmse", maximize=False, classes=None, pos_label=None)
    assert set(picks) >= {1, 2} and picks.get(3, 0) < min(picks[1], picks[2])
    alone = float(np.sqrt(np.mean((a - y) ** 2)))
    assert value < 0.8 * alone  # two independent errors averaged: about 1/sqrt(2) of one
    # a copy of the best trial adds nothing: no ensemble
    assert ensemble.select([cands[0], ensemble.Candidate(4, 0.0, None, a.copy())], y, "rmse", False, None, None) is None


def test_candidates_keep_the_best_few_trials():
    kept = ensemble.Candidates(maximize=True, top=2)
    for number, value in ((0, 0.5), (1, 0.9), (2, float("nan")), (3, 0.7), (4, 0.6)):
        kept.offer(ensemble.Candidate(number, value, None, np.zeros(3)))
    kept.offer(ensemble.Candidate(5, 0.99, None, None))  # no out-of-fold outputs: not a candidate
    assert [c.number for c in kept.kept] == [1, 3]


def test_a_small_search_is_cross_validated_and_its_ensemble_is_a_trial_with_a_model(tracking, churn):
    summary = automl.classify(churn, target_col="churned", primary_metric="roc_auc", max_trials=6,
                              exclude_cols=["customer_id"])
    parent = modelyard.get_run(summary.parent_run_id)
    assert parent.data.params["cv_folds"] == "5"
    assert summary.refit.startswith("not needed: cross-validated")
    singles = [t for t in summary.trials if t.model_description != "ensemble" and t.state == "COMPLETE"]
    # small data: a kernel SVM family, and the strong and cheap families' defaults first
    assert [t.model_description for t in sorted(singles, key=lambda t: t.number)] == [
        "linear", "svm", "extra_trees", "random_forest", "lightgbm", "xgboost"]
    ens = [t for t in summary.trials if t.model_description == "ensemble"]
    assert len(singles) == 6 and len(ens) == 1  # the ensemble beat the best single trial here
    ens = ens[0]
    assert ens.metrics["val_roc_auc"] > max(t.metrics["val_roc_auc"] for t in singles)
    assert summary.best_trial.number == ens.number
    members = dict(part.split(":") for part in ens.params["members"].split(","))
    assert len(members) >= 2 and {int(n) for n in members} <= {t.number for t in singles}
    assert sum(float(w) for w in members.values()) == pytest.approx(1.0, abs=0.01)
    run = modelyard.get_run(ens.run_id)  # one child run, like any trial
    assert run.data.tags["mlflow.parentRunId"] == summary.parent_run_id and run.info.status == "FINISHED"
    assert run.data.params["model"] == "ensemble" and "test_roc_auc" in run.data.metrics
    frame = churn.drop(columns=["churned", "customer_id"]).head(20)
    loaded = modelyard.pyfunc.load_model(ens.model_path)  # the ensemble pipeline loads with pyfunc
    assert set(loaded.predict(frame)) <= {"yes", "no"}
    handed = modelyard.pyfunc.load_model(summary.best_model_path)
    assert list(handed.predict(frame)) == list(loaded.predict(frame))
    assert summary.best_model_metrics["test_roc_auc"] == ens.metrics["test_roc_auc"]


def test_svm_regression_is_scripted_on_train_and_validation(tracking, houses, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    summary = automl.regress(houses, target_col="price", primary_metric="rmse", max_trials=3,
                             exclude_frameworks=ONLY_SVM)
    singles = [t for t in summary.trials if t.model_description != "ensemble"]
    assert {t.model_description for t in singles} == {"svm"}
    best = min(singles, key=lambda t: t.metrics["val_rmse"])
    script = Path(modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="reproduce_best_trial.py",
                                               dst_path=str(tmp_path)))
    data = modelyard.download_artifacts(run_id=summary.parent_run_id, artifact_path="data", dst_path=str(tmp_path))
    done = subprocess.run([sys.executable, str(script), data], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rmse = float(next(line for line in done.stdout.splitlines() if line.startswith("test rmse:")).split(":")[1])
    assert rmse == pytest.approx(best.metrics["test_rmse"], rel=1e-6)


def test_svms_are_searched_on_small_data_only(monkeypatch):
    assert "svm" in {s.name for s in space.available_specs(None, "classification", rows=space.SMALL_ROWS)}
    assert "svm" not in {s.name for s in space.available_specs(None, "regression", rows=space.SMALL_ROWS + 1)}


def test_svm_classifier_answers_in_the_labels_with_probabilities(tracking, churn):
    summary = automl.classify(churn, target_col="churned", primary_metric="log_loss", max_trials=2,
                              exclude_frameworks=ONLY_SVM, exclude_cols=["customer_id"])
    model = summary.best_trial.load_model()
    frame = churn.drop(columns=["churned"]).head(10)
    proba = model.predict_proba(frame)
    assert proba.shape == (10, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(frame)) <= {"yes", "no"} and list(model.classes_) == ["no", "yes"]


def test_large_data_keeps_its_validation_split(tracking, houses, monkeypatch):
    monkeypatch.setattr(space, "SMALL_ROWS", 100)  # houses' 240 rows of train + validation: "large"
    summary = automl.regress(houses, target_col="price", max_trials=2, exclude_frameworks=["xgboost", "lightgbm"])
    assert modelyard.get_run(summary.parent_run_id).data.params["cv_folds"] == "0"
    assert "ensemble" not in {t.model_description for t in summary.trials}
    assert summary.refit.startswith("refitted on train+validation")


def test_a_cross_validated_trial_the_deadline_overtakes_is_pruned_once_a_model_exists():
    import dataclasses
    import time

    import optuna

    frame = _frame(100, 2, False)
    splits = Splits(frame.iloc[:60], frame.iloc[60:80], frame.iloc[80:])
    late = dataclasses.replace(_config(False), deadline=time.time() - 1)
    with pytest.raises(optuna.TrialPruned, match="after 0 of 5 folds"):
        trial.fit_pipeline(late, splits, "linear", {"linear_C": 1.0}, stop_at_deadline=True)
    # the search's first trial (no model yet) still completes: a search always hands one over
    assert trial.fit_pipeline(late, splits, "linear", {"linear_C": 1.0}).oof.shape == (80,)
