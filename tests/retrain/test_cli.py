"""``modelyard retrain init / run / approve`` on a SQLite store."""

import os
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import modelyard
from modelyard.cli.main import cli
from modelyard.jobs.spec import parse

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def invoke(tracking):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, ["--tracking-uri", tracking, *args])

    return run


@pytest.fixture(autouse=True)
def trainers():
    sys.path.insert(0, HERE)  # retraintasks, imported by the run in this process
    yield
    sys.path.remove(HERE)


def _labels(path, seed=0, n=300):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] + 0.3 * rng.normal(size=n) > 0).astype(int)
    frame.to_parquet(path)
    return str(path)


def _register(name):
    from sklearn.linear_model import LogisticRegression

    with modelyard.start_run():
        info = modelyard.sklearn.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), name="model")
    modelyard.register_model(info.model_uri, name)


def test_init_writes_a_job_that_deploys(invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _register("churn")
    result = invoke("retrain", "init", "churn")
    assert result.exit_code == 0, result.output
    path = tmp_path / "jobs" / "churn-retrain.yaml"
    definition = yaml.safe_load(path.read_text())
    assert definition["name"] == "churn-retrain" and definition["retrain"]["model"] == "churn"
    assert definition["schedule"] == {"cron": "0 4 * * 1"}
    spec = parse(path.read_text())
    assert spec.tasks[0].key == "retrain" and spec.tasks[0].params["model_type"] == "classifier"
    again = invoke("retrain", "init", "churn")
    assert again.exit_code == 1 and "exists" in again.output and "--force" in again.output
    unknown = invoke("retrain", "init", "nope")
    assert unknown.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in unknown.output


def test_run_once_then_approve(invoke, tmp_path):
    labels = _labels(tmp_path / "labels.parquet")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"name": "churn-retrain", "retrain": {
        "model": "churn", "training_set": {"labels": labels, "label": "y"},
        "train": {"run": "retraintasks:fit"}, "holdout": {"fraction": 0.3},
        "gates": {"min": {"roc_auc": 0.7}}, "approval": "manual"}}))
    first = invoke("retrain", "run", "churn", "--file", str(job), "--param", "approval=none")
    assert first.exit_code == 0, first.output
    assert "churn v1: promoted" in first.output and "min.roc_auc" in first.output
    second = invoke("retrain", "run", "churn", "--file", str(job))
    assert second.exit_code == 0 and "churn v2: awaiting approval" in second.output
    client = modelyard.MlflowClient()
    assert client.get_model_version_by_alias("churn", "champion").version in (1, "1")
    approved = invoke("retrain", "approve", "churn", "2", "--note", "looks right")
    assert approved.exit_code == 0, approved.output
    assert client.get_model_version_by_alias("churn", "champion").version in (2, "2")
    twice = invoke("retrain", "approve", "churn", "2")
    assert twice.exit_code == 1 and "not awaiting approval" in twice.output
    bad = invoke("retrain", "run", "churn", "--file", str(job), "--param", "nope=1")
    assert bad.exit_code == 1 and "Unknown parameter(s) nope" in bad.output
    missing = invoke("retrain", "run", "other")
    assert missing.exit_code == 1 and "other-retrain" in missing.output
