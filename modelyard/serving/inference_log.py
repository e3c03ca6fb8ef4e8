"""The inference log (opt-in): every scored request and its response, written off the request path.

``record(...)`` puts a tuple on a bounded queue and returns (no I/O, no encoding on the request
path); a background ``Worker`` turns the queued records into rows every ``flush_s`` seconds (or as
soon as ``BATCH`` records wait) and appends them to the sink:

- a folder: one Parquet file per flush, ``inference-<utc time>-<pid>-<n>.parquet`` (read the whole
  log with ``pandas.read_parquet(folder)``);
- a database URI (``sqlite:///...``, ``postgresql://...``, ``mysql://...``): rows appended to the
  table ``modelyard_inference_log``, which the migrations create (an empty database is migrated).

Columns: ``request_id, time (UTC), model, version, status, latency_ms, content_type, request,
response``. ``request`` is the body as received (JSON or CSV text; a Parquet body as
``{"dataframe_split": ...}`` JSON), ``response`` the JSON answered. When the queue is full a record
is dropped and counted (``modelyard_serving_inference_log_dropped{reason="queue_full"}``); a
failed write drops its records with ``reason="write_failed"``. Nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import queue
import time
from pathlib import Path
from typing import Any, Protocol

from modelyard.workers import Worker

logger = logging.getLogger(__name__)

TABLE = "modelyard_inference_log"  # modelyard.store.serving.tables
BATCH = 5000
COLUMNS = ("request_id", "time", "model", "version", "status", "latency_ms", "content_type", "request", "response")
SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle")


class Sink(Protocol):
    def write(self, rows: list[dict]) -> None: ...
    def close(self) -> None: ...


class Counters(Protocol):
    """The metrics the log reports to (``ServingMetrics`` has them)."""

    log_written: Any
    log_dropped: Any
    log_queue: Any


class InferenceLog:
    """The queue and its writer, a ``Worker`` (``modelyard.workers``) that ``start()`` starts (the
    scoring service does, in the app's lifespan) and ``close()`` stops after a last write."""

    def __init__(self, sink: Sink, metrics: Counters, *, queue_size: int = 10_000, flush_s: float = 1.0) -> None:
        self._sink = sink
        self._metrics = metrics
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._flush_s = flush_s
        self._dropped_full = metrics.log_dropped.labels("queue_full")
        self._dropped_write = metrics.log_dropped.labels("write_failed")
        self.worker = Worker("modelyard-inference-log", self._round, interval=flush_s, on_stop=self._drain)
        metrics.log_queue.set_function(self._queue.qsize)

    def start(self) -> InferenceLog:
        self.worker.start()
        return self

    def record(
        self, request_id: str, model: str, version: str | None, status: int, latency_s: float,
        content_type: str | None, request: bytes, response: bytes,
    ) -> None:
        """Queue one record; never blocks (a full queue drops it and counts the drop)."""
        try:
            self._queue.put_nowait(
                (request_id, time.time(), model, version, status, latency_s, content_type, request, response)
            )
        except queue.Full:
            self._dropped_full.inc()
            return
        if self._queue.qsize() >= BATCH:  # a full batch is waiting: write it now, not at the next tick
            self.worker.wake()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the worker and close the sink."""
        if self.worker.is_alive():
            self.worker.stop(timeout)  # its last round writes what is queued
        else:
            self._drain()
        self._sink.close()

    def _round(self) -> float | None:
        """Write up to ``BATCH`` queued records; 0 (at once) when more are waiting, else None (the
        flush interval)."""
        pending: list[tuple] = []
        while len(pending) < BATCH:
            try:
                pending.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if pending:
            self._flush(pending)
        return 0 if len(pending) >= BATCH else None

    def _drain(self) -> None:
        while self._round() == 0:
            pass

    def _flush(self, records: list[tuple]) -> None:
        try:
            self._sink.write([_row(r) for r in records])
        except Exception as exc:  # noqa: BLE001 - a broken sink must not stop the server
            logger.warning("Inference log: dropped %d records, the write failed: %s", len(records), exc)
            self._dropped_write.inc(len(records))
            return
        self._metrics.log_written.inc(len(records))


def _row(record: tuple) -> dict:
    request_id, at, model, version, status, latency_s, content_type, request, response = record
    return {
        "request_id": request_id,
        "time": dt.datetime.fromtimestamp(at, dt.UTC),
        "model": model,
        "version": version,
        "status": status,
        "latency_ms": round(latency_s * 1000.0, 3),
        "content_type": content_type,
        "request": _text(request, content_type),
        "response": response.decode("utf-8", errors="replace"),
    }


def _text(body: bytes, content_type: str | None) -> str:
    if "parquet" in (content_type or ""):
        import io

        import pandas as pd

        from modelyard.serving.outputs import dumps

        try:
            frame = pd.read_parquet(io.BytesIO(body))
        except Exception:  # noqa: BLE001 - the request was refused anyway
            return ""
        split = {"columns": [str(c) for c in frame.columns], "data": frame.to_numpy().tolist()}
        return dumps({"dataframe_split": split}).decode()
    return body.decode("utf-8", errors="replace")


# -- sinks --------------------------------------------------------------------------------------------
def open_sink(destination: str) -> Sink:
    """A folder (Parquet files) or a database URI (SQL table)."""
    scheme = destination.split(":", 1)[0].split("+", 1)[0].lower() if "://" in destination else ""
    if scheme in SQL_SCHEMES:
        return SqlSink(destination)
    if destination.startswith("file://"):
        from modelyard.artifacts.local import local_path_from_uri

        return ParquetSink(local_path_from_uri(destination))
    return ParquetSink(Path(destination))


class ParquetSink:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count(1)

    def write(self, rows: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=_arrow_schema(pa))
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"inference-{stamp}-{os.getpid()}-{next(self._seq)}.parquet"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(self.folder / name)  # readers never see a half-written file

    def close(self) -> None:
        pass


def _arrow_schema(pa: Any) -> Any:
    return pa.schema(
        [
            ("request_id", pa.string()), ("time", pa.timestamp("us", tz="UTC")), ("model", pa.string()),
            ("version", pa.string()), ("status", pa.int32()), ("latency_ms", pa.float64()),
            ("content_type", pa.string()), ("request", pa.string()), ("response", pa.string()),
        ]
    )


class SqlSink:
    """Rows appended to ``modelyard_inference_log`` (``modelyard.store.serving.tables``). The table
    comes from the one migration chain: an empty database is migrated on open, one at an older
    revision is refused with the ``modelyard db upgrade`` command that fixes it."""

    def __init__(self, uri: str) -> None:
        from modelyard.store.serving.tables import inference_log
        from modelyard.store.sql.database import Database
        from modelyard.store.sql.migrate import ensure_schema

        self.db = Database.from_uri(uri)
        self.engine = self.db.engine
        ensure_schema(self.engine, uri)
        self.table = inference_log

    def write(self, rows: list[dict]) -> None:
        with self.db.write() as conn:
            conn.execute(self.table.insert(), rows)

    def close(self) -> None:
        self.db.close()
