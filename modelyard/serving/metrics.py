"""Prometheus metrics of one scoring app, in a registry of its own.

One process (the app in a test, ``models serve`` with one worker): the figures live in memory.
Forked workers (``models serve --workers N``) share them through prometheus_client's multiprocess
mode: ``share_between_processes()`` (called by the parent before it builds the service) points
every metric at per-process files in a temporary folder, and each worker's ``/metrics`` adds up
the files of all of them, so any worker answers for the whole server: counters and histograms
summed, the inference-log queue summed over live workers, the model-version gauge the largest
over live workers (1 while at least one live worker answers with that version; 0 once none does).
The parent forgets a worker's live gauges when it exits (``forget_process``) and removes the
folder at exit.
"""

from __future__ import annotations

import shutil
import tempfile

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401  (re-exported)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_shared_folder: str | None = None  # the folder of share_between_processes (forked workers inherit it)
_plain_value_class = None  # prometheus_client's value class before sharing (stop_sharing restores it)

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
REQUEST_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def share_between_processes() -> str:
    """Make the metrics created from now on in this process (and the processes it forks) live in
    files of a new temporary folder, which is returned (remove it with ``stop_sharing``)."""
    from prometheus_client import values

    global _shared_folder
    from modelyard.settings import library_environment

    global _plain_value_class
    folder = tempfile.mkdtemp(prefix="modelyard-serve-metrics-")
    library_environment(MULTIPROC_ENV, folder)  # read by prometheus_client when a value is created
    _shared_folder = folder
    _plain_value_class = values.ValueClass
    values.ValueClass = values.MultiProcessValue()
    return folder


def forget_process(pid: int) -> None:
    """A worker exited: its live gauges (version answering, queued log records) no longer count."""
    from prometheus_client import multiprocess

    if _shared_folder:
        multiprocess.mark_process_dead(pid, _shared_folder)


def stop_sharing(folder: str) -> None:
    global _shared_folder
    from modelyard.settings import library_environment

    shutil.rmtree(folder, ignore_errors=True)
    if _shared_folder == folder:
        from prometheus_client import values

        library_environment(MULTIPROC_ENV, None)
        _shared_folder = None
        if _plain_value_class is not None:  # metrics made from now on live in this process again
            values.ValueClass = _plain_value_class


class ServingMetrics:
    def __init__(self) -> None:
        from prometheus_client import values

        self.shared = bool(getattr(values.ValueClass, "_multiprocess", False))  # share_between_processes()
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
            ["model", "version"], registry=r, multiprocess_mode="livemax",
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
            "modelyard_serving_inference_log_queue", "Inference-log records waiting to be written.", registry=r,
            multiprocess_mode="livesum",
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
        if old is not None and self.shared:  # a shared series cannot be removed: 0 in this worker
            self.model_version.labels(model, old).set(0)
        elif old is not None:
            try:
                self.model_version.remove(model, old)
            except KeyError:
                pass
        self.model_version.labels(model, new).set(1)
        if not first:
            self.model_switches.labels(model).inc()

    def render(self) -> bytes:
        if self.shared:  # every worker's figures, added up from their files
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, _shared_folder)
            return generate_latest(registry)
        return generate_latest(self.registry)
