"""Parameter searches (GridSearchCV, RandomizedSearchCV, halving searches).

The parent run gets ``best_<param>`` params, the ``best_cv_score`` metric and
``cv_results.csv``; the ``max_tuning_runs`` best candidates by rank (all with None) get a
child run each (tag ``mlflow.parentRunId``) with the base estimator's params overridden by
the candidate's and the numeric ``cv_results_`` columns as metrics (mean/std fit and score
times, test scores, ranks).
"""

from __future__ import annotations

import numbers
from typing import Any

from modelyard.autologging import config
from modelyard.autologging.batch import RunBatch
from modelyard.autologging.safety import Session

PARENT_RUN_TAG = "mlflow.parentRunId"


def is_search(estimator: Any) -> bool:
    try:
        from sklearn.model_selection._search import BaseSearchCV
    except ImportError:
        return False
    return isinstance(estimator, BaseSearchCV)


def log_search_results(session: Session, search: Any) -> None:
    best_params = getattr(search, "best_params_", None)
    if best_params:
        session.batch.log_params({f"best_{k}": val for k, val in best_params.items()})
    best_score = getattr(search, "best_score_", None)
    if best_score is not None:
        session.batch.log_metrics({"best_cv_score": best_score})
    results = getattr(search, "cv_results_", None)
    if results is None:
        return
    import pandas as pd

    session.client.log_text(session.run_id, pd.DataFrame(results).to_csv(index=False), "cv_results.csv")


def rank_key(search: Any) -> str | None:
    results = search.cv_results_
    if getattr(search, "multimetric_", False) and isinstance(search.refit, str):
        key = f"rank_test_{search.refit}"
    else:
        key = "rank_test_score"
    return key if key in results else None


def top_candidates(search: Any, limit: int | None) -> list[int]:
    key = rank_key(search)
    if key is None:
        return []
    ranks = list(search.cv_results_[key])
    order = sorted(range(len(ranks)), key=lambda i: (ranks[i], i))
    return order if limit is None else order[:limit]


def _metric_value(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return None
    return float(value)


def log_child_runs(session: Session, search: Any, dataset_input: Any = None) -> list[str]:
    """One child run per top candidate; returns their run ids."""
    from modelyard.tracking.fluent import _default_tags

    results = search.cv_results_
    candidates = top_candidates(search, session.config.max_tuning_runs)
    if not candidates:
        return []
    base = search.estimator.get_params(deep=True) if hasattr(search, "estimator") else {}
    metric_columns = [k for k in results if not k.startswith("param") and k != "params"]
    tags = {**_default_tags(), PARENT_RUN_TAG: session.run_id, config.AUTOLOGGING_TAG: session.integration}
    tags.update(session.config.extra_tags)
    run_ids = []
    for i in candidates:
        run = session.client.create_run(session.experiment_id, tags=tags)
        run_id = run.info.run_id
        batch = RunBatch(session.client, run_id)
        batch.log_params({**base, **results["params"][i]})
        metrics = {col: _metric_value(results[col][i]) for col in metric_columns}
        batch.log_metrics({k: val for k, val in metrics.items() if val is not None})
        if dataset_input is not None:
            batch.log_input(dataset_input)
        try:
            batch.flush()
        finally:
            session.client.set_terminated(run_id, "FINISHED")
        run_ids.append(run_id)
    return run_ids
