"""Redis Streams -> Redis stream, against the real Redis: scoring, the message format, idempotent
writes, dead letters, graceful stop."""

from __future__ import annotations

import asyncio
import signal

import numpy as np
import orjson
import pandas as pd
import pytest
from stream_helpers import REDIS_URL as REDIS
from stream_helpers import event, run_until, start_cli, wait_until

from modelyard.streaming.config import StreamConfig
from modelyard.streaming.runner import StreamRunner
from modelyard.streaming.uris import open_sink


def _entries(client, stream: str) -> list[dict]:
    return [{k.decode(): orjson.loads(v) for k, v in fields.items()} for _, fields in client.xrange(stream)]


def test_events_are_scored_into_the_sink_with_event_id_and_version(redis_client, name, model_dir, estimators, data):
    events = f"{name}-events"
    rows = data.head(30)
    ids = []
    for i, row in enumerate(rows.to_dict("records")):
        if i % 2:  # one field per column, values as JSON scalars
            ids.append(redis_client.xadd(events, {c: repr(v) for c, v in row.items()} | {"customer": f"c{i}"}).decode())
        else:  # one field "data" holding the JSON object
            ids.append(redis_client.xadd(events, {"data": orjson.dumps(row | {"customer": f"c{i}"})}).decode())
    config = StreamConfig(str(model_dir), f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={name}-out",
                          passthrough=("customer",))
    runner = StreamRunner(config)
    run_until(runner, lambda: redis_client.xlen(f"{name}-out") >= 30)

    out = _entries(redis_client, f"{name}-out")
    assert sorted(e["event_id"] for e in out) == sorted(ids)
    expected = dict(zip(ids, estimators[0].predict(rows).tolist(), strict=True))
    assert {e["event_id"]: e["prediction"] for e in out} == expected
    assert {e["model_version"] for e in out} == {runner.scorer.version}
    assert {e["event_id"]: e["customer"] for e in out} == {i: f"c{n}" for n, i in enumerate(ids)}
    assert redis_client.xpending(events, "g")["pending"] == 0  # all acknowledged


def test_the_redis_sink_writes_an_event_once_however_often_it_is_written(redis_client, name):
    async def write_twice():
        sink = open_sink(f"{REDIS}?stream={name}-out")
        await sink.start()
        await sink.write([{"event_id": "1-0", "model_version": "1", "prediction": 0}])
        await sink.write([{"event_id": "1-0", "model_version": "2", "prediction": 10},
                          {"event_id": "2-0", "model_version": "2", "prediction": 11}])
        await sink.close()

    asyncio.run(write_twice())
    out = _entries(redis_client, f"{name}-out")
    assert [(e["event_id"], e["model_version"]) for e in out] == [("1-0", "1"), ("2-0", "2")]


def test_plain_and_general_prediction_batches_make_the_same_entries(redis_client, name):
    from modelyard.streaming.base import Predictions

    plain = Predictions(["1-0", "order.7:3"], "2", [0.125, 1])
    unusual = Predictions(["a/b", 'q"uote'], "2", [0.125, 1])  # ids not plain: the per-record path
    nested = Predictions(["3-0"], "2", [[0.5, 0.5]])  # a list per event: the per-record path
    assert plain.plain() == (b"1-0\norder.7:3", b"0.125,1")
    assert unusual.plain() is None and nested.plain() is None
    assert Predictions(["1-0"], "2", ["yes"]).plain() is None
    assert Predictions(["1-0"], "2", [1], [{"customer": "c"}]).plain() is None  # passthrough: per record
    assert list(Predictions(["1-0"], "2", [1], [{"customer": "c"}])) == [
        {"event_id": "1-0", "model_version": "2", "prediction": 1, "customer": "c"}]

    async def write():
        sink = open_sink(f"{REDIS}?stream={name}-out")
        await sink.start()
        for batch in (plain, unusual, nested, plain):
            await sink.write(batch)
        await sink.close()

    asyncio.run(write())
    raw = [fields for _, fields in redis_client.xrange(f"{name}-out")]
    assert [list(f) for f in raw] == [[b"event_id", b"model_version", b"prediction"]] * 5
    assert [f[b"event_id"] for f in raw[:2]] == [b'"1-0"', b'"order.7:3"']  # JSON text, as the general path writes
    assert _entries(redis_client, f"{name}-out") == [
        {"event_id": i, "model_version": "2", "prediction": v}
        for i, v in [("1-0", 0.125), ("order.7:3", 1), ("a/b", 0.125), ('q"uote', 1), ("3-0", [0.5, 0.5])]]


def test_the_id_field_names_the_event(redis_client, name, model_dir, data):
    events = f"{name}-events"
    for i, row in enumerate(data.head(5).to_dict("records")):
        redis_client.xadd(events, {"data": orjson.dumps(row | {"order": f"o-{i}"})})
    redis_client.xadd(events, {"data": orjson.dumps(data.iloc[0].to_dict() | {"order": "o-0"})})  # a duplicate event
    config = StreamConfig(str(model_dir), f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={name}-out",
                          id_field="order")
    run_until(StreamRunner(config), lambda: redis_client.xpending(events, "g")["pending"] == 0
              and redis_client.xinfo_groups(events)[0]["lag"] == 0)
    assert sorted(e["event_id"] for e in _entries(redis_client, f"{name}-out")) == [f"o-{i}" for i in range(5)]


def test_bad_events_are_dead_lettered_and_the_rest_of_the_batch_is_scored(redis_client, name, model_dir, data):
    events, dead = f"{name}-events", f"{name}-dead"
    good = data.head(6).to_dict("records")
    ids = [redis_client.xadd(events, {"data": orjson.dumps(row)}).decode() for row in good[:3]]
    bad_json = redis_client.xadd(events, {"data": b"{not json"}).decode()
    wrong_type = redis_client.xadd(events, {"data": orjson.dumps(good[3] | {"f4": "abc"})}).decode()
    missing = redis_client.xadd(events, {"data": orjson.dumps({"f0": 1.0})}).decode()
    ids += [redis_client.xadd(events, {"data": orjson.dumps(row)}).decode() for row in good[4:]]
    config = StreamConfig(str(model_dir), f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={name}-out",
                          dead_letter=f"{REDIS}?stream={dead}", max_retries=2)
    runner = StreamRunner(config)
    run_until(runner, lambda: redis_client.xlen(dead) >= 3 and redis_client.xlen(f"{name}-out") >= 5)

    assert sorted(e["event_id"] for e in _entries(redis_client, f"{name}-out")) == sorted(ids)
    letters = {e["event_id"]: e for e in _entries(redis_client, dead)}
    assert set(letters) == {bad_json, wrong_type, missing}
    assert letters[bad_json]["reason"] == "unparseable"
    assert letters[bad_json]["payload"] == '{"data":"{not json"}'
    assert letters[wrong_type]["reason"] == "schema" and "f4" in letters[wrong_type]["error"]
    assert letters[wrong_type]["attempts"] == 2
    assert orjson.loads(orjson.loads(letters[wrong_type]["payload"])["data"])["f4"] == "abc"
    assert letters[missing]["reason"] == "schema"
    dead_count = {s.labels["reason"]: s.value for m in runner.metrics.registry.collect() for s in m.samples
                  if s.name == "modelyard_stream_events_dead_lettered_total"}
    assert dead_count == {"unparseable": 1.0, "schema": 2.0}
    assert redis_client.xpending(events, "g")["pending"] == 0


def test_a_model_error_on_one_row_dead_letters_that_row_only(redis_client, name, tmp_path):
    import modelyard.pyfunc

    def picky(frame: pd.DataFrame):
        if (frame["x"] == 666).any():
            raise ValueError("cannot score 666")
        return np.asarray(frame["x"] * 2)

    modelyard.pyfunc.save_model(tmp_path / "picky", python_model=picky, input_example=pd.DataFrame({"x": [1.0]}))
    events = f"{name}-events"
    for x in (1.0, 2.0, 666.0, 3.0):
        redis_client.xadd(events, {"x": repr(x)})
    config = StreamConfig(str(tmp_path / "picky"), f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={name}-out",
                          dead_letter=f"{REDIS}?stream={name}-dead")
    run_until(StreamRunner(config), lambda: redis_client.xlen(f"{name}-dead") >= 1
              and redis_client.xlen(f"{name}-out") >= 3)
    assert sorted(e["prediction"] for e in _entries(redis_client, f"{name}-out")) == [2.0, 4.0, 6.0]
    (letter,) = _entries(redis_client, f"{name}-dead")
    assert letter["reason"] == "model_error" and "cannot score 666" in letter["error"] and letter["attempts"] == 3


def test_sigterm_finishes_and_acknowledges_the_batches_in_flight(redis_client, name, model_dir, tmp_path):
    events, out = f"{name}-events", f"{name}-out"
    pipe = redis_client.pipeline(transaction=False)
    for i in range(20_000):
        pipe.xadd(events, {"data": event(i, i / 1000)})
    pipe.execute()
    proc = start_cli("models", "stream", "-m", str(model_dir), "--source", f"{REDIS}?stream={events}&group=g",
                     "--sink", f"{REDIS}?stream={out}", "--batch-size", "200", log=tmp_path / "log")
    wait_until(lambda: redis_client.xlen(out) > 0, what="the first predictions")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, (tmp_path / "log").read_text()
    written = redis_client.xlen(out)
    group = redis_client.xinfo_groups(events)[0]
    assert group["pending"] == 0  # everything read was written and acknowledged
    assert written == 20_000 - group["lag"]
    assert "Stopped: every batch read was written and acknowledged." in (tmp_path / "log").read_text()


def test_parquet_messages_carry_many_rows_each(redis_client, name, model_dir, data, estimators):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    events, out = f"{name}-events", f"{name}-out"
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(data.head(12), preserve_index=False), buffer)
    message = redis_client.xadd(events, {"data": buffer.getvalue()}).decode()
    config = StreamConfig(str(model_dir), f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={out}",
                          format="parquet")
    run_until(StreamRunner(config), lambda: redis_client.xlen(out) >= 12)
    got = {e["event_id"]: e["prediction"] for e in _entries(redis_client, out)}
    assert got == {f"{message}:{i}": p for i, p in enumerate(estimators[0].predict(data.head(12)).tolist())}


def test_a_slow_sink_stops_the_reading(redis_client, name, model_dir, data):
    """Backpressure: while the sink is stuck, at most (in_flight + 1) batches are read and not written."""
    from modelyard.streaming.engine import Pipeline
    from modelyard.streaming.metrics import StreamMetrics
    from modelyard.streaming.scoring import Scorer
    from modelyard.streaming.uris import open_source

    events = f"{name}-events"
    for row in data.head(200).to_dict("records"):
        redis_client.xadd(events, {"data": orjson.dumps(row)})

    class StuckSink:
        def __init__(self):
            self.release = asyncio.Event()
            self.written = 0

        async def write(self, records):
            await self.release.wait()
            self.written += len(records)

    config = StreamConfig(str(model_dir), f"{REDIS}?stream={events}&group=g", "unused://", batch_size=10)
    scorer = Scorer(str(model_dir))
    scorer.start()
    pending_while_stuck = []

    async def main():
        source = open_source(config.source, consumer="c1")
        await source.start()
        sink = StuckSink()
        pipeline = Pipeline(config, source, sink, None, scorer, StreamMetrics())
        task = asyncio.create_task(pipeline.run())
        while redis_client.xpending(events, "g")["pending"] < 30:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # give the reader every chance to read more
        pending_while_stuck.append(redis_client.xpending(events, "g")["pending"])
        sink.release.set()
        while sink.written < 200:
            await asyncio.sleep(0.05)
        pipeline.stop()
        await task
        await source.close()

    try:
        asyncio.run(main())
    finally:
        scorer.stop()
    assert pending_while_stuck == [30]  # 1 batch in the sink + 1 scored, waiting for it + 1 read ahead
    assert redis_client.xpending(events, "g")["pending"] == 0


def test_two_consumers_in_one_process_share_the_group(redis_client, name, model_dir, data):
    events, out = f"{name}-events", f"{name}-out"
    ids = [redis_client.xadd(events, {"data": orjson.dumps(r)}).decode() for r in data.to_dict("records")]
    config = StreamConfig(str(model_dir), f"{REDIS}?stream={events}&group=g", f"{REDIS}?stream={out}", batch_size=5)
    runner = StreamRunner(config, consumers=2)
    run_until(runner, lambda: redis_client.xlen(out) >= len(ids))
    assert sorted(e["event_id"] for e in _entries(redis_client, out)) == sorted(ids)
    assert runner.health()["consumers"] == 2 and all(p.batches > 0 for p in runner.pipelines)


def test_a_sink_that_keeps_failing_stops_the_consumer_without_acknowledging(redis_client, name, model_dir, data):
    from modelyard.streaming.engine import Pipeline, SinkFailed
    from modelyard.streaming.metrics import StreamMetrics
    from modelyard.streaming.scoring import Scorer
    from modelyard.streaming.uris import open_source

    events = f"{name}-events"
    for row in data.head(50).to_dict("records"):
        redis_client.xadd(events, {"data": orjson.dumps(row)})

    class BrokenSink:
        async def write(self, records):
            raise ConnectionError("the database is down")

    config = StreamConfig(str(model_dir), f"{REDIS}?stream={events}&group=g", "unused://", batch_size=10,
                          max_retries=2)
    scorer = Scorer(str(model_dir))
    scorer.start()
    metrics = StreamMetrics()

    async def main():
        source = open_source(config.source, consumer="c1")
        await source.start()
        try:
            await Pipeline(config, source, BrokenSink(), None, scorer, metrics).run()
        finally:
            await source.close()

    try:
        with pytest.raises(SinkFailed, match="refused a batch 2 times: ConnectionError: the database is down"):
            asyncio.run(main())
    finally:
        scorer.stop()
    assert redis_client.xpending(events, "g")["pending"] > 0  # read, never acknowledged: redelivered later
    assert metrics.sink_retries._value.get() == 1
