"""``modelyard.evaluate``: MLflow's ``evaluate`` for classifiers and regressors.

    result = modelyard.evaluate(model_uri, data, targets="label", model_type="classifier",
                                baseline_model=champion_uri,
                                validation_thresholds={"f1_score": MetricThreshold(threshold=0.8,
                                                       min_absolute_change=0.01, greater_is_better=True)})
    result.metrics["f1_score"], result.artifacts["roc_curve_plot"].uri, result.tables["eval_results_table"]

The metrics (``default.py``), plots (``plots.py``) and the per-row predictions table are logged to
the active run, or to a new run that ends with the call. A baseline model is evaluated on the same
data (its metrics logged as ``baseline_<name>``); thresholds are checked last and every unmet one
is named in the ``ModelValidationFailed`` raised (MLflow 3's ``validate_evaluation_results`` also
works on two results).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from modelyard.evaluation import default, plots
from modelyard.evaluation.timing import stage
from modelyard.exceptions import InvalidParameterValue
from modelyard.models.thresholds import MetricThreshold, check, raise_on_failures, validate

logger = logging.getLogger(__name__)

__all__ = ["EvaluationArtifact", "EvaluationResult", "MetricThreshold", "evaluate", "validate_evaluation_results"]

TABLE_NAME = "eval_results_table"


@dataclass
class EvaluationArtifact:
    uri: str
    path: str  # inside the run's artifacts


@dataclass
class EvaluationResult:
    metrics: dict[str, float]
    artifacts: dict[str, EvaluationArtifact] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    baseline_metrics: dict[str, float] | None = None


def validate_evaluation_results(
    validation_thresholds: dict[str, MetricThreshold], candidate_result: EvaluationResult,
    baseline_result: EvaluationResult | None = None,
) -> None:
    """Raise ``ModelValidationFailed`` naming each threshold the candidate does not meet."""
    validate(validation_thresholds, candidate_result, baseline_result)


def _load(model: Any) -> Any:
    if model is None or callable(getattr(model, "predict", None)):
        return model
    if isinstance(model, str):
        from modelyard.models.load import load_pyfunc

        return load_pyfunc(model)
    raise InvalidParameterValue(f"model must be a model URI or an object with predict(), not {type(model).__name__}")


def _split(data: Any, targets: Any, predictions: str | None, feature_names: list[str] | None) -> tuple[Any, Any, str, Any]:
    """``(features, target values, target name, static predictions or None)``."""
    import numpy as np
    import pandas as pd

    if data is None:
        raise InvalidParameterValue("data is required: a pandas DataFrame or an array of features")
    if isinstance(data, pd.DataFrame):
        if isinstance(targets, str):
            if targets not in data.columns:
                raise InvalidParameterValue(f"targets {targets!r} is not a column of data")
            y, name = data[targets].to_numpy(), targets
        elif targets is not None:
            y, name = np.asarray(targets), "target"
        else:
            raise InvalidParameterValue("targets is required: the name of the label column, or the labels")
        static = None
        if predictions is not None:
            if predictions not in data.columns:
                raise InvalidParameterValue(f"predictions {predictions!r} is not a column of data")
            static = data[predictions].to_numpy()
        drop = [c for c in (targets if isinstance(targets, str) else None, predictions) if c is not None]
        X = data[feature_names] if feature_names else data.drop(columns=drop)
        return X, y, name, static
    if targets is None or isinstance(targets, str):
        raise InvalidParameterValue("targets must be the labels (an array) when data is not a DataFrame")
    X = pd.DataFrame(np.asarray(data), columns=feature_names) if feature_names else np.asarray(data)
    return X, np.asarray(targets), "target", None


def _evaluate_one(model: Any, X: Any, y: Any, static: Any, model_type: str, pos_label: Any) -> default.Predictions:
    if model is None:
        if static is None:
            raise InvalidParameterValue("model is required unless data has a predictions column (predictions=...)")
        return default.predict(_Static(static), X, y, model_type, pos_label)
    return default.predict(model, X, y, model_type, pos_label)


class _Static:
    def __init__(self, values: Any) -> None:
        self.values = values

    def predict(self, _X: Any) -> Any:
        return self.values

    def get_raw_model(self) -> None:
        return None


def evaluate(
    model: Any = None,
    data: Any = None,
    targets: Any = None,
    *,
    model_type: str | None = None,
    predictions: str | None = None,
    feature_names: list[str] | None = None,
    evaluators: str | list[str] | None = None,
    evaluator_config: dict | None = None,
    baseline_model: Any = None,
    validation_thresholds: dict[str, MetricThreshold] | None = None,
    extra_metrics: Any = None,
    env_manager: str = "local",
    **_ignored: Any,
) -> EvaluationResult:
    """Evaluate ``model`` (a model URI or an object with ``predict``) on ``data``; see the module doc."""
    import modelyard

    if model_type not in default.MODEL_TYPES:
        raise InvalidParameterValue(f"model_type must be one of {list(default.MODEL_TYPES)}, got {model_type!r}")
    names = [evaluators] if isinstance(evaluators, str) else list(evaluators or ["default"])
    unknown = [n for n in names if n != "default"]
    if unknown:
        raise InvalidParameterValue(f"evaluators {unknown} are not available: modelyard has the 'default' evaluator")
    if extra_metrics:
        raise InvalidParameterValue("extra_metrics is not supported yet: compute them from result.tables")
    if env_manager != "local":
        raise InvalidParameterValue("env_manager must be 'local': the model is evaluated in this environment")
    config = evaluator_config or {}
    pos_label = config.get("pos_label")
    X, y, target_name, static = _split(data, targets, predictions, feature_names)
    with stage("evaluate.predict"):
        candidate = _evaluate_one(_load(model), X, y, static, model_type, pos_label)
    with stage("evaluate.metrics"):
        metrics = default.metrics_for(candidate, model_type)
    baseline_metrics = None
    if baseline_model is not None:
        with stage("evaluate.predict"):
            baseline = _evaluate_one(_load(baseline_model), X, y, None, model_type, candidate.pos_label)
        with stage("evaluate.metrics"):
            baseline_metrics = default.metrics_for(baseline, model_type)
    started = None
    if modelyard.active_run() is None:
        started = modelyard.start_run(run_name="evaluation")
    run_id = modelyard.active_run().info.run_id
    try:
        result = _log(run_id, X, candidate, metrics, baseline_metrics, target_name, model_type, config)
    finally:
        if started is not None:
            modelyard.end_run()
    if validation_thresholds:
        raise_on_failures(check(validation_thresholds, metrics, baseline_metrics))
    return result


def _log(run_id, X, p, metrics, baseline_metrics, target_name, model_type, config) -> EvaluationResult:
    import modelyard

    client = modelyard.TrackingClient()
    logged = dict(metrics)
    if baseline_metrics:
        logged.update({f"baseline_{k}": v for k, v in baseline_metrics.items()})
    with stage("evaluate.log_metrics"):
        modelyard.log_metrics(logged)
    artifacts: dict[str, EvaluationArtifact] = {}
    if config.get("log_plots", True):
        with stage("evaluate.plots_draw"):
            figures = plots.for_predictions(p, model_type)
        for name, fig in figures.items():
            path = f"{name}.png"
            with stage("evaluate.plots_render"):
                client.log_figure(run_id, fig, path)
            artifacts[name] = EvaluationArtifact(client.get_artifact_uri(run_id, path), path)
    with stage("evaluate.table"):
        table = default.results_table(X, p, target_name)
        path = f"{TABLE_NAME}.json"
        client.log_text(run_id, _table_json(table), path)
    artifacts[TABLE_NAME] = EvaluationArtifact(client.get_artifact_uri(run_id, path), path)
    return EvaluationResult(metrics, artifacts, {TABLE_NAME: table}, run_id, baseline_metrics)


def _table_json(table: Any) -> str:
    """MLflow's table artifact format (``{"columns", "data"}``), encoded by orjson: a 100,000-row
    table takes a fraction of a second instead of several."""
    import gc

    import orjson

    # The rows are one list per row (tens of thousands, no reference cycles, freed by reference
    # counting): left on, the collector would count them as survivors and run a full collection
    # over the whole heap (~0.1 s with sklearn and matplotlib loaded) every few tables.
    collecting = gc.isenabled()
    gc.disable()
    try:
        rows = table.astype(object).where(table.notna(), None).to_numpy().tolist()
        payload = {"columns": [str(c) for c in table.columns], "data": rows}
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
    finally:
        if collecting:
            gc.enable()
