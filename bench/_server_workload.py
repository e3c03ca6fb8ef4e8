"""The client side of the server benchmark, run by bench/tracking_server.py.

    bench/.venv-mlflow/bin/python bench/_server_workload.py --tool modelyard|mlflow \
        --phase writes|concurrent|artifacts|seed|reads --out results.json \
        [--config '{...}'] [--context '{...}']

By default it runs in the MLflow venv and talks to the server under test through the real
``mlflow`` client: ``MLFLOW_TRACKING_URI`` (set by the driver) points at ``mlflow server``
or ``modelyard server``, and ``--tool`` only labels the output. So the very same client code
drives both servers. With ``--client modelyard`` (run with modelyard's interpreter) the same
figures are taken through modelyard's own client (its fluent API and ``MlflowClient``, same
names and signatures), which may use the fast routes a modelyard server offers.

The three single-client write figures reuse ``Workload`` of bench/_workload.py (the
embedded benchmark), so they are defined exactly as there. Results are rewritten to --out
after every figure: a crash or a timeout still leaves the figures measured so far. Progress
goes to stderr. Standard library only at import time: the driver imports ``ServerConfig``
and ``history_points`` from here with its own interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from _common import SEARCH_FILTER, SEARCH_ORDER_BY, Config, generate_runs, p50, run_workload, short_error

perf = time.perf_counter

PHASES = ("writes", "concurrent", "artifacts", "seed", "reads")
MB = 1_000_000  # artifact sizes and rates are in decimal megabytes
SEARCH_EXPERIMENT = "bench-search"
HISTORY_KEY = "loss"


@dataclass(frozen=True)
class ServerConfig:
    """The counts of one server benchmark (full or --quick).

    Loops stop at their count or their time budget, whichever comes first, so that the
    slower server does not push one figure past about a minute; each figure reports what it
    actually did.
    """

    log_metric_calls: int = 300
    log_batch_calls: int = 20
    log_batch_size: int = 1_000  # points per log_batch call (10 keys x 100 steps)
    create_runs: int = 100  # each: 10 params, 10 metrics, 5 tags
    write_budget_s: float = 30.0
    search_runs: int = 10_000
    api_sample_runs: int = 5  # search runs created through the API; the rest by direct SQL
    search_rows: tuple[int, ...] = (100, 1_000)
    search_reps: int = 9  # p50 of 9: one slow sample (a disk flush, a neighbour) moves nothing
    search_budget_s: float = 40.0
    history_points: int = 100_000
    history_fill_budget_s: float = 40.0  # log_batch the history for this long; the rest by SQL
    history_reps: int = 7
    history_budget_s: float = 45.0
    big_artifact_mb: int = 100
    big_artifact_reps: int = 3
    small_files: int = 1_000
    small_file_bytes: int = 1_024
    writers: int = 8
    writer_seconds: float = 20.0
    launch_timeout_s: float = 240.0
    stop_grace_s: float = 20.0  # after SIGTERM, before SIGKILL
    settle_max_s: float = 150.0  # wait at most this long for a new server to become idle
    client_timeout_s: float = 900.0  # one client phase

    @classmethod
    def quick(cls) -> ServerConfig:
        return cls(
            log_metric_calls=60,
            log_batch_calls=3,
            create_runs=10,
            write_budget_s=5.0,
            search_runs=1_000,
            search_reps=3,
            search_budget_s=10.0,
            history_points=10_000,
            history_fill_budget_s=5.0,
            history_reps=3,
            history_budget_s=8.0,
            big_artifact_mb=20,
            big_artifact_reps=1,
            small_files=100,
            writers=8,
            writer_seconds=5.0,
            launch_timeout_s=180.0,
            stop_grace_s=10.0,
            settle_max_s=90.0,
            client_timeout_s=300.0,
        )

    def tracking_config(self) -> Config:
        """The embedded benchmark's Config, for the write figures it defines."""
        return Config(
            log_metric_calls=self.log_metric_calls,
            log_batch_calls=self.log_batch_calls,
            log_batch_size=self.log_batch_size,
            create_runs=self.create_runs,
            write_budget_s=self.write_budget_s,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["search_rows"] = list(self.search_rows)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ServerConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "search_rows" in d:
            d["search_rows"] = tuple(d["search_rows"])
        return cls(**d)


def history_points(n: int, ts0: int) -> list[tuple[float, int, int]]:
    """The (value, timestamp, step) points of the history run; the driver inserts the tail."""
    return [(1.0 / (s + 1), ts0 + s, s) for s in range(n)]


def expected_search(n_runs: int) -> list[str]:
    """Names of the runs the search must return, best first (computed in Python)."""
    matching = [
        d for d in generate_runs(0, n_runs) if d.metrics["accuracy"] > 0.5 and d.params["optimizer"] == "adam"
    ]
    matching.sort(key=lambda d: d.metrics["loss"])
    return [d.name for d in matching]


# Every HTTP answer >= 400 the client received, so that a failed figure can say exactly
# which request failed (mlflow's exceptions name the endpoint, not always the method or URL).
FAILED_REQUESTS: list[dict] = []


def record_failed_requests() -> None:
    """Wrap requests.Session.send (what the mlflow client uses) to note failing answers."""
    import requests

    original = requests.Session.send
    if getattr(original, "_bench_wrapped", False):
        return

    def send(self, request, **kwargs):
        resp = original(self, request, **kwargs)
        if resp.status_code >= 400:
            FAILED_REQUESTS.append(
                {
                    "request": f"{request.method} {request.url}",
                    "status": resp.status_code,
                    "body": resp.text[:500],  # error bodies are small; requests keeps it for mlflow
                }
            )
        return resp

    send._bench_wrapped = True
    requests.Session.send = send


def log(msg: str) -> None:
    sys.stderr.write(f"[{os.environ.get('BENCH_TOOL', '?')} client {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------------------
# Concurrent writers (forked by ServerWorkload._concurrent)
# --------------------------------------------------------------------------------------


def _writer(ids, seconds: float, barrier, queue, client_module: str = "mlflow") -> None:
    """One writer process: log_metric calls on its own run until its time is up."""
    item = ids.get(timeout=300)
    if item is None:  # the parent could not create the runs
        return
    index, run_id = item
    out: dict[str, Any] = {"index": index, "ok": 0, "errors": 0, "error_samples": [], "acked_steps": []}
    try:
        client = importlib.import_module(client_module).MlflowClient()
        client.log_metric(run_id, "warmup", 0.0, step=0)  # opens the connection; not counted
        barrier.wait(timeout=300)
        # the monotonic clock (one for every process of the machine): the wall clock can jump (a
        # virtual machine's clock set right after a pause), and a writer timed by it stops early
        t0 = time.monotonic()
        end = t0 + seconds
        step = 0
        while time.monotonic() < end:
            try:
                client.log_metric(run_id, "loss", 1.0 / (step + 1), timestamp=now_ms(), step=step)
                out["ok"] += 1
                out["acked_steps"].append(step)
            except Exception as exc:  # noqa: BLE001 - counted, and a few kept for the report
                out["errors"] += 1
                if len(out["error_samples"]) < 3:
                    last = FAILED_REQUESTS[-1] if FAILED_REQUESTS else None
                    out["error_samples"].append({"error": short_error(exc, 400), "last_failed_request": last})
            step += 1
        out.update(t0=t0, t1=time.monotonic(), attempted=step)
    except Exception as exc:  # noqa: BLE001
        out["fatal"] = short_error(exc)
        try:
            barrier.abort()  # the others stop waiting for this writer
        except Exception:  # noqa: BLE001
            pass
    queue.put(out)


# --------------------------------------------------------------------------------------
# The figures
# --------------------------------------------------------------------------------------


class ServerWorkload:
    def __init__(
        self, tool: str, out_path: str, cfg: ServerConfig, context: dict, client: str = "mlflow"
    ) -> None:
        self.tool, self.out_path, self.cfg, self.context = tool, out_path, cfg, context
        self.client_module = client
        self.results: dict[str, Any] = {
            "figures": {},
            "errors": {},
            "raw": {},
            "extra": {},
            "checks": {},
            "windows": {},  # wall-clock [start, end] of transfers, for the server's peak RSS
            "context": {},
        }
        mlflow = importlib.import_module(client)  # "mlflow", or "modelyard" (same fluent names)
        if client == "mlflow":
            record_failed_requests()
            self.download_artifacts = mlflow.artifacts.download_artifacts
        else:
            self.download_artifacts = mlflow.download_artifacts
        self.mlflow = mlflow
        self.client = mlflow.MlflowClient()
        self.results["info"] = {
            "client": client,
            "client_version": mlflow.__version__,
            "tracking_uri": mlflow.get_tracking_uri(),
            "python": sys.version.split()[0],
        }
        self.workdir = Path(tempfile.mkdtemp(prefix=f"client-{tool}-", dir=context.get("tmp")))
        self.flush()

    def flush(self) -> None:
        tmp = self.out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1, default=str)
        os.replace(tmp, self.out_path)

    def figure(self, name: str, fn: Callable[[], Any]) -> None:
        """Run one figure; record its value, or the error (with the traceback), and save."""
        log(f"{name} ...")
        t0, wall0 = perf(), time.time()
        with self.failed_requests(name):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - a failing figure must not stop the others
                self.results["errors"][name] = short_error(exc, 1500)
                self.results["raw"].setdefault("tracebacks", {})[name] = traceback.format_exc()[-4000:]
                log(f"{name} FAILED: {short_error(exc)}")
                try:
                    while self.mlflow.active_run() is not None:
                        self.mlflow.end_run()
                except Exception:  # noqa: BLE001
                    pass
        elapsed = perf() - t0
        jump = time.time() - wall0 - elapsed
        if abs(jump) > 1.0:  # the wall clock moved apart from the monotonic one: say so in the report
            self.results["extra"].setdefault("clock_jumps_s", {})[name] = round(jump, 1)
            log(f"{name}: the wall clock jumped {jump:+.1f}s during this figure")
        log(f"{name} done in {elapsed:.1f}s: {self.results['figures'].get(name, '-')}")
        self.flush()

    @contextlib.contextmanager
    def failed_requests(self, name: str):
        """If the figure fails, attach the last failing HTTP requests it made."""
        start = len(FAILED_REQUESTS)
        try:
            yield
        finally:
            if name in self.results["errors"] and len(FAILED_REQUESTS) > start:
                self.results["raw"].setdefault("failed_requests", {})[name] = FAILED_REQUESTS[start:][-3:]

    def set(self, name: str, value: float, **raw: Any) -> None:
        self.results["figures"][name] = value
        if raw:
            self.results["raw"][name] = raw

    def window(self, name: str, t0: float, t1: float) -> None:
        self.results["windows"].setdefault(name, []).append([t0, t1])

    # -- single-client writes: the embedded benchmark's definitions ------------------------
    def writes(self) -> None:
        from _workload import Workload

        wl = Workload(
            self.client_module, self.mlflow.get_tracking_uri(), self.out_path, self.cfg.tracking_config()
        )
        wl.results = self.results  # one result file; its figure() records into ours
        for name, fn in (
            ("log_metric_calls_per_s", wl.bench_log_metric),
            ("log_batch_points_per_s", wl.bench_log_batch),
            ("run_creation_runs_per_s", wl.bench_create_runs),
        ):
            with self.failed_requests(name):
                wl.figure(name, fn)
        self.flush()

    # -- concurrent writers --------------------------------------------------------------
    def concurrent(self) -> None:
        self.figure("concurrent_writers_calls_per_s", self._concurrent)

    def _concurrent(self) -> None:
        import multiprocessing as mp

        cfg, n = self.cfg, self.cfg.writers
        # Forked before this process sends its first request, so no HTTP connection is
        # shared, and without 8 interpreters importing mlflow (spawn) on a loaded machine.
        ctx = mp.get_context("fork")
        ids, barrier, queue = ctx.Queue(), ctx.Barrier(n), ctx.Queue()
        procs = [
            ctx.Process(target=_writer, args=(ids, cfg.writer_seconds, barrier, queue, self.client_module))
            for _ in range(n)
        ]
        for p in procs:
            p.start()
        try:
            exp_id = self.mlflow.set_experiment("bench-concurrent").experiment_id
            run_ids = [self.client.create_run(exp_id, run_name=f"writer-{i}").info.run_id for i in range(n)]
        except BaseException:
            for _ in procs:
                ids.put(None)
            raise
        for i, rid in enumerate(run_ids):
            ids.put((i, rid))
        outs, deadline = [], time.time() + 300 + cfg.writer_seconds + 120
        while len(outs) < n and time.time() < deadline:
            try:
                outs.append(queue.get(timeout=5))
            except Exception:  # noqa: BLE001 - queue.Empty: check that writers are alive
                if not any(p.is_alive() for p in procs):
                    break
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        for rid in run_ids:
            self.client.set_terminated(rid)
        missing = n - len(outs)
        fatal = [o["fatal"] for o in outs if "fatal" in o]
        timed = [o for o in outs if "t0" in o]
        if not timed:
            raise RuntimeError(f"no writer finished: {fatal or 'all timed out'}")
        ok = sum(o["ok"] for o in timed)
        errors = sum(o["errors"] for o in timed)
        span = max(o["t1"] for o in timed) - min(o["t0"] for o in timed)
        # Every acknowledged value must be stored: read each writer's history back.
        stored_total, lost, unacked_stored, dup = 0, 0, 0, 0
        for o in timed:
            hist = self.client.get_metric_history(run_ids[o["index"]], "loss")
            steps = [m.step for m in hist]
            acked = set(o["acked_steps"])
            stored = set(steps)
            stored_total += len(steps)
            dup += len(steps) - len(stored)
            lost += len(acked - stored)
            unacked_stored += len(stored - acked)
        self.results["checks"]["concurrent_writers_calls_per_s"] = {
            "writers": n,
            "writers_finished": len(timed),
            "writers_missing": missing,
            "acknowledged_calls": ok,
            "errors": errors,
            "stored_points": stored_total,
            "acknowledged_but_missing": lost,
            "stored_but_not_acknowledged": unacked_stored,
            "duplicates": dup,
            "all_acknowledged_values_stored": lost == 0 and missing == 0 and not fatal,
        }
        self.set(
            "concurrent_writers_calls_per_s",
            ok / span,
            writers=n,
            seconds=span,
            calls=ok,
            errors=errors,
            per_writer_calls=[o["ok"] for o in sorted(timed, key=lambda o: o["index"])],
            error_samples=[s for o in timed for s in o["error_samples"]][:5],
            writer_fatal=fatal,
        )

    # -- artifacts -----------------------------------------------------------------------
    def artifacts(self) -> None:
        exp = self.mlflow.set_experiment("bench-artifacts")
        self.results["context"]["artifact_experiment_id"] = exp.experiment_id
        self.figure("artifact_big", self._big_artifact)
        self.figure("artifact_small_files", self._small_files)

    def _big_artifact(self) -> None:
        cfg, mlflow = self.cfg, self.mlflow
        size = cfg.big_artifact_mb * MB
        src_dir = self.workdir / "big"
        src_dir.mkdir()
        src = src_dir / "big.bin"
        digest = hashlib.sha256()
        with open(src, "wb") as f:  # incompressible, so no transport can shortcut it
            left = size
            while left:
                chunk = os.urandom(min(left, 4 * MB))
                digest.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        want = digest.hexdigest()
        up, down, checks = [], [], []
        with mlflow.start_run(run_name="big-artifact") as run:
            run_id = run.info.run_id
            for rep in range(cfg.big_artifact_reps):
                gc.collect()
                w0, t0 = time.time(), perf()
                mlflow.log_artifact(str(src), artifact_path=f"rep{rep}")
                up.append(perf() - t0)
                self.window("artifact_upload", w0, time.time())
                dst = self.workdir / f"down{rep}"
                dst.mkdir()
                self.results["raw"]["artifact_big"] = {"upload_s": up, "download_s": down}
                gc.collect()
                w0, t0 = time.time(), perf()
                local = self.download_artifacts(
                    run_id=run_id, artifact_path=f"rep{rep}/big.bin", dst_path=str(dst)
                )
                down.append(perf() - t0)
                self.window("artifact_download", w0, time.time())
                checks.append(_sha256(Path(local)) == want and Path(local).stat().st_size == size)
                shutil.rmtree(dst, ignore_errors=True)
        src.unlink()
        self.results["checks"]["artifact_big"] = {"reps": len(checks), "downloads_identical": all(checks)}
        self.set(
            "artifact_upload_mb_per_s", cfg.big_artifact_mb / p50(up), mb=cfg.big_artifact_mb, samples_s=up
        )
        self.set(
            "artifact_download_mb_per_s",
            cfg.big_artifact_mb / p50(down),
            mb=cfg.big_artifact_mb,
            samples_s=down,
        )

    def _small_files(self) -> None:
        cfg, mlflow = self.cfg, self.mlflow
        src = self.workdir / "small"
        src.mkdir()
        contents = {}
        for i in range(cfg.small_files):
            data = os.urandom(cfg.small_file_bytes)
            contents[f"f{i:05d}.bin"] = data
            (src / f"f{i:05d}.bin").write_bytes(data)
        with mlflow.start_run(run_name="small-files") as run:
            gc.collect()
            w0, t0 = time.time(), perf()
            mlflow.log_artifacts(str(src), artifact_path="small")
            up = perf() - t0
            self.window("small_files_upload", w0, time.time())
            self.set("small_files_upload_per_s", cfg.small_files / up, files=cfg.small_files, seconds=up)
            self.flush()
            dst = self.workdir / "small-down"
            dst.mkdir()
            gc.collect()
            w0, t0 = time.time(), perf()
            local = Path(
                self.download_artifacts(run_id=run.info.run_id, artifact_path="small", dst_path=str(dst))
            )
            down = perf() - t0
            self.window("small_files_download", w0, time.time())
        got = {p.name: p.read_bytes() for p in local.iterdir() if p.is_file()}
        self.results["checks"]["small_files"] = {
            "files": len(got),
            "expected_files": len(contents),
            "identical": got == contents,
        }
        self.set("small_files_download_per_s", cfg.small_files / down, files=cfg.small_files, seconds=down)

    # -- seed: what the driver will complete by direct SQL while the server is down --------
    def seed(self) -> None:
        self.figure("search_seed", self._seed_search)
        self.figure("history_seed", self._seed_history)

    def _seed_search(self) -> None:
        mlflow = self.mlflow
        exp_id = mlflow.set_experiment(SEARCH_EXPERIMENT).experiment_id
        run_ids = []
        for rd in generate_runs(0, min(self.cfg.api_sample_runs, self.cfg.search_runs)):
            with mlflow.start_run(run_name=rd.name) as run:
                mlflow.log_params(rd.params)
                mlflow.log_metrics(rd.metrics)
                mlflow.set_tags(rd.tags)
            run_ids.append(run.info.run_id)
        self.results["context"].update(
            search_experiment_id=exp_id,
            search_template_run_uuid=run_ids[0],  # run-000000: the driver clones its rows
            search_api_runs=len(run_ids),
        )

    def _seed_history(self) -> None:
        Metric = importlib.import_module(f"{self.client_module}.entities").Metric

        cfg, n, per_call = self.cfg, self.cfg.history_points, 1_000
        exp_id = self.mlflow.set_experiment("bench-history").experiment_id
        run_id = self.client.create_run(exp_id, run_name="history").info.run_id
        ts0 = now_ms()
        points = history_points(n, ts0)
        done, t0 = 0, perf()
        while done < n and perf() - t0 < cfg.history_fill_budget_s:
            chunk = points[done : done + per_call]
            self.client.log_batch(run_id, metrics=[Metric(HISTORY_KEY, v, t, s) for v, t, s in chunk])
            done += len(chunk)
        self.client.set_terminated(run_id)
        self.results["context"].update(history_run_id=run_id, history_ts0=ts0, history_logged_points=done)
        self.results["extra"]["history_seed"] = {"logged_by_api": done, "seconds": perf() - t0}

    # -- reads: after the driver filled the stores ---------------------------------------
    def reads(self) -> None:
        """The figures whose store the driver filled (it reports why the others are missing)."""
        ctx = self.context
        if "search_runs_total" in ctx:
            n_runs = int(ctx["search_runs_total"])
            expected = expected_search(n_runs)
            for rows in self.cfg.search_rows:
                name = f"search_top{rows}_p50_ms"
                self.figure(
                    name,
                    lambda n=name, r=rows: self._time_search(
                        n, ctx["search_experiment_id"], r, n_runs, expected[:r]
                    ),
                )
        if "history_points" in ctx:
            self.figure("metric_history_ms", self._history)

    def _time_search(self, name: str, exp_id: str, rows: int, n_runs: int, expected: list[str]) -> None:
        def search():
            return self.client.search_runs(
                experiment_ids=[exp_id],
                filter_string=SEARCH_FILTER,
                order_by=SEARCH_ORDER_BY,
                max_results=rows,
            )

        t0 = perf()
        got = [r.info.run_name for r in search()]  # warm-up, and the correctness check
        warm_ms = (perf() - t0) * 1000
        check = {"rows": len(got), "expected_rows": len(expected), "same_runs_in_order": got == expected}
        if got != expected:
            check["first_difference_at"] = next(
                (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                min(len(got), len(expected)),
            )
        self.results["checks"][name] = check
        samples: list[float] = []
        end = perf() + self.cfg.search_budget_s
        for _ in range(self.cfg.search_reps):
            gc.collect()
            t0 = perf()
            search()
            samples.append((perf() - t0) * 1000)
            if perf() > end:
                break
        self.set(name, p50(samples), runs=n_runs, max_results=rows, samples_ms=samples, warmup_ms=warm_ms)

    def _history(self) -> None:
        ctx, cfg = self.context, self.cfg
        run_id, n = ctx["history_run_id"], int(ctx["history_points"])
        t0 = perf()
        hist = self.client.get_metric_history(run_id, HISTORY_KEY)  # warm-up and check
        warm_ms = (perf() - t0) * 1000
        steps = [m.step for m in hist]
        want = history_points(n, int(ctx["history_ts0"]))
        self.results["checks"]["metric_history_ms"] = {
            "points": len(steps),
            "expected_points": n,
            "all_steps": sorted(steps) == list(range(n)),
            "values_match": sorted((m.step, m.value, m.timestamp) for m in hist)
            == [(s, v, t) for v, t, s in want],
        }
        samples: list[float] = []
        end = perf() + cfg.history_budget_s
        for _ in range(cfg.history_reps):
            gc.collect()
            t0 = perf()
            self.client.get_metric_history(run_id, HISTORY_KEY)
            samples.append((perf() - t0) * 1000)
            if perf() > end:
                break
        self.set("metric_history_ms", p50(samples), points=n, samples_ms=samples, warmup_ms=warm_ms)

    def run(self, phase: str) -> None:
        try:
            getattr(self, phase)()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.results["done"] = True
        self.flush()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MB):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--tool",
        required=True,
        choices=("modelyard", "mlflow", "stub", "stub_pg", "stub_sqlite", "stub_disk", "native"),
        help="the server under test (a label)",
    )
    ap.add_argument("--phase", required=True, choices=PHASES)
    ap.add_argument(
        "--client", default="mlflow", choices=("mlflow", "modelyard"), help="whose client drives the server"
    )
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="{}", help="JSON of ServerConfig fields (defaults: the full run)")
    ap.add_argument("--context", default="{}", help="JSON from the driver: ids, counts, a temp folder")
    args = ap.parse_args()
    os.environ.setdefault("BENCH_TOOL", args.tool)
    if not os.environ.get("MLFLOW_TRACKING_URI", "").startswith("http"):
        raise SystemExit("MLFLOW_TRACKING_URI must point at the server under test")
    cfg = ServerConfig.from_dict({**ServerConfig().to_dict(), **json.loads(args.config)})
    return run_workload(
        lambda: ServerWorkload(args.tool, args.out, cfg, json.loads(args.context), args.client),
        args.phase,
        args.out,
        log,
    )


if __name__ == "__main__":
    sys.exit(main())
