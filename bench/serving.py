"""Serving benchmark: ``modelyard models serve`` vs ``mlflow models serve --env-manager local``.

    .venv/bin/python bench/serving.py [--quick] [--out FILE]
    .venv/bin/python bench/serving.py --workers 1,2,4 [--quick] [--out FILE]

The second form measures ``--workers N`` of both servers: start-up (launch to the moment every
worker process is serving, see ``serving_workers``) and the memory of the whole process tree
(summed PSS, which counts a page shared by k processes as 1/k in each, so shared copy-on-write
pages count once; summed RSS beside it, which counts them in every process).

Both servers serve the same model folder: a scikit-learn LogisticRegression on 20 float features,
saved by modelyard (sklearn flavor, cloudpickle, with signature and input example), which MLflow
loads as its own (checked: both answer the same predictions). MLflow runs from bench/.venv-mlflow
(created by ``tracking.ensure_mlflow_venv`` when missing). Measurements alternate between the tools
(ABBA) so the drift of a shared machine spreads over both. Only the JSON goes to stdout.
See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serving_client import build_request, concurrent, sequential  # noqa: E402
from tracking import (  # noqa: E402
    REPO,
    base_env,
    compile_checkout,
    ensure_mlflow_venv,
    log,
    machine_info,
    mlflow_python,
    sig,
)

TOOLS = ("modelyard", "mlflow")
HOST = "127.0.0.1"
FEATURES = 20
# (name, unit, better, target ratio, what)
FIGURES = [
    ("launch_to_ping_s", "s", "lower", 3.0, "process start to the first 200 on /ping (model loaded)"),
    ("single_row_p50_ms", "ms", "lower", 3.0, "one row (dataframe_split), one request at a time"),
    ("single_row_p99_ms", "ms", "lower", 3.0, "one row, one request at a time"),
    ("c16_throughput_rps", "req/s", "higher", 5.0, "one-row requests, 16 concurrent keep-alive clients"),
    ("c16_p99_ms", "ms", "lower", 1.0, "latency p99 at concurrency 16"),
    ("rows_1000_p50_ms", "ms", "lower", 3.0, "one request of 1,000 rows, one at a time"),
]


def save_model(folder: Path) -> tuple[Path, object, object]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import modelyard.sklearn as msk

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2000, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    y = (X.iloc[:, :5].sum(axis=1) > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(X, y)
    path = folder / "model"
    msk.save_model(model, path, serialization_format="cloudpickle", input_example=X.head(5))
    return path, model, X


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def command(tool: str, model: Path, port: int, workers: int = 1) -> tuple[list[str], dict]:
    env = base_env()
    if tool == "modelyard":
        env["PYTHONPATH"] = str(REPO)
        return [sys.executable, "-m", "modelyard.cli.main", "models", "serve", "-m", str(model), "--host", HOST,
                "-p", str(port), "--workers", str(workers)], env
    bindir = mlflow_python().parent
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"  # mlflow execs `uvicorn` by name
    return [str(bindir / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local", "-h", HOST,
            "-p", str(port), "--workers", str(workers)], env


class Server:
    def __init__(self, tool: str, model: Path, logs: Path, workers: int = 1) -> None:
        self.tool, self.port = tool, free_port()
        cmd, env = command(tool, model, self.port, workers)
        self.log = open(logs / f"{tool}-{self.port}.log", "w")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ping(self, timeout: float = 120.0) -> float:
        """Seconds from launch to the first 200 on /ping."""
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.tool} server exited with {self.proc.returncode} (log: {self.log.name})")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{self.tool} did not answer /ping within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


# -- --workers N: start-up and memory ------------------------------------------------------------
def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc/<pid>/task/<pid>/children)."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo.extend(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


def listening_inode(port: int) -> str | None:
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].split(":")[1], 16) == port:
                return parts[9]
    return None


def serving_workers(root: int, inode: str) -> int:
    """Processes of the tree whose event loop watches the listening socket (its fd is registered in
    one of their epoll instances, /proc/<pid>/fdinfo): the workers ready to accept, whichever tool."""
    ready = 0
    for pid in process_tree(root):
        try:
            listen_fds, epolls = set(), []
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target == f"socket:[{inode}]":
                    listen_fds.add(fd)
                elif target == "anon_inode:[eventpoll]":
                    epolls.append(fd)
            for fd in epolls:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    if any(line.startswith("tfd:") and line.split()[1] in listen_fds for line in f):
                        ready += 1
                        break
        except OSError:
            continue
    return ready


def tree_memory_mb(root: int) -> dict:
    """Summed PSS and RSS (MB) of the process tree, and how many processes it has."""
    pss = rss = 0
    pids = process_tree(root)
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            continue
    return {"pss_mb": pss / 1024, "rss_mb": rss / 1024, "processes": len(pids)}


def start_workers(tool: str, model: Path, logs: Path, workers: int, timeout: float = 180.0) -> tuple[Server, float]:
    """A server with ``workers`` workers and the seconds from launch until all of them serve (and /ping is 200)."""
    server = Server(tool, model, logs, workers)
    server.wait_ping(timeout)
    inode = listening_inode(server.port)
    while serving_workers(server.proc.pid, inode) < workers:
        if time.perf_counter() - server.started > timeout:
            raise RuntimeError(f"{tool}: {serving_workers(server.proc.pid, inode)} of {workers} workers serving")
        if server.proc.poll() is not None:
            raise RuntimeError(f"{tool} server exited with {server.proc.returncode} (log: {server.log.name})")
        time.sleep(0.005)
    return server, time.perf_counter() - server.started


def workers_bench(worker_counts: list[int], cfg: dict, out: Path | None) -> int:
    compile_checkout()  # launch figures time our start-up, not the compiler
    error = ensure_mlflow_venv()
    if error:
        log(error)
    tools = TOOLS if not error else ("modelyard",)
    tmp = Path(tempfile.mkdtemp(prefix="modelyard-serving-bench-"))
    rows: dict[str, dict] = {}
    try:
        model_dir, _model, X = save_model(tmp)
        one = body(X.head(1))
        for n in worker_counts:
            samples = {t: {"startup_s": [], "pss_mb": [], "rss_mb": [], "processes": 0} for t in tools}
            for r in range(cfg["launches"]):
                for t in order(r) if len(tools) == 2 else tools:
                    server, took = start_workers(t, model_dir, tmp, n)
                    try:
                        for _ in range(4 * n):  # a few predictions on new connections: the workers warm
                            conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
                            conn.request("POST", "/invocations", one, {"Content-Type": "application/json"})
                            assert conn.getresponse().status == 200
                            conn.close()
                        time.sleep(0.5)
                        mem = tree_memory_mb(server.proc.pid)
                    finally:
                        server.stop()
                    s = samples[t]
                    s["startup_s"].append(took)
                    s["pss_mb"].append(mem["pss_mb"])
                    s["rss_mb"].append(mem["rss_mb"])
                    s["processes"] = mem["processes"]
                    log(f"{t} --workers {n}: all serving after {took:.2f} s, PSS {mem['pss_mb']:.0f} MB, "
                        f"RSS {mem['rss_mb']:.0f} MB ({mem['processes']} processes), load {os.getloadavg()[0]:.2f}")
            rows[str(n)] = {
                t: {
                    "startup_s": sig(statistics.median(s["startup_s"])),
                    "pss_mb": sig(statistics.median(s["pss_mb"])),
                    "rss_mb": sig(statistics.median(s["rss_mb"])),
                    "processes": s["processes"],
                    "startup_samples_s": [sig(v) for v in s["startup_s"]],
                }
                for t, s in samples.items()
            }
            if len(tools) == 2:
                ours, theirs = rows[str(n)]["modelyard"], rows[str(n)]["mlflow"]
                rows[str(n)]["ratio"] = {k: sig(theirs[k] / ours[k], 3) for k in ("startup_s", "pss_mb", "rss_mb")}
    except Exception as exc:  # noqa: BLE001 - the JSON says what failed
        error = f"{type(exc).__name__}: {exc}"
        log(error)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps({
        "benchmark": "serving_workers",
        "what": {
            "startup_s": "launch to every worker's event loop watching the listening socket (and /ping 200)",
            "pss_mb": "summed PSS of the process tree after 4 predictions per worker (shared pages count once)",
            "rss_mb": "summed RSS of the same processes (shared pages counted in each)",
            "ratio": "mlflow / modelyard (higher: modelyard better)",
        },
        "config": cfg, "workers": rows, "error": error, "machine": machine_info(), "load_average": os.getloadavg(),
    }, indent=2)
    print(text)
    if out:
        out.write_text(text)
    return 0 if error is None else 1


def body(frame) -> bytes:
    return json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}).encode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def raw_predict_ms(model, frame, reps: int) -> float:
    for _ in range(20):
        model.predict(frame)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        model.predict(frame)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def order(round_no: int) -> tuple[str, ...]:
    return TOOLS if round_no % 2 == 0 else TOOLS[::-1]  # ABBA


def measure(servers: dict[str, Server], one: bytes, thousand: bytes, cfg: dict) -> dict:
    single = {t: [] for t in TOOLS}
    big = {t: [] for t in TOOLS}
    conc = {t: {"requests": 0, "elapsed": 0.0, "latencies": [], "failed": 0} for t in TOOLS}
    failed = {t: 0 for t in TOOLS}
    reqs = {t: (build_request(HOST, s.port, "/invocations", one), build_request(HOST, s.port, "/invocations", thousand))
            for t, s in servers.items()}
    for t in TOOLS:  # warm-up, untimed
        asyncio.run(sequential(HOST, servers[t].port, reqs[t][0], 200))
        asyncio.run(sequential(HOST, servers[t].port, reqs[t][1], 5))
    for r in range(cfg["rounds"]):
        for t in order(r):
            lat, bad = asyncio.run(sequential(HOST, servers[t].port, reqs[t][0], cfg["single_n"]))
            single[t] += lat
            failed[t] += bad
        for t in order(r + 1):
            lat, bad = asyncio.run(sequential(HOST, servers[t].port, reqs[t][1], cfg["big_n"]))
            big[t] += lat
            failed[t] += bad
        for t in order(r):
            res = asyncio.run(concurrent(HOST, servers[t].port, reqs[t][0], 16, cfg["conc_s"]))
            for key in ("requests", "elapsed", "failed"):
                conc[t][key] += res[key]
            conc[t]["latencies"] += res["latencies"]
        log(f"round {r + 1}/{cfg['rounds']} done")
    out = {}
    for t in TOOLS:
        out[t] = {
            "single_row_p50_ms": percentile(single[t], 50) * 1000,
            "single_row_p99_ms": percentile(single[t], 99) * 1000,
            "c16_throughput_rps": conc[t]["requests"] / conc[t]["elapsed"],
            "c16_p99_ms": percentile(conc[t]["latencies"], 99) * 1000,
            "c16_p50_ms": percentile(conc[t]["latencies"], 50) * 1000,
            "rows_1000_p50_ms": percentile(big[t], 50) * 1000,
            "failed_requests": failed[t] + conc[t]["failed"],
            "n": {"single": len(single[t]), "rows_1000": len(big[t]), "c16": conc[t]["requests"]},
        }
    return out


def same_answers(servers: dict[str, Server], payload: bytes) -> bool:
    answers = []
    for server in servers.values():
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        conn.request("POST", "/invocations", payload, {"Content-Type": "application/json"})
        answers.append(json.loads(conn.getresponse().read())["predictions"])
    return answers[0] == answers[1]


def report(results: dict, launch: dict, raw: dict, checks: dict, cfg: dict, error: str | None) -> dict:
    figures = {}
    for name, unit, better, target, what in FIGURES:
        ours = launch.get("modelyard") if name == "launch_to_ping_s" else results.get("modelyard", {}).get(name)
        theirs = launch.get("mlflow") if name == "launch_to_ping_s" else results.get("mlflow", {}).get(name)
        ratio = None
        if ours and theirs:
            ratio = theirs / ours if better == "lower" else ours / theirs
        figures[name] = {
            "modelyard": sig(ours), "mlflow": sig(theirs), "ratio": sig(ratio, 3), "unit": unit,
            "better": better, "target_ratio": target, "met": None if ratio is None else ratio >= target, "what": what,
        }
    ours = results.get("modelyard", {})
    overhead = {
        "single_row_p50_ms": sig(ours.get("single_row_p50_ms", 0) - raw["single_row_ms"]) if ours else None,
        "rows_1000_p50_ms": sig(ours.get("rows_1000_p50_ms", 0) - raw["rows_1000_ms"]) if ours else None,
    }
    theirs = results.get("mlflow", {})
    overhead_mlflow = {
        "single_row_p50_ms": sig(theirs["single_row_p50_ms"] - raw["single_row_ms"]) if theirs else None,
        "rows_1000_p50_ms": sig(theirs["rows_1000_p50_ms"] - raw["rows_1000_ms"]) if theirs else None,
    }
    return {
        "benchmark": "serving",
        "config": cfg,
        "figures": figures,
        "raw_predict_ms": {k: sig(v) for k, v in raw.items()},
        "overhead_over_raw_predict_ms": {"modelyard": overhead, "mlflow": overhead_mlflow},
        "details": {t: {k: (sig(v) if isinstance(v, float) else v) for k, v in r.items()} for t, r in results.items()},
        "launch_samples_s": launch.get("samples"),
        "checks": checks,
        "error": error,
        "machine": machine_info(),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds (about 1 minute)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--workers", metavar="N,N,...",
                        help="measure start-up and memory of both servers with these worker counts (e.g. 1,2,4)")
    args = parser.parse_args(argv)
    if args.workers:
        counts = [int(n) for n in args.workers.split(",")]
        return workers_bench(counts, {"launches": 1 if args.quick else 3}, args.out)
    cfg = {"rounds": 2, "single_n": 150, "big_n": 6, "conc_s": 3.0, "launches": 1} if args.quick else \
        {"rounds": 4, "single_n": 400, "big_n": 15, "conc_s": 6.0, "launches": 3}
    compile_checkout()  # launch figures time our start-up, not the compiler
    error = ensure_mlflow_venv()
    if error:
        log(error)
    tmp = Path(tempfile.mkdtemp(prefix="modelyard-serving-bench-"))
    results, launch, checks = {}, {"samples": {t: [] for t in TOOLS}}, {}
    servers: dict[str, Server] = {}
    raw = {"single_row_ms": 0.0, "rows_1000_ms": 0.0}
    try:
        model_dir, model, X = save_model(tmp)
        raw = {"single_row_ms": raw_predict_ms(model, X.head(1), 500), "rows_1000_ms": raw_predict_ms(model, X.head(1000), 50)}
        tools = TOOLS if not error else ("modelyard",)
        for r in range(cfg["launches"]):  # launch-to-ping, ABBA; the last launch stays up for measuring
            for t in order(r) if len(tools) == 2 else tools:
                server = Server(t, model_dir, tmp)
                launch["samples"][t].append(server.wait_ping())
                if r == cfg["launches"] - 1:
                    servers[t] = server
                else:
                    server.stop()
                log(f"{t}: first /ping after {launch['samples'][t][-1]:.2f} s")
        for t in tools:
            launch[t] = statistics.median(launch["samples"][t])
        if len(servers) == 2:
            checks["same_predictions_1000_rows"] = same_answers(servers, body(X.head(1000)))
            results = measure(servers, body(X.head(1)), body(X.head(1000)), cfg)
    except Exception as exc:  # noqa: BLE001 - the JSON says what failed
        error = f"{type(exc).__name__}: {exc}"
        log(error)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out = report(results, launch, raw, checks, cfg, error)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
