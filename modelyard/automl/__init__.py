"""AutoML: ``classify`` and ``regress`` with Databricks AutoML's shape, every trial a tracked run.

    from modelyard import automl
    summary = automl.classify(df, target_col="churned", primary_metric="roc_auc", timeout_minutes=5)
    summary.best_trial.model_path        # models:/m-...
    summary.trials                       # the leaderboard, best first

An Optuna search (TPE sampler, median pruning, early stopping for boosted trees) over
scikit-learn (linear, random forest, extra trees, histogram gradient boosting), XGBoost and
LightGBM, each in a preprocessing pipeline inferred from the column types. Each trial is one child
run of one parent run; the parent holds the data profile, the splits, the leaderboard, the best
model and a script that reproduces it.

Small data (train + validation up to ``space.SMALL_ROWS`` = 5,000 rows, no ``time_col``): a trial
is scored by 5-fold cross-validation over train + validation (its out-of-fold outputs, not a
validation split of a few dozen rows), and its model is the configuration fitted on train +
validation; kernel SVMs and small-data start points for the boosted trees join the search; once the
trials are over, a greedy ensemble of the best trials (``ensemble.py``) that beats the best one
alone is recorded as one more trial (its model: their weighted mean, loadable like any other). ``parallelism=N`` runs trials in N processes (the study in PostgreSQL; workers
elsewhere join with ``modelyard automl worker --study ID``).
"""

from __future__ import annotations

from typing import Any

from modelyard.automl.summary import AutoMLSummary, TrialInfo

__all__ = ["AutoMLSummary", "TrialInfo", "classify", "regress", "run_worker"]


def _search(
    task: str, dataset: Any, target_col: str, registered_model_name: str | None, parallelism: int, refit: bool,
    **kwargs: Any,
) -> AutoMLSummary:
    from modelyard.automl.search import Search
    from modelyard.automl.worker import quiet_openmp

    quiet_openmp()
    search = Search.prepare(dataset, target_col, task=task, parallelism=parallelism, **kwargs)
    try:
        search.run(parallelism)
        return search.finish(registered_model_name, refit)
    except BaseException:
        search.abort()
        raise


def classify(
    dataset: Any,
    target_col: str,
    primary_metric: str = "f1",
    timeout_minutes: float | None = None,
    max_trials: int | None = None,
    exclude_frameworks: list[str] | None = None,
    exclude_cols: list[str] | None = None,
    time_col: str | None = None,
    pos_label: Any = None,
    experiment_name: str | None = None,
    parallelism: int = 1,
    *,
    study_storage: str | None = None,
    registered_model_name: str | None = None,
    refit: bool = True,
    split_col: str | None = None,
) -> AutoMLSummary:
    """Search classifiers for ``target_col``. ``primary_metric``: f1, accuracy, precision, recall,
    roc_auc or log_loss. ``pos_label`` (binary): the positive class for f1/precision/recall/roc_auc
    (default 1 or True when they are labels, else the minority class). ``refit``: the parent's
    ``best_model`` is the best configuration refitted on train + validation (``summary.best_model_path``;
    its test metrics in ``summary.best_model_metrics``); the best trial's own model stays at
    ``summary.best_trial.model_path``. A cross-validated (small) search needs no refit: its trials'
    models are fitted on train + validation. Its ensemble trial comes on top of ``max_trials``. ``split_col``: a column saying ``train``, ``validate`` or
    ``test`` per row, instead of the 60/20/20 split."""
    return _search(
        "classification", dataset, target_col, registered_model_name, parallelism, refit,
        primary_metric=primary_metric, timeout_minutes=timeout_minutes, max_trials=max_trials,
        exclude_frameworks=exclude_frameworks, exclude_cols=exclude_cols, time_col=time_col,
        pos_label=pos_label, experiment_name=experiment_name, study_storage=study_storage, split_col=split_col,
    )


def regress(
    dataset: Any,
    target_col: str,
    primary_metric: str = "r2",
    timeout_minutes: float | None = None,
    max_trials: int | None = None,
    exclude_frameworks: list[str] | None = None,
    exclude_cols: list[str] | None = None,
    time_col: str | None = None,
    experiment_name: str | None = None,
    parallelism: int = 1,
    *,
    study_storage: str | None = None,
    registered_model_name: str | None = None,
    refit: bool = True,
    split_col: str | None = None,
) -> AutoMLSummary:
    """Search regressors for ``target_col``. ``primary_metric``: r2, rmse, mse or mae."""
    return _search(
        "regression", dataset, target_col, registered_model_name, parallelism, refit,
        primary_metric=primary_metric, timeout_minutes=timeout_minutes, max_trials=max_trials,
        exclude_frameworks=exclude_frameworks, exclude_cols=exclude_cols, time_col=time_col,
        experiment_name=experiment_name, study_storage=study_storage, split_col=split_col,
    )


def run_worker(study_id: str, storage_uri: str, tracking_uri: str | None = None) -> int:
    """Join the running search ``study_id`` (its study in ``storage_uri``); returns the trials run."""
    from modelyard.automl.worker import run_worker as run

    return run(study_id, storage_uri, tracking_uri)
