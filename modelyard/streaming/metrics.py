"""Prometheus metrics of a streaming scorer (a registry of its own) and its ``/metrics`` + ``/health``
HTTP endpoint, served by uvicorn on the engine's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384)


class StreamMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.events_in = Counter("modelyard_stream_events_in", "Events read from the source.", registry=r)
        self.scored = Counter("modelyard_stream_events_scored", "Events whose prediction was written.", registry=r)
        self.dead_lettered = Counter(
            "modelyard_stream_events_dead_lettered", "Events sent to the dead-letter destination, by reason.",
            ["reason"], registry=r,
        )
        self.lag = Gauge("modelyard_stream_source_lag", "Events waiting on the source for this group.", ["source"],
                         registry=r)
        self.batch_rows = Histogram("modelyard_stream_batch_events", "Events per micro-batch.", buckets=ROW_BUCKETS,
                                    registry=r)
        self.latency = BulkHistogram(
            "modelyard_stream_latency_seconds", "From the event reaching the broker to its prediction written.",
            LATENCY_BUCKETS,
        )
        r.register(self.latency)
        self.model_version = Gauge("modelyard_stream_model_version_info", "1 for the model version scoring now.",
                                   ["model", "version"], registry=r)
        self.sink_retries = Counter("modelyard_stream_sink_retries", "Sink writes that failed and were retried.",
                                    registry=r)

    def set_version(self, model: str, old: str | None, new: str) -> None:
        if old is not None:
            self.model_version.remove(model, old)
        self.model_version.labels(model, new).set(1)


class BulkHistogram:
    """A Prometheus histogram fed a whole batch of values at once (one numpy pass, not one call per event)."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        import numpy as np

        self.name, self.documentation = name, documentation
        self.bounds = np.asarray(buckets, dtype=float)
        self.counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe_many(self, values: Any) -> None:
        import numpy as np

        values = np.asarray(values, dtype=float)
        if values.size:
            self.counts += np.bincount(np.searchsorted(self.bounds, values, side="left"), minlength=len(self.counts))
            self.sum += float(values.sum())

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def collect(self) -> list:
        cumulative = self.counts.cumsum()
        buckets = [(repr(float(b)), int(c)) for b, c in zip(self.bounds, cumulative[:-1], strict=True)]
        buckets.append(("+Inf", int(cumulative[-1])))
        return [HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=self.sum)]

    def describe(self) -> list:
        return self.collect()


async def serve_metrics(
    metrics: StreamMetrics, health: Callable[[], dict], host: str, port: int, started: asyncio.Future | None = None
) -> None:
    """``/metrics`` and ``/health`` on ``host:port`` until cancelled; ``started`` gets the bound port."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def metrics_page(request: Any) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def health_page(request: Any) -> Response:
        state = health()
        return JSONResponse(state, status_code=200 if state.get("status") == "ok" else 503)

    app = Starlette(routes=[Route("/metrics", metrics_page), Route("/health", health_page)])
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the engine owns SIGTERM
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1] if server.started else None
    logger.info("Metrics and /health on http://%s:%s", host, bound)
    if started is not None and not started.done():
        started.set_result(bound)
    try:
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        await asyncio.wait([task], timeout=5)
