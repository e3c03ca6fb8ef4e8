"""Retraining overhead: the time ``modelyard.retrain.retrain`` spends on everything but training, as JSON.

    .venv/bin/python bench/retrain.py [--reps 3] [--rows 20000]

Everything but training = registering the challenger, loading both models, evaluating both on the
holdout (metrics, plots, the per-row table), p95 single-row latency (100 predictions each), model
sizes, gates, the evaluation run and the alias moves. The trainer is a logistic regression
(fitted and logged by the pipeline), the holdout ``--rows`` rows. No open-source peer ships this
step (see shared/reference/peers.md F), so there is no ratio: the target is under 10 s.
Runs in a fresh SQLite store in a temporary folder. Only the JSON goes to stdout.

``stages`` splits each repetition by stage (``RetrainResult.stages``: wall and process-CPU seconds;
``train`` is the training, left out of the overhead). The first repetition is the cold one (a
retraining job runs in its own process, so it pays the imports); ``warm_*`` is the best of the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import modelyard
    from modelyard import retrain

    tmp = tempfile.mkdtemp(prefix="bench-retrain-")
    modelyard.set_tracking_uri(f"sqlite:///{tmp}/modelyard.db")
    os.chdir(tmp)
    X, y = make_classification(n_samples=2 * args.rows, n_features=20, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]).assign(y=y)
    train, holdout = frame.iloc[: args.rows], frame.iloc[args.rows :]

    def fit(data, target):
        return LogisticRegression(max_iter=1000).fit(data.drop(columns=[target]), data[target])

    gates = {"min": {"roc_auc": 0.5}, "max_drop": {"roc_auc": 0.05}, "max_p95_latency_ms": 100, "max_model_mb": 10}
    overheads, walls, cpus, stages = [], [], [], []
    for _ in range(args.reps):
        start, cpu = time.perf_counter(), time.process_time()
        result = retrain.retrain("bench", train, holdout, target_col="y", train=fit, gates=gates)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu - result.stages["train"]["cpu_s"])
        overheads.append(result.overhead_seconds)
        stages.append({k: {m: round(v, 4) for m, v in d.items()} for k, d in result.stages.items()})
    warm = range(1, args.reps) if args.reps > 1 else range(args.reps)
    print(json.dumps({
        "rows_holdout": args.rows, "reps": args.reps, "overhead_s": overheads, "overhead_s_best": min(overheads),
        "overhead_cpu_s": cpus, "cold_overhead_s": overheads[0],
        "warm_overhead_s": min(overheads[i] for i in warm), "warm_overhead_cpu_s": min(cpus[i] for i in warm),
        "wall_s": walls, "target_s": 10.0, "load_average": os.getloadavg(), "stages": stages,
    }, indent=2))


if __name__ == "__main__":
    main()
