"""scikit-learn autologging (``modelyard.sklearn.autolog()``).

Patched: ``fit``, ``fit_transform`` and ``fit_predict`` of every estimator scikit-learn has
(the classes ``sklearn.utils.all_estimators`` lists: plain estimators, pipelines,
meta-estimators and searches); for post-training metrics also ``predict``/``predict_proba``/``transform``/...,
``score`` and the ``sklearn.metrics`` functions. Inside ``cross_val_score`` and the other
cross-validation helpers nothing is autologged (MLflow's behaviour), so they do not make one
run per fold; they are recognised on the call stack, so this holds even when they were
imported before ``autolog()``. The ``sklearn.metrics`` functions, on the other hand, are
patched where they live: ``from sklearn.metrics import accuracy_score`` must come after
``autolog()`` (or call ``sklearn.metrics.accuracy_score``) for post-training metrics.

One outer fit logs once: params (``get_params(deep=True)``), ``estimator_name`` and
``estimator_class`` tags, the training dataset, training metrics, ``estimator.html``, the
confusion matrix of a classifier, the model (with its signature) and, for a parameter
search, the results and child runs (see ``search.py``).
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from modelyard.autologging import config, estimators, hooks, model_logging, post_training, safety, search

FLAVOR = "sklearn"
TRAINING_METHODS = ("fit", "fit_transform", "fit_predict")
SUPPRESSED_APIS = (
    "cross_validate",
    "cross_val_predict",
    "cross_val_score",
    "learning_curve",
    "permutation_test_score",
    "validation_curve",
)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Autolog scikit-learn training: params, metrics, model, signature and dataset.

    The options are MLflow's. ``disable=True`` puts back every patched method.
    """
    cfg = config.make(
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        log_models=log_models,
        log_datasets=log_datasets,
        disable=disable,
        exclusive=exclusive,
        disable_for_unsupported_versions=disable_for_unsupported_versions,
        silent=silent,
        max_tuning_runs=max_tuning_runs,
        log_post_training_metrics=log_post_training_metrics,
        serialization_format=serialization_format,
        registered_model_name=registered_model_name,
        pos_label=pos_label,
        extra_tags=extra_tags,
    )
    config.put(FLAVOR, cfg)
    safety.revert(FLAVOR)
    import sklearn

    _unhook()
    if cfg.disable:
        return

    if cfg.disable_for_unsupported_versions and not config.is_supported_version(FLAVOR, sklearn.__version__):
        return
    _patch_all(cfg)


_SKIPPED_MODULES = {"tests", "externals", "setup", "conftest", "experimental", "estimator_checks"}


@functools.lru_cache(maxsize=1)
def public_modules() -> tuple[str, ...]:
    """scikit-learn's public modules (no ``_private`` part, no tests), found on disk without
    importing them: the modules ``sklearn.utils.all_estimators()`` looks in."""
    import pkgutil

    import sklearn

    names: list[str] = []

    def walk(folder: str, prefix: str) -> None:
        for info in pkgutil.iter_modules([folder]):
            if info.name.startswith("_") or info.name in _SKIPPED_MODULES:
                continue
            names.append(prefix + info.name)
            if info.ispkg:
                walk(os.path.join(folder, info.name), f"{prefix}{info.name}.")

    for folder in sklearn.__path__:
        walk(folder, "sklearn.")
    return ("sklearn", *names)


def module_estimators(module: ModuleType) -> list[type]:
    """The public, concrete scikit-learn estimator classes a module exposes."""
    from sklearn.base import BaseEstimator

    return [
        cls
        for name, cls in vars(module).items()
        if isinstance(cls, type)
        and not name.startswith("_")
        and issubclass(cls, BaseEstimator)
        and cls is not BaseEstimator
        and cls.__module__.startswith("sklearn.")
        and not getattr(cls, "__abstractmethods__", None)
    ]


def estimator_classes() -> tuple[type, ...]:
    """Every estimator class autologging patches (imports all public modules: for tests)."""
    import importlib

    found: dict[str, type] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in public_modules():
            try:
                module = importlib.import_module(name)
            except Exception:  # an optional dependency is missing: its estimators cannot be used anyway
                continue
            found.update((f"{c.__module__}.{c.__qualname__}", c) for c in module_estimators(module))
    return tuple(found[key] for key in sorted(found))


def _patch_all(cfg: config.AutologConfig) -> None:
    """Patch what is imported now; the rest when (if ever) the user imports it. So autolog()
    does not import the 400 modules of scikit-learn, and costs a few milliseconds."""
    for name in public_modules():
        module = sys.modules.get(name)
        if module is not None:
            _patch_module(module)
        else:
            hooks.register_post_import_hook(_on_import, name)


def _on_import(module: ModuleType) -> None:
    if config.is_enabled(FLAVOR):
        _patch_module(module)


def _unhook() -> None:
    for name in public_modules():
        hooks.discard_hooks(name, _on_import)


def _patch_module(module: ModuleType) -> None:
    cfg = config.get(FLAVOR)
    if cfg is None:
        return
    post = cfg.log_post_training_metrics
    train = safety.training(FLAVOR, FitHandler)
    predict = safety.observing(FLAVOR, post_training.PredictObserver())
    score = safety.observing(FLAVOR, post_training.ScoreObserver())
    for cls in module_estimators(module):
        for method in TRAINING_METHODS:
            safety.patch(FLAVOR, cls, method, train)
        if post:
            for method in post_training.PREDICT_METHODS:
                safety.patch(FLAVOR, cls, method, predict)
            safety.patch(FLAVOR, cls, "score", score)
    if module.__name__ == "sklearn.model_selection":
        safety.suppress_inside(getattr(module, name) for name in SUPPRESSED_APIS if hasattr(module, name))
    if module.__name__ == "sklearn.metrics" and post:
        metric = safety.observing(FLAVOR, post_training.MetricObserver())
        for name in getattr(module, "__all__", ()):
            if name.endswith(("_score", "_error", "_loss")):
                safety.patch(FLAVOR, module, name, metric)


def _predict_fn(estimator: Any) -> Any:
    for name in ("predict", "transform"):
        fn = getattr(estimator, name, None)
        if callable(fn):
            return fn
    return None


class FitHandler:
    """Logs one outer ``fit``/``fit_transform``/``fit_predict`` of a scikit-learn estimator."""

    flavor = FLAVOR

    def __init__(self, original: Any, session: safety.Session) -> None:
        self.original = original
        self.session = session
        self.X = self.y = self.sample_weight = None

    def before(self, args: tuple, kwargs: dict) -> None:
        self.X, self.y, self.sample_weight = estimators.fit_inputs(self.original, args, kwargs)
        estimators.log_pretraining(self.session, args[0], self.X, self.y)

    def after(self, args: tuple, kwargs: dict, result: Any) -> None:
        s = self.session
        estimator = args[0]
        s.attempt("computing training metrics", estimators.log_posttraining, s, estimator, self.X, self.y, self.sample_weight)
        searched = search.is_search(estimator) and hasattr(estimator, "cv_results_")
        if searched:
            s.attempt("logging the search results", search.log_search_results, s, estimator)
            dataset = s.batch.inputs[0] if s.batch.inputs else None
            s.attempt("logging the search's child runs", search.log_child_runs, s, estimator, dataset)
        s.attempt("logging to the tracking store", s.batch.flush)
        self.log_models(estimator, searched)
        if s.config.log_post_training_metrics:
            post_training.register_model(estimator, s.run_id)

    def log_models(self, estimator: Any, searched: bool) -> None:
        s = self.session
        if not s.config.log_models:
            return
        extra = {"serialization_format": s.config.serialization_format}
        s.attempt(
            "logging the model",
            model_logging.log_model, s, self.flavor, estimator, name="model", features=self.X, predict=_predict_fn(estimator), **extra,
        )
        best = getattr(estimator, "best_estimator_", None) if searched else None
        if best is not None:
            s.attempt(
                "logging the best estimator",
                model_logging.log_model, s, self.flavor, best, name="best_estimator", features=self.X,
                predict=_predict_fn(best), register=False, **extra,
            )
