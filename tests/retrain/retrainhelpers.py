"""Helpers of the retraining job tests: a feature table of customers and labels in a database of
their own (the ``shop`` fixture of conftest), a ``retrain:`` section, and a jobs environment."""

import os
import time

import numpy as np
import pandas as pd
import sqlalchemy

from modelyard.auth.context import local_context
from modelyard.entities.job import TERMINAL
from modelyard.features import FeatureClient
from modelyard.jobs.config import JobsConfig
from modelyard.jobs.scheduler import Scheduler
from modelyard.jobs.service import JobService
from modelyard.settings import Settings
from modelyard.store.tracking.sql.store import SqlTrackingStore
from modelyard.tracking.service import TrackingService

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["a", "b", "c", "d"]
DAY0 = pd.Timestamp("2026-01-01")
TABLE = "churn.customer_features"


def customers_frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES)
    return frame.assign(customer_id=np.arange(n), ts=DAY0)


def labels_frame(customers, seed, drift):
    """One label per customer, on days 1..30; before the drift ``a`` decides, after it ``c - d``."""
    rng = np.random.default_rng(seed)
    signal = customers["a"] if not drift else customers["c"] - customers["d"]
    return pd.DataFrame({
        "customer_id": customers["customer_id"],
        "event_ts": DAY0 + pd.to_timedelta(rng.integers(1, 31, len(customers)), unit="D"),
        "churned": (signal + 0.2 * rng.normal(size=len(customers)) > 0).astype(int),
    })


def make_shop(tracking, tmp_path):
    """A feature table of customers and a labels table in a database of their own."""
    customers = customers_frame()
    FeatureClient(tracking).create_table(TABLE, primary_keys="customer_id", timestamp_keys="ts",
                                         df=customers[["customer_id", "ts", *FEATURES]])
    labels_uri = f"sqlite:///{tmp_path / 'labels.db'}"

    def write_labels(drift, seed=1):
        engine = sqlalchemy.create_engine(labels_uri)
        labels_frame(customers, seed, drift).to_sql("labels", engine, if_exists="replace", index=False)
        engine.dispose()

    write_labels(False)
    return labels_uri, write_labels


def section(labels_uri, trainer="retraintasks:fit", **extra):
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


def jobs_env(uri, tmp_path):
    settings = Settings.defaults(backend_store_uri=uri, tracking_uri=uri)
    ctx = local_context(settings, "tester")
    tracking = TrackingService(SqlTrackingStore.from_uri(uri, settings, str(tmp_path / "artifacts")))
    jobs = JobService.from_engine(tracking.store.engine)
    config = JobsConfig(logs_dir=str(tmp_path / "logs"), poll_interval_s=0.05, heartbeat_interval_s=0.2,
                        heartbeat_lapse_s=30.0, kill_grace_s=1.0, tracking_uri=uri, trigger_poll_s=0.0)
    return ctx, tracking, jobs, Scheduler(jobs, tracking, None, ctx, config)


def wait(scheduler, jobs, ctx, job_run_id, timeout=240):
    deadline = time.monotonic() + timeout  # a safety net for a hung run, not a timing assertion
    while time.monotonic() < deadline:
        scheduler.run_once()
        run = jobs.get_run(ctx, job_run_id)
        if run.status in TERMINAL:
            return run
        time.sleep(0.1)
    raise AssertionError(f"job run {job_run_id} did not end")
