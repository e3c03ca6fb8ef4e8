"""AutoML benchmark: the best test score at the same wall-clock budget, modelyard vs FLAML, as JSON.

    .venv/bin/python bench/automl.py [--budget 60] [--quick] [--datasets breast_cancer,wine,...] [--repeats N] [--out FILE]

Data sets: scikit-learn's breast_cancer, wine, digits, diabetes, and two generated ones with
100,000 rows (``make_classification``, ``make_regression``; 20,000 with ``--quick``). The driver
splits each once (modelyard's own 60/20/20 split, stratified, seed 42; ``--repeats N``: N splits,
seeds 42, 43, ..., both tools run on each and the data set's difference is the mean: one split of
a small set is too coarse to resolve 0.005, wine's test part has 36 rows) and writes the three parts
to parquet; modelyard's search is given train+validation+test as one frame with a ``split`` column
(``split_col``, so it uses exactly these parts: re-splitting the concatenation would draw other
rows), FLAML gets train (``X_train``) and validation (``X_val``, holdout evaluation), and both are
scored on the same test part. Metric: ROC AUC (binary), accuracy (multi-class), R² (regression).

Scores: FLAML's final model is refitted on train+validation (its default ``retrain_full``);
modelyard's ``test_score`` is the same (the parent run's ``best_model``), and
``best_trial_test_score`` the best trial's own model, fitted on train only. On the four small sets
modelyard cross-validates (5 folds over train + validation, its ``cv_folds``: FLAML's own choice
for small data is cross-validation too, but it is given a validation split here) and every trial's
model is fitted on train + validation, so the two scores are the same model's; ``cv_folds`` and
``ensemble_members`` (when the ensemble trial won) are reported.

Each tool runs in a fresh process, the tools alternating: modelyard with this interpreter (this
checkout on PYTHONPATH, a fresh SQLite store, every trial a tracked run), FLAML with
bench/.venv-flaml (created here: ``pip install flaml[automl]==2.7.0``). Both use 2 threads per
model. Tracking overhead = the time modelyard's search spent in tracking calls (runs, params,
metrics, models, the parent's artifacts), divided by the rest of its wall time. The trials' models
are written by a background thread while the next trial fits: the search's waits on it (a full
queue, the drain at the end) count as tracking; the thread's own writing time is reported beside
(``background_model_writing_s``): on a loaded machine it competes with the fits for the cores.
Only the JSON goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FLAML_VENV = BENCH / ".venv-flaml"
FLAML_REQUIREMENT = "flaml[automl]==2.7.0"
DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "classification_100k", "regression_100k")
TOOLS = ("modelyard", "flaml")
SPLIT_SEED = 42  # modelyard's own split seed (data.SPLIT_SEED); --repeats adds 43, 44, ...


def log(message: str) -> None:
    print(f"[bench/automl] {message}", file=sys.stderr, flush=True)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELYARD_")) and k != "PYTHONPATH"}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", OMP_WAIT_POLICY="passive")
    return env


def ensure_flaml_venv() -> str | None:
    py = FLAML_VENV / "bin" / "python"
    try:
        if not py.exists():
            log(f"creating {FLAML_VENV.relative_to(REPO)}")
            subprocess.run([sys.executable, "-m", "venv", str(FLAML_VENV)], check=True, timeout=300)
        probe = [str(py), "-c", "import flaml, pyarrow, xgboost, lightgbm; print(flaml.__version__)"]
        if subprocess.run(probe, capture_output=True, text=True, env=base_env()).returncode == 0:
            return None
        log(f"pip install {FLAML_REQUIREMENT} pyarrow into {FLAML_VENV.relative_to(REPO)} (a few minutes)")
        done = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", FLAML_REQUIREMENT, "pyarrow", "xgboost-cpu"],
            capture_output=True, text=True, timeout=1800, env=base_env(),
        )
        if done.returncode != 0:
            return f"pip install {FLAML_REQUIREMENT} failed: {done.stderr.strip().splitlines()[-1:]}"
        return None
    except Exception as exc:  # reported in the JSON
        return f"cannot set up {FLAML_VENV}: {type(exc).__name__}: {exc}"


# -- data ------------------------------------------------------------------------------------------------
def load(name: str, rows: int):
    import pandas as pd
    from sklearn import datasets

    if name in ("breast_cancer", "wine", "digits", "diabetes"):
        bunch = getattr(datasets, f"load_{name}")(as_frame=True)
        frame = bunch.frame.rename(columns={"target": "y"})
        frame.columns = [str(c) for c in frame.columns]
        task = "regression" if name == "diabetes" else "classification"
    elif name == "classification_100k":
        X, y = datasets.make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
        frame, task = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(y=y), "classification"
    else:
        X, y = datasets.make_regression(n_samples=rows, n_features=20, n_informative=10, noise=10.0, random_state=0)
        frame, task = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(y=y), "regression"
    if task == "regression":
        metric = "r2"
    else:
        metric = "roc_auc" if frame["y"].nunique() == 2 else "accuracy"
    return frame, task, metric


def write_splits(name: str, rows: int, folder: Path, seed: int) -> dict:
    sys.path.insert(0, str(REPO))
    from modelyard.automl import data

    frame, task, metric = load(name, rows)
    splits = data.split(frame, "y", time_col=None, classification=task == "classification", seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("train", "val", "test"):
        getattr(splits, part).to_parquet(folder / f"{part}.parquet", index=False)
    return {"task": task, "metric": metric, "rows": len(frame), "features": frame.shape[1] - 1}


# -- the two workloads (each in a fresh process) ----------------------------------------------------------
def run_modelyard(folder: Path, task: str, metric: str, budget: float) -> dict:
    import importlib

    import pandas as pd

    import modelyard
    from modelyard import automl

    for module in ("lightgbm", "optuna", "sklearn.ensemble", "xgboost"):  # before the clock starts, as FLAML's
        importlib.import_module(module)
    frame = pd.concat([pd.read_parquet(folder / f"{p}.parquet").assign(split=s)
                       for p, s in (("train", "train"), ("val", "validate"), ("test", "test"))], ignore_index=True)
    modelyard.set_experiment("bench")
    start = time.perf_counter()
    search = automl.classify if task == "classification" else automl.regress
    summary = search(frame, target_col="y", primary_metric=metric, timeout_minutes=budget / 60.0, split_col="split")
    wall = time.perf_counter() - start
    complete = [t for t in summary.trials if t.state == "COMPLETE"]
    refit = (summary.best_model_metrics or {}).get(f"test_{metric}")
    return {
        # the model the search hands over (refitted on train+validation, as FLAML's retrain_full)
        "test_score": refit if refit is not None else summary.best_trial.metrics[f"test_{metric}"],
        "best_trial_test_score": summary.best_trial.metrics[f"test_{metric}"],
        "best_model": summary.best_trial.model_description,
        "ensemble_members": summary.best_trial.params.get("members"),
        "cv_folds": int(modelyard.get_run(summary.parent_run_id).data.params.get("cv_folds", 0)),
        "families": sorted({t.model_description for t in complete}),
        "trials": len(summary.trials), "trials_complete": len(complete), "wall_s": wall,
        "tracking_s": summary.tracking_seconds,
        "tracking_parts_s": summary.tracking_parts,  # prepare / trials / drain / finish
        "refit": summary.refit,
        # the trials' models written on a background thread meanwhile (drain waits are in tracking_s)
        "background_model_writing_s": summary.background_tracking_seconds,
        "tracking_overhead": summary.tracking_seconds / max(wall - summary.tracking_seconds, 1e-9),
    }


def run_flaml(folder: Path, task: str, metric: str, budget: float) -> dict:
    import pandas as pd
    from flaml import AutoML
    from sklearn import metrics as m

    train, val, test = (pd.read_parquet(folder / f"{p}.parquet") for p in ("train", "val", "test"))
    automl = AutoML()
    start = time.perf_counter()
    automl.fit(
        X_train=train.drop(columns="y"), y_train=train["y"], X_val=val.drop(columns="y"), y_val=val["y"],
        task=task, metric=metric, time_budget=budget, n_jobs=2, verbose=0, seed=0,
    )
    wall = time.perf_counter() - start
    X_test, y_test = test.drop(columns="y"), test["y"]
    if metric == "roc_auc":
        score = m.roc_auc_score(y_test, automl.predict_proba(X_test)[:, 1])
    elif metric == "accuracy":
        score = m.accuracy_score(y_test, automl.predict(X_test))
    else:
        score = m.r2_score(y_test, automl.predict(X_test))
    return {"test_score": float(score), "best_model": automl.best_estimator, "wall_s": wall,
            "trials": len(getattr(automl, "config_history", {}) or {})}


def child(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    runner = run_modelyard if args.child == "modelyard" else run_flaml
    print(json.dumps(runner(folder, args.task, args.metric, args.budget)))


def run_tool(tool: str, folder: Path, meta: dict, budget: float, tmp: Path) -> dict:
    env = base_env()
    if tool == "modelyard":
        py = sys.executable
        env["PYTHONPATH"] = str(REPO)
        env["MODELYARD_TRACKING_URI"] = f"sqlite:///{tmp / 'modelyard.db'}"
        env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(tmp / "artifacts")
    else:
        py = str(FLAML_VENV / "bin" / "python")
    cmd = [py, __file__, "--child", tool, "--folder", str(folder), "--task", meta["task"], "--metric", meta["metric"],
           "--budget", str(budget)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=budget * 6 + 300)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-800:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _combine(repeats: list[dict]) -> dict:
    """Several splits of one data set: each split's entry, and the means over them (the score
    differences, the tracking overhead) as the data set's figures."""
    out = {k: repeats[0][k] for k in ("task", "metric", "rows", "features")}
    out["splits"] = repeats
    diffs = [e["difference"] for e in repeats if "difference" in e]
    if diffs:
        out["difference"] = sum(diffs) / len(diffs)
        out["differences"] = diffs
    overheads = [e["modelyard"]["tracking_overhead"] for e in repeats if "tracking_overhead" in e.get("modelyard", {})]
    if overheads:
        out["modelyard"] = {"tracking_overhead": sum(overheads) / len(overheads), "tracking_overheads": overheads}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per tool and data set")
    parser.add_argument("--quick", action="store_true", help="budget 15 s, generated sets of 20,000 rows")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the generated sets")
    parser.add_argument("--repeats", type=int, default=1,
                        help="splits per data set (seeds 42, 43, ...): both tools run on each; the differences are "
                             "averaged (a 36-row test set moves accuracy by 0.028 a row)")
    parser.add_argument("--first-seed", type=int, default=SPLIT_SEED,
                        help="the first split's seed (the next splits: +1, +2, ...): more splits in a later run")
    parser.add_argument("--out")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--metric", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.quick:
        args.budget, args.rows = 15.0, 20_000
    report: dict = {
        "budget_s": args.budget, "rows_generated": args.rows, "machine": platform.machine(),
        "cpus": os.cpu_count(), "load_average_start": os.getloadavg(), "datasets": {},
    }
    flaml_error = ensure_flaml_venv()
    if flaml_error:
        report["flaml_error"] = flaml_error
    with tempfile.TemporaryDirectory(prefix="bench-automl-") as tmp_name:
        tmp = Path(tmp_name)
        turn = 0
        for name in args.datasets.split(","):
            repeats = []
            for r in range(args.repeats):
                seed = args.first_seed + r
                folder = tmp / name / f"split{r}"
                meta = write_splits(name, args.rows, folder / "data", seed)
                entry = {**meta, "split_seed": seed}
                order = TOOLS if turn % 2 == 0 else TOOLS[::-1]  # alternate: the machine's load drifts
                turn += 1
                for tool in order:
                    if tool == "flaml" and flaml_error:
                        continue
                    work = folder / tool
                    work.mkdir(parents=True, exist_ok=True)
                    log(f"{name} (split seed {seed}): {tool} ({args.budget:.0f} s), load {os.getloadavg()[0]:.1f}")
                    entry[tool] = run_tool(tool, folder / "data", meta, args.budget, work)
                ours, theirs = entry.get("modelyard", {}), entry.get("flaml", {})
                if "test_score" in ours and "test_score" in theirs:
                    entry["difference"] = ours["test_score"] - theirs["test_score"]
                log(f"{name}: {json.dumps({k: v for k, v in entry.items() if k in ('modelyard', 'flaml', 'difference')})}")
                repeats.append(entry)
            report["datasets"][name] = repeats[0] if len(repeats) == 1 else _combine(repeats)
    diffs = [e["difference"] for e in report["datasets"].values() if "difference" in e]
    overheads = [e["modelyard"]["tracking_overhead"] for e in report["datasets"].values() if "tracking_overhead" in e.get("modelyard", {})]
    report["summary"] = {
        "mean_difference": sum(diffs) / len(diffs) if diffs else None,
        "worst_difference": min(diffs) if diffs else None,
        "within_0.005_everywhere": all(d >= -0.005 for d in diffs) if diffs else None,
        "tracking_overhead_max": max(overheads) if overheads else None,
        "tracking_overhead_mean": sum(overheads) / len(overheads) if overheads else None,
    }
    report["load_average_end"] = os.getloadavg()
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
