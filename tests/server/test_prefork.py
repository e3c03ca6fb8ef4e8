"""``modelyard server --workers N`` on POSIX: workers forked from a parent that imported the app.

A killed worker is replaced and the server keeps answering; SIGTERM stops the parent and every
worker; each worker has its own process (and database connections)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from modelyard.server import prefork

pytestmark = pytest.mark.skipif(
    not prefork.available(), reason="forked workers are Linux-only (uvicorn's workers are used elsewhere)"
)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return found


def _wait(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelyard.cli.main",
            "server",
            "--port",
            "0",
            "--workers",
            "3",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            "--artifacts-destination",
            str(tmp_path / "a"),
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = None
    for line in proc.stderr:
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            url = m.group(1)
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    assert url, "the server did not start"
    _wait(lambda: _healthy(url))
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_killed_worker_is_replaced_and_sigterm_stops_everything(server):
    proc, url = server

    def three_workers(without: int | None = None) -> set[int] | None:
        found = _children(proc.pid)
        return found if len(found) == 3 and without not in found else None

    workers = _wait(three_workers)
    created = httpx.post(url + "/api/2.0/mlflow/experiments/create", json={"name": "prefork"}).json()
    assert created["experiment_id"]

    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replaced = _wait(lambda: three_workers(without=victim))
    assert len(replaced - workers) == 1  # one new worker, the others untouched
    for _ in range(20):  # every worker answers, with the data written before the kill
        got = httpx.get(
            url + "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "prefork"}
        )
        assert (
            got.status_code == 200 and got.json()["experiment"]["experiment_id"] == created["experiment_id"]
        )

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    for pid in replaced:  # no worker outlives the parent
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
