"""How the engine cuts micro-batches: a free scorer takes what has been read at once (a lone event is
a batch of one, not kept waiting), the events read while the scorer is busy make the next batch
together, at most (in_flight + 1) batches are read and not written, and ``max_wait_ms``
makes a free scorer wait for a fuller batch (until it is full, or the stream stops).
An in-memory source and a sink that can be held make the order of events explicit (no timing)."""

from __future__ import annotations

import asyncio

from stream_helpers import event

from modelyard.streaming.base import BaseSink, BaseSource, Delivery
from modelyard.streaming.config import StreamConfig
from modelyard.streaming.engine import Pipeline
from modelyard.streaming.metrics import StreamMetrics
from modelyard.streaming.scoring import Scorer


class MemorySource(BaseSource):
    """Deliveries the test puts; ``handed`` counts those fetched by the engine so far."""

    def __init__(self) -> None:
        self.waiting: list[Delivery] = []
        self.arrived = asyncio.Event()
        self.handed = 0
        self.acked: list[str] = []
        self._next = 0

    def put(self, n: int) -> None:
        for _ in range(n):
            self.waiting.append(Delivery(f"{self._next}-0", {b"data": event(self._next, 0.5)}))
            self._next += 1
        self.arrived.set()

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        if not self.waiting:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout_s)
            except TimeoutError:
                return []
        out = self.waiting[:max_messages]
        del self.waiting[:max_messages]
        self.handed += len(out)
        return out

    async def ack(self, deliveries) -> None:
        self.acked += [d.id for d in deliveries]


class HeldSink(BaseSink):
    """Records each batch's size; a write waits while ``gate`` is clear."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.sizes: list[int] = []
        self.writing = asyncio.Event()

    async def write(self, records) -> None:
        self.writing.set()
        await self.gate.wait()
        self.sizes.append(len(records))


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def run_pipeline(model_dir, script, **options) -> tuple[MemorySource, HeldSink]:
    config = StreamConfig(str(model_dir), "memory://", "memory://", **options)
    scorer = Scorer(str(model_dir))
    scorer.start()
    source, sink = MemorySource(), HeldSink()

    async def main():
        pipeline = Pipeline(config, source, sink, None, scorer, StreamMetrics())
        task = asyncio.create_task(pipeline.run())
        await script(source, sink, pipeline)
        pipeline.stop()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(main())
    finally:
        scorer.stop()
    return source, sink


def test_a_free_scorer_takes_what_is_ready_and_a_busy_one_gets_what_piled_up(model_dir):
    async def script(source, sink, pipeline):
        sink.gate.clear()
        source.put(1)  # the scorer is free: this event is a batch of its own
        await until(sink.writing.is_set)
        source.put(3)  # the scorer is busy (its write is held, nothing was waiting): these are read...
        await until(lambda: source.handed == 4)
        source.put(4)  # ...and these, in another fetch
        await until(lambda: source.handed == 8)
        sink.gate.set()  # the next batch is everything read meanwhile
        await until(lambda: sum(sink.sizes) == 8)
        source.put(1)
        await until(lambda: sum(sink.sizes) == 9)

    source, sink = run_pipeline(model_dir, script, batch_size=100)
    assert sink.sizes == [1, 7, 1]
    assert sorted(source.acked, key=lambda i: int(i.split("-")[0])) == [f"{i}-0" for i in range(9)]


def test_what_piled_up_is_cut_at_the_batch_size_and_read_ahead_is_bounded(model_dir):
    async def script(source, sink, pipeline):
        sink.gate.clear()
        source.put(1)
        await until(sink.writing.is_set)
        source.put(15)
        # (in_flight + 1) batches read and not written: 1 in the held write, 11 read ahead
        await until(lambda: source.handed == 12)
        await asyncio.sleep(0.2)
        left.append(len(source.waiting))
        sink.gate.set()
        await until(lambda: sum(sink.sizes) == 16)

    left: list[int] = []
    _, sink = run_pipeline(model_dir, script, batch_size=4)
    assert left == [4]
    assert sink.sizes[:3] == [1, 4, 4] and sum(sink.sizes) == 16 and max(sink.sizes) == 4


def test_max_wait_makes_a_free_scorer_wait_for_a_full_batch_or_the_stop(model_dir):
    async def script(source, sink, pipeline):
        source.put(2)
        await until(lambda: source.handed == 2)
        source.put(3)  # the batch is full: the scorer stops waiting
        await until(lambda: sum(sink.sizes) == 5)
        source.put(1)
        await until(lambda: source.handed == 6)
        # a stop ends the wait: the event read is scored and acknowledged before run() returns

    source, sink = run_pipeline(model_dir, script, batch_size=5, max_wait_ms=600_000)
    assert sink.sizes == [5, 1]
    assert len(source.acked) == 6


def test_a_failed_write_stops_an_idle_consumer(model_dir):
    """The write runs in the background: when it fails for good and no other event comes, the
    consumer still stops (raising SinkFailed) without acknowledging."""
    import pytest

    from modelyard.streaming.engine import SinkFailed

    class BrokenSink(BaseSink):
        async def write(self, records) -> None:
            raise ConnectionError("the database is down")

    config = StreamConfig(str(model_dir), "memory://", "memory://", max_retries=2)
    scorer = Scorer(str(model_dir))
    scorer.start()
    source = MemorySource()

    async def main():
        source.put(3)
        await asyncio.wait_for(Pipeline(config, source, BrokenSink(), None, scorer, StreamMetrics()).run(), 30)

    try:
        with pytest.raises(SinkFailed, match="refused a batch 2 times"):
            asyncio.run(main())
    finally:
        scorer.stop()
    assert source.handed == 3 and source.acked == []
