"""``StreamRunner``: the model, the ends, ``--consumers`` pipelines, metrics and health, run to a stop."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any

from modelyard.streaming.config import StreamConfig
from modelyard.streaming.engine import Pipeline
from modelyard.streaming.metrics import StreamMetrics, serve_metrics
from modelyard.streaming.scoring import Scorer
from modelyard.streaming.uris import open_sink, open_source, redact

logger = logging.getLogger(__name__)

LAG_EVERY_S = 5.0


class StreamRunner:
    def __init__(self, config: StreamConfig, consumers: int = 1) -> None:
        self.config = config
        self.consumers = max(1, consumers)
        self.metrics = StreamMetrics()
        self.scorer = Scorer(
            config.model_uri, tracking_uri=config.tracking_uri, poll_interval=config.poll_interval,
            max_retries=config.max_retries, on_switch=self._switched,
        )
        self.pipelines: list[Pipeline] = []
        self.metrics_port: int | None = None
        self.state = "starting"
        self._stop_requested = False

    def stop(self) -> None:
        """Finish and acknowledge the batches read so far, then return from ``run`` (SIGTERM)."""
        self._stop_requested = True
        self.state = "stopping"
        for pipeline in self.pipelines:
            pipeline.stop()

    def health(self) -> dict:
        return {
            "status": "ok" if self.state == "running" else self.state,
            "model_uri": self.config.model_uri,
            "model_version": self.scorer.version,
            "source": redact(self.config.source),
            "sink": redact(self.config.sink),
            "consumers": len(self.pipelines),
            "batches": sum(p.batches for p in self.pipelines),
        }

    def _switched(self, name: str, old: str | None, new: str) -> None:
        self.metrics.set_version(name, old, new)

    async def run(self, ready: asyncio.Future | None = None) -> None:
        c = self.config
        loop = asyncio.get_running_loop()
        side: list[asyncio.Task] = []
        # the ends are built first: a bad URI fails before the model is loaded
        sink = open_sink(c.sink)
        dead = open_sink(c.dead_letter) if c.dead_letter else None
        base = c.consumer_name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        names = [base if self.consumers == 1 else f"{base}-{i}" for i in range(self.consumers)]
        sources = [open_source(c.source, consumer=name, prefetch=c.batch_size * (c.in_flight + 1), format=c.format)
                   for name in names]
        ends: list[Any] = []
        if c.metrics_port is not None:
            started: asyncio.Future = loop.create_future()
            side.append(asyncio.create_task(serve_metrics(self.metrics, self.health, c.metrics_host, c.metrics_port,
                                                          started)))
            self.metrics_port = await started
        try:
            await loop.run_in_executor(None, self.scorer.start)
            for end in (sink, dead, *sources):
                if end is not None:
                    ends.insert(0, end)
                    await end.start()
            self.pipelines = [Pipeline(c, source, sink, dead, self.scorer, self.metrics, name)
                              for source, name in zip(sources, names, strict=True)]
            if self._stop_requested:
                return
            side.append(asyncio.create_task(self._watch_lag()))
            self.state = "running"
            logger.info("Scoring %s with %s (version %s) into %s, %d consumer(s)", redact(c.source), c.model_uri,
                        self.scorer.version, redact(c.sink), self.consumers)
            if ready is not None and not ready.done():
                ready.set_result(self)
            results = await asyncio.gather(*(p.run() for p in self.pipelines), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
        finally:
            self.state = "stopped"
            for pipeline in self.pipelines:
                pipeline.stop()
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            for end in ends:
                try:
                    await end.close()
                except Exception as exc:
                    logger.warning("Closing %s: %s", type(end).__name__, exc)
            await loop.run_in_executor(None, self.scorer.stop)
            if ready is not None and not ready.done():
                ready.set_exception(RuntimeError("the stream stopped before it was ready"))

    async def _watch_lag(self) -> None:
        label = redact(self.config.source)
        while True:
            if self.pipelines:
                try:
                    lag = await self.pipelines[0].source.lag()
                    if lag is not None:
                        self.metrics.lag.labels(label).set(lag)
                except Exception as exc:
                    logger.debug("Lag unavailable: %s", exc)
            await asyncio.sleep(LAG_EVERY_S)
