"""Autologging benchmark: the time autologging adds to a small fit, modelyard vs MLflow, as JSON.

    .venv/bin/python bench/autolog.py [--reps 5] [--quick] [--only modelyard|mlflow] [--out FILE]

The same workload runs in fresh processes, one per tool and configuration, the tools
alternating: modelyard with this interpreter (importing this checkout), MLflow with
bench/.venv-mlflow (created by bench/tracking.py; this script adds xgboost-cpu to it when
missing). Each process has its own SQLite store in a temporary folder. In a process: the
fits run once without autologging (warm-up), then the tool's ``sklearn.autolog`` and
``xgboost.autolog`` are called (timed), each fit runs once autologged (its first, "cold"
fit), and then ``--reps`` rounds alternate plain and autologged fits (autolog(disable=True)
and back between them, untimed). The figure is the best autologged fit minus the best plain
fit. Only the JSON goes to stdout.
See bench/README.md ("autolog.py") for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MLFLOW_VENV = BENCH / ".venv-mlflow"
TOOLS = ("modelyard", "mlflow")
CONFIGS = {"no_models": {"log_models": False}, "defaults": {"log_models": True}}
SCENARIOS = ("sklearn_logreg", "xgboost_train", "xgboost_sklearn", "sklearn_gridsearch")
ROWS, FEATURES, XGB_ROUNDS, SEED = 1_000, 20, 20, 20_240_611
XGB_REQUIREMENT = "xgboost-cpu==3.2.0"


def log(msg: str) -> None:
    sys.stderr.write(f"[bench-autolog {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# -- the workload (runs inside each tool's interpreter: stdlib, numpy, sklearn, xgboost) ----
def _fits(np, xgboost):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(ROWS, FEATURES))
    y = (X[:, :3].sum(axis=1) + rng.normal(scale=0.5, size=ROWS) > 0).astype(int)
    X_valid, y_valid = X[:200], y[:200]
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3}

    def xgb_train():
        dtrain, dvalid = xgboost.DMatrix(X, y), xgboost.DMatrix(X_valid, y_valid)
        xgboost.train(params, dtrain, XGB_ROUNDS, evals=[(dvalid, "valid")], verbose_eval=False)

    return {
        "sklearn_logreg": lambda: LogisticRegression(max_iter=500).fit(X, y),
        "xgboost_train": xgb_train,
        "xgboost_sklearn": lambda: xgboost.XGBClassifier(n_estimators=XGB_ROUNDS, max_depth=3).fit(
            X, y, eval_set=[(X_valid, y_valid)], verbose=False
        ),
        "sklearn_gridsearch": lambda: GridSearchCV(
            LogisticRegression(max_iter=500), {"C": [0.1, 1.0, 10.0]}, cv=3
        ).fit(X, y),
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def worker(tool: str, config: str, reps: int, uri: str, out: str) -> None:
    import importlib
    import warnings

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    T = importlib.import_module(tool)
    import_s = time.perf_counter() - t0
    import numpy as np
    import sklearn
    import xgboost

    T.set_tracking_uri(uri)
    T.set_experiment("autolog-bench")
    fits = _fits(np, xgboost)
    result: dict = {
        "import_s": import_s,
        "versions": {
            tool: T.__version__,
            "sklearn": sklearn.__version__,
            "xgboost": xgboost.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "baseline_s": {n: [] for n in fits},
        "first_s": {},
        "autologged_s": {n: [] for n in fits},
        "checks": {},
    }
    for fit in fits.values():  # warm-up without autologging: imports, caches
        fit()
    options = CONFIGS[config]

    def autolog(disable: bool = False) -> None:
        T.sklearn.autolog(disable=disable, **options)
        T.xgboost.autolog(disable=disable, **options)

    start = time.perf_counter()
    autolog()
    result["autolog_call_s"] = time.perf_counter() - start
    client = T.MlflowClient()
    for name, fit in fits.items():  # the first autologged fit of each kind: lazy imports and all
        result["first_s"][name] = _timed(fit)
        run = client.get_run(T.last_active_run().info.run_id)
        result["checks"][name] = {
            "status": run.info.status,
            "metrics": len(run.data.metrics),
            "params": len(run.data.params),
            "datasets": len(run.inputs.dataset_inputs),
            "models": len(run.outputs.model_outputs),
        }
    for _ in range(reps):  # baseline and autologged fits interleaved: load drift hits both alike
        autolog(disable=True)
        for name, fit in fits.items():
            result["baseline_s"][name].append(_timed(fit))
        autolog()
        for name, fit in fits.items():
            result["autologged_s"][name].append(_timed(fit))
    Path(out).write_text(json.dumps(result))


# -- the driver ------------------------------------------------------------------------------
def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "MODELYARD_")) and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        OMP_WAIT_POLICY="passive",
        PYTHONWARNINGS="ignore",
    )
    return env


def interpreter(tool: str) -> Path:
    return Path(sys.executable) if tool == "modelyard" else MLFLOW_VENV / "bin" / "python"


def ensure_mlflow_side() -> str | None:
    """The MLflow venv must exist (bench/tracking.py makes it); add xgboost when it lacks it."""
    py = interpreter("mlflow")
    if not py.exists():
        return f"{py} is missing: run bench/tracking.py once to create the MLflow venv"
    probe = [str(py), "-c", "import mlflow, sklearn, xgboost"]
    if subprocess.run(probe, capture_output=True, env=base_env(), timeout=120).returncode == 0:
        return None
    log(f"pip install {XGB_REQUIREMENT} scikit-learn into {MLFLOW_VENV.relative_to(REPO)}")
    pip = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            XGB_REQUIREMENT,
            "scikit-learn",
        ],
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=900,
    )
    if pip.returncode != 0:
        return f"pip install into the MLflow venv failed: {pip.stderr.strip().splitlines()[-1:]}"
    return None


def run_worker(tool: str, config: str, reps: int, tmp: Path, timeout: float) -> dict:
    folder = tmp / f"{tool}-{config}"
    folder.mkdir(parents=True)
    env = base_env()
    if tool == "modelyard":
        env["PYTHONPATH"] = str(REPO)
        env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(folder / "artifacts")
    out = folder / "result.json"
    cmd = [
        str(interpreter(tool)),
        str(Path(__file__).resolve()),
        "--worker",
        tool,
        config,
        str(reps),
        f"sqlite:///{folder / 'store.db'}",
        str(out),
    ]
    log(f"{tool} / {config}: {reps} reps")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:500]}
    result = json.loads(out.read_text())
    result["process_s"] = round(time.perf_counter() - start, 2)
    return result


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def summarize(raw: dict) -> dict:
    """Per scenario: the added time (best autologged fit minus best plain fit: on a shared
    machine noise only ever adds, so the minimums are the stable estimate), the medians,
    and the first (cold) autologged fit."""
    out = {}
    for name in SCENARIOS:
        base, auto = raw["baseline_s"][name], raw["autologged_s"][name]
        out[name] = {
            "added_ms": ms(min(auto) - min(base)),
            "baseline_min_ms": ms(min(base)),
            "autologged_min_ms": ms(min(auto)),
            "baseline_median_ms": ms(statistics.median(base)),
            "autologged_median_ms": ms(statistics.median(auto)),
            "first_fit_added_ms": ms(raw["first_s"][name] - min(base)),
        }
    return out


def build_report(results: dict, args: argparse.Namespace, started: float, load_before) -> dict:
    figures: dict = {}
    for config in CONFIGS:
        for name in SCENARIOS:
            entry: dict = {"unit": "ms added per fit", "better": "lower"}
            for tool in TOOLS:
                raw = results.get(tool, {}).get(config)
                entry[tool] = summarize(raw)[name]["added_ms"] if raw and "error" not in raw else None
            my, ml = entry.get("modelyard"), entry.get("mlflow")
            entry["ratio"] = round(ml / my, 2) if my and ml and my > 0 and ml > 0 else None
            figures[f"{name}__{config}"] = entry
        for key in ("autolog_call", "first_fit"):
            entry = {"unit": "ms", "better": "lower"}
            for tool in TOOLS:
                raw = results.get(tool, {}).get(config)
                if not raw or "error" in raw:
                    entry[tool] = None
                elif key == "autolog_call":
                    entry[tool] = ms(raw["autolog_call_s"])
                else:  # the first autologged fit of the process: lazy imports, store set-up
                    entry[tool] = summarize(raw)[SCENARIOS[0]]["first_fit_added_ms"]
            my, ml = entry.get("modelyard"), entry.get("mlflow")
            entry["ratio"] = round(ml / my, 2) if my and ml and my > 0 else None
            figures[f"{key}__{config}"] = entry
    details = {
        tool: {
            config: (
                raw
                if "error" in raw
                else {
                    "scenarios": summarize(raw),
                    "checks": raw["checks"],
                    "import_ms": ms(raw["import_s"]),
                    "process_s": raw.get("process_s"),
                    "versions": raw["versions"],
                }
            )
            for config, raw in per_tool.items()
        }
        for tool, per_tool in results.items()
    }
    return {
        "benchmark": "autolog",
        "config": {
            "rows": ROWS,
            "features": FEATURES,
            "xgboost_rounds": XGB_ROUNDS,
            "reps": args.reps,
            "scenarios": list(SCENARIOS),
            "configs": CONFIGS,
        },
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_before": load_before,
            "load_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "figures": figures,
        "details": details,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="timed fits per scenario and configuration")
    parser.add_argument("--quick", action="store_true", help="2 reps (smoke mode)")
    parser.add_argument("--only", choices=TOOLS)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per worker process")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps = 2
    started = time.perf_counter()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    tools = [args.only] if args.only else list(TOOLS)
    results: dict = {tool: {} for tool in tools}
    if "mlflow" in tools and (error := ensure_mlflow_side()):
        results["mlflow"] = {config: {"error": error} for config in CONFIGS}
        tools.remove("mlflow")
    with tempfile.TemporaryDirectory(prefix="bench-autolog-") as tmp:
        for i, config in enumerate(CONFIGS):
            for tool in tools if i % 2 == 0 else list(reversed(tools)):  # ABBA: load drift hits both
                results[tool][config] = run_worker(tool, config, args.reps, Path(tmp), args.timeout)
    report = build_report(results, args, started, load_before)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        tool, config, reps, uri, out = sys.argv[2:7]
        worker(tool, config, int(reps), uri, out)
    else:
        sys.exit(main())
