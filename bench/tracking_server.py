"""Tracking-server benchmark: `mlflow server` vs `modelyard server`, both driven by the real
mlflow client, in one run; one JSON object with both figures and the ratios on stdout.

    .venv/bin/python bench/tracking_server.py [--quick] [--only modelyard|mlflow]
                                              [--backend sqlite|pg|both] [--out FILE] [--keep]

For each backend, each tool gets its own fresh database (a SQLite file, or a new PostgreSQL
database on postgresql://postgres@127.0.0.1:5432) and artifact folder, and its server runs
as a subprocess on a free 127.0.0.1 port: `bench/.venv-mlflow/bin/mlflow server` with its
default workers, `modelyard server --workers 4`. The client (bench/_server_workload.py) always
runs in bench/.venv-mlflow's python with MLFLOW_TRACKING_URI pointing at the server under
test, phase by phase, one process per tool and phase, the tools alternating (ABBA).

A third tool, ``native`` (on by default; ``--no-native`` leaves it out), is what a user who
switches gets: modelyard's own client (this interpreter, importing modelyard from this checkout)
driving a third server, ``modelyard server`` at its defaults (no --workers), with the fast routes
it negotiates through server-info. Its figures and ``native_ratio`` (against the mlflow client
on ``mlflow server``, at its defaults) are printed beside the others, in the same rotation.
The same client also drives the stubs (right after the mlflow client's phase on them): its figures
there bound the native ones as the stub bounds the mlflow client's (``native_ceiling``, and
``native_ceiling_pg`` against the PostgreSQL floor).

Between the write phases and the read phase both servers are stopped, the search store
(10,000 runs) and the rest of the 100,000-point history are inserted by direct SQL into each
tool's own schema, and the servers are started again. Progress and tracebacks go to stderr,
only the JSON to stdout. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # then /proc is read directly (Linux)
    psutil = None

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SEARCH_FILTER, SEARCH_ORDER_BY, generate_runs, short_error  # noqa: E402
from _server_populate import SqlPopulator  # noqa: E402
from _server_process import MODELYARD_WORKERS, Server, log  # noqa: E402
from _server_report import (  # noqa: E402
    FLOORS,
    NATIVE,
    STUB,
    STUB_DISK,
    STUB_PG,
    STUB_SQLITE,
    TOOLS,
    build_backend_report,
)
from _server_workload import HISTORY_KEY, ServerConfig, history_points  # noqa: E402
from tracking import base_env, compile_checkout, ensure_mlflow_venv, machine_info, mlflow_python, sig  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOAD = BENCH / "_server_workload.py"
BACKENDS = ("sqlite", "pg")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class Interrupted(Exception):
    """SIGTERM: unwind like Ctrl-C, so that every server is stopped."""


def _on_sigterm(_signum, _frame) -> None:
    raise Interrupted("SIGTERM")


# --------------------------------------------------------------------------------------
# Environments and stores
# --------------------------------------------------------------------------------------


def ensure_pg_driver() -> str | None:
    """Install psycopg 3 into bench/.venv-mlflow when missing.

    Both servers get the same bare ``postgresql://`` URI. With the SQLAlchemy 2.1 that
    mlflow 3.17.2 installs, that URI means the psycopg (3) driver, not psycopg2 (SQLAlchemy
    2.1 changed the default): without psycopg, ``mlflow server`` exits with
    "No module named 'psycopg'". modelyard uses psycopg 3 as well, so both servers talk to
    PostgreSQL through the same driver.
    """
    py = str(mlflow_python())
    probe = subprocess.run([py, "-c", "import psycopg"], capture_output=True, env=base_env(), timeout=120)
    if probe.returncode == 0:
        return None
    log("pip install 'psycopg[binary]' into bench/.venv-mlflow")
    proc = subprocess.run(
        [py, "-m", "pip", "install", "--disable-pip-version-check", "psycopg[binary]"],
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=900,
    )
    if proc.returncode != 0:
        return "pip install psycopg[binary] failed: " + " | ".join(proc.stdout.strip().splitlines()[-3:])
    return None


class Store:
    """One tool's fresh database for one backend: the URI its server gets, and ours for SQL."""

    def __init__(self, backend: str, tool: str, folder: Path) -> None:
        self.backend, self.tool = backend, tool
        self.dbname: str | None = None
        if backend == "sqlite":
            path = folder / f"{tool}.db"
            self.server_uri = f"sqlite:///{path}"
            self.sql_url = self.server_uri
        else:
            import psycopg

            self.dbname = f"bench_{tool}_{os.getpid()}_{secrets.token_hex(3)}"
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
            self.server_uri = f"postgresql://postgres@127.0.0.1:5432/{self.dbname}"
            self.sql_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.dbname}"

    def analyze(self) -> None:
        """PostgreSQL only: VACUUM ANALYZE after the bulk load.

        autovacuum gives every real PostgreSQL database its statistics and, after a bulk load
        of new rows, its visibility map (what lets an index-only scan skip the table's rows),
        but only about a minute later: whether it had run before the reads would be a race (and
        this machine's PostgreSQL runs with autovacuum off, so it never would). So both stores
        get at once what autovacuum would leave them. SQLite has no automatic statistics and
        neither tool runs ANALYZE there, so the SQLite stores get none (as in bench/tracking.py).
        """
        import psycopg

        with psycopg.connect(self.server_uri, autocommit=True, connect_timeout=10) as conn:
            conn.execute("VACUUM ANALYZE")

    def drop(self) -> None:
        if self.dbname is None:
            return
        import psycopg

        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001
            log(f"could not drop database {self.dbname}: {short_error(exc)}")
        self.dbname = None


class NoStore:
    """The stub's "store": it keeps what it must in memory (see bench/_server_stub.py)."""

    dbname = None
    server_uri = sql_url = ""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def drop(self) -> None:
        pass


def pg_version() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=5) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # noqa: BLE001
        return f"unavailable: {short_error(exc, 200)}"


# --------------------------------------------------------------------------------------
# One tool on one backend
# --------------------------------------------------------------------------------------


class ToolRun:
    """Everything about one tool on one backend: its store, server and merged results."""

    def __init__(self, tool: str, backend: str, folder: Path, cfg: ServerConfig) -> None:
        self.tool, self.backend, self.folder, self.cfg = tool, backend, folder, cfg
        folder.mkdir(parents=True)
        self.res: dict[str, Any] = {
            "figures": {}, "errors": {}, "raw": {}, "extra": {}, "checks": {},
            "windows": {}, "context": {}, "phases": {}, "server": {},
        }  # fmt: skip
        self.problem: str | None = None  # the server is unusable: later phases are skipped
        self.store: Store | None = None
        self.server: Server | None = None
        try:
            # stub_pg's store is the database its one durable INSERT per write goes to
            self.store = NoStore(backend) if tool in (STUB, STUB_DISK) else Store(backend, tool, folder)
            self.server = Server(tool, self.store, folder, cfg)
        except Exception as exc:  # noqa: BLE001
            self.problem = f"cannot create the {backend} store: {short_error(exc)}"
            log(f"{tool}: {self.problem}")

    def launch(self, first: bool) -> None:
        if self.problem or self.server is None:
            return
        try:
            info = self.server.start()
            if first:
                self.res["figures"]["launch_to_health_s"] = info["launch_to_health_s"]
            idle = self.server.settle()  # also after a restart: measure nothing while it warms up
            if first:
                self.res["figures"]["idle_rss_mb"] = idle["rss_mb"]
                self.res["server"]["idle"] = idle
            else:
                self.res["server"]["idle_after_restart"] = idle
        except Exception as exc:  # noqa: BLE001
            self.problem = f"server {'start' if first else 'restart'} failed: {short_error(exc, 1500)}"
            log(f"{self.tool}: {self.problem}")
            if first:
                self.res["errors"]["launch_to_health_s"] = self.problem
            self.server.stop()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def client(self, phase: str, context: dict, variant: str | None = None) -> None:
        """Run one client phase against this tool's server and merge what it measured.

        ``variant="standard"`` (native only): modelyard's client with its fast paths off
        (MODELYARD_CLIENT_FAST_PATHS=false), i.e. MLflow's standard routes, as before they existed;
        ``variant="native"`` (the stubs only): modelyard's client against this stub, the bound of the
        native figures. A variant's figures go to ``res["variants"][variant]``, not over the tool's own."""
        label = phase if variant is None else f"{phase}-{variant}"
        if self.problem:
            self.res["phases"][label] = {"problem": f"skipped: {self.problem}"}
            return
        out = self.folder / f"client-{label}.json"
        env = base_env()
        if variant == "standard":
            env["MODELYARD_CLIENT_FAST_PATHS"] = "false"
        python, client = str(mlflow_python()), []
        if self.tool == NATIVE or variant == "native":  # modelyard's interpreter and client, this checkout
            python, client = sys.executable, ["--client", "modelyard"]
            env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(BENCH)])
        # The client prints "View run at <url>" on end_run otherwise: noise on stderr.
        env.update(
            MLFLOW_TRACKING_URI=self.server.url,
            BENCH_TOOL=self.tool,
            MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true",
        )
        cmd = [
            python, str(WORKLOAD), "--tool", self.tool, "--phase", phase, "--out", str(out), *client,
            "--config", json.dumps(self.cfg.to_dict()),
            "--context", json.dumps({**context, "tmp": str(self.folder)}),
        ]  # fmt: skip
        timeout = self.cfg.client_timeout_s
        log(f"{self.tool}: client phase {label} (timeout {timeout:.0f}s)")
        load, t0, problem = os.getloadavg()[0], time.perf_counter(), None
        proc = subprocess.Popen(cmd, cwd=self.folder, env=env, stdout=sys.stderr, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            if rc != 0:
                problem = f"client phase {phase} exited with status {rc}"
        except subprocess.TimeoutExpired:
            problem = f"client phase {phase} timed out after {timeout:.0f}s"
        finally:
            if proc.poll() is None:  # timeout or Ctrl-C: its writers are in its group too
                for sig_ in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(proc.pid, sig_)
                        proc.wait(timeout=5)
                        break
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        pass
        elapsed = time.perf_counter() - t0
        log(
            f"{self.tool}: client phase {label} finished in {elapsed:.0f}s"
            + (f" ({problem})" if problem else "")
        )
        try:
            got = json.loads(out.read_text())
        except Exception:  # noqa: BLE001 - nothing written before the failure
            got = {}
        if "fatal" in got:
            log(f"{self.tool}: client could not start:\n{got.get('traceback', '')}")
            problem = got["fatal"] + (f" ({problem})" if problem else "")
        for name, tb in got.get("raw", {}).pop("tracebacks", {}).items():
            log(f"{self.tool}: {name} failed:\n{tb}")
        for name, reqs in got.get("raw", {}).get("failed_requests", {}).items():
            for req in reqs:
                log(
                    f"{self.tool}: {name}: failed request {req['request']} -> {req['status']}: {req['body'][:300]}"
                )
        failed = got.get("raw", {}).pop("failed_requests", {})
        self.res["raw"].setdefault("failed_requests", {}).update(failed)
        if variant is not None:
            merged = self.res.setdefault("variants", {}).setdefault(variant, {})  # phase by phase
            for part in ("figures", "errors", "checks", "raw"):
                merged.setdefault(part, {}).update(got.get(part, {}))
            self.res["phases"][label] = {
                "seconds": elapsed,
                "problem": problem,
                "loadavg_1min_at_start": load,
            }
            return
        for key in ("figures", "errors", "raw", "extra", "checks", "windows", "context"):
            self.res[key].update(got.get(key, {}))
        if got.get("info"):
            self.res["info"] = got["info"]
        self.res["phases"][phase] = {"seconds": elapsed, "problem": problem, "loadavg_1min_at_start": load}
        if self.server is not None and self.server.proc is not None and self.server.proc.poll() is not None:
            self.problem = f"the server died during phase {phase}: " + Server.log_tail(
                self.server.log_paths[-1]
            )
            log(f"{self.tool}: {self.problem}")

    def record_peaks(self) -> None:
        for direction in ("upload", "download"):
            name = f"artifact_{direction}_peak_rss_mb"
            peak = (
                self.server.peak_rss_mb(self.res["windows"].get(f"artifact_{direction}", []))
                if self.server
                else None
            )
            if peak:
                self.res["figures"][name] = peak["peak_mb"]
                self.res["raw"][name] = peak
        small = {}
        for direction in ("upload", "download"):
            peak = (
                self.server.peak_rss_mb(self.res["windows"].get(f"small_files_{direction}", []))
                if self.server
                else None
            )
            if peak:
                small[direction] = peak
        if small:
            self.res["extra"]["small_files_peak_rss"] = small

    def populate(self) -> None:
        """With the server stopped: fill the search store and the rest of the history by SQL."""
        ctx, cfg = self.res["context"], self.cfg
        if self.problem or self.store is None or self.tool in STUBS:
            return
        for name, fn in (
            ("populate_search", self._populate_search),
            ("populate_history", self._populate_history),
        ):
            t0 = time.perf_counter()
            try:
                fn(ctx, cfg)
                self.res["extra"][f"{name}_s"] = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001
                self.res["errors"][name] = short_error(exc, 1000)
                log(f"{self.tool}: {name} failed: {short_error(exc, 1000)}")
        if self.store.dbname is not None:
            try:
                self.store.analyze()
                self.res["extra"]["analyzed"] = True
            except Exception as exc:  # noqa: BLE001 - the reads still run, on older statistics
                self.res["extra"]["analyzed"] = f"ANALYZE failed: {short_error(exc)}"

    def _populate_search(self, ctx: dict, cfg: ServerConfig) -> None:
        if "search_template_run_uuid" not in ctx:
            raise RuntimeError("no template run: the search seed did not finish")
        have = int(ctx["search_api_runs"])
        pop = SqlPopulator(
            self.store.sql_url, ctx["search_template_run_uuid"], set(generate_runs(0, 1)[0].tags)
        )
        try:
            self.res["extra"]["clone_system_tags"] = sorted(pop.system_tags)
            base_ms = int(pop.template["start_time"]) - 30 * 86_400_000
            while have < cfg.search_runs:
                stop = min(cfg.search_runs, have + 5_000)
                pop.insert_runs(generate_runs(have, stop), lambda i: base_ms + i * 1_000)
                have = stop
        finally:
            pop.close()
        ctx["search_runs_total"] = have
        log(f"{self.tool}: search store has {have} runs")

    def _populate_history(self, ctx: dict, cfg: ServerConfig) -> None:
        if "history_run_id" not in ctx:
            raise RuntimeError("no history run: the history seed did not finish")
        n, done = cfg.history_points, int(ctx["history_logged_points"])
        method = "log_batch"
        if done < n:
            template = ctx.get("search_template_run_uuid") or ctx["history_run_id"]
            pop = SqlPopulator(self.store.sql_url, template, set())
            try:
                pop.insert_history(
                    ctx["history_run_id"], HISTORY_KEY, history_points(n, int(ctx["history_ts0"]))[done:]
                )
            finally:
                pop.close()
            method = f"log_batch for {done} points, direct SQL for {n - done}"
        ctx["history_points"] = n
        self.res["extra"]["history_fill"] = method

    def finish(self) -> None:
        if self.server is not None:
            self.res["server"]["launches"] = self.server.launches
            self.res["server"]["stop_s"] = self.server.stops
            self.res["server"]["log_tracebacks"] = self.server.log_errors()
            self.res["server"]["command"] = " ".join(self.server.command()) if self.server.port else None
        self.res["server"]["store"] = self.store.server_uri if self.store else None


# --------------------------------------------------------------------------------------
# One backend: both tools, phase by phase
# --------------------------------------------------------------------------------------

SESSION1_PHASES = ("writes", "concurrent", "artifacts", "seed")
STUB_PHASES = ("writes", "concurrent", "artifacts")  # its reads are served from a real server's answers
NATIVE_SUMMARY = (
    "native_ratio", "native_ceiling", "native_share", "native_ceiling_pg", "native_share_pg",
    "native_ceiling_sqlite", "native_share_sqlite",
)  # fmt: skip
STUB_PG_PHASES = ("writes", "concurrent")  # the PostgreSQL floor only bounds the write figures
STUB_DISK_PHASES = ("artifacts",)  # the disk floor only bounds the artifact figures
STUBS = (STUB, STUB_PG, STUB_SQLITE, STUB_DISK)


@contextlib.contextmanager
def deferred_signals():
    """Let Ctrl-C / SIGTERM wait until the block (stopping servers, dropping databases) is done."""
    got: list[int] = []
    old = {
        s: signal.signal(s, lambda signum, _frame: got.append(signum))
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if got:
            raise KeyboardInterrupt if got[0] == signal.SIGINT else Interrupted("SIGTERM")


def run_backend(
    backend: str, tools: list[str], cfg: ServerConfig, tmp: Path, flip: bool, runs: dict[str, ToolRun]
) -> None:
    """Both tools on one backend; fills ``runs`` as it goes (a partial run is still reported)."""
    order = tools[::-1] if flip else list(tools)
    if backend != "pg" and STUB_PG in order:  # the PostgreSQL floor: on PostgreSQL only
        order.remove(STUB_PG)
    if backend != "sqlite" and STUB_SQLITE in order:  # the SQLite floor: on SQLite only
        order.remove(STUB_SQLITE)
    for stub in STUBS:  # the tools alternate; a stub is one more tool in the rotation
        if stub in order:
            order.remove(stub)
            order.insert(1, stub)
    try:
        for tool in order:
            runs[tool] = ToolRun(tool, backend, tmp / backend / tool, cfg)
        for tool in order:  # one at a time: a launch is not slowed by the other one's launch
            runs[tool].launch(first=True)
        for i, phase in enumerate(SESSION1_PHASES):
            for tool in order if i % 2 == 0 else order[::-1]:  # ABBA: spreads load drift
                if (
                    (tool != STUB or phase in STUB_PHASES)
                    and (tool not in (STUB_PG, STUB_SQLITE) or phase in STUB_PG_PHASES)
                    and (tool != STUB_DISK or phase in STUB_DISK_PHASES)
                ):
                    runs[tool].client(phase, {})
                    if tool in (STUB, STUB_PG, STUB_SQLITE) and NATIVE in runs:  # our client's own bound
                        runs[tool].client(phase, {}, variant="native")
        for r in runs.values():
            r.record_peaks()
            r.stop()
        for tool in order:
            runs[tool].populate()
        real = [t for t in order[::-1] if t not in STUBS]
        for tool in real:
            runs[tool].launch(first=False)
        for tool in real:
            runs[tool].client("reads", runs[tool].res["context"])
        if NATIVE in runs:  # before/after on the same server: modelyard's client on the standard routes
            runs[NATIVE].client("reads", runs[NATIVE].res["context"], variant="standard")
        if STUB in runs:
            # Its reads replay the answers of a real server holding the same data (modelyard's,
            # else MLflow's): the first, untimed call of each figure is forwarded, the rest cached.
            source = next(
                (runs[t] for t in ("modelyard", "mlflow") if t in runs and not runs[t].problem), None
            )
            stub = runs[STUB]
            if source is not None and stub.server is not None and source.server is not None:
                stub.stop()
                stub.server.upstream = source.server.url
                stub.launch(first=False)
                stub.client("reads", source.res["context"])
                stub.res["extra"]["reads_answers_from"] = source.tool
    finally:
        with deferred_signals():
            for r in runs.values():
                r.stop()
                r.finish()
                if r.store is not None:
                    r.store.drop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke mode: small counts, a few minutes")
    ap.add_argument("--only", choices=TOOLS, help="run one tool only (ratios are then null)")
    ap.add_argument(
        "--backend", choices=("sqlite", "pg", "both"), default="sqlite", help="database of both servers"
    )
    ap.add_argument("--runs", type=int, help="runs in the search store (default 10000, quick 1000)")
    ap.add_argument("--workdir", type=Path, default=BENCH / ".work", help="parent of the temporary stores")
    ap.add_argument("--keep", action="store_true", help="keep the stores, server logs and client results")
    ap.add_argument("--out", type=Path, help="also write the JSON to this file")
    ap.add_argument(
        "--no-ceiling", action="store_true", help="skip the stub server (no 'ceiling' beside the ratios)"
    )
    ap.add_argument(
        "--tools",
        help="comma-separated subset of modelyard,mlflow,stub,stub_pg,stub_sqlite,stub_disk,native (iterating; ratios need mlflow)",
    )
    ap.add_argument(
        "--no-pg-floor",
        action="store_true",
        help="pg backend: skip the stub with one durable INSERT per write (no 'ceiling_pg')",
    )
    ap.add_argument(
        "--no-sqlite-floor",
        action="store_true",
        help="sqlite backend: skip the stub with one durable transaction per write (no 'ceiling_sqlite')",
    )
    ap.add_argument(
        "--no-disk-floor",
        action="store_true",
        help="skip the stub that keeps artifact files on disk (no 'ceiling_disk')",
    )
    ap.add_argument("--no-native", action="store_true", help="skip modelyard's own client (tool 'native')")
    args = ap.parse_args(argv)

    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    started, load_before = time.perf_counter(), os.getloadavg()
    cfg = ServerConfig.quick() if args.quick else ServerConfig()
    if args.runs is not None:
        cfg = replace(cfg, search_runs=max(args.runs, cfg.api_sample_runs))
    tools = [args.only] if args.only else list(TOOLS)
    if args.tools:
        tools = [t for t in args.tools.split(",") if t in TOOLS]
    if not args.no_native and (not args.tools or NATIVE in args.tools.split(",")):
        tools.append(NATIVE)
    if not args.no_ceiling and (not args.tools or STUB in args.tools.split(",")):
        tools.append(STUB)
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    if (
        "pg" in backends
        and not args.no_pg_floor
        and (not args.tools and not args.no_ceiling or args.tools and STUB_PG in args.tools.split(","))
    ):
        tools.append(STUB_PG)
    if (
        "sqlite" in backends
        and not args.no_sqlite_floor
        and (not args.tools and not args.no_ceiling or args.tools and STUB_SQLITE in args.tools.split(","))
    ):
        tools.append(STUB_SQLITE)
    if not args.no_disk_floor and (
        not args.tools and not args.no_ceiling or args.tools and STUB_DISK in args.tools.split(",")
    ):
        tools.append(STUB_DISK)

    compile_checkout()  # launch figures time our start-up, not the compiler
    setup_errors: list[str] = []
    for problem in (ensure_mlflow_venv(), ensure_pg_driver() if "pg" in backends else None):
        if problem:  # the client needs this venv for both tools: nothing can be measured
            log(problem)
            setup_errors.append(problem)

    args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="server-", dir=args.workdir))
    log(f"stores, logs and results in {tmp}")
    report_backends: dict[str, Any] = {}
    interrupted = None
    try:
        for b, backend in enumerate(backends):
            if setup_errors:
                report_backends[backend] = {"error": setup_errors}
                continue
            runs: dict[str, ToolRun] = {}
            try:
                run_backend(backend, tools, cfg, tmp, b % 2 == 1, runs)
            finally:
                if runs:
                    report_backends[backend] = build_backend_report(backend, tools, runs, cfg)
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted = type(exc).__name__
        log(f"interrupted ({interrupted}); servers stopped")
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    machine = machine_info()
    machine["loadavg_before"] = [round(x, 2) for x in load_before]
    machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    info = next(
        (
            d["client"]
            for r in report_backends.values()
            for d in r.get("details", {}).values()
            if d.get("client")
        ),
        None,
    )
    versions = {
        "modelyard_server": venv_versions(sys.executable),
        "mlflow_server_and_client": venv_versions(str(mlflow_python())),
    }
    if "pg" in backends:
        versions["postgresql"] = pg_version()
    report = {
        "benchmark": "tracking server: modelyard server vs mlflow server, both driven by the mlflow client",
        "mode": "quick" if args.quick else "full",
        "tools": tools,
        "backends": report_backends,
        "summary": {
            backend: {name: rep["figures"][name]["ratio"] for name in rep["figures"]}
            for backend, rep in report_backends.items()
            if "figures" in rep
        },
        "native_summary": {  # modelyard's client on its server; its bounds: the same client on the stubs
            backend: {
                name: {
                    k: rep["figures"][name][k]
                    for k in NATIVE_SUMMARY
                    if rep["figures"][name].get(k) is not None
                }
                for name in rep["figures"]
            }
            for backend, rep in report_backends.items()
            if "figures" in rep and NATIVE in tools
        },
        "ceilings": {
            backend: {name: rep["figures"][name].get("ceiling") for name in rep["figures"]}
            for backend, rep in report_backends.items()
            if "figures" in rep and not args.no_ceiling
        },
        **{  # pg_floor, sqlite_floor, disk_floor: ratio, ceiling, share, the floor's ceiling, share of it
            f"{suffix[1:]}_floor": {
                backend: {
                    name: {
                        k: rep["figures"][name].get(k)
                        for k in ("ratio", "ceiling", "share", f"ceiling{suffix}", f"share{suffix}")
                    }
                    for name in bounded
                    if name in rep["figures"]
                }
                for backend, rep in report_backends.items()
                if "figures" in rep and tool in tools and only in (None, backend)
            }
            for tool, bounded, suffix, only in FLOORS
        },
        "search_query": {"filter_string": SEARCH_FILTER, "order_by": SEARCH_ORDER_BY},
        "config": cfg.to_dict(),
        "servers": {
            "mlflow": "bench/.venv-mlflow/bin/mlflow server (default workers)",
            "modelyard": f"modelyard server --workers {MODELYARD_WORKERS}",
            "native": "modelyard server (its defaults), driven by modelyard's own client",
            "stub": "bench/_server_stub.py: canned in-memory answers (the ceiling), uvicorn, one process",
            "stub_pg": "bench/_server_stub.py --pg-floor: the stub plus one durable INSERT per write request"
            " in PostgreSQL (the pg backend's floor, 'ceiling_pg')",
            "native on the stubs": "modelyard's own client against stub and stub_pg: the best native ratio"
            " any server could show ('native_ceiling', 'native_ceiling_pg')",
            "stub_sqlite": "bench/_server_stub.py --sqlite-floor: the stub plus one durable transaction per"
            " write request in a SQLite file (the sqlite backend's floor, 'ceiling_sqlite')",
            "stub_disk": "bench/_server_stub.py --disk-floor: the stub keeping artifact files on disk"
            " (folder created, temporary file renamed in place; 'ceiling_disk')",
        },
        "machine": machine,
        "versions": versions,
        "total_seconds": sig(time.perf_counter() - started),
    }
    if info:
        report["client"] = info
    if interrupted:
        report["interrupted"] = interrupted
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    log(f"done in {time.perf_counter() - started:.0f}s")
    return 130 if interrupted else 0


VERSION_PROBE = """
import importlib.metadata as m, json, sqlite3
out = {"sqlite": sqlite3.sqlite_version}
for d in ("modelyard", "mlflow", "sqlalchemy", "psycopg", "uvicorn"):
    try:
        out[d] = m.version(d)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


def venv_versions(python: str) -> dict:
    """Versions inside one venv (the server's view: its SQLite library, driver, ...)."""
    try:
        proc = subprocess.run(
            [python, "-I", "-c", VERSION_PROBE], capture_output=True, text=True, timeout=60, env=base_env()
        )
        return json.loads(proc.stdout)
    except Exception as exc:  # noqa: BLE001
        return {"error": short_error(exc, 200)}


if __name__ == "__main__":
    sys.exit(main())
