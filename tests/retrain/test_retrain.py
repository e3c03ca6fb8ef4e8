"""Retraining: a better challenger takes @champion, a worse one stays @challenger, manual approval,
the gates, and the promotion history naming the evaluation run and the reason."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from modelyard import retrain
from modelyard.exceptions import InvalidParameterValue, InvalidState


def _frame(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = ((X[:, 0] + X[:, 1] * (1 + shift) + shift * X[:, 2]) + 0.3 * rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(label=y)


def fit_weak(frame, target):  # one feature only
    return LogisticRegression().fit(frame[["a", "b", "c", "d"]].assign(b=0.0, c=0.0, d=0.0), frame[target])


def fit_strong(frame, target):
    return LogisticRegression().fit(frame[["a", "b", "c", "d"]], frame[target])


GATES = {"min": {"roc_auc": 0.6}, "max_drop": {"roc_auc": 0.0}, "max_p95_latency_ms": 1000, "max_model_mb": 50}


def _champion(name):
    return modelyard.MlflowClient().get_model_version_by_alias(name, "champion").version


def test_a_better_challenger_is_promoted_and_the_history_says_why():
    train, holdout = _frame(600, 0, shift=1.0), _frame(300, 1, shift=1.0)
    first = retrain.retrain("churn", train, holdout, target_col="label", train=fit_weak, gates=GATES)
    assert first.promoted and first.champion_version is None  # the first version: nothing to beat
    second = retrain.retrain("churn", train, holdout, target_col="label", train=fit_strong, gates=GATES)
    assert second.promoted and second.status == "promoted" and second.champion_version == first.challenger_version
    assert _champion("churn") == second.challenger_version
    assert second.challenger_metrics["roc_auc"] > second.champion_metrics["roc_auc"]
    # the evaluation run: both models side by side, the gates
    run = modelyard.get_run(second.evaluation_run_id)
    assert run.data.metrics["challenger_roc_auc"] > run.data.metrics["champion_roc_auc"]
    assert {"challenger_p95_latency_ms", "champion_p95_latency_ms", "challenger_model_mb", "champion_model_mb"} <= set(run.data.metrics)
    gates = json.loads(Path(modelyard.download_artifacts(run_id=run.info.run_id, artifact_path="gates.json")).read_text())
    assert {g["gate"] for g in gates["gates"]} == {
        "min.roc_auc", "max_drop.roc_auc", "max_p95_latency_ms", "max_model_mb", "signature_compatible"
    }
    assert all(g["passed"] for g in gates["gates"])
    # the promotion history names the run and the reason
    moved = modelyard.MlflowClient().get_alias_history("churn", "champion")[0]
    assert (moved.from_version, moved.to_version) == (first.challenger_version, second.challenger_version)
    assert moved.reason == f"retrain: every gate passed (evaluation run {second.evaluation_run_id})"


def test_a_worse_challenger_stays_challenger_and_the_champion_keeps_its_alias():
    train, holdout = _frame(600, 0, shift=1.0), _frame(300, 1, shift=1.0)
    strong = retrain.retrain("fraud", train, holdout, target_col="label", train=fit_strong, gates=GATES)
    weak = retrain.retrain("fraud", train, holdout, target_col="label", train=fit_weak, gates=GATES)
    assert not weak.promoted and weak.status == "rejected"
    assert [g.gate for g in weak.failed_gates] == ["max_drop.roc_auc"]
    assert "drop" in weak.failed_gates[0].detail
    client = modelyard.MlflowClient()
    assert _champion("fraud") == strong.challenger_version
    assert client.get_model_version_by_alias("fraud", "challenger").version == weak.challenger_version
    assert client.get_model_version("fraud", weak.challenger_version).tags["modelyard.retrain.status"] == "rejected"
    assert weak.reason == "retrain: gates failed: max_drop.roc_auc"
    with pytest.raises(InvalidState, match="not awaiting approval"):
        retrain.approve("fraud", weak.challenger_version)


def test_manual_approval_moves_the_champion_only_when_approved():
    train, holdout = _frame(600, 0), _frame(300, 1)
    first = retrain.retrain("eta", train, holdout, target_col="label", train=fit_weak, gates=GATES)
    pending = retrain.retrain("eta", data=lambda: (train, holdout), target_col="label", train=fit_strong, gates=GATES,
                              approval="manual")
    assert pending.status == "awaiting_approval" and not pending.promoted
    assert _champion("eta") == first.challenger_version
    retrain.approve("eta", pending.challenger_version, user_note="looks good")
    assert _champion("eta") == pending.challenger_version
    reason = modelyard.MlflowClient().get_alias_history("eta", "champion")[0].reason
    assert reason.startswith("retrain: approved (looks good); gates passed in run ")


def test_size_latency_and_signature_gates(tmp_path, monkeypatch):
    train, holdout = _frame(400, 0), _frame(200, 1)
    retrain.retrain("sig", train, holdout, target_col="label", train=fit_strong, gates=GATES)
    (tmp_path / "extra_train.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "def fit(frame, target):\n"
        "    return LogisticRegression().fit(frame.drop(columns=[target]), frame[target])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    wider = holdout.assign(e=1.0)
    result = retrain.retrain("sig", train.assign(e=1.0), wider, target_col="label", train="extra_train:fit",
                             gates={"max_model_mb": 1e-6, "max_p95_latency_ms": 1e-6})
    assert {g.gate for g in result.failed_gates} == {"max_model_mb", "max_p95_latency_ms", "signature_compatible"}
    assert "requires 'e'" in next(g.detail for g in result.failed_gates if g.gate == "signature_compatible")


def test_automl_as_the_trainer():
    train, holdout = _frame(400, 0), _frame(200, 1)
    result = retrain.retrain("auto", train, holdout, target_col="label", gates=GATES,
                             train={"primary_metric": "roc_auc", "max_trials": 2, "exclude_frameworks": ["sklearn"]})
    assert result.promoted and result.challenger_metrics["roc_auc"] > 0.8


def test_bad_input_names_the_field():
    train, holdout = _frame(100, 0), _frame(50, 1)
    with pytest.raises(InvalidParameterValue, match="approval must be 'none' or 'manual'"):
        retrain.retrain("x", train, holdout, target_col="label", approval="sometimes")
    with pytest.raises(InvalidParameterValue, match="unknown gates \\['min_auc'\\]"):
        retrain.retrain("x", train, holdout, target_col="label", gates={"min_auc": 0.5})
    with pytest.raises(InvalidParameterValue, match="cannot import nothing from nowhere_module"):
        retrain.retrain("x", train, holdout, target_col="label", train="nowhere_module:nothing")


def test_the_evaluation_run_keeps_every_artifact_and_the_stages_add_up():
    from modelyard.retrain import measure

    train, holdout = _frame(400, 0), _frame(200, 1)
    retrain.retrain("split", train, holdout, target_col="label", train=fit_weak, gates=GATES)
    result = retrain.retrain("split", train, holdout, target_col="label", train=fit_strong, gates=GATES)
    run = modelyard.get_run(result.evaluation_run_id)
    logged = {f.path for f in modelyard.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"comparison.json", "gates.json", "eval_results_table.json", "confusion_matrix.png", "roc_curve_plot.png",
            "precision_recall_curve_plot.png", "calibration_curve_plot.png"} <= logged
    assert run.data.tags["modelyard.retrain.status"] == "promoted"
    assert run.data.tags["modelyard.retrain.reason"] == result.reason
    assert [g[0] for g in json.loads(run.data.tags["modelyard.retrain.gate_results"])] == [g.gate for g in result.gates]
    # the size measured from the loaded folder is the size of the model the URI names
    assert run.data.metrics["challenger_model_mb"] == pytest.approx(
        measure.model_size_mb(f"models:/split/{result.challenger_version}"))
    # every stage is reported with wall and CPU seconds; the overhead is all of them but training
    assert {"setup", "train", "register", "load", "evaluate.predict", "evaluate.metrics", "evaluate.plots_render",
            "evaluate.table", "latency", "size", "gates", "log_evaluation", "promote"} <= set(result.stages)
    assert all(set(s) == {"wall_s", "cpu_s"} and min(s.values()) >= 0 for s in result.stages.values())
    others = sum(s["wall_s"] for name, s in result.stages.items() if name != "train")
    assert others <= result.overhead_seconds
    assert result.to_dict()["stages"] == result.stages
