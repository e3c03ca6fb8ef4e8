"""Tracking benchmark: the same workload on modelyard and on MLflow, ratios as one JSON object.

    .venv/bin/python bench/tracking.py [--quick] [--only modelyard|mlflow] [--runs-large 100000]

Creates bench/.venv-mlflow (``python -m venv`` + ``pip install mlflow==3.17.2``) when it is
missing, then runs the workload (bench/_workload.py) with this interpreter, importing
modelyard from this checkout, and with the MLflow venv's interpreter, each against its own
fresh SQLite store in a temporary folder. The workload runs phase by phase, one process per
tool and phase, the tools alternating (ABBA). Only the JSON goes to stdout; progress goes
to stderr.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SEARCH_FILTER, SEARCH_ORDER_BY, Config  # noqa: E402
from _workload import PHASES  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOAD = BENCH / "_workload.py"
MLFLOW_VENV = BENCH / ".venv-mlflow"
MLFLOW_REQUIREMENT = "mlflow==3.17.2"
TOOLS = ("modelyard", "mlflow")

# (name, unit, better: "higher" or "lower", what it measures), in report order.
FIGURES: list[tuple[str, str, str, str]] = [
    ("import_time_ms", "ms", "lower", "`import <tool>` in a fresh interpreter, best of N"),
    (
        "cold_start_ms",
        "ms",
        "lower",
        "new process on an existing store: import, start_run, log_metric, end_run (interpreter start excluded)",
    ),
    ("log_metric_calls_per_s", "calls/s", "higher", "fluent log_metric, one call per step, one run"),
    ("log_batch_points_per_s", "metric points/s", "higher", "MlflowClient.log_batch, 1,000 points per call"),
    (
        "run_creation_runs_per_s",
        "runs/s",
        "higher",
        "start_run + log_params(10) + log_metrics(10) + set_tags(5) + end_run",
    ),
    ("search_small_top100_p50_ms", "ms (p50)", "lower", "MlflowClient.search_runs, first 100 rows"),
    ("search_small_top1000_p50_ms", "ms (p50)", "lower", "MlflowClient.search_runs, first 1,000 rows"),
    ("search_large_top100_p50_ms", "ms (p50)", "lower", "MlflowClient.search_runs, first 100 rows"),
    ("search_large_top1000_p50_ms", "ms (p50)", "lower", "MlflowClient.search_runs, first 1,000 rows"),
    ("metric_history_ms", "ms (p50)", "lower", "MlflowClient.get_metric_history of one key"),
]


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def sig(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


def speedup(ours: float | None, theirs: float | None, better: str) -> float | None:
    """How many times better ``ours`` is than ``theirs`` (> 1: ours is better), for a figure where
    ``better`` is "higher" (a rate) or "lower" (a time); None when either is missing or zero."""
    if not ours or not theirs:
        return None
    return ours / theirs if better == "higher" else theirs / ours


# --------------------------------------------------------------------------------------
# Interpreters and environments
# --------------------------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """The environment of every child: the caller's, minus anything that would redirect a tool."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "MODELYARD_")) and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", OMP_WAIT_POLICY="passive")
    return env


def tool_env(tool: str, tmp: Path) -> dict[str, str]:
    env = base_env()
    if tool == "modelyard":
        env["PYTHONPATH"] = str(REPO)  # this checkout, whether or not it is pip-installed
        env["MODELYARD_TRACKING_URI"] = f"sqlite:///{tmp / 'modelyard.db'}"
        env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(tmp / "modelyard-artifacts")
    else:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    env["BENCH_TOOL"] = tool
    return env


def mlflow_python() -> Path:
    return MLFLOW_VENV / "bin" / "python"


def tree_cpu_s() -> float:
    """CPU seconds (user + system) of this process and all its descendants (Spark's JVM, its Python
    daemon and workers); a child that exited counts in its parent's reaped-children time."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # from field 3 (state) on
        parent[int(name)], cpu[int(name)] = int(fields[1]), sum(int(x) for x in fields[11:15])
    tree, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(cpu.get(pid, 0) for pid in tree) / ticks


def compile_checkout() -> None:
    """Byte-compile this checkout's package, as an installed one is (MLflow's venv has its .pyc files):
    under PYTHONDONTWRITEBYTECODE an editable checkout would otherwise compile its sources again in
    every fresh process, and launch and cold-start figures would time the compiler."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "modelyard")], check=False, timeout=600
    )


def ensure_mlflow_venv() -> str | None:
    """Create bench/.venv-mlflow with MLflow when missing. Returns an error string or None."""
    py = mlflow_python()
    want = MLFLOW_REQUIREMENT.split("==")[1]
    try:
        if not py.exists():
            log(f"creating {MLFLOW_VENV.relative_to(REPO)} (python -m venv)")
            subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True, timeout=300)
        probe = subprocess.run(
            [str(py), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
            capture_output=True,
            text=True,
            timeout=60,
            env=base_env(),
        )
        if probe.returncode == 0 and probe.stdout.strip() == want:
            return None
        log(f"pip install {MLFLOW_REQUIREMENT} into {MLFLOW_VENV.relative_to(REPO)} (a few minutes)")
        (BENCH / ".work").mkdir(exist_ok=True)
        pip_log = BENCH / ".work" / "pip-install-mlflow.log"
        with open(pip_log, "w") as f:
            proc = subprocess.run(
                [str(py), "-m", "pip", "install", "--disable-pip-version-check", MLFLOW_REQUIREMENT],
                stdout=f,
                stderr=subprocess.STDOUT,
                timeout=1800,
                env=base_env(),
            )
        if proc.returncode != 0:
            lines = pip_log.read_text(errors="replace").strip().splitlines()
            tail = [ln for ln in lines if ln.startswith("ERROR")][-2:] or lines[-3:]
            why = " | ".join(ln if len(ln) < 300 else ln[:297] + "..." for ln in tail)
            return f"pip install {MLFLOW_REQUIREMENT} failed (see {pip_log}): {why}"
        probe = subprocess.run(probe.args, capture_output=True, text=True, timeout=60, env=base_env())
        if probe.stdout.strip() != want:
            return f"after pip install {MLFLOW_REQUIREMENT}, mlflow is {probe.stdout.strip() or 'missing'}"
        return None
    except Exception as exc:  # noqa: BLE001 - reported in the JSON instead of crashing
        return f"cannot set up {MLFLOW_VENV}: {type(exc).__name__}: {exc}"


def interpreter(tool: str) -> Path:
    return Path(sys.executable) if tool == "modelyard" else mlflow_python()


# --------------------------------------------------------------------------------------
# Measurements in subprocesses
# --------------------------------------------------------------------------------------


def import_times(tools: list[str], tmps: dict[str, Path], reps: int) -> dict[str, dict]:
    """``import <tool>`` in fresh interpreters, the tools alternating; best of ``reps`` (ms)."""
    code = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
    out: dict[str, dict] = {t: {"samples_ms": [], "process_wall_ms": []} for t in tools}
    for rep in range(reps):
        for tool in tools if rep % 2 == 0 else tools[::-1]:
            if "error" in out[tool]:
                continue
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(
                    [str(interpreter(tool)), "-c", code.format(tool)],
                    cwd=tmps[tool],
                    env=tool_env(tool, tmps[tool]),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            except Exception as exc:  # noqa: BLE001
                out[tool]["error"] = f"{type(exc).__name__}: {exc}"
                continue
            out[tool]["process_wall_ms"].append((time.perf_counter() - t0) * 1000)
            if proc.returncode != 0:
                lines = proc.stderr.strip().splitlines()
                out[tool]["error"] = lines[-1] if lines else f"import failed with status {proc.returncode}"
                continue
            out[tool]["samples_ms"].append(float(proc.stdout.strip().splitlines()[-1]) * 1000)
    return out


def run_phase(tool: str, phase: str, tmp: Path, cfg: Config, timeout: float) -> dict:
    """Run one phase of bench/_workload.py for one tool; its results (partial on crash or timeout)."""
    out = tmp / f"{phase}.json"
    cmd = [
        str(interpreter(tool)),
        str(WORKLOAD),
        "--tool",
        tool,
        "--uri",
        f"sqlite:///{tmp / (tool + '.db')}",
        "--phase",
        phase,
        "--out",
        str(out),
        "--config",
        json.dumps(cfg.to_dict()),
    ]
    log(f"{tool}: phase {phase} (timeout {timeout:.0f}s)")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    problem = None
    try:
        proc = subprocess.run(cmd, cwd=tmp, env=tool_env(tool, tmp), stdout=sys.stderr, timeout=timeout)
        if proc.returncode != 0:
            problem = f"workload phase {phase} exited with status {proc.returncode}"
    except subprocess.TimeoutExpired:
        problem = f"workload phase {phase} timed out after {timeout:.0f}s"
    except Exception as exc:  # noqa: BLE001
        problem = f"cannot run the workload: {type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - t0
    log(f"{tool}: phase {phase} finished in {elapsed:.0f}s" + (f" ({problem})" if problem else ""))
    try:
        results = json.loads(out.read_text())
    except Exception:  # noqa: BLE001 - nothing written before the failure
        results = {}
    if "fatal" in results:
        log(f"{tool}: workload could not start:\n{results.get('traceback', '')}")
        problem = results["fatal"] + (f" ({problem})" if problem else "")
    for name, tb in results.get("raw", {}).pop("tracebacks", {}).items():
        log(f"{tool}: {name} failed:\n{tb}")
    results["phase"] = {"seconds": elapsed, "problem": problem, "loadavg_1min_at_start": load}
    return results


def merge(into: dict, phase: str, res: dict) -> None:
    for key in ("figures", "errors", "raw", "extra", "checks"):
        into.setdefault(key, {}).update(res.get(key, {}))
    if res.get("info"):
        into["info"] = res["info"]
    into.setdefault("phases", {})[phase] = res["phase"]


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def machine_info() -> dict:
    info = {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "driver_python": platform.python_version(),
    }
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()
        info["ram_gb"] = round(int(mem[1]) / 1024 / 1024, 1)
    except Exception:  # noqa: BLE001
        pass
    try:
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except Exception:  # noqa: BLE001
        pass
    return info


PHASE_OF = {
    "log_metric_calls_per_s": "writes",
    "log_batch_points_per_s": "writes",
    "run_creation_runs_per_s": "writes",
    "metric_history_ms": "history",
    "cold_start_ms": "history",
    "search_small_top100_p50_ms": "search_small",
    "search_small_top1000_p50_ms": "search_small",
    "search_large_top100_p50_ms": "search_large",
    "search_large_top1000_p50_ms": "search_large",
}


def figure_error(name: str, res: dict) -> str:
    errors = res.get("errors", {})
    if name in errors:
        return errors[name]
    if name.startswith("search_"):
        populate = f"search_{name.split('_')[1]}_populate"
        if populate in errors:
            return "filling the search store failed: " + errors[populate]
    phase = res.get("phases", {}).get(PHASE_OF.get(name, ""), {})
    return phase.get("problem") or res.get("problem") or "not measured"


def _count(name: str, res: dict) -> int | None:
    """How many calls, runs or timed repetitions a tool made for a figure."""
    raw = res.get("raw", {}).get(name)
    if not raw or name not in res.get("figures", {}):
        return None
    for key in ("calls", "runs_created"):
        if key in raw:
            return raw[key]
    samples = raw.get("samples_ms")
    return len(samples) if samples is not None else None


def build_report(
    cfg: Config, tools: list[str], results: dict[str, dict], mode: str, started: float, load_before: tuple
) -> dict:
    figures = {}
    for name, unit, better, what in FIGURES:
        entry: dict = {}
        errors, at_least = {}, {}
        for tool in TOOLS:
            res = results.get(tool, {})
            value = res.get("figures", {}).get(name)
            entry[tool] = sig(value)
            if tool in tools and value is None:
                errors[tool] = figure_error(name, res)
                bound = res.get("raw", {}).get(name, {}).get("at_least_ms")
                if bound:
                    at_least[tool] = bound
        my = entry["modelyard"]
        entry["ratio"] = sig(speedup(my, entry["mlflow"], better), 3)
        for tool, bound in at_least.items():  # a search interrupted at the deadline
            entry[f"{tool}_at_least"] = sig(bound)
        if "mlflow" in at_least and my and better == "lower":
            entry["ratio_at_least"] = sig(at_least["mlflow"] / my, 3)
        entry["unit"] = unit
        entry["better"] = better
        entry["what"] = what
        if name.startswith("search_"):
            entry["runs"] = cfg.runs_small if "_small_" in name else cfg.runs_large
            entry["max_results"] = int(name.split("_top")[1].split("_")[0])
        elif name == "metric_history_ms":
            entry["points"] = cfg.history_points
        elif name == "log_batch_points_per_s":
            entry["points_per_call"] = cfg.log_batch_size
        counts = {t: _count(name, results[t]) for t in tools if _count(name, results[t]) is not None}
        if counts:
            entry["n"] = counts
        if errors:
            entry["error"] = errors
        figures[name] = entry

    versions, details = {}, {}
    for tool in tools:
        res = results.get(tool, {})
        versions[tool] = res.get("info") or {"error": res.get("problem") or "no information"}
        details[tool] = {
            "problem": res.get("problem"),
            "phases": {
                k: {kk: sig(vv) if isinstance(vv, float) else vv for kk, vv in v.items()}
                for k, v in res.get("phases", {}).items()
            },
            "checks": res.get("checks", {}),
            "extra": res.get("extra", {}),
            "raw": res.get("raw", {}),
        }
    machine = machine_info()
    machine["loadavg_before"] = [round(x, 2) for x in load_before]
    machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "benchmark": "tracking: modelyard vs MLflow, embedded mode, SQLite",
        "mode": mode,
        "tools": tools,
        "figures": figures,
        "search_query": {"filter_string": SEARCH_FILTER, "order_by": SEARCH_ORDER_BY},
        "config": cfg.to_dict(),
        "machine": machine,
        "versions": versions,
        "details": details,
        "total_seconds": sig(time.perf_counter() - started),
    }


PHASE_TIMEOUTS = {"writes": 240.0, "history": 240.0, "search_small": 240.0, "search_large": 360.0}
QUICK_PHASE_TIMEOUT = 90.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke mode: small counts, about a minute")
    ap.add_argument("--only", choices=TOOLS, help="run one tool only (ratios are then null)")
    ap.add_argument("--runs-large", type=int, help="runs in the large search store (default 100000)")
    ap.add_argument("--runs-small", type=int, help="runs in the small search store (default 10000)")
    ap.add_argument(
        "--search-deadline",
        type=float,
        help="seconds after which one search_runs call is interrupted (default 60, quick 20)",
    )
    ap.add_argument(
        "--timeout", type=float, help="seconds allowed per tool per phase (default 240-360, quick 90)"
    )
    ap.add_argument("--workdir", type=Path, default=BENCH / ".work", help="parent of the temporary stores")
    ap.add_argument("--keep", action="store_true", help="keep the temporary stores and result files")
    ap.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = ap.parse_args(argv)

    started, load_before = time.perf_counter(), os.getloadavg()
    cfg = Config.quick() if args.quick else Config()
    if args.runs_large is not None:
        cfg = replace(cfg, runs_large=args.runs_large)
    if args.runs_small is not None:
        cfg = replace(cfg, runs_small=args.runs_small)
    if args.search_deadline is not None:
        cfg = replace(cfg, search_deadline_s=args.search_deadline)
    if cfg.runs_small > cfg.runs_large:
        cfg = replace(cfg, runs_small=cfg.runs_large)
    if cfg.api_sample_runs > cfg.runs_small:
        cfg = replace(cfg, api_sample_runs=max(1, cfg.runs_small))
    tools = [args.only] if args.only else list(TOOLS)
    results: dict[str, dict] = {tool: {} for tool in tools}

    if "mlflow" in tools:
        setup_error = ensure_mlflow_venv()
        if setup_error:
            log(f"mlflow: {setup_error}")
            results["mlflow"]["problem"] = setup_error
    compile_checkout()  # the cold-start figure times our imports, not the compiler
    runnable = [t for t in tools if not results[t].get("problem")]

    args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tracking-", dir=args.workdir))
    tmps = {tool: tmp / tool for tool in runnable}
    for d in tmps.values():
        d.mkdir()
    log(f"stores in {tmp}")
    try:
        imports = import_times(runnable, tmps, cfg.import_reps)
        for tool, imp in imports.items():
            if imp["samples_ms"]:
                results[tool].setdefault("figures", {})["import_time_ms"] = min(imp["samples_ms"])
                results[tool].setdefault("raw", {})["import_time_ms"] = imp
                log(f"{tool}: import {min(imp['samples_ms']):.0f} ms")
            else:  # nothing else can work either: skip this tool's phases
                error = imp.get("error", "import failed")
                results[tool].setdefault("errors", {})["import_time_ms"] = error
                results[tool]["problem"] = f"import {tool} failed: {error}"
                log(f"{tool}: import failed: {error}")
        runnable = [t for t in runnable if not results[t].get("problem")]
        for i, phase in enumerate(PHASES):
            timeout = args.timeout or (QUICK_PHASE_TIMEOUT if args.quick else PHASE_TIMEOUTS[phase])
            for tool in runnable if i % 2 == 0 else runnable[::-1]:  # ABBA: spreads load drift
                merge(results[tool], phase, run_phase(tool, phase, tmps[tool], cfg, timeout))
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report = build_report(cfg, tools, results, "quick" if args.quick else "full", started, load_before)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    log(f"done in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
