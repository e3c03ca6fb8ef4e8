"""The loop closed without a person (no scheduler yet: the retraining is called directly): a
scoring server follows models:/loop@champion; the data drifts; a retraining promotes a better
challenger and the server answers with the new version, every request answered along the way; a
worse challenger afterwards stays @challenger and the server keeps the champion."""

import asyncio
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from retrainhelpers import TABLE, jobs_env, section, wait
from sklearn.linear_model import LogisticRegression

from modelyard import retrain
from modelyard.serving import ServeConfig, create_scoring_app
from modelyard.serving.config import parse_models

pytestmark = pytest.mark.slow  # three retrainings and a scoring server

FEATURES = ["a", "b", "c", "d"]


def _frame(n, seed, drift):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES)
    signal = X["a"] if not drift else X["c"] - X["d"]  # after the drift, other features decide
    return X.assign(label=(signal + 0.2 * rng.normal(size=n) > 0).astype(int))


def fit(frame, target):
    return LogisticRegression().fit(frame[FEATURES], frame[target])


def fit_constant(frame, target):  # a bad challenger: ignores every feature
    return LogisticRegression().fit(frame[FEATURES] * 0.0, frame[target])


class Scoring:
    def __init__(self, uri: str, tracking_uri: str) -> None:
        self.app = create_scoring_app(ServeConfig(models=parse_models([uri]), tracking_uri=tracking_uri, poll_interval=0.05))
        self.service = self.app.state.service
        self.service.start()
        deadline = time.monotonic() + 60
        while not self.service.slots.ready:  # requests are counted from the first model's load on
            assert time.monotonic() < deadline, "the champion never loaded"
            time.sleep(0.02)
        self.runner = asyncio.Runner()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://serving")
        self.statuses: list[int] = []

    def predict(self, rows: pd.DataFrame) -> str:
        body = {"dataframe_split": {"columns": FEATURES, "data": rows[FEATURES].to_numpy().tolist()}}
        response = self.runner.run(self.client.post("/invocations", json=body))
        self.statuses.append(response.status_code)
        return response.headers.get("x-modelyard-model-version", "")

    def wait_for(self, version: str, rows: pd.DataFrame, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.predict(rows) != version:
            assert time.monotonic() < deadline, f"the server never switched to {version}"
            time.sleep(0.02)

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()
        self.service.stop()


def test_drift_retrain_promote_and_serving_follows(tracking):
    gates = {"min": {"roc_auc": 0.7}, "max_drop": {"roc_auc": 0.0}}
    before = retrain.retrain("loop", _frame(500, 0, False), _frame(200, 1, False), target_col="label", train=fit, gates=gates)
    assert before.promoted
    scoring = Scoring("models:/loop@champion", tracking)
    try:
        rows = _frame(5, 9, True)
        scoring.wait_for(f"loop/{before.challenger_version}", rows)
        # the data drifts: the champion's roc_auc on fresh data falls, a retrained challenger wins
        after = retrain.retrain("loop", _frame(500, 2, True), _frame(200, 3, True), target_col="label", train=fit, gates=gates)
        assert after.promoted and after.champion_metrics["roc_auc"] < 0.7 < after.challenger_metrics["roc_auc"]
        scoring.wait_for(f"loop/{after.challenger_version}", rows)
        # a worse challenger: rejected, and the server keeps answering with the champion
        worse = retrain.retrain("loop", _frame(500, 4, True), _frame(200, 5, True), target_col="label",
                                train=fit_constant, gates=gates)
        assert not worse.promoted and worse.status == "rejected"
        for _ in range(20):
            assert scoring.predict(rows) == f"loop/{after.challenger_version}"
    finally:
        scoring.close()
    assert set(scoring.statuses) == {200}  # no failed request through both switches


def test_deployed_retrain_job_closes_the_loop(shop, tracking, tmp_path):
    """The same loop through the workflows: a deployed ``retrain:`` job, fired by a feature-table
    event, trains on the labels and the feature table; serving follows @champion by itself."""

    labels_uri, write_labels = shop
    ctx, tracking_service, jobs, scheduler = jobs_env(tracking, tmp_path)
    scoring = None
    try:
        jobs.deploy(ctx, {"name": "churn-retrain", "triggers": [{"on": "feature_table_updated", "table": TABLE}],
                          "retrain": section(labels_uri)})
        first = wait(scheduler, jobs, ctx, jobs.run_now(ctx, "churn-retrain").job_run_id)
        v1 = first.latest()["retrain"].result["challenger_version"]
        scoring = Scoring("models:/churn@champion", tracking)
        rows = _frame(5, 9, True)
        scoring.wait_for(f"churn/{v1}", rows)
        write_labels(True, seed=2)  # the data drifts; the feature table's update fires the job
        (fired,) = jobs.publish_event(ctx, "feature_table_updated", f"{TABLE}/v2", {"table": TABLE})
        after = wait(scheduler, jobs, ctx, fired).latest()["retrain"].result
        assert after["status"] == "promoted" and after["champion_version"] == v1
        scoring.wait_for(f"churn/{after['challenger_version']}", rows)
        # a worse challenger (a redeployed job with a trainer that ignores the features): rejected
        jobs.deploy(ctx, {"name": "churn-retrain", "triggers": [{"on": "feature_table_updated", "table": TABLE}],
                          "retrain": section(labels_uri, trainer="retraintasks:fit_constant")})
        (fired,) = jobs.publish_event(ctx, "feature_table_updated", f"{TABLE}/v3", {"table": TABLE})
        worse = wait(scheduler, jobs, ctx, fired).latest()["retrain"].result
        assert worse["status"] == "rejected" and not worse["promoted"]
        for _ in range(20):
            assert scoring.predict(rows) == f"churn/{after['challenger_version']}"
    finally:
        if scoring is not None:
            scoring.close()
        scheduler.stop()
        tracking_service.close()
    assert set(scoring.statuses) == {200}  # no failed request through the switch
