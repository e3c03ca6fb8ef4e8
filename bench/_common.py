"""Shared by the driver (bench/tracking.py) and the workload (bench/_workload.py).

Standard library only: the workload imports this from inside the MLflow venv too.
Everything that decides *what* is measured lives here, so both tools get the same counts,
the same data and the same query.
"""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import asdict, dataclass

SEED = 20_240_611

# The search query timed on both stores: a metric AND a param filter, ordered by a metric.
# With the data below about 1/2 * 1/4 = 12.5% of the runs match, so even the small store
# (10,000 runs) has more than 1,000 matching rows.
SEARCH_FILTER = "metrics.accuracy > 0.5 AND params.optimizer = 'adam'"
SEARCH_ORDER_BY = ["metrics.loss ASC"]

PARAM_KEYS = ("lr", "optimizer", "batch_size", "epochs", "model")
METRIC_KEYS = ("accuracy", "loss", "f1", "precision", "recall")
TAG_KEYS = ("team", "dataset", "stage")


@dataclass(frozen=True)
class Config:
    """The counts of one benchmark run (full or --quick).

    Each loop stops at its count or its time budget, whichever comes first (the figure says
    how many calls it made): on a loaded 2-core machine the slowest tool would otherwise
    take the whole run past its 10 minutes.
    """

    log_metric_calls: int = 2_000
    log_batch_calls: int = 20
    log_batch_size: int = 1_000  # points per log_batch call (10 keys x 100 steps)
    create_runs: int = 200  # each: 10 params, 10 metrics, 5 tags
    write_budget_s: float = 20.0  # time budget of each of the three write loops
    runs_small: int = 10_000
    runs_large: int = 100_000
    api_sample_runs: int = 5  # populated through the public API; the rest by direct SQL
    search_rows: tuple[int, ...] = (100, 1_000)
    search_reps: int = 5
    search_budget_s: float = 30.0  # stop repeating one search figure after this much time
    search_deadline_s: float = 45.0  # a single search_runs call is interrupted past this
    history_points: int = 100_000
    history_reps: int = 5
    history_budget_s: float = 20.0  # stop repeating get_metric_history after this much time
    history_log_batch_budget_s: float = 60.0  # past this projection, bulk-insert the history
    import_reps: int = 5

    @classmethod
    def quick(cls) -> Config:
        return cls(
            log_metric_calls=100,
            log_batch_calls=3,
            create_runs=10,
            write_budget_s=8.0,
            runs_small=1_000,
            runs_large=5_000,
            search_rows=(100, 1_000),
            search_reps=3,
            search_budget_s=10.0,
            search_deadline_s=15.0,
            history_points=10_000,
            history_reps=3,
            history_budget_s=8.0,
            history_log_batch_budget_s=20.0,
            import_reps=2,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["search_rows"] = list(self.search_rows)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        d = dict(d)
        d["search_rows"] = tuple(d["search_rows"])
        return cls(**d)


@dataclass(frozen=True)
class RunData:
    """One synthetic run of the search population; identical for both tools."""

    index: int
    run_uuid: str
    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def generate_runs(start: int, stop: int, seed: int = SEED) -> list[RunData]:
    """Runs number start..stop-1. Each run's data depends only on (seed, index)."""
    out = []
    for i in range(start, stop):
        rng = random.Random(seed * 1_000_003 + i)
        out.append(
            RunData(
                index=i,
                run_uuid=f"{rng.getrandbits(128):032x}",
                name=f"run-{i:06d}",
                params={
                    "lr": f"{10 ** rng.uniform(-4, -1):.6g}",
                    "optimizer": rng.choice(("adam", "sgd", "rmsprop", "adagrad")),
                    "batch_size": rng.choice(("16", "32", "64", "128")),
                    "epochs": str(rng.randint(1, 100)),
                    "model": rng.choice(("resnet", "vit", "mlp", "xgb", "lgbm")),
                },
                metrics={
                    "accuracy": rng.random(),
                    "loss": rng.uniform(0.0, 2.0),
                    "f1": rng.random(),
                    "precision": rng.random(),
                    "recall": rng.random(),
                },
                tags={
                    "team": rng.choice(("vision", "nlp", "tabular")),
                    "dataset": rng.choice(("imagenet", "cifar10", "mnist", "criteo")),
                    "stage": rng.choice(("dev", "staging", "prod")),
                },
            )
        )
    return out


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def short_error(exc: BaseException, limit: int = 600) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_workload(make, phase: str, out: str, log) -> int:
    """Build a workload with ``make()`` and run ``phase``; a failure to start goes to the driver in ``out``."""
    import traceback

    try:
        workload = make()
    except Exception as exc:  # noqa: BLE001 - reported to the driver through ``out``
        with open(out, "w") as f:
            json.dump({"fatal": short_error(exc), "traceback": traceback.format_exc()[-4000:]}, f)
        log(f"cannot start: {short_error(exc)}")
        return 1
    workload.run(phase)
    return 0
