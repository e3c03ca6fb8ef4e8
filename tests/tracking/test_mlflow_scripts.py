"""Typical MLflow tracking scripts run unchanged with `import modelyard as mlflow`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.tracking.client import TrackingClient

SCRIPTS = Path(__file__).with_name("mlflow_scripts")


def _run(script: str, tmp_path: Path) -> str:
    env = {k: val for k, val in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"  # MLflow's variable is honoured
    env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_sweep_with_nested_runs(tmp_path):
    out = _run("sweep_nested.py", tmp_path)
    assert "best 0.1" in out
    client = TrackingClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("sweep")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 4
    parent = next(r for r in runs if r.info.run_name == "sweep-parent")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    assert parent.data.tags["best_run"] in {c.info.run_id for c in children}
    assert all(len(client.get_metric_history(c.info.run_id, "loss")) == 5 for c in children)


@pytest.mark.parametrize("script", ["client_api.py", "artifacts_and_sklearn.py"])
def test_scripts_run_unchanged(script, tmp_path):
    assert _run(script, tmp_path).strip().endswith("ok")
