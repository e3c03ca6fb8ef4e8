"""The alias moved mid-stream (the new version loads beside, then one swap; each prediction names its
version), and /metrics + /health + the per-batch log line, against the real Redis."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import orjson
from stream_helpers import REDIS_URL, run_until

from modelyard.streaming.config import StreamConfig
from modelyard.streaming.runner import StreamRunner


def test_moving_the_alias_mid_stream_switches_versions_and_scores_each_event_once(redis_client, name, registry, data):
    uri, client = registry
    events, out = f"{name}-events", f"{name}-out"
    rows = [orjson.dumps(r) for r in data.to_dict("records")]
    produced: list[str] = []
    stop = threading.Event()

    def produce():
        i = 0
        while not stop.is_set():
            produced.append(redis_client.xadd(events, {"data": rows[i % len(rows)]}).decode())
            i += 1
            time.sleep(0.002)

    producer = threading.Thread(target=produce)
    producer.start()
    config = StreamConfig("models:/churn@champion", f"{REDIS_URL}?stream={events}&group=g",
                          f"{REDIS_URL}?stream={out}", tracking_uri=uri, poll_interval=0.2, batch_size=50)
    runner = StreamRunner(config)
    versions = lambda: {orjson.loads(f[b"model_version"]) for _, f in redis_client.xrange(out)}  # noqa: E731

    def move_alias():
        while redis_client.xlen(out) < 200:
            time.sleep(0.05)
        client.set_registered_model_alias("churn", "champion", 2)

    try:
        run_until(runner, lambda: "2" in versions() and redis_client.xlen(out) >= 400, during=move_alias, timeout=120)
    finally:
        stop.set()
        producer.join()
    rest = StreamRunner(config)  # score what was produced after the stop
    run_until(rest, lambda: redis_client.xlen(out) >= len(produced))

    entries = [{k.decode(): orjson.loads(v) for k, v in f.items()} for _, f in redis_client.xrange(out)]
    assert sorted(e["event_id"] for e in entries) == sorted(produced)  # each event exactly once
    in_order = [e["model_version"] for e in entries]
    assert in_order == sorted(in_order) and set(in_order) == {"1", "2"}  # one swap, never back
    assert all(e["prediction"] in ({0, 1} if e["model_version"] == "1" else {10, 11}) for e in entries)
    assert runner.scorer.slot.history == ["1", "2"]


def test_metrics_health_and_one_log_line_per_batch(redis_client, name, model_dir, data, caplog):
    events, out = f"{name}-events", f"{name}-out"
    for row in data.head(30).to_dict("records"):
        redis_client.xadd(events, {"data": orjson.dumps(row)})
    redis_client.xadd(events, {"data": b"[1, 2]"})
    config = StreamConfig(str(model_dir), f"{REDIS_URL}?stream={events}&group=g", f"{REDIS_URL}?stream={out}",
                          metrics_port=0)
    runner = StreamRunner(config)
    seen: dict = {}

    async def main():
        task = asyncio.create_task(runner.run())
        while redis_client.xlen(out) < 30 or runner.metrics.dead_lettered.labels("unparseable")._value.get() < 1:
            assert not task.done()
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.metrics_port}") as http:
            seen["health"] = await http.get("/health")
            seen["metrics"] = await http.get("/metrics")
        runner.stop()
        await task

    with caplog.at_level(logging.INFO, logger="modelyard.streaming.engine"):
        asyncio.run(main())
    health = seen["health"]
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["model_version"] == runner.scorer.version
    text = seen["metrics"].text
    assert "modelyard_stream_events_scored_total 30.0" in text
    assert 'modelyard_stream_events_dead_lettered_total{reason="unparseable"} 1.0' in text
    assert f'modelyard_stream_model_version_info{{model="model",version="{runner.scorer.version}"}} 1.0' in text
    assert "modelyard_stream_latency_seconds_count 31.0" in text
    lines = [orjson.loads(r.getMessage()) for r in caplog.records
             if r.name == "modelyard.streaming.engine" and r.levelno == logging.INFO]
    assert sum(line["events"] for line in lines) == 31 and sum(line["scored"] for line in lines) == 30
    assert all(line["model_version"] == runner.scorer.version for line in lines)
