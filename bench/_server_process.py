"""Server processes for bench/tracking_server.py: start, health, memory sampling, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # then /proc is read directly (Linux)
    psutil = None

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server_workload import MB, ServerConfig  # noqa: E402
from tracking import base_env, mlflow_python  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODELYARD_WORKERS = 4  # mlflow server's default
SAMPLE_EVERY_S = 0.05  # RSS sampling of the server's process tree


def log(msg: str) -> None:
    sys.stderr.write(f"[bench-server {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------
# A server under test: launch, idle memory, RSS sampling, stop
# --------------------------------------------------------------------------------------


_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


class Proc:
    """One process of a server's tree, read through psutil when it is installed, else /proc.

    Identified by pid and start time, so that a reused pid is never mistaken for it.
    Every reading returns 0 (None for PSS) once the process is gone.
    """

    def __init__(self, pid: int, ps=None) -> None:
        self.pid = pid
        self._ps = ps or (psutil.Process(pid) if psutil else None)  # raises if gone
        self._start = None if psutil else self._stat()[19]

    @classmethod
    def tree(cls, root: int) -> list[Proc]:
        """The root and all its descendants (empty when the root is gone)."""
        if psutil is not None:
            try:
                r = psutil.Process(root)
                return [cls(root, r), *(cls(c.pid, c) for c in r.children(recursive=True))]
            except psutil.Error:
                return []
        kids: dict[int, list[int]] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    kids.setdefault(int(cls._stat_of(int(d))[1]), []).append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        out, todo = [], [root]
        while todo:
            pid = todo.pop()
            try:
                out.append(cls(pid))
            except (OSError, ValueError, IndexError):
                continue
            todo.extend(kids.get(pid, []))
        return out

    @staticmethod
    def _stat_of(pid: int) -> list[str]:
        """/proc/<pid>/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime, [19] start."""
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
        return text[text.rindex(")") + 2 :].split()

    def _stat(self) -> list[str]:
        return self._stat_of(self.pid)

    def running(self) -> bool:
        """Still there and not a zombie (an orphan may stay a zombie when PID 1 does not reap)."""
        try:
            if self._ps is not None:
                return self._ps.is_running() and self._ps.status() != psutil.STATUS_ZOMBIE
            st = self._stat()
            return int(st[19]) == int(self._start) and st[0] != "Z"
        except Exception:  # noqa: BLE001 - gone
            return False

    def rss(self) -> int:
        try:
            if self._ps is not None:
                return self._ps.memory_info().rss
            with open(f"/proc/{self.pid}/statm") as f:
                return int(f.read().split()[1]) * _PAGE
        except Exception:  # noqa: BLE001
            return 0

    def pss(self) -> int | None:
        try:
            if self._ps is not None:
                return self._ps.memory_full_info().pss
            with open(f"/proc/{self.pid}/smaps_rollup") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
        except Exception:  # noqa: BLE001 - no permission, or gone
            return None

    def cpu(self) -> float:
        try:
            if self._ps is not None:
                t = self._ps.cpu_times()
                return t.user + t.system
            st = self._stat()
            return (int(st[11]) + int(st[12])) / _TICKS
        except Exception:  # noqa: BLE001
            return 0.0

    def describe(self) -> str:
        try:
            if self._ps is not None:
                cmd = self._ps.cmdline()
            else:
                with open(f"/proc/{self.pid}/cmdline", "rb") as f:
                    cmd = f.read().decode(errors="replace").rstrip("\0").split("\0")
        except Exception:  # noqa: BLE001
            return "?"
        return " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))[:90]

    def signal(self, sig: int) -> None:
        if self.running():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


class Server:
    def __init__(self, tool: str, store: Any, folder: Path, cfg: ServerConfig) -> None:
        # store: a tracking_server.Store, where this server keeps its runs
        self.tool, self.store, self.folder, self.cfg = tool, store, folder, cfg
        self.artifacts = folder / "artifacts"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.samples: list[tuple[float, int]] = []  # (wall clock, tree RSS bytes)
        self._stop_sampling = threading.Event()
        self._sampler: threading.Thread | None = None
        self._tree: list = []
        self.launches: list[dict] = []
        self.stops: list[float] = []  # seconds from SIGTERM until the whole tree was gone
        self.log_paths: list[Path] = []
        self.upstream: str | None = None  # stub only: the server whose read answers it caches

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        common = [
            "--backend-store-uri", self.store.server_uri,
            "--artifacts-destination", str(self.artifacts),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip
        if self.tool == "mlflow":
            return [str(mlflow_python().parent / "mlflow"), "server", *common]
        # the ceilings and floors: bench/_server_stub.py, no modelyard
        if self.tool in ("stub", "stub_pg", "stub_sqlite", "stub_disk"):
            cmd = [sys.executable, str(Path(__file__).resolve().parent / "_server_stub.py")]
            cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
            if self.tool == "stub_pg":  # one durable INSERT per write, in its own fresh database
                cmd += ["--pg-floor", self.store.server_uri]
            if self.tool == "stub_sqlite":  # one durable transaction per write, in its own SQLite file
                cmd += ["--sqlite-floor", self.store.server_uri.removeprefix("sqlite:///")]
            if self.tool == "stub_disk":  # artifact files in its own artifact folder, not in memory
                cmd += ["--disk-floor", str(self.artifacts)]
            return cmd + (["--upstream", self.upstream] if self.upstream else [])
        exe = Path(sys.executable).parent / "modelyard"
        if not exe.exists():
            exe = REPO / ".venv" / "bin" / "modelyard"
        if self.tool == "native":  # modelyard's client on modelyard's server: both at their defaults
            return [str(exe), "server", *common]
        return [str(exe), "server", *common, "--workers", str(MODELYARD_WORKERS)]

    def env(self) -> dict[str, str]:
        env = base_env()  # telemetry off, OMP passive, no inherited MLFLOW_*/MODELYARD_*
        if self.tool in ("modelyard", "native"):
            env["PYTHONPATH"] = str(REPO)  # this checkout
        return env

    def start(self) -> dict:
        """Start the server; time it to the first 200 from /health. Raises on failure."""
        self.port = free_port()
        n = len(self.launches) + 1
        log_path = self.folder / f"server-{n}.log"
        self.log_paths.append(log_path)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        log(f"{self.tool}: starting server #{n} on {self.url} ({self.store.backend})")
        if self.tool == "stub" and self.upstream:
            log(f"stub: read answers cached from {self.upstream}")
        with open(log_path, "wb") as logf:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.folder,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C does not reach it, we stop it
            )
        self._start_sampling()
        deadline = t0 + self.cfg.launch_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with status {self.proc.returncode} before /health answered; log: "
                    + self.log_tail(log_path)
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"/health did not answer within {self.cfg.launch_timeout_s:.0f}s; log: "
                    + self.log_tail(log_path)
                )
            time.sleep(0.1)
        launch = {"launch_to_health_s": time.perf_counter() - t0, "loadavg_1min": os.getloadavg()[0]}
        self.launches.append(launch)
        log(f"{self.tool}: /health after {launch['launch_to_health_s']:.1f}s")
        return launch

    def tree(self) -> list[Proc]:
        return Proc.tree(self.proc.pid) if self.proc is not None else []

    @staticmethod
    def _rss(procs: list[Proc]) -> int:
        return sum(p.rss() for p in procs)

    def _start_sampling(self) -> None:
        self._stop_sampling.clear()

        def loop() -> None:
            refreshed = 0.0
            while not self._stop_sampling.is_set():
                if time.perf_counter() - refreshed > 1.0:
                    self._tree = self.tree()
                    refreshed = time.perf_counter()
                self.samples.append((time.time(), self._rss(self._tree)))
                self._stop_sampling.wait(SAMPLE_EVERY_S)

        self._sampler = threading.Thread(target=loop, name=f"rss-{self.tool}", daemon=True)
        self._sampler.start()

    def settle(self) -> dict:
        """Wait until the server is idle, then measure its tree: RSS, PSS, processes, CPU.

        Idle means: the same processes, RSS within 1% and under 10% of one core of CPU for
        a few seconds. MLflow starts its job runner and huey consumers after /health
        answers; on a loaded 2-core machine they take over a minute to import, using CPU
        that would otherwise be taken from the other server's measurements.
        """
        t0 = time.perf_counter()
        stable_for = 5.0 if self.cfg.settle_max_s > 100 else 3.0
        since, ref_n, ref_rss, ref_cpu, settled = t0, -1, 0, 0.0, False
        while time.perf_counter() - t0 < self.cfg.settle_max_s:
            procs = self.tree()
            n, rss, cpu, now = len(procs), self._rss(procs), self._cpu(procs), time.perf_counter()
            if n != ref_n or abs(rss - ref_rss) > 0.01 * max(ref_rss, 1):
                since, ref_n, ref_rss, ref_cpu = now, n, rss, cpu
            elif now - since >= stable_for:
                if (cpu - ref_cpu) / (now - since) < 0.10:
                    settled = True
                    break
                since, ref_rss, ref_cpu = now, rss, cpu
            time.sleep(0.5)
        procs = self.tree()
        cpu0 = self._cpu(procs)
        time.sleep(2.0)
        cpu1 = self._cpu(procs)
        pss_each = [p.pss() for p in procs]
        pss = None if None in pss_each else sum(pss_each)
        idle = {
            "rss_mb": self._rss(procs) / MB,
            "pss_mb": None if pss is None else pss / MB,
            "processes": len(procs),
            "cpu_percent": (cpu1 - cpu0) / 2.0 * 100,
            "waited_after_health_s": time.perf_counter() - t0 - 2.0,
            "settled": settled,
            "process_names": sorted({p.describe() for p in procs}),
        }
        log(f"{self.tool}: idle {idle['rss_mb']:.0f} MB RSS over {idle['processes']} processes")
        return idle

    @staticmethod
    def _cpu(procs: list[Proc]) -> float:
        return sum(p.cpu() for p in procs)

    def peak_rss_mb(self, windows: list[list[float]]) -> dict | None:
        """Peak tree RSS inside the client's wall-clock windows, and the RSS just before."""
        if not windows:
            return None
        inside = [
            r
            for t, r in self.samples
            if any(a - SAMPLE_EVERY_S <= t <= b + SAMPLE_EVERY_S for a, b in windows)
        ]
        before = [r for t, r in self.samples if t < windows[0][0]]
        if not inside:
            return None
        return {
            "peak_mb": max(inside) / MB,
            "before_mb": before[-1] / MB if before else None,
            "samples": len(inside),
        }

    def stop(self) -> None:
        """SIGTERM to the server's process group and to every process of its tree; SIGKILL
        to whatever is left after the grace period."""
        self._stop_sampling.set()
        if self.proc is None:
            return
        procs = self.tree()
        if self.proc.poll() is None:
            log(f"{self.tool}: stopping server (pid {self.proc.pid})")
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group start_new_session made
        except (ProcessLookupError, PermissionError):
            pass
        for p in procs:  # in case one of them left the group
            p.signal(signal.SIGTERM)
        t0 = time.perf_counter()
        alive = procs
        while alive and time.perf_counter() - t0 < self.cfg.stop_grace_s:
            self.proc.poll()  # reap our own child
            alive = [p for p in alive if p.running()]
            time.sleep(0.1)
        self.stops.append(time.perf_counter() - t0)
        if alive:
            log(
                f"{self.tool}: {len(alive)} process(es) still there after {self.cfg.stop_grace_s:.0f}s; SIGKILL"
            )
        for p in alive:
            p.signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        if self._sampler is not None:
            self._sampler.join(timeout=2)

    @staticmethod
    def log_tail(path: Path, lines: int = 15) -> str:
        try:
            return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_errors(self, limit: int = 10) -> list[dict]:
        """Each traceback in the server logs: the line before it (which request) and its last line."""
        found: list[dict] = []
        for path in self.log_paths:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for i, line in enumerate(lines):
                if not line.lstrip().startswith("Traceback (most recent call last)"):
                    continue
                j = i + 1
                while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                    j += 1
                entry = {
                    "log": path.name,
                    "context": lines[i - 1].strip()[:300] if i else "",
                    "exception": lines[j].strip()[:500] if j < len(lines) else "",
                }
                if entry not in found:
                    found.append(entry)
        return found[:limit]
