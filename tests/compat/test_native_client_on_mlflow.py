"""modelyard's client against MLflow 3.17's own server (the peer): server-info there offers none of
modelyard's fast routes, so the client uses MLflow's standard routes only, and histories and
searches come back whole and right."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelyard.entities import Metric, Param, RunTag
from modelyard.settings import Settings
from modelyard.store.tracking.rest import HISTORY_ARROW, SEARCH_COLUMNAR, SERVER_INFO, RestTrackingStore


class Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` (one worker) over SQLite, in a subprocess on a free 127.0.0.1 port."""
    root = tmp_path_factory.mktemp("mlflow-peer")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELYARD_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    cmd = [
        mlflow, "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("MLflow's server did not start", pytrace=False)
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_modelyard_client_falls_back_to_the_standard_routes_on_mlflow_server(mlflow_server) -> None:
    transport = Recording()
    settings = Settings.defaults(http_request_max_retries=0, http_request_timeout=60)
    store = RestTrackingStore(mlflow_server, settings, transport=transport)  # fast paths on (the default)
    try:
        exp = store.create_experiment("native-on-mlflow")
        run_id = store.create_run(exp, "ada", 1, [RunTag("team", "t")], "peer-run").info.run_id
        points = [Metric("loss", 1.0 / (s + 1), 100 + s, s) for s in range(2_500)]
        store.log_param(run_id, Param("lr", "0.1"))
        for i in range(0, len(points), 1000):
            store.log_batch(run_id, metrics=points[i : i + 1000])
        history = store.get_metric_history(run_id, "loss")
        assert [(m.step, m.value, m.timestamp) for m in history] == [
            (m.step, m.value, m.timestamp) for m in points
        ]
        found = store.search_runs([exp], "params.lr = '0.1'", max_results=10)
        assert [r.info.run_id for r in found] == [run_id]
        assert found[0].data.params == {"lr": "0.1"} and found[0].data.tags["team"] == "t"
        assert found[0].data.metrics == {"loss": points[-1].value}
        assert store.fast_paths() == frozenset()
        assert transport.paths.count(SERVER_INFO) == 1  # asked once; MLflow answers without our key
        assert HISTORY_ARROW not in transport.paths and SEARCH_COLUMNAR not in transport.paths
    finally:
        store.close()
