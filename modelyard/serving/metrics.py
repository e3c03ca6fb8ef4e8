"""Prometheus metrics of one scoring app, in a registry of its own (no process-global state).

Each worker process answers ``/metrics`` with its own figures (``--workers N`` gives N series sets;
Prometheus scrapes one per request): count with ``sum()`` over the ``worker`` label set by the
scraper, or run one worker per container.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401  (re-exported)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
REQUEST_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelyard_serving_requests", "Requests answered, by model, endpoint and HTTP status.",
            ["model", "endpoint", "status"], registry=r,
        )
        self.errors = Counter(
            "modelyard_serving_errors", "Requests answered with an error, by model and error code.",
            ["model", "error_code"], registry=r,
        )
        self.latency = Histogram(
            "modelyard_serving_request_duration_seconds", "Time from request to response, by model and endpoint.",
            ["model", "endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.batch_rows = Histogram(
            "modelyard_serving_batch_rows", "Rows per predict call (merged requests count together).",
            ["model"], buckets=ROW_BUCKETS, registry=r,
        )
        self.batch_requests = Histogram(
            "modelyard_serving_batch_requests", "Requests per predict call (1 when nothing was merged).",
            ["model"], buckets=REQUEST_BUCKETS, registry=r,
        )
        self.model_version = Gauge(
            "modelyard_serving_model_version_info", "1 for the model version now answering, per served model.",
            ["model", "version"], registry=r,
        )
        self.model_switches = Counter(
            "modelyard_serving_model_switches", "Times a served model switched to another version.",
            ["model"], registry=r,
        )
        self.load_failures = Counter(
            "modelyard_serving_model_load_failures", "Model versions that failed to load (or to warm up).",
            ["model"], registry=r,
        )
        self.log_written = Counter(
            "modelyard_serving_inference_log_written", "Inference-log records written.", registry=r
        )
        self.log_dropped = Counter(
            "modelyard_serving_inference_log_dropped",
            "Inference-log records dropped: queue full (overload) or a failed write.", ["reason"], registry=r,
        )
        self.log_queue = Gauge(
            "modelyard_serving_inference_log_queue", "Inference-log records waiting to be written.", registry=r
        )
        self._children: dict[tuple, object] = {}

    def observe_request(self, model: str, endpoint: str, status: int, seconds: float, error_code: str | None) -> None:
        key = ("r", model, endpoint, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (
                self.requests.labels(model, endpoint, str(status)),
                self.latency.labels(model, endpoint),
            )
        child[0].inc()  # type: ignore[index]
        child[1].observe(seconds)  # type: ignore[index]
        if error_code is not None:
            self.errors.labels(model, error_code).inc()

    def observe_batch(self, model: str, rows: int, requests: int) -> None:
        key = ("b", model)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (self.batch_rows.labels(model), self.batch_requests.labels(model))
        child[0].observe(rows)  # type: ignore[index]
        child[1].observe(requests)  # type: ignore[index]

    def switched(self, model: str, old: str | None, new: str, first: bool) -> None:
        if old is not None:
            try:
                self.model_version.remove(model, old)
            except KeyError:
                pass
        self.model_version.labels(model, new).set(1)
        if not first:
            self.model_switches.labels(model).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
