"""Asynchronous logging: metrics, params and tags queued and sent as batches in the background.

Opt in per call (``synchronous=False``) or for the process (``MODELYARD_ASYNC_LOGGING`` /
``MLFLOW_ENABLE_ASYNC_LOGGING``). One ``Worker`` (``modelyard.workers``) per client drains the queue into
``log_batch`` calls within the batch limits. Nothing is dropped silently: what could not be
delivered (after the store's own retries) is kept, logged, and raised by ``flush()`` — which
runs on ``end_run``, at interpreter exit, and on demand.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass, field

from modelyard.entities import Metric, Param, RunTag
from modelyard.exceptions import ModelyardError
from modelyard.workers import Worker

logger = logging.getLogger(__name__)

MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_TOTAL = 1000, 100, 100, 1000
_live: weakref.WeakSet[AsyncLogger] = weakref.WeakSet()


@dataclass
class _Batch:
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


class UndeliveredData(ModelyardError):
    """Raised by flush() when queued data could not be stored; ``undelivered`` says exactly what."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503

    def __init__(self, message: str, undelivered: dict[str, _Batch]) -> None:
        super().__init__(message)
        self.undelivered = undelivered


class AsyncLogger:
    """Queues batches and sends them on a ``Worker`` (``modelyard.workers``) owned by its client:
    started on first use, flushed by ``end_run``, stopped by the client's ``close()`` (the client
    context closes it at exit)."""

    def __init__(self, store, *, max_wait_s: float = 0.2) -> None:
        self._store = store
        self._queue: queue.Queue = queue.Queue()
        self._max_wait_s = max_wait_s
        self._failed: dict[str, _Batch] = {}
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._worker = Worker("modelyard-async-logging", self._round, interval=None, on_stop=self._drain)
        self._worker.start()
        _live.add(self)

    # -- producer side ------------------------------------------------------------------
    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        self._queue.put((run_id, list(metrics), list(params), list(tags)))
        self._worker.wake()

    def flush(self) -> None:
        """Wait until everything queued so far is stored; raise UndeliveredData for what was not."""
        done = threading.Event()
        self._queue.put(done)
        if self._worker.is_alive():
            self._worker.wake()
            done.wait()
        else:  # stopped (or never running): deliver on this thread
            self._drain()
        with self._lock:
            failed, errors = self._failed, self._errors
            self._failed, self._errors = {}, []
        if failed:
            detail = "; ".join(
                f"run {rid}: {len(b.metrics)} metrics ({', '.join(sorted({m.key for m in b.metrics})[:10])}), "
                f"{len(b.params)} params, {len(b.tags)} tags"
                for rid, b in failed.items()
            )
            raise UndeliveredData(f"Asynchronous logging could not deliver: {detail}. Last error: {errors[-1]}", failed)

    def close(self) -> None:
        """Send what is queued, then stop the worker."""
        self._worker.stop(timeout=60)

    # -- worker side --------------------------------------------------------------------
    def _round(self) -> float | None:
        """Send what is queued, gathering what arrives within the batching window; 0 when more may
        be waiting, None (sleep until woken) when the queue is empty."""
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            return None
        pending: dict[str, _Batch] = defaultdict(_Batch)
        waiters: list[threading.Event] = []
        while True:
            if isinstance(item, threading.Event):
                waiters.append(item)
            else:
                run_id, metrics, params, tags = item
                b = pending[run_id]
                b.metrics += metrics
                b.params += params
                b.tags += tags
            if waiters or self._worker.stopping:
                break
            try:  # gather what arrives within the batching window
                item = self._queue.get(timeout=self._max_wait_s)
            except queue.Empty:
                break
        try:
            for run_id, batch in pending.items():
                self._send(run_id, batch)
        finally:  # a waiter is never left hanging
            for w in waiters:
                w.set()
        return 0

    def _drain(self) -> None:
        while self._round() is not None:
            pass

    def _send(self, run_id: str, batch: _Batch) -> None:
        for chunk in _chunks(batch):
            try:
                self._store.log_batch(run_id, chunk.metrics, chunk.params, chunk.tags)
            except Exception as exc:  # kept and reported, never dropped silently
                logger.error("async logging to run %s failed for %d items: %s", run_id, len(chunk), exc)
                with self._lock:
                    failed = self._failed.setdefault(run_id, _Batch())
                    failed.metrics += chunk.metrics
                    failed.params += chunk.params
                    failed.tags += chunk.tags
                    self._errors.append(str(exc))


def _chunks(batch: _Batch):
    metrics, params, tags = batch.metrics, batch.params, batch.tags
    # params first (immutable: a conflict fails only its own chunk), then tags, then metrics
    for i in range(0, len(params), MAX_PARAMS):
        yield _Batch(params=params[i : i + MAX_PARAMS])
    for i in range(0, len(tags), MAX_TAGS):
        yield _Batch(tags=tags[i : i + MAX_TAGS])
    for i in range(0, len(metrics), MAX_METRICS):
        yield _Batch(metrics=metrics[i : i + MAX_METRICS])


@atexit.register
def _flush_all_at_exit() -> None:
    for lg in list(_live):
        try:
            lg.flush()
        except UndeliveredData as exc:
            logger.error("%s", exc.message)
        lg.close()
