"""Running trials: in this process, in ``parallelism`` spawned processes, or as a worker that joins
a search from anywhere (``modelyard automl worker --study ID``), plus the clean-up of trials whose
worker died (Optuna fails them after the heartbeat grace period; their runs become FAILED)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from modelyard.automl import storage
from modelyard.automl.data import Splits
from modelyard.automl.summary import TrialInfo
from modelyard.automl.trial import Objective, SearchConfig
from modelyard.exceptions import InvalidParameterValue, ModelyardError

logger = logging.getLogger(__name__)


def quiet_openmp() -> None:
    """Passive OpenMP waiting, before LightGBM / XGBoost load (inherited by worker processes)."""
    from modelyard.settings import prefer_passive_openmp

    prefer_passive_openmp()


def optimize(study: Any, objective: Objective, config: SearchConfig) -> None:
    import optuna

    timeout = None if config.deadline is None else max(0.0, config.deadline - time.time())
    if timeout == 0.0:  # the budget went on preparing: one trial still runs, so there is a model
        if not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
            study.optimize(objective, n_trials=1, catch=(Exception,))
        return
    callbacks = []
    if config.max_trials:
        from optuna.trial import TrialState

        started = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)  # not WAITING
        callbacks.append(optuna.study.MaxTrialsCallback(config.max_trials, states=started))
    study.optimize(objective, timeout=timeout, catch=(Exception,), callbacks=callbacks)


def mark_run_failed(_study: Any, trial: Any) -> None:
    """Optuna's failed-trial callback: the dead worker's run is FAILED, not left RUNNING."""
    run_id = trial.user_attrs.get("run_id")
    if not run_id:
        return
    import modelyard

    client = modelyard.TrackingClient()
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_tag(run_id, "modelyard.automl.error", "the worker running this trial stopped (no heartbeat)")
            client.set_terminated(run_id, "FAILED")
    except ModelyardError:
        logger.warning("Could not mark run %s of stale trial %s as FAILED", run_id, trial.number, exc_info=True)


def load(study_id: str, storage_uri: str) -> tuple[Any, SearchConfig]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = storage.open_storage(storage_uri, heartbeat_interval=storage.HEARTBEAT_INTERVAL_S, grace_period=storage.GRACE_PERIOD_S)
    try:
        study = optuna.load_study(study_name=study_id, storage=probe)
    except KeyError as exc:
        raise InvalidParameterValue(f"no AutoML study {study_id!r} in {storage_uri.split('@')[-1]}") from exc
    attrs = study.user_attrs
    interval, grace = attrs.get("heartbeat") or (storage.HEARTBEAT_INTERVAL_S, storage.GRACE_PERIOD_S)
    store = storage.open_storage(
        storage_uri, heartbeat_interval=interval, grace_period=grace, failed_trial_callback=mark_run_failed
    )
    study = optuna.load_study(study_name=study_id, storage=store, sampler=study.sampler, pruner=study.pruner)
    config = SearchConfig(**json.loads(attrs["modelyard_config"]))
    return study, config


def download_splits(config: SearchConfig) -> Splits:
    import pandas as pd

    import modelyard

    client = modelyard.TrackingClient()
    with tempfile.TemporaryDirectory(prefix="modelyard-automl-worker-") as tmp:
        folder = Path(client.download_artifacts(config.parent_run_id, "data", tmp))
        return Splits(*(pd.read_parquet(folder / f"{name}.parquet") for name in ("train", "val", "test")))


def run_worker(study_id: str, storage_uri: str, tracking_uri: str | None = None, n_jobs: int | None = None) -> int:
    """Join a search: run its trials until its budget is spent. Returns the number of trials run here."""
    import optuna

    import modelyard

    quiet_openmp()
    study, config = load(study_id, storage_uri)
    modelyard.set_tracking_uri(tracking_uri or config.tracking_uri)
    if n_jobs:
        config.n_jobs = n_jobs
    # the study's TPE and median pruner, as the search created them
    study.sampler = optuna.samplers.TPESampler(seed=None, n_startup_trials=max(10, 2 * len(config.models)))
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=20)
    splits = download_splits(config)
    before = len(study.get_trials(deepcopy=False))
    optimize(study, Objective(config, splits), config)
    return len(study.get_trials(deepcopy=False)) - before


def run_processes(storage_uri: str, study_id: str, parallelism: int) -> None:
    """``parallelism`` worker processes on this machine: ``python -m modelyard.automl.worker``, the
    same code as a remote worker, given the study on stdin (no password on a command line, no
    re-import of the caller's ``__main__`` as multiprocessing's spawn would do)."""
    import subprocess
    import sys

    import modelyard

    quiet_openmp()
    job = json.dumps({
        "study": study_id, "storage": storage_uri, "tracking_uri": modelyard.get_tracking_uri(),
        "n_jobs": max(1, (os.cpu_count() or 1) // parallelism),
    })
    processes = [
        subprocess.Popen([sys.executable, "-m", "modelyard.automl.worker"], stdin=subprocess.PIPE, text=True)
        for _ in range(parallelism)
    ]
    for process in processes:
        process.communicate(job)
    for process in processes:
        if process.wait():
            logger.warning("AutoML worker process %s exited with code %s", process.pid, process.returncode)


def fail_stale_trials(study: Any) -> None:
    """Fail the trials whose worker stopped sending heartbeats (RDB storage only)."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # a no-op without heartbeats (in-memory studies)


def fail_orphan_runs(trials: list[TrialInfo]) -> None:
    """Runs of trials that did not complete and are still RUNNING become FAILED."""
    import modelyard

    client = modelyard.TrackingClient()
    for t in trials:
        if t.state in ("FAIL", "RUNNING") and t.run_id:
            run = client.get_run(t.run_id)
            if run.info.status == "RUNNING" and t.state == "FAIL":
                client.set_terminated(t.run_id, "FAILED")


def _main() -> None:
    """``python -m modelyard.automl.worker`` with ``{"study", "storage", "tracking_uri", "n_jobs"}`` on stdin."""
    import sys

    job = json.loads(sys.stdin.read())
    logging.basicConfig(level=logging.WARNING)
    run_worker(job["study"], job["storage"], job.get("tracking_uri"), job.get("n_jobs"))


if __name__ == "__main__":
    _main()
