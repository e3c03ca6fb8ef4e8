"""Feast, the peer of bench/features.py, in its own venv (bench/.venv-feast): installing it, running
its point-in-time join (``_features_feast.py``) under a memory watch, and its online lookups
(``_features_feast_online.py``). Each returns figures or the reason there are none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from tracking import sig

BENCH = Path(__file__).resolve().parent
FEAST_VENV = BENCH / ".venv-feast"
FEAST_REQUIREMENT = "feast[redis]==0.67.0"  # redis: its online store on Redis


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def ensure_feast() -> str | None:
    py = FEAST_VENV / "bin" / "python"
    try:
        if not py.exists():
            log("creating bench/.venv-feast")
            subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True, timeout=300)
        probe = subprocess.run([str(py), "-c", "import feast, redis; print(feast.__version__)"], capture_output=True, text=True)
        if probe.returncode == 0:
            return None
        log(f"pip install {FEAST_REQUIREMENT} into bench/.venv-feast (a few minutes)")
        pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", FEAST_REQUIREMENT],
                             capture_output=True, text=True, timeout=1800)
        if pip.returncode != 0:
            return f"pip install {FEAST_REQUIREMENT} failed: {pip.stderr.strip().splitlines()[-1:]}"
        return None
    except Exception as exc:  # noqa: BLE001 - reported in the JSON
        return f"{type(exc).__name__}: {exc}"


def _failure(proc: subprocess.CompletedProcess) -> str:
    """Why a peer's child failed: its last stderr line, or the signal that ended it (a SIGKILL with
    nothing on stderr is most likely the kernel's OOM killer: see dmesg)."""
    if proc.returncode < 0:
        return f"killed by signal {-proc.returncode}" + (" (likely out of memory)" if proc.returncode == -9 else "")
    lines = proc.stderr.strip().splitlines()
    return lines[-1][:500] if lines else f"exit status {proc.returncode}"


FEAST_MEMORY_FLOOR_MB = 3000  # Feast's child is stopped when the machine has less available than this


def _available_mb() -> float:
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:")) / 1024


def _tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children, from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0) / 1024
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_feast(tmp: Path, series_path: Path, labels_path: Path) -> tuple[float | None, pd.DataFrame | None, str | None, dict]:
    """Feast's ``get_historical_features`` in its venv: (seconds, frame, error, extra). The child is
    stopped when the machine's available memory falls under FEAST_MEMORY_FLOOR_MB (at the issue's
    size it takes more than this machine has): ``extra`` then holds how long it had run
    (``stopped_after_s``, a lower bound of its time) and its peak RSS."""
    problem = ensure_feast()
    if problem:
        return None, None, problem, {}
    out = tmp / "feast_out.parquet"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_")) and k != "PYTHONPATH"}
    env.update(OMP_WAIT_POLICY="passive", FEAST_USAGE="False", DO_NOT_TRACK="true")
    stdout, stderr = tmp / "feast.stdout", tmp / "feast.stderr"
    start, peak = time.perf_counter(), 0.0
    with open(stdout, "w") as so, open(stderr, "w") as se:
        proc = subprocess.Popen([str(FEAST_VENV / "bin" / "python"), str(BENCH / "_features_feast.py"), str(series_path),
                                 str(labels_path), str(out), str(tmp / "feast_repo")], stdout=so, stderr=se, text=True, env=env,
                                start_new_session=True)
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mb(proc.pid))
            if _available_mb() < FEAST_MEMORY_FLOOR_MB or time.perf_counter() - start > 3600:
                ran = time.perf_counter() - start
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return None, None, (f"stopped after {ran:.0f} s at {peak:.0f} MB RSS: the machine had less than "
                                    f"{FEAST_MEMORY_FLOOR_MB} MB left"), {"stopped_after_s": sig(ran), "peak_rss_mb": sig(peak)}
            time.sleep(0.5)
    extra = {"peak_rss_mb": sig(peak)}
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout.read_text(), stderr.read_text())
    if done.returncode != 0:
        return None, None, _failure(done), extra
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], pd.read_parquet(out), None, extra


def run_feast_online(tmp: Path, profile, plan: dict) -> tuple[dict | None, str | None]:
    """Feast's ``get_online_features`` against the same Redis (db 0; a project of its own, torn
    down after), in bench/.venv-feast: (figures, error)."""
    problem = ensure_feast()
    if problem:
        return None, problem
    profile_path, plan_path = tmp / "profile.parquet", tmp / "online_plan.json"
    profile.to_parquet(profile_path)
    plan_path.write_text(json.dumps(plan))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_")) and k != "PYTHONPATH"}
    env.update(OMP_WAIT_POLICY="passive", FEAST_USAGE="False", DO_NOT_TRACK="true")
    proc = subprocess.run([str(FEAST_VENV / "bin" / "python"), str(BENCH / "_features_feast_online.py"), str(profile_path),
                           str(tmp / "feast_online_repo"), "127.0.0.1:6379,db=0", str(plan_path)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return None, _failure(proc)
    return json.loads(proc.stdout.strip().splitlines()[-1]), None
