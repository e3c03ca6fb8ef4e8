"""What XGBoost and LightGBM autologging share: evaluation history, early stopping, feature
importance, and the fit handler of their scikit-learn APIs.

Evaluation metrics are logged per iteration as step history, named ``<data>-<metric>``
(``validation_0-logloss``, ``valid_0-multi_logloss``: MLflow's names). With early stopping,
``best_iteration`` and ``stopped_iteration`` are logged too, and the metrics of the best
iteration once more at the step after the last one (so the run's latest values are the
best model's). Feature importance is logged as ``feature_importance_<type>.json`` and a
``.png`` chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.autologging import config, datasets, estimators, figures, safety
from modelyard.autologging.batch import now_ms
from modelyard.autologging.safety import Session
from modelyard.autologging.sklearn import FitHandler


class History:
    """Per-iteration evaluation values, logged as they come and kept for the best iteration."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.values: dict[str, list[float]] = {}
        self.iterations = 0
        self.failed = False

    def record(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.failed:
            return
        try:
            ts = now_ms()
            for key, value in metrics.items():
                self.values.setdefault(key, []).append(float(value))
                self.session.batch.log_metric(key, value, step=step, timestamp=ts)
            self.iterations += 1
            self.session.batch.maybe_flush_metrics()
        except Exception as exc:  # never let a callback stop the training
            self.failed = True
            self.session.report("logging the iteration's evaluation metrics", exc)

    def record_all(self, results: Mapping[str, Mapping[str, Sequence[Any]]]) -> None:
        """Log a finished ``evals_result`` dict ({data: {metric: [values...]}}) as history."""
        rounds = max((len(v) for per_data in results.values() for v in per_data.values()), default=0)
        for step in range(rounds):
            metrics = {}
            for data, per_data in results.items():
                for metric, values in per_data.items():
                    if step < len(values):
                        value = values[step]
                        metrics[f"{data}-{metric}"] = value[0] if isinstance(value, tuple | list) else value
            self.record(step, metrics)

    def log_best(self, best_iteration: int, stopped_iteration: int, best_index: int | None = None) -> None:
        """``best_iteration`` and ``stopped_iteration`` as the library numbers them, and the
        metrics of the best iteration (``best_index``, 0-based; default ``best_iteration``)."""
        batch = self.session.batch
        batch.log_metrics({"best_iteration": best_iteration, "stopped_iteration": stopped_iteration})
        index = best_iteration if best_index is None else best_index
        best = {k: vals[index] for k, vals in self.values.items() if 0 <= index < len(vals)}
        if best:
            batch.log_metrics(best, step=self.iterations)


def log_feature_importance(
    session: Session, names: Sequence[str], values: Sequence[Any], importance_type: str
) -> None:
    importance = {
        str(n): (float(v) if not isinstance(v, list | tuple) else [float(x) for x in v])
        for n, v in zip(names, values, strict=False)
    }
    session.client.log_dict(session.run_id, importance, f"feature_importance_{importance_type}.json")
    scalars = {k: val for k, val in importance.items() if isinstance(val, float)}
    if not scalars:
        return
    fig = figures.feature_importance(list(scalars), list(scalars.values()), importance_type)
    if fig is not None:
        session.client.log_figure(session.run_id, fig, f"feature_importance_{importance_type}.png")


class BoostingFitHandler(FitHandler):
    """``fit`` of XGBClassifier/XGBRegressor/LGBMClassifier/...: the scikit-learn logging
    (params, dataset, training metrics) plus the library's evaluation history, early
    stopping, feature importance, and the model through the library's flavor."""

    def before(self, args: tuple, kwargs: dict) -> None:
        super().before(args, kwargs)
        s = self.session
        if not s.config.log_datasets:
            return
        eval_sets = s.attempt(
            "reading the evaluation sets",
            self.eval_sets,
            estimators.bound_arguments(self.original, args, kwargs),
        )
        for name, X, y in eval_sets or ():
            if X is not self.X:
                found = s.attempt(
                    "describing an evaluation dataset",
                    datasets.dataset_input,
                    X,
                    y,
                    context="eval",
                    name=name,
                )
                if found is not None:
                    s.batch.log_input(found)

    def eval_sets(self, arguments: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:  # per library
        """(name, X, y) of each evaluation set given to ``fit``."""
        raise NotImplementedError

    def after(self, args: tuple, kwargs: dict, result: Any) -> None:
        s = self.session
        estimator = args[0]
        s.attempt(
            "computing training metrics",
            estimators.log_posttraining,
            s,
            estimator,
            self.X,
            self.y,
            self.sample_weight,
            html=False,
        )
        s.attempt("logging the evaluation history", self.log_history, estimator)
        s.attempt("logging feature importance", self.log_importance, estimator)
        s.attempt("logging to the tracking store", s.batch.flush)
        self.log_models(estimator, False)

    def log_history(self, estimator: Any) -> None:  # per library
        raise NotImplementedError

    def log_importance(self, estimator: Any) -> None:  # per library
        raise NotImplementedError


def install(
    flavor: str, cfg: Any, library: str, train_handler: type, fit_handler: type, classes: Sequence[str]
) -> None:
    """Record ``cfg`` for ``flavor`` and patch ``<library>.train`` and the ``fit`` of its scikit-learn
    classes (``<library>.sklearn``); ``cfg.disable`` only unpatches. Shared by XGBoost and LightGBM."""
    import importlib

    config.put(flavor, cfg)
    safety.revert(flavor)
    if cfg.disable:
        return
    module = importlib.import_module(library)
    if cfg.disable_for_unsupported_versions and not config.is_supported_version(flavor, module.__version__):
        return
    safety.patch(flavor, module, "train", safety.training(flavor, train_handler))
    try:
        sklearn_api = importlib.import_module(f"{library}.sklearn")
    except ImportError:  # the scikit-learn API needs scikit-learn
        return
    fit = safety.training(flavor, fit_handler)
    for name in classes:
        cls = getattr(sklearn_api, name, None)
        if cls is not None:
            safety.patch(flavor, cls, "fit", fit)
