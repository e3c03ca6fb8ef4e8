"""The hot writes of ``modelyard server`` on PostgreSQL, request by request: wall time and server CPU.

Starts ``modelyard server --workers N`` on a fresh PostgreSQL database and replays, over plain
keep-alive HTTP (``http.client``, one connection per client), the requests the mlflow client
sends for ``log_metric``, ``log_batch`` (1,000 points) and ``set_terminated`` (``runs/update``), one
client after another and then from 8 concurrent clients (each on its own run). Per request: wall
p50 (client side) and the server's CPU (user + system of the server and its workers, read from
``/proc/<pid>/stat`` before and after each phase, divided by the phase's requests).

``--code DIR,DIR...`` runs each phase on every checkout in turn, interleaved (A/B), ``--rounds``
times. Prints one JSON object per checkout; the load average is in it.

    python bench/pg_writes.py --code /work/main,/work/wt/pgloop [--workers 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
API = "/api/2.0/mlflow"
TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_cpu(root: int) -> float:
    """User + system CPU seconds of ``root`` and every process below it."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(p for p, pp in parents.items() if pp == pid)
    return total


class Server:
    def __init__(self, code: str, workers: int) -> None:
        import psycopg

        self.db = "bench_pgw_" + uuid.uuid4().hex[:8]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.db}")
        self.port = _free_port()
        env = {**os.environ, "PYTHONPATH": code, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
        uri = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.db}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelyard.cli.main", "server", "--backend-store-uri", uri,
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        import psycopg

        os.killpg(self.proc.pid, 15)
        self.proc.wait(30)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port)

    def post(self, path: str, body: dict) -> dict:
        self.conn.request("POST", API + path, json.dumps(body), {"Content-Type": "application/json"})
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{path}: {answer.status} {data[:300]!r}")
        return json.loads(data)

    def new_run(self) -> str:
        return self.post("/runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"]


def _requests(kind: str, run_id: str, n: int):
    ts = int(time.time() * 1000)
    for i in range(n):
        if kind == "log_metric":
            yield "/runs/log-metric", {"run_id": run_id, "run_uuid": run_id, "key": "m", "value": i * 0.5,
                                       "timestamp": ts + i, "step": i}  # fmt: skip
        elif kind == "log_batch":
            metrics = [{"key": f"m{j % 10}", "value": j * 0.25, "timestamp": ts, "step": i * 100 + j // 10}
                       for j in range(1000)]  # fmt: skip
            yield "/runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": [], "tags": []}
        else:  # set_terminated
            yield (
                "/runs/update",
                {"run_id": run_id, "run_uuid": run_id, "status": "FINISHED", "end_time": ts + i},
            )


def phase(server: Server, kind: str, clients: int, n: int) -> dict:
    conns = [Client(server.port) for _ in range(clients)]
    runs = [c.new_run() for c in conns]
    walls: list[list[float]] = [[] for _ in conns]

    def work(k: int) -> None:
        for path, body in _requests(kind, runs[k], n):
            t0 = time.perf_counter()
            conns[k].post(path, body)
            walls[k].append(time.perf_counter() - t0)

    cpu0, t0 = _tree_cpu(server.proc.pid), time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, _tree_cpu(server.proc.pid) - cpu0
    flat = [w for ws in walls for w in ws]
    return {
        "p50_ms": round(statistics.median(flat) * 1000, 3),
        "cpu_ms_per_req": round(cpu * 1000 / len(flat), 3),
        "req_per_s": round(len(flat) / elapsed, 1),
    }


PHASES = (("log_metric", 1, 600), ("log_metric", 8, 150), ("log_batch", 1, 60), ("log_batch", 8, 12),
          ("set_terminated", 1, 600), ("set_terminated", 8, 150))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", default=str(REPO), help="comma-separated checkouts, run interleaved")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the requests per phase")
    ap.add_argument("--phases", default="", help="comma-separated subset, e.g. log_metric/8")
    args = ap.parse_args()
    codes = args.code.split(",")
    results: dict[str, dict[str, list[dict]]] = {c: {} for c in codes}
    loads = []
    servers = {c: Server(c, args.workers) for c in codes}
    try:
        for c in codes:  # warm up: statements prepared, connections open
            phase(servers[c], "log_metric", 2, 50)
            phase(servers[c], "log_batch", 2, 3)
        for _ in range(args.rounds):
            for kind, clients, n in PHASES:
                name = f"{kind}/{clients}"
                if args.phases and name not in args.phases.split(","):
                    continue
                for c in codes:
                    results[c].setdefault(name, []).append(
                        phase(servers[c], kind, clients, max(2, int(n * args.scale)))
                    )
            loads.append(os.getloadavg()[0])
    finally:
        for s in servers.values():
            s.stop()
    out = {"workers": args.workers, "load": [round(x, 2) for x in loads], "tools": {}}
    for c in codes:
        out["tools"][c] = {
            name: {k: round(statistics.median(r[k] for r in rs), 3) for k in rs[0]}
            for name, rs in results[c].items()
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
