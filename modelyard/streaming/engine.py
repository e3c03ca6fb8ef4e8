"""The streaming engine: source -> micro-batches -> model -> sink, then acknowledge.

One ``Pipeline`` per consumer: a reader task fetches deliveries into a buffer, the scorer cuts
micro-batches from it and predicts them, and each batch's write (then its acknowledgement) runs in
the background, in order.

- **Micro-batches, cut when nothing more is ready**: the reader keeps fetching into a buffer; the
  scorer, whenever it is free, takes what the buffer holds (up to ``batch_size``) at once. A lightly
  loaded stream is scored event by event as it arrives (no fixed wait); while the scorer is busy the
  buffer fills, so batches grow with the load. ``max_wait_ms`` (default 0) lets a free scorer wait
  that long for a non-full batch to fill (fewer, larger sink writes at that much latency).
- **Scoring overlaps writing when saturated**: when a full batch is already waiting, a batch's sink
  write runs in the background while that one is decoded and predicted (the broker works on one
  while the consumer computes the other); one write in flight, in batch order: a batch's write
  starts when the previous one's is done. With nothing waiting, the write is awaited at once (at
  2,000 events/s on a loaded machine the overlap lengthened the p50 latency).
- **Backpressure**: at most ``in_flight + 1`` batches (``(in_flight + 1) * batch_size`` events) are
  read and not yet written; when the sink is slow the reader stops fetching and events wait on the
  broker.
- **Effectively once**: a delivery is acknowledged only after its predictions and dead letters are
  written (sinks are idempotent on the event id, so a redelivery adds nothing). The acknowledgement
  goes out in the background, in batch order, while the next batch is scored (one broker round trip
  less per batch); a stop waits for it. A failing sink write is retried with backoff
  ``max_retries`` times, then the consumer stops without acknowledging (neither that batch nor
  the one scored meanwhile, which is not written either).
- **No thread hop for small batches**: a batch of at most ``INLINE_ROWS`` events, of a model whose
  recent small batches took under ``INLINE_MAX_S`` of CPU (and under ``INLINE_MAX_WALL_S`` of wall
  time: a feature lookup's round trip), is scored on the event loop (as the serving batcher's inline
  path does); larger or slower ones on a worker thread, so the loop keeps reading. CPU time, not wall
  time, judges the model: on a loaded machine a fast model's wall time includes the waits for a
  core, and sending it to a thread would add one more wake-up per batch.
- **Slow batches**: while a batch is being scored the source is told it is in progress (NATS
  ``+WPI``), so the broker does not redeliver it behind our back.
- **Graceful stop** (``stop()``, SIGTERM in the CLI): no new fetch; the batches read so far are
  finished and acknowledged; then the ends are closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson

from modelyard.exceptions import ModelyardError
from modelyard.streaming.base import Delivery, Predictions
from modelyard.streaming.config import StreamConfig
from modelyard.streaming.messages import dead_letter, decode_all
from modelyard.streaming.metrics import StreamMetrics
from modelyard.streaming.scoring import Scored, Scorer

logger = logging.getLogger(__name__)

IDLE_POLL_S = 0.5  # longest a fetch blocks, so a stop is noticed
IN_PROGRESS_EVERY_S = 5.0
INLINE_ROWS = 64  # a batch this small, of a model this fast, is scored on the event loop (no thread hop)
INLINE_MAX_S = 0.002
INLINE_MAX_WALL_S = 0.02


class SinkFailed(ModelyardError):
    """The sink kept refusing a batch; its events were not acknowledged (they will be redelivered)."""


class Pipeline:
    def __init__(self, config: StreamConfig, source: Any, sink: Any, dead: Any | None, scorer: Scorer,
                 metrics: StreamMetrics, name: str = "consumer") -> None:
        self.config = config
        self.source = source
        self.sink = sink
        self.dead = dead
        self.scorer = scorer
        self.metrics = metrics
        self.name = name
        self._stopping = asyncio.Event()
        self._buffer: list[Delivery] = []  # read, not yet taken by the scorer
        self._filled = asyncio.Event()  # the buffer got deliveries (or the reader ended)
        self._room = asyncio.Event()  # the scorer took a batch: the reader may fetch again
        self._reader_done = False
        self._unwritten = 0  # deliveries taken by the scorer whose records are not written yet
        self._write_task: asyncio.Task | None = None
        self._ack_task: asyncio.Task | None = None
        self._recent: tuple[float, float] | None = None  # moving averages (CPU s, wall s) of a small batch's scoring
        self.batches = 0
        self.in_progress_every_s = IN_PROGRESS_EVERY_S

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        reader = asyncio.create_task(self._read(), name=f"{self.name}-reader")
        try:
            while True:
                batch = await self._take()
                if batch is None:
                    break
                await self._handle(batch)
            if self._write_task is not None:
                await self._write_task  # the last batch's write (a SinkFailed is ours)
        finally:
            self._stopping.set()
            self._room.set()
            if not reader.done():
                reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if self._write_task is not None:  # scored before a failure elsewhere: still written and acknowledged
                await asyncio.gather(self._write_task, return_exceptions=True)
            if self._ack_task is not None:  # the last written batch is acknowledged before we return
                await asyncio.gather(self._ack_task, return_exceptions=True)
        reader.result() if not reader.cancelled() else None

    # -- reading --------------------------------------------------------------------------------
    async def _read(self) -> None:
        """Fetch into the buffer until stopped (or the source fails), at most ``in_flight + 1`` batches
        read and not yet written."""
        size, buffer = self.config.batch_size, self._buffer
        limit = size * (self.config.in_flight + 1)
        try:
            while not self._stopping.is_set():
                room = limit - len(buffer) - self._unwritten
                if room <= 0:  # backpressure: a finished write makes room
                    self._room.clear()
                    await self._room.wait()
                    continue
                got = await self.source.fetch(min(size, room), IDLE_POLL_S)
                if got:
                    buffer.extend(got)
                    self._filled.set()
        finally:  # the scorer finishes what was read, then ends (a failure is raised by run)
            self._reader_done = True
            self._filled.set()

    async def _take(self) -> list[Delivery] | None:
        """The next batch: what the buffer holds now (up to ``batch_size``); None once the reader
        ended and everything it read was taken."""
        buffer, size = self._buffer, self.config.batch_size
        while not buffer:
            if self._reader_done or self._write_failed():
                return None
            self._filled.clear()
            await self._filled.wait()
        linger = self.config.max_wait_ms / 1000.0
        if linger > 0 and len(buffer) < size and not self._reader_done:
            deadline = time.monotonic() + linger
            while len(buffer) < size and not self._reader_done and not self._write_failed():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._filled.clear()
                try:
                    await asyncio.wait_for(self._filled.wait(), left)
                except TimeoutError:
                    break
        batch = buffer[:size]
        del buffer[:size]
        self._unwritten += len(batch)
        return batch

    # -- one batch ------------------------------------------------------------------------------
    async def _handle(self, deliveries: list[Delivery]) -> None:
        """Score a batch, then hand its write to the background (once the previous batch's is done)."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        keepalive = asyncio.create_task(self._keep_alive(deliveries))
        try:
            small, recent = len(deliveries) <= INLINE_ROWS, self._recent
            if small and recent is not None and recent[0] < INLINE_MAX_S and recent[1] < INLINE_MAX_WALL_S:
                scored, events, cpu, wall = self._score(deliveries)
            else:
                scored, events, cpu, wall = await loop.run_in_executor(None, self._score, deliveries)
            if small:
                self._recent = (cpu, wall) if recent is None else (0.8 * recent[0] + 0.2 * cpu,
                                                                   0.8 * recent[1] + 0.2 * wall)
            records = Predictions([e.id for e in scored.events], scored.version, scored.values,
                                  [e.passthrough for e in scored.events] if self.config.passthrough else None)
            dead = self._dead_letters(events, scored)
            if self._write_task is not None:
                await self._write_task  # one write in flight, in order (raises the previous batch's SinkFailed)
        except BaseException:
            keepalive.cancel()
            raise
        self._write_task = asyncio.create_task(
            self._deliver(deliveries, len(events), records, dead, scored.version, started, keepalive))
        if len(self._buffer) >= self.config.batch_size:  # a full batch is waiting (saturated): score it meanwhile
            await asyncio.sleep(0)  # the write is sent before the next batch is scored (maybe on this thread)
        else:  # nothing to overlap with: this batch's write is finished first, as at low load it always was
            await self._write_task

    async def _deliver(self, deliveries: list[Delivery], n_events: int, records: Predictions, dead: list[dict],
                       version: str, started: float, keepalive: asyncio.Task) -> None:
        """Write a scored batch's records (predictions, dead letters); then acknowledge it in the background."""
        try:
            await self._write(self.sink, records)
            if dead:
                await self._dead(dead)
        except BaseException:
            self._filled.set()  # an idle scorer learns of it now, not when the next event comes
            raise
        finally:
            keepalive.cancel()
            self._unwritten -= len(deliveries)
            self._room.set()
        # written: acknowledged in the background (in order) while the next batch is written
        self._ack_task = asyncio.create_task(self._ack_after(self._ack_task, deliveries))
        self._account(deliveries, n_events, records, dead, version, started)

    def _write_failed(self) -> bool:
        task = self._write_task
        return task is not None and task.done() and not task.cancelled() and task.exception() is not None

    async def _ack_after(self, previous: asyncio.Task | None, deliveries: list[Delivery]) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            await self.source.ack(deliveries)
        except Exception as exc:  # redelivered later; the idempotent sink keeps one copy
            logger.warning("Acknowledging %d messages failed (%s: %s); they will be redelivered", len(deliveries),
                           type(exc).__name__, exc)

    def _score(self, deliveries: list[Delivery]) -> tuple[Scored, list, float, float]:
        """(scored, events, CPU seconds of this thread, wall seconds)."""
        c = self.config
        cpu, wall = time.thread_time(), time.perf_counter()
        events = decode_all(deliveries, c.format, c.id_field, c.passthrough)
        readable = [e for e in events if e.error is None]
        scored = self.scorer.score(readable)
        return scored, events, time.thread_time() - cpu, time.perf_counter() - wall

    def _dead_letters(self, events: list, scored: Scored) -> list[dict]:
        many = self.config.format != "json"
        dead = [dead_letter(e, e.reason, e.error, 1, scored.version, many) for e in events if e.error is not None]
        dead += [dead_letter(e, reason, error, tries, scored.version, many) for e, reason, error, tries in scored.failures]
        return dead

    async def _dead(self, dead: list[dict]) -> None:
        for record in dead:
            self.metrics.dead_lettered.labels(record["reason"]).inc()
        if self.dead is not None:
            await self._write(self.dead, dead)
            return
        for record in dead:  # no --dead-letter: never dropped silently
            logger.error("Dead letter (no --dead-letter destination): %s", orjson.dumps(record).decode())

    async def _write(self, sink: Any, records: Sequence[dict]) -> None:
        if not records:
            return
        delay = 0.1
        for attempt in range(1, self.config.max_retries + 1):
            try:
                await sink.write(records)
                return
            except Exception as exc:
                if attempt == self.config.max_retries:
                    raise SinkFailed(f"The sink refused a batch {attempt} times: {type(exc).__name__}: {exc}") from exc
                self.metrics.sink_retries.inc()
                logger.warning("Sink write failed (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _keep_alive(self, deliveries: list[Delivery]) -> None:
        while True:
            await asyncio.sleep(self.in_progress_every_s)
            try:
                await self.source.in_progress(deliveries)
            except Exception as exc:  # the next ack will tell if the broker really lost them
                logger.warning("Could not mark a batch in progress: %s", exc)

    def _account(self, deliveries: list[Delivery], n_events: int, records: list, dead: list, version: str,
                 started: float) -> None:
        m = self.metrics
        m.events_in.inc(n_events)
        m.scored.inc(len(records))
        m.batch_rows.observe(n_events)
        now = time.time()
        m.latency.observe_many([now - d.produced_at for d in deliveries if d.produced_at is not None])
        self.batches += 1
        if logger.isEnabledFor(logging.INFO):
            logger.info(orjson.dumps({
                "consumer": self.name, "batch": self.batches, "messages": len(deliveries), "events": n_events,
                "scored": len(records), "dead_lettered": len(dead), "model_version": version,
                "seconds": round(time.perf_counter() - started, 6),
            }).decode())
