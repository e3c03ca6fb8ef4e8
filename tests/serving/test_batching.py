"""The micro-batcher on its own: merging only when requests pile up, each caller its own rows back."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from serving_helpers import split_body

from modelyard.serving.batching import Batcher
from modelyard.serving.inputs import frame_input


class Recorder:
    """A predict function that records the rows of every call; the first call can be held."""

    def __init__(self, hold_first: bool = False) -> None:
        self.calls: list[int] = []
        self.release = threading.Event()
        self.started = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, frame, params):
        self.started.set()
        self.release.wait(10)
        if (frame["id"] < 0).any():
            raise ValueError("negative id")
        self.calls.append(len(frame))
        return frame["id"].to_numpy() * 10 + (params or {}).get("add", 0)


def request(ids, params=None):
    return frame_input(pd.DataFrame({"id": np.asarray(ids, dtype=float)}), params)


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


def run(coro):
    return asyncio.run(coro)


def test_an_idle_model_predicts_each_request_alone(pool):
    recorder = Recorder()
    batcher = Batcher(recorder, pool, max_wait_s=0.05)

    async def main():
        return [await batcher.predict(request([i, i + 1])) for i in range(3)]

    results = run(main())
    assert recorder.calls == [2, 2, 2]
    assert [r.tolist() for r in results] == [[0, 10], [10, 20], [20, 30]]


def test_requests_that_pile_up_share_one_call_and_get_their_own_rows(pool):
    recorder = Recorder(hold_first=True)
    batched: list[tuple[int, int]] = []
    batcher = Batcher(recorder, pool, max_concurrency=1, on_batch=lambda rows, n: batched.append((rows, n)))
    sizes = [1, 3, 2, 5, 1]

    async def main():
        first = asyncio.create_task(batcher.predict(request([100])))
        await asyncio.to_thread(recorder.started.wait, 10)
        start, tasks = 0, []
        for size in sizes:
            tasks.append(asyncio.create_task(batcher.predict(request(range(start, start + size)))))
            start += size
        await asyncio.sleep(0.05)  # all queued behind the held call
        recorder.release.set()
        return await first, await asyncio.gather(*tasks)

    first, results = run(main())
    assert first.tolist() == [1000]
    assert recorder.calls == [1, sum(sizes)]  # the held call, then one merged call
    start = 0
    for size, result in zip(sizes, results, strict=True):
        assert result.tolist() == [10 * i for i in range(start, start + size)]
        start += size
    assert batched[-1] == (sum(sizes), len(sizes))


def test_different_params_or_columns_are_never_merged(pool):
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder, pool, max_concurrency=1)

    async def main():
        first = asyncio.create_task(batcher.predict(request([0])))
        await asyncio.to_thread(recorder.started.wait, 10)
        a = asyncio.create_task(batcher.predict(request([1, 2])))
        b = asyncio.create_task(batcher.predict(request([3], params={"add": 5})))
        c = asyncio.create_task(batcher.predict(request([4])))
        other = frame_input(pd.DataFrame({"id": [5.0], "extra": [1.0]}), None)
        d = asyncio.create_task(batcher.predict(other))
        await asyncio.sleep(0.05)
        recorder.release.set()
        return await first, await a, await b, await c, await d

    _, a, b, c, d = run(main())
    assert (a.tolist(), b.tolist(), c.tolist(), d.tolist()) == ([10, 20], [35], [40], [50])
    assert sorted(recorder.calls) == [1, 1, 1, 3]  # held, a+c merged (3 rows), b alone, d alone


def test_a_bad_request_in_a_merged_call_fails_alone(pool):
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder, pool, max_concurrency=1)

    async def main():
        first = asyncio.create_task(batcher.predict(request([0])))
        await asyncio.to_thread(recorder.started.wait, 10)
        good = asyncio.create_task(batcher.predict(request([1])))
        bad = asyncio.create_task(batcher.predict(request([-1])))
        await asyncio.sleep(0.05)
        recorder.release.set()
        await first
        return await good, await asyncio.gather(bad, return_exceptions=True)

    good, (bad,) = run(main())
    assert good.tolist() == [10]
    assert isinstance(bad, ValueError)


def test_max_batch_rows_bounds_a_merged_call(pool):
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder, pool, max_concurrency=1, max_batch_rows=4)

    async def main():
        first = asyncio.create_task(batcher.predict(request([0])))
        await asyncio.to_thread(recorder.started.wait, 10)
        tasks = [asyncio.create_task(batcher.predict(request([i, i]))) for i in range(5)]
        await asyncio.sleep(0.05)
        recorder.release.set()
        await first
        return await asyncio.gather(*tasks)

    results = run(main())
    assert [r.tolist() for r in results] == [[10 * i, 10 * i] for i in range(5)]
    assert recorder.calls[1:] == [4, 4, 2]


def test_concurrent_http_requests_are_merged_and_answered_right(serve, model_dir, estimators, data):
    app = serve(str(model_dir), max_wait_ms=20.0)
    chunks = [data.iloc[i * 3 : i * 3 + 1 + i % 3] for i in range(24)]
    responses = app.gather(*(app.client.post("/invocations", json=split_body(c)) for c in chunks))
    for chunk, response in zip(chunks, responses, strict=True):
        assert response.json() == {"predictions": estimators[0].predict(chunk).tolist()}
    metrics = app.get("/metrics").text
    calls = _sample(metrics, 'modelyard_serving_batch_requests_count{model="model"}')
    merged = _sample(metrics, 'modelyard_serving_batch_requests_sum{model="model"}')
    assert merged == 24  # every request counted once
    assert calls < merged  # fewer predict calls than requests: some were merged


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")
