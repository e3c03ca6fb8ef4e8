"""The server's event loop under a busy database, and what the hand-off to threads costs.

Starts ``modelyard server`` (one worker unless ``--workers``) on SQLite (or ``--postgres URI``) and
measures, through plain HTTP (httpx, keep-alive):

- ``log_metric`` and ``get-run`` calls per second, one client, one call after another;
- ``log_metric`` calls per second from 8 concurrent clients;
- ``/health`` while another connection holds the database's write lock (SQLite ``BEGIN IMMEDIATE``,
  PostgreSQL ``LOCK TABLE metrics IN EXCLUSIVE MODE``) and a log-metric waits behind it: the
  slowest of the health checks made during the hold (issue 20 wants < 50 ms).

``--code DIR`` runs the server from another checkout's code (its ``modelyard`` package on
PYTHONPATH), to compare before/after in one run. Prints one JSON object; the load average is in it.

    python bench/event_loop.py [--quick] [--postgres URI] [--code /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(uri: str, folder: Path, code: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(
        PYTHONPATH=str(code), OMP_WAIT_POLICY="passive", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true"
    )
    cmd = [sys.executable, "-c", "from modelyard.cli.main import main; main()", "server", "--backend-store-uri", uri, "--artifacts-destination",
           str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not answer /health within 60 s")


def _rate(n: int, fn) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def measure(url: str, calls: int, lock) -> dict:
    out: dict = {}
    with httpx.Client(base_url=url, timeout=60) as c:
        run_id = c.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"][
            "run_id"
        ]

        def log(i: int, client=c, run=run_id) -> None:
            body = {"run_id": run, "key": "m", "value": float(i), "timestamp": i, "step": i}
            client.post("/api/2.0/mlflow/runs/log-metric", json=body).raise_for_status()

        def get(_i: int) -> None:
            c.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).raise_for_status()

        _rate(50, log)  # warm up
        out["log_metric_per_s"] = round(_rate(calls, log))
        out["get_run_per_s"] = round(_rate(calls, get))

        def writer(k: int) -> int:
            with httpx.Client(base_url=url, timeout=60) as own:
                rid = own.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"][
                    "info"
                ]["run_id"]
                for i in range(calls // 8):
                    log(i, own, rid)
            return calls // 8

        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            done = sum(pool.map(writer, range(8)))
        out["log_metric_8_writers_per_s"] = round(done / (time.perf_counter() - t0))

        # /health while the database's write lock is held elsewhere (released by a timer after
        # hold_s, whatever the server does) and a log-metric waits behind it
        hold_s = 3.0
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=url, timeout=60) as h:
            release, released = lock(), threading.Event()
            timer = threading.Timer(hold_s, lambda: (release(), released.set()))
            timer.start()
            waiting = pool.submit(log, 10**6, httpx.Client(base_url=url, timeout=60))
            time.sleep(0.2)  # let the log-metric reach the server
            worst = 0.0
            while not released.is_set():
                t = time.perf_counter()
                h.get("/health").raise_for_status()
                worst = max(worst, time.perf_counter() - t)
                time.sleep(0.05)
            t = time.perf_counter()
            waiting.result()
            out["health_worst_ms_while_locked"] = round(worst * 1000, 1)
            out["log_metric_done_after_release_ms"] = round((time.perf_counter() - t) * 1000, 1)
    return out


def _sqlite_lock(db_file: str):
    def take():
        holder = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        return lambda: (holder.execute("ROLLBACK"), holder.close())

    return take


def _pg_lock(uri: str):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from modelyard.store.sql.engine import normalize_db_uri

    def take():
        engine = create_engine(normalize_db_uri(uri), poolclass=NullPool)
        conn = engine.connect()
        conn.begin()
        conn.execute(text("LOCK TABLE metrics IN EXCLUSIVE MODE"))
        return lambda: (conn.rollback(), conn.close(), engine.dispose())

    return take


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--postgres", help="a PostgreSQL URI (an empty database) instead of SQLite")
    ap.add_argument("--code", type=Path, default=REPO, help="the checkout whose modelyard the server runs")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    calls = 400 if args.quick else 2000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.postgres:
            uri, lock = args.postgres, _pg_lock(args.postgres)
        else:
            db_file = str(folder / "bench.db")
            uri, lock = f"sqlite:///{db_file}", _sqlite_lock(db_file)
        proc, url = _start(uri, folder, args.code.resolve(), args.workers)
        try:
            result = measure(url, calls, lock)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result.update(backend="postgresql" if args.postgres else "sqlite", code=str(args.code), workers=args.workers,
                  calls=calls, loadavg=[round(x, 2) for x in os.getloadavg()])  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
