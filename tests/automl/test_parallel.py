"""Parallel and distributed trials on the real PostgreSQL: the study lives in the tracking database
(schema modelyard_automl), worker processes and `modelyard automl worker` join it, and a killed
worker's trial ends FAIL with its run FAILED."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import modelyard
from modelyard import automl
from modelyard.automl import worker
from modelyard.automl.search import Search

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _runs_of(parent_run_id):
    return modelyard.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'", search_all_experiments=True, output_format="list"
    )


def test_parallelism_runs_trials_in_processes_sharing_one_study(pg_tracking, churn):
    summary = automl.classify(churn, target_col="churned", primary_metric="roc_auc", max_trials=4, parallelism=2,
                              exclude_cols=["customer_id"], exclude_frameworks=["random_forest"])
    runs = {r.info.run_id: r for r in _runs_of(summary.parent_run_id)}
    assert len(summary.trials) == 4 and set(runs) == {t.run_id for t in summary.trials}
    assert {r.info.status for r in runs.values()} <= {"FINISHED", "KILLED"}  # KILLED = pruned
    assert summary.best_trial.model_path.startswith("models:/m-")
    engine = sa.create_engine(pg_tracking.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT study_name FROM modelyard_automl.studies")).scalars().all()
    finally:
        engine.dispose()
    assert summary.study_id in names  # Optuna's tables in their own schema, beside modelyard's


def test_a_killed_workers_trial_is_failed_not_left_running(pg_tracking, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20000, 12)), columns=[f"x{i}" for i in range(12)])
    frame["y"] = (frame["x0"] + rng.normal(size=len(frame)) > 0).astype(int)
    only_forest = ["xgboost", "lightgbm", "linear", "hist_gradient_boosting", "extra_trees"]
    search = Search.prepare(frame, "y", task="classification", primary_metric="accuracy", max_trials=2,
                            exclude_frameworks=only_forest, parallelism=2, heartbeat=(1, 2))
    try:
        env = {**os.environ, "MODELYARD_DEFAULT_ARTIFACT_ROOT": os.environ["MODELYARD_DEFAULT_ARTIFACT_ROOT"]}
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelyard.cli.main", "--tracking-uri", pg_tracking, "automl", "worker",
             "--study", search.study_id, "--n-jobs", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 180
        running = []
        while not running and proc.poll() is None and time.monotonic() < deadline:
            running = [r for r in _runs_of(search.config.parent_run_id) if r.info.status == "RUNNING"]
            time.sleep(0.2)
        assert running, f"the worker never started a trial: {proc.communicate()[1][-2000:]!r}"
        os.kill(proc.pid, signal.SIGKILL)  # mid-trial: no chance to clean up
        proc.communicate()
        killed = running[0].info.run_id
        time.sleep(3)  # past the 2 s heartbeat grace period
        assert worker.run_worker(search.study_id, pg_tracking) == 1  # a new worker takes the last trial
        summary = search.finish()
    except BaseException:
        search.abort()
        raise
    states = {t.run_id: t.state for t in summary.trials}
    assert states[killed] == "FAIL"
    assert modelyard.get_run(killed).info.status == "FAILED"
    assert "no heartbeat" in modelyard.get_run(killed).data.tags["modelyard.automl.error"]
    assert sorted(states.values()) == ["COMPLETE", "FAIL"]


def test_a_study_id_that_does_not_exist_is_named(pg_tracking):
    with pytest.raises(modelyard.MlflowException, match="no AutoML study 'automl-nope'"):
        worker.run_worker("automl-nope", pg_tracking)
