"""Prometheus /metrics, the access-log line of every request, and the inference log (Parquet, SQL, drops)."""

from __future__ import annotations

import json
import logging
import threading

import pandas as pd
import sqlalchemy as sa
from serving_helpers import split_body, wait_until

from modelyard.serving.inference_log import InferenceLog
from modelyard.serving.metrics import ServingMetrics


def test_metrics_count_requests_errors_latency_batches_and_the_version(serve, model_dir, data):
    app = serve(str(model_dir))
    for _ in range(3):
        app.post("/invocations", json=split_body(data.head(2)))
    app.post("/invocations", json={"dataframe_split": {"columns": ["f0"], "data": [[1.0]]}})
    version = app.get("/version").json()["models"]["model"]["version"]
    text = app.get("/metrics").text
    assert 'modelyard_serving_requests_total{endpoint="invocations",model="model",status="200"} 3.0' in text
    assert 'modelyard_serving_requests_total{endpoint="invocations",model="model",status="400"} 1.0' in text
    assert 'modelyard_serving_errors_total{error_code="INVALID_PARAMETER_VALUE",model="model"} 1.0' in text
    assert 'modelyard_serving_request_duration_seconds_count{endpoint="invocations",model="model"} 4.0' in text
    assert 'modelyard_serving_batch_rows_sum{model="model"}' in text
    assert f'modelyard_serving_model_version_info{{model="model",version="{version}"}} 1.0' in text


def test_each_app_has_its_own_metrics(serve, model_dir, data):
    one, two = serve(str(model_dir)), serve(str(model_dir))
    one.post("/invocations", json=split_body(data.head(1)))
    assert 'status="200"} 1.0' in one.get("/metrics").text
    assert 'endpoint="invocations"' not in two.get("/metrics").text


def test_one_json_access_line_per_request_with_its_request_id(serve, model_dir, data, caplog):
    app = serve(str(model_dir))
    with caplog.at_level(logging.INFO, logger="modelyard.serving.access"):
        app.post("/invocations", json=split_body(data.head(3)), headers={"X-Request-ID": "req-42"})
        app.get("/ping")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "modelyard.serving.access"]
    assert len(lines) == 2
    scored, ping = lines
    assert scored["request_id"] == "req-42"
    assert (scored["method"], scored["path"], scored["status"], scored["model"], scored["rows"]) == (
        "POST", "/invocations", 200, "model", 3,
    )
    assert scored["version"] and scored["duration_ms"] > 0
    assert ping["path"] == "/ping" and len(ping["request_id"]) == 32


def test_the_inference_log_writes_parquet_files(serve, model_dir, data, tmp_path, estimators):
    folder = tmp_path / "log"
    app = serve(str(model_dir), inference_log=str(folder), inference_log_flush_s=0.05)
    ids = [f"r{i}" for i in range(5)]
    for rid in ids:
        app.post("/invocations", json=split_body(data.head(2)), headers={"X-Request-ID": rid})
    bad = app.post("/invocations", json={"dataframe_split": {"columns": ["f0"], "data": [[1.0]]}}, headers={"X-Request-ID": "bad"})
    assert bad.status_code == 400
    wait_until(lambda: _written(app) >= 6, what="the log to be written")
    frame = pd.read_parquet(folder).sort_values("request_id")
    assert sorted(frame["request_id"]) == sorted([*ids, "bad"])
    version = app.get("/version").json()["models"]["model"]["version"]
    row = frame[frame.request_id == "r0"].iloc[0]
    assert (row["model"], row["version"], row["status"]) == ("model", version, 200)
    assert json.loads(row["request"]) == split_body(data.head(2))
    assert json.loads(row["response"]) == {"predictions": estimators[0].predict(data.head(2)).tolist()}
    assert row["latency_ms"] > 0 and row["time"].tzinfo is not None
    assert frame[frame.request_id == "bad"].iloc[0]["status"] == 400


def test_the_inference_log_writes_a_sql_table(serve, model_dir, data, tmp_path):
    uri = f"sqlite:///{tmp_path / 'log.db'}"
    app = serve(str(model_dir), inference_log=uri, inference_log_flush_s=0.05)
    app.post("/invocations", json=split_body(data.head(1)), headers={"X-Request-ID": "sql-1"})
    app.post("/v2/models/model/infer", json=_oip(data.head(1)), headers={"X-Request-ID": "sql-2"})
    wait_until(lambda: _written(app) >= 2, what="the log to be written")
    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT request_id, model, status FROM modelyard_inference_log ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("sql-1", "model", 200), ("sql-2", "model", 200)]


class BlockedSink:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.rows: list[dict] = []

    def write(self, rows):
        self.release.wait(10)
        self.rows.extend(rows)

    def close(self):
        pass


def test_overload_drops_records_and_counts_them():
    metrics = ServingMetrics()
    sink = BlockedSink()
    log = InferenceLog(sink, metrics, queue_size=3, flush_s=0.01).start()
    log.record("first", "m", "1", 200, 0.001, "application/json", b"{}", b"{}")
    wait_until(lambda: log._queue.qsize() == 0, what="the writer to take the first record")
    for i in range(10):  # the writer is stuck: 3 fit in the queue, 7 are dropped
        log.record(f"r{i}", "m", "1", 200, 0.001, "application/json", b"{}", b"{}")
    sink.release.set()
    log.close()
    text = metrics.render().decode()
    assert 'modelyard_serving_inference_log_dropped_total{reason="queue_full"} 7.0' in text
    assert "modelyard_serving_inference_log_written_total 4.0" in text
    assert [r["request_id"] for r in sink.rows] == ["first", "r0", "r1", "r2"]


def _written(app) -> float:
    for line in app.get("/metrics").text.splitlines():
        if line.startswith("modelyard_serving_inference_log_written_total "):
            return float(line.split()[-1])
    return 0.0


def _oip(frame):
    return {"inputs": [{"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()} for c in frame.columns]}
