"""Several server workers over one PostgreSQL database serve one deployment: the server keeps no
state of its own, so concurrent writers through different workers all land, in order."""

import os
import re
import subprocess
import sys
import threading
import time

import httpx

API = "/api/2.0/mlflow"


def _start(tmp_path, db_uri: str, workers: int):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", "server", "--port", "0", "--workers", str(workers),
         "--backend-store-uri", db_uri, "--artifacts-destination", str(tmp_path / "artifacts")],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 90
    url, seen = None, []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        raise AssertionError("server did not start:\n" + "".join(seen))
    # drain stderr so worker logs never block the pipe
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    started = sum("Started server process" in s for s in seen)
    return proc, url, started


def test_two_workers_over_postgresql(tmp_path, fresh_postgres_uri):
    proc, url, _ = _start(tmp_path, fresh_postgres_uri, workers=2)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the workers listen
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        exp = httpx.post(f"{url}{API}/experiments/create", json={"name": "scale"}).json()["experiment_id"]
        run_ids = [
            httpx.post(f"{url}{API}/runs/create", json={"experiment_id": exp, "start_time": 1}).json()["run"]["info"]["run_id"]
            for _ in range(4)
        ]
        errors: list[str] = []

        def writer(run_id: str, w: int) -> None:
            with httpx.Client(base_url=url) as c:  # its own connection: requests spread over workers
                for step in range(50):  # each writer's points differ (value), so none is a repeat
                    r = c.post(f"{API}/runs/log-metric", json={
                        "run_id": run_id, "key": "m", "value": step * 1.5 + w, "timestamp": 1000 + step, "step": step})
                    if r.status_code != 200:
                        errors.append(r.text)

        threads = [threading.Thread(target=writer, args=(rid, w)) for rid in run_ids for w in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for rid in run_ids:
            hist = httpx.get(f"{url}{API}/metrics/get-history", params={"run_id": rid, "metric_key": "m"}).json()
            points = hist["metrics"]
            assert len(points) == 100  # two writers x 50 points, none lost
            assert sorted(p["step"] for p in points) == sorted(list(range(50)) * 2)
            latest = httpx.get(f"{url}{API}/runs/get", params={"run_id": rid}).json()["run"]["data"]["metrics"]
            assert latest == [{"key": "m", "value": 49 * 1.5 + 1, "timestamp": 1049, "step": 49}]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
