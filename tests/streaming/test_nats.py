"""NATS JetStream -> NATS subject against the real server: scoring, Nats-Msg-Id dedup, a slow batch kept
from redelivery by in-progress acks, and kill -9 with two consumers on one durable."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pandas as pd
import pytest
from stream_helpers import NATS_URL, Consumers, event, run_until, wait_until

from modelyard.streaming.config import StreamConfig
from modelyard.streaming.runner import StreamRunner


def test_jetstream_events_are_scored_once_into_a_subject(jetstream, name, model_dir, estimators, data):
    rows = data.head(40)
    seqs = jetstream.publish_many(f"{name}.events", [orjson.dumps(r) for r in rows.to_dict("records")])
    source = f"{NATS_URL}?stream={name}-events&durable=scorers"
    sink = f"{NATS_URL}?subject={name}.predictions&stream={name}-predictions"
    runner = StreamRunner(StreamConfig(str(model_dir), source, sink, batch_size=16))
    run_until(runner, lambda: jetstream.count(f"{name}-predictions") >= 40)

    out = jetstream.messages(f"{name}-predictions")
    assert {m["event_id"]: m["prediction"] for m in out} == dict(
        zip([str(s) for s in seqs], estimators[0].predict(rows).tolist(), strict=True))
    assert {m["model_version"] for m in out} == {runner.scorer.version}

    # the same events scored again (a redelivery) are dropped by JetStream's Nats-Msg-Id dedup
    async def rewind(js):
        await js.delete_consumer(f"{name}-events", "scorers")
    jetstream.call(rewind)
    again = StreamRunner(StreamConfig(str(model_dir), source, sink, batch_size=16))
    run_until(again, lambda: again.metrics.scored._value.get() >= 40)
    assert jetstream.count(f"{name}-predictions") == 40


def test_a_batch_slower_than_ack_wait_is_not_redelivered(jetstream, name, tmp_path):
    import modelyard.pyfunc

    def slow(frame: pd.DataFrame):
        time.sleep(2.5)
        return np.asarray(frame["x"])

    modelyard.pyfunc.save_model(tmp_path / "slow", python_model=slow, input_example=pd.DataFrame({"x": [1.0]}))
    jetstream.publish_many(f"{name}.events", [orjson.dumps({"x": float(i)}) for i in range(5)])
    source = f"{NATS_URL}?stream={name}-events&durable=scorers&ack-wait=1"
    sink = f"{NATS_URL}?subject={name}.predictions&stream={name}-predictions"
    runner = StreamRunner(StreamConfig(str(tmp_path / "slow"), source, sink, batch_size=100))
    run_until(runner, lambda: jetstream.count(f"{name}-predictions") >= 5)

    async def consumer(js):
        return await js.consumer_info(f"{name}-events", "scorers")
    info = jetstream.call(consumer)
    assert info.num_redelivered == 0 and info.num_ack_pending == 0


@pytest.mark.slow
def test_kill_9_loses_and_doubles_nothing_on_jetstream(jetstream, name, model_dir, tmp_path):
    total = 10_000
    jetstream.publish_many(f"{name}.events", [event(i, (i % 97) / 50) for i in range(total)])
    args = ["models", "stream", "-m", str(model_dir), "--batch-size", "500",
            "--source", f"{NATS_URL}?stream={name}-events&durable=scorers&ack-wait=3",
            "--sink", f"{NATS_URL}?subject={name}.predictions&stream={name}-predictions"]
    consumers = Consumers(args, tmp_path)
    try:
        for kill in range(3):
            wait_until(lambda k=kill: jetstream.count(f"{name}-predictions") >= (k + 1) * total // 5, timeout=180,
                       what=f"progress before kill {kill + 1}")
            consumers.kill_and_replace(kill % 2)

        async def settled(js):
            info = await js.consumer_info(f"{name}-events", "scorers")
            return info.num_pending == 0 and info.num_ack_pending == 0
        wait_until(lambda: jetstream.count(f"{name}-predictions") >= total and jetstream.call(settled), timeout=300,
                   what="every event scored and acknowledged")
        consumers.wait_running()
    finally:
        codes = consumers.stop()
    assert codes == [0, 0], consumers.tails()
    ids = [m["event_id"] for m in jetstream.messages(f"{name}-predictions")]
    assert len(ids) == total and sorted(ids, key=int) == [str(i) for i in range(1, total + 1)]
