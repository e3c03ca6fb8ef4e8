"""One trial of the search: draw a model and its hyperparameters, fit the pipeline, score it on the
validation and test splits, and record it as one child run of the search's parent run.

The child run holds the trial's parameters, ``val_*`` and ``test_*`` metrics, its duration and the
whole fitted pipeline (preprocessing included) as a model with a signature and an input example.
A pruned trial's run ends KILLED, a failed one FAILED (with the error as a tag); the Optuna trial
carries the run id (user attribute ``run_id``), so either side finds the other.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from modelyard.automl import budget, preprocess, space
from modelyard.automl import metrics as metric_defs
from modelyard.automl.data import Splits

logger = logging.getLogger(__name__)

REFIT_SAFETY = 1.5  # a refit's estimated time: its trial's fit, scaled to train+validation, times this
REFIT_MAX_SHARE = 0.25  # the search keeps at most this share of its budget for the refit
TRIAL_TAG = "modelyard.automl.trial"
STUDY_TAG = "modelyard.automl.study"


@dataclass
class SearchConfig:
    """Everything a trial needs besides the data; stored in the study, so workers elsewhere join."""

    task: str  # classification | regression
    target_col: str
    primary_metric: str
    models: list[str]
    plan: dict
    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    deadline: float | None  # epoch seconds
    max_trials: int | None
    classes: list = field(default_factory=list)
    pos_label: Any = None
    imbalanced: bool = False
    seed: int = 0
    n_jobs: int = 1
    budget_seconds: float | None = None  # timeout_minutes in seconds

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    @property
    def maximize(self) -> bool:
        return metric_defs.greater_is_better(self.primary_metric, self.classification)

    @property
    def column_plan(self) -> preprocess.ColumnPlan:
        return preprocess.ColumnPlan(**self.plan)


@dataclass
class FitResult:
    pipeline: Any
    learnt: dict
    val: dict[str, float]
    test: dict[str, float]
    fit_seconds: float


def fit_pipeline(config: SearchConfig, splits: Splits, model: str, params: dict, trial: Any = None) -> FitResult:
    """Fit preprocessing + model ``model`` with ``params`` on train; score val and test."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.class_weight import compute_sample_weight

    from modelyard.automl.estimators import DecodedClassifier

    spec = space.spec_named(model)
    plan = config.column_plan
    features, target = plan.features, config.target_col
    X, y = splits.train[features], splits.train[target]
    X_val, y_val = splits.val[features], splits.val[target]
    start = time.perf_counter()
    pre = preprocess.build(plan, scale=spec.scale, classification=config.classification)
    Xt = pre.fit_transform(X, y)
    Xv = pre.transform(X_val)
    ctx = space.Context(config.classification, len(config.classes), config.seed, config.n_jobs)
    estimator = spec.build(params, ctx)
    weights = compute_sample_weight("balanced", y) if params.get("class_weight") == "balanced" else None
    if needs_codes(config, spec):
        import numpy as np

        classes = np.asarray(config.classes)
        learnt = space.fit(
            spec, estimator, Xt, np.searchsorted(classes, y), Xv, np.searchsorted(classes, y_val), weights,
            trial, config.maximize, config.deadline,
        )
        estimator = DecodedClassifier(estimator, list(config.classes))
    else:
        learnt = space.fit(spec, estimator, Xt, y, Xv, y_val, weights, trial, config.maximize, config.deadline)
    fit_seconds = time.perf_counter() - start
    pipeline = Pipeline([("preprocess", pre), ("model", estimator)])
    return FitResult(
        pipeline, learnt, score(config, pipeline, splits.val), score(config, pipeline, splits.test), fit_seconds
    )


def refit(config: SearchConfig, splits: Splits, model: str, params: dict, learnt: dict) -> tuple[Any, dict]:
    """The best configuration refitted on train + validation (boosted trees with the number of
    rounds early stopping chose), scored on test: what FLAML's ``retrain_full`` does, and what
    the parent run logs as ``best_model``. Returns ``(pipeline, test metrics)``."""
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline
    from sklearn.utils.class_weight import compute_sample_weight

    from modelyard.automl.estimators import DecodedClassifier

    spec = space.spec_named(model)
    plan = config.column_plan
    both = pd.concat([splits.train, splits.val], ignore_index=True)
    X, y = both[plan.features], both[config.target_col]
    ctx = space.Context(config.classification, len(config.classes), config.seed, config.n_jobs)
    estimator = spec.build(params, ctx)
    if learnt.get("n_estimators"):  # a forest the deadline stopped: refitted with the trees it had
        estimator.set_params(n_estimators=int(learnt["n_estimators"]))
    if learnt.get("stopped_at_iteration"):  # a linear model the deadline stopped: as many iterations
        estimator.set_params(max_iter=int(learnt["stopped_at_iteration"]))
    if spec.framework in ("xgboost", "lightgbm") and learnt.get("best_iteration"):
        estimator.set_params(n_estimators=int(learnt["best_iteration"]))
        if spec.framework == "xgboost":
            estimator.set_params(early_stopping_rounds=None)
    weights = compute_sample_weight("balanced", y) if params.get("class_weight") == "balanced" else None
    target = np.searchsorted(np.asarray(config.classes), y) if needs_codes(config, spec) else y
    pipeline = Pipeline([("preprocess", preprocess.build(plan, scale=spec.scale, classification=config.classification)),
                         ("model", estimator)])
    pipeline.fit(X, target, model__sample_weight=weights)
    if needs_codes(config, spec):
        pipeline.steps[-1] = ("model", DecodedClassifier(estimator, list(config.classes)))
    return pipeline, score(config, pipeline, splits.test)


def needs_codes(config: SearchConfig, spec: space.ModelSpec) -> bool:
    """XGBoost takes only 0..k-1 labels; LightGBM's eval set refuses string labels: both are
    fitted on label codes and wrapped in ``DecodedClassifier``."""
    return (
        config.classification
        and spec.framework in ("xgboost", "lightgbm")
        and list(config.classes) != list(range(len(config.classes)))
    )


def score(config: SearchConfig, pipeline: Any, frame: Any) -> dict[str, float]:
    X, y = frame[config.column_plan.features], frame[config.target_col]
    if not config.classification:
        return metric_defs.regression_metrics(y, pipeline.predict(X))
    proba = pipeline.predict_proba(X)
    classes = list(pipeline.classes_)
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    return metric_defs.classification_metrics(y, predicted, proba, classes, config.pos_label)


def suggest(trial: Any, config: SearchConfig) -> tuple[str, dict]:
    model = trial.suggest_categorical("model", config.models)
    params = space.spec_named(model).suggest(trial)
    if config.classification and config.imbalanced:
        params["class_weight"] = trial.suggest_categorical("class_weight", ["none", "balanced"])
    return model, params


class Objective:
    """The Optuna objective: one call = one trial = one child run.

    With a ``writer`` (a search's own process) the trial, once over, is queued to the background
    writer, which records the runs of the trials queued meanwhile in one transaction and writes
    their models. Without one (worker processes sharing a study) the run is started before the fit, so
    a killed worker's trial has a run that the search marks FAILED, and the model is logged at once.
    """

    def __init__(self, config: SearchConfig, splits: Splits, writer: Any = None) -> None:
        self.config, self.splits, self.writer = config, splits, writer
        self.tracking_seconds = 0.0
        self.signature: Any = None  # inferred once: every trial's pipeline takes the same frame
        self.budget = budget.Estimates()
        self._run_tags: dict[str, str] | None = None
        self.kept: dict[int, Any] = {}  # {trial number: pipeline} of the best trial so far (a search's own process)
        self._kept_value: float | None = None
        self._kept_fit_seconds = 0.0
        self._example_frame: Any = None

    def __call__(self, trial: Any) -> float:
        import optuna

        config = self.config
        if config.max_trials and trial.number >= config.max_trials:  # another worker took the last one
            trial.set_user_attr("skipped", True)
            trial.study.stop()
            raise optuna.TrialPruned("max_trials reached")
        if self._out_of_time(trial):
            trial.set_user_attr("skipped", True)
            trial.study.stop()
            raise optuna.TrialPruned("no time left for another trial")
        model, params = suggest(trial, config)
        spec = space.spec_named(model)
        bounded = self.budget.bound(model, params, self._fit_time_left(trial))
        if bounded is None:
            trial.set_user_attr("skipped", True)
            raise optuna.TrialPruned(f"{model} with these parameters would not end within the budget")
        if bounded != params:
            trial.set_user_attr("bounded", {k: v for k, v in bounded.items() if params.get(k) != v})
        params = bounded
        drawn = {"model": model, "framework": spec.framework, **params}
        if self.writer is not None:
            return self._run_recorded(trial, model, params, drawn)
        return self._run_live(trial, model, params, drawn)

    # -- a search's own process: the run and model handed to the background writer -------------
    def _run_recorded(self, trial: Any, model: str, params: dict, drawn: dict) -> float:
        import optuna

        start_ms = int(time.time() * 1000)
        t_start = time.perf_counter()
        try:
            result = fit_pipeline(self.config, self.splits, model, params, trial)
        except optuna.TrialPruned as exc:
            trial.set_user_attr("error", str(exc))
            self._submit(trial, model, start_ms, "KILLED", drawn, tags={"modelyard.automl.pruned": str(exc)})
            raise
        except Exception as exc:
            logger.info("Trial %s (%s) failed: %s", trial.number, model, exc)
            error = f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("error", error[:2000])
            self._submit(trial, model, start_ms, "FAILED", drawn, tags={"modelyard.automl.error": error[:5000]})
            raise
        self.budget.observe(model, params, result, time.perf_counter() - t_start)
        t1 = time.perf_counter()
        values = self._values(result)
        self._submit(trial, model, start_ms, "FINISHED", {**drawn, **(result.learnt or {})}, values, result=result)
        self._keep_if_best(trial.number, result)
        for key, value in (("metrics", values), ("learnt", result.learnt)):
            trial.set_user_attr(key, value)
        trial.set_user_attr("duration_s", time.perf_counter() - t_start)
        self.tracking_seconds += time.perf_counter() - t1
        return self._objective(result)

    def _keep_if_best(self, number: int, result: FitResult) -> None:
        """Keep the best trial's pipeline in memory (one pipeline): when the finish hands it over
        as the best model (no refit), it need not be read back from the store."""
        value = result.val.get(self.config.primary_metric)
        if value is None or value != value:
            return
        if self._kept_value is None or (value > self._kept_value if self.config.maximize else value < self._kept_value):
            self.kept, self._kept_value, self._kept_fit_seconds = {number: result.pipeline}, value, result.fit_seconds

    def _submit(
        self, trial: Any, model: str, start_ms: int, status: str, params: dict, metrics: dict | None = None,
        tags: dict | None = None, result: FitResult | None = None,
    ) -> None:
        """Queue the trial's run (and its model, when it finished) to the writer: no tracking call
        here; the writer records the runs queued meanwhile in one go. Waits only when its queue is
        full."""
        from modelyard.automl.writer import TrialRecord

        t0 = time.perf_counter()
        run = dict(
            status=status, start_time=start_ms, end_time=int(time.time() * 1000), run_name=f"{model}-{trial.number}",
            tags={**self._tags(self.writer.context.client(), trial), **(tags or {})}, params=params, metrics=metrics,
        )
        record = TrialRecord(trial.number, run)
        if result is not None:
            record.pipeline = result.pipeline
            record.example, record.signature = self._example(result)
        self.writer.submit(record)
        if result is None:  # a finished trial's call is timed by its caller
            self.tracking_seconds += time.perf_counter() - t0

    def _tags(self, client: Any, trial: Any) -> dict[str, str]:
        """The tags a nested fluent run would get: the parent's user and source, the parent link."""
        if self._run_tags is None:
            parent = client.get_run(self.config.parent_run_id).data.tags
            inherited = ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit")
            self._run_tags = {k: parent[k] for k in inherited if k in parent}
            self._run_tags["mlflow.parentRunId"] = self.config.parent_run_id
        return {**self._run_tags, TRIAL_TAG: str(trial.number), STUDY_TAG: trial.study.study_name}

    # -- worker processes: the run started first, the model logged at once -------------------------
    def _run_live(self, trial: Any, model: str, params: dict, drawn: dict) -> float:
        import optuna

        import modelyard
        import modelyard.sklearn

        config = self.config
        t0 = time.perf_counter()
        run = modelyard.start_run(
            experiment_id=config.experiment_id,
            run_name=f"{model}-{trial.number}",
            nested=True,
            parent_run_id=config.parent_run_id,
            tags={TRIAL_TAG: str(trial.number), STUDY_TAG: trial.study.study_name},
        )
        run_id = run.info.run_id
        trial.set_user_attr("run_id", run_id)
        self.tracking_seconds += time.perf_counter() - t0
        t_fit = time.perf_counter()
        try:
            result = fit_pipeline(config, self.splits, model, params, trial)
        except optuna.TrialPruned as exc:
            trial.set_user_attr("error", str(exc))
            self._end(run_id, "KILLED", drawn, tags={"modelyard.automl.pruned": str(exc)})
            raise
        except Exception as exc:
            logger.info("Trial %s (%s) failed: %s", trial.number, model, exc)
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
            self._end(run_id, "FAILED", drawn, tags={"modelyard.automl.error": f"{type(exc).__name__}: {exc}"[:5000]})
            raise
        self.budget.observe(model, params, result, time.perf_counter() - t_fit)
        t1 = time.perf_counter()
        values = self._values(result)
        # one write for the drawn and learnt parameters and every metric (the model links to them)
        self._log(run_id, {**drawn, **(result.learnt or {})}, values)
        example, signature = self._example(result)
        info = modelyard.sklearn.log_model(
            result.pipeline, name="model", input_example=example, signature=signature,
            serialization_format="cloudpickle",
        )
        for key, value in (("model_uri", info.model_uri), ("metrics", values), ("learnt", result.learnt)):
            trial.set_user_attr(key, value)
        trial.set_user_attr("duration_s", time.perf_counter() - t0)
        self._end(run_id, "FINISHED")
        self.tracking_seconds += time.perf_counter() - t1
        return self._objective(result)

    # -- shared ------------------------------------------------------------------------------------
    @staticmethod
    def _values(result: FitResult) -> dict[str, float]:
        values = {f"val_{k}": v for k, v in result.val.items()}
        values.update({f"test_{k}": v for k, v in result.test.items()})
        values["fit_duration_s"] = result.fit_seconds
        return values

    def _example(self, result: FitResult) -> tuple[Any, Any]:
        if self._example_frame is None:  # the same five rows for every trial
            self._example_frame = self.splits.train[self.config.column_plan.features].head(5)
        example = self._example_frame
        if self.signature is None:
            from modelyard.models.signature import infer_signature

            self.signature = infer_signature(example, result.pipeline.predict(example))
        return example, self.signature

    def _objective(self, result: FitResult) -> float:
        objective = result.val.get(self.config.primary_metric)
        if objective is None:
            raise ValueError(f"{self.config.primary_metric} could not be computed on the validation split")
        return objective

    def _fit_time_left(self, trial: Any) -> float | None:
        """Seconds a trial may fit: to the deadline, less a reserve for the finish (refitting the
        best model so far and logging it). None (no bound) before the first
        trial ended: the search hands over a model even when its budget went on preparing."""
        median = self._median_duration(trial)
        if self.config.deadline is None or not median:
            return None
        return self.config.deadline - time.time() - self._finish_reserve(median)

    def _finish_reserve(self, median: float) -> float:
        """The time the finish needs: refitting the best trial so far and logging (below), or a
        typical trial before any trial scored."""
        return self._refit_reserve() if self._kept_fit_seconds else median

    def _refit_reserve(self) -> float:
        """Seconds to keep for refitting the best trial so far on train + validation
        (``Search.finish`` estimates it the same way: without the time, it keeps the trial's model)
        and for the finish's logging (the best model, the leaderboard and the script: about two
        trial models' writing time); at most ``REFIT_MAX_SHARE`` of the budget (a refit that needs
        more is skipped at the finish, and the best trial's own model handed over)."""
        if not self._kept_fit_seconds:
            return 0.0
        n_train, n_val = len(self.splits.train), len(self.splits.val)
        log_s = self.writer.model_log_seconds if self.writer is not None else 0.0
        reserve = self._kept_fit_seconds * (n_train + n_val) / max(n_train, 1) * REFIT_SAFETY + 2 * log_s
        if self.config.budget_seconds:  # a slow best model does not eat the search: no refit then
            reserve = min(reserve, REFIT_MAX_SHARE * self.config.budget_seconds)
        return reserve

    @staticmethod
    def _median_duration(trial: Any) -> float:
        durations = sorted(
            t.user_attrs["duration_s"] for t in trial.study.get_trials(deepcopy=False) if "duration_s" in t.user_attrs
        )
        return durations[len(durations) // 2] if durations else 0.0

    def _out_of_time(self, trial: Any) -> bool:
        """Past the deadline, or too close to it: a typical trial (the median duration) plus the
        finish (refitting the best model so far and logging it). The first trial
        always runs, so a search hands over a model even when its budget went on preparing."""
        if self.config.deadline is None:
            return False
        median = self._median_duration(trial)
        if not median:
            return False
        return self.config.deadline - time.time() <= median + self._finish_reserve(median)

    @staticmethod
    def _log(run_id: str, params: dict, metrics: dict | None = None, tags: dict | None = None) -> None:
        from modelyard.entities import Metric, Param, RunTag
        from modelyard.tracking import context

        now = int(time.time() * 1000)
        context.current().client().log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def _end(self, run_id: str, status: str, params: dict | None = None, tags: dict | None = None) -> None:
        import modelyard

        if params or tags:
            self._log(run_id, params or {}, tags=tags)
        modelyard.end_run(status)
