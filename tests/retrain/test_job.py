"""The ``retrain:`` job type: the section checked at deploy, a training set built from a label
query and a feature table (at its current version), a holdout of the last days, and the whole
retraining run as a job task (in its own process) that a feature-table event triggers."""

import os
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

import modelyard
from modelyard.auth.context import local_context
from modelyard.entities.job import SUCCEEDED, TERMINAL
from modelyard.exceptions import InvalidParameterValue
from modelyard.features import FeatureClient
from modelyard.jobs.config import JobsConfig
from modelyard.jobs.scheduler import Scheduler
from modelyard.jobs.service import JobService
from modelyard.jobs.spec import parse
from modelyard.retrain import job
from modelyard.settings import Settings
from modelyard.store.tracking.sql.store import SqlTrackingStore
from modelyard.tracking.service import TrackingService

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["a", "b", "c", "d"]
DAY0 = pd.Timestamp("2026-01-01")
TABLE = "churn.customer_features"


def _customers(n=400, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES)
    return frame.assign(customer_id=np.arange(n), ts=DAY0)


def _labels(customers, seed, drift):
    """One label per customer, on days 1..30; before the drift ``a`` decides, after it ``c - d``."""
    rng = np.random.default_rng(seed)
    signal = customers["a"] if not drift else customers["c"] - customers["d"]
    return pd.DataFrame({
        "customer_id": customers["customer_id"],
        "event_ts": DAY0 + pd.to_timedelta(rng.integers(1, 31, len(customers)), unit="D"),
        "churned": (signal + 0.2 * rng.normal(size=len(customers)) > 0).astype(int),
    })


@pytest.fixture
def shop(tracking, tmp_path):
    """A feature table of customers and a labels table in a database of their own."""
    customers = _customers()
    FeatureClient(tracking).create_table(TABLE, primary_keys="customer_id", timestamp_keys="ts",
                                         df=customers[["customer_id", "ts", *FEATURES]])
    labels_uri = f"sqlite:///{tmp_path / 'labels.db'}"

    def write_labels(drift, seed=1):
        engine = sqlalchemy.create_engine(labels_uri)
        _labels(customers, seed, drift).to_sql("labels", engine, if_exists="replace", index=False)
        engine.dispose()

    write_labels(False)
    return labels_uri, write_labels


def _section(labels_uri, trainer="retraintasks:fit", **extra):
    return {
        "model": "churn",
        "training_set": {"labels": "sql:SELECT customer_id, event_ts, churned FROM labels", "labels_uri": labels_uri,
                         "features": [TABLE]},
        "train": {"run": trainer},
        "holdout": {"last_days": 10},
        "gates": {"min": {"roc_auc": 0.7}, "max_drop": {"roc_auc": 0.0}},
        "env": {"PYTHONPATH": HERE},
        **extra,
    }


def test_the_section_becomes_one_task_and_bad_fields_are_named():
    spec = parse({"name": "churn-retrain", "schedule": {"cron": "0 4 * * 1"},
                  "triggers": [{"on": "feature_table_updated", "table": TABLE}],
                  "retrain": _section("sqlite:///x.db", approval="manual")})
    (task,) = spec.tasks
    assert task.key == "retrain" and task.run == job.RUN and task.env == {"PYTHONPATH": HERE}
    assert task.params["model"] == "churn" and task.params["approval"] == "manual"
    assert task.params["gates"]["max_drop"] == {"roc_auc": 0.0}
    spec.check_overrides({"approval": "none"})  # a field of the section is a parameter of the run
    bad = {"name": "j", "retrain": {**_section("sqlite:///x.db"), "traning_set": {}}}
    with pytest.raises(InvalidParameterValue, match=r"retrain\.traning_set: unknown field"):
        parse(bad)
    with pytest.raises(InvalidParameterValue, match=r"unknown gates \['min_roc'\]"):
        parse({"name": "j", "retrain": {**_section("x"), "gates": {"min_roc": 1}}})
    with pytest.raises(InvalidParameterValue, match=r"retrain\.approval"):
        parse({"name": "j", "retrain": {**_section("x"), "approval": "sometimes"}})
    with pytest.raises(InvalidParameterValue, match="retrain: must be a mapping"):
        parse({"name": "j", "retrain": "churn"})


def test_training_set_from_a_feature_table_and_a_label_query(shop, tracking):
    labels_uri, _ = shop
    from modelyard.retrain import source

    rows = source.load(_section(labels_uri)["training_set"], tracking)
    assert rows.label == "churned" and rows.timestamp_col == "event_ts"  # the label inferred, the time from the table
    assert set(FEATURES) <= set(rows.frame.columns) and len(rows.frame) == 400
    train, holdout = source.split_holdout(rows, {"last_days": 10})
    assert set(holdout.columns) == {*FEATURES, "churned"}
    assert set(train.columns) == {*FEATURES, "churned"}  # keys and time are not features
    assert 0 < len(holdout) < len(train) and len(train) + len(holdout) == 400
    with pytest.raises(InvalidParameterValue, match="name the label column"):
        source.load({"labels": "sql:SELECT customer_id, event_ts, churned, churned AS again FROM labels",
                     "labels_uri": labels_uri, "features": [TABLE]}, tracking)
    with pytest.raises(InvalidParameterValue, match="the query failed"):
        source.load({"labels": "sql:SELECT nothing FROM nowhere", "labels_uri": labels_uri}, tracking)


def test_run_promotes_then_a_worse_challenger_changes_nothing(shop, tracking):
    labels_uri, _ = shop
    params = parse({"name": "churn-retrain", "retrain": _section(labels_uri)}).tasks[0].params
    import sys

    sys.path.insert(0, HERE)
    try:
        first = job.run(**params)
        assert first["status"] == "promoted" and first["champion_version"] is None
        worse = job.run(**{**params, "train": {"run": "retraintasks:fit_constant"}})
    finally:
        sys.path.remove(HERE)
    assert worse["status"] == "rejected" and "min.roc_auc" in worse["reason"]
    client = modelyard.MlflowClient()
    assert client.get_model_version_by_alias("churn", "champion").version == first["challenger_version"]
    assert client.get_model_version_by_alias("churn", "challenger").version == worse["challenger_version"]
    signature = modelyard.pyfunc.load_model("models:/churn@champion").metadata.get_input_schema()
    assert sorted(signature.input_names()) == sorted(FEATURES)  # trained on the features, not keys nor time


def _jobs_env(uri, tmp_path):
    settings = Settings.defaults(backend_store_uri=uri, tracking_uri=uri)
    ctx = local_context(settings, "tester")
    tracking = TrackingService(SqlTrackingStore.from_uri(uri, settings, str(tmp_path / "artifacts")))
    jobs = JobService.from_engine(tracking.store.engine)
    config = JobsConfig(logs_dir=str(tmp_path / "logs"), poll_interval_s=0.05, heartbeat_interval_s=0.2,
                        heartbeat_lapse_s=30.0, kill_grace_s=1.0, tracking_uri=uri, trigger_poll_s=0.0)
    return ctx, tracking, jobs, Scheduler(jobs, tracking, None, ctx, config)


def _wait(scheduler, jobs, ctx, job_run_id, timeout=240):
    deadline = time.monotonic() + timeout  # a safety net for a hung run, not a timing assertion
    while time.monotonic() < deadline:
        scheduler.run_once()
        run = jobs.get_run(ctx, job_run_id)
        if run.status in TERMINAL:
            return run
        time.sleep(0.1)
    raise AssertionError(f"job run {job_run_id} did not end")


@pytest.mark.slow
def test_deployed_job_retrains_when_the_feature_table_event_fires(shop, tracking, tmp_path):
    labels_uri, write_labels = shop
    ctx, tracking_service, jobs, scheduler = _jobs_env(tracking, tmp_path)
    try:
        jobs.deploy(ctx, {"name": "churn-retrain", "triggers": [{"on": "feature_table_updated", "table": TABLE}],
                          "retrain": _section(labels_uri)})
        first = _wait(scheduler, jobs, ctx, jobs.run_now(ctx, "churn-retrain").job_run_id)
        assert first.status == SUCCEEDED, jobs.logs(ctx, first.job_run_id)["text"]
        outcome = first.latest()["retrain"].result
        assert outcome["status"] == "promoted"
        write_labels(True, seed=2)  # the world drifts: the champion's roc_auc on fresh data falls
        (started,) = jobs.publish_event(ctx, "feature_table_updated", f"{TABLE}/v2", {"table": TABLE, "version": 2})
        second = _wait(scheduler, jobs, ctx, started)
        assert second.status == SUCCEEDED and second.trigger == "feature_table_updated"
        after = second.latest()["retrain"].result
        assert after["status"] == "promoted" and after["champion_version"] == outcome["challenger_version"]
        assert after["champion_metrics"]["roc_auc"] < 0.7 < after["challenger_metrics"]["roc_auc"]
        champion = modelyard.MlflowClient().get_model_version_by_alias("churn", "champion")
        assert champion.version == after["challenger_version"]
    finally:
        scheduler.stop()
        tracking_service.close()
