"""What autologging records about a scikit-learn-style estimator (sklearn, and the sklearn APIs
of XGBoost and LightGBM): fit inputs, params, tags, training metrics and charts.

Metric names follow MLflow's, prefixed ``training_``: classifiers get ``precision_score``,
``recall_score``, ``f1_score`` (weighted, or binary for a ``pos_label``), ``accuracy_score``,
plus ``log_loss`` and ``roc_auc`` when the model has ``predict_proba``; regressors get
``mean_squared_error``, ``root_mean_squared_error``, ``mean_absolute_error``, ``r2_score``;
every estimator with ``score`` gets ``score``. A metric that cannot be computed (multi-output
targets, a single class, ...) is left out with a log line; warnings raised while computing
them on the training data are not shown to the user.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

from modelyard.autologging import datasets, figures
from modelyard.autologging.safety import Session

logger = logging.getLogger(__name__)

PREFIX = "training_"


@functools.lru_cache(maxsize=1024)
def _signature(fn: Callable) -> inspect.Signature:
    return inspect.signature(fn)


def bound_arguments(original: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The arguments of a call by parameter name ({} when they do not bind)."""
    try:
        return dict(_signature(original).bind(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {}


def fit_inputs(original: Callable, args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a ``fit(self, X, y=None, ...)`` call; None where absent."""
    try:
        sig = _signature(original)
        bound = sig.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None, None, None
    names = list(sig.parameters)
    arguments = bound.arguments
    X = arguments.get(names[1]) if len(names) > 1 else None
    if "y" in sig.parameters:
        y = arguments.get("y")
    elif len(names) > 2 and names[2].lower() == "y":
        y = arguments.get(names[2])
    else:
        y = None
    sample_weight = arguments.get("sample_weight")
    if sample_weight is None:
        for name, param in sig.parameters.items():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                sample_weight = (arguments.get(name) or {}).get("sample_weight")
    return X, y, sample_weight


def class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def log_pretraining(session: Session, estimator: Any, X: Any, y: Any) -> None:
    """Params (``get_params(deep=True)``), the estimator tags and the training dataset."""
    session.batch.set_tags({"estimator_name": type(estimator).__name__, "estimator_class": class_path(estimator)})
    params = session.attempt("reading the estimator's params", estimator.get_params, deep=True)
    session.batch.log_params(params or {})
    if session.config.log_datasets and X is not None:
        found = session.attempt("describing the training dataset", datasets.dataset_input, X, y, context="train")
        if found is not None:
            session.batch.log_input(found)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _weights_kw(fn: Callable, sample_weight: Any) -> dict:
    if sample_weight is None:
        return {}
    try:
        return {"sample_weight": sample_weight} if "sample_weight" in _signature(fn).parameters else {}
    except (TypeError, ValueError):
        return {}


def training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any, pos_label: Any) -> tuple[dict[str, float], Any]:
    """MLflow's training metrics for ``estimator`` on (X, y), and the predictions (classifiers)."""
    from sklearn import base, metrics

    out: dict[str, float] = {}
    y_pred = None

    def attempt(name: str, compute: Callable[[], Any]) -> None:
        try:
            value = compute()
        except Exception as exc:
            logger.info("Could not compute the training metric %s: %s", name, exc)
            return
        if _finite(value):
            out[PREFIX + name] = float(value)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if y is not None and base.is_classifier(estimator):
            y_pred = estimator.predict(X)
            sw = {"sample_weight": sample_weight} if sample_weight is not None else {}
            avg: dict[str, Any] = {"average": "weighted"} if pos_label is None else {"average": "binary", "pos_label": pos_label}
            try:  # one pass for the three (what precision_score & co. each compute anyway)
                prf = metrics.precision_recall_fscore_support(y, y_pred, zero_division=0, **avg, **sw)[:3]
            except Exception as exc:
                logger.info("Could not compute the training precision, recall and f1: %s", exc)
            else:
                for name, value in zip(("precision_score", "recall_score", "f1_score"), prf, strict=True):
                    attempt(name, lambda value=value: value)
            attempt("accuracy_score", lambda: metrics.accuracy_score(y, y_pred, **sw))
            if hasattr(estimator, "predict_proba"):
                try:
                    proba = estimator.predict_proba(X)
                except Exception as exc:
                    logger.info("Could not compute predict_proba for training metrics: %s", exc)
                    proba = None
                if proba is not None:
                    labels = getattr(estimator, "classes_", None)
                    attempt("log_loss", lambda: metrics.log_loss(y, proba, labels=labels, **sw))
                    attempt("roc_auc", lambda: _roc_auc(metrics, y, proba, labels, sw))
        elif y is not None and base.is_regressor(estimator):
            pred = estimator.predict(X)
            sw = {"sample_weight": sample_weight} if sample_weight is not None else {}
            mse = None
            try:
                mse = float(metrics.mean_squared_error(y, pred, **sw))
                out[PREFIX + "mean_squared_error"] = mse
                out[PREFIX + "root_mean_squared_error"] = math.sqrt(mse)
            except Exception as exc:
                logger.info("Could not compute the training metric mean_squared_error: %s", exc)
            attempt("mean_absolute_error", lambda: metrics.mean_absolute_error(y, pred, **sw))
            attempt("r2_score", lambda: metrics.r2_score(y, pred, **sw))
        score = getattr(estimator, "score", None)
        mixin_metric = _mixin_score_metric(estimator)
        if mixin_metric is not None and PREFIX + mixin_metric in out:
            out[PREFIX + "score"] = out[PREFIX + mixin_metric]  # what the mixin's score() computes
        elif callable(score):
            attempt("score", lambda: score(X, y, **_weights_kw(score, sample_weight)))
    return out, y_pred


def _mixin_score_metric(estimator: Any) -> str | None:
    """The training metric that ``estimator.score`` returns when it is the mixin's own
    (ClassifierMixin: accuracy, RegressorMixin: r2), so it is not computed twice."""
    from sklearn import base

    score = inspect.unwrap(getattr(type(estimator), "score", None) or (lambda: None))
    if score is inspect.unwrap(base.ClassifierMixin.score):
        return "accuracy_score"
    if score is inspect.unwrap(base.RegressorMixin.score):
        return "r2_score"
    return None


def _roc_auc(metrics: Any, y: Any, proba: Any, labels: Any, sw: dict) -> float:
    if proba.ndim == 2 and proba.shape[1] == 2:
        return metrics.roc_auc_score(y, proba[:, 1], **sw)
    return metrics.roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=labels, **sw)


def log_confusion_matrix(session: Session, estimator: Any, y: Any, y_pred: Any) -> None:
    """``training_confusion_matrix.png`` for a classifier (needs matplotlib)."""
    if y is None or y_pred is None:
        return
    from sklearn import metrics

    labels = getattr(estimator, "classes_", None)
    if labels is None or getattr(labels, "ndim", 1) != 1 or len(labels) > figures.MAX_CONFUSION_CLASSES:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrix = metrics.confusion_matrix(y, y_pred, labels=labels)
    fig = figures.confusion_matrix(matrix, list(labels))
    if fig is not None:
        session.client.log_figure(session.run_id, fig, "training_confusion_matrix.png")


def log_estimator_html(session: Session, estimator: Any) -> None:
    from sklearn.utils import estimator_html_repr

    session.client.log_text(session.run_id, estimator_html_repr(estimator), "estimator.html")


def log_posttraining(session: Session, estimator: Any, X: Any, y: Any, sample_weight: Any, *, html: bool = True) -> Any:
    """Training metrics, the confusion matrix and ``estimator.html``; returns predictions (or None)."""
    if X is None:
        return None
    values, y_pred = training_metrics(estimator, X, y, sample_weight, session.config.pos_label)
    session.batch.log_metrics(values)
    for step in (
        (lambda: log_confusion_matrix(session, estimator, y, y_pred)),
        (lambda: log_estimator_html(session, estimator) if html else None),
    ):
        try:
            step()
        except Exception as exc:
            session.report("logging a training artifact", exc)
    return y_pred
