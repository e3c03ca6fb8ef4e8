"""Asynchronous logging: batched in the background, flushed on end_run, nothing dropped silently."""

import pytest

import modelyard as my
from modelyard.entities import Metric
from modelyard.exceptions import TemporarilyUnavailable
from modelyard.tracking.async_logging import AsyncLogger, UndeliveredData


class CountingStore:
    def __init__(self, inner, fail=False):
        self.inner, self.fail, self.calls = inner, fail, 0

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self.calls += 1
        if self.fail:
            raise TemporarilyUnavailable("server unreachable")
        self.inner.log_batch(run_id, metrics, params, tags)


def test_fluent_async_metrics_arrive_in_few_batches(tracking):
    client = my.MlflowClient()
    with my.start_run() as run:
        counting = CountingStore(client.store)
        fluent_client = my.tracking.fluent._get_client()
        fluent_client._async = AsyncLogger(counting, max_wait_s=0.5)
        for i in range(500):
            my.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
        my.log_param("lr", 0.1, synchronous=False)
        my.set_tag("mode", "async", synchronous=False)
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(500))
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"lr": "0.1"} and got.data.tags["mode"] == "async"
    assert got.info.status == "FINISHED"
    assert counting.calls < 50  # batched, not one request per call


def test_async_logging_from_the_environment(tracking, monkeypatch):
    monkeypatch.setenv("MODELYARD_ASYNC_LOGGING", "true")
    client = my.MlflowClient()
    assert client.settings.client.async_logging
    exp = client.create_experiment("async-env")
    run = client.create_run(exp)
    for i in range(50):
        client.log_metric(run.info.run_id, "m", float(i), step=i)
    client.flush_async_logging()
    assert len(client.get_metric_history(run.info.run_id, "m")) == 50


def test_undelivered_data_is_reported_not_dropped(tracking):
    client = my.MlflowClient()
    exp = client.create_experiment("async-fail")
    run = client.create_run(exp)
    logger = AsyncLogger(CountingStore(client.store, fail=True), max_wait_s=0.05)
    logger.log_batch(run.info.run_id, metrics=[Metric("a", 1.0, 1, 0), Metric("b", 2.0, 1, 0)])
    with pytest.raises(UndeliveredData) as info:
        logger.flush()
    assert "2 metrics" in info.value.message and "server unreachable" in info.value.message
    undelivered = info.value.undelivered[run.info.run_id]
    assert sorted(m.key for m in undelivered.metrics) == ["a", "b"]
    logger.flush()  # reported once; nothing left
    logger.close()


def test_async_validation_fails_at_the_call(tracking):
    with my.start_run():
        with pytest.raises(my.exceptions.InvalidParameterValue):
            my.log_metric("bad key!", 1.0, synchronous=False)
