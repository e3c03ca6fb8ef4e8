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
ENSEMBLE_RESERVE_S = 1.0  # a cross-validated search keeps this (and model logging) for the ensemble trial
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
    cv_folds: int = 0  # > 0: trials scored by k-fold cross-validation over train + validation (small data)

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
    # cross-validation: the out-of-fold outputs over train + validation (class probabilities in
    # ``config.classes`` order, or predictions): what the ensemble of the best trials is chosen on
    oof: Any = None


def fit_pipeline(
    config: SearchConfig, splits: Splits, model: str, params: dict, trial: Any = None, stop_at_deadline: bool = False,
) -> FitResult:
    """Fit preprocessing + model ``model`` with ``params`` on train; score val and test. With
    ``config.cv_folds``: cross-validated instead (``fit_cross_validated``; ``stop_at_deadline``:
    pruned when the deadline passes between two of its fits)."""
    if config.cv_folds:
        return fit_cross_validated(config, splits, model, params, stop_at_deadline)
    spec = space.spec_named(model)
    start = time.perf_counter()
    pipeline, learnt = _fit_on_train(config, splits, spec, params, trial)
    fit_seconds = time.perf_counter() - start
    return FitResult(
        pipeline, learnt, score(config, pipeline, splits.val), score(config, pipeline, splits.test), fit_seconds
    )


def cv_folds(config: SearchConfig, frame: Any) -> list[tuple[Any, Any]]:
    """The folds of train + validation (row positions): stratified for classification when every
    class has a row in each fold, shuffled with the search's seed, the same for every trial."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    y = frame[config.target_col]
    if config.classification and y.value_counts().min() >= config.cv_folds:
        splitter: Any = StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.seed)
    else:
        splitter = KFold(config.cv_folds, shuffle=True, random_state=config.seed)
    return list(splitter.split(np.zeros(len(frame)), y if config.classification else None))


def outputs(config: SearchConfig, pipeline: Any, X: Any) -> Any:
    """A pipeline's output for the metrics: class probabilities in ``config.classes`` order (a
    class the pipeline never saw gets 0), or predictions."""
    import numpy as np

    if not config.classification:
        return np.asarray(pipeline.predict(X), dtype=float)
    proba = np.asarray(pipeline.predict_proba(X), dtype=float)
    known = list(pipeline.classes_)
    if known == list(config.classes):
        return proba
    full = np.zeros((len(proba), len(config.classes)))
    for j, label in enumerate(known):
        full[:, list(config.classes).index(label)] = proba[:, j]
    return full


def metrics_of(config: SearchConfig, y: Any, output: Any) -> dict[str, float]:
    """Every metric of ``output`` (``outputs``) against the labels / targets ``y``."""
    if not config.classification:
        return metric_defs.regression_metrics(y, output)
    classes = list(config.classes)
    predicted = [classes[i] for i in output.argmax(axis=1)]
    return metric_defs.classification_metrics(y, predicted, output, classes, config.pos_label)


def _merge_learnt(learnt: list[dict]) -> dict:
    """What the folds learnt, for the fit on train + validation: boosting's rounds the mean of the
    folds' early-stopped ones; a forest / a solver the deadline cut short, the fewest trees /
    iterations a fold reached."""
    merged: dict = {}
    for key in ("best_iteration", "n_estimators", "stopped_at_iteration"):
        values = [int(d[key]) for d in learnt if d.get(key)]
        if values:
            merged[key] = max(1, round(sum(values) / len(values))) if key == "best_iteration" else min(values)
    return merged


def fit_cross_validated(
    config: SearchConfig, splits: Splits, model: str, params: dict, stop_at_deadline: bool = False,
) -> FitResult:
    """Small data: the configuration fitted on each of ``config.cv_folds`` folds of train +
    validation (early stopping on the held-out fold), its validation metrics those of the
    out-of-fold outputs (every row of train + validation predicted once, by a model that did not
    see it: a trial is not chosen on a validation split of a few dozen rows), then fitted on the
    whole of train + validation (``refit``, with the folds' mean number of boosting rounds): the
    trial's model, scored on test. Not pruned mid-training (its folds are its steps). Each fit
    stops at the deadline as a holdout trial's does; with ``stop_at_deadline`` (a search that
    has a model already) a trial the deadline overtakes is pruned between two fits instead of
    running its remaining folds and its final fit past the budget."""
    import numpy as np
    import pandas as pd

    spec = space.spec_named(model)
    plan = config.column_plan
    both = pd.concat([splits.train, splits.val], ignore_index=True)
    X, y = both[plan.features], both[config.target_col]
    start = time.perf_counter()
    oof: Any = None
    learnt: list[dict] = []
    for i, (fit_rows, held_rows) in enumerate(cv_folds(config, both)):
        _check_deadline(config, stop_at_deadline, f"after {i} of {config.cv_folds} folds")
        fold = Splits(both.iloc[fit_rows], both.iloc[held_rows], both.iloc[:0])
        result = _fit_on_train(config, fold, spec, params, None)
        learnt.append(result[1])
        output = outputs(config, result[0], X.iloc[held_rows])
        if oof is None:
            oof = np.zeros((len(both), *output.shape[1:]))
        oof[held_rows] = output
    merged = _merge_learnt(learnt)
    _check_deadline(config, stop_at_deadline, "before the fit on train + validation")
    pipeline, test = refit(config, splits, model, params, merged)
    return FitResult(pipeline, merged, metrics_of(config, y, oof), test, time.perf_counter() - start, oof)


def _check_deadline(config: SearchConfig, stop: bool, where: str) -> None:
    if stop and config.deadline is not None and time.time() > config.deadline:
        import optuna

        raise optuna.TrialPruned(f"the budget ran out during cross-validation ({where})")


def _fit_on_train(config: SearchConfig, splits: Splits, spec: space.ModelSpec, params: dict, trial: Any) -> tuple:
    """``(pipeline, learnt)``: preprocessing + the model fitted on ``splits.train``, early
    stopping (boosted trees) on ``splits.val``."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.class_weight import compute_sample_weight

    from modelyard.automl.estimators import DecodedClassifier

    plan = config.column_plan
    features, target = plan.features, config.target_col
    X, y = splits.train[features], splits.train[target]
    X_val, y_val = splits.val[features], splits.val[target]
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
    return Pipeline([("preprocess", pre), ("model", estimator)]), learnt


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
        from modelyard.automl.ensemble import Candidates

        self.candidates = Candidates(config.maximize)  # cross-validated: the ensemble's candidates

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
            result = fit_pipeline(self.config, self.splits, model, params, trial, self._kept_value is not None)
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
        if result.oof is not None:
            from modelyard.automl.ensemble import Candidate

            value = result.val.get(self.config.primary_metric, float("nan"))
            self.candidates.offer(Candidate(trial.number, value, result.pipeline, result.oof))
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
            tags={**self._tags(self.writer.context.client(), trial.number, trial.study.study_name), **(tags or {})},
            params=params, metrics=metrics,
        )
        record = TrialRecord(trial.number, run)
        if result is not None:
            record.pipeline = result.pipeline
            record.example, record.signature = self._example(result)
        self.writer.submit(record)
        if result is None:  # a finished trial's call is timed by its caller
            self.tracking_seconds += time.perf_counter() - t0

    def _tags(self, client: Any, number: int, study_name: str) -> dict[str, str]:
        """The tags a nested fluent run would get: the parent's user and source, the parent link."""
        if self._run_tags is None:
            parent = client.get_run(self.config.parent_run_id).data.tags
            inherited = ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit")
            self._run_tags = {k: parent[k] for k in inherited if k in parent}
            self._run_tags["mlflow.parentRunId"] = self.config.parent_run_id
        return {**self._run_tags, TRIAL_TAG: str(number), STUDY_TAG: study_name}

    # -- the ensemble trial (a cross-validated search, its own process) ----------------------------
    def add_ensemble(self, study: Any) -> int | None:
        """Once the trials are over: the greedy ensemble of the best cross-validated trials
        (``ensemble.select``), when it beats the best trial alone and the budget leaves the time to
        record it, added to the study as a trial of its own (no Optuna parameters: the sampler is
        done) and recorded as one child run with its model, like any trial. Returns its number."""
        import numpy as np
        import optuna
        import pandas as pd
        from sklearn.pipeline import Pipeline

        from modelyard.automl import ensemble
        from modelyard.automl.estimators import WeightedEnsemble
        from modelyard.automl.writer import TrialRecord

        config = self.config
        if self.writer is None or not config.cv_folds or len(self.candidates.kept) < 2:
            return None
        log_s = self.writer.model_log_seconds
        if config.deadline is not None and config.deadline - time.time() < 2 * log_s:
            return None  # the finish's own logging first
        start_ms, t0 = int(time.time() * 1000), time.perf_counter()
        y = pd.concat([self.splits.train, self.splits.val], ignore_index=True)[config.target_col]
        classes = list(config.classes) if config.classification else None
        chosen = ensemble.select(self.candidates.kept, y, config.primary_metric, config.maximize, classes,
                                 config.pos_label)
        if chosen is None:
            return None
        picks, _ = chosen
        members = [c for c in self.candidates.kept if c.number in picks]
        weights = [float(picks[c.number]) for c in members]
        model = WeightedEnsemble([c.pipeline for c in members], weights, classes)
        pipeline = Pipeline([("ensemble", model)])
        total = sum(weights)
        oof = sum(w * c.oof for w, c in zip(weights, members, strict=True)) / total
        result = FitResult(pipeline, {}, metrics_of(config, y, np.asarray(oof)), score(config, pipeline, self.splits.test),
                           time.perf_counter() - t0, oof)
        values = self._values(result)
        members_text = ",".join(f"{c.number}:{w / total:.3f}" for w, c in zip(weights, members, strict=True))
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=self._objective(result),
            user_attrs={"model": ensemble.MODEL, "members": members_text, "metrics": values, "learnt": {},
                        "duration_s": time.perf_counter() - t0},
        ))
        number = study.get_trials(deepcopy=False)[-1].number
        t1 = time.perf_counter()
        run = dict(
            status="FINISHED", start_time=start_ms, end_time=int(time.time() * 1000), run_name=f"{ensemble.MODEL}-{number}",
            tags=self._tags(self.writer.context.client(), number, study.study_name),
            params={"model": ensemble.MODEL, "framework": "sklearn", "members": members_text}, metrics=values,
        )
        record = TrialRecord(number, run, pipeline)
        record.example, record.signature = self._example(result)
        self.writer.submit(record)
        self.tracking_seconds += time.perf_counter() - t1
        self._keep_if_best(number, result)
        return number

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
            result = fit_pipeline(config, self.splits, model, params, trial, self._kept_value is not None)
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
        trial models' writing time). A refit that needs more than ``REFIT_MAX_SHARE`` of the
        budget is not waited for: the logging alone is kept (the finish refits only when the time
        is left, else hands over the best trial's own model). Cross-validated: no refit."""
        if not self._kept_fit_seconds:
            return 0.0
        n_train, n_val = len(self.splits.train), len(self.splits.val)
        log_s = self.writer.model_log_seconds if self.writer is not None else 0.0
        if self.config.cv_folds:  # no refit (the trials' models are fitted on train + validation): the
            return 3 * log_s + ENSEMBLE_RESERVE_S  # ensemble trial's selection and model, the finish's logging
        reserve = self._kept_fit_seconds * (n_train + n_val) / max(n_train, 1) * REFIT_SAFETY + 2 * log_s
        if self.config.budget_seconds and reserve > REFIT_MAX_SHARE * self.config.budget_seconds:
            # a slow best model does not eat the search: its refit is not waited for (the finish
            # skips it unless the trials leave it the time), only the finish's logging is kept.
            # (Keeping the capped share ended classification_100k's search at 27 s of 60 with a
            # 35 s refit estimate that the finish then skipped anyway.)
            return 2 * log_s
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
